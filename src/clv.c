/*
 * clv.c — customer lifetime value: maximum-likelihood fits of the BG/NBD
 * purchase model (Fader, Hardie & Lee 2005, "Counting your customers the
 * easy way") and the Gamma-Gamma spend model (Fader, Hardie & Lee 2005,
 * "RFM and CLV: using iso-value curves"; Fader & Hardie's note on the
 * Gamma-Gamma model), as aggregates over one row per customer, and the
 * per-customer quantities built on them: P(alive), expected purchases,
 * expected spend and discounted CLV.
 *
 * The fit aggregates keep a histogram of distinct input rows with counts in
 * a bytea (sorted and merged whenever the buffer fills), so the state is
 * concrete, combinable and PARALLEL SAFE, and the fit evaluates the
 * likelihood once per distinct row instead of once per customer; the Gamma
 * function terms that depend only on x are computed once per distinct x.
 * The optimiser is Nelder-Mead on the logarithms of the parameters (so they
 * stay positive), restarted from the best point until it stops improving.
 * Fits never return NaN: on data that cannot identify the model (no rows,
 * no repeat purchases, no observation time, a parameter running off to 0 or
 * infinity) they return NULL parameters, converged = false and a message.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "clv.h"

#define FIT_STATE_VERSION 1
#define FIT_MIN_CAPACITY 64
#define FIT_KIND_BGNBD 1
#define FIT_KIND_GG 2

/* log-parameters beyond this are treated as a fit running to a boundary */
#define FIT_LOG_BOUND 18.0

/* one distinct input row and how many customers have it */
typedef struct FitRow
{
	double		k[3];			/* BG/NBD: x, t_x, T; Gamma-Gamma: x, m, 0 */
	double		n;
} FitRow;

typedef struct FitState
{
	int32		vl_len_;
	uint8		version;
	uint8		kind;
	uint8		pad[2];
	int32		nrows;
	int32		capacity;
	FitRow		rows[FLEXIBLE_ARRAY_MEMBER];
} FitState;

#define FIT_HDRSZ offsetof(FitState, rows)

PG_FUNCTION_INFO_V1(cdp_bgnbd_trans);
PG_FUNCTION_INFO_V1(cdp_gammagamma_trans);
PG_FUNCTION_INFO_V1(cdp_fit_combine);
PG_FUNCTION_INFO_V1(cdp_bgnbd_final);
PG_FUNCTION_INFO_V1(cdp_gammagamma_final);
PG_FUNCTION_INFO_V1(cdp_bgnbd_p_alive);
PG_FUNCTION_INFO_V1(cdp_bgnbd_expected_purchases);
PG_FUNCTION_INFO_V1(cdp_gammagamma_expected_spend);
PG_FUNCTION_INFO_V1(cdp_clv);

/* ---- the histogram state ---- */

/* Allocates an empty fit state of a kind with room for capacity rows. */
static FitState *
fit_alloc(MemoryContext cxt, int kind, int32 capacity)
{
	Size		sz;
	FitState   *st;

	if (capacity < FIT_MIN_CAPACITY)
		capacity = FIT_MIN_CAPACITY;
	if ((Size) capacity > (MaxAllocSize - FIT_HDRSZ) / sizeof(FitRow))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model fit state would exceed %zu bytes", (Size) MaxAllocSize),
				 errdetail("The input has more than %d distinct rows.", capacity / 2)));
	sz = FIT_HDRSZ + (Size) capacity * sizeof(FitRow);
	st = MemoryContextAllocZero(cxt, sz);
	SET_VARSIZE(st, sz);
	st->version = FIT_STATE_VERSION;
	st->kind = kind;
	st->capacity = capacity;
	return st;
}

/* Checks a fit state read from a datum; errors when malformed. */
static FitState *
fit_check(bytea *b, int kind)
{
	FitState   *st = (FitState *) b;
	Size		len = VARSIZE(b);

	if (len < FIT_HDRSZ || st->version != FIT_STATE_VERSION ||
		(kind != 0 && st->kind != kind) ||
		st->nrows < 0 || st->capacity < st->nrows ||
		len != FIT_HDRSZ + (Size) st->capacity * sizeof(FitRow))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid cdp model fit state"),
				 errdetail("The state is %zu bytes; this library writes format version %d.",
						   len, FIT_STATE_VERSION)));
	return st;
}

