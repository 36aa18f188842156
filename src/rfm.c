/*
 * rfm.c — cdp.rfm_agg(ordered_at, amount): one pass over a customer's orders
 * that keeps everything RFM scoring and the BG/NBD / Gamma-Gamma CLV models
 * need, and the accessors that read recency, frequency, monetary value and
 * the BG/NBD inputs x, t_x and T from its result.
 *
 * The models count purchase *days* (same-day orders merged, as Fader, Hardie
 * & Lee do), so the state keeps the set of the customer's distinct UTC
 * purchase days; that is what makes two partial states combinable (a day
 * may appear in both).  Spend is summed exactly (double-double), so the
 * result is the same float8 whatever order rows arrive in and however a
 * parallel plan or cdp.rfm_merge splits them.  The state is a bytea with a
 * format version byte, so PostgreSQL runs the aggregate as a Parallel
 * Aggregate and Citus can push it down.  The aggregate holds no
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

#define RFM_STATE_VERSION 3

/*
 * The aggregate state, a bytea: what the summary needs and no more, so that
 * a hash aggregate over hundreds of thousands of customers keeps its states
 * in memory.  The set of distinct purchase days is kept (x is its size, and
 * two partial states may share days), but not orders or spend per day: the
 * summary only needs the total spend and the first day's spend (repeat
 * spend = total - first day's).  The first and the last purchase day are
 * the days of first_ts and last_ts, so only the days strictly between them
 * are stored ("interior" days, sorted); a customer with one or two purchase
 * days needs no day array at all.  Both sums are exact double-doubles.
 */
struct RfmState
{
	int32		vl_len_;
	uint32		hdr;			/* version << 24 | interior days in use */
	int64		orders;
	TimestampTz first_ts;
	TimestampTz last_ts;
	double		spend;			/* total spend ... */
	double		spend_lo;		/* ... plus this: an exact double-double */
	double		first;			/* spend on the first purchase day ... */
	double		first_lo;		/* ... plus this */
	int32		days[FLEXIBLE_ARRAY_MEMBER];	/* interior days, sorted */
};

#define RFM_HDRSZ offsetof(RfmState, days)
#define RFM_MAX_INTERIOR 0xFFFFFF
#define RFM_VERSION(st) ((int) ((st)->hdr >> 24))
#define RFM_NINT(st) ((int32) ((st)->hdr & RFM_MAX_INTERIOR))
#define RFM_SET_NINT(st, n) ((st)->hdr = ((uint32) RFM_STATE_VERSION << 24) | (uint32) (n))
#define RFM_CAPACITY(st) ((int32) ((VARSIZE(st) - RFM_HDRSZ) / sizeof(int32)))

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
 * Allocates an empty state with room for at least capacity interior days in
 * context cxt.  Small states are sized to fill the power-of-two chunk the
 * allocator hands out anyway (64 bytes: no interior days, 128: 16, ...).
 */
static RfmState *
rfm_alloc(MemoryContext cxt, int64 capacity)
{
	Size		sz,
				chunk = 64;
	RfmState   *st;

	if (capacity > RFM_MAX_INTERIOR)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cdp.rfm_agg state is too large"),
				 errdetail("One customer has more than %d distinct purchase days.", RFM_MAX_INTERIOR)));
	sz = RFM_HDRSZ + (Size) capacity * sizeof(int32);
	while (chunk < sz && chunk < 8192)
		chunk *= 2;
	if (chunk >= sz)
		sz = chunk;
	st = MemoryContextAlloc(cxt, sz);
	memset(st, 0, RFM_HDRSZ);
	SET_VARSIZE(st, sz);
	RFM_SET_NINT(st, 0);
	st->first_ts = DT_NOEND;
	st->last_ts = DT_NOBEGIN;
	return st;
}

