/*
 * rfm.c — cdp.rfm_agg(ordered_at, amount): one pass over a customer's orders
 * that keeps everything RFM scoring and the BG/NBD / Gamma-Gamma CLV models
 * need, and the accessors that read recency, frequency, monetary value and
 * the BG/NBD inputs x, t_x and T from its result.
 *
 * The models count purchase *days* (same-day orders merged, as Fader, Hardie
 * & Lee do), so the state keeps a sorted array of the customer's distinct UTC
 * purchase days with orders and spend per day; that is what makes two
 * partial states combinable (a day may appear in both).  Spend is summed
 * exactly (double-double), so the result is the same float8 whatever order
 * rows arrive in and however a parallel plan or cdp.rfm_merge splits them.  The state is a
 * bytea with a format version byte, so PostgreSQL runs the aggregate as a
 * Parallel Aggregate and Citus can push it down.  The aggregate holds no
 * clock: its result is absolute (first and last purchase, counts, spend);
 * the accessors measure times relative to an as-of date and a unit.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "rfm.h"

#define RFM_STATE_VERSION 2
#define RFM_MIN_CAPACITY 4

/* one distinct purchase day of a customer */
typedef struct RfmDay
{
	int32		day;			/* UTC day number */
	int32		orders;			/* orders on that day */
	double		amount;			/* spend on that day ... */
	double		amount_lo;		/* ... plus this: an exact double-double sum */
} RfmDay;

/* the aggregate state: a bytea whose payload is this header + days */
typedef struct RfmState
{
	int32		vl_len_;
	uint8		version;
	uint8		pad[3];
	int32		ndays;			/* distinct days in use */
	int32		capacity;		/* days allocated */
	int32		pad2;
	int64		orders;
	TimestampTz first_ts;
	TimestampTz last_ts;
	RfmDay		days[FLEXIBLE_ARRAY_MEMBER];	/* sorted by day */
} RfmState;

#define RFM_HDRSZ offsetof(RfmState, days)

PG_FUNCTION_INFO_V1(cdp_rfm_trans);
PG_FUNCTION_INFO_V1(cdp_rfm_combine);
PG_FUNCTION_INFO_V1(cdp_rfm_final);
PG_FUNCTION_INFO_V1(cdp_rfm_recency);
PG_FUNCTION_INFO_V1(cdp_rfm_x);
PG_FUNCTION_INFO_V1(cdp_rfm_t_x);
PG_FUNCTION_INFO_V1(cdp_rfm_t);

/* UTC day number (days since 2000-01-01) of a timestamp. */
int32
cdp_utc_day(TimestampTz ts)
{
	int64		d = ts / USECS_PER_DAY;

	if (ts < 0 && ts % USECS_PER_DAY != 0)
		d--;
	return (int32) d;
}

/*
 * Allocates an empty state with room for at least capacity days in context
 * cxt; the room is rounded up to fill a power-of-two allocation (what the
 * allocator hands out anyway).
 */
static RfmState *
rfm_alloc(MemoryContext cxt, int32 capacity)
{
	Size		sz,
				chunk = 256;
	RfmState   *st;

	if (capacity < RFM_MIN_CAPACITY)
		capacity = RFM_MIN_CAPACITY;
	sz = add_size(RFM_HDRSZ, mul_size((Size) capacity, sizeof(RfmDay)));
	while (chunk < sz && chunk <= MaxAllocSize / 2)
		chunk *= 2;
	if (chunk >= sz && chunk <= MaxAllocSize)
	{
		capacity = (int32) ((chunk - RFM_HDRSZ) / sizeof(RfmDay));
		sz = RFM_HDRSZ + (Size) capacity * sizeof(RfmDay);
	}
	if (sz > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cdp.rfm_agg state would exceed %zu bytes", (Size) MaxAllocSize),
				 errdetail("One customer has more than %d distinct purchase days.", capacity / 2)));
	st = MemoryContextAllocZero(cxt, sz);
	SET_VARSIZE(st, sz);
	st->version = RFM_STATE_VERSION;
	st->capacity = capacity;
	st->first_ts = DT_NOEND;
	st->last_ts = DT_NOBEGIN;
	return st;
}

/* Checks a state that crossed a process boundary; errors when malformed. */
static RfmState *
rfm_check(bytea *b)
{
	RfmState   *st = (RfmState *) b;
	Size		len = VARSIZE(b);

	if (len < RFM_HDRSZ || st->version != RFM_STATE_VERSION ||
		st->capacity < 0 || st->ndays < 0 || st->ndays > st->capacity ||
		len != RFM_HDRSZ + (Size) st->capacity * sizeof(RfmDay))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid cdp.rfm_agg state"),
				 errdetail("The state is %zu bytes with format version %d; this library writes version %d.",
						   len, len >= RFM_HDRSZ ? st->version : -1, RFM_STATE_VERSION)));
	return st;
}