/* qsort comparator: by x, then the other keys. */
static int
fitrow_cmp(const void *pa, const void *pb)
{
	const FitRow *a = pa;
	const FitRow *b = pb;
	int			i;

	for (i = 0; i < 3; i++)
	{
		if (a->k[i] < b->k[i])
			return -1;
		if (a->k[i] > b->k[i])
			return 1;
	}
	return 0;
}

/* Sorts the rows and merges equal ones, adding their counts. */
static void
fit_compact(FitState *st)
{
	int			i,
				n = 0;

	if (st->nrows < 2)
		return;
	qsort(st->rows, st->nrows, sizeof(FitRow), fitrow_cmp);
	for (i = 1; i < st->nrows; i++)
	{
		if (fitrow_cmp(&st->rows[n], &st->rows[i]) == 0)
			st->rows[n].n += st->rows[i].n;
		else
			st->rows[++n] = st->rows[i];
	}
	st->nrows = n + 1;
}

/* Makes room for one more row: compacts, grows (as a new copy) if still full. */
static FitState *
fit_reserve(MemoryContext cxt, FitState *st, int32 extra)
{
	FitState   *bigger;
	int64		need;

	if (st->nrows + (int64) extra <= st->capacity)
		return st;
	fit_compact(st);
	if (st->nrows + (int64) extra <= st->capacity / 2 + 1 &&
		st->nrows + (int64) extra <= st->capacity)
		return st;
	need = Max((int64) st->capacity * 2, st->nrows + (int64) extra);
	if (need > PG_INT32_MAX)
		need = PG_INT32_MAX;
	bigger = fit_alloc(cxt, st->kind, (int32) need);
	memcpy(bigger->rows, st->rows, (Size) st->nrows * sizeof(FitRow));
	bigger->nrows = st->nrows;
	return bigger;
}

/* Errors unless v is a finite number >= 0. */
static void
check_nonneg(const char *what, double v)
{
	if (isnan(v) || isinf(v) || v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number >= 0, not %g", what, v),
				 errdetail("The model inputs are counts and times since the first purchase."),
				 errhint("Compute them with cdp.bgnbd_x(), cdp.bgnbd_t_x() and cdp.bgnbd_t() from cdp.rfm_agg().")));
}

/* Transition of cdp.bgnbd_fit(x, t_x, T): rows with a NULL are skipped. */
Datum
cdp_bgnbd_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *st;
	FitRow	   *row;
	double		x,
				tx,
				T;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "cdp_bgnbd_trans called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	x = PG_GETARG_INT32(1);
	tx = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	check_nonneg("x (repeat purchases)", x);
	check_nonneg("t_x (time of the last purchase)", tx);
	check_nonneg("T (time since the first purchase)", T);
	if (tx > T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("t_x %g is after T %g", tx, T),
				 errdetail("The last purchase cannot be later than the end of the observation period."),
				 errhint("Only aggregate orders up to the as-of date.")));
	if (x == 0 && tx != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("t_x is %g but x is 0", tx),
				 errdetail("A customer without repeat purchases has t_x = 0."),
				 errhint("Compute t_x with cdp.bgnbd_t_x().")));

	if (st == NULL)
		st = fit_alloc(aggcxt, FIT_KIND_BGNBD, FIT_MIN_CAPACITY);
	st = fit_reserve(aggcxt, st, 1);
	row = &st->rows[st->nrows++];
	row->k[0] = x;
	row->k[1] = tx;
	row->k[2] = T;
	row->n = 1;
	PG_RETURN_POINTER(st);
}

