/*
 * rfm_refresh.c — cdp._rfm_refresh: the work of cdp.refresh_rfm, in C.
 *
 * cdp.refresh_rfm (rfm.sql) checks its arguments and builds one query over
 * every orders source: (id_type, id_value, ordered_at, amount) up to as_of.
 * This function runs it once with a DestReceiver of its own and adds each
 * order, as it comes, to the state of its raw identifier (type + value as
 * the source has it) with rfm_state_add, the code of cdp.rfm_state_agg, in
 * a hash table over a key arena (short keys compare inside the bucket, and
 * the bucket points at the state).  Then it normalises each distinct raw
 * identifier once (cdp_normalize_value, as cdp.try_normalize), reads the
 * identifiers of the types the orders have from cdp.identifiers once, and
 * merges the states of a profile's identifiers.  Orders of unknown types,
 * unknown or invalid identifiers are only counted.  Then, over plain
 * arrays: fits BG/NBD and Gamma-Gamma with the code of the fit aggregates
 * (clv.c), scores R, F and M by sorting, looks the segment up in a table of
 * the 125 score triples built from cdp.rfm_segments, computes P(alive),
 * expected purchases (the series once per distinct x and T), expected spend
 * and CLV, and writes cdp.clv_model and cdp.rfm in profile_id order
 * (after a DELETE, so that readers keep last night's rows until the commit;
 * straight into the table when it is plain, else INSERT ... SELECT FROM
 * unnest() of arrays in batches).
 * Every value is computed with the same floating-point operations as the
 * SQL functions it replaces (cdp.rfm_merge, cdp.bgnbd_t_x,
 * cdp.bgnbd_p_alive, cdp.clv, ...), so the table is the same; sql/rfm.sql
 * compares them.  A DEBUG1 line says where the time went.
 *
 * The pass over the orders is serial: on the 2-core machine it was
 * measured on, the parallel GROUP BY per raw identifier it replaced saved
 * nothing (its Finalize Aggregate over 500k groups cost what the workers
 * saved) and then still had to hand every state over to C.
 */
#include "postgres.h"

#include <sys/resource.h>
#include <math.h>

#include "access/htup_details.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "tcop/dest.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "lib/stringinfo.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "portability/instr_time.h"
#include "utils/timestamp.h"

#include "cdp.h"
#include "normalize.h"
#include "clv.h"
#include "rfm.h"

#define WRITE_BATCH 100000		/* rows per INSERT into cdp.rfm */
#define MULTI_INSERT 1000		/* rows per table_multi_insert */
#define SECS_PER_WEEK (7 * CDP_SECS_PER_DAY)

/*
 * Empties cdp.rfm before the new rows go in, with DELETE: last night's rows
 * stay readable by everyone else until the refresh commits (a TRUNCATE would
 * make every reader of cdp.rfm and cdp.profile_360 wait for the whole
 * cdp.refresh() to commit; docs/architecture.md, "Lock map").  The price is
 * that each new key's index entry meets the dead row of the same key.
 */
static void
empty_rfm(void)
{
	if (SPI_execute("DELETE FROM cdp.rfm", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "cdp._rfm_refresh: could not empty cdp.rfm");
}

PG_FUNCTION_INFO_V1(cdp_rfm_refresh);

/* seconds since t0 into tm[i], for the DEBUG1 line of where the time went */
#define LAP(i) \
	do { \
		INSTR_TIME_SET_CURRENT(t1); \
		INSTR_TIME_SUBTRACT(t1, t0); \
		tm[i] = INSTR_TIME_GET_DOUBLE(t1); \
		INSTR_TIME_SET_CURRENT(t0); \
		flt[i] = minor_faults() - flt0; \
		flt0 += flt[i]; \
	} while (0)

/* minor page faults of this process so far (they are dear on some machines) */
static long
minor_faults(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

/* a value and the index of its profile, for sorting */
typedef struct KeyIdx
{
	int64		key;
	int32		idx;
} KeyIdx;

typedef struct DblIdx
{
	double		key;
	int32		idx;
} DblIdx;

#define ST_SORT sort_keyidx
#define ST_ELEMENT_TYPE KeyIdx
#define ST_COMPARE(a, b) ((a)->key < (b)->key ? -1 : ((a)->key > (b)->key ? 1 : 0))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* a raw identifier after the pass over the orders: its key and its state */
typedef struct RawIdent
{
	uint32		off;			/* arena offset of the key */
	RfmState   *st;
} RawIdent;

#define ST_SORT sort_rawident
#define ST_ELEMENT_TYPE RawIdent
#define ST_COMPARE(a, b) ((a)->off < (b)->off ? -1 : ((a)->off > (b)->off ? 1 : 0))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

#define ST_SORT sort_dblidx
#define ST_ELEMENT_TYPE DblIdx
#define ST_COMPARE(a, b) ((a)->key < (b)->key ? -1 : ((a)->key > (b)->key ? 1 : 0))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * The pass over the orders.  Each order row (id_type, id_value, ordered_at,
 * amount) is added to the state of its raw identifier (type + value as the
 * source has it) in a hash table, the way cdp.rfm_state_agg adds it (the
 * same rfm_state_add); orders whose type is NULL or not an identifier type
 * go to one state of their own, which only counts them.  Then each distinct
 * raw identifier is normalised once and looked up among the identifiers of
 * its type (one read of cdp.identifiers).  Keys live in key arenas (cdp.h)
 * and the hash tables hold their offsets, as in stitch.c.
 */
#define MAX_ORDER_TYPES 250
#define NO_ENTRY UINT32_MAX

/* an identifier type of cdp.identifier_types */
typedef struct OrderType
{
	char	   *name;
	int			len;
	CdpIdKind	kind;
	bool		used;			/* some order has it */
} OrderType;

/*
 * A key: its first 8 bytes inline (a short key, such as a customer number,
 * is all there, so comparing it needs no visit to the arena), its place in
 * the arena.
 */
typedef struct ArenaKey
{
	uint64		head;			/* key bytes 0..7, zero-padded */
	uint32		off;			/* arena offset of the key */
	uint32		len;			/* value length: the key is 1 + len bytes */
} ArenaKey;

/*
 * An entry of a key hash table.  The raw identifiers' table holds each
 * one's state, so an order that meets another customer's identifier than
 * the previous order costs a visit to the bucket and one to the state.
 */
typedef struct KeyEntry
{
	ArenaKey	key;
	union
	{
		RfmState   *st;			/* raw identifiers: the state */
		uint32		idx;		/* normalised keys: first raw identifier of the chain */
	}			u;
	uint32		hash;
	char		status;
} KeyEntry;

/* the key of value length len at arena offset off */
static inline ArenaKey
make_key(CdpKeyArena *a, uint32 off, int len)
{
	ArenaKey	k;

	k.head = 0;
	memcpy(&k.head, a->buf + off, Min(8, len + 1));
	k.off = off;
	k.len = len;
	return k;
}

static inline uint32
key_hash(CdpKeyArena *a, uint32 off, int len)
{
	return hash_bytes((const unsigned char *) a->buf + off, len + 1);
}

static inline bool
key_equal(CdpKeyArena *a, ArenaKey x, ArenaKey y)
{
	return x.head == y.head && x.len == y.len &&
		(x.len < 8 || memcmp(a->buf + x.off + 8, a->buf + y.off + 8, x.len - 7) == 0);
}

#define SH_PREFIX rawtab
#define SH_ELEMENT_TYPE KeyEntry
#define SH_KEY_TYPE ArenaKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) key_hash((CdpKeyArena *) (tb)->private_data, (k).off, (k).len)
#define SH_EQUAL(tb, a, b) key_equal((CdpKeyArena *) (tb)->private_data, a, b)
#define SH_SCOPE static inline
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct RfmScan
{
	DestReceiver pub;
	MemoryContext cxt;			/* arenas, arrays */
	MemoryContext statecxt;		/* the states */
	int			ntypes;
	OrderType	types[MAX_ORDER_TYPES];
	int			last_type;
	/* distinct raw identifiers (struct of arrays) */
	CdpKeyArena	raw;
	struct rawtab_hash *tab;
	uint32		n;
	KeyEntry   *last;			/* raw identifier of the previous order */
	/* after the pass: the raw identifiers, in the order they first came */
	RawIdent   *raws;
	int64	   *profile;		/* profile_id, or -1 while none is found */
	uint32	   *next;			/* next raw identifier of the same normalised key */
	RfmState   *unknown;		/* orders of NULL or unknown identifier types */
	/* the lookup: normalised keys, each with its chain of raw identifiers */
	CdpKeyArena	norm;
	struct rawtab_hash *ntab;
} RfmScan;

/* Index of the identifier type named by a text datum, or -1. */
static int
order_type(RfmScan *s, Datum d)
{
	text	   *t = (text *) PG_DETOAST_DATUM_PACKED(d);
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t),
				i;

	if (s->last_type >= 0 && s->types[s->last_type].len == len &&
		memcmp(s->types[s->last_type].name, p, len) == 0)
		return s->last_type;
	for (i = 0; i < s->ntypes; i++)
		if (s->types[i].len == len && memcmp(s->types[i].name, p, len) == 0)
			return s->last_type = i;
	return -1;
}

