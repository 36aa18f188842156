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
 * and digamma terms that depend only on x are computed once per distinct x,
 * log(alpha + t) once per distinct time.  The optimiser is BFGS on the
 * logarithms of the parameters (so they stay positive) with the analytic
 * gradient; Nelder-Mead with restarts is the fallback when BFGS fails or
 * ends on a boundary.  Fits never return NaN: on data that cannot identify
 * the model (no rows, no repeat purchases, no observation time, a parameter
 * running off to 0 or infinity, or a "maximum" that is one end of a flat
 * ridge) they return NULL parameters, converged = false and a message.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "clv.h"

#define FIT_STATE_VERSION 1
#define FIT_MIN_CAPACITY 64
#define FIT_KIND_BGNBD 1
#define FIT_KIND_GG 2
/* parameters of a model at most */
#define NM_MAXDIM 4
/* rows of the sample a warm start fits first */
#define FIT_SAMPLE_ROWS 10000

/* cdp.fit_sample_above: fits over more distinct rows start from a sample's fit */
static int	cdp_fit_sample_above = 50000;

/*
 * Nelder-Mead (the fallback when BFGS fails or ends on a boundary) stops
 * after this many row evaluations (evaluations times distinct rows): on
 * data with no maximum it can walk a ridge for hundreds of thousands of
 * evaluations, harmless on a thousand rows, hours on 500k; this bounds it
 * to some 4,000 evaluations there (about a minute) and changes nothing on
 * small data.
 */
#define FIT_ROW_EVAL_BUDGET 2e9

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
PG_FUNCTION_INFO_V1(cdp_bgnbd_overdue);
PG_FUNCTION_INFO_V1(cdp_bgnbd_expected_purchases);
PG_FUNCTION_INFO_V1(cdp_gammagamma_expected_spend);
PG_FUNCTION_INFO_V1(cdp_clv);

/* ---- the histogram state ---- */

/*
 * Allocates an empty fit state of a kind with room for capacity rows; the
 * room is zeroed (the state is a datum that may be copied whole) unless the
 * caller fills all of it.
 */
static FitState *
fit_alloc(MemoryContext cxt, int kind, int32 capacity, bool zero)
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
	st = zero ? MemoryContextAllocZero(cxt, sz) : MemoryContextAlloc(cxt, sz);
	memset(st, 0, FIT_HDRSZ);
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
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid cdp model fit state"),
				 errdetail("The state is %zu bytes; this library writes format version %d.",
						   len, FIT_STATE_VERSION),
				 errhint("Fit states are made by cdp.bgnbd_fit and cdp.gammagamma_fit; call those aggregates.")));
	return st;
}

/* comparator: by x, then the other keys. */
static inline int
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

/*
 * The histogram and the distinct times are sorted with inlined comparisons
 * (PostgreSQL's sort template): several times faster than qsort() with a
 * comparator call, the same result (equal elements are identical).
 */
#define ST_SORT sort_fitrows
#define ST_ELEMENT_TYPE FitRow
#define ST_COMPARE(a, b) fitrow_cmp(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

#define ST_SORT sort_doubles
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) (*(a) < *(b) ? -1 : (*(a) > *(b) ? 1 : 0))
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* Sorts the rows and merges equal ones, adding their counts. */
static void
fit_compact(FitState *st)
{
	int			i,
				n = 0;

	if (st->nrows < 2)
		return;
	sort_fitrows(st->rows, st->nrows);
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
	bigger = fit_alloc(cxt, st->kind, (int32) need, true);
	memcpy(bigger->rows, st->rows, (Size) st->nrows * sizeof(FitRow));
	bigger->nrows = st->nrows;
	return bigger;
}

/* Appends one observation (k0, k1, k2) to a fit state, creating it on the first row. */
static FitState *
fit_push(MemoryContext cxt, FitState *st, int kind, double k0, double k1, double k2)
{
	FitRow	   *row;

	if (st == NULL)
		st = fit_alloc(cxt, kind, FIT_MIN_CAPACITY, true);
	st = fit_reserve(cxt, st, 1);
	row = &st->rows[st->nrows++];
	row->k[0] = k0;
	row->k[1] = k1;
	row->k[2] = k2;
	row->n = 1;
	return st;
}

/* Errors unless v is a finite number >= 0 (also for cdp._rfm_refresh). */
void
cdp_check_nonneg(const char *what, double v)
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
	double		x,
				tx,
				T;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_bgnbd_trans called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate; call the aggregate.")));
	/* checked: the state may be a forged initial condition */
	st = PG_ARGISNULL(0) ? NULL : fit_check(PG_GETARG_BYTEA_P(0), FIT_KIND_BGNBD);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	x = PG_GETARG_INT32(1);
	tx = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	cdp_check_nonneg("x (repeat purchases)", x);
	cdp_check_nonneg("t_x (time of the last purchase)", tx);
	cdp_check_nonneg("T (time since the first purchase)", T);
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

	PG_RETURN_POINTER(fit_push(aggcxt, st, FIT_KIND_BGNBD, x, tx, T));
}

/* Transition of cdp.gammagamma_fit(x, mean_spend): rows with x = 0 or a NULL are skipped. */
Datum
cdp_gammagamma_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *st;
	double		x,
				m;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_gammagamma_trans called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate; call the aggregate.")));
	st = PG_ARGISNULL(0) ? NULL : fit_check(PG_GETARG_BYTEA_P(0), FIT_KIND_GG);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_GETARG_INT32(1) == 0)
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	x = PG_GETARG_INT32(1);
	m = PG_GETARG_FLOAT8(2);
	cdp_check_nonneg("x (repeat purchases)", x);
	if (isnan(m) || isinf(m) || m <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mean spend must be a finite number > 0, not %g", m),
				 errdetail("The Gamma-Gamma model describes positive spend per transaction."),
				 errhint("Leave out customers whose repeat purchases sum to 0 or less (returns, vouchers).")));

	PG_RETURN_POINTER(fit_push(aggcxt, st, FIT_KIND_GG, x, m, 0));
}

