/*
 * rfm_refresh.c — cdp._rfm_refresh: the work of cdp.refresh_rfm after the
 * big scan, in C.
 *
 * cdp.refresh_rfm (rfm.sql) checks its arguments and builds one query that
 * summarises the orders per raw identifier (cdp.rfm_state_agg, a parallel
 * aggregate) and looks each distinct identifier up in cdp.identifiers; it
 * returns (profile_id, state) rows, profile_id NULL for orders no profile
 * was found for (the state counts the orders: no count(*) beside it, whose
 * per-group state would make the hash aggregate bigger).  This function runs that query with a
 * DestReceiver of its own (a cursor would forbid the parallel plan), merges
 * the states of a profile's identifiers in a hash table, and then, over
 * plain arrays: fits BG/NBD and Gamma-Gamma with the code of the fit
 * aggregates (clv.c), scores R, F and M by sorting, looks the segment up in
 * a table of the 125 score triples built from cdp.rfm_segments, computes
 * P(alive), expected purchases, expected spend and CLV, and writes
 * cdp.clv_model and cdp.rfm in profile_id order (straight into the table
 * and its indexes when it is plain, else INSERT ... SELECT FROM unnest() of
 * arrays in batches).  Every value is computed with the same floating-point
 * operations as the SQL functions it replaces (cdp.bgnbd_t_x,
 * cdp.bgnbd_p_alive, cdp.clv, ...), so the table is the same; sql/rfm.sql
 * compares them.  A DEBUG1 line says where the time went.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "portability/instr_time.h"
#include "utils/timestamp.h"

#include "cdp.h"
#include "clv.h"
#include "rfm.h"

#define WRITE_BATCH 100000		/* rows per INSERT into cdp.rfm */
#define MULTI_INSERT 1000		/* rows per table_multi_insert */
#define SECS_PER_WEEK (7 * CDP_SECS_PER_DAY)

/*
 * Empties cdp.rfm before the new rows go in.  A DELETE leaves last night's
 * 500k rows as dead tuples beside the new ones, and every new primary key
 * then has to visit the dead row of the same key in the heap to see that it
 * is gone: the write of a second refresh took 2.4-3 s instead of 0.6 s.  So
 * TRUNCATE when the caller may and nobody uses the table right now (the
 * ACCESS EXCLUSIVE lock is taken only if it is free at once, as
 * cdp.stitch() does for its bulk load; readers then wait for the refresh to
 * commit); else DELETE.
 */
static void
empty_rfm(void)
{
	Oid			relid = get_relname_relid("rfm", get_namespace_oid("cdp", false));
	bool		truncate = false;

	if (OidIsValid(relid) &&
		pg_class_aclcheck(relid, GetUserId(), ACL_TRUNCATE) == ACLCHECK_OK &&
		ConditionalLockRelationOid(relid, AccessExclusiveLock))
	{
		Relation	rel = table_open(relid, NoLock);

		/* not when this session's own query still reads it (TRUNCATE would refuse) */
		truncate = rel->rd_refcnt == 1 && !AfterTriggerPendingOnRel(relid);
		table_close(rel, NoLock);
	}
	if (truncate)
	{
		if (SPI_execute("TRUNCATE cdp.rfm", false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "cdp._rfm_refresh: could not empty cdp.rfm");
	}
	else if (SPI_execute("DELETE FROM cdp.rfm", false, 0) != SPI_OK_DELETE)
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
	} while (0)

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

#define ST_SORT sort_dblidx
#define ST_ELEMENT_TYPE DblIdx
#define ST_COMPARE(a, b) ((a)->key < (b)->key ? -1 : ((a)->key > (b)->key ? 1 : 0))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* what the DestReceiver collects */
typedef struct RfmCollect
{
	DestReceiver pub;
	MemoryContext cxt;			/* states and arrays live here */
	int32		n;				/* attributed rows (identifiers) */
	int32		cap;
	int64	   *ids;			/* profile of each row */
	RfmState  **states;			/* state of each row */
	int64		orders;			/* attributed orders */
	int64		unattributed;
} RfmCollect;

static void
collect_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	if (typeinfo->natts != 2 || TupleDescAttr(typeinfo, 0)->atttypid != INT8OID ||
		TupleDescAttr(typeinfo, 1)->atttypid != BYTEAOID)
		elog(ERROR, "cdp._rfm_refresh: the query must return (bigint, bytea)");
}

/*
 * One (profile_id, state) row: its orders counted (attributed or not), the
 * state kept (the rows of one profile are merged after sorting by
 * profile_id, cheaper than a hash table of 500k profiles).
 */