/* Reads cdp.identifier_types. */
static void
load_types(RfmScan *s)
{
	uint64		i;

	if (SPI_execute("SELECT t.id_type, t.normalizer FROM cdp.identifier_types t ORDER BY t.id_type",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp._rfm_refresh: could not read cdp.identifier_types");
	if (SPI_processed > MAX_ORDER_TYPES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cdp.refresh_rfm handles at most %d identifier types, not %d",
						MAX_ORDER_TYPES, (int) SPI_processed)));
	for (i = 0; i < SPI_processed; i++)
	{
		OrderType  *t = &s->types[i];

		t->name = MemoryContextStrdup(s->cxt, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		t->len = strlen(t->name);
		t->kind = cdp_id_kind(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		t->used = false;
	}
	s->ntypes = (int) SPI_processed;
	s->last_type = -1;
	SPI_freetuptable(SPI_tuptable);
}

static void
scan_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	if (typeinfo->natts != 4 || TupleDescAttr(typeinfo, 0)->atttypid != TEXTOID ||
		TupleDescAttr(typeinfo, 1)->atttypid != TEXTOID ||
		TupleDescAttr(typeinfo, 2)->atttypid != TIMESTAMPTZOID ||
		TupleDescAttr(typeinfo, 3)->atttypid != NUMERICOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cdp._rfm_refresh: the query must return (text, text, timestamptz, numeric)"),
				 errhint("Call cdp.refresh_rfm() instead of cdp._rfm_refresh().")));
}

/* The raw identifier of type typ and value val: found, or added without a state. */
static KeyEntry *
raw_identifier(RfmScan *s, int typ, const char *val, int len)
{
	uint32		off;
	KeyEntry   *e;
	bool		found;

	/* orders of one customer often come one after another */
	if (s->last != NULL && s->last->key.len == (uint32) len)
	{
		const char *k = s->raw.buf + s->last->key.off;

		if (k[0] == (char) (typ + 1) && memcmp(k + 1, val, len) == 0)
			return s->last;
	}
	off = cdp_key_arena_put(&s->raw, typ, val, len);
	e = rawtab_insert_hash(s->tab, make_key(&s->raw, off, len), key_hash(&s->raw, off, len), &found);
	if (!found)
	{
		if (s->n >= PG_UINT32_MAX / 4)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("cdp.refresh_rfm cannot handle more than %u distinct identifiers of orders", s->n)));
		cdp_key_arena_keep(&s->raw, len);
		e->u.st = NULL;
		s->types[typ].used = true;
		s->n++;
	}
	return e;
}

/* One order: added to the state of its raw identifier. */
static bool
scan_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RfmScan    *s = (RfmScan *) self;
	Datum	   *v;
	bool	   *nl;
	int			typ;
	RfmState   *st,
			   *nst;
	TimestampTz ts;
	text	   *t;
	KeyEntry   *e;

	slot_getallattrs(slot);
	v = slot->tts_values;
	nl = slot->tts_isnull;
	if (nl[2])
		return true;			/* no time, no order (as cdp.rfm_agg) */
	ts = DatumGetTimestampTz(v[2]);
	typ = nl[0] || nl[1] ? -1 : order_type(s, v[0]);
	if (typ < 0)
	{
		s->unknown = rfm_state_add(s->statecxt, s->unknown, ts, v[3], nl[3]);
		return true;
	}
	t = (text *) PG_DETOAST_DATUM_PACKED(v[1]);
	e = raw_identifier(s, typ, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	st = e->u.st;
	nst = rfm_state_add(s->statecxt, st, ts, v[3], nl[3]);
	if (st != NULL && nst != st)
		pfree(st);				/* it grew into a new copy */
	e->u.st = nst;
	s->last = e;
	return true;
}

