/*
 * affinity.c — cdp.affinity_agg: exponentially time-decayed weights per
 * attribute ('kind:value', e.g. 'colour:blue'), and its readers
 * cdp.affinity_score, cdp.affinity_top, cdp.affinity_latest and
 * cdp.affinity_entries.
 *
 * Every row contributes weight * 0.5^(age / half_life) to its attribute,
 * with age = as_of - at; rows after as_of are ignored (a refresh "as of" a
 * past moment must not see the future).  The aggregate also keeps the most
 * recent time each attribute was seen, so "the latest colour" is one read.
 *
 * The state is a bytea (see affinity.h) rather than internal: PostgreSQL
 * then needs no serial/deserial functions for parallel plans and Citus can
 * push the aggregate down.  A profile has tens of attributes, so the entries
 * are an unsorted array searched linearly (length first, then bytes); that
 * beats hashing at this size and keeps the state one flat, copyable chunk.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "affinity.h"

PG_FUNCTION_INFO_V1(cdp_affinity_trans);
PG_FUNCTION_INFO_V1(cdp_affinity_combine);
PG_FUNCTION_INFO_V1(cdp_affinity_score);
PG_FUNCTION_INFO_V1(cdp_affinity_latest);
PG_FUNCTION_INFO_V1(cdp_affinity_top);
PG_FUNCTION_INFO_V1(cdp_affinity_entries);

#define FIRST_ENTRY(st) ((AffinityEntry *) ((char *) (st) + AFFINITY_HDRSZ))
#define NEXT_ENTRY(e) ((AffinityEntry *) ((char *) (e) + AFFINITY_ENTRY_SIZE((e)->len)))

/* Seconds in a half-life interval (a month counts 30 days); errors unless positive. */
static double
half_life_seconds(Interval *hl)
{
	double		sec;

	sec = (double) hl->month * DAYS_PER_MONTH * SECS_PER_DAY
		+ (double) hl->day * SECS_PER_DAY
		+ (double) hl->time / USECS_PER_SEC;
	if (!(sec > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("affinity half-life must be positive, not %s",
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(hl)))),
				 errdetail("A signal loses half its weight every half-life; zero or negative half-lives have no meaning."),
				 errhint("Use an interval such as '90 days'.")));
	return sec;
}

/* Returns the transition state, remembering it as trusted (cdp_affinity_trans). */
#define AFFINITY_RETURN(st) \
	do { fcinfo->flinfo->fn_extra = (st); PG_RETURN_POINTER(st); } while (0)

/* Raises the error for a state that is not an affinity state. */
static void
bad_state(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid affinity state: %s", why),
			 errdetail("The value was not produced by cdp.affinity_agg of this cdp version or has been altered."),
			 errhint("Recompute it with cdp.affinity_agg (cdp.refresh_affinity).")));
}

/* Checks a state's header and every entry against its length; returns it. */
static AffinityState *
check_state(bytea *b)
{
	AffinityState *st = (AffinityState *) b;
	Size		size = VARSIZE(b);
	Size		off = AFFINITY_HDRSZ;
	int			i;

	if (size < AFFINITY_HDRSZ)
		bad_state("too short");
	if (st->version != AFFINITY_STATE_VERSION)
		bad_state(psprintf("format version %d, expected %d", st->version, AFFINITY_STATE_VERSION));
	if (st->nentries < 0)
		bad_state("negative entry count");
	for (i = 0; i < st->nentries; i++)
	{
		AffinityEntry *e = (AffinityEntry *) ((char *) st + off);

		if (off + offsetof(AffinityEntry, attr) > size)
			bad_state("truncated entry");
		if (e->len <= 0 || e->kindlen <= 0 || e->kindlen >= e->len
			|| off + AFFINITY_ENTRY_SIZE(e->len) > size
			|| e->attr[e->len] != '\0' || e->attr[e->kindlen] != ':')
			bad_state("malformed entry");
		off += AFFINITY_ENTRY_SIZE(e->len);
	}
	if (off != size)
		bad_state("trailing bytes");
	return st;
}

/* Detoasts and checks a state argument. */
static AffinityState *
get_state(FunctionCallInfo fcinfo, int argno)
{
	return check_state(PG_DETOAST_DATUM(PG_GETARG_DATUM(argno)));
}

