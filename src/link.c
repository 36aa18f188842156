/*
 * link.c — cdp.link() and cdp.unlink(): the identity graph changed one link
 * at a time (docs/identity.md, "Merge rules"), in C over kept SPI plans.
 *
 * cdp.link(type_a, value_a, type_b, value_b, source, observed_at) runs in
 * these steps, one function each:
 *
 *   link_resolve   both types in one statement; each value normalised and
 *                  checked for junk with the C normalisers (the errors of
 *                  cdp._normalize_id and cdp.normalize, in their order)
 *   link_erased    the suppression list (privacy.c): a link to an erased
 *                  identifier is not recorded, the other identifier is
 *   link_keys      the identity lock (4408400, 1) shared, and the lock keys
 *                  of the two identifiers (those cdp.identify takes)
 *   link_attempt   in a subtransaction, retried on a unique violation or a
 *                  deadlock as the PL/pgSQL body did:
 *      link_take      the per-identifier advisory locks, never waiting for
 *                     the second while holding the first
 *      link_lookup    both identifiers; their profile rows locked FOR
 *                     UPDATE in ascending id order, then re-checked
 *      link_breach    which max_per_profile a merge would break: the rule
 *                     is cdp_merge_exceeds (stitch.h), which the union-find
 *                     of cdp.stitch() applies too
 *      link_apply     new identifiers and profiles, or the merge
 *      link_record    the blocked merge or the known flag, seen times, the
 *                     link row
 *
 * cdp.unlink(type_a, value_a, type_b, value_b) resolves both identifiers
 * the same way, records the pair as removed and, when one profile held
 * them, restitches that profile alone (cdp._stitch_run scoped to it; that
 * pass still reads every link of the identity_links sources, see
 * docs/performance.md, "cdp.link and cdp.unlink in C").
 *
 * Lock order everywhere: profile rows (ascending id), then their
 * identifiers; so two links never wait on each other in opposite orders.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "cdp.h"
#include "link.h"
#include "normalize.h"
#include "privacy.h"
#include "stitch.h"

#define LINK_MAX_ATTEMPTS	5

/* one end of a link */
typedef struct LinkEnd
{
	char	   *type;			/* id_type as given */
	text	   *raw;			/* the value as given */
	char	   *norm;			/* its normalised form */
	char	   *normalizer;		/* of the type; NULL while unknown */
	bool		makes_known;
	int			max;			/* max_per_profile; -1: no limit */
	/* as link_lookup found it; ident 0: not in cdp.identifiers */
	bool		existed;
	int64		ident;
	int64		prof;
	TimestampTz first;
	TimestampTz last;
} LinkEnd;

/* one call of cdp.link */
typedef struct LinkCall
{
	LinkEnd		a;
	LinkEnd		b;
	text	   *source;			/* NULL when none */
	TimestampTz at;
	int64		key1;			/* per-identifier lock keys, key1 <= key2 */
	int64		key2;
	bool		use_keys;		/* this transaction may still take them */
	bool		any_erased;		/* cdp.suppressions holds any identifier */
	char	   *breach;			/* limits a merge would break; NULL if none */
	bool		linked;			/* the link row is written */
} LinkCall;

/* how an attempt ended */
typedef enum LinkOutcome
{
	LINK_DONE,					/* recorded */
	LINK_AGAIN,					/* a concurrent merge moved an identifier */
	LINK_BUSY					/* the second identifier's lock is taken */
} LinkOutcome;

/* the statements, prepared on first use and kept for the session */
typedef enum LinkPlanId
{
	P_TYPES, P_LOOKUP, P_LOCK, P_RECHECK, P_COUNTS, P_PROFILE, P_IDENT,
	P_PAIR, P_END, P_KNOWN, P_MERGED, P_MOVE, P_ABSORB, P_DROP, P_BLOCKED,
	P_SEEN, P_LINK, P_IDENTIFY, P_UNLINKED, P_SPLIT, P_NPLANS
} LinkPlanId;

typedef struct LinkPlan
{
	const char *sql;
	int			nargs;
	Oid			types[8];
	SPIPlanPtr	plan;
} LinkPlan;

#define T TEXTOID
#define I INT8OID
#define Z TIMESTAMPTZOID