/* Transition of cdp.gammagamma_fit(x, mean_spend): rows with x = 0 or a NULL are skipped. */
Datum
cdp_gammagamma_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *st;
	FitRow	   *row;
	double		x,
				m;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "cdp_gammagamma_trans called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_GETARG_INT32(1) == 0)
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	x = PG_GETARG_INT32(1);
	m = PG_GETARG_FLOAT8(2);
	check_nonneg("x (repeat purchases)", x);
	if (isnan(m) || isinf(m) || m <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mean spend must be a finite number > 0, not %g", m),
				 errdetail("The Gamma-Gamma model describes positive spend per transaction."),
				 errhint("Leave out customers whose repeat purchases sum to 0 or less (returns, vouchers).")));

	if (st == NULL)
		st = fit_alloc(aggcxt, FIT_KIND_GG, FIT_MIN_CAPACITY);
	st = fit_reserve(aggcxt, st, 1);
	row = &st->rows[st->nrows++];
	row->k[0] = x;
	row->k[1] = m;
	row->k[2] = 0;
	row->n = 1;
	PG_RETURN_POINTER(st);
}

/* Combine of both fit aggregates: appends the other state's rows. */
Datum
cdp_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *a;
	FitState   *b;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "cdp_fit_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = fit_check(PG_GETARG_BYTEA_P(1), 0);
	if (PG_ARGISNULL(0))
	{
		a = fit_alloc(aggcxt, b->kind, b->nrows);
		memcpy(a->rows, b->rows, (Size) b->nrows * sizeof(FitRow));
		a->nrows = b->nrows;
		PG_RETURN_POINTER(a);
	}
	a = fit_check(PG_GETARG_BYTEA_P(0), b->kind);
	a = fit_reserve(aggcxt, a, b->nrows);
	memcpy(&a->rows[a->nrows], b->rows, (Size) b->nrows * sizeof(FitRow));
	a->nrows += b->nrows;
	PG_RETURN_POINTER(a);
}

/* ---- likelihoods ---- */

/* log(exp(u) + exp(v)) without overflow. */
static inline double
logaddexp(double u, double v)
{
	if (u < v)
	{
		double		w = u;

		u = v;
		v = w;
	}
	return u + log1p(exp(v - u));
}

/* Negative BG/NBD log-likelihood at log-parameters th = log(r, alpha, a, b). */
static double
bgnbd_negll(const double *th, const FitState *st)
{
	double		r = exp(th[0]),
				alpha = exp(th[1]),
				a = exp(th[2]),
				b = exp(th[3]);
	double		ll = 0,
				lnalpha = log(alpha);
	double		cur_x = -1,
				gx = 0,
				lnodds = 0;
	double		lg_r = lgamma(r),
				lg_b = lgamma(b),
				lg_ab = lgamma(a + b),
				lna = log(a);
	int			i;

	for (i = 0; i < st->nrows; i++)
	{
		const FitRow *row = &st->rows[i];
		double		x = row->k[0],
					tx = row->k[1],
					T = row->k[2];
		double		l;

		if (x != cur_x)
		{
			/* ln A1 + ln A2 depend on x only: once per distinct x */
			cur_x = x;
			gx = lgamma(r + x) - lg_r + r * lnalpha +
				lg_ab + lgamma(b + x) - lg_b - lgamma(a + b + x);
			lnodds = x > 0 ? lna - log(b + x - 1) : 0;
		}
		l = -(r + x) * log(alpha + T);
		if (x > 0)
			l = logaddexp(l, lnodds - (r + x) * log(alpha + tx));
		ll += row->n * (gx + l);
	}
	if (isnan(ll) || isinf(ll))
		return INFINITY;
	return -ll;
}

/* Negative Gamma-Gamma log-likelihood at log-parameters log(p, q, gamma). */
static double
gg_negll(const double *th, const FitState *st)
{
	double		p = exp(th[0]),
				q = exp(th[1]),
				g = exp(th[2]);
	double		ll = 0,
				base = -lgamma(q) + q * log(g);
	double		cur_x = -1,
				gx = 0,
				px = 0;
	int			i;

	for (i = 0; i < st->nrows; i++)
	{
		const FitRow *row = &st->rows[i];
		double		x = row->k[0],
					m = row->k[1];

		if (x != cur_x)
		{
			/* rows are sorted by x: the Gamma terms once per distinct x */
			cur_x = x;
			px = p * x;
			gx = lgamma(px + q) - lgamma(px) + base + px * log(x);
		}
		ll += row->n * (gx + (px - 1) * log(m) - (px + q) * log(g + m * x));
	}
	if (isnan(ll) || isinf(ll))
		return INFINITY;
	return -ll;
}