/*
 * One row of cdp.identifiers (id_type, value, profile_id): the profile of
 * the raw identifiers whose normalised key it is.
 */
static bool
lookup_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RfmScan    *s = (RfmScan *) self;
	Datum	   *v;
	bool	   *nl;
	int			typ;
	text	   *t;
	KeyEntry   *e;
	uint32		i,
				off;
	int			len;

	slot_getallattrs(slot);
	v = slot->tts_values;
	nl = slot->tts_isnull;
	if (nl[0] || nl[1] || nl[2] || (typ = order_type(s, v[0])) < 0)
		return true;
	t = (text *) PG_DETOAST_DATUM_PACKED(v[1]);
	len = VARSIZE_ANY_EXHDR(t);
	off = cdp_key_arena_put(&s->norm, typ, VARDATA_ANY(t), len);
	e = rawtab_lookup_hash(s->ntab, make_key(&s->norm, off, len), key_hash(&s->norm, off, len));
	if (e != NULL)
		for (i = e->u.idx; i != NO_ENTRY; i = s->next[i])
			s->profile[i] = DatumGetInt64(v[2]);
	return true;
}

/*
 * Normalises every raw identifier (as cdp.try_normalize: those that cannot
 * be identifiers of their type stay without profile) and finds the profile
 * of each in cdp.identifiers.
 */
static void
find_profiles(RfmScan *s)
{
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "cdp rfm normalise",
											  ALLOCSET_DEFAULT_SIZES),
				old;
	StringInfoData sql;
	uint32		i;
	int			k;
	bool		any = false;

	s->profile = MemoryContextAllocHuge(s->cxt, sizeof(int64) * Max(s->n, 1));
	s->next = MemoryContextAllocHuge(s->cxt, sizeof(uint32) * Max(s->n, 1));
	s->norm.cxt = s->cxt;
	s->norm.who = "cdp.refresh_rfm()";
	s->ntab = rawtab_create(s->cxt, Max(s->n, 16), &s->norm);
	for (i = 0; i < s->n; i++)
	{
		const char *key = s->raw.buf + s->raws[i].off;
		int			typ = (unsigned char) key[0] - 1;
		const char *why;
		char	   *norm;

		s->profile[i] = -1;
		s->next[i] = NO_ENTRY;
		if ((i & 4095) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(tmp);
		}
		old = MemoryContextSwitchTo(tmp);
		norm = cdp_normalize_value(s->types[typ].kind, key + 1, strlen(key + 1),
								   cdp_default_country_code, &why);
		MemoryContextSwitchTo(old);
		if (norm != NULL)
		{
			bool		found;
			int			len = strlen(norm);
			uint32		off = cdp_key_arena_put(&s->norm, typ, norm, len);
			KeyEntry   *e = rawtab_insert_hash(s->ntab, make_key(&s->norm, off, len),
										   key_hash(&s->norm, off, len), &found);

			if (found)
				s->next[i] = e->u.idx;
			else
				cdp_key_arena_keep(&s->norm, len);
			e->u.idx = i;
		}
	}
	MemoryContextDelete(tmp);

	/* the identifiers of the types that orders have */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT i.id_type, i.value, i.profile_id FROM cdp.identifiers i"
						   " WHERE i.id_type OPERATOR(pg_catalog.=) ANY (ARRAY[");
	for (k = 0; k < s->ntypes; k++)
		if (s->types[k].used)
		{
			appendStringInfo(&sql, "%s%s", any ? ", " : "", quote_literal_cstr(s->types[k].name));
			any = true;
		}
	appendStringInfoString(&sql, "]::text[])");
	if (any)
	{
		cdp_receiver_init(&s->pub, lookup_receive);
		cdp_execute_into(sql.data, false, &s->pub, "identifiers of orders");
	}
	pfree(sql.data);
}

/* The score rule: 1 + floor(5 * (profiles with a worse value) / profiles). */
static inline int16
score_of(int64 worse, int64 n)
{
	return (int16) (1 + (5 * worse) / n);
}

/*
 * R: 5 - floor(5 * (profiles with a better value) / profiles), so that
 * tied profiles share the best score of their run (the whole base bought
 * on the as-of day: all R = 5), where F and M ties share the worst (all
 * one-time buyers: F = 1): ties pile up at the end of the scale their
 * measure is bounded by (0 days since the last purchase, 1 order).
 */
static inline int16
score_best_of(int64 better, int64 n)
{
	return (int16) (5 - (5 * better) / n);
}

/*
 * Scores from n (value, profile) pairs sorted by value: a run of equal
 * values [g, e) gets one score.  More is better (F, M, sorted ascending):
 * the g profiles before the run are worse, score_of.  Less is better (R,
 * sorted ascending: most recent first): the g profiles before the run are
 * better, score_best_of.
 */
#define ASSIGN_SCORES(v, n, score, more_is_better) \
	do { \
		int32		g_, e_, k_; \
		for (g_ = 0; g_ < (n); g_ = e_) \
		{ \
			int16		sc_; \
			for (e_ = g_; e_ < (n) && (v)[e_].key == (v)[g_].key; e_++) \
				; \
			sc_ = (more_is_better) ? score_of(g_, (n)) : score_best_of(g_, (n)); \
			for (k_ = g_; k_ < e_; k_++) \
				(score)[(v)[k_].idx] = sc_; \
		} \
	} while (0)

/*
 * The segment of each score triple (index (r-1)*25 + (f-1)*5 + m-1) from
 * cdp.rfm_segments: the first row by position whose ranges hold it, else
 * "Others".  The names are texts in cxt.
 */