static LinkPlan plans[P_NPLANS] = {
	[P_TYPES] = {"SELECT t.id_type, t.normalizer, t.makes_known, t.max_per_profile, "
		"EXISTS (SELECT 1 FROM cdp.suppressions s WHERE s.lifted_at IS NULL) "
	"FROM cdp.identifier_types t WHERE t.id_type = $1 OR t.id_type = $2", 2, {T, T}},
	[P_LOOKUP] = {"SELECT i.id_type, i.value, i.identifier_id, i.profile_id, i.first_seen, i.last_seen FROM cdp.identifiers i "
	"WHERE (i.id_type = $1 AND i.value = $2) OR (i.id_type = $3 AND i.value = $4)", 4, {T, T, T, T}},
	[P_LOCK] = {"SELECT p.profile_id FROM cdp.profiles p WHERE p.profile_id = $1 OR p.profile_id = $2 "
	"ORDER BY p.profile_id FOR UPDATE", 2, {I, I}},
	[P_RECHECK] = {"SELECT count(*) FROM cdp.identifiers i "
	"WHERE (i.identifier_id = $1 AND i.profile_id = $2) OR (i.identifier_id = $3 AND i.profile_id = $4)", 4, {I, I, I, I}},
	[P_COUNTS] = {"SELECT u.id_type, (count(*) FILTER (WHERE u.part = 1))::integer, (count(*) FILTER (WHERE u.part = 2))::integer, "
		"t.max_per_profile "
		"FROM (SELECT i.id_type, CASE WHEN i.profile_id = $1 THEN 1 ELSE 2 END AS part FROM cdp.identifiers i "
		"       WHERE i.profile_id = $1 OR i.profile_id = $2 "
		"      UNION ALL SELECT $3, 1 WHERE $1 IS NULL "
		"      UNION ALL SELECT $4, 2 WHERE $2 IS NULL) u "
		"JOIN cdp.identifier_types t ON t.id_type = u.id_type WHERE t.max_per_profile IS NOT NULL "
	"GROUP BY u.id_type, t.max_per_profile ORDER BY u.id_type", 4, {I, I, T, T}},
	[P_PROFILE] = {"INSERT INTO cdp.profiles (created_at, known) VALUES ($1, $2) RETURNING profile_id", 2, {Z, BOOLOID}},
	[P_IDENT] = {"INSERT INTO cdp.identifiers (id_type, value, profile_id, first_seen, last_seen, source) "
	"VALUES ($1, $2, $3, $4, $4, $5) RETURNING identifier_id", 5, {T, T, I, Z, T}},
	/* two new identifiers in one new profile, and their link (a first: it gets the smaller id) */
	[P_PAIR] = {"WITH p AS (INSERT INTO cdp.profiles (created_at, known) VALUES ($5, $7) RETURNING profile_id), "
		"i AS (INSERT INTO cdp.identifiers (id_type, value, profile_id, first_seen, last_seen, source) "
		"      SELECT v.t, v.v, p.profile_id, $5, $5, $6 FROM p, (VALUES (1, $1, $2), (2, $3, $4)) v(n, t, v) "
		"       ORDER BY v.n RETURNING identifier_id, profile_id) "
		"INSERT INTO cdp.links (a_id, b_id, source, first_seen, last_seen) "
		"SELECT min(i.identifier_id), max(i.identifier_id), $6, $5, $5 FROM i "
	"RETURNING a_id, b_id, (SELECT p.profile_id FROM p)", 7, {T, T, T, T, Z, T, BOOLOID}},
	/* a new identifier in profile $3, and its link to identifier $6 */
	[P_END] = {"WITH i AS (INSERT INTO cdp.identifiers (id_type, value, profile_id, first_seen, last_seen, source) "
		"      VALUES ($1, $2, $3, $4, $4, $5) RETURNING identifier_id) "
		"INSERT INTO cdp.links (a_id, b_id, source, first_seen, last_seen) "
		"SELECT LEAST(i.identifier_id, $6), GREATEST(i.identifier_id, $6), $5, $4, $4 FROM i "
	"RETURNING a_id, b_id", 6, {T, T, I, Z, T, I}},
	[P_KNOWN] = {"UPDATE cdp.profiles p SET known = true WHERE p.profile_id = $1 AND NOT p.known", 1, {I}},
	[P_MERGED] = {"INSERT INTO cdp.profile_merges (action, survivor, absorbed, via, type_a, value_a, type_b, value_b, at) "
	"VALUES ('merge', $1, $2, 'link', $3, $4, $5, $6, $7)", 7, {I, I, T, T, T, T, Z}},
	[P_MOVE] = {"UPDATE cdp.identifiers i SET profile_id = $1 WHERE i.profile_id = $2", 2, {I, I}},
	[P_ABSORB] = {"UPDATE cdp.profiles p SET known = p.known OR g.known, created_at = LEAST(p.created_at, g.created_at) "
	"FROM cdp.profiles g WHERE p.profile_id = $1 AND g.profile_id = $2", 2, {I, I}},
	[P_DROP] = {"DELETE FROM cdp.profiles p WHERE p.profile_id = $1", 1, {I}},
	[P_BLOCKED] = {"INSERT INTO cdp.profile_merges (action, survivor, absorbed, via, type_a, value_a, type_b, value_b, detail, at) "
		"SELECT 'blocked', $1, $2, 'link', $3, $4, $5, $6, 'would exceed max_per_profile: ' || $7, $8 "
		"WHERE NOT EXISTS (SELECT 1 FROM cdp.profile_merges m WHERE m.action = 'blocked' "
	"AND m.type_a = $3 AND m.value_a = $4 AND m.type_b = $5 AND m.value_b = $6)", 8, {I, I, T, T, T, T, T, Z}},
	[P_SEEN] = {"UPDATE cdp.identifiers i SET last_seen = GREATEST(i.last_seen, $3), first_seen = LEAST(i.first_seen, $3) "
	"WHERE (i.identifier_id = $1 OR i.identifier_id = $2) AND (i.last_seen < $3 OR i.first_seen > $3)", 3, {I, I, Z}},
	[P_LINK] = {"INSERT INTO cdp.links AS l (a_id, b_id, source, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4) "
		"ON CONFLICT (a_id, b_id) DO UPDATE SET first_seen = LEAST(l.first_seen, EXCLUDED.first_seen), "
		"last_seen = GREATEST(l.last_seen, EXCLUDED.last_seen), source = COALESCE(EXCLUDED.source, l.source), "
	"removed_at = NULL", 4, {I, I, T, Z}},
	[P_IDENTIFY] = {"SELECT cdp.identify($1, $2, $3, $4)", 4, {T, T, T, Z}},
	[P_UNLINKED] = {"INSERT INTO cdp.links AS l (a_id, b_id, source, first_seen, last_seen, removed_at) "
		"VALUES ($1, $2, 'unlink', pg_catalog.now(), pg_catalog.now(), pg_catalog.now()) "
	"ON CONFLICT (a_id, b_id) DO UPDATE SET removed_at = pg_catalog.now()", 2, {I, I}},
	[P_SPLIT] = {"SELECT r.profiles FROM cdp._stitch_run($1, cdp._stitch_node_sql($1), cdp._stitch_edge_sql($1), 'unlink') r",
	1, {I}},
};