typedef double (*objective) (const double *th, const FitState *st);

#define NM_MAXDIM 4

/*
 * Nelder-Mead from th (updated in place to the best point) with an initial
 * step in every coordinate; returns the objective at th.
 */
static double
nelder_mead(objective f, const FitState *st, int dim, double *th, double step)
{
	double		s[NM_MAXDIM + 1][NM_MAXDIM];
	double		fv[NM_MAXDIM + 1];
	double		c[NM_MAXDIM],
				xr[NM_MAXDIM],
				xe[NM_MAXDIM];
	int			i,
				j,
				iter;

	for (i = 0; i <= dim; i++)
	{
		for (j = 0; j < dim; j++)
			s[i][j] = th[j] + (i == j + 1 ? step : 0);
		fv[i] = f(s[i], st);
	}
	for (iter = 0; iter < 20000; iter++)
	{
		int			hi = 0,
					lo = 0,
					nh = 0;
		double		fr,
					diam = 0;

		CHECK_FOR_INTERRUPTS();
		for (i = 1; i <= dim; i++)
		{
			if (fv[i] > fv[hi])
				hi = i;
			if (fv[i] < fv[lo])
				lo = i;
		}
		nh = (hi == 0) ? 1 : 0;
		for (i = 0; i <= dim; i++)
			if (i != hi && fv[i] > fv[nh])
				nh = i;
		for (i = 0; i <= dim; i++)
			for (j = 0; j < dim; j++)
				diam = Max(diam, fabs(s[i][j] - s[lo][j]));
		if (isfinite(fv[hi]) &&
			fv[hi] - fv[lo] <= 1e-12 * (fabs(fv[lo]) + 1e-10) && diam < 1e-6)
			break;
		/* a walk far beyond any sensible parameter: stop, caller judges it */
		for (j = 0; j < dim; j++)
			if (fabs(s[lo][j]) > 2 * FIT_LOG_BOUND)
				goto done;

		for (j = 0; j < dim; j++)
		{
			c[j] = 0;
			for (i = 0; i <= dim; i++)
				if (i != hi)
					c[j] += s[i][j];
			c[j] /= dim;
			xr[j] = c[j] + (c[j] - s[hi][j]);
		}
		fr = f(xr, st);
		if (fr < fv[lo])
		{
			double		fe;

			for (j = 0; j < dim; j++)
				xe[j] = c[j] + 2 * (c[j] - s[hi][j]);
			fe = f(xe, st);
			if (fe < fr)
			{
				memcpy(s[hi], xe, sizeof(double) * dim);
				fv[hi] = fe;
			}
			else
			{
				memcpy(s[hi], xr, sizeof(double) * dim);
				fv[hi] = fr;
			}
		}
		else if (fr < fv[nh])
		{
			memcpy(s[hi], xr, sizeof(double) * dim);
			fv[hi] = fr;
		}
		else
		{
			double		fc;
			bool		outside = fr < fv[hi];

			for (j = 0; j < dim; j++)
				xe[j] = outside ? c[j] + 0.5 * (xr[j] - c[j]) : c[j] + 0.5 * (s[hi][j] - c[j]);
			fc = f(xe, st);
			if (fc < (outside ? fr : fv[hi]))
			{
				memcpy(s[hi], xe, sizeof(double) * dim);
				fv[hi] = fc;
			}
			else
			{
				/* shrink towards the best point */
				for (i = 0; i <= dim; i++)
				{
					if (i == lo)
						continue;
					for (j = 0; j < dim; j++)
						s[i][j] = s[lo][j] + 0.5 * (s[i][j] - s[lo][j]);
					fv[i] = f(s[i], st);
				}
			}
		}
	}
done:
	j = 0;
	for (i = 1; i <= dim; i++)
		if (fv[i] < fv[j])
			j = i;
	memcpy(th, s[j], sizeof(double) * dim);
	return fv[j];
}