/*
 * Adds x to the double-double (*hi, *lo) (Knuth's two-sum).  Sums of order
 * amounts this way are exact for any realistic amounts, so a day's spend
 * and the total do not depend on the order rows arrive in or on how a
 * parallel plan splits them: cdp.rfm_merge and parallel plans give the very
 * same float8 as one serial pass.
 */
static inline void
dd_add(double *hi, double *lo, double x)
{
	double		s = *hi + x,
				bb = s - *hi,
				e = (*hi - (s - bb)) + (x - bb);

	e += *lo;
	*hi = s + e;
	*lo = e - (*hi - s);
}

/* Index of day in the sorted days array, or -(insertion point) - 1. */
static int
rfm_find(const RfmState *st, int32 day)
{
	int			lo = 0,
				hi = st->ndays - 1;

	/* orders usually arrive in time order: try the last day first */
	if (st->ndays > 0 && st->days[st->ndays - 1].day == day)
		return st->ndays - 1;
	if (st->ndays == 0 || st->days[st->ndays - 1].day < day)
		return -st->ndays - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (st->days[mid].day == day)
			return mid;
		if (st->days[mid].day < day)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

/*
 * Adds orders/amount on a day; returns the state, which is a new copy in cxt
 * when it had to grow (the executor copies it and frees the old one).
 */
static RfmState *
rfm_add_day(MemoryContext cxt, RfmState *st, int32 day, int32 orders, double amount)
{
	int			i = rfm_find(st, day);

	if (i >= 0)
	{
		st->days[i].orders += orders;
		dd_add(&st->days[i].amount, &st->days[i].amount_lo, amount);
		return st;
	}
	i = -i - 1;
	if (st->ndays == st->capacity)
	{
		RfmState   *bigger;
		int32		cap;

		if (st->capacity > (int32) (MaxAllocSize / sizeof(RfmDay) / 2))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("cdp.rfm_agg state is too large"),
					 errdetail("One customer has %d distinct purchase days.", st->ndays)));

		bigger = rfm_alloc(cxt, st->capacity * 2);
		cap = bigger->capacity;
		memcpy(((char *) bigger) + VARHDRSZ, ((char *) st) + VARHDRSZ,
			   RFM_HDRSZ - VARHDRSZ + (Size) st->ndays * sizeof(RfmDay));
		bigger->capacity = cap;
		st = bigger;
	}
	if (i < st->ndays)
		memmove(&st->days[i + 1], &st->days[i], (st->ndays - i) * sizeof(RfmDay));
	st->days[i].day = day;
	st->days[i].orders = orders;
	st->days[i].amount = amount;
	st->days[i].amount_lo = 0;
	st->ndays++;
	return st;
}

/* Transition: adds one order (NULL time: ignored; NULL amount: counts as 0). */
Datum
cdp_rfm_trans(PG_FUNCTION_ARGS)
{
	RfmState   *st;
	TimestampTz ts;
	double		amount = 0.0;

	/*
	 * The state is updated in place; when it is new or has to grow, the new
	 * copy is made in the per-call context: the executor copies a returned
	 * state that is not the one it passed into the aggregate context and
	 * frees the old one, so a copy made there directly would only leak.
	 */
	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "cdp_rfm_trans called in non-aggregate context");

	st = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	ts = PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order time %s is not finite", timestamptz_to_str(ts)),
				 errdetail("cdp.rfm_agg measures recency and purchase days from real dates."),
				 errhint("Filter out orders without a real date.")));
	if (!PG_ARGISNULL(2))
	{
		amount = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
													PG_GETARG_DATUM(2)));
		if (isnan(amount) || isinf(amount))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("order amount %g is not a finite number", amount),
					 errdetail("Spend is summed per customer."),
					 errhint("Filter out or fix orders with amount NaN.")));
	}

	if (st == NULL)
		st = rfm_alloc(CurrentMemoryContext, RFM_MIN_CAPACITY);
	st = rfm_add_day(CurrentMemoryContext, st, cdp_utc_day(ts), 1, amount);
	st->orders++;
	if (ts < st->first_ts)
		st->first_ts = ts;
	if (ts > st->last_ts)
		st->last_ts = ts;
	PG_RETURN_POINTER(st);
}

/* Combine: merges two partial states (the result lives in the aggregate context). */
Datum
cdp_rfm_combine(PG_FUNCTION_ARGS)
{
	RfmState   *a;
	RfmState   *b;
	RfmState   *m;
	int			i,
				j,
				n;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "cdp_rfm_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = rfm_check(PG_GETARG_BYTEA_P(1));
	/* the executor copies a returned state that is not its own: no copy here */
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(b);
	a = rfm_check(PG_GETARG_BYTEA_P(0));

	/* merge the two sorted day arrays into a fresh state */
	m = rfm_alloc(CurrentMemoryContext, a->ndays + b->ndays);
	i = j = n = 0;
	while (i < a->ndays || j < b->ndays)
	{
		if (j >= b->ndays || (i < a->ndays && a->days[i].day < b->days[j].day))
			m->days[n++] = a->days[i++];
		else if (i >= a->ndays || b->days[j].day < a->days[i].day)
			m->days[n++] = b->days[j++];
		else
		{
			m->days[n] = a->days[i++];
			m->days[n].orders += b->days[j].orders;
			dd_add(&m->days[n].amount, &m->days[n].amount_lo, b->days[j].amount);
			dd_add(&m->days[n].amount, &m->days[n].amount_lo, b->days[j++].amount_lo);
			n++;
		}
	}
	m->ndays = n;
	m->orders = a->orders + b->orders;
	m->first_ts = Min(a->first_ts, b->first_ts);
	m->last_ts = Max(a->last_ts, b->last_ts);
	PG_RETURN_POINTER(m);
}