#undef T
#undef I
#undef Z

/*
 * Runs a kept plan (prepared on first use) with its arguments; a text or
 * int8 argument that is (Datum) 0 is NULL (every int8 argument is an id,
 * and ids start at 1; timestamps and booleans are never NULL).  Not read-only: each statement takes a fresh
 * snapshot, as a volatile PL/pgSQL function's do, so that after waiting for
 * a lock it sees what the other transaction committed.
 */
static int
link_exec(LinkPlanId id, Datum *values, long tcount, int expect)
{
	LinkPlan   *p = &plans[id];
	char		nulls[8];
	int			rc;

	if (p->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(p->sql, p->nargs, p->types);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "cdp.link: could not prepare a statement (%s): %s",
				 SPI_result_code_string(SPI_result), p->sql);
		p->plan = plan;
	}
	for (int i = 0; i < p->nargs; i++)
		nulls[i] = values[i] == (Datum) 0 && (p->types[i] == TEXTOID || p->types[i] == INT8OID) ? 'n' : ' ';
	rc = SPI_execute_plan(p->plan, values, nulls, false, tcount);
	if (rc != expect)
		elog(ERROR, "cdp.link: statement failed (%s): %s", SPI_result_code_string(rc), p->sql);
	return (int) SPI_processed;
}

/* Column col (1-based) of result row row as int64; 0 when NULL. */
static int64
link_int8(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* A text datum, or 0 for NULL (link_exec's convention). */
static inline Datum
text_or_null(const char *s)
{
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* An int8 datum, 0 standing for NULL (ids start at 1). */
static inline Datum
id_or_null(int64 id)
{
	return id != 0 ? Int64GetDatum(id) : (Datum) 0;
}

/* The argument checks shared by link and unlink: NULLs. */
static void
link_check_args(FunctionCallInfo fcinfo, bool with_time)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) ||
		(with_time && PG_ARGISNULL(5)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg(with_time ? "identifier types, values and observed_at of a link must not be NULL"
						: "identifier types and values of a link must not be NULL"),
				 errhint(with_time ? "Pass both identifiers' types and values; observed_at defaults to now()."
						 : "Pass both identifiers' types and values, as cdp.profile_identifiers lists them.")));
}