/*
 * Minimises f from th with restarts until a restart improves by less than
 * 1e-10 (relative); returns the minimum, th holds the arg min.
 */
static double
minimise(objective f, const FitState *st, int dim, double *th)
{
	double		best = nelder_mead(f, st, dim, th, 1.0);
	int			k;

	for (k = 0; k < 20; k++)
	{
		double		v = nelder_mead(f, st, dim, th, k % 2 == 0 ? 0.1 : 0.5);

		if (!(v < best - 1e-10 * (fabs(best) + 1e-10)))
		{
			best = Min(best, v);
			if (k >= 1)
				break;
		}
		best = Min(best, v);
	}
	return best;
}

/* Builds the result row: params (NULL when failed), loglik, customers, converged, message. */
static Datum
fit_result(FunctionCallInfo fcinfo, int np, const double *par, double loglik,
		   double customers, const char *message)
{
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "model fit must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	for (i = 0; i < np; i++)
	{
		values[i] = Float8GetDatum(message ? 0 : par[i]);
		nulls[i] = message != NULL;
	}
	values[np] = Float8GetDatum(loglik);
	nulls[np] = message != NULL;
	values[np + 1] = Int64GetDatum((int64) customers);
	values[np + 2] = BoolGetDatum(message == NULL);
	if (message)
		values[np + 3] = CStringGetTextDatum(message);
	else
		nulls[np + 3] = true;
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* Checks a finished fit; returns NULL when fine, else why it failed. */
static const char *
fit_judge(int np, const double *th, double negll, const char *const *names)
{
	int			i;

	if (!isfinite(negll))
		return "the likelihood could not be evaluated at any parameter value";
	for (i = 0; i < np; i++)
		if (fabs(th[i]) > FIT_LOG_BOUND)
			return psprintf("no maximum: parameter %s runs to %s (the data cannot identify the model)",
							names[i], th[i] > 0 ? "infinity" : "zero");
	return NULL;
}

/* Final of cdp.bgnbd_fit: the maximum-likelihood (r, alpha, a, b). */
Datum
cdp_bgnbd_final(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"r", "alpha", "a", "b"};
	FitState   *st;
	double		customers = 0,
				repeaters = 0,
				maxT = 0,
				sumT = 0;
	double		th[4],
				par[4],
				negll;
	const char *msg;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(fit_result(fcinfo, 4, NULL, 0, 0, "no customers"));
	st = fit_check(PG_GETARG_BYTEA_P(0), FIT_KIND_BGNBD);
	fit_compact(st);
	for (i = 0; i < st->nrows; i++)
	{
		customers += st->rows[i].n;
		if (st->rows[i].k[0] > 0)
			repeaters += st->rows[i].n;
		maxT = Max(maxT, st->rows[i].k[2]);
		sumT += st->rows[i].n * st->rows[i].k[2];
	}
	if (customers == 0)
		PG_RETURN_DATUM(fit_result(fcinfo, 4, NULL, 0, 0, "no customers"));
	if (maxT == 0)
		PG_RETURN_DATUM(fit_result(fcinfo, 4, NULL, 0, customers,
								   "no observation time: T is 0 for every customer"));
	if (repeaters == 0)
		PG_RETURN_DATUM(fit_result(fcinfo, 4, NULL, 0, customers,
								   "no repeat purchases: x is 0 for every customer, so the purchase rate cannot be estimated"));

	/* start: r = 1, alpha = mean T, a = b = 1 */
	th[0] = 0;
	th[1] = log(Max(sumT / customers, 1e-6));
	th[2] = 0;
	th[3] = 0;
	negll = minimise(bgnbd_negll, st, 4, th);
	msg = fit_judge(4, th, negll, names);
	for (i = 0; i < 4; i++)
		par[i] = exp(th[i]);
	PG_RETURN_DATUM(fit_result(fcinfo, 4, par, -negll, customers, msg));
}