/* The entry for attr (len bytes) in st, or NULL. */
static AffinityEntry *
find_entry(AffinityState *st, const char *attr, int len)
{
	AffinityEntry *e = FIRST_ENTRY(st);
	int			i;

	for (i = 0; i < st->nentries; i++, e = NEXT_ENTRY(e))
		if (e->len == len && memcmp(e->attr, attr, len) == 0)
			return e;
	return NULL;
}

/* Returns the position of the ':' that ends attr's kind; errors for a malformed attribute. */
static int
attribute_kindlen(const char *attr, int len)
{
	const char *colon = memchr(attr, ':', len);

	if (colon == NULL || colon == attr || colon == attr + len - 1 || memchr(attr, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("affinity attribute \"%s\" is not of the form kind:value", pnstrdup(attr, len)),
				 errdetail("Attributes name their kind and value, separated by the first colon, both non-empty."),
				 errhint("Examples: 'colour:blue', 'size:44', 'sport:running'.")));
	return colon - attr;
}

/* A new state (in CurrentMemoryContext): old's header and entries plus room for extra bytes. */
static AffinityState *
grow_state(AffinityState *old, Size extra)
{
	Size		oldsize = VARSIZE(old);
	AffinityState *st;

	if (extra >= MaxAllocSize - oldsize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("affinity state would exceed %zu bytes", (Size) MaxAllocSize),
				 errdetail("One group has too many distinct attributes."),
				 errhint("Aggregate per profile, and keep attribute values short.")));
	st = palloc(oldsize + extra);
	memcpy(st, old, oldsize);
	SET_VARSIZE(st, oldsize + extra);
	return st;
}

/* Writes a new entry at offset off of st. */
static void
put_entry(AffinityState *st, Size off, const char *attr, int len, int kindlen,
		  double score, TimestampTz latest)
{
	AffinityEntry *e = (AffinityEntry *) ((char *) st + off);

	memset(e, 0, AFFINITY_ENTRY_SIZE(len));
	e->score = score;
	e->latest = latest;
	e->len = len;
	e->kindlen = kindlen;
	memcpy(e->attr, attr, len);
	e->attr[len] = '\0';
	st->nentries++;
}

/*
 * Transition: affinity_agg(attribute, weight, at, half_life, as_of).
 *
 * Rows with a NULL attribute, weight or time, and rows after as_of, add
 * nothing (an article without a colour has no colour affinity).  An
 * existing attribute is updated in place and the same pointer returned.  A
 * new attribute needs a larger state: it is built in the per-row memory
 * context and returned, and the executor copies it into the aggregate
 * context and frees the old one itself (it does so whenever the pointer
 * changes, which is why this never repallocs the aggregate-context chunk).
 */
Datum
cdp_affinity_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	AffinityState *st;
	text	   *attr_t;
	double		weight;
	TimestampTz at;
	TimestampTz as_of;
	double		hl_sec;
	double		contrib;
	const char *attr;
	int			len;
	int			kindlen;
	AffinityEntry *e;
	Size		oldsize;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_affinity_trans called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate; call the aggregate.")));

	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("affinity half-life must not be NULL"),
				 errhint("Use an interval such as '90 days'.")));
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("affinity as_of must not be NULL"),
				 errhint("Pass the moment the affinities are computed for, e.g. now().")));
	hl_sec = half_life_seconds(PG_GETARG_INTERVAL_P(4));
	as_of = PG_GETARG_TIMESTAMPTZ(5);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("affinity as_of must be finite"),
				 errhint("Pass the moment the affinities are computed for, e.g. now().")));

	if (PG_ARGISNULL(0))
	{
		st = palloc0(AFFINITY_HDRSZ);
		SET_VARSIZE(st, AFFINITY_HDRSZ);
		st->version = AFFINITY_STATE_VERSION;
		st->half_life_sec = hl_sec;
		st->as_of = as_of;
	}
	else
	{
		/*
		 * the state of the previous row (ours, not toasted: the pointer this
		 * function returned last is trusted) or a state from elsewhere (a
		 * forged initial condition, another group's state): checked
		 */
		st = (AffinityState *) PG_GETARG_POINTER(0);
		if ((void *) st != fcinfo->flinfo->fn_extra)
			st = check_state(PG_GETARG_BYTEA_P(0));
		if (st->half_life_sec != hl_sec || st->as_of != as_of)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("affinity half-life and as_of must be the same for all rows of a group"),
					 errdetail("One affinity value decays all its signals to one moment with one half-life."),
					 errhint("Pass constants, e.g. affinity_agg(attr, w, at, '90 days', now()).")));
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		AFFINITY_RETURN(st);

	weight = PG_GETARG_FLOAT8(2);
	at = PG_GETARG_TIMESTAMPTZ(3);
	if (isnan(weight) || isinf(weight))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("affinity weight must be finite, not %g", weight),
				 errdetail("Infinite weights would make every other signal meaningless."),
				 errhint("Check the event-type weights in cdp.affinity_weights.")));
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("affinity signal time must be finite"),
				 errdetail("A signal at infinity has no age."),
				 errhint("Map unknown times to NULL; such rows are skipped.")));
	if (at > as_of)
		AFFINITY_RETURN(st);	/* after as_of: ignored */

	contrib = weight * exp2(-((double) (as_of - at) / USECS_PER_SEC) / hl_sec);

	attr_t = PG_GETARG_TEXT_PP(1);
	attr = VARDATA_ANY(attr_t);
	len = VARSIZE_ANY_EXHDR(attr_t);

	e = find_entry(st, attr, len);
	if (e != NULL)
	{
		e->score += contrib;
		if (at > e->latest)
			e->latest = at;
		AFFINITY_RETURN(st);
	}

	kindlen = attribute_kindlen(attr, len);
	oldsize = VARSIZE(st);
	st = grow_state(st, AFFINITY_ENTRY_SIZE(len));
	put_entry(st, oldsize, attr, len, kindlen, contrib, at);
	AFFINITY_RETURN(st);
}