/* Raises the error of cdp._normalize_id for an unknown type. */
static void
link_unknown_type(const char *type)
{
	char	   *list = NULL;

	if (SPI_execute("SELECT string_agg(t.id_type, ', ' ORDER BY t.priority DESC, t.id_type) FROM cdp.identifier_types t",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		list = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown identifier type \"%s\"", type),
			 errdetail("The identifier types are: %s.", list ? list : "(none)"),
			 errhint("An admin can add types to cdp.identifier_types.")));
}

/*
 * Normalises one end: the errors of cdp._normalize_id (unknown type, junk)
 * and of cdp.normalize (invalid value), in the order the PL/pgSQL body
 * raised them; a value too long for the identifiers' unique index is
 * refused as well.
 */
static void
link_normalize(LinkEnd *e)
{
	CdpIdKind	kind;
	const char *why;

	if (e->normalizer == NULL)
		link_unknown_type(e->type);
	kind = cdp_id_kind(e->normalizer);
	e->norm = cdp_normalize_value(kind, VARDATA_ANY(e->raw), VARSIZE_ANY_EXHDR(e->raw),
								  cdp_default_country_code, &why);
	if (e->norm == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("\"%s\" is not a valid %s identifier", text_to_cstring(e->raw), e->normalizer),
				 errdetail("%s", why),
				 errhint("Use cdp.try_normalize() to get NULL instead of an error, or cdp.is_junk() to test a value.")));
	if (cdp_is_junk_value(kind, e->norm))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is a junk %s identifier", text_to_cstring(e->raw), e->type),
				 errdetail("Placeholders, test values and randomised MAC addresses would link unrelated people."),
				 errhint("Check the value with cdp.is_junk() before recording it.")));
	if (strlen(e->norm) > CDP_IDENTIFIER_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("the %s identifier is %zu bytes long, more than %d", e->type, strlen(e->norm),
						CDP_IDENTIFIER_MAX_BYTES),
				 errhint("An identifier is a short code, address or token; check what is passed as its value.")));
}

/*
 * Reads both types and whether any identifier is erased (one statement),
 * then normalises both values.
 */
static void
link_resolve(LinkCall *c)
{
	LinkEnd    *a = &c->a,
			   *b = &c->b;
	Datum		args[2] = {CStringGetTextDatum(a->type), CStringGetTextDatum(b->type)};
	int			n = link_exec(P_TYPES, args, 0, SPI_OK_SELECT);

	for (int r = 0; r < n; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *name = SPI_getvalue(tup, desc, 1);
		bool		nomax,
					isnull;
		Datum		max = SPI_getbinval(tup, desc, 4, &nomax);

		for (LinkEnd *e = a; e != NULL; e = (e == a ? b : NULL))
			if (strcmp(name, e->type) == 0)
			{
				e->normalizer = SPI_getvalue(tup, desc, 2);
				e->makes_known = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
				e->max = nomax ? -1 : DatumGetInt32(max);
			}
		c->any_erased = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	}
	link_normalize(a);
	link_normalize(b);
}

/* cdp.identify(type, value, source, observed_at) through SPI; 0 for NULL. */
static int64
link_identify(LinkEnd *e, LinkCall *c)
{
	Datum		args[4] = {CStringGetTextDatum(e->type), PointerGetDatum(e->raw),
	PointerGetDatum(c->source), TimestampTzGetDatum(c->at)};

	link_exec(P_IDENTIFY, args, 1, SPI_OK_SELECT);
	return link_int8(0, 1);
}

/*
 * An erased identifier is never recorded again (privacy.sql), nor is a
 * link to it; the other identifier is recorded on its own.  Returns true
 * when the link is not recorded, with the result in *profile (0: NULL).
 */
static bool
link_erased(LinkCall *c, int64 *profile)
{
	bool		erased_a = c->any_erased && cdp_is_suppressed(c->a.type, c->a.norm);
	bool		erased_b = c->any_erased && cdp_is_suppressed(c->b.type, c->b.norm);

	if (!erased_a && !erased_b)
		return false;
	ereport(NOTICE,
			(errmsg("a link to an erased identifier is not recorded"),
			 errhint("cdp.suppressions lists erased identifiers; an admin may lift one with cdp.lift_suppression() when the person comes back of their own accord.")));
	if (erased_a)
	{
		if (!erased_b)
			link_identify(&c->b, c);
		*profile = 0;
	}
	else
		*profile = link_identify(&c->a, c);
	return true;
}

/* The advisory lock key of an identifier: the one cdp.identify takes. */
static int64
link_key(const LinkEnd *e)
{
	char	   *key = psprintf("%s:%s", e->type, e->norm);

	return DatumGetInt64(DirectFunctionCall2Coll(hashtextextended, DEFAULT_COLLATION_OID,
												 CStringGetTextDatum(key), Int64GetDatum(0)));
}