/* Checks a state that crossed a process boundary; errors when malformed. */
RfmState *
rfm_state_check(struct varlena *b)
{
	RfmState   *st = (RfmState *) b;
	Size		len = VARSIZE(b);

	if (len < RFM_HDRSZ || RFM_VERSION(st) != RFM_STATE_VERSION ||
		(len - RFM_HDRSZ) % sizeof(int32) != 0 ||
		RFM_NINT(st) > RFM_CAPACITY(st) ||
		st->orders <= 0 || st->first_ts > st->last_ts)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid cdp.rfm_agg state"),
				 errdetail("The state is %zu bytes with format version %d; this library writes version %d.",
						   len, len >= RFM_HDRSZ ? RFM_VERSION(st) : -1, RFM_STATE_VERSION),
				 errhint("Recompute the state with cdp.rfm_state_agg of this cdp version.")));
	return st;
}

/*
 * A checked copy of a (possibly short-header) state datum, in the current
 * context, sized to the interior days in use (no room to grow in place).
 */
RfmState *
rfm_state_copy(struct varlena *b)
{
	Size		len = VARSIZE_ANY_EXHDR(b) + VARHDRSZ,
				used = RFM_HDRSZ;
	RfmState   *st;
	uint32		hdr;

	/* the header word (version, interior days) tells the size in use */
	if (len >= RFM_HDRSZ)
	{
		memcpy(&hdr, VARDATA_ANY(b), sizeof(uint32));
		if ((hdr >> 24) == RFM_STATE_VERSION &&
			RFM_HDRSZ + (Size) (hdr & RFM_MAX_INTERIOR) * sizeof(int32) <= len)
			used = RFM_HDRSZ + (Size) (hdr & RFM_MAX_INTERIOR) * sizeof(int32);
	}
	else
		used = len;
	st = palloc(Max(used, VARHDRSZ));
	SET_VARSIZE(st, used);
	memcpy(((char *) st) + VARHDRSZ, VARDATA_ANY(b), used - VARHDRSZ);
	/* a malformed state (wrong version, too short) fails the check */
	return rfm_state_check((struct varlena *) st);
}

/*
 * Adds x to the double-double (*hi, *lo) (Knuth's two-sum).  Sums of order
 * amounts this way are exact for any realistic amounts, so the spend does
 * not depend on the order rows arrive in or on how a parallel plan splits
 * them: cdp.rfm_merge and parallel plans give the very same float8 as one
 * serial pass.
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

/*
 * Decoding of a numeric without going through its text form.
 *
 * PostgreSQL's numeric -> float8 cast prints the number and parses it back
 * (numeric_out + strtod), hundreds of nanoseconds per order.  This reads the
 * digits directly.  The on-disk format of numeric is stable (pg_upgrade
 * keeps numeric columns as they are), see the comments in PostgreSQL's
 * src/backend/utils/adt/numeric.c: after the varlena header a uint16 header
 * word, then base-10000 digits (int16), most significant first, and
 *   - header & 0xC000 == 0xC000: a special value (NaN, +-Infinity), no digits;
 *   - header & 0x8000 (short format): sign bit 0x2000, display scale in
 *     0x1F80, weight in the low 7 bits (0x0040 its sign, 0x003F its value);
 *   - otherwise (long format): sign in 0xC000 (0x4000 negative), display
 *     scale in the rest, then an int16 weight.
 * The value is sum digit[i] * 10000^(weight - i).  When the digits form an
 * integer N <= 2^53 and the value is N * 10^e with |e| <= 22, both N and
 * 10^|e| are exact doubles and one IEEE multiplication or division gives
 * the correctly rounded result, the same double strtod gives for the exact
 * decimal (Clinger's fast path).  Otherwise (more than 15-16 significant
 * digits, huge or tiny exponents, special values) it returns false and the
 * caller takes PostgreSQL's own conversion.
 */