/* Final: the state as a cdp.rfm_summary row. */
Datum
cdp_rfm_final(PG_FUNCTION_ARGS)
{
	RfmState   *st;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};
	double		repeat_spend,
				total = 0,
				total_lo = 0;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = rfm_check(PG_GETARG_BYTEA_P(0));
	if (st->ndays == 0)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdp_rfm_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	/* the total and the repeat spend exactly, rounded once */
	for (i = 1; i < st->ndays; i++)
	{
		dd_add(&total, &total_lo, st->days[i].amount);
		dd_add(&total, &total_lo, st->days[i].amount_lo);
	}
	repeat_spend = total;
	dd_add(&total, &total_lo, st->days[0].amount);
	dd_add(&total, &total_lo, st->days[0].amount_lo);

	values[0] = TimestampTzGetDatum(st->first_ts);
	values[1] = TimestampTzGetDatum(st->last_ts);
	values[2] = Int64GetDatum(st->orders);
	values[3] = Int32GetDatum(st->ndays);
	values[4] = Float8GetDatum(total);
	values[5] = Float8GetDatum(st->days[0].amount);
	values[6] = Float8GetDatum(repeat_spend);
	if (st->ndays > 1)
		values[7] = Float8GetDatum(repeat_spend / (st->ndays - 1));
	else
		nulls[7] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Reads a non-NULL attribute of a cdp.rfm_summary; errors when NULL. */
static Datum
summary_attr(HeapTupleHeader s, int attno)
{
	bool		isnull;
	Datum		d = GetAttributeByNum(s, attno, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cdp.rfm_summary has a NULL field %d", attno),
				 errhint("Use the result of cdp.rfm_agg().")));
	return d;
}

/* Length of a time unit in seconds; errors unless it is positive. */
static double
unit_seconds(Interval *unit)
{
	double		secs = (double) unit->time / USECS_PER_SEC +
		(double) unit->day * SECS_PER_DAY +
		(double) unit->month * DAYS_PER_MONTH * SECS_PER_DAY;

	if (!(secs > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time unit must be positive"),
				 errdetail("Times are measured in multiples of the unit, e.g. '1 week'."),
				 errhint("Pass an interval such as '1 day' or '1 week'.")));
	return secs;
}

/* Recency: time from the last purchase to as_of, in units. */
Datum
cdp_rfm_recency(PG_FUNCTION_ARGS)
{
	HeapTupleHeader s = PG_GETARG_HEAPTUPLEHEADER(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	double		u = unit_seconds(PG_GETARG_INTERVAL_P(2));
	TimestampTz last = DatumGetTimestampTz(summary_attr(s, 2));

	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as-of time %s is not finite", timestamptz_to_str(as_of))));
	PG_RETURN_FLOAT8(((double) (as_of - last) / USECS_PER_SEC) / u);
}

/* BG/NBD x: number of repeat purchase days. */
Datum
cdp_rfm_x(PG_FUNCTION_ARGS)
{
	HeapTupleHeader s = PG_GETARG_HEAPTUPLEHEADER(0);

	PG_RETURN_INT32(DatumGetInt32(summary_attr(s, 4)) - 1);
}

/* BG/NBD t_x: days from the first to the last purchase day, in units. */
Datum
cdp_rfm_t_x(PG_FUNCTION_ARGS)
{
	HeapTupleHeader s = PG_GETARG_HEAPTUPLEHEADER(0);
	double		u = unit_seconds(PG_GETARG_INTERVAL_P(1));
	int32		first = cdp_utc_day(DatumGetTimestampTz(summary_attr(s, 1)));
	int32		last = cdp_utc_day(DatumGetTimestampTz(summary_attr(s, 2)));

	PG_RETURN_FLOAT8((double) (last - first) * CDP_SECS_PER_DAY / u);
}

/* BG/NBD T: days from the first purchase day to the as-of day, in units. */
Datum
cdp_rfm_t(PG_FUNCTION_ARGS)
{
	HeapTupleHeader s = PG_GETARG_HEAPTUPLEHEADER(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	double		u = unit_seconds(PG_GETARG_INTERVAL_P(2));
	int32		first = cdp_utc_day(DatumGetTimestampTz(summary_attr(s, 1)));

	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as-of time %s is not finite", timestamptz_to_str(as_of))));
	PG_RETURN_FLOAT8((double) (cdp_utc_day(as_of) - first) * CDP_SECS_PER_DAY / u);
}