/*
 * The identity lock shared (cdp.stitch() takes it exclusively), then the
 * keys of the two identifiers; a transaction's cdp.identify and cdp.link
 * calls take at most CDP_IDENTITY_MAX_KEY_LOCKS of those (see identity.sql).
 */
static void
link_keys(LinkCall *c)
{
	const char *taken = GetConfigOption("cdp_identify.locks_taken", true, false);
	int			nlocks = taken && taken[0] ? pg_strtoint32(taken) : 0;

	DirectFunctionCall2(pg_advisory_xact_lock_shared_int4,
						Int32GetDatum(CDP_IDENTITY_LOCK_KEY1), Int32GetDatum(CDP_IDENTITY_LOCK_KEY2));
	c->key1 = link_key(&c->a);
	c->key2 = link_key(&c->b);
	if (c->key2 < c->key1)
	{
		int64		k = c->key1;

		c->key1 = c->key2;
		c->key2 = k;
	}
	c->use_keys = nlocks < CDP_IDENTITY_MAX_KEY_LOCKS;
	if (c->use_keys)
		(void) set_config_option("cdp_identify.locks_taken", psprintf("%d", nlocks + 2),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * The per-identifier locks: sessions recording the same new identifiers
 * queue here rather than deadlock on each other's uncommitted inserts.
 * Never waits for the second while holding the first: false when it is
 * busy (the caller rolls back, releasing the first, and waits for it alone).
 */
static bool
link_take(LinkCall *c)
{
	if (!c->use_keys)
		return true;
	if (!DatumGetBool(DirectFunctionCall1(pg_try_advisory_xact_lock_int8, Int64GetDatum(c->key1))))
		DirectFunctionCall1(pg_advisory_xact_lock_int8, Int64GetDatum(c->key1));
	return c->key2 == c->key1 ||
		DatumGetBool(DirectFunctionCall1(pg_try_advisory_xact_lock_int8, Int64GetDatum(c->key2)));
}

/* Fills in what cdp.identifiers holds for an end from a P_LOOKUP row. */
static void
link_found(LinkEnd *e, uint64 row)
{
	bool		isnull;
	HeapTuple	tup = SPI_tuptable->vals[row];
	TupleDesc	desc = SPI_tuptable->tupdesc;

	e->existed = true;
	e->ident = link_int8(row, 3);
	e->prof = link_int8(row, 4);
	e->first = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
	e->last = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
}

/* Both identifiers in one statement (either or both may be unknown). */
static void
link_find(LinkEnd *a, LinkEnd *b)
{
	Datum		args[4] = {CStringGetTextDatum(a->type), CStringGetTextDatum(a->norm),
	CStringGetTextDatum(b->type), CStringGetTextDatum(b->norm)};
	int			n = link_exec(P_LOOKUP, args, 0, SPI_OK_SELECT);

	a->ident = b->ident = a->prof = b->prof = 0;
	a->existed = b->existed = false;
	for (int r = 0; r < n; r++)
	{
		char	   *type = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		char	   *value = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);

		if (strcmp(type, a->type) == 0 && strcmp(value, a->norm) == 0)
			link_found(a, r);
		if (strcmp(type, b->type) == 0 && strcmp(value, b->norm) == 0)
			link_found(b, r);
	}
}

/*
 * Locks the profile rows of both identifiers (ascending id) and checks
 * that no concurrent merge or split moved the identifiers meanwhile.
 * False when one did (look them up again).
 */
static bool
link_lock_profiles(LinkEnd *a, LinkEnd *b)
{
	Datum		lock[2] = {id_or_null(a->prof), id_or_null(b->prof)};
	Datum		check[4] = {id_or_null(a->ident), id_or_null(a->prof), id_or_null(b->ident), id_or_null(b->prof)};
	int			want = (a->ident == 0 || b->ident == 0 || a->ident == b->ident) ? 1 : 2;

	if (a->prof == 0 && b->prof == 0)
		return true;
	link_exec(P_LOCK, lock, 0, SPI_OK_SELECT);
	link_exec(P_RECHECK, check, 1, SPI_OK_SELECT);
	return link_int8(0, 1) == want;
}

/* Looks both identifiers up and locks their profiles; false: look again. */
static bool
link_lookup(LinkCall *c)
{
	link_find(&c->a, &c->b);
	return link_lock_profiles(&c->a, &c->b);
}

/*
 * The limits a merge of the two ends' profiles would break (each end a
 * profile, or a new identifier of its own): per limited type, the counts
 * of both parts in one statement, then the merge rule of stitch.h.
 */
static void
link_breach_counts(LinkCall *c)
{
	Datum		args[4] = {id_or_null(c->a.prof), id_or_null(c->b.prof),
	CStringGetTextDatum(c->a.type), CStringGetTextDatum(c->b.type)};
	int			n = link_exec(P_COUNTS, args, 0, SPI_OK_SELECT);
	StringInfoData why;

	initStringInfo(&why);
	for (int r = 0; r < n; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			na = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		int			nb = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		int			max = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));

		if (cdp_merge_exceeds(max, na, nb))
			appendStringInfo(&why, "%s%s: %d > %d", why.len > 0 ? ", " : "",
							 SPI_getvalue(tup, desc, 1), na + nb, max);
	}
	c->breach = why.len > 0 ? why.data : NULL;
}