/*
 * Combine: merges two states attribute by attribute (sums add, the later
 * time wins).  Both must have the same half-life and as_of.
 */
Datum
cdp_affinity_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	AffinityState *a;
	AffinityState *b;
	AffinityEntry *e;
	Size		extra = 0;
	Size		off;
	int			i;
	bool		same = true;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_affinity_combine called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate; call the aggregate.")));
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = get_state(fcinfo, 1);
	if (PG_ARGISNULL(0))
	{
		/* the executor copies it into the aggregate context */
		PG_RETURN_POINTER(b);
	}
	a = get_state(fcinfo, 0);
	if (a->half_life_sec != b->half_life_sec || a->as_of != b->as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine affinity states with different half-lives or as_of"),
				 errdetail("One affinity value decays all its signals to one moment with one half-life."),
				 errhint("Aggregate all parts with the same half-life and as_of.")));

	/* first pass: update existing attributes in place, size the new ones */
	for (i = 0, e = FIRST_ENTRY(b); i < b->nentries; i++, e = NEXT_ENTRY(e))
	{
		AffinityEntry *ae = find_entry(a, e->attr, e->len);

		if (ae != NULL)
		{
			ae->score += e->score;
			if (e->latest > ae->latest)
				ae->latest = e->latest;
		}
		else
		{
			extra += AFFINITY_ENTRY_SIZE(e->len);
			same = false;
		}
		if (extra >= MaxAllocSize)
			break;				/* grow_state reports it */
	}
	if (same)
		PG_RETURN_POINTER(a);

	/* second pass: append the attributes a lacked */
	off = VARSIZE(a);
	{
		AffinityState *old = a;

		a = grow_state(old, extra);
		for (i = 0, e = FIRST_ENTRY(b); i < b->nentries; i++, e = NEXT_ENTRY(e))
		{
			if (find_entry(old, e->attr, e->len) != NULL)
				continue;
			put_entry(a, off, e->attr, e->len, e->kindlen, e->score, e->latest);
			off += AFFINITY_ENTRY_SIZE(e->len);
		}
	}
	PG_RETURN_POINTER(a);
}

/* affinity_score(a, attribute): the decayed sum of the attribute, 0 when never seen. */
Datum
cdp_affinity_score(PG_FUNCTION_ARGS)
{
	AffinityState *st = get_state(fcinfo, 0);
	text	   *attr = PG_GETARG_TEXT_PP(1);
	AffinityEntry *e = find_entry(st, VARDATA_ANY(attr), VARSIZE_ANY_EXHDR(attr));

	PG_RETURN_FLOAT8(e ? e->score : 0.0);
}

/* True when entry e is of the given kind. */
static inline bool
entry_is_kind(AffinityEntry *e, const char *kind, int kindlen)
{
	return e->kindlen == kindlen && memcmp(e->attr, kind, kindlen) == 0;
}