/* Final of cdp.gammagamma_fit: the maximum-likelihood (p, q, gamma). */
Datum
cdp_gammagamma_final(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"p", "q", "gamma"};
	FitState   *st;
	double		customers = 0,
				summ = 0;
	double		th[3],
				par[3],
				negll;
	const char *msg;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(fit_result(fcinfo, 3, NULL, 0, 0,
								   "no repeat buyers: the model needs customers with x > 0"));
	st = fit_check(PG_GETARG_BYTEA_P(0), FIT_KIND_GG);
	fit_compact(st);
	for (i = 0; i < st->nrows; i++)
	{
		customers += st->rows[i].n;
		summ += st->rows[i].n * st->rows[i].k[1];
	}
	if (customers == 0)
		PG_RETURN_DATUM(fit_result(fcinfo, 3, NULL, 0, 0,
								   "no repeat buyers: the model needs customers with x > 0"));
	if (st->nrows == 1)
		PG_RETURN_DATUM(fit_result(fcinfo, 3, NULL, 0, customers,
								   "all repeat buyers have the same x and mean spend: spend does not vary, so the model cannot be fitted"));

	/* start: p = 1, q = 1, gamma = mean spend */
	th[0] = 0;
	th[1] = 0;
	th[2] = log(summ / customers);
	negll = minimise(gg_negll, st, 3, th);
	msg = fit_judge(3, th, negll, names);
	for (i = 0; i < 3; i++)
		par[i] = exp(th[i]);
	PG_RETURN_DATUM(fit_result(fcinfo, 3, par, -negll, customers, msg));
}

/* ---- per-customer quantities ---- */

/* Errors unless the model parameters are finite and positive. */
static void
check_params(const char *model, int n, const double *p)
{
	int			i;

	for (i = 0; i < n; i++)
		if (!(p[i] > 0) || isinf(p[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s parameter %d is %g, but must be a finite number > 0", model, i + 1, p[i]),
					 errdetail("The parameters come from a converged fit."),
					 errhint("Check the converged column of the fit.")));
}

/* Checks one customer's x, t_x, T. */
static void
check_customer(double x, double tx, double T)
{
	check_nonneg("x (repeat purchases)", x);
	check_nonneg("t_x (time of the last purchase)", tx);
	check_nonneg("T (time since the first purchase)", T);
	if (tx > T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("t_x %g is after T %g", tx, T),
				 errdetail("The last purchase cannot be later than the end of the observation period.")));
}

/* log of a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x): the odds of "dropped out" */
static double
bgnbd_log_dropout_odds(double r, double alpha, double a, double b, double x, double tx, double T)
{
	return log(a) - log(b + x - 1) + (r + x) * (log(alpha + T) - log(alpha + tx));
}

/* P(alive | x, t_x, T) under BG/NBD. */
Datum
cdp_bgnbd_p_alive(PG_FUNCTION_ARGS)
{
	double		p[4] = {PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3)};
	double		x = PG_GETARG_INT32(4),
				tx = PG_GETARG_FLOAT8(5),
				T = PG_GETARG_FLOAT8(6);

	check_params("BG/NBD", 4, p);
	check_customer(x, tx, T);
	if (x == 0)
		PG_RETURN_FLOAT8(1.0);
	PG_RETURN_FLOAT8(1.0 / (1.0 + exp(bgnbd_log_dropout_odds(p[0], p[1], p[2], p[3], x, tx, T))));
}

/*
 * Gauss hypergeometric 2F1(a, b; c; z) for 0 <= z < 1 by its power series;
 * the terms shrink like z^k, so it converges for every z < 1.
 */