/*
 * Whether a merge would break a limit (c->breach): nothing to merge when
 * both are in one profile; two new identifiers need the statement only
 * when their own types already break one (cdp_merge_exceeds, stitch.h).
 */
static void
link_breach(LinkCall *c)
{
	LinkEnd    *a = &c->a,
			   *b = &c->b;

	c->breach = NULL;
	if (a->prof != 0 && a->prof == b->prof)
		return;
	if (a->prof == 0 && b->prof == 0)
	{
		bool		broken = strcmp(a->type, b->type) == 0
			? cdp_merge_exceeds(a->max, 1, 1)
			: cdp_merge_exceeds(a->max, 1, 0) || cdp_merge_exceeds(b->max, 0, 1);

		if (!broken)
			return;
	}
	link_breach_counts(c);
}

/* A new profile created at the observation; returns its id. */
static int64
link_new_profile(LinkCall *c, bool known)
{
	Datum		args[2] = {TimestampTzGetDatum(c->at), BoolGetDatum(known)};

	link_exec(P_PROFILE, args, 1, SPI_OK_INSERT_RETURNING);
	return link_int8(0, 1);
}

/* A new identifier in profile e->prof; sets e->ident. */
static void
link_new_ident(LinkCall *c, LinkEnd *e)
{
	Datum		args[5] = {CStringGetTextDatum(e->type), CStringGetTextDatum(e->norm),
	Int64GetDatum(e->prof), TimestampTzGetDatum(c->at), PointerGetDatum(c->source)};

	link_exec(P_IDENT, args, 1, SPI_OK_INSERT_RETURNING);
	e->ident = link_int8(0, 1);
}

/* Two new identifiers: one new profile, or one each when a limit forbids. */
static void
link_new_pair(LinkCall *c)
{
	LinkEnd    *a = &c->a,
			   *b = &c->b;

	if (c->breach == NULL)
	{
		/* one statement for the profile, both identifiers and the link */
		Datum		args[7] = {CStringGetTextDatum(a->type), CStringGetTextDatum(a->norm),
			CStringGetTextDatum(b->type), CStringGetTextDatum(b->norm),
			TimestampTzGetDatum(c->at), PointerGetDatum(c->source),
		BoolGetDatum(a->makes_known || b->makes_known)};

		if (link_exec(P_PAIR, args, 0, SPI_OK_INSERT_RETURNING) != 1)
			elog(ERROR, "cdp.link: recording two new identifiers returned no link");
		a->ident = link_int8(0, 1);
		b->ident = link_int8(0, 2);
		a->prof = b->prof = link_int8(0, 3);
		c->linked = true;
		return;
	}
	a->prof = link_new_profile(c, a->makes_known);
	link_new_ident(c, a);
	b->prof = link_new_profile(c, b->makes_known);
	link_new_ident(c, b);
}

/*
 * A new identifier e next to an existing one o: into o's profile unless a
 * limit forbids; with the link row in the same statement.
 */
static void
link_new_end(LinkCall *c, LinkEnd *e, LinkEnd *o)
{
	if (c->breach == NULL)
	{
		e->prof = o->prof;
		if (e->makes_known || o->makes_known)
		{
			Datum		arg = Int64GetDatum(o->prof);

			link_exec(P_KNOWN, &arg, 0, SPI_OK_UPDATE);
		}
	}
	else
		e->prof = link_new_profile(c, e->makes_known);
	{
		Datum		args[6] = {CStringGetTextDatum(e->type), CStringGetTextDatum(e->norm),
			Int64GetDatum(e->prof), TimestampTzGetDatum(c->at), PointerGetDatum(c->source),
		Int64GetDatum(o->ident)};

		if (link_exec(P_END, args, 0, SPI_OK_INSERT_RETURNING) != 1)
			elog(ERROR, "cdp.link: recording a new identifier returned no link");
		e->ident = link_int8(0, 1) == o->ident ? link_int8(0, 2) : link_int8(0, 1);
		c->linked = true;
	}
}