static void
segment_table(MemoryContext cxt, Datum *seg)
{
	Datum		others;
	uint64		i;
	int			r,
				f,
				m;

	if (SPI_execute("SELECT g.segment, g.r_min, g.r_max, g.f_min, g.f_max, g.m_min, g.m_max"
					" FROM cdp.rfm_segments g ORDER BY g.position", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp._rfm_refresh: could not read cdp.rfm_segments");
	others = PointerGetDatum(MemoryContextAlloc(cxt, VARHDRSZ + 6));
	SET_VARSIZE(DatumGetPointer(others), VARHDRSZ + 6);
	memcpy(VARDATA(DatumGetPointer(others)), "Others", 6);
	for (i = 0; i < 125; i++)
		seg[i] = others;
	/* walk the map backwards: an earlier row overwrites a later one */
	for (i = SPI_processed; i > 0; i--)
	{
		HeapTuple	tup = SPI_tuptable->vals[i - 1];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int16		lim[6];
		int			k;
		Datum		name;
		MemoryContext old;

		for (k = 0; k < 6; k++)
			lim[k] = DatumGetInt16(SPI_getbinval(tup, desc, k + 2, &isnull));
		old = MemoryContextSwitchTo(cxt);
		name = PointerGetDatum(DatumGetTextPCopy(SPI_getbinval(tup, desc, 1, &isnull)));
		MemoryContextSwitchTo(old);
		for (r = lim[0]; r <= lim[1]; r++)
			for (f = lim[2]; f <= lim[3]; f++)
				for (m = lim[4]; m <= lim[5]; m++)
					if (r >= 1 && r <= 5 && f >= 1 && f <= 5 && m >= 1 && m <= 5)
						seg[(r - 1) * 25 + (f - 1) * 5 + m - 1] = name;
	}
	SPI_freetuptable(SPI_tuptable);
}

static const char *const fit_status_names[] = {"converged", "limit", "best point", "failed", "carried over"};

/*
 * A fit that gave no parameters (or only the degenerate limit of data
 * without repeat purchases) keeps those of the last refresh's model row,
 * when it had any: status "carried over", *from the as_of of the fit they
 * come from, a WARNING saying so; else a WARNING that the columns built on
 * the model stay NULL (or, for the degenerate limit, what it gives).
 * Never an unannounced change of the whole base.
 */
static void
carry_over(const char *model, int np, CdpFit *fit, const Datum *prev, const bool *prevnull,
		   TimestampTz prev_from, bool have_prev, TimestampTz *from)
{
	int			i;
	bool		usable = have_prev;

	if (fit->has_params && !fit->degenerate)
		return;
	for (i = 0; i < np && usable; i++)
		usable = !prevnull[i];
	if (usable)
	{
		for (i = 0; i < np; i++)
			fit->par[i] = DatumGetFloat8(prev[i]);
		fit->has_params = true;
		fit->loglik = NAN;		/* of other data: written as NULL */
		fit->status = CDP_FIT_CARRIED;
		fit->converged = false;
		*from = prev_from;
		ereport(WARNING,
				(errmsg("%s fit failed: %s", model, fit->message ? fit->message : "no parameters"),
				 errdetail("cdp.refresh_rfm keeps the parameters of the fit as of %s (cdp.clv_model status \"carried over\").",
						   timestamptz_to_str(prev_from)),
				 errhint("The model is refitted by every refresh; look at the orders if this persists.")));
		return;
	}
	/* what the status column says anyway, and nothing turns NULL: a NOTICE */
	if (fit->has_params)
		ereport(NOTICE,
				(errmsg("%s fit: %s", model, fit->message),
				 errdetail("No earlier fit to keep; cdp.clv_model status \"limit\".")));
	else if (np == 4)
		/* no customers: no row of cdp.rfm turns NULL, so only a NOTICE */
		ereport(fit->customers > 0 ? WARNING : NOTICE,
				(errmsg("%s fit failed: %s", model, fit->message ? fit->message : "no parameters"),
				 errdetail("No earlier fit to keep: p_alive, overdue, expected_purchases and clv of cdp.rfm are NULL (cdp.clv_model status \"failed\")."),
				 errhint("The model needs customers with repeat purchases and some observation time.")));
	else
		ereport(NOTICE,
				(errmsg("%s fit failed: %s", model, fit->message ? fit->message : "no parameters"),
				 errdetail("No earlier fit to keep: expected_spend of cdp.rfm is each customer's own mean spend per purchase day (cdp.clv_model status \"failed\")."),
				 errhint("The model needs repeat buyers whose mean spend varies.")));
}

/*
 * Reads the last refresh's parameters (before write_model replaces the
 * row) and lets carry_over decide for both fits.
 */
static void
carry_over_fits(CdpFit *bg, CdpFit *gg, TimestampTz *bg_from, TimestampTz *gg_from)
{
	Datum		pb[4],
				pg[3];
	bool		nb[4] = {true, true, true, true},
				ng[3] = {true, true, true};
	TimestampTz fb = 0,
				fg = 0;
	bool		have = false;
	int			i;

	if ((bg->has_params && !bg->degenerate) && (gg->has_params && !gg->degenerate))
		return;
	if (SPI_execute("SELECT r, alpha, a, b, coalesce(bgnbd_fitted_as_of, as_of),"
					" p, q, gamma, coalesce(gammagamma_fitted_as_of, as_of),"
					" bgnbd_status = 'limit' AND r = 0"
					" FROM cdp.clv_model ORDER BY as_of DESC LIMIT 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "cdp._rfm_refresh: could not read cdp.clv_model");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull,
					degenerate;

		have = true;
		for (i = 0; i < 4; i++)
			pb[i] = SPI_getbinval(tup, desc, i + 1, &nb[i]);
		fb = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
		for (i = 0; i < 3; i++)
			pg[i] = SPI_getbinval(tup, desc, i + 6, &ng[i]);
		fg = DatumGetTimestampTz(SPI_getbinval(tup, desc, 9, &isnull));
		degenerate = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull)) && !isnull;
		/* the last model was itself the limit of data without repeat purchases: nothing better to keep */
		if (degenerate)
			nb[0] = true;
	}
	carry_over("BG/NBD", 4, bg, pb, nb, fb, have, bg_from);
	carry_over("Gamma-Gamma", 3, gg, pg, ng, fg, have, gg_from);
	SPI_freetuptable(SPI_tuptable);
}

/* Writes the one row of cdp.clv_model. */
static void
write_model(TimestampTz as_of, double horizon, double rate, const CdpFit *bg,
			const CdpFit *gg, int64 unattributed, TimestampTz bg_from, TimestampTz gg_from)
{
	Oid			types[24];
	Datum		v[24];
	char		nulls[25];
	int			k = 0,
				i;

	memset(nulls, ' ', sizeof(nulls));
	nulls[24] = '\0';
#define ARG(type, value, isnull) \
	do { types[k] = (type); v[k] = (value); nulls[k] = (isnull) ? 'n' : ' '; k++; } while (0)
	ARG(TIMESTAMPTZOID, TimestampTzGetDatum(as_of), false);
	ARG(FLOAT8OID, Float8GetDatum(horizon), false);
	ARG(FLOAT8OID, Float8GetDatum(rate), false);
	for (i = 0; i < 4; i++)
		ARG(FLOAT8OID, Float8GetDatum(bg->par[i]), !bg->has_params);
	ARG(FLOAT8OID, Float8GetDatum(bg->loglik), !bg->has_params || isnan(bg->loglik));
	ARG(INT8OID, Int64GetDatum((int64) bg->customers), false);
	ARG(BOOLOID, BoolGetDatum(bg->converged), false);
	ARG(TEXTOID, bg->message ? CStringGetTextDatum(bg->message) : (Datum) 0, bg->message == NULL);
	for (i = 0; i < 3; i++)
		ARG(FLOAT8OID, Float8GetDatum(gg->par[i]), !gg->has_params);
	ARG(FLOAT8OID, Float8GetDatum(gg->loglik), !gg->has_params || isnan(gg->loglik));
	ARG(INT8OID, Int64GetDatum((int64) gg->customers), false);
	ARG(BOOLOID, BoolGetDatum(gg->converged), false);
	ARG(TEXTOID, gg->message ? CStringGetTextDatum(gg->message) : (Datum) 0, gg->message == NULL);
	ARG(INT8OID, Int64GetDatum(unattributed), false);
	ARG(TEXTOID, CStringGetTextDatum(fit_status_names[bg->status]), false);
	ARG(TEXTOID, CStringGetTextDatum(fit_status_names[gg->status]), false);
	ARG(TIMESTAMPTZOID, TimestampTzGetDatum(bg->status == CDP_FIT_CARRIED ? bg_from : as_of), !bg->has_params);
	ARG(TIMESTAMPTZOID, TimestampTzGetDatum(gg->status == CDP_FIT_CARRIED ? gg_from : as_of), !gg->has_params);
#undef ARG
	Assert(k == 24);

	if (SPI_execute("DELETE FROM cdp.clv_model", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "cdp._rfm_refresh: could not empty cdp.clv_model");
	if (SPI_execute_with_args("INSERT INTO cdp.clv_model (as_of, time_unit, horizon, annual_discount_rate,"
							  " r, alpha, a, b, bgnbd_loglik, bgnbd_customers, bgnbd_converged, bgnbd_message,"
							  " p, q, gamma, gammagamma_loglik, gammagamma_customers, gammagamma_converged, gammagamma_message,"
							  " unattributed_orders, bgnbd_status, gammagamma_status, bgnbd_fitted_as_of, gammagamma_fitted_as_of)"
							  " VALUES ($1, '1 week', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
							  " $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
							  24, types, v, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "cdp._rfm_refresh: could not write cdp.clv_model");
}

/*
 * cdp._rfm_refresh(query, as_of, horizon_weeks, annual_discount_rate,
 * weekly_rate): see the file header.  The arguments were checked by
 * cdp.refresh_rfm.
 */
Datum
cdp_rfm_refresh(PG_FUNCTION_ARGS)
{
	char	   *query = (cdp_require_args(fcinfo, "cdp._rfm_refresh()", 5),
						 text_to_cstring(PG_GETARG_TEXT_PP(0)));
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	double		horizon = PG_GETARG_FLOAT8(2),
				rate = PG_GETARG_FLOAT8(3),
				wk = PG_GETARG_FLOAT8(4);
	MemoryContext cxt,
				batchcxt,
				old;
	RfmScan		s;
	int64		orders_attributed,
				unattributed;
	int32		na;
	TupleDesc	tupdesc;
	Datum		result[3];
	bool		rnulls[3] = {false, false, false};
	int32		n,
				i,
				j,
				k,
				ngg = 0;
	KeyIdx	   *order;
	DblIdx	   *dsort;
	int64	   *ids,
			   *first_ts,
			   *last_ts,
			   *orders;
	int32	   *days,
			   *rec,
			   *tdays;
	int16	   *rs,
			   *fs,
			   *ms;
	double	   *spend,
			   *mrs,
			   *x,
			   *tx,
			   *T,
			   *ggx,
			   *ggm,
			   *p_alive,
			   *overdue,
			   *expected,
			   *es,
			   *clv;
	bool	   *clv_null,
			   *exp_null,
			   *es_null;
	CdpFit		bg,
				gg;
	TimestampTz bg_from = 0,
				gg_from = 0;
	bool		use_bg,
				use_gg;
	Datum		seg[125];
	int32		day_as_of = cdp_utc_day(as_of);
	SPIPlanPtr	ins;
	Oid			relid;
	Relation	rel;
	bool		direct;
	instr_time	t0,
				t1;
	double		tm[7];			/* per phase, in the order of the DEBUG1 line */
	long		flt[7],
				flt0 = minor_faults();

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdp._rfm_refresh must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp rfm refresh", ALLOCSET_DEFAULT_SIZES);

	cdp_keep_freed_memory(cxt);
	SPI_connect();
	INSTR_TIME_SET_CURRENT(t0);

	/* 1. the orders, summarised per raw identifier; their profiles */
	memset(&s, 0, sizeof(s));
	s.cxt = cxt;
	s.statecxt = AllocSetContextCreate(cxt, "cdp rfm states", ALLOCSET_DEFAULT_SIZES);
	load_types(&s);
	cdp_receiver_init(&s.pub, scan_receive);
	s.pub.rStartup = scan_startup;
	s.raw.cxt = cxt;
	s.raw.who = "cdp.refresh_rfm()";
	s.tab = rawtab_create(cxt, 1024, &s.raw);
	cdp_execute_into(query, false, &s.pub, "orders");
	{
		/*
		 * the raw identifiers as an array, in the order they first came
		 * (their keys' order in the arena): the orders of one customer
		 * usually come close together, so the later passes find neighbours
		 * side by side
		 */
		rawtab_iterator it;
		KeyEntry   *e;
		uint32		u = 0;

		s.raws = MemoryContextAllocHuge(cxt, sizeof(RawIdent) * Max(s.n, 1));
		rawtab_start_iterate(s.tab, &it);
		while ((e = rawtab_iterate(s.tab, &it)) != NULL)
		{
			s.raws[u].off = e->key.off;
			s.raws[u++].st = e->u.st;
		}
		Assert(u == s.n);
		rawtab_destroy(s.tab);
		sort_rawident(s.raws, s.n);
	}
	LAP(0);
	find_profiles(&s);
	orders_attributed = 0;
	unattributed = s.unknown ? rfm_state_orders(s.unknown) : 0;
	LAP(1);

	/*
	 * 2. per profile, in profile_id order: the states of its identifiers
	 * merged (the merge does not depend on their order: day sets are
	 * united, sums exact), the summary and the model inputs
	 */
	old = MemoryContextSwitchTo(cxt);
	order = palloc(sizeof(KeyIdx) * Max(s.n, 1));
	na = 0;
	for (i = 0; i < (int32) s.n; i++)
	{
		if (s.profile[i] < 0)
		{
			unattributed += rfm_state_orders(s.raws[i].st);
			continue;
		}
		orders_attributed += rfm_state_orders(s.raws[i].st);
		order[na].key = s.profile[i];
		order[na].idx = i;
		na++;
	}
	sort_keyidx(order, na);
	/* what the lookup needed is freed: the arrays below reuse the memory */
	rawtab_destroy(s.ntab);
	if (s.raw.buf)
		pfree(s.raw.buf);
	if (s.norm.buf)
		pfree(s.norm.buf);
	pfree(s.profile);
	pfree(s.next);
#define ALLOC(type) ((type *) palloc(sizeof(type) * Max(na, 1)))
	ids = ALLOC(int64);
	first_ts = ALLOC(int64);
	last_ts = ALLOC(int64);
	orders = ALLOC(int64);
	days = ALLOC(int32);
	rec = ALLOC(int32);
	tdays = ALLOC(int32);
	spend = ALLOC(double);
	mrs = ALLOC(double);
	x = ALLOC(double);
	tx = ALLOC(double);
	T = ALLOC(double);
	ggx = ALLOC(double);
	ggm = ALLOC(double);
	n = 0;
	for (j = 0; j < na; j = k)
	{
		RfmState   *st = s.raws[order[j].idx].st;
		RfmSummary	sm;
		int32		fd,
					ld;

		for (k = j + 1; k < na && order[k].key == order[j].key; k++)
			st = rfm_merge_into(s.statecxt, st, s.raws[order[k].idx].st);
		i = n++;
		rfm_state_summary(st, &sm);
		fd = cdp_utc_day(sm.first_ts);
		ld = cdp_utc_day(sm.last_ts);
		ids[i] = order[j].key;
		first_ts[i] = sm.first_ts;
		last_ts[i] = sm.last_ts;
		orders[i] = sm.orders;
		days[i] = sm.days;
		spend[i] = sm.spend;
		/* as cdp.bgnbd_x, cdp.bgnbd_t_x(s, '1 week'), cdp.bgnbd_t(s, as_of, '1 week') */
		x[i] = sm.days - 1;
		tx[i] = (double) (ld - fd) * CDP_SECS_PER_DAY / SECS_PER_WEEK;
		tdays[i] = day_as_of - fd;
		T[i] = (double) tdays[i] * CDP_SECS_PER_DAY / SECS_PER_WEEK;
		rec[i] = day_as_of - ld;
		mrs[i] = sm.days > 1 ? sm.repeat_spend / (sm.days - 1) : NAN;
		/* the Gamma-Gamma fit takes the repeat buyers with a mean spend > 0 */
		if (sm.days > 1 && mrs[i] > 0)
		{
			ggx[ngg] = x[i];
			ggm[ngg] = mrs[i];
			ngg++;
		}
	}
	pfree(order);
	pfree(s.raws);
	MemoryContextDelete(s.statecxt);

	LAP(2);
	/* 3. the fits, and the model row */
	cdp_bgnbd_fit_arrays(n, x, tx, T, &bg);
	cdp_gammagamma_fit_arrays(ngg, ggx, ggm, &gg);
	pfree(ggx);
	pfree(ggm);
	MemoryContextSwitchTo(old);
	LAP(3);
	carry_over_fits(&bg, &gg, &bg_from, &gg_from);
	write_model(as_of, horizon, rate, &bg, &gg, unattributed, bg_from, gg_from);

	/*
	 * The models are used when they gave parameters: a converged fit, or the
	 * best point on a boundary; the expected spend needs a finite mean: q > 1.
	 */
	use_bg = bg.has_params;
	use_gg = gg.has_params && gg.par[1] > 1;

	/* 4. scores: 1 + floor(5 * (profiles with a worse value) / profiles) */
	old = MemoryContextSwitchTo(cxt);
	rs = ALLOC(int16);
	fs = ALLOC(int16);
	ms = ALLOC(int16);
	order = palloc(sizeof(KeyIdx) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		order[i].key = rec[i];
		order[i].idx = i;
	}
	sort_keyidx(order, n);
	ASSIGN_SCORES(order, n, rs, false);	/* R: older is worse */
	for (i = 0; i < n; i++)
	{
		order[i].key = orders[i];
		order[i].idx = i;
	}
	sort_keyidx(order, n);
	ASSIGN_SCORES(order, n, fs, true);
	pfree(order);
	dsort = palloc(sizeof(DblIdx) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		dsort[i].key = spend[i];
		dsort[i].idx = i;
	}
	sort_dblidx(dsort, n);
	ASSIGN_SCORES(dsort, n, ms, true);
	pfree(dsort);
	MemoryContextSwitchTo(old);
	segment_table(cxt, seg);

	LAP(4);

	/* 5. P(alive), expected purchases and spend, CLV (as cdp.clv etc. compute them) */
	old = MemoryContextSwitchTo(cxt);
	p_alive = ALLOC(double);
	overdue = ALLOC(double);
	expected = ALLOC(double);
	es = ALLOC(double);
	clv = ALLOC(double);
	clv_null = ALLOC(bool);
	exp_null = ALLOC(bool);
	es_null = ALLOC(bool);
	{
		CdpClvPlan *plan = cdp_clv_plan(horizon, wk, 4);

		if (use_bg)
			cdp_check_bgnbd_params(bg.par);
		if (use_gg)
			cdp_check_params("Gamma-Gamma", 3, gg.par);
		/*
		 * customers in (x, T) order: the numerators of the expectations
		 * depend on x and T only, and 500k customers have some 50k
		 * distinct pairs
		 */
		order = palloc(sizeof(KeyIdx) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			order[i].key = ((int64) days[i] << 32) | (uint32) tdays[i];
			order[i].idx = i;
		}
		sort_keyidx(order, n);
		for (j = 0; j < n; j++)
		{
			i = order[j].idx;
			if ((j & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			/*
			 * expected spend per purchase day; NULL (and so no CLV) for a
			 * customer whose returns outweigh the purchases: negative spend
			 * has no place in the models, and one such customer must not
			 * stop the refresh of everybody else
			 */
			/*
			 * one rule for both ways: the customer's own mean spend per
			 * purchase day as the Gamma-Gamma model sees it (the repeat
			 * days' mean; the first day's spend without repeat days) below
			 * 0 gives NULL
			 */
			{
				double		own = x[i] > 0 ? mrs[i] : spend[i];

				if (use_gg)
				{
					double		m = x[i] > 0 ? mrs[i] : 0;

					es[i] = gg.par[0] * (gg.par[2] + m * x[i]) / (gg.par[0] * x[i] + gg.par[1] - 1);
				}
				else
					es[i] = own;
				es_null[i] = !(own >= 0) || isinf(own) || !(es[i] >= 0) || isinf(es[i]);
			}
			if (!use_bg)
			{
				exp_null[i] = clv_null[i] = true;
				p_alive[i] = expected[i] = clv[i] = overdue[i] = 0;
				continue;
			}
			p_alive[i] = cdp_bgnbd_p_alive_of(bg.par, x[i], tx[i], T[i]);
			overdue[i] = cdp_bgnbd_overdue_of(bg.par, x[i], tx[i], T[i]);
			if (j == 0 || order[j].key != order[j - 1].key)
				cdp_clv_eval_num(plan, bg.par, x[i], T[i]);
			cdp_clv_eval_den(plan, bg.par, x[i], tx[i], T[i]);
			/* the last period ends at the horizon */
			expected[i] = plan->out[plan->n - 1];
			exp_null[i] = !isfinite(expected[i]);
			clv[i] = es_null[i] ? 0 : cdp_clv_sum(plan, es[i]);
			clv_null[i] = es_null[i] || !isfinite(clv[i]);
		}
		pfree(order);
	}
	MemoryContextSwitchTo(old);

	LAP(5);

	/*
	 * 6. cdp.rfm, in profile_id order (the key index fills from the right).
	 * When the table is plain (no row security, no triggers) and the caller
	 * may insert into it, the rows go straight to the table and its indexes
	 * the way COPY writes them (constraints checked); else through INSERT
	 * ... SELECT FROM unnest() of arrays, in batches.
	 */
	relid = get_relname_relid("rfm", get_namespace_oid("cdp", false));
	empty_rfm();
	rel = table_open(relid, RowExclusiveLock);
	direct = rel->rd_rel->relkind == RELKIND_RELATION && rel->trigdesc == NULL &&
		RelationGetDescr(rel)->natts == 17 &&
		check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED &&
		pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) == ACLCHECK_OK;
	if (direct)
	{
		EState	   *estate = CreateExecutorState();
		RangeTblEntry *rte = makeNode(RangeTblEntry);
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		TupleTableSlot *slots[MULTI_INSERT];
		BulkInsertState bistate;
		int			nb;

		rte->rtekind = RTE_RELATION;
		rte->relid = relid;
		rte->relkind = rel->rd_rel->relkind;
		rte->rellockmode = RowExclusiveLock;
		ExecInitRangeTable(estate, list_make1(rte));
		InitResultRelInfo(rri, rel, 1, NULL, 0);
		estate->es_output_cid = GetCurrentCommandId(true);
		ExecOpenIndices(rri, false);
		/*
		 * In batches through table_multi_insert (as COPY does: one WAL
		 * record per page, a bulk-insert buffer strategy), then the index
		 * entries of each row.  The constraints are checked per row first.
		 */
		for (j = 0; j < MULTI_INSERT; j++)
			slots[j] = table_slot_create(rel, &estate->es_tupleTable);
		bistate = GetBulkInsertState();
		nb = 0;
		for (i = 0; i < n; i++)
		{
			TupleTableSlot *slot = slots[nb];
			Datum	   *v = slot->tts_values;
			bool	   *nl = slot->tts_isnull;

			ExecClearTuple(slot);
			memset(nl, 0, sizeof(bool) * 17);
			v[0] = Int64GetDatum(ids[i]);
			v[1] = TimestampTzGetDatum(first_ts[i]);
			v[2] = TimestampTzGetDatum(last_ts[i]);
			v[3] = Int32GetDatum(rec[i]);
			v[4] = Int64GetDatum(orders[i]);
			v[5] = Int32GetDatum(days[i]);
			v[6] = Float8GetDatum(spend[i]);
			v[7] = Int16GetDatum(rs[i]);
			v[8] = Int16GetDatum(fs[i]);
			v[9] = Int16GetDatum(ms[i]);
			v[10] = seg[(rs[i] - 1) * 25 + (fs[i] - 1) * 5 + ms[i] - 1];
			v[11] = Float8GetDatum(p_alive[i]);
			nl[11] = !use_bg;
			v[12] = Float8GetDatum(expected[i]);
			nl[12] = exp_null[i];
			v[13] = Float8GetDatum(es[i]);
			nl[13] = es_null[i];
			v[14] = Float8GetDatum(clv[i]);
			nl[14] = clv_null[i];
			v[15] = TimestampTzGetDatum(as_of);
			v[16] = Float8GetDatum(overdue[i]);
			nl[16] = !use_bg;
			ExecStoreVirtualTuple(slot);
			if (rel->rd_att->constr)
				ExecConstraints(rri, slot, estate);
			if (++nb < MULTI_INSERT && i < n - 1)
				continue;
			CHECK_FOR_INTERRUPTS();
			table_multi_insert(rel, slots, nb, estate->es_output_cid, 0, bistate);
			for (j = 0; j < nb; j++)
			{
				if (rri->ri_NumIndices > 0)
					list_free(ExecInsertIndexTuples(rri, slots[j], estate, false, false, NULL, NIL));
				ExecClearTuple(slots[j]);
			}
			ResetPerTupleExprContext(estate);
			nb = 0;
		}
		FreeBulkInsertState(bistate);
		table_finish_bulk_insert(rel, 0);
		ExecCloseIndices(rri);
		ExecResetTupleTable(estate->es_tupleTable, false);
		FreeExecutorState(estate);
	}
	else
	{
		/* INSERT ... SELECT FROM unnest() of arrays, in batches */
		{
			Oid			types[17] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, INT4ARRAYOID,
				INT8ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, INT2ARRAYOID, INT2ARRAYOID, INT2ARRAYOID,
			TEXTARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, TIMESTAMPTZOID,
			FLOAT8ARRAYOID};

			/* a generic plan: a custom one would copy the arrays into the plan */
			ins = SPI_prepare_cursor("INSERT INTO cdp.rfm (profile_id, first_purchase, last_purchase, recency_days, orders,"
							  " purchase_days, monetary, r_score, f_score, m_score, segment, p_alive,"
							  " expected_purchases, expected_spend, clv, as_of, overdue)"
							  " SELECT u.c1, u.c2, u.c3, u.c4, u.c5, u.c6, u.c7, u.c8, u.c9, u.c10, u.c11,"
							  " u.c12, u.c13, u.c14, u.c15, $16, u.c17"
							  " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
							  " pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
							  " pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8),"
							  " pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11),"
							  " pg_catalog.unnest($12), pg_catalog.unnest($13), pg_catalog.unnest($14),"
							  " pg_catalog.unnest($15), pg_catalog.unnest($17))"
							  " u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c17)",
							  17, types, CURSOR_OPT_GENERIC_PLAN);
			if (ins == NULL)
				elog(ERROR, "cdp._rfm_refresh: could not prepare the insert: %s",
					 SPI_result_code_string(SPI_result));
		}
		batchcxt = AllocSetContextCreate(cxt, "cdp rfm batch", ALLOCSET_DEFAULT_SIZES);
		for (i = 0; i < n; i += WRITE_BATCH)
		{
			int			b = Min(WRITE_BATCH, n - i),
						j,
						k;
			Datum		v[17];
			Datum	   *el = NULL;
			bool	   *nl;
			int			dims[1] = {b},
						lbs[1] = {1};

			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(batchcxt);
			el = palloc(sizeof(Datum) * b);
			nl = palloc0(sizeof(bool) * b);
	#define COLUMN(col, expr, nullexpr, typid, len, byval, align) \
			do { \
				for (j = 0; j < b; j++) \
				{ \
					k = i + j; \
					nl[j] = (nullexpr); \
					el[j] = nl[j] ? (Datum) 0 : (expr); \
				} \
				v[col] = PointerGetDatum(construct_md_array(el, nl, 1, dims, lbs, typid, len, byval, align)); \
			} while (0)
			COLUMN(0, Int64GetDatum(ids[k]), false, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
			COLUMN(1, TimestampTzGetDatum(first_ts[k]), false, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
			COLUMN(2, TimestampTzGetDatum(last_ts[k]), false, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
			COLUMN(3, Int32GetDatum(rec[k]), false, INT4OID, 4, true, TYPALIGN_INT);
			COLUMN(4, Int64GetDatum(orders[k]), false, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
			COLUMN(5, Int32GetDatum(days[k]), false, INT4OID, 4, true, TYPALIGN_INT);
			COLUMN(6, Float8GetDatum(spend[k]), false, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
			COLUMN(7, Int16GetDatum(rs[k]), false, INT2OID, 2, true, TYPALIGN_SHORT);
			COLUMN(8, Int16GetDatum(fs[k]), false, INT2OID, 2, true, TYPALIGN_SHORT);
			COLUMN(9, Int16GetDatum(ms[k]), false, INT2OID, 2, true, TYPALIGN_SHORT);
			COLUMN(10, seg[(rs[k] - 1) * 25 + (fs[k] - 1) * 5 + ms[k] - 1], false, TEXTOID, -1, false, TYPALIGN_INT);
			COLUMN(11, Float8GetDatum(p_alive[k]), !use_bg, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
			COLUMN(12, Float8GetDatum(expected[k]), exp_null[k], FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
			COLUMN(13, Float8GetDatum(es[k]), es_null[k], FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
			COLUMN(14, Float8GetDatum(clv[k]), clv_null[k], FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
			COLUMN(16, Float8GetDatum(overdue[k]), !use_bg, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	#undef COLUMN
			v[15] = TimestampTzGetDatum(as_of);
			MemoryContextSwitchTo(old);
			if (SPI_execute_plan(ins, v, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "cdp._rfm_refresh: could not write cdp.rfm");
			MemoryContextReset(batchcxt);
		}
		SPI_freeplan(ins);
	}
	table_close(rel, NoLock);
	LAP(6);
	ereport(DEBUG1,
			(errmsg_internal("cdp.refresh_rfm: %d profiles; orders %.3f s, identifiers %.3f s, merge %.3f s, fits %.3f s, scores %.3f s, CLV %.3f s, write %.3f s",
							 n, tm[0], tm[1], tm[2], tm[3], tm[4], tm[5], tm[6]),
			 errdetail_internal("Minor page faults: orders %ld, identifiers %ld, merge %ld, fits %ld, scores %ld, CLV %ld, write %ld.",
								flt[0], flt[1], flt[2], flt[3], flt[4], flt[5], flt[6])));
	SPI_finish();
	MemoryContextDelete(cxt);

	result[0] = Int64GetDatum((int64) n);
	result[1] = Int64GetDatum(orders_attributed);
	result[2] = Int64GetDatum(unattributed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, rnulls)));
}