/* Combine of both fit aggregates: appends the other state's rows. */
Datum
cdp_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	FitState   *a;
	FitState   *b;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_fit_combine called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate; call the aggregate.")));
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(fit_check(PG_GETARG_BYTEA_P(0), 0));
	}
	b = fit_check(PG_GETARG_BYTEA_P(1), 0);
	if (PG_ARGISNULL(0))
	{
		a = fit_alloc(aggcxt, b->kind, b->nrows, true);
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

/*
 * The fits evaluate the likelihood over a "prepared" histogram: the distinct
 * rows grouped by x (they are sorted by x), and for BG/NBD the distinct
 * times (t_x and T values) numbered, so that log(alpha + t) is computed once
 * per distinct time and the Gamma-function terms once per distinct x.  Each
 * evaluation also returns the analytic gradient for BFGS.
 */
typedef struct FitPrep
{
	int			nrows;
	int			ngroups;
	int		   *gstart;			/* ngroups + 1 row offsets of the x groups */
	double	   *gx;				/* x of each group */
	double	   *gn;				/* customers in each group */
	double	   *n;				/* customers per row */
	int		   *itx;			/* BG/NBD: index of t_x in tv */
	int		   *iT;				/* BG/NBD: index of T in tv */
	int			ntv;
	double	   *tv;				/* BG/NBD: distinct times */
	double	   *lt;				/* scratch: log(alpha + tv) */
	double	   *it;				/* scratch: 1 / (alpha + tv) */
	double	   *mx;				/* Gamma-Gamma: m * x per row */
	double		s1;				/* Gamma-Gamma: sum n x (log m + log x) */
	double		s0;				/* Gamma-Gamma: sum n log m */
	bool		has_h0;			/* bfgs starts from h0, not the identity */
	double		h0[NM_MAXDIM][NM_MAXDIM];
	double		hout[NM_MAXDIM][NM_MAXDIM];	/* bfgs: its inverse Hessian at the end */
	int			nevals;			/* likelihood evaluations (DEBUG2) */
	int			ngrads;			/* ... of them with the gradient */
} FitPrep;

/* objective: negative log-likelihood at log-parameters th; grad if not NULL */
typedef double (*objective) (const double *th, FitPrep *fp, double *grad);

/* Digamma for x > 0: recurrence up to 6, then the asymptotic series. */
static double
digamma(double x)
{
	double		r = 0,
				f;

	if (!(x > 0) || isinf(x))
		return isinf(x) ? INFINITY : NAN;
	while (x < 6)
	{
		r -= 1 / x;
		x += 1;
	}
	f = 1 / (x * x);
	return r + log(x) - 0.5 / x -
		f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

/* Index of v in the sorted distinct array tv (v is in it). */
static int
tv_index(const double *tv, int ntv, double v)
{
	int			lo = 0,
				hi = ntv - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (tv[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Groups the compacted rows of st by x; BG/NBD also numbers the distinct times. */
static FitPrep *
fit_prepare(const FitState *st)
{
	FitPrep    *fp = palloc0(sizeof(FitPrep));
	int			i,
				g = 0;

	fp->nrows = st->nrows;
	fp->gstart = palloc(sizeof(int) * (st->nrows + 1));
	fp->gx = palloc(sizeof(double) * st->nrows);
	fp->gn = palloc0(sizeof(double) * st->nrows);
	fp->n = palloc(sizeof(double) * st->nrows);
	for (i = 0; i < st->nrows; i++)
	{
		if (i == 0 || st->rows[i].k[0] != st->rows[i - 1].k[0])
		{
			fp->gstart[g] = i;
			fp->gx[g++] = st->rows[i].k[0];
		}
		fp->gn[g - 1] += st->rows[i].n;
		fp->n[i] = st->rows[i].n;
	}
	fp->ngroups = g;
	fp->gstart[g] = st->nrows;

	if (st->kind == FIT_KIND_BGNBD)
	{
		int			m = 0;

		fp->tv = palloc(sizeof(double) * 2 * st->nrows);
		for (i = 0; i < st->nrows; i++)
		{
			fp->tv[2 * i] = st->rows[i].k[1];
			fp->tv[2 * i + 1] = st->rows[i].k[2];
		}
		sort_doubles(fp->tv, 2 * (size_t) st->nrows);
		for (i = 0; i < 2 * st->nrows; i++)
			if (m == 0 || fp->tv[i] != fp->tv[m - 1])
				fp->tv[m++] = fp->tv[i];
		fp->ntv = m;
		fp->lt = palloc(sizeof(double) * m);
		fp->it = palloc(sizeof(double) * m);
		fp->itx = palloc(sizeof(int) * st->nrows);
		fp->iT = palloc(sizeof(int) * st->nrows);
		for (i = 0; i < st->nrows; i++)
		{
			fp->itx[i] = tv_index(fp->tv, m, st->rows[i].k[1]);
			fp->iT[i] = tv_index(fp->tv, m, st->rows[i].k[2]);
		}
	}
	else
	{
		fp->mx = palloc(sizeof(double) * st->nrows);
		for (i = 0; i < st->nrows; i++)
		{
			double		x = st->rows[i].k[0],
						lm = log(st->rows[i].k[1]);

			fp->mx[i] = st->rows[i].k[1] * x;
			fp->s1 += st->rows[i].n * x * (lm + log(x));
			fp->s0 += st->rows[i].n * lm;
		}
	}
	return fp;
}

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

/*
 * Negative BG/NBD log-likelihood at th = log(r, alpha, a, b), and its
 * gradient in th.  Per customer
 *   LL = lnG(r+x) - lnG(r) + r ln alpha + lnG(a+b) + lnG(b+x) - lnG(b)
 *        - lnG(a+b+x) + ln(A + [x>0] B),
 *   A = (alpha+T)^-(r+x),  B = a/(b+x-1) (alpha+t_x)^-(r+x);
 * with w = B / (A + B) the partial derivatives are
 *   d/dr     = psi(r+x) - psi(r) + ln alpha - (1-w) ln(alpha+T) - w ln(alpha+t_x)
 *   d/dalpha = r/alpha - (r+x) ((1-w)/(alpha+T) + w/(alpha+t_x))
 *   d/da     = psi(a+b) - psi(a+b+x) + w/a
 *   d/db     = psi(a+b) + psi(b+x) - psi(b) - psi(a+b+x) - w/(b+x-1).
 */
static double
bgnbd_negll(const double *th, FitPrep *fp, double *grad)
{
	double		r = exp(th[0]),
				alpha = exp(th[1]),
				a = exp(th[2]),
				b = exp(th[3]);
	double		ll = 0,
				lnalpha = th[1],
				lna = th[2];
	double		lg_r = lgamma(r),
				lg_b = lgamma(b),
				lg_ab = lgamma(a + b);
	double		ps_r = 0,
				ps_b = 0,
				ps_ab = 0;
	double		gr = 0,
				galpha = 0,
				ga = 0,
				gb = 0;
	int			g,
				i;

	fp->nevals++;
	if (grad)
		fp->ngrads++;
	if (!isfinite(r) || !isfinite(alpha) || !isfinite(a) || !isfinite(b) ||
		r <= 0 || alpha <= 0 || a <= 0 || b <= 0)
		return INFINITY;
	for (i = 0; i < fp->ntv; i++)
	{
		fp->lt[i] = log(alpha + fp->tv[i]);
		fp->it[i] = 1 / (alpha + fp->tv[i]);
	}
	if (grad)
	{
		ps_r = digamma(r);
		ps_b = digamma(b);
		ps_ab = digamma(a + b);
	}
	for (g = 0; g < fp->ngroups; g++)
	{
		double		x = fp->gx[g],
					rx = r + x,
					c,
					lnodds = 0,
					s_l = 0,
					s_i = 0,
					s_w = 0,
					s_ll = 0;

		/* the terms that depend on x only */
		c = lgamma(rx) - lg_r + r * lnalpha +
			lg_ab + lgamma(b + x) - lg_b - lgamma(a + b + x);
		if (x > 0)
			lnodds = lna - log(b + x - 1);
		for (i = fp->gstart[g]; i < fp->gstart[g + 1]; i++)
		{
			double		n = fp->n[i],
						l1 = -rx * fp->lt[fp->iT[i]];

			if (x > 0)
			{
				double		l2 = lnodds - rx * fp->lt[fp->itx[i]],
							l,
							w;

				if (grad)
				{
					/*
					 * log(e^l1 + e^l2) as logaddexp() computes it, and the
					 * weight w = e^l2 / (e^l1 + e^l2) from the same exp()
					 */
					double		e = exp(-fabs(l2 - l1));

					l = Max(l1, l2) + log1p(e);
					w = l2 > l1 ? 1 / (1 + e) : e / (1 + e);
				}
				else
				{
					l = logaddexp(l1, l2);
					w = 0;
				}
				s_ll += n * l;
				if (grad)
				{
					s_l += n * ((1 - w) * fp->lt[fp->iT[i]] + w * fp->lt[fp->itx[i]]);
					s_i += n * ((1 - w) * fp->it[fp->iT[i]] + w * fp->it[fp->itx[i]]);
					s_w += n * w;
				}
			}
			else
			{
				s_ll += n * l1;
				if (grad)
				{
					s_l += n * fp->lt[fp->iT[i]];
					s_i += n * fp->it[fp->iT[i]];
				}
			}
		}
		ll += fp->gn[g] * c + s_ll;
		if (grad)
		{
			double		ps_abx = digamma(a + b + x),
						gn = fp->gn[g];

			gr += gn * (digamma(rx) - ps_r + lnalpha) - s_l;
			galpha += gn * r / alpha - rx * s_i;
			ga += gn * (ps_ab - ps_abx) + (x > 0 ? s_w / a : 0);
			gb += gn * (ps_ab + digamma(b + x) - ps_b - ps_abx) -
				(x > 0 ? s_w / (b + x - 1) : 0);
		}
	}
	if (isnan(ll) || isinf(ll))
		return INFINITY;
	if (grad)
	{
		/* d(-LL)/d(log p) = -p dLL/dp */
		grad[0] = -r * gr;
		grad[1] = -alpha * galpha;
		grad[2] = -a * ga;
		grad[3] = -b * gb;
	}
	return -ll;
}

/*
 * Negative Gamma-Gamma log-likelihood at th = log(p, q, gamma) and its
 * gradient.  Per repeat buyer with x repeat purchases of mean m
 *   LL = lnG(px+q) - lnG(px) - lnG(q) + q ln gamma + (px-1) ln m + px ln x
 *        - (px+q) ln(gamma + m x),
 * where the sum of (px-1) ln m + px ln x over customers is p s1 - s0.
 */
static double
gg_negll(const double *th, FitPrep *fp, double *grad)
{
	double		p = exp(th[0]),
				q = exp(th[1]),
				gam = exp(th[2]);
	double		ll,
				lng = th[2],
				lgq = lgamma(q),
				ps_q = 0,
				gp = 0,
				gq = 0,
				gg = 0;
	int			g,
				i;

	fp->nevals++;
	if (grad)
		fp->ngrads++;
	if (!isfinite(p) || !isfinite(q) || !isfinite(gam) || p <= 0 || q <= 0 || gam <= 0)
		return INFINITY;
	ll = p * fp->s1 - fp->s0;
	if (grad)
	{
		ps_q = digamma(q);
		gp = fp->s1;
	}
	for (g = 0; g < fp->ngroups; g++)
	{
		double		x = fp->gx[g],
					px = p * x,
					gn = fp->gn[g],
					s_l = 0,
					s_i = 0;

		for (i = fp->gstart[g]; i < fp->gstart[g + 1]; i++)
		{
			double		d = gam + fp->mx[i];

			s_l += fp->n[i] * log(d);
			if (grad)
				s_i += fp->n[i] / d;
		}
		ll += gn * (lgamma(px + q) - lgamma(px) - lgq + q * lng) - (px + q) * s_l;
		if (grad)
		{
			double		ps_pxq = digamma(px + q);

			gp += gn * x * (ps_pxq - digamma(px)) - x * s_l;
			gq += gn * (ps_pxq - ps_q + lng) - s_l;
			gg += gn * q / gam - (px + q) * s_i;
		}
	}
	if (isnan(ll) || isinf(ll))
		return INFINITY;
	if (grad)
	{
		grad[0] = -p * gp;
		grad[1] = -q * gq;
		grad[2] = -gam * gg;
	}
	return -ll;
}

/*
 * The limits of BG/NBD that the fit falls back on when the likelihood has
 * no interior maximum (cdp.bgnbd_fit, bgnbd_fit_state):
 *
 * a, b -> infinity with a / (a + b) = p: every customer drops out after a
 * purchase with the same probability p.  The Beta terms become
 * lnG(a+b) + lnG(b+x) - lnG(b) - lnG(a+b+x) -> x ln(1-p) and
 * a / (b+x-1) -> p / (1-p), so per customer
 *   LL = lnG(r+x) - lnG(r) + r ln alpha + x ln(1-p) + ln(A + [x>0] B),
 *   A = (alpha+T)^-(r+x),  B = p/(1-p) (alpha+t_x)^-(r+x),
 * at th = (log r, log alpha, logit p); with w = B / (A + B),
 *   d/dlogit p = -x p + w  (the r and alpha terms as in bgnbd_negll).
 *
 * a -> 0 (or b -> infinity): nobody drops out, the NBD model,
 *   LL = lnG(r+x) - lnG(r) + r ln alpha - (r+x) ln(alpha+T)
 * at th = (log r, log alpha).
 */
static double
bgnbd_plim_negll(const double *th, FitPrep *fp, double *grad)
{
	double		r = exp(th[0]),
				alpha = exp(th[1]),
				lnalpha = th[1],
				/* ln p / (1-p) and ln (1-p) from the logit without overflow */
				lnodds = th[2],
				ln1mp = -(th[2] > 0 ? th[2] + log1p(exp(-th[2])) : log1p(exp(th[2]))),
				pr = 1 / (1 + exp(-th[2]));
	double		ll = 0,
				lg_r = lgamma(r),
				ps_r = 0,
				gr = 0,
				galpha = 0,
				gp = 0;
	int			g,
				i;

	fp->nevals++;
	if (grad)
		fp->ngrads++;
	if (!isfinite(r) || !isfinite(alpha) || r <= 0 || alpha <= 0 || !isfinite(th[2]))
		return INFINITY;
	for (i = 0; i < fp->ntv; i++)
	{
		fp->lt[i] = log(alpha + fp->tv[i]);
		fp->it[i] = 1 / (alpha + fp->tv[i]);
	}
	if (grad)
		ps_r = digamma(r);
	for (g = 0; g < fp->ngroups; g++)
	{
		double		x = fp->gx[g],
					rx = r + x,
					gn = fp->gn[g],
					s_l = 0,
					s_i = 0,
					s_w = 0,
					s_ll = 0;

		for (i = fp->gstart[g]; i < fp->gstart[g + 1]; i++)
		{
			double		n = fp->n[i],
						l1 = -rx * fp->lt[fp->iT[i]];

			if (x > 0)
			{
				double		l2 = lnodds - rx * fp->lt[fp->itx[i]],
							e = exp(-fabs(l2 - l1)),
							w = l2 > l1 ? 1 / (1 + e) : e / (1 + e);

				s_ll += n * (Max(l1, l2) + log1p(e));
				s_l += n * ((1 - w) * fp->lt[fp->iT[i]] + w * fp->lt[fp->itx[i]]);
				s_i += n * ((1 - w) * fp->it[fp->iT[i]] + w * fp->it[fp->itx[i]]);
				s_w += n * w;
			}
			else
			{
				s_ll += n * l1;
				s_l += n * fp->lt[fp->iT[i]];
				s_i += n * fp->it[fp->iT[i]];
			}
		}
		ll += gn * (lgamma(rx) - lg_r + r * lnalpha + x * ln1mp) + s_ll;
		if (grad)
		{
			gr += gn * (digamma(rx) - ps_r + lnalpha) - s_l;
			galpha += gn * r / alpha - rx * s_i;
			gp += -gn * x * pr + s_w;
		}
	}
	if (isnan(ll) || isinf(ll))
		return INFINITY;
	if (grad)
	{
		grad[0] = -r * gr;
		grad[1] = -alpha * galpha;
		grad[2] = -gp;
	}
	return -ll;
}

static double
nbd_negll(const double *th, FitPrep *fp, double *grad)
{
	double		r = exp(th[0]),
				alpha = exp(th[1]),
				lnalpha = th[1];
	double		ll = 0,
				lg_r = lgamma(r),
				ps_r = 0,
				gr = 0,
				galpha = 0;
	int			g,
				i;

	fp->nevals++;
	if (grad)
		fp->ngrads++;
	if (!isfinite(r) || !isfinite(alpha) || r <= 0 || alpha <= 0)
		return INFINITY;
	for (i = 0; i < fp->ntv; i++)
	{
		fp->lt[i] = log(alpha + fp->tv[i]);
		fp->it[i] = 1 / (alpha + fp->tv[i]);
	}
	if (grad)
		ps_r = digamma(r);
	for (g = 0; g < fp->ngroups; g++)
	{
		double		x = fp->gx[g],
					rx = r + x,
					gn = fp->gn[g],
					s_l = 0,
					s_i = 0;

		for (i = fp->gstart[g]; i < fp->gstart[g + 1]; i++)
		{
			s_l += fp->n[i] * fp->lt[fp->iT[i]];
			s_i += fp->n[i] * fp->it[fp->iT[i]];
		}
		ll += gn * (lgamma(rx) - lg_r + r * lnalpha) - rx * s_l;
		if (grad)
		{
			gr += gn * (digamma(rx) - ps_r + lnalpha) - s_l;
			galpha += gn * r / alpha - rx * s_i;
		}
	}
	if (isnan(ll) || isinf(ll))
		return INFINITY;
	if (grad)
	{
		grad[0] = -r * gr;
		grad[1] = -alpha * galpha;
	}
	return -ll;
}

/*
 * The limit of Gamma-Gamma that its fit falls back on: q, gamma -> infinity
 * with gamma / q = 1 / nu, every customer's spend per purchase ~ Gamma(p,
 * nu) with the same nu (no heterogeneity in the customers' mean spend).  A
 * repeat buyer's mean m of x purchases is then Gamma(p x, nu x):
 *   LL = p x ln nu - lnG(p x) + (p x - 1) ln m + p x ln x - nu x m
 * at th = (log p, log nu); summed, (p x - 1) ln m + p x ln x is p s1 - s0.
 */
static double
gg_lim_negll(const double *th, FitPrep *fp, double *grad)
{
	double		p = exp(th[0]),
				nu = exp(th[1]),
				lnnu = th[1];
	double		ll,
				gp,
				gnu = 0,
				smx = 0;
	int			g,
				i;

	fp->nevals++;
	if (grad)
		fp->ngrads++;
	if (!isfinite(p) || !isfinite(nu) || p <= 0 || nu <= 0)
		return INFINITY;
	ll = p * fp->s1 - fp->s0;
	gp = fp->s1;
	for (g = 0; g < fp->ngroups; g++)
	{
		double		x = fp->gx[g],
					px = p * x,
					gn = fp->gn[g];

		ll += gn * (px * lnnu - lgamma(px));
		if (grad)
		{
			gp += gn * x * (lnnu - digamma(px));
			gnu += gn * px / nu;
		}
		for (i = fp->gstart[g]; i < fp->gstart[g + 1]; i++)
			smx += fp->n[i] * fp->mx[i];
	}
	ll -= nu * smx;
	if (isnan(ll) || isinf(ll))
		return INFINITY;
	if (grad)
	{
		grad[0] = -p * gp;
		grad[1] = -nu * (gnu - smx);
	}
	return -ll;
}

/* result of bfgs() */
#define BFGS_CONVERGED 0
#define BFGS_BOUNDARY 1			/* a parameter ran beyond any sensible value */
#define BFGS_FAILED 2

/*
 * BFGS on th (updated in place) with the analytic gradient and a
 * backtracking (Armijo) line search; *fmin gets the objective at th.
 * Converged when the largest gradient component is below 1e-8 (|f| + 1),
 * or when no step can lower f any more and the gradient is below 1e-5
 * (|f| + 1) (the minimum is found to machine precision).
 */
static int
bfgs(objective f, FitPrep *fp, int dim, double *th, double *fmin)
{
	double		H[NM_MAXDIM][NM_MAXDIM];
	double		g[NM_MAXDIM],
				gn[NM_MAXDIM],
				d[NM_MAXDIM],
				xn[NM_MAXDIM],
				s[NM_MAXDIM],
				y[NM_MAXDIM],
				Hy[NM_MAXDIM];
	double		fx,
				fn = 0;
	int			i,
				j,
				iter;
	bool		fresh = true,
				have_gn;

	fx = f(th, fp, g);
	*fmin = fx;
	if (!isfinite(fx))
		return BFGS_FAILED;
	for (i = 0; i < dim; i++)
	{
		if (!isfinite(g[i]))
			return BFGS_FAILED;
		for (j = 0; j < dim; j++)
			H[i][j] = fp->has_h0 ? fp->h0[i][j] : (i == j ? 1 : 0);
	}
	fresh = !fp->has_h0;
	for (iter = 0; iter < 1000; iter++)
	{
		double		gmax = 0,
					slope = 0,
					dmax = 0,
					step = 1,
					sy = 0,
					yHy = 0;
		bool		ok = false;

		CHECK_FOR_INTERRUPTS();
		for (i = 0; i < dim; i++)
			gmax = Max(gmax, fabs(g[i]));
		if (gmax <= 1e-8 * (fabs(fx) + 1))
			break;
		/* beyond any sensible value: the caller reports the boundary */
		for (j = 0; j < dim; j++)
			if (fabs(th[j]) > FIT_LOG_BOUND + 2)
				return BFGS_BOUNDARY;
		for (i = 0; i < dim; i++)
		{
			d[i] = 0;
			for (j = 0; j < dim; j++)
				d[i] -= H[i][j] * g[j];
			slope += d[i] * g[i];
		}
		if (!(slope < 0))
		{
			/* not a descent direction: restart from steepest descent */
			for (i = 0; i < dim; i++)
			{
				for (j = 0; j < dim; j++)
					H[i][j] = i == j ? 1 : 0;
				d[i] = -g[i];
			}
			slope = 0;
			for (i = 0; i < dim; i++)
				slope -= g[i] * g[i];
			fresh = true;
		}
		/* at most 2 in any log-parameter per step */
		for (i = 0; i < dim; i++)
			dmax = Max(dmax, fabs(d[i]));
		if (dmax > 2)
			step = 2 / dmax;
		/*
		 * The first trial step is usually taken: it is evaluated with the
		 * gradient, which the update then needs (the very value a second
		 * evaluation at the same point would give); the shorter steps
		 * without it.
		 */
		have_gn = false;
		for (j = 0; j < 60; j++)
		{
			for (i = 0; i < dim; i++)
				xn[i] = th[i] + step * d[i];
			fn = f(xn, fp, j == 0 ? gn : NULL);
			if (isfinite(fn) && fn <= fx + 1e-4 * step * slope)
			{
				ok = true;
				have_gn = j == 0;
				break;
			}
			step *= 0.5;
		}
		if (!ok)
		{
			if (gmax <= 1e-5 * (fabs(fx) + 1))
				break;
			for (j = 0; j < dim; j++)
				if (fabs(th[j]) > FIT_LOG_BOUND)
				{
					/* stuck on a ridge running off to 0 or infinity */
					*fmin = fx;
					return BFGS_BOUNDARY;
				}
			if (!fresh)
			{
				/* a stale curvature estimate: retry from steepest descent */
				for (i = 0; i < dim; i++)
					for (j = 0; j < dim; j++)
						H[i][j] = i == j ? 1 : 0;
				fresh = true;
				continue;
			}
			return BFGS_FAILED;
		}
		if (!have_gn)
			fn = f(xn, fp, gn);
		for (i = 0; i < dim; i++)
			if (!isfinite(gn[i]))
				return BFGS_FAILED;
		for (i = 0; i < dim; i++)
		{
			s[i] = xn[i] - th[i];
			y[i] = gn[i] - g[i];
			sy += s[i] * y[i];
		}
		if (sy > 1e-12)
		{
			/* first step: scale the identity to the curvature seen */
			if (fresh)
			{
				double		yy = 0;

				for (i = 0; i < dim; i++)
					yy += y[i] * y[i];
				for (i = 0; i < dim; i++)
					H[i][i] = sy / yy;
				fresh = false;
			}
			for (i = 0; i < dim; i++)
			{
				Hy[i] = 0;
				for (j = 0; j < dim; j++)
					Hy[i] += H[i][j] * y[j];
				yHy += y[i] * Hy[i];
			}
			/* H += (1 + y'Hy/s'y) ss'/s'y - (Hy s' + s y'H)/s'y */
			for (i = 0; i < dim; i++)
				for (j = 0; j < dim; j++)
					H[i][j] += (1 + yHy / sy) * s[i] * s[j] / sy -
						(Hy[i] * s[j] + s[i] * Hy[j]) / sy;
		}
		memcpy(th, xn, sizeof(double) * dim);
		memcpy(g, gn, sizeof(double) * dim);
		fx = fn;
		*fmin = fx;
	}
	*fmin = fx;
	memcpy(fp->hout, H, sizeof(H));
	if (iter >= 1000)
	{
		for (j = 0; j < dim; j++)
			if (fabs(th[j]) > FIT_LOG_BOUND)
				return BFGS_BOUNDARY;
		return BFGS_FAILED;
	}
	return BFGS_CONVERGED;
}

/*
 * Nelder-Mead from th (updated in place to the best point) with an initial
 * step in every coordinate; returns the objective at th.  The fallback when
 * BFGS fails.
 */
static double
nelder_mead(objective f, FitPrep *fp, int dim, double *th, double step)
{
	double		s[NM_MAXDIM + 1][NM_MAXDIM];
	double		fv[NM_MAXDIM + 1];
	double		c[NM_MAXDIM],
				xr[NM_MAXDIM],
				xe[NM_MAXDIM],
				mark = INFINITY;
	int			i,
				j,
				iter;

	for (i = 0; i <= dim; i++)
	{
		for (j = 0; j < dim; j++)
			s[i][j] = th[j] + (i == j + 1 ? step : 0);
		fv[i] = f(s[i], fp, NULL);
	}
	for (iter = 0; iter < 20000; iter++)
	{
		int			hi = 0,
					lo = 0,
					nh = 0;
		double		fr,
					diam = 0;

		CHECK_FOR_INTERRUPTS();
		/*
		 * stagnation: 500 steps that gain less than 1e-9 of the objective
		 * (a slow walk along a flat ridge, which could go on for the whole
		 * budget of steps, times every restart)
		 */
		if (iter % 500 == 0)
		{
			double		cur = fv[0];

			for (i = 1; i <= dim; i++)
				cur = Min(cur, fv[i]);
			if (iter > 0 && !(cur < mark - 1e-9 * (fabs(mark) + 1)))
				break;
			mark = cur;
		}
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
		if ((double) fp->nevals * fp->nrows > FIT_ROW_EVAL_BUDGET)
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
		fr = f(xr, fp, NULL);
		if (fr < fv[lo])
		{
			double		fe;

			for (j = 0; j < dim; j++)
				xe[j] = c[j] + 2 * (c[j] - s[hi][j]);
			fe = f(xe, fp, NULL);
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
			fc = f(xe, fp, NULL);
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
					fv[i] = f(s[i], fp, NULL);
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
 * Minimises f from th: BFGS (unless *nm is already true), and when that
 * fails Nelder-Mead with restarts until a restart improves by less than
 * 1e-10 (relative), setting *nm; returns the minimum, th holds the arg min.
 */
static double
minimise(objective f, FitPrep *fp, int dim, double *th, bool *nm)
{
	double		start[NM_MAXDIM],
				bth[NM_MAXDIM],
				best,
				bv = INFINITY,
				v;
	int			k;

	memcpy(start, th, sizeof(double) * dim);
	if (!*nm)
	{
		k = bfgs(f, fp, dim, th, &bv);
		elog(DEBUG2, "cdp model fit: BFGS status %d, f %.10g", k, bv);
		if (k != BFGS_FAILED)
			return bv;
	}
	*nm = true;
	/* keep the better of where BFGS stopped and what Nelder-Mead finds */
	memcpy(bth, th, sizeof(double) * dim);
	memcpy(th, start, sizeof(double) * dim);
	best = nelder_mead(f, fp, dim, th, 1.0);
	for (k = 0; k < 20; k++)
	{
		v = nelder_mead(f, fp, dim, th, k % 2 == 0 ? 0.1 : 0.5);
		if (!(v < best - 1e-10 * (fabs(best) + 1e-10)))
		{
			best = Min(best, v);
			if (k >= 1)
				break;
		}
		best = Min(best, v);
	}
	elog(DEBUG2, "cdp model fit: Nelder-Mead f %.10g", best);
	if (bv < best)
	{
		memcpy(th, bth, sizeof(double) * dim);
		return bv;
	}
	return best;
}

/*
 * A maximum on the boundary of the parameter space: returns why when the
 * likelihood does not fall by more than a small tolerance when a parameter
 * (or a pair that can run off together while a ratio stays fixed) is moved
 * a factor e^4 in either direction from the optimum th, else NULL.  Such a
 * "maximum" is a point on a ridge that continues to 0 or infinity, e.g. a
 * -> 0, b -> infinity in BG/NBD on data without drop-out.
 */
static const char *
fit_boundary(objective f, FitPrep *fp, int dim, const double *th, double fmin,
			 const char *const *names, int npairs, const int (*pairs)[2])
{
	double		tol = 1e-3 + 1e-9 * fabs(fmin);
	int			k,
				sgn,
				i;

	for (k = 0; k < dim + npairs; k++)
		for (sgn = 1; sgn >= -1; sgn -= 2)
		{
			double		t[NM_MAXDIM];
			/* probe first in the direction the parameter already leans */
			int			dir = (k < dim && th[k] < 0) ? -sgn : sgn;

			memcpy(t, th, sizeof(double) * dim);
			if (k < dim)
				t[k] += 4 * dir;
			else
				for (i = 0; i < 2; i++)
					t[pairs[k - dim][i]] += 4 * dir;
			if (!(f(t, fp, NULL) > fmin + tol))
			{
				if (k < dim)
					return psprintf("no maximum: the likelihood stays as high with %s running to %s (a limit of the model fits best; the parameters are the best point found)",
									names[k], dir > 0 ? "infinity" : "zero");
				return psprintf("no maximum: the likelihood stays as high with %s and %s both running to %s (a limit of the model fits best; the parameters are the best point found)",
								names[pairs[k - dim][0]], names[pairs[k - dim][1]],
								dir > 0 ? "infinity" : "zero");
			}
		}
	return NULL;
}

/*
 * Stores a finished fit in res: the parameters exp(th) and the
 * log-likelihood are reported when it converged (message NULL), or when
 * keep says the point is still worth reporting (the best point on a
 * boundary); else they are left out.
 */
static void
fit_store(CdpFit *res, int np, const double *th, double loglik, const char *message, bool keep)
{
	int			i;

	res->converged = message == NULL;
	res->message = message;
	res->has_params = message == NULL || keep;
	res->status = message == NULL ? CDP_FIT_CONVERGED : keep ? CDP_FIT_BOUNDARY : CDP_FIT_FAILED;
	if (!res->has_params)
		return;
	for (i = 0; i < np; i++)
		res->par[i] = exp(th[i]);
	res->loglik = loglik;
}

/* Builds the result row: params, loglik (NULL unless has_params), customers, converged, message. */
static Datum
fit_result(FunctionCallInfo fcinfo, int np, const CdpFit *res)
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
		values[i] = Float8GetDatum(res->has_params ? res->par[i] : 0);
		nulls[i] = !res->has_params;
	}
	values[np] = Float8GetDatum(res->loglik);
	nulls[np] = !res->has_params;
	values[np + 1] = Int64GetDatum((int64) res->customers);
	values[np + 2] = BoolGetDatum(res->converged);
	if (res->message)
		values[np + 3] = CStringGetTextDatum(res->message);
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

/*
 * A warm start for a fit over many distinct rows (more than
 * cdp.fit_sample_above): BFGS first fits every k-th row (rows are sorted by
 * x, so the sample spans every x), about FIT_SAMPLE_ROWS of them and at
 * most half; when that fit converges to sensible parameters,
 * th starts from them, and the full fit's BFGS from the sample's inverse
 * Hessian scaled to the full data (the log-likelihood is a sum over
 * customers), so it needs a few steps instead of a whole descent.  The
 * full fit still decides alone: the same convergence test, the same
 * boundary checks, the same fallback to Nelder-Mead from th.
 */
static void
fit_warm_start(objective f, const FitState *st, FitPrep *fp, int dim, double *th,
			   const char *const *names)
{
	FitState   *sub;
	FitPrep    *sp;
	double		ths[NM_MAXDIM],
				v,
				wsub = 0,
				wall = 0;
	int			step,
				i,
				j;

	if (cdp_fit_sample_above <= 0 || st->nrows <= cdp_fit_sample_above || st->nrows < 100)
		return;
	step = Max(2, st->nrows / FIT_SAMPLE_ROWS);
	sub = fit_alloc(CurrentMemoryContext, st->kind, st->nrows / step + 1, false);
	for (i = 0; i < st->nrows; i++)
	{
		wall += st->rows[i].n;
		if (i % step == 0)
		{
			sub->rows[sub->nrows++] = st->rows[i];
			wsub += st->rows[i].n;
		}
	}
	sp = fit_prepare(sub);
	memcpy(ths, th, sizeof(double) * dim);
	i = bfgs(f, sp, dim, ths, &v);
	elog(DEBUG2, "cdp model fit: warm start from %d of %d rows, BFGS status %d, %d evaluations",
		 sub->nrows, st->nrows, i, sp->nevals);
	if (i == BFGS_CONVERGED && fit_judge(dim, ths, v, names) == NULL)
	{
		memcpy(th, ths, sizeof(double) * dim);
		for (i = 0; i < dim; i++)
			for (j = 0; j < dim; j++)
				fp->h0[i][j] = sp->hout[i][j] * (wsub / wall);
		fp->has_h0 = true;
	}
	pfree(sub);
}

/*
 * Fits from th (updated to the arg min, *negll to the minimum); returns NULL
 * or why the fit failed, with *keep true when th is still worth reporting
 * (the best point on a flat ridge, not a parameter beyond any sensible
 * value).  When BFGS ends on a boundary or a flat ridge (it
 * can stop on a plateau where the gradient vanishes, e.g. a -> 0 in
 * BG/NBD), Nelder-Mead from the same start gets a second chance and the
 * better point is judged.
 */
static const char *
fit_solve(objective f, FitPrep *fp, int dim, double *th, double *negll,
		  const char *const *names, int npairs, const int (*pairs)[2], bool *keep)
{
	double		start[NM_MAXDIM],
				th2[NM_MAXDIM],
				v2;
	bool		nm = false;
	const char *msg;

	memcpy(start, th, sizeof(double) * dim);
	*negll = minimise(f, fp, dim, th, &nm);
	msg = fit_judge(dim, th, *negll, names);
	*keep = false;
	if (msg == NULL)
		*keep = (msg = fit_boundary(f, fp, dim, th, *negll, names, npairs, pairs)) != NULL;
	if (msg == NULL || nm)
		return msg;
	memcpy(th2, start, sizeof(double) * dim);
	nm = true;
	v2 = minimise(f, fp, dim, th2, &nm);
	if (!(v2 < *negll))
		return msg;
	memcpy(th, th2, sizeof(double) * dim);
	*negll = v2;
	msg = fit_judge(dim, th, *negll, names);
	*keep = false;
	if (msg == NULL)
		*keep = (msg = fit_boundary(f, fp, dim, th, *negll, names, npairs, pairs)) != NULL;
	return msg;
}

/*
 * No interior maximum (res holds the full model's failure or best point,
 * negll its objective): fits the two limits of bgnbd_plim_negll and
 * nbd_negll, each with the same solver and the same boundary tests in its
 * own parameters, and when the better one that has a maximum of its own is
 * at least as likely as the full model's best point (within 1e-6), res
 * becomes that limit model: its parameters in the full model's terms
 * (a + b = CDP_BGNBD_LIMIT_AB on the ratio p, or a = 0), its own
 * log-likelihood, status CDP_FIT_LIMIT and a message saying which limit.
 */
static void
bgnbd_fit_limits(FitPrep *fp, double negll, double meanT, CdpFit *res)
{
	static const char *const pnames[] = {"r", "alpha", "p (the drop-out probability)"};
	static const char *const nnames[] = {"r", "alpha"};
	static const int ppairs[1][2] = {{0, 1}};
	double		tp[3] = {0, log(Max(meanT, 1e-6)), -2},
				tn[2] = {0, log(Max(meanT, 1e-6))},
				vp,
				vn;
	bool		kp,
				kn;
	const char *mp,
			   *mn;
	double		full = isfinite(negll) ? negll : INFINITY;

	mp = fit_solve(bgnbd_plim_negll, fp, 3, tp, &vp, pnames, 1, ppairs, &kp);
	mn = fit_solve(nbd_negll, fp, 2, tn, &vn, nnames, 1, ppairs, &kn);
	elog(DEBUG2, "cdp BG/NBD limits: full %.10g, a,b -> inf %.10g (%s), NBD %.10g (%s)",
		 full, vp, mp ? mp : "maximum", vn, mn ? mn : "maximum");
	if (mp != NULL)
		vp = INFINITY;
	if (mn != NULL)
		vn = INFINITY;
	if (!isfinite(Min(vp, vn)) || Min(vp, vn) > full + 1e-6 * (fabs(full) + 1))
		return;
	res->status = CDP_FIT_LIMIT;
	res->converged = false;
	res->has_params = true;
	if (vp <= vn)
	{
		double		pr = 1 / (1 + exp(-tp[2]));

		res->par[0] = exp(tp[0]);
		res->par[1] = exp(tp[1]);
		res->par[2] = pr * CDP_BGNBD_LIMIT_AB;
		res->par[3] = (1 - pr) * CDP_BGNBD_LIMIT_AB;
		res->loglik = -vp;
		res->message = psprintf("no interior maximum: the likelihood is highest in the limit a, b -> infinity with a / (a + b) = %.6g, every customer dropping out after a purchase with that one probability; the parameters are that limit model's (a + b = 1e12 stands for infinity)", pr);
	}
	else
	{
		res->par[0] = exp(tn[0]);
		res->par[1] = exp(tn[1]);
		res->par[2] = 0;
		res->par[3] = 1;
		res->loglik = -vn;
		res->message = "no interior maximum: the likelihood is highest in the limit a -> 0 where nobody drops out (the NBD model); the parameters are that limit model's (a = 0; b plays no part and is reported as 1)";
	}
}

/*
 * The BG/NBD fit over a compacted histogram (NULL: no rows): fills res.
 * Shared by cdp.bgnbd_fit's final function and cdp_bgnbd_fit_arrays().
 */
static void
bgnbd_fit_state(FitState *st, CdpFit *res)
{
	static const char *const names[] = {"r", "alpha", "a", "b"};
	/* r, alpha -> infinity: no rate heterogeneity; a, b: none in drop-out */
	static const int pairs[2][2] = {{0, 1}, {2, 3}};
	FitPrep    *fp;
	bool		keep;
	double		customers = 0,
				repeaters = 0,
				maxT = 0,
				sumT = 0;
	double		th[4],
				negll;
	const char *msg;
	int			i;

	memset(res, 0, sizeof(CdpFit));
	res->status = CDP_FIT_FAILED;
	res->message = "no customers";
	if (st == NULL)
		return;
	fit_compact(st);
	for (i = 0; i < st->nrows; i++)
	{
		customers += st->rows[i].n;
		if (st->rows[i].k[0] > 0)
			repeaters += st->rows[i].n;
		maxT = Max(maxT, st->rows[i].k[2]);
		sumT += st->rows[i].n * st->rows[i].k[2];
	}
	res->customers = customers;
	if (customers == 0)
		return;
	if (maxT == 0)
	{
		res->message = "no observation time: T is 0 for every customer";
		return;
	}
	if (repeaters == 0)
	{
		/*
		 * LL = sum r ln(alpha / (alpha + T)) is highest (0) as r -> 0:
		 * nobody buys again.  That limit is reported (a = 0: nobody was
		 * seen dropping out either), but says nothing an earlier fit would
		 * not say better: degenerate.
		 */
		res->message = "no repeat purchases: x is 0 for every customer; the likelihood is highest (0) in the limit r -> 0 where nobody buys again, so the parameters are that limit model's (r = 0, a = 0; alpha and b play no part and are reported as 1): expected purchases and CLV 0, P(alive) 1";
		res->status = CDP_FIT_LIMIT;
		res->degenerate = true;
		res->has_params = true;
		res->par[0] = 0;
		res->par[1] = 1;
		res->par[2] = 0;
		res->par[3] = 1;
		res->loglik = 0;
		return;
	}

	/* start: r = 1, alpha = mean T, a = b = 1 */
	th[0] = 0;
	th[1] = log(Max(sumT / customers, 1e-6));
	th[2] = 0;
	th[3] = 0;
	fp = fit_prepare(st);
	fit_warm_start(bgnbd_negll, st, fp, 4, th, names);
	msg = fit_solve(bgnbd_negll, fp, 4, th, &negll, names, 2, pairs, &keep);
	elog(DEBUG2, "cdp BG/NBD fit: %d distinct rows, %d evaluations (%d with gradient)",
		 fp->nrows, fp->nevals, fp->ngrads);
	fit_store(res, 4, th, -negll, msg, keep);
	if (msg != NULL)
		bgnbd_fit_limits(fp, negll, sumT / customers, res);
}

/*
 * No interior Gamma-Gamma maximum: fits the limit of gg_lim_negll and, when
 * it has a maximum of its own at least as likely as the full model's best
 * point (within 1e-6), res becomes that limit model (q = 1e12, gamma = q /
 * nu: the expected spend is p / nu for everybody), status CDP_FIT_LIMIT.
 */
static void
gg_fit_limit(FitPrep *fp, double negll, double meanm, CdpFit *res)
{
	static const char *const names[] = {"p", "nu"};
	double		th[2] = {0, -log(Max(meanm, 1e-9))},
				v;
	bool		k;
	const char *m;
	double		full = isfinite(negll) ? negll : INFINITY;

	m = fit_solve(gg_lim_negll, fp, 2, th, &v, names, 0, NULL, &k);
	elog(DEBUG2, "cdp Gamma-Gamma limit: full %.10g, q, gamma -> inf %.10g (%s)",
		 full, v, m ? m : "maximum");
	if (m != NULL || !isfinite(v) || v > full + 1e-6 * (fabs(full) + 1))
		return;
	res->status = CDP_FIT_LIMIT;
	res->converged = false;
	res->has_params = true;
	res->par[0] = exp(th[0]);
	res->par[1] = CDP_GG_LIMIT_Q;
	res->par[2] = CDP_GG_LIMIT_Q / exp(th[1]);
	res->loglik = -v;
	res->message = psprintf("no interior maximum: the likelihood is highest in the limit q, gamma -> infinity with q / gamma = nu = %.6g, every customer's spend per purchase Gamma(p, nu) with that one nu (expected spend p / nu = %.6g for everybody); the parameters are that limit model's (q = 1e12 stands for infinity)",
							exp(th[1]), exp(th[0] - th[1]));
}

/*
 * The Gamma-Gamma fit over a compacted histogram (NULL: no rows): fills
 * res.  Shared by cdp.gammagamma_fit's final function and
 * cdp_gammagamma_fit_arrays().
 */
static void
gg_fit_state(FitState *st, CdpFit *res)
{
	static const char *const names[] = {"p", "q", "gamma"};
	/* q, gamma -> infinity: no heterogeneity in the customers' mean spend */
	static const int pairs[1][2] = {{1, 2}};
	FitPrep    *fp;
	bool		keep;
	double		customers = 0,
				summ = 0;
	double		th[3],
				negll;
	const char *msg;
	int			i;

	memset(res, 0, sizeof(CdpFit));
	res->status = CDP_FIT_FAILED;
	res->message = "no repeat buyers: the model needs customers with x > 0";
	if (st == NULL)
		return;
	fit_compact(st);
	for (i = 0; i < st->nrows; i++)
	{
		customers += st->rows[i].n;
		summ += st->rows[i].n * st->rows[i].k[1];
	}
	res->customers = customers;
	if (customers == 0)
		return;
	if (st->nrows == 1)
	{
		res->message = "all repeat buyers have the same x and mean spend: spend does not vary, so the model cannot be fitted";
		return;
	}

	/* start: p = 1, q = 1, gamma = mean spend */
	th[0] = 0;
	th[1] = 0;
	th[2] = log(summ / customers);
	fp = fit_prepare(st);
	fit_warm_start(gg_negll, st, fp, 3, th, names);
	msg = fit_solve(gg_negll, fp, 3, th, &negll, names, 1, pairs, &keep);
	elog(DEBUG2, "cdp Gamma-Gamma fit: %d distinct rows, %d evaluations (%d with gradient)",
		 fp->nrows, fp->nevals, fp->ngrads);
	fit_store(res, 3, th, -negll, msg, keep);
	if (msg != NULL)
		gg_fit_limit(fp, negll, summ / customers, res);
}

/* Final of cdp.bgnbd_fit: the maximum-likelihood (r, alpha, a, b). */
Datum
cdp_bgnbd_final(PG_FUNCTION_ARGS)
{
	CdpFit		res;

	bgnbd_fit_state(PG_ARGISNULL(0) ? NULL : fit_check(PG_GETARG_BYTEA_P(0), FIT_KIND_BGNBD), &res);
	PG_RETURN_DATUM(fit_result(fcinfo, 4, &res));
}

/* Final of cdp.gammagamma_fit: the maximum-likelihood (p, q, gamma). */
Datum
cdp_gammagamma_final(PG_FUNCTION_ARGS)
{
	CdpFit		res;

	gg_fit_state(PG_ARGISNULL(0) ? NULL : fit_check(PG_GETARG_BYTEA_P(0), FIT_KIND_GG), &res);
	PG_RETURN_DATUM(fit_result(fcinfo, 3, &res));
}

/*
 * A histogram state of n rows (k0[i], k1[i], k2[i] or 0), in the current
 * context (only for the fit, never a datum: the room is not zeroed).
 */
static FitState *
fit_from_arrays(int kind, int n, const double *k0, const double *k1, const double *k2)
{
	FitState   *st = fit_alloc(CurrentMemoryContext, kind, n, false);
	int			i;

	for (i = 0; i < n; i++)
	{
		st->rows[i].k[0] = k0[i];
		st->rows[i].k[1] = k1[i];
		st->rows[i].k[2] = k2 ? k2[i] : 0;
		st->rows[i].n = 1;
	}
	st->nrows = n;
	return st;
}

/*
 * The fits over arrays work in a context of their own, freed at the end:
 * the next big allocation of the caller reuses the memory instead of
 * touching (and page-faulting) fresh memory.
 */
static MemoryContext
fit_context_begin(void)
{
	return MemoryContextSwitchTo(AllocSetContextCreate(CurrentMemoryContext, "cdp fit",
													   ALLOCSET_DEFAULT_SIZES));
}

/* Ends the fit context: the message copied out, the context freed. */
static void
fit_context_end(MemoryContext old, CdpFit *res)
{
	MemoryContext fitcxt = MemoryContextSwitchTo(old);

	if (res->message)
		res->message = pstrdup(res->message);
	MemoryContextDelete(fitcxt);
}

/*
 * BG/NBD fit over n customers' x, t_x, T (valid: 0 <= t_x <= T, t_x = 0
 * when x = 0); the same fit cdp.bgnbd_fit gives for these rows.
 */
void
cdp_bgnbd_fit_arrays(int n, const double *x, const double *tx, const double *T, CdpFit *res)
{
	MemoryContext old = fit_context_begin();

	bgnbd_fit_state(n > 0 ? fit_from_arrays(FIT_KIND_BGNBD, n, x, tx, T) : NULL, res);
	fit_context_end(old, res);
}

/*
 * Gamma-Gamma fit over n repeat buyers' x (> 0) and mean spend (> 0); the
 * same fit cdp.gammagamma_fit gives for these rows.
 */
void
cdp_gammagamma_fit_arrays(int n, const double *x, const double *m, CdpFit *res)
{
	MemoryContext old = fit_context_begin();

	gg_fit_state(n > 0 ? fit_from_arrays(FIT_KIND_GG, n, x, m, NULL) : NULL, res);
	fit_context_end(old, res);
}

/* ---- per-customer quantities ---- */

/* Errors unless the model parameters are finite and positive (also for cdp._rfm_refresh). */
void
cdp_check_params(const char *model, int n, const double *p)
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

/*
 * Errors unless BG/NBD parameters are usable: r >= 0 (r = 0: nobody buys
 * again), alpha > 0, a >= 0 (a = 0: nobody drops out, the NBD model),
 * b > 0, all finite; the limits cdp.bgnbd_fit reports are such values.
 */
void
cdp_check_bgnbd_params(const double *p)
{
	static const char *const names[] = {"r", "alpha", "a", "b"};
	int			i;

	for (i = 0; i < 4; i++)
		if (!((i == 0 || i == 2) ? p[i] >= 0 : p[i] > 0) || isinf(p[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("BG/NBD parameter %s is %g, but must be a finite number %s 0", names[i], p[i],
							(i == 0 || i == 2) ? ">=" : ">"),
					 errdetail("The parameters come from a fit (cdp.bgnbd_fit or cdp.clv_model)."),
					 errhint("Check the converged column and the message of the fit.")));
}

/* Checks one customer's x, t_x, T. */
static void
check_customer(double x, double tx, double T)
{
	cdp_check_nonneg("x (repeat purchases)", x);
	cdp_check_nonneg("t_x (time of the last purchase)", tx);
	cdp_check_nonneg("T (time since the first purchase)", T);
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

	cdp_check_bgnbd_params(p);
	check_customer(x, tx, T);
	PG_RETURN_FLOAT8(cdp_bgnbd_p_alive_of(p, x, tx, T));
}

/*
 * The churn measure that also covers one-time buyers (P(alive) is 1 for
 * them by the model): the probability that a customer still active at the
 * rate their purchases up to the last one show (Gamma(r + x, alpha + t_x))
 * would have bought again in the T - t_x since then,
 * 1 - ((alpha + t_x) / (alpha + T))^(r + x).
 */
double
cdp_bgnbd_overdue_of(const double *p, double x, double tx, double T)
{
	if (T <= tx)
		return 0;
	return -expm1((p[0] + x) * (log(p[1] + tx) - log(p[1] + T)));
}

/* SQL: cdp.bgnbd_overdue(r, alpha, x, t_x, T). */
Datum
cdp_bgnbd_overdue(PG_FUNCTION_ARGS)
{
	double		p[4] = {PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), 1, 1};
	double		x = PG_GETARG_INT32(2),
				tx = PG_GETARG_FLOAT8(3),
				T = PG_GETARG_FLOAT8(4);

	cdp_check_bgnbd_params(p);
	check_customer(x, tx, T);
	PG_RETURN_FLOAT8(cdp_bgnbd_overdue_of(p, x, tx, T));
}

/* P(alive | x, t_x, T) under BG/NBD with parameters p = (r, alpha, a, b). */
double
cdp_bgnbd_p_alive_of(const double *p, double x, double tx, double T)
{
	/* nobody drops out before a repeat purchase, nor at all when a = 0 */
	if (x == 0 || p[2] == 0)
		return 1.0;
	return 1.0 / (1.0 + exp(bgnbd_log_dropout_odds(p[0], p[1], p[2], p[3], x, tx, T)));
}

/*
 * BG/NBD E[Y(t) | x, t_x, T], the expected purchases in the next t units,
 * in two parts: the numerator
 * lead * (1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)),
 * z = t / (alpha+T+t), which depends on x and T only
 * (cdp_bgnbd_expected_num, for n horizons t[] at once), divided by the
 * denominator 1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)
 * (cdp_bgnbd_expected_den).  Customers with the same x and T share the
 * numerators.  2F1 is summed by its power series (the terms shrink like
 * z^k, so it converges for every z < 1); the series of one customer share
 * a, b and c and differ only in z, so each term's coefficient
 * (a+k)(b+k) / ((c+k)(k+1)) is computed once for all horizons, while every
 * series multiplies and adds in its own order and stops at its own term:
 * a horizon's value does not depend on the others.  A horizon t <= 0 gets
 * 0.  scratch holds 3 n doubles.
 */
void
cdp_bgnbd_expected_num(double r, double alpha, double a, double b, double x, double T,
					   int n, const double *t, double *num, double *scratch)
{
	double	   *z = scratch,
			   *term = scratch + n,
			   *sum = scratch + 2 * n;
	double		lead,
				ha,
				hb,
				hc;
	int			i,
				k,
				live = 0;

	if (a == 0)
	{
		/* nobody drops out (NBD): E[Y(t) | x, T] = t (r + x) / (alpha + T) */
		for (i = 0; i < n; i++)
			num[i] = t[i] <= 0 ? 0 : t[i] * (r + x) / (alpha + T);
		return;
	}
	/* the formula has a removable singularity at a = 1 */
	if (fabs(a - 1) < 1e-9)
		a = 1 + 1e-9;
	lead = (a + b + x - 1) / (a - 1);
	ha = r + x;
	hb = b + x;
	hc = a + b + x - 1;
	for (i = 0; i < n; i++)
	{
		/* a negative z marks a finished series (its value is in num[i]) */
		z[i] = t[i] <= 0 ? -1 : t[i] / (alpha + T + t[i]);
		term[i] = 1;
		sum[i] = 1;
		num[i] = 0;
		if (z[i] >= 0)
			live++;
	}
	for (k = 0; live > 0 && k < 1000000; k++)
	{
		double		coef = (ha + k) * (hb + k) / ((hc + k) * (k + 1));

		for (i = 0; i < n; i++)
		{
			if (z[i] < 0)
				continue;
			term[i] *= coef * z[i];
			sum[i] += term[i];
			if (fabs(term[i]) <= 1e-15 * fabs(sum[i]) && k > 2)
			{
				num[i] = sum[i];
				z[i] = -1;
				live--;
			}
		}
		if ((k & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
	}
	for (i = 0; i < n; i++)
	{
		if (t[i] <= 0)
			continue;
		if (z[i] >= 0)
			num[i] = sum[i];	/* the series ran out of terms */
		num[i] = lead * (1 - exp((r + x) * (log(alpha + T) - log(alpha + T + t[i]))) * num[i]);
	}
}

/* The denominator of cdp_bgnbd_expected_num's expectations. */
double
cdp_bgnbd_expected_den(double r, double alpha, double a, double b, double x, double tx, double T)
{
	double		den = 1;

	if (a == 0)
		return den;
	if (fabs(a - 1) < 1e-9)
		a = 1 + 1e-9;
	if (x > 0)
		den += exp(bgnbd_log_dropout_odds(r, alpha, a, b, x, tx, T));
	return den;
}

/* BG/NBD E[Y(t) | x, t_x, T] for one horizon t. */
double
cdp_bgnbd_expected(double r, double alpha, double a, double b,
				   double x, double tx, double T, double t)
{
	double		num,
				scratch[3];

	if (t <= 0)
		return 0;
	cdp_bgnbd_expected_num(r, alpha, a, b, x, T, 1, &t, &num, scratch);
	return num / cdp_bgnbd_expected_den(r, alpha, a, b, x, tx, T);
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

	cdp_check_bgnbd_params(p);
	check_customer(x, tx, T);
	cdp_check_nonneg("t (the horizon)", t);
	e = cdp_bgnbd_expected(p[0], p[1], p[2], p[3], x, tx, T, t);
	if (!isfinite(e))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(e);
}

/* Gamma-Gamma E[M | x, mean spend]: expected spend per transaction. */
Datum
cdp_gammagamma_expected_spend(PG_FUNCTION_ARGS)
{
	double		p[3];
	double		x;
	double		m;

	/* NULL when anything it needs is NULL: mean_spend only when x > 0 */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	p[0] = PG_GETARG_FLOAT8(0);
	p[1] = PG_GETARG_FLOAT8(1);
	p[2] = PG_GETARG_FLOAT8(2);
	x = PG_GETARG_INT32(3);
	if (x > 0 && PG_ARGISNULL(4))
		PG_RETURN_NULL();
	m = x > 0 ? PG_GETARG_FLOAT8(4) : 0;
	cdp_check_params("Gamma-Gamma", 3, p);
	cdp_check_nonneg("x (repeat purchases)", x);
	/* returns that outweigh the repeat purchases: no expected spend (as cdp.refresh_rfm) */
	if (x > 0 && m < 0 && !isinf(m))
		PG_RETURN_NULL();
	if (x > 0)
		cdp_check_nonneg("mean spend", m);
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
	CdpClvPlan *plan;
	double		clv;

	cdp_check_bgnbd_params(p);
	check_customer(x, tx, T);
	cdp_check_nonneg("spend", spend);
	cdp_check_nonneg("horizon", horizon);
	if (isnan(d) || isinf(d) || d < 0 || d > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("discount rate %g must be between 0 and 1 (per time unit)", d),
				 errdetail("Cash flows at time t are divided by (1 + rate)^t; a negative rate would weigh the future more than the present."),
				 errhint("Pass the rate per time unit of the model, e.g. 0.0018 a week for 10 %% a year.")));
	if (!(period > 0) || isinf(period) || horizon / period > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period %g must be > 0 and at most 100000 periods must fit in the horizon", period),
				 errdetail("CLV sums the discounted expected spend per period."),
				 errhint("Use a period of e.g. 4 weeks for a horizon of 52 weeks.")));
	plan = cdp_clv_plan(horizon, d, period);
	cdp_clv_eval(plan, p, x, tx, T);
	clv = cdp_clv_sum(plan, spend);
	if (!isfinite(clv))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(clv);
}

/*
 * The periods of a CLV sum: their ends period, 2 period, ... up to the
 * horizon (the last end is the horizon) and the discount factor of each,
 * (1 + discount_rate)^-end; plus room for one customer's expected
 * purchases at each end.  The caller checked horizon >= 0, period > 0,
 * horizon / period <= 100000 and discount_rate > -1.
 */
CdpClvPlan *
cdp_clv_plan(double horizon, double discount_rate, double period)
{
	CdpClvPlan *plan = palloc(sizeof(CdpClvPlan));
	int			max = (int) (horizon / period) + 2,
				n = 0;
	double		t;

	plan->ends = palloc(sizeof(double) * max);
	plan->disc = palloc(sizeof(double) * max);
	/* the same sequence of ends as a loop adding period each time */
	for (t = period;; t += period)
	{
		double		end = Min(t, horizon);

		if (n >= max)
			elog(ERROR, "cdp_clv_plan: more than %d periods", max);
		plan->ends[n] = end;
		plan->disc[n] = pow(1 + discount_rate, -end);
		n++;
		if (end >= horizon)
			break;
	}
	plan->n = n;
	plan->out = palloc(sizeof(double) * n);
	plan->num = palloc(sizeof(double) * n);
	plan->scratch = palloc(sizeof(double) * 3 * n);
	return plan;
}

/* One customer's expected purchases at each end of the plan's periods (plan->out). */
void
cdp_clv_eval(CdpClvPlan *plan, const double *p, double x, double tx, double T)
{
	cdp_clv_eval_num(plan, p, x, T);
	cdp_clv_eval_den(plan, p, x, tx, T);
}

/*
 * The same in two steps, for many customers: the numerators of x and T
 * (plan->num), shared by every customer with these x and T ...
 */
void
cdp_clv_eval_num(CdpClvPlan *plan, const double *p, double x, double T)
{
	cdp_bgnbd_expected_num(p[0], p[1], p[2], p[3], x, T,
						   plan->n, plan->ends, plan->num, plan->scratch);
}

/* ... then one customer's expectations (plan->out) from them. */
void
cdp_clv_eval_den(CdpClvPlan *plan, const double *p, double x, double tx, double T)
{
	double		den = cdp_bgnbd_expected_den(p[0], p[1], p[2], p[3], x, tx, T);
	int			i;

	for (i = 0; i < plan->n; i++)
		plan->out[i] = plan->ends[i] > 0 ? plan->num[i] / den : 0;
}

/*
 * CLV from the expected purchases of cdp_clv_eval: spend times the expected
 * purchases in each period, discounted to its end; stops early (as it
 * always did) when an expectation comes out negative.
 */
double
cdp_clv_sum(const CdpClvPlan *plan, double spend)
{
	double		prev = 0,
				clv = 0;
	int			i;

	for (i = 0; i < plan->n && prev >= 0; i++)
	{
		clv += spend * (plan->out[i] - prev) * plan->disc[i];
		prev = plan->out[i];
	}
	return clv;
}

/* Defines cdp.fit_sample_above. */
void
cdp_clv_define_gucs(void)
{
	DefineCustomIntVariable("cdp.fit_sample_above",
							"Number of distinct rows above which a model fit starts from a fit over a sample of them.",
							"The BG/NBD and Gamma-Gamma fits then need fewer passes over all rows; 0 never samples.",
							&cdp_fit_sample_above,
							50000, 0, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
}