/* Two profiles become one: the older id survives, the history records it. */
static void
link_merge(LinkCall *c)
{
	int64		keep = Min(c->a.prof, c->b.prof);
	int64		gone = Max(c->a.prof, c->b.prof);
	Datum		hist[7] = {Int64GetDatum(keep), Int64GetDatum(gone),
		CStringGetTextDatum(c->a.type), CStringGetTextDatum(c->a.norm),
	CStringGetTextDatum(c->b.type), CStringGetTextDatum(c->b.norm), TimestampTzGetDatum(c->at)};
	Datum		pair[2] = {Int64GetDatum(keep), Int64GetDatum(gone)};

	link_exec(P_MERGED, hist, 0, SPI_OK_INSERT);
	link_exec(P_MOVE, pair, 0, SPI_OK_UPDATE);
	link_exec(P_ABSORB, pair, 0, SPI_OK_UPDATE);
	link_exec(P_DROP, &pair[1], 0, SPI_OK_DELETE);
	c->a.prof = c->b.prof = keep;
}

/* New identifiers and profiles, or the merge (see the file header). */
static void
link_apply(LinkCall *c)
{
	if (c->a.prof == 0 && c->b.prof == 0)
		link_new_pair(c);
	else if (c->a.prof == 0)
		link_new_end(c, &c->a, &c->b);
	else if (c->b.prof == 0)
		link_new_end(c, &c->b, &c->a);
	else if (c->a.prof != c->b.prof && c->breach == NULL)
		link_merge(c);
}

/* True when the observation widens an existing identifier's seen times. */
static inline bool
link_widens(const LinkEnd *e, TimestampTz at)
{
	return e->existed && (e->last < at || e->first > at);
}

/*
 * What remains: the blocked merge (once per pair) or the known flag of a
 * profile both identifiers were in already, the seen times of identifiers
 * that existed, and the link row.
 */
static void
link_record(LinkCall *c)
{
	LinkEnd    *a = &c->a,
			   *b = &c->b;
	Datum		link[4] = {Int64GetDatum(Min(a->ident, b->ident)), Int64GetDatum(Max(a->ident, b->ident)),
	PointerGetDatum(c->source), TimestampTzGetDatum(c->at)};

	if (c->breach != NULL)
	{
		Datum		args[8] = {Int64GetDatum(a->prof), Int64GetDatum(b->prof),
			CStringGetTextDatum(a->type), CStringGetTextDatum(a->norm),
			CStringGetTextDatum(b->type), CStringGetTextDatum(b->norm),
		CStringGetTextDatum(c->breach), TimestampTzGetDatum(c->at)};

		link_exec(P_BLOCKED, args, 0, SPI_OK_INSERT);
	}
	else if (a->existed && b->existed && (a->makes_known || b->makes_known))
	{
		Datum		arg = Int64GetDatum(a->prof);

		link_exec(P_KNOWN, &arg, 0, SPI_OK_UPDATE);
	}
	if (link_widens(a, c->at) || link_widens(b, c->at))
	{
		Datum		args[3] = {id_or_null(a->ident), id_or_null(b->ident), TimestampTzGetDatum(c->at)};

		link_exec(P_SEEN, args, 0, SPI_OK_UPDATE);
	}
	if (!c->linked)
		link_exec(P_LINK, link, 0, SPI_OK_INSERT);
}

/* One attempt (inside a subtransaction); *profile: the first identifier's. */
static LinkOutcome
link_attempt(LinkCall *c, int64 *profile)
{
	c->linked = false;
	if (!link_take(c))
		return LINK_BUSY;
	if (!link_lookup(c))
		return LINK_AGAIN;
	link_breach(c);
	link_apply(c);
	link_record(c);
	*profile = c->a.prof;
	return LINK_DONE;
}

/*
 * Attempts until one records the link, each in a subtransaction: one that
 * found its second lock busy is rolled back (releasing the first) and the
 * second is waited for alone; one that met a concurrent writer's identifier
 * (unique violation) or a deadlock starts over, at most LINK_MAX_ATTEMPTS
 * times; a deadlock that retrying cannot resolve goes to the caller.
 */