/*
 * affinity_latest(a, kind): the value of that kind seen most recently;
 * ties (same time) go to the higher score, then to the smaller value
 * (byte order).  NULL when the kind was never seen.
 */
Datum
cdp_affinity_latest(PG_FUNCTION_ARGS)
{
	AffinityState *st = get_state(fcinfo, 0);
	text	   *kind_t = PG_GETARG_TEXT_PP(1);
	const char *kind = VARDATA_ANY(kind_t);
	int			kindlen = VARSIZE_ANY_EXHDR(kind_t);
	AffinityEntry *best = NULL;
	AffinityEntry *e;
	int			i;

	for (i = 0, e = FIRST_ENTRY(st); i < st->nentries; i++, e = NEXT_ENTRY(e))
	{
		if (!entry_is_kind(e, kind, kindlen))
			continue;
		if (best == NULL || e->latest > best->latest
			|| (e->latest == best->latest
				&& (e->score > best->score
					|| (e->score == best->score && strcmp(e->attr, best->attr) < 0))))
			best = e;
	}
	if (best == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(best->attr + best->kindlen + 1));
}

/* qsort order: higher score first, then the smaller attribute. */
static int
entry_cmp_score(const void *pa, const void *pb)
{
	AffinityEntry *a = *(AffinityEntry *const *) pa;
	AffinityEntry *b = *(AffinityEntry *const *) pb;

	if (a->score > b->score)
		return -1;
	if (a->score < b->score)
		return 1;
	return strcmp(a->attr, b->attr);
}

/* qsort order: kind, then higher score, then the smaller value. */
static int
entry_cmp_kind(const void *pa, const void *pb)
{
	AffinityEntry *a = *(AffinityEntry *const *) pa;
	AffinityEntry *b = *(AffinityEntry *const *) pb;
	int			c = memcmp(a->attr, b->attr, Min(a->kindlen, b->kindlen));

	if (c != 0)
		return c;
	if (a->kindlen != b->kindlen)
		return a->kindlen < b->kindlen ? -1 : 1;
	return entry_cmp_score(pa, pb);
}

/* The entries of st (of one kind when kind != NULL) as a palloc'd array; count in *n. */
static AffinityEntry **
collect_entries(AffinityState *st, const char *kind, int kindlen, int *n)
{
	AffinityEntry **arr = palloc(sizeof(AffinityEntry *) * Max(st->nentries, 1));
	AffinityEntry *e;
	int			i;

	*n = 0;
	for (i = 0, e = FIRST_ENTRY(st); i < st->nentries; i++, e = NEXT_ENTRY(e))
		if (kind == NULL || entry_is_kind(e, kind, kindlen))
			arr[(*n)++] = e;
	return arr;
}

/* affinity_top(a, kind, k): the k values of a kind with the highest scores (ties: smaller value first). */
Datum
cdp_affinity_top(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AffinityState *st = get_state(fcinfo, 0);
	text	   *kind_t = PG_GETARG_TEXT_PP(1);
	int32		k = PG_GETARG_INT32(2);
	AffinityEntry **arr;
	int			n;
	int			i;

	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("affinity_top needs k >= 0, not %d", k),
				 errhint("k is how many values to return.")));
	InitMaterializedSRF(fcinfo, 0);
	arr = collect_entries(st, VARDATA_ANY(kind_t), VARSIZE_ANY_EXHDR(kind_t), &n);
	qsort(arr, n, sizeof(AffinityEntry *), entry_cmp_score);
	for (i = 0; i < n && i < k; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(arr[i]->attr + arr[i]->kindlen + 1);
		values[1] = Float8GetDatum(arr[i]->score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* affinity_entries(a): every attribute as (kind, value, score, last_at), by kind and score. */
Datum
cdp_affinity_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AffinityState *st = get_state(fcinfo, 0);
	AffinityEntry **arr;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	arr = collect_entries(st, NULL, 0, &n);
	qsort(arr, n, sizeof(AffinityEntry *), entry_cmp_kind);
	for (i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = PointerGetDatum(cstring_to_text_with_len(arr[i]->attr, arr[i]->kindlen));
		values[1] = CStringGetTextDatum(arr[i]->attr + arr[i]->kindlen + 1);
		values[2] = Float8GetDatum(arr[i]->score);
		values[3] = TimestampTzGetDatum(arr[i]->latest);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