static double
hyp2f1(double a, double b, double c, double z)
{
	double		term = 1,
				sum = 1;
	int			k;

	for (k = 0; k < 1000000; k++)
	{
		term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z;
		sum += term;
		if (fabs(term) <= 1e-15 * fabs(sum) && k > 2)
			break;
		if ((k & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
	}
	return sum;
}

/* BG/NBD E[Y(t) | x, t_x, T]: expected purchases in the next t units. */
double
cdp_bgnbd_expected(double r, double alpha, double a, double b,
				   double x, double tx, double T, double t)
{
	double		z,
				lead,
				bracket,
				den;

	if (t <= 0)
		return 0;
	/* the formula has a removable singularity at a = 1 */
	if (fabs(a - 1) < 1e-9)
		a = 1 + 1e-9;
	z = t / (alpha + T + t);
	lead = (a + b + x - 1) / (a - 1);
	bracket = 1 - exp((r + x) * (log(alpha + T) - log(alpha + T + t))) *
		hyp2f1(r + x, b + x, a + b + x - 1, z);
	den = 1;
	if (x > 0)
		den += exp(bgnbd_log_dropout_odds(r, alpha, a, b, x, tx, T));
	return lead * bracket / den;
}

/* SQL: expected purchases in the next t units. */
Datum
cdp_bgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	double		p[4] = {PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3)};
	double		x = PG_GETARG_INT32(4),
				tx = PG_GETARG_FLOAT8(5),
				T = PG_GETARG_FLOAT8(6),
				t = PG_GETARG_FLOAT8(7);
	double		e;

	check_params("BG/NBD", 4, p);
	check_customer(x, tx, T);
	check_nonneg("t (the horizon)", t);
	e = cdp_bgnbd_expected(p[0], p[1], p[2], p[3], x, tx, T, t);
	if (!isfinite(e))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(e);
}

/* Gamma-Gamma E[M | x, mean spend]: expected spend per transaction. */
Datum
cdp_gammagamma_expected_spend(PG_FUNCTION_ARGS)
{
	double		p[3] = {PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2)};
	double		x = PG_GETARG_INT32(3);
	double		m = PG_ARGISNULL(4) ? 0 : PG_GETARG_FLOAT8(4);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	check_params("Gamma-Gamma", 3, p);
	check_nonneg("x (repeat purchases)", x);
	if (x > 0)
		check_nonneg("mean spend", m);
	else
		m = 0;
	if (p[1] <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Gamma-Gamma q is %g, but the expected spend needs q > 1", p[1]),
				 errdetail("With q <= 1 the mean spend has no finite expectation.")));
	PG_RETURN_FLOAT8(p[0] * (p[2] + m * x) / (p[0] * x + p[1] - 1));
}

/*
 * CLV: expected spend per purchase times the expected purchases in each
 * period of length `period` up to `horizon`, each discounted by
 * (1 + discount_rate)^(-end of the period), all in the model's time unit.
 */
Datum
cdp_clv(PG_FUNCTION_ARGS)
{
	double		p[4] = {PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3)};
	double		x = PG_GETARG_INT32(4),
				tx = PG_GETARG_FLOAT8(5),
				T = PG_GETARG_FLOAT8(6),
				spend = PG_GETARG_FLOAT8(7),
				horizon = PG_GETARG_FLOAT8(8),
				d = PG_GETARG_FLOAT8(9),
				period = PG_GETARG_FLOAT8(10);
	double		prev = 0,
				clv = 0,
				t;

	check_params("BG/NBD", 4, p);
	check_customer(x, tx, T);
	check_nonneg("spend", spend);
	check_nonneg("horizon", horizon);
	if (isnan(d) || isinf(d) || d <= -1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("discount rate %g must be a finite number > -1", d),
				 errdetail("Cash flows at time t are divided by (1 + rate)^t.")));
	if (!(period > 0) || isinf(period) || horizon / period > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period %g must be > 0 and at most 100000 periods must fit in the horizon", period),
				 errdetail("CLV sums the discounted expected spend per period."),
				 errhint("Use a period of e.g. 4 weeks for a horizon of 52 weeks.")));
	for (t = period; prev >= 0; t += period)
	{
		double		end = Min(t, horizon);
		double		e = cdp_bgnbd_expected(p[0], p[1], p[2], p[3], x, tx, T, end);

		clv += spend * (e - prev) * pow(1 + d, -end);
		prev = e;
		if (end >= horizon)
			break;
	}
	if (!isfinite(clv))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(clv);
}