static bool
numeric_to_double_fast(struct varlena *num, double *result)
{
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
	};
	const char *p = VARDATA_ANY(num);
	Size		len = VARSIZE_ANY_EXHDR(num);
	uint16		head;
	int			weight,
				ndigits,
				e10,
				i;
	bool		neg;
	uint64		n = 0;
	double		v;

	if (len < sizeof(uint16))
		return false;
	memcpy(&head, p, sizeof(uint16));	/* packed varlenas are unaligned */
	if ((head & 0xC000) == 0xC000)
		return false;			/* NaN or an infinity */
	if (head & 0x8000)
	{
		neg = (head & 0x2000) != 0;
		weight = (head & 0x0040) ? (int) (head & 0x003F) - 64 : (int) (head & 0x003F);
		p += sizeof(uint16);
		len -= sizeof(uint16);
	}
	else
	{
		int16		w;

		if (len < 2 * sizeof(uint16))
			return false;
		neg = (head & 0xC000) == 0x4000;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		weight = w;
		p += 2 * sizeof(uint16);
		len -= 2 * sizeof(uint16);
	}
	ndigits = (int) (len / sizeof(int16));
	for (i = 0; i < ndigits; i++)
	{
		int16		d;

		memcpy(&d, p + i * sizeof(int16), sizeof(int16));
		if (d < 0 || d >= 10000 || n > ((UINT64CONST(1) << 53) / 10000))
			return false;
		n = n * 10000 + (uint64) d;
	}
	if (n > (UINT64CONST(1) << 53))
		return false;
	if (n == 0)
	{
		*result = 0.0;
		return true;
	}
	e10 = 4 * (weight - ndigits + 1);
	if (e10 > 22 || e10 < -22)
		return false;
	v = (double) n;
	v = e10 >= 0 ? v * pow10[e10] : v / pow10[-e10];
	*result = neg ? -v : v;
	return true;
}

/* An order amount as float8 (correctly rounded); errors unless finite. */
static double
rfm_amount(Datum d)
{
	struct varlena *num = PG_DETOAST_DATUM_PACKED(d);
	double		amount;

	if (!numeric_to_double_fast(num, &amount))
		amount = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
	if (isnan(amount) || isinf(amount))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order amount %g is not a finite number", amount),
				 errdetail("Spend is summed per customer."),
				 errhint("Filter out or fix orders with amount NaN or infinity.")));
	return amount;
}

/* Index of day in the sorted interior days, or -(insertion point) - 1. */
static int
rfm_find(const RfmState *st, int32 day)
{
	int			lo = 0,
				hi = RFM_NINT(st) - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (st->days[mid] == day)
			return mid;
		if (st->days[mid] < day)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

/*
 * Inserts an interior day (not yet in the state) at position i; returns the
 * state, a new copy in cxt when it had to grow.
 */
static RfmState *
rfm_insert_day(MemoryContext cxt, RfmState *st, int i, int32 day)
{
	int32		n = RFM_NINT(st);

	if (n >= RFM_CAPACITY(st))
	{
		RfmState   *bigger = rfm_alloc(cxt, Max(16, (int64) n * 2));

		memcpy(((char *) bigger) + VARHDRSZ, ((char *) st) + VARHDRSZ,
			   RFM_HDRSZ - VARHDRSZ + (Size) n * sizeof(int32));
		st = bigger;
	}
	if (i < n)
		memmove(&st->days[i + 1], &st->days[i], (n - i) * sizeof(int32));
	st->days[i] = day;
	RFM_SET_NINT(st, n + 1);
	return st;
}

/*
 * Adds one order (a finite time, its amount) to a non-empty or fresh state;
 * returns the state (a new copy in cxt when it had to grow).
 */
static RfmState *
rfm_add(MemoryContext cxt, RfmState *st, TimestampTz ts, double amount)
{
	int32		day = cdp_utc_day(ts);

	dd_add(&st->spend, &st->spend_lo, amount);
	if (st->orders++ == 0)
	{
		st->first_ts = st->last_ts = ts;
		st->first = amount;
		st->first_lo = 0;
		return st;
	}
	else
	{
		int32		fday = cdp_utc_day(st->first_ts),
					lday = cdp_utc_day(st->last_ts);

		if (day < fday)
		{
			/* a new first day: the old one becomes interior unless it was the last */
			if (fday != lday)
				st = rfm_insert_day(cxt, st, 0, fday);
			st->first = amount;
			st->first_lo = 0;
		}
		else if (day == fday)
			dd_add(&st->first, &st->first_lo, amount);
		else if (day > lday)
		{
			if (fday != lday)
				st = rfm_insert_day(cxt, st, RFM_NINT(st), lday);
		}
		else if (day != lday)
		{
			/* orders usually arrive in time order: try the end first */
			int32		n = RFM_NINT(st);
			int			i;

			if (n == 0 || st->days[n - 1] < day)
				i = -n - 1;
			else
				i = rfm_find(st, day);
			if (i < 0)
				st = rfm_insert_day(cxt, st, -i - 1, day);
		}
		if (ts < st->first_ts)
			st->first_ts = ts;
		if (ts > st->last_ts)
			st->last_ts = ts;
	}
	return st;
}

/*
 * Adds one order with a non-NULL time to st (NULL: a new state in cxt);
 * a NULL amount counts as 0.  Errors for a time that is not finite or an
 * amount that is not a finite number.  Returns the state, a new copy in cxt
 * when it had to grow.  The transition of cdp.rfm_agg and cdp.refresh_rfm's
 * own pass over the orders both add orders this way.
 */
RfmState *
rfm_state_add(MemoryContext cxt, RfmState *st, TimestampTz ts, Datum amount, bool amount_isnull)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order time %s is not finite", timestamptz_to_str(ts)),
				 errdetail("cdp.rfm_agg measures recency and purchase days from real dates."),
				 errhint("Filter out orders without a real date.")));
	if (st == NULL)
		st = rfm_alloc(cxt, 0);
	return rfm_add(cxt, st, ts, amount_isnull ? 0.0 : rfm_amount(amount));
}