static int64
link_run(LinkCall *c)
{
	volatile int attempts = 0;

	for (;;)
	{
		MemoryContext cxt = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;
		volatile LinkOutcome outcome = LINK_AGAIN;
		volatile int64 profile = 0;

		attempts++;
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			int64		p = 0;

			outcome = link_attempt(c, &p);
			profile = p;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;
			if ((edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION &&
				 edata->sqlerrcode != ERRCODE_T_R_DEADLOCK_DETECTED) || attempts >= LINK_MAX_ATTEMPTS)
				ReThrowError(edata);
			FreeErrorData(edata);
			continue;
		}
		PG_END_TRY();
		if (outcome == LINK_BUSY)
			RollbackAndReleaseCurrentSubTransaction();
		else
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (outcome == LINK_DONE)
			return profile;
		if (outcome == LINK_BUSY)
		{
			DirectFunctionCall1(pg_advisory_xact_lock_int8, Int64GetDatum(c->key2));
			attempts--;
		}
	}
}

/* The two ends of a call from its first four arguments. */
static void
link_ends(FunctionCallInfo fcinfo, LinkCall *c)
{
	c->a.type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	c->a.raw = PG_GETARG_TEXT_PP(1);
	c->b.type = text_to_cstring(PG_GETARG_TEXT_PP(2));
	c->b.raw = PG_GETARG_TEXT_PP(3);
	c->a.max = c->b.max = -1;
}

PG_FUNCTION_INFO_V1(cdp_link);

/*
 * cdp.link(type_a, value_a, type_b, value_b, source, observed_at): records
 * that two identifiers belong together and merges their profiles unless a
 * limit forbids it; returns the profile of the first (NULL when it was
 * erased).  See the file header for the steps.
 */
Datum
cdp_link(PG_FUNCTION_ARGS)
{
	LinkCall	c = {0};
	int64		profile;

	link_check_args(fcinfo, true);
	link_ends(fcinfo, &c);
	c.source = PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4);
	c.at = PG_GETARG_TIMESTAMPTZ(5);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "cdp.link: SPI_connect failed");
	link_resolve(&c);
	if (link_erased(&c, &profile))
	{
		SPI_finish();
		if (profile == 0)
			PG_RETURN_NULL();
		PG_RETURN_INT64(profile);
	}
	if (strcmp(c.a.type, c.b.type) == 0 && strcmp(c.a.norm, c.b.norm) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot link %s identifier \"%s\" to itself", c.a.type, c.a.norm),
				 errdetail("A link joins two different identifiers."),
				 errhint("Use cdp.identify() to record a single identifier.")));
	link_keys(&c);
	profile = link_run(&c);
	SPI_finish();
	PG_RETURN_INT64(profile);
}

/* Raises the error of an unlink that names no link. */
static void
unlink_none(LinkCall *c)
{
	bool		self = c->a.ident != 0 && c->a.ident == c->b.ident;

	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("no link between %s \"%s\" and %s \"%s\"", c->a.type, c->a.norm, c->b.type, c->b.norm),
			 errdetail(self ? "An identifier is not linked to itself."
					   : "At least one of them is not a known identifier."),
			 errhint("cdp.profile_identifiers lists the identifiers of each profile.")));
}

PG_FUNCTION_INFO_V1(cdp_unlink);

/*
 * cdp.unlink(type_a, value_a, type_b, value_b): removes the link for good
 * (a block list, also against the sources) and restitches the profile it
 * held together; returns how many profiles that is now (0: they were not
 * in one profile).
 */
Datum
cdp_unlink(PG_FUNCTION_ARGS)
{
	LinkCall	c = {0};
	int64		parts = 0;

	link_check_args(fcinfo, false);
	link_ends(fcinfo, &c);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "cdp.unlink: SPI_connect failed");
	link_resolve(&c);
	DirectFunctionCall2(pg_advisory_xact_lock_shared_int4,
						Int32GetDatum(CDP_IDENTITY_LOCK_KEY1), Int32GetDatum(CDP_IDENTITY_LOCK_KEY2));
	do
	{
		link_find(&c.a, &c.b);
		if (c.a.ident == 0 || c.b.ident == 0 || c.a.ident == c.b.ident)
			unlink_none(&c);
	} while (!link_lock_profiles(&c.a, &c.b));
	{
		Datum		pair[2] = {Int64GetDatum(Min(c.a.ident, c.b.ident)), Int64GetDatum(Max(c.a.ident, c.b.ident))};

		link_exec(P_UNLINKED, pair, 0, SPI_OK_INSERT);
	}
	if (c.a.prof == c.b.prof)
	{
		Datum		arg = Int64GetDatum(c.a.prof);

		link_exec(P_SPLIT, &arg, 1, SPI_OK_SELECT);
		parts = link_int8(0, 1);
	}
	SPI_finish();
	PG_RETURN_INT32((int32) parts);
}