static bool
collect_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RfmCollect *c = (RfmCollect *) self;
	bool		isnull;
	Datum		d;
	MemoryContext old;
	RfmState   *st;
	RfmSummary	s;

	d = slot_getattr(slot, 2, &isnull);
	if (isnull)
		return true;			/* no orders */
	old = MemoryContextSwitchTo(c->cxt);
	st = rfm_state_copy(PG_DETOAST_DATUM_PACKED(d));
	rfm_state_summary(st, &s);
	d = slot_getattr(slot, 1, &isnull);
	if (isnull)
	{
		c->unattributed += s.orders;
		pfree(st);
		MemoryContextSwitchTo(old);
		return true;
	}
	c->orders += s.orders;
	if (c->n >= c->cap)
	{
		if (c->cap >= (int32) (MaxAllocSize / sizeof(KeyIdx) / 2))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("cdp.refresh_rfm cannot handle more than %d attributed identifiers", c->cap),
					 errhint("Refresh as of an earlier date, or merge identifiers.")));
		c->cap *= 2;
		c->ids = repalloc(c->ids, sizeof(int64) * c->cap);
		c->states = repalloc(c->states, sizeof(RfmState *) * c->cap);
	}
	c->ids[c->n] = DatumGetInt64(d);
	c->states[c->n] = st;
	c->n++;
	MemoryContextSwitchTo(old);
	return true;
}

/* The score rule: 1 + floor(5 * (profiles with a worse value) / profiles). */
static inline int16
score_of(int64 worse, int64 n)
{
	return (int16) (1 + (5 * worse) / n);
}

/*
 * Scores from n (value, profile) pairs sorted by value: a run of equal
 * values [g, e) gets one score; the profiles with a worse value are those
 * before the run when more is better, after it when less is better.
 */