/* Transition: adds one order (NULL time: ignored; NULL amount: counts as 0). */
Datum
cdp_rfm_trans(PG_FUNCTION_ARGS)
{
	RfmState   *st;

	/*
	 * The state is updated in place; when it is new or has to grow, the new
	 * copy is made in the per-call context: the executor copies a returned
	 * state that is not the one it passed into the aggregate context and
	 * frees the old one, so a copy made there directly would only leak.
	 */
	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_rfm_trans called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate; call the aggregate.")));

	/* checked: the state may be a forged initial condition */
	st = PG_ARGISNULL(0) ? NULL : rfm_state_check((struct varlena *) PG_GETARG_BYTEA_P(0));
	if (PG_ARGISNULL(1))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	PG_RETURN_POINTER(rfm_state_add(CurrentMemoryContext, st, PG_GETARG_TIMESTAMPTZ(1),
									PG_GETARG_DATUM(2), PG_ARGISNULL(2)));
}

/*
 * Merges state b into state a, both valid and non-empty; returns the result:
 * a, updated in place, when its room suffices, else a new state in cxt.
 * The day sets are united (each state's first and last days included); the
 * first day's spend is the one of the state with the earlier first day, the
 * sum of both when they start on the same day.
 */
RfmState *
rfm_merge_into(MemoryContext cxt, RfmState *a, const RfmState *b)
{
	int32		na = RFM_NINT(a),
				nb = RFM_NINT(b),
				afd = cdp_utc_day(a->first_ts),
				ald = cdp_utc_day(a->last_ts),
				bfd = cdp_utc_day(b->first_ts),
				bld = cdp_utc_day(b->last_ts),
				fd = Min(afd, bfd),
				ld = Max(ald, bld);
	int64		room = (int64) na + nb + 4;
	int32		buf[64];
	int32	   *m = room <= (int64) lengthof(buf) ? buf : palloc(sizeof(int32) * room);
	int32		ia = -1,
				ib = -1,
				n = 0;
	RfmState   *r;

	/*
	 * Walk both full day lists (first, interior..., last) in order, keeping
	 * the distinct days strictly between the new first and last day.
	 */
	for (;;)
	{
		int32		da,
					db,
					d;

		/* the next day of a: index -1 is its first day, na its last */
		da = ia > na ? PG_INT32_MAX : (ia < 0 ? afd : (ia < na ? a->days[ia] : ald));
		db = ib > nb ? PG_INT32_MAX : (ib < 0 ? bfd : (ib < nb ? b->days[ib] : bld));
		if (da == PG_INT32_MAX && db == PG_INT32_MAX)
			break;
		d = Min(da, db);
		if (da == d)
			ia++;
		if (db == d)
			ib++;
		if (d > fd && d < ld && (n == 0 || m[n - 1] != d))
			m[n++] = d;
	}

	if (n <= RFM_CAPACITY(a))
		r = a;
	else
	{
		r = rfm_alloc(cxt, n);
		memcpy(((char *) r) + VARHDRSZ, ((char *) a) + VARHDRSZ, RFM_HDRSZ - VARHDRSZ);
	}
	memcpy(r->days, m, sizeof(int32) * n);
	RFM_SET_NINT(r, n);
	if (m != buf)
		pfree(m);

	if (bfd < afd)
	{
		r->first = b->first;
		r->first_lo = b->first_lo;
	}
	else if (bfd == afd)
	{
		dd_add(&r->first, &r->first_lo, b->first);
		dd_add(&r->first, &r->first_lo, b->first_lo);
	}
	dd_add(&r->spend, &r->spend_lo, b->spend);
	dd_add(&r->spend, &r->spend_lo, b->spend_lo);
	r->orders += b->orders;
	r->first_ts = Min(a->first_ts, b->first_ts);
	r->last_ts = Max(a->last_ts, b->last_ts);
	return r;
}

/* Combine: merges two partial states (the result lives in the aggregate context). */
Datum
cdp_rfm_combine(PG_FUNCTION_ARGS)
{
	RfmState   *a;
	RfmState   *b;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_rfm_combine called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate; call the aggregate.")));
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = rfm_state_check(PG_GETARG_BYTEA_P(1));
	/* the executor copies a returned state that is not its own: no copy here */
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(b);
	a = rfm_state_check(PG_GETARG_BYTEA_P(0));
	/* a is the aggregate's own state: merged in place when it has room */
	PG_RETURN_POINTER(rfm_merge_into(CurrentMemoryContext, a, b));
}

/* Orders of a state. */
int64
rfm_state_orders(const RfmState *st)
{
	return st->orders;
}

/* Distinct purchase days of a non-empty state. */
int32
rfm_state_days(const RfmState *st)
{
	return cdp_utc_day(st->first_ts) == cdp_utc_day(st->last_ts) ? 1 : 2 + RFM_NINT(st);
}

/*
 * The summary of a non-empty state: total spend, the first day's spend and
 * the repeat spend, each the exact sum rounded once.
 */
void
rfm_state_summary(const RfmState *st, RfmSummary *s)
{
	double		rep = st->spend,
				rep_lo = st->spend_lo;

	dd_add(&rep, &rep_lo, -st->first);
	dd_add(&rep, &rep_lo, -st->first_lo);
	s->first_ts = st->first_ts;
	s->last_ts = st->last_ts;
	s->orders = st->orders;
	s->days = rfm_state_days(st);
	s->spend = st->spend;
	s->first_day_spend = st->first;
	s->repeat_spend = rep;
}

/* Final: the state as a cdp.rfm_summary row. */
Datum
cdp_rfm_final(PG_FUNCTION_ARGS)
{
	RfmState   *st;
	RfmSummary	s;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = rfm_state_check(PG_GETARG_BYTEA_P(0));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cdp_rfm_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	rfm_state_summary(st, &s);

	values[0] = TimestampTzGetDatum(s.first_ts);
	values[1] = TimestampTzGetDatum(s.last_ts);
	values[2] = Int64GetDatum(s.orders);
	values[3] = Int32GetDatum(s.days);
	values[4] = Float8GetDatum(s.spend);
	values[5] = Float8GetDatum(s.first_day_spend);
	values[6] = Float8GetDatum(s.repeat_spend);
	if (s.days > 1)
		values[7] = Float8GetDatum(s.repeat_spend / (s.days - 1));
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