#define ASSIGN_SCORES(v, n, score, more_is_better) \
	do { \
		int32		g_, e_, k_; \
		for (g_ = 0; g_ < (n); g_ = e_) \
		{ \
			int16		sc_; \
			for (e_ = g_; e_ < (n) && (v)[e_].key == (v)[g_].key; e_++) \
				; \
			sc_ = score_of((more_is_better) ? g_ : (n) - e_, (n)); \
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

/* Writes the one row of cdp.clv_model. */
static void
write_model(TimestampTz as_of, double horizon, double rate, const CdpFit *bg,
			const CdpFit *gg, int64 unattributed)
{
	Oid			types[20];
	Datum		v[20];
	char		nulls[21];
	int			k = 0,
				i;

	memset(nulls, ' ', sizeof(nulls));
	nulls[20] = '\0';
#define ARG(type, value, isnull) \
	do { types[k] = (type); v[k] = (value); nulls[k] = (isnull) ? 'n' : ' '; k++; } while (0)
	ARG(TIMESTAMPTZOID, TimestampTzGetDatum(as_of), false);
	ARG(FLOAT8OID, Float8GetDatum(horizon), false);
	ARG(FLOAT8OID, Float8GetDatum(rate), false);
	for (i = 0; i < 4; i++)
		ARG(FLOAT8OID, Float8GetDatum(bg->par[i]), !bg->has_params);
	ARG(FLOAT8OID, Float8GetDatum(bg->loglik), !bg->has_params);
	ARG(INT8OID, Int64GetDatum((int64) bg->customers), false);
	ARG(BOOLOID, BoolGetDatum(bg->converged), false);
	ARG(TEXTOID, bg->message ? CStringGetTextDatum(bg->message) : (Datum) 0, bg->message == NULL);
	for (i = 0; i < 3; i++)
		ARG(FLOAT8OID, Float8GetDatum(gg->par[i]), !gg->has_params);
	ARG(FLOAT8OID, Float8GetDatum(gg->loglik), !gg->has_params);
	ARG(INT8OID, Int64GetDatum((int64) gg->customers), false);
	ARG(BOOLOID, BoolGetDatum(gg->converged), false);
	ARG(TEXTOID, gg->message ? CStringGetTextDatum(gg->message) : (Datum) 0, gg->message == NULL);
	ARG(INT8OID, Int64GetDatum(unattributed), false);
#undef ARG
	Assert(k == 20);

	if (SPI_execute("DELETE FROM cdp.clv_model", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "cdp._rfm_refresh: could not empty cdp.clv_model");
	if (SPI_execute_with_args("INSERT INTO cdp.clv_model (as_of, time_unit, horizon, annual_discount_rate,"
							  " r, alpha, a, b, bgnbd_loglik, bgnbd_customers, bgnbd_converged, bgnbd_message,"
							  " p, q, gamma, gammagamma_loglik, gammagamma_customers, gammagamma_converged, gammagamma_message,"
							  " unattributed_orders)"
							  " VALUES ($1, '1 week', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
							  " $12, $13, $14, $15, $16, $17, $18, $19)",
							  20, types, v, nulls, false, 0) != SPI_OK_INSERT)
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
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	double		horizon = PG_GETARG_FLOAT8(2),
				rate = PG_GETARG_FLOAT8(3),
				wk = PG_GETARG_FLOAT8(4);
	MemoryContext cxt,
				batchcxt,
				old;
	RfmCollect	c;
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
			   *rec;
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
			   *expected,
			   *es,
			   *clv;
	bool	   *clv_null,
			   *exp_null,
			   *es_null;
	CdpFit		bg,
				gg;
	bool		use_bg,
				use_gg;
	Datum		seg[125];
	int32		day_as_of = cdp_utc_day(as_of);
	SPIPlanPtr	ins;
	Relation	rel;
	bool		direct;
	instr_time	t0,
				t1;
	double		tm[5];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdp._rfm_refresh must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "cdp rfm refresh", ALLOCSET_DEFAULT_SIZES);

	SPI_connect();
	INSTR_TIME_SET_CURRENT(t0);

	/* 1. the summaries, merged per profile */
	memset(&c, 0, sizeof(c));
	cdp_receiver_init(&c.pub, collect_receive);
	c.pub.rStartup = collect_startup;
	c.cxt = cxt;
	c.cap = 1024;
	c.ids = MemoryContextAlloc(cxt, sizeof(int64) * c.cap);
	c.states = MemoryContextAlloc(cxt, sizeof(RfmState *) * c.cap);
	cdp_execute_into(query, false, &c.pub, "order summaries");
	LAP(0);

	/*
	 * 2. per profile, in profile_id order: the states of its identifiers
	 * merged (the merge does not depend on their order: day sets are
	 * united, sums exact), the summary and the model inputs
	 */
	old = MemoryContextSwitchTo(cxt);
	order = palloc(sizeof(KeyIdx) * Max(c.n, 1));
	for (i = 0; i < c.n; i++)
	{
		order[i].key = c.ids[i];
		order[i].idx = i;
	}
	sort_keyidx(order, c.n);
#define ALLOC(type) ((type *) palloc(sizeof(type) * Max(c.n, 1)))
	ids = ALLOC(int64);
	first_ts = ALLOC(int64);
	last_ts = ALLOC(int64);
	orders = ALLOC(int64);
	days = ALLOC(int32);
	rec = ALLOC(int32);
	spend = ALLOC(double);
	mrs = ALLOC(double);
	x = ALLOC(double);
	tx = ALLOC(double);
	T = ALLOC(double);
	ggx = ALLOC(double);
	ggm = ALLOC(double);
	n = 0;
	for (j = 0; j < c.n; j = k)
	{
		RfmState   *st = c.states[order[j].idx];
		RfmSummary	s;
		int32		fd,
					ld;

		for (k = j + 1; k < c.n && order[k].key == order[j].key; k++)
		{
			RfmState   *m = rfm_merge_into(cxt, st, c.states[order[k].idx]);

			if (m != st)
				pfree(st);
			pfree(c.states[order[k].idx]);
			st = m;
		}
		i = n++;
		rfm_state_summary(st, &s);
		fd = cdp_utc_day(s.first_ts);
		ld = cdp_utc_day(s.last_ts);
		ids[i] = order[j].key;
		first_ts[i] = s.first_ts;
		last_ts[i] = s.last_ts;
		orders[i] = s.orders;
		days[i] = s.days;
		spend[i] = s.spend;
		/* as cdp.bgnbd_x, cdp.bgnbd_t_x(s, '1 week'), cdp.bgnbd_t(s, as_of, '1 week') */
		x[i] = s.days - 1;
		tx[i] = (double) (ld - fd) * CDP_SECS_PER_DAY / SECS_PER_WEEK;
		T[i] = (double) (day_as_of - fd) * CDP_SECS_PER_DAY / SECS_PER_WEEK;
		rec[i] = day_as_of - ld;
		mrs[i] = s.days > 1 ? s.repeat_spend / (s.days - 1) : NAN;
		/* the Gamma-Gamma fit takes the repeat buyers with a mean spend > 0 */
		if (s.days > 1 && mrs[i] > 0)
		{
			ggx[ngg] = x[i];
			ggm[ngg] = mrs[i];
			ngg++;
		}
		pfree(st);
	}
	pfree(c.states);
	pfree(c.ids);
	pfree(order);

	/* 3. the fits, and the model row */
	cdp_bgnbd_fit_arrays(n, x, tx, T, &bg);
	cdp_gammagamma_fit_arrays(ngg, ggx, ggm, &gg);
	pfree(ggx);
	pfree(ggm);
	MemoryContextSwitchTo(old);
	LAP(1);
	write_model(as_of, horizon, rate, &bg, &gg, c.unattributed);

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

	LAP(2);

	/* 5. P(alive), expected purchases and spend, CLV (as cdp.clv etc. compute them) */
	old = MemoryContextSwitchTo(cxt);
	p_alive = ALLOC(double);
	expected = ALLOC(double);
	es = ALLOC(double);
	clv = ALLOC(double);
	clv_null = ALLOC(bool);
	exp_null = ALLOC(bool);
	es_null = ALLOC(bool);
	{
		CdpClvPlan *plan = cdp_clv_plan(horizon, wk, 4);

		if (use_bg)
			cdp_check_params("BG/NBD", 4, bg.par);
		if (use_gg)
			cdp_check_params("Gamma-Gamma", 3, gg.par);
		for (i = 0; i < n; i++)
		{
			if ((i & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			/*
			 * expected spend per purchase day; NULL (and so no CLV) for a
			 * customer whose returns outweigh the purchases: negative spend
			 * has no place in the models, and one such customer must not
			 * stop the refresh of everybody else
			 */
			if (use_gg)
			{
				double		m = x[i] > 0 ? mrs[i] : 0;

				es[i] = gg.par[0] * (gg.par[2] + m * x[i]) / (gg.par[0] * x[i] + gg.par[1] - 1);
				es_null[i] = !(m >= 0) || isinf(m);
			}
			else
			{
				es[i] = spend[i] / days[i];
				es_null[i] = false;
			}
			es_null[i] = es_null[i] || !(es[i] >= 0) || isinf(es[i]);
			if (!use_bg)
			{
				exp_null[i] = clv_null[i] = true;
				p_alive[i] = expected[i] = clv[i] = 0;
				continue;
			}
			p_alive[i] = cdp_bgnbd_p_alive_of(bg.par, x[i], tx[i], T[i]);
			cdp_clv_eval(plan, bg.par, x[i], tx[i], T[i]);
			/* the last period ends at the horizon */
			expected[i] = plan->out[plan->n - 1];
			exp_null[i] = !isfinite(expected[i]);
			clv[i] = es_null[i] ? 0 : cdp_clv_sum(plan, es[i]);
			clv_null[i] = es_null[i] || !isfinite(clv[i]);
		}
	}
	MemoryContextSwitchTo(old);

	LAP(3);

	/*
	 * 6. cdp.rfm, in profile_id order (the key index fills from the right).
	 * When the table is plain (no row security, no triggers) and the caller
	 * may insert into it, the rows go straight to the table and its indexes
	 * the way COPY writes them (constraints checked); else through INSERT
	 * ... SELECT FROM unnest() of arrays, in batches.
	 */
	empty_rfm();
	rel = table_open(get_relname_relid("rfm", get_namespace_oid("cdp", false)), RowExclusiveLock);
	direct = rel->rd_rel->relkind == RELKIND_RELATION && rel->trigdesc == NULL &&
		RelationGetDescr(rel)->natts == 16 &&
		check_enable_rls(RelationGetRelid(rel), InvalidOid, true) != RLS_ENABLED &&
		pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT) == ACLCHECK_OK;
	if (direct)
	{
		EState	   *estate = CreateExecutorState();
		RangeTblEntry *rte = makeNode(RangeTblEntry);
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		TupleTableSlot *slots[MULTI_INSERT];
		BulkInsertState bistate;
		int			nb;

		rte->rtekind = RTE_RELATION;
		rte->relid = RelationGetRelid(rel);
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
			memset(nl, 0, sizeof(bool) * 16);
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
			Oid			types[16] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, INT4ARRAYOID,
				INT8ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, INT2ARRAYOID, INT2ARRAYOID, INT2ARRAYOID,
			TEXTARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, TIMESTAMPTZOID};

			/* a generic plan: a custom one would copy the arrays into the plan */
			ins = SPI_prepare_cursor("INSERT INTO cdp.rfm (profile_id, first_purchase, last_purchase, recency_days, orders,"
							  " purchase_days, monetary, r_score, f_score, m_score, segment, p_alive,"
							  " expected_purchases, expected_spend, clv, as_of)"
							  " SELECT u.*, $16 FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
							  " pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
							  " pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8),"
							  " pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11),"
							  " pg_catalog.unnest($12), pg_catalog.unnest($13), pg_catalog.unnest($14),"
							  " pg_catalog.unnest($15)) u",
							  16, types, CURSOR_OPT_GENERIC_PLAN);
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
			Datum		v[16];
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
	LAP(4);
	ereport(DEBUG1,
			(errmsg_internal("cdp.refresh_rfm: %d profiles; summary query and merge %.3f s, fits %.3f s, scores %.3f s, CLV %.3f s, write %.3f s",
							 n, tm[0], tm[1], tm[2], tm[3], tm[4])));
	SPI_finish();
	MemoryContextDelete(cxt);

	result[0] = Int64GetDatum((int64) n);
	result[1] = Int64GetDatum(c.orders);
	result[2] = Int64GetDatum(c.unattributed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, rnulls)));
}
