/*
 * attribution.c — which channel earned a conversion: the models.
 *
 * Heuristic models over one path (first, last, last non-direct, linear,
 * position-based, time decay), the first-order Markov chain over all
 * journeys with the removal effect of each channel solved exactly, and
 * Shapley values over channel coalitions computed exactly.  The C pass of
 * journeys.c (cdp._attribute_pass) and the SQL functions here share the
 * code: cdp.attribute (heuristics of one path), cdp.markov_agg with
 * cdp.markov_removal_effects, cdp.shapley_agg with cdp.shapley_values and
 * cdp.shapley_journeys, and cdp.shapley for an explicit game.
 *
 * Markov.  States are the channels plus start, conversion and null.  The
 * probability of converting from each channel solves (I - Q) x = b, with Q
 * the transition probabilities between channels and b those into
 * conversion; we invert I - Q once (Gauss-Jordan, partial pivoting) and get
 * every removal from it: removing channel k sends its inflow to null, so a
 * channel i reaches conversion without k with x_i - h_ik x_k, where h_ik =
 * M_ik / M_kk is the probability of ever reaching k from i (M the inverse).
 * One O(n^3) inversion and O(n^2) per removal, no simulation, so the result
 * is the same on every run (channels are ordered by name first).
 *
 * Shapley.  The worth v(S) of a coalition S is the conversion rate of the
 * journeys whose channels all lie in S (converting journeys over all
 * journeys, non-converting ones included).  A converting journey with the
 * channel set T gets, for each channel of T, its Shapley value in the game
 * on T, divided by v(T) (the values sum to v(T)), so its credits sum to 1.
 * The 2^|T| coalitions of T are enumerated exactly, summing the exact-set
 * counts over subsets (zeta transform); journeys of up to 20 distinct
 * channels take milliseconds (2^20 coalitions), larger ones are split
 * equally and counted.  A model holds at most 64 channels (coalitions are
 * 64-bit masks).  Credits may be negative where adding a channel lowered
 * the observed conversion rate; they still sum to 1.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "attribution.h"
#include "journeys.h"

const char *const cdp_model_names[CDP_N_MODELS] = {
	"first", "last", "last_non_direct", "linear", "position", "time_decay", "markov", "shapley"
};

/* ---------------------------------------------------------------- heuristics */

/* Prepares pc for paths over channel ids 0..nchannels-1. */
void
cdp_path_credits_init(CdpPathCredits *pc, int nchannels)
{
	int			i;

	pc->k = 0;
	pc->capacity = 16;
	pc->chan = palloc(sizeof(int32) * pc->capacity);
	pc->credit = palloc(sizeof(double) * CDP_N_MODELS * pc->capacity);
	pc->nslots = Max(nchannels, 1);
	pc->slot = palloc(sizeof(int32) * pc->nslots);
	for (i = 0; i < pc->nslots; i++)
		pc->slot[i] = -1;
}

/* Sets the distinct channels of a path and zeroes all credits. */
void
cdp_path_credits_reset(CdpPathCredits *pc, const int32 *ch, int n)
{
	int			i;

	for (i = 0; i < pc->k; i++)
		pc->slot[pc->chan[i]] = -1;
	pc->k = 0;
	for (i = 0; i < n; i++)
	{
		int32		c = ch[i];

		Assert(c >= 0 && c < pc->nslots);
		if (pc->slot[c] >= 0)
			continue;
		if (pc->k == pc->capacity)
		{
			pc->capacity *= 2;
			pc->chan = repalloc(pc->chan, sizeof(int32) * pc->capacity);
			pfree(pc->credit);
			pc->credit = palloc(sizeof(double) * CDP_N_MODELS * pc->capacity);
		}
		pc->slot[c] = pc->k;
		pc->chan[pc->k++] = c;
	}
	memset(pc->credit, 0, sizeof(double) * CDP_N_MODELS * pc->capacity);
}

/* Collapses runs of one channel in place, keeping the latest time of each run. */
int
cdp_collapse_path(int32 *ch, int64 *at, int n)
{
	int			i,
				m = 0;

	for (i = 0; i < n; i++)
	{
		if (m > 0 && ch[m - 1] == ch[i])
			at[m - 1] = at[i];
		else
		{
			ch[m] = ch[i];
			at[m] = at[i];
			m++;
		}
	}
	return m;
}

/*
 * The six heuristic models of a path sorted by time (n >= 1).  Position-
 * based gives the first and last touch their shares and splits the rest
 * over the middle; with two touches the two shares are scaled to sum to 1
 * (40/40 gives 50/50).  Time decay weighs each touch 0.5^(age / half-life),
 * age measured to the conversion; weights are taken relative to the newest
 * touch (the ages to the conversion differ from these by one constant,
 * which the normalisation cancels), so that no weight underflows.
 */
void
cdp_heuristic_credits(CdpPathCredits *pc, const int32 *ch, const int64 *at, int n,
					  const bool *is_direct, const CdpHeuristicParams *params)
{
	int			i,
				lnd = n - 1;
	double		f = params->position_first,
				l = params->position_last,
				wsum = 0;

	cdp_path_credits_reset(pc, ch, n);
	CDP_CREDIT(pc, CDP_MODEL_FIRST, pc->slot[ch[0]]) = 1.0;
	CDP_CREDIT(pc, CDP_MODEL_LAST, pc->slot[ch[n - 1]]) = 1.0;
	while (lnd > 0 && is_direct[ch[lnd]])
		lnd--;
	if (is_direct[ch[lnd]])
		lnd = n - 1;			/* every touch direct: the last one */
	CDP_CREDIT(pc, CDP_MODEL_LAST_NON_DIRECT, pc->slot[ch[lnd]]) = 1.0;

	for (i = 0; i < n; i++)
		CDP_CREDIT(pc, CDP_MODEL_LINEAR, pc->slot[ch[i]]) += 1.0 / n;

	if (n == 1)
		CDP_CREDIT(pc, CDP_MODEL_POSITION, pc->slot[ch[0]]) = 1.0;
	else if (n == 2)
	{
		double		s = f + l;

		CDP_CREDIT(pc, CDP_MODEL_POSITION, pc->slot[ch[0]]) += s > 0 ? f / s : 0.5;
		CDP_CREDIT(pc, CDP_MODEL_POSITION, pc->slot[ch[1]]) += s > 0 ? l / s : 0.5;
	}
	else
	{
		double		mid = (1.0 - f - l) / (n - 2);

		CDP_CREDIT(pc, CDP_MODEL_POSITION, pc->slot[ch[0]]) += f;
		CDP_CREDIT(pc, CDP_MODEL_POSITION, pc->slot[ch[n - 1]]) += l;
		for (i = 1; i < n - 1; i++)
			CDP_CREDIT(pc, CDP_MODEL_POSITION, pc->slot[ch[i]]) += mid;
	}

	for (i = 0; i < n; i++)
		wsum += exp2(-((double) (at[n - 1] - at[i])) / params->half_life_us);
	for (i = 0; i < n; i++)
		CDP_CREDIT(pc, CDP_MODEL_TIME_DECAY, pc->slot[ch[i]]) +=
			exp2(-((double) (at[n - 1] - at[i])) / params->half_life_us) / wsum;
}

/* qsort order of remainders: larger first, then the smaller index */
typedef struct Remainder
{
	double		r;
	int			i;
} Remainder;

static int
remainder_cmp(const void *a, const void *b)
{
	const Remainder *x = a,
			   *y = b;

	if (x->r != y->r)
		return x->r > y->r ? -1 : 1;
	return x->i - y->i;
}

/*
 * Splits units over k credits: each gets floor(credit * units) and the
 * units left over go, one each, to the largest remainders (ties to the
 * earlier channel), so the parts sum to units exactly.
 */
void
cdp_split_units(const double *credit, int k, int64 units, int64 *out)
{
	Remainder	local[32];
	Remainder  *rem = k <= 32 ? local : palloc(sizeof(Remainder) * k);
	int64		sum = 0,
				left;
	int			i;

	if (k <= 0)
		return;
	for (i = 0; i < k; i++)
	{
		double		x = credit[i] * (double) units;
		double		fl = floor(x);

		if (!(fl > -9.0e18 && fl < 9.0e18))
			fl = 0;				/* NaN or absurd: the remainder pass puts it right */
		out[i] = (int64) fl;
		rem[i].r = x - fl;
		rem[i].i = i;
		sum += out[i];
	}
	left = units - sum;
	qsort(rem, k, sizeof(Remainder), remainder_cmp);
	/* normally 0 <= left < k; after rounding noise it may be a little off */
	for (i = 0; left > 0; i = (i + 1) % k, left--)
		out[rem[i].i]++;
	for (i = k - 1; left < 0; i = (i + k - 1) % k, left++)
		out[rem[i].i]--;
	if (rem != local)
		pfree(rem);
}

/* A finite numeric as units of 10^-scale; false for NaN, infinities and values beyond int64. */
bool
cdp_numeric_units(Datum num, int64 *units, int16 *scale)
{
	Numeric		n = DatumGetNumeric(num);
	char	   *s,
			   *p;
	int64		u = 0;
	int			sc = 0;
	bool		neg = false,
				frac = false;

	if (numeric_is_nan(n) || numeric_is_inf(n))
		return false;
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
	p = s;
	if (*p == '-')
	{
		neg = true;
		p++;
	}
	for (; *p; p++)
	{
		if (*p == '.')
		{
			frac = true;
			continue;
		}
		if (*p < '0' || *p > '9' || u > (PG_INT64_MAX - 9) / 10)
		{
			pfree(s);
			return false;
		}
		u = u * 10 + (*p - '0');
		if (frac)
			sc++;
	}
	pfree(s);
	if (sc > 1000)
		return false;
	*units = neg ? -u : u;
	*scale = (int16) sc;
	return true;
}

/* Units of 10^-scale as a numeric datum with that scale. */
Datum
cdp_units_numeric(int64 units, int scale)
{
	return NumericGetDatum(int64_div_fast_to_numeric(units, scale));
}

/* -------------------------------------------------------------------- Markov */

#define TR(t, n, r, c) ((t)[(int64) (r) * CDP_MARKOV_COLS(n) + (c)])

/* Adds one journey (channel ids, in order) to the transition counts. */
void
cdp_markov_count(int64 *trans, int nchan, const int32 *ch, int n, bool converted)
{
	int			i;

	if (n <= 0)
		return;
	TR(trans, nchan, 0, ch[0])++;
	for (i = 0; i + 1 < n; i++)
		TR(trans, nchan, 1 + ch[i], ch[i + 1])++;
	TR(trans, nchan, 1 + ch[n - 1], converted ? nchan : nchan + 1)++;
}

/*
 * Inverts a (n x n, row-major, overwritten) into inv by Gauss-Jordan with
 * partial pivoting; errors when the matrix is singular (a set of channels
 * that never leads to conversion or null: only a forged state has one).
 */
static void
invert(double *a, double *inv, int n)
{
	int			i,
				j,
				r,
				c;

	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			inv[(int64) i * n + j] = i == j ? 1.0 : 0.0;
	for (c = 0; c < n; c++)
	{
		int			p = c;
		double		best = fabs(a[(int64) c * n + c]),
					d;

		CHECK_FOR_INTERRUPTS();
		for (r = c + 1; r < n; r++)
			if (fabs(a[(int64) r * n + c]) > best)
			{
				best = fabs(a[(int64) r * n + c]);
				p = r;
			}
		if (!(best > 1e-12))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("the markov chain of this state cannot be solved"),
					 errdetail("Some channels never lead to a conversion or to the end of a journey."),
					 errhint("Recompute the state with cdp.markov_agg.")));
		if (p != c)
			for (j = 0; j < n; j++)
			{
				double		t = a[(int64) c * n + j];

				a[(int64) c * n + j] = a[(int64) p * n + j];
				a[(int64) p * n + j] = t;
				t = inv[(int64) c * n + j];
				inv[(int64) c * n + j] = inv[(int64) p * n + j];
				inv[(int64) p * n + j] = t;
			}
		d = a[(int64) c * n + c];
		for (j = 0; j < n; j++)
		{
			a[(int64) c * n + j] /= d;
			inv[(int64) c * n + j] /= d;
		}
		for (r = 0; r < n; r++)
		{
			double		fct;

			if (r == c || a[(int64) r * n + c] == 0.0)
				continue;
			fct = a[(int64) r * n + c];
			for (j = 0; j < n; j++)
			{
				a[(int64) r * n + j] -= fct * a[(int64) c * n + j];
				inv[(int64) r * n + j] -= fct * inv[(int64) c * n + j];
			}
		}
	}
}

/*
 * Removal effects of every channel (re[nchan]) from transition counts;
 * returns the probability of converting from the start.  A channel that is
 * never left counts as null (it cannot come from journeys).  With no
 * conversion at all every removal effect is 0.
 */
double
cdp_markov_solve(const int64 *trans, int nchan, double *re)
{
	double	   *a,
			   *m,
			   *s,
			   *x,
				total = 0,
				p;
	int			i,
				j,
				k;

	for (k = 0; k < nchan; k++)
		re[k] = 0;
	if (nchan == 0)
		return 0;
	a = palloc0(sizeof(double) * (Size) nchan * nchan);
	m = palloc(sizeof(double) * (Size) nchan * nchan);
	s = palloc0(sizeof(double) * nchan);
	x = palloc0(sizeof(double) * nchan);
	for (j = 0; j < CDP_MARKOV_COLS(nchan); j++)
		total += (double) TR(trans, nchan, 0, j);
	for (j = 0; j < nchan && total > 0; j++)
		s[j] = (double) TR(trans, nchan, 0, j) / total;
	for (i = 0; i < nchan; i++)
	{
		double		out = 0;

		for (j = 0; j < CDP_MARKOV_COLS(nchan); j++)
			out += (double) TR(trans, nchan, 1 + i, j);
		a[(int64) i * nchan + i] = 1.0;
		if (out <= 0)
			continue;
		for (j = 0; j < nchan; j++)
			a[(int64) i * nchan + j] -= (double) TR(trans, nchan, 1 + i, j) / out;
		x[i] = (double) TR(trans, nchan, 1 + i, nchan) / out;	/* b, for now */
	}
	invert(a, m, nchan);
	/* x = M b */
	for (i = 0; i < nchan; i++)
	{
		double		acc = 0;

		for (j = 0; j < nchan; j++)
			acc += m[(int64) i * nchan + j] * x[j];
		a[i] = acc;				/* a is free again: use its first row for x */
	}
	memcpy(x, a, sizeof(double) * nchan);
	p = 0;
	for (j = 0; j < nchan; j++)
		p += s[j] * x[j];
	if (p > 0)
		for (k = 0; k < nchan; k++)
		{
			double		reach = s[k],
						pk;

			CHECK_FOR_INTERRUPTS();
			for (j = 0; j < nchan; j++)
				if (j != k)
					reach += s[j] * m[(int64) j * nchan + k] / m[(int64) k * nchan + k];
			pk = p - reach * x[k];
			re[k] = 1.0 - pk / p;
			if (re[k] < 0)
				re[k] = 0;		/* rounding */
			if (re[k] > 1)
				re[k] = 1;
		}
	pfree(a);
	pfree(m);
	pfree(s);
	pfree(x);
	return p;
}

/* ------------------------------------------------------------------- Shapley */

/* Hash of a channel mask. */
static inline uint64
mask_hash(uint64 m)
{
	return hash_bytes_uint32_extended((uint32) m, (uint32) (m >> 32));
}

/* An empty table with room for capacity (rounded up to a power of two) sets. */
void
cdp_settable_init(CdpSetTable *t, MemoryContext cxt, int64 capacity)
{
	int64		cap = 16;

	while (cap < capacity)
		cap *= 2;
	t->cxt = cxt;
	t->capacity = cap;
	t->used = 0;
	t->slots = MemoryContextAllocZero(cxt, sizeof(CdpSetCount) * cap);
	t->worth = NULL;
	t->worth_bits = 0;
}

/*
 * The worth v(S) of every coalition of a table over at most 20 channels,
 * in one array indexed by mask: exact-set counts summed over subsets (zeta
 * transform), O(n 2^n) once.  v(S) does not depend on the journey whose
 * game S is part of, so every journey then reads its coalitions' worths
 * from here instead of looking up its 2^k subsets.
 */
void
cdp_settable_worths(CdpSetTable *t, int nchannels)
{
	uint64		n,
				s;
	double	   *conv,
			   *jour;
	int64		i;
	int			b;

	if (nchannels < 1 || nchannels > CDP_SHAPLEY_MAX_JOURNEY)
		return;
	n = UINT64CONST(1) << nchannels;
	conv = MemoryContextAllocZero(t->cxt, sizeof(double) * n);
	jour = palloc0(sizeof(double) * n);
	for (i = 0; i < t->capacity; i++)
		if (t->slots[i].mask != 0 && (t->slots[i].mask >> nchannels) == 0)
		{
			conv[t->slots[i].mask] += (double) t->slots[i].conversions;
			jour[t->slots[i].mask] += (double) t->slots[i].journeys;
		}
	for (b = 0; b < nchannels; b++)
	{
		uint64		bit = UINT64CONST(1) << b;

		CHECK_FOR_INTERRUPTS();
		for (s = 0; s < n; s++)
			if (s & bit)
			{
				conv[s] += conv[s ^ bit];
				jour[s] += jour[s ^ bit];
			}
	}
	for (s = 0; s < n; s++)
		conv[s] = jour[s] > 0 ? conv[s] / jour[s] : 0;
	pfree(jour);
	t->worth = conv;
	t->worth_bits = nchannels;
}

/* The slot of mask (empty when absent). */
static CdpSetCount *
settable_slot(const CdpSetTable *t, uint64 mask)
{
	uint64		i = mask_hash(mask) & (t->capacity - 1);

	while (t->slots[i].mask != 0 && t->slots[i].mask != mask)
		i = (i + 1) & (t->capacity - 1);
	return &t->slots[i];
}

/* Adds counts for a channel set (mask != 0), growing the table at half load. */
void
cdp_settable_add(CdpSetTable *t, uint64 mask, int64 journeys, int64 conversions)
{
	CdpSetCount *s;

	if ((t->used + 1) * 2 > t->capacity)
	{
		CdpSetTable bigger;
		int64		i;

		if (t->capacity >= (int64) (MaxAllocHugeSize / sizeof(CdpSetCount) / 4))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many distinct channel sets for a shapley model"),
					 errhint("Group channels into fewer channel groups.")));
		cdp_settable_init(&bigger, t->cxt, t->capacity * 2);
		for (i = 0; i < t->capacity; i++)
			if (t->slots[i].mask != 0)
			{
				*settable_slot(&bigger, t->slots[i].mask) = t->slots[i];
				bigger.used++;
			}
		pfree(t->slots);
		*t = bigger;
	}
	s = settable_slot(t, mask);
	if (s->mask == 0)
	{
		s->mask = mask;
		t->used++;
	}
	s->journeys += journeys;
	s->conversions += conversions;
}

/* The counts of a channel set, or NULL. */
const CdpSetCount *
cdp_settable_find(const CdpSetTable *t, uint64 mask)
{
	CdpSetCount *s = settable_slot(t, mask);

	return s->mask == 0 ? NULL : s;
}

/*
 * Shapley values of the game worth[0 .. 2^n - 1] (worth[0] = 0): phi_i =
 * sum over S without i of |S|! (n - |S| - 1)! / n! (v(S + i) - v(S)).
 */
void
cdp_shapley_game(const double *worth, int n, double *phi)
{
	double		w[64];
	uint64		full = n == 64 ? ~UINT64CONST(0) : (UINT64CONST(1) << n) - 1,
				s;
	int			i,
				m;

	Assert(n >= 1 && n <= 30);
	/* w[m] = m! (n - m - 1)! / n! = 1 / (n * C(n - 1, m)) */
	w[0] = 1.0 / n;
	for (m = 1; m < n; m++)
		w[m] = w[m - 1] * m / (n - m);
	for (i = 0; i < n; i++)
		phi[i] = 0;
	for (s = 0; s <= full; s++)
	{
		int			size = pg_popcount64(s);

		if ((s & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (i = 0; i < n; i++)
		{
			uint64		b = UINT64CONST(1) << i;

			if (s & b)
				continue;
			phi[i] += w[size] * (worth[s | b] - worth[s]);
		}
	}
}

/*
 * Shapley credits of a converting journey with channel set T (see the
 * header comment of this file): false when T has more than
 * CDP_SHAPLEY_MAX_JOURNEY channels or v(T) is not positive.
 */
bool
cdp_shapley_journey(const CdpSetTable *t, uint64 T, double *out)
{
	int			k = pg_popcount64(T),
				i,
				j,
				bits[64];
	uint64		nsub,
				s;
	double	   *conv,
			   *jour;
	double		vt;

	if (k == 0 || k > CDP_SHAPLEY_MAX_JOURNEY)
		return false;
	for (i = 0, j = 0; i < 64; i++)
		if (T & (UINT64CONST(1) << i))
			bits[j++] = i;
	if (k == 1)
	{
		out[0] = 1.0;
		return true;
	}
	nsub = UINT64CONST(1) << k;
	conv = palloc(sizeof(double) * nsub);
	if (t->worth != NULL && (T >> t->worth_bits) == 0)
	{
		/* the worths are there: map each local subset to its mask */
		uint64	   *g = palloc(sizeof(uint64) * nsub);

		g[0] = 0;
		conv[0] = 0;
		for (s = 1; s < nsub; s++)
		{
			g[s] = g[s & (s - 1)] | (UINT64CONST(1) << bits[pg_rightmost_one_pos64(s)]);
			conv[s] = t->worth[g[s]];
		}
		pfree(g);
		goto game;
	}
	jour = palloc(sizeof(double) * nsub);
	/* exact-set counts of every subset (local masks mapped to channel masks) */
	for (s = 0; s < nsub; s++)
	{
		uint64		g = 0;
		const CdpSetCount *c;

		for (i = 0; i < k; i++)
			if (s & (UINT64CONST(1) << i))
				g |= UINT64CONST(1) << bits[i];
		c = g ? cdp_settable_find(t, g) : NULL;
		conv[s] = c ? (double) c->conversions : 0;
		jour[s] = c ? (double) c->journeys : 0;
	}
	/* sums over subsets */
	for (i = 0; i < k; i++)
	{
		uint64		b = UINT64CONST(1) << i;

		CHECK_FOR_INTERRUPTS();
		for (s = 0; s < nsub; s++)
			if (s & b)
			{
				conv[s] += conv[s ^ b];
				jour[s] += jour[s ^ b];
			}
	}
	for (s = 0; s < nsub; s++)
		conv[s] = jour[s] > 0 ? conv[s] / jour[s] : 0;	/* worth */
	pfree(jour);
game:
	vt = conv[nsub - 1];
	if (!(vt > 0))
	{
		pfree(conv);
		return false;
	}
	cdp_shapley_game(conv, k, out);
	for (i = 0; i < k; i++)
		out[i] /= vt;
	pfree(conv);
	return true;
}

/* ------------------------------------------------------------ Markov states */

/*
 * The state of cdp.markov_agg: a header, the counts as a (cap + 1) x
 * (cap + 2) matrix (row 0 the start, row 1 + i channel i; column j channel
 * j, column cap conversion, column cap + 1 null), then the channel
 * dictionary with room for capnames bytes.  The aggregate grows cap and
 * capnames by doubling; cdp_markov_pack writes a state without spare room.
 */
typedef struct MarkovState
{
	int32		vl_len_;
	uint8		version;
	uint8		collapse;
	uint16		pad;
	int32		nchan;
	int32		cap;
	int32		namebytes;
	int32		capnames;
	int64		paths;
	int64		conversions;
} MarkovState;

#define MARKOV_HDRSZ MAXALIGN(sizeof(MarkovState))
#define MARKOV_CELLS(cap) ((int64) ((cap) + 1) * ((cap) + 2))
#define MARKOV_CELL(st, r, c) (((int64 *) ((char *) (st) + MARKOV_HDRSZ))[(int64) (r) * ((st)->cap + 2) + (c)])
#define MARKOV_NAMES(st) ((char *) (st) + MARKOV_HDRSZ + MARKOV_CELLS((st)->cap) * sizeof(int64))

/* Checks the header of a Markov state: its sizes agree with its length (O(1)). */
static MarkovState *
markov_header(bytea *b)
{
	MarkovState *st = (MarkovState *) b;
	int64		size = VARSIZE(b);

	if (size < (int64) MARKOV_HDRSZ)
		cdp_bad_state("markov", "too short");
	if (st->version != CDP_MARKOV_STATE_VERSION)
		cdp_bad_state("markov", psprintf("format version %d, expected %d", st->version, CDP_MARKOV_STATE_VERSION));
	if (st->cap < 0 || st->cap > CDP_MARKOV_MAX_CHANNELS || st->nchan < 0 || st->nchan > st->cap
		|| st->capnames < 0 || st->namebytes < 0 || st->namebytes > st->capnames || st->collapse > 1
		|| st->paths < 0 || st->conversions < 0 || st->conversions > st->paths)
		cdp_bad_state("markov", "inconsistent header");
	if (size != (int64) MARKOV_HDRSZ + MARKOV_CELLS(st->cap) * (int64) sizeof(int64) + st->capnames)
		cdp_bad_state("markov", "length does not match the header");
	return st;
}

/*
 * Checks a whole Markov state: counts not negative, unused cells zero, every
 * channel left as often as entered, the start row summing to the journeys
 * and the conversion column to the conversions.
 */
static MarkovState *
markov_check(bytea *b)
{
	MarkovState *st = markov_header(b);
	int			n = st->nchan,
				r,
				c;
	int64		start = 0,
				conv = 0;

	cdp_dict_check("markov", MARKOV_NAMES(st), st->namebytes, n, NULL, NULL);
	for (r = 0; r <= st->cap; r++)
		for (c = 0; c < st->cap + 2; c++)
		{
			int64		v = MARKOV_CELL(st, r, c);
			bool		used = r <= n && (c < n || c >= st->cap);

			if (v < 0 || (!used && v != 0))
				cdp_bad_state("markov", "invalid transition count");
		}
	for (c = 0; c < n; c++)
		start += MARKOV_CELL(st, 0, c);
	if (MARKOV_CELL(st, 0, st->cap) != 0 || MARKOV_CELL(st, 0, st->cap + 1) != 0)
		cdp_bad_state("markov", "a journey that ends before its first touch");
	for (r = 1; r <= n; r++)
	{
		int64		in = 0,
					out = 0;

		for (c = 0; c < st->cap + 2; c++)
			out += MARKOV_CELL(st, r, c);
		for (c = 0; c <= n; c++)
			in += MARKOV_CELL(st, c, r - 1);
		if (in != out)
			cdp_bad_state("markov", "a channel is entered and left a different number of times");
		conv += MARKOV_CELL(st, r, st->cap);
	}
	if (start != st->paths || conv != st->conversions)
		cdp_bad_state("markov", "journey or conversion counts do not add up");
	return st;
}

/* Unpacks a (checked) Markov state into m: names and counts over nchan channels. */
void
cdp_markov_unpack(bytea *b, CdpMarkovModel *m)
{
	MarkovState *st = markov_check(b);
	int			n = st->nchan,
				r,
				c;

	m->nchan = n;
	m->names = palloc(sizeof(char *) * Max(n, 1));
	cdp_dict_check("markov", MARKOV_NAMES(st), st->namebytes, n, m->names, NULL);
	m->trans = palloc0(sizeof(int64) * CDP_MARKOV_ROWS(n) * CDP_MARKOV_COLS(n));
	for (r = 0; r <= n; r++)
	{
		for (c = 0; c < n; c++)
			m->trans[(int64) r * CDP_MARKOV_COLS(n) + c] = MARKOV_CELL(st, r, c);
		m->trans[(int64) r * CDP_MARKOV_COLS(n) + n] = MARKOV_CELL(st, r, st->cap);
		m->trans[(int64) r * CDP_MARKOV_COLS(n) + n + 1] = MARKOV_CELL(st, r, st->cap + 1);
	}
	m->paths = st->paths;
	m->conversions = st->conversions;
	m->collapse = st->collapse;
}

/* A new, empty Markov state with room for cap channels and capnames bytes of names. */
static MarkovState *
markov_new(int cap, int capnames, bool collapse)
{
	int64		size = (int64) MARKOV_HDRSZ + MARKOV_CELLS(cap) * (int64) sizeof(int64) + capnames;
	MarkovState *st;

	if (cap > CDP_MARKOV_MAX_CHANNELS || size >= (int64) MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a markov model holds at most %d channels", CDP_MARKOV_MAX_CHANNELS),
				 errhint("Group channels into fewer channel groups.")));
	st = palloc0(size);
	SET_VARSIZE(st, size);
	st->version = CDP_MARKOV_STATE_VERSION;
	st->collapse = collapse ? 1 : 0;
	st->cap = cap;
	st->capnames = capnames;
	return st;
}

/* A copy of st with room for at least cap channels and capnames bytes of names. */
static MarkovState *
markov_grow(MarkovState *st, int cap, int capnames)
{
	MarkovState *g;
	int			r,
				c;

	cap = Max(cap, st->cap);
	capnames = Max(capnames, st->capnames);
	g = markov_new(cap, capnames, st->collapse);
	g->nchan = st->nchan;
	g->namebytes = st->namebytes;
	g->paths = st->paths;
	g->conversions = st->conversions;
	for (r = 0; r <= st->nchan; r++)
	{
		for (c = 0; c < st->nchan; c++)
			MARKOV_CELL(g, r, c) = MARKOV_CELL(st, r, c);
		MARKOV_CELL(g, r, g->cap) = MARKOV_CELL(st, r, st->cap);
		MARKOV_CELL(g, r, g->cap + 1) = MARKOV_CELL(st, r, st->cap + 1);
	}
	memcpy(MARKOV_NAMES(g), MARKOV_NAMES(st), st->namebytes);
	return g;
}

/* Packs m into a state without spare room. */
bytea *
cdp_markov_pack(const CdpMarkovModel *m)
{
	int64		namebytes = 0;
	int			i,
				r,
				c,
				n = m->nchan;
	MarkovState *st;
	char	   *p;

	for (i = 0; i < n; i++)
		namebytes += CDP_DICT_ENTRY(strlen(m->names[i]));
	st = markov_new(n, (int) namebytes, m->collapse);
	st->nchan = n;
	st->namebytes = (int32) namebytes;
	st->paths = m->paths;
	st->conversions = m->conversions;
	for (r = 0; r <= n; r++)
	{
		for (c = 0; c < n; c++)
			MARKOV_CELL(st, r, c) = m->trans[(int64) r * CDP_MARKOV_COLS(n) + c];
		MARKOV_CELL(st, r, n) = m->trans[(int64) r * CDP_MARKOV_COLS(n) + n];
		MARKOV_CELL(st, r, n + 1) = m->trans[(int64) r * CDP_MARKOV_COLS(n) + n + 1];
	}
	p = MARKOV_NAMES(st);
	for (i = 0; i < n; i++)
		p += cdp_dict_put(p, m->names[i], strlen(m->names[i]));
	return (bytea *) st;
}

/*
 * The index of a path's channel in a growing state's dictionary, appended
 * when new; *stp may be replaced by a grown copy.
 */
static int32
markov_channel(MarkovState **stp, const char *name, int len)
{
	MarkovState *st = *stp;
	int32		i = cdp_dict_find(MARKOV_NAMES(st), st->namebytes, name, len);

	if (i >= 0 && i < st->nchan)
		return i;
	if (st->nchan == st->cap || st->namebytes + CDP_DICT_ENTRY(len) > st->capnames)
	{
		if (st->nchan >= CDP_MARKOV_MAX_CHANNELS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a markov model holds at most %d channels", CDP_MARKOV_MAX_CHANNELS),
					 errhint("Group channels into fewer channel groups.")));
		st = markov_grow(st, Min(Max(st->cap * 2, 8), CDP_MARKOV_MAX_CHANNELS),
						 Max(st->capnames * 2, st->namebytes + CDP_DICT_ENTRY(len) + 256));
		*stp = st;
	}
	st->namebytes += cdp_dict_put(MARKOV_NAMES(st) + st->namebytes, name, len);
	return st->nchan++;
}

/* Collapses a path in place when asked; returns its length. */
static int
maybe_collapse(CdpPath *p, bool collapse)
{
	if (collapse)
		p->n = cdp_collapse_path(p->ch, p->at, p->n);
	return p->n;
}

PG_FUNCTION_INFO_V1(cdp_markov_trans);
PG_FUNCTION_INFO_V1(cdp_markov_combine);
PG_FUNCTION_INFO_V1(cdp_markov_removal_effects);

/*
 * Transition of markov_agg(path, converted, collapse): counts the path's
 * transitions (NULL paths and NULL outcomes add nothing).  The state is
 * updated in place; a grown copy is built in the per-row context and the
 * executor moves it into the aggregate context.
 */
Datum
cdp_markov_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	MarkovState *st;
	CdpPath		p;
	int32	   *map;
	int			i,
				n,
				r;
	bool		collapse;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_markov_trans called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate.")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("collapse must not be NULL"),
				 errhint("Pass true to merge consecutive touches of one channel, false to keep them.")));
	collapse = PG_GETARG_BOOL(3);
	if (PG_ARGISNULL(0))
		st = markov_new(8, 256, collapse);
	else
	{
		st = markov_header(PG_DETOAST_DATUM(PG_GETARG_DATUM(0)));
		if (st->collapse != (collapse ? 1 : 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("collapse must be the same for all rows of a group"),
					 errhint("Pass a constant.")));
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	cdp_path_unpack(PG_GETARG_BYTEA_P(1), &p);
	n = maybe_collapse(&p, collapse);
	if (n == 0)
		PG_RETURN_POINTER(st);
	map = palloc(sizeof(int32) * Max(p.nchan, 1));
	for (i = 0; i < p.nchan; i++)
		map[i] = -1;
	for (i = 0; i < n; i++)
		if (map[p.ch[i]] < 0)
			map[p.ch[i]] = markov_channel(&st, p.names[p.ch[i]], p.lens[p.ch[i]]);
	MARKOV_CELL(st, 0, map[p.ch[0]])++;
	for (i = 0; i + 1 < n; i++)
		MARKOV_CELL(st, 1 + map[p.ch[i]], map[p.ch[i + 1]])++;
	r = 1 + map[p.ch[n - 1]];
	if (PG_GETARG_BOOL(2))
	{
		MARKOV_CELL(st, r, st->cap)++;
		st->conversions++;
	}
	else
		MARKOV_CELL(st, r, st->cap + 1)++;
	st->paths++;
	PG_RETURN_POINTER(st);
}

/* Combine of markov_agg: adds the counts of two states over the union of their channels. */
Datum
cdp_markov_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	CdpMarkovModel a,
				b,
				u;
	int32	   *map;
	int			i,
				r,
				c,
				n;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_markov_combine called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate.")));
	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(markov_check(PG_GETARG_BYTEA_P(0)));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(markov_check(PG_GETARG_BYTEA_P(1)));
	cdp_markov_unpack(PG_GETARG_BYTEA_P(0), &a);
	cdp_markov_unpack(PG_GETARG_BYTEA_P(1), &b);
	if (a.collapse != b.collapse)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine markov states with and without collapsed repeats")));
	/* the union of the dictionaries: a's channels, then b's new ones */
	map = palloc(sizeof(int32) * Max(b.nchan, 1));
	u.names = palloc(sizeof(char *) * Max(a.nchan + b.nchan, 1));
	for (i = 0; i < a.nchan; i++)
		u.names[i] = a.names[i];
	n = a.nchan;
	for (i = 0; i < b.nchan; i++)
	{
		int			j;

		for (j = 0; j < a.nchan; j++)
			if (strcmp(a.names[j], b.names[i]) == 0)
				break;
		if (j == a.nchan)
			u.names[j = n++] = b.names[i];
		map[i] = j;
	}
	if (n > CDP_MARKOV_MAX_CHANNELS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a markov model holds at most %d channels", CDP_MARKOV_MAX_CHANNELS)));
	u.nchan = n;
	u.collapse = a.collapse;
	u.paths = a.paths + b.paths;
	u.conversions = a.conversions + b.conversions;
	u.trans = palloc0(sizeof(int64) * CDP_MARKOV_ROWS(n) * CDP_MARKOV_COLS(n));
	for (r = 0; r <= a.nchan; r++)
	{
		for (c = 0; c < a.nchan; c++)
			u.trans[(int64) r * CDP_MARKOV_COLS(n) + c] += a.trans[(int64) r * CDP_MARKOV_COLS(a.nchan) + c];
		u.trans[(int64) r * CDP_MARKOV_COLS(n) + n] += a.trans[(int64) r * CDP_MARKOV_COLS(a.nchan) + a.nchan];
		u.trans[(int64) r * CDP_MARKOV_COLS(n) + n + 1] += a.trans[(int64) r * CDP_MARKOV_COLS(a.nchan) + a.nchan + 1];
	}
	for (r = 0; r <= b.nchan; r++)
	{
		int			ur = r == 0 ? 0 : 1 + map[r - 1];

		for (c = 0; c < b.nchan; c++)
			u.trans[(int64) ur * CDP_MARKOV_COLS(n) + map[c]] += b.trans[(int64) r * CDP_MARKOV_COLS(b.nchan) + c];
		u.trans[(int64) ur * CDP_MARKOV_COLS(n) + n] += b.trans[(int64) r * CDP_MARKOV_COLS(b.nchan) + b.nchan];
		u.trans[(int64) ur * CDP_MARKOV_COLS(n) + n + 1] += b.trans[(int64) r * CDP_MARKOV_COLS(b.nchan) + b.nchan + 1];
	}
	PG_RETURN_POINTER(cdp_markov_pack(&u));
}

/* qsort order of channel indexes by name */
static char **sort_names;

static int
name_index_cmp(const void *a, const void *b)
{
	return strcmp(sort_names[*(const int *) a], sort_names[*(const int *) b]);
}

/* The order of names (indexes into names[n], by name) in a palloc'd array. */
static int *
order_by_name(char **names, int n)
{
	int		   *ord = palloc(sizeof(int) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		ord[i] = i;
	sort_names = names;
	qsort(ord, n, sizeof(int), name_index_cmp);
	sort_names = NULL;
	return ord;
}

/*
 * Removal effects of a model with its channels ordered by name (so that the
 * floating-point result does not depend on the order channels came in):
 * re[i] for the model's channel i.  Returns P(conversion).
 */
static double
markov_model_effects(const CdpMarkovModel *m, double *re)
{
	int			n = m->nchan,
				r,
				c;
	int		   *ord = order_by_name(m->names, n);
	int		   *pos = palloc(sizeof(int) * Max(n, 1));
	int64	   *t = palloc0(sizeof(int64) * CDP_MARKOV_ROWS(n) * CDP_MARKOV_COLS(n));
	double	   *sre = palloc(sizeof(double) * Max(n, 1));
	double		p;

	for (r = 0; r < n; r++)
		pos[ord[r]] = r;
	for (r = 0; r <= n; r++)
	{
		int			tr = r == 0 ? 0 : 1 + pos[r - 1];

		for (c = 0; c < n; c++)
			t[(int64) tr * CDP_MARKOV_COLS(n) + pos[c]] = m->trans[(int64) r * CDP_MARKOV_COLS(n) + c];
		t[(int64) tr * CDP_MARKOV_COLS(n) + n] = m->trans[(int64) r * CDP_MARKOV_COLS(n) + n];
		t[(int64) tr * CDP_MARKOV_COLS(n) + n + 1] = m->trans[(int64) r * CDP_MARKOV_COLS(n) + n + 1];
	}
	p = cdp_markov_solve(t, n, sre);
	for (r = 0; r < n; r++)
		re[r] = sre[pos[r]];
	pfree(ord);
	pfree(pos);
	pfree(t);
	pfree(sre);
	return p;
}

/* Removal effects of an unpacked model (channels ordered by name), for the pass. */
double
cdp_markov_model_effects(const CdpMarkovModel *m, double *re)
{
	return markov_model_effects(m, re);
}

/*
 * markov_removal_effects(state): per channel (by name) its removal effect,
 * its share of all removal effects, and the conversions that share of the
 * state's conversions makes.
 */
Datum
cdp_markov_removal_effects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CdpMarkovModel m;
	double	   *re;
	double		sum = 0;
	int		   *ord;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	cdp_markov_unpack(PG_GETARG_BYTEA_P(0), &m);
	re = palloc(sizeof(double) * Max(m.nchan, 1));
	markov_model_effects(&m, re);
	for (i = 0; i < m.nchan; i++)
		sum += re[i];
	ord = order_by_name(m.names, m.nchan);
	for (i = 0; i < m.nchan; i++)
	{
		int			c = ord[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		double		share = sum > 0 ? re[c] / sum : 0;

		values[0] = CStringGetTextDatum(m.names[c]);
		values[1] = Float8GetDatum(re[c]);
		values[2] = Float8GetDatum(share);
		values[3] = Float8GetDatum(share * (double) m.conversions);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ----------------------------------------------------------- Shapley states */

/*
 * The state of cdp.shapley_agg: a header, an open-addressing table of
 * capacity (a power of two) slots of channel masks with their journey and
 * conversion counts (mask 0 = empty), then the channel dictionary (at most
 * 64 channels: bit i of a mask is channel i).
 */
typedef struct ShapleyState
{
	int32		vl_len_;
	uint8		version;
	uint8		pad[3];
	int32		nchan;
	int32		namebytes;
	int32		capnames;
	int32		reserved;
	int64		capacity;
	int64		used;
	int64		paths;
	int64		conversions;
} ShapleyState;

#define SHAPLEY_HDRSZ MAXALIGN(sizeof(ShapleyState))
#define SHAPLEY_SLOTS(st) ((CdpSetCount *) ((char *) (st) + SHAPLEY_HDRSZ))
#define SHAPLEY_NAMES(st) ((char *) (st) + SHAPLEY_HDRSZ + (st)->capacity * sizeof(CdpSetCount))
#define SHAPLEY_MAX_SLOTS (INT64CONST(1) << 24)

/* Checks the header of a Shapley state against its length (O(1)). */
static ShapleyState *
shapley_header(bytea *b)
{
	ShapleyState *st = (ShapleyState *) b;
	int64		size = VARSIZE(b);

	if (size < (int64) SHAPLEY_HDRSZ)
		cdp_bad_state("shapley", "too short");
	if (st->version != CDP_SHAPLEY_STATE_VERSION)
		cdp_bad_state("shapley", psprintf("format version %d, expected %d", st->version, CDP_SHAPLEY_STATE_VERSION));
	if (st->nchan < 0 || st->nchan > CDP_SHAPLEY_MAX_CHANNELS || st->namebytes < 0
		|| st->capnames < st->namebytes || st->capacity < 16 || st->capacity > SHAPLEY_MAX_SLOTS
		|| (st->capacity & (st->capacity - 1)) != 0 || st->used < 0 || st->used >= st->capacity
		|| st->paths < 0 || st->conversions < 0 || st->conversions > st->paths)
		cdp_bad_state("shapley", "inconsistent header");
	if (size != (int64) SHAPLEY_HDRSZ + st->capacity * (int64) sizeof(CdpSetCount) + st->capnames)
		cdp_bad_state("shapley", "length does not match the header");
	return st;
}

/* Checks a whole Shapley state: masks within its channels, counts that add up. */
static ShapleyState *
shapley_check(bytea *b)
{
	ShapleyState *st = shapley_header(b);
	CdpSetCount *s = SHAPLEY_SLOTS(st);
	uint64		allowed = st->nchan == 64 ? ~UINT64CONST(0) : (UINT64CONST(1) << st->nchan) - 1;
	int64		i,
				used = 0,
				j = 0,
				c = 0;

	cdp_dict_check("shapley", SHAPLEY_NAMES(st), st->namebytes, st->nchan, NULL, NULL);
	for (i = 0; i < st->capacity; i++)
	{
		if (s[i].mask == 0)
		{
			if (s[i].journeys != 0 || s[i].conversions != 0)
				cdp_bad_state("shapley", "counts in an empty slot");
			continue;
		}
		if ((s[i].mask & ~allowed) != 0 || s[i].journeys <= 0 || s[i].conversions < 0
			|| s[i].conversions > s[i].journeys)
			cdp_bad_state("shapley", "invalid channel set");
		used++;
		j += s[i].journeys;
		c += s[i].conversions;
	}
	if (used != st->used || j != st->paths || c != st->conversions)
		cdp_bad_state("shapley", "journey or conversion counts do not add up");
	return st;
}

/* A new, empty Shapley state with capacity slots and capnames bytes for names. */
static ShapleyState *
shapley_new(int64 capacity, int capnames)
{
	int64		size;
	ShapleyState *st;

	if (capacity > SHAPLEY_MAX_SLOTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct channel sets for a shapley model"),
				 errhint("Group channels into fewer channel groups.")));
	size = (int64) SHAPLEY_HDRSZ + capacity * (int64) sizeof(CdpSetCount) + capnames;
	st = palloc_extended(size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	SET_VARSIZE(st, size);
	st->version = CDP_SHAPLEY_STATE_VERSION;
	st->capacity = capacity;
	st->capnames = capnames;
	return st;
}

/* The slot of mask in a state's table, or NULL when the table has no room (only a forged state). */
static CdpSetCount *
shapley_slot(ShapleyState *st, uint64 mask)
{
	CdpSetCount *s = SHAPLEY_SLOTS(st);
	uint64		i = mask_hash(mask) & (st->capacity - 1);
	int64		step;

	for (step = 0; step < st->capacity; step++)
	{
		if (s[i].mask == 0 || s[i].mask == mask)
			return &s[i];
		i = (i + 1) & (st->capacity - 1);
	}
	cdp_bad_state("shapley", "the table is full");
}

/* A copy of st with at least capacity slots and capnames bytes of names. */
static ShapleyState *
shapley_grow(ShapleyState *st, int64 capacity, int capnames)
{
	ShapleyState *g = shapley_new(Max(capacity, st->capacity), Max(capnames, st->capnames));
	CdpSetCount *s = SHAPLEY_SLOTS(st);
	int64		i;

	g->nchan = st->nchan;
	g->namebytes = st->namebytes;
	g->paths = st->paths;
	g->conversions = st->conversions;
	memcpy(SHAPLEY_NAMES(g), SHAPLEY_NAMES(st), st->namebytes);
	for (i = 0; i < st->capacity; i++)
		if (s[i].mask != 0)
		{
			CdpSetCount *d = shapley_slot(g, s[i].mask);

			if (d->mask == 0)
				g->used++;
			*d = s[i];
		}
	return g;
}

/* Adds a channel set to a growing state; *stp may be replaced by a grown copy. */
static void
shapley_add(ShapleyState **stp, uint64 mask, int64 journeys, int64 conversions)
{
	ShapleyState *st = *stp;
	CdpSetCount *s;

	if ((st->used + 1) * 2 > st->capacity)
		*stp = st = shapley_grow(st, st->capacity * 2, st->capnames);
	s = shapley_slot(st, mask);
	if (s->mask == 0)
	{
		s->mask = mask;
		st->used++;
	}
	s->journeys += journeys;
	s->conversions += conversions;
	st->paths += journeys;
	st->conversions += conversions;
}

/* The bit of a channel in a growing state, appended when new. */
static int
shapley_channel(ShapleyState **stp, const char *name, int len)
{
	ShapleyState *st = *stp;
	int32		i = cdp_dict_find(SHAPLEY_NAMES(st), st->namebytes, name, len);

	if (i >= 0 && i < st->nchan)
		return i;
	if (st->nchan >= CDP_SHAPLEY_MAX_CHANNELS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a shapley model holds at most %d channels", CDP_SHAPLEY_MAX_CHANNELS),
				 errdetail("Coalitions of channels are 64-bit masks."),
				 errhint("Group channels into fewer channel groups.")));
	if (st->namebytes + CDP_DICT_ENTRY(len) > st->capnames)
		*stp = st = shapley_grow(st, st->capacity, Max(st->capnames * 2, st->namebytes + CDP_DICT_ENTRY(len) + 256));
	st->namebytes += cdp_dict_put(SHAPLEY_NAMES(st) + st->namebytes, name, len);
	return st->nchan++;
}

/* Unpacks a (checked) Shapley state into m, its set table in CurrentMemoryContext. */
void
cdp_shapley_unpack(bytea *b, CdpShapleyModel *m)
{
	ShapleyState *st = shapley_check(b);
	CdpSetCount *s = SHAPLEY_SLOTS(st);
	int64		i;

	m->nchan = st->nchan;
	m->names = palloc(sizeof(char *) * Max(st->nchan, 1));
	cdp_dict_check("shapley", SHAPLEY_NAMES(st), st->namebytes, st->nchan, m->names, NULL);
	cdp_settable_init(&m->sets, CurrentMemoryContext, st->used * 2 + 16);
	for (i = 0; i < st->capacity; i++)
		if (s[i].mask != 0)
			cdp_settable_add(&m->sets, s[i].mask, s[i].journeys, s[i].conversions);
	cdp_settable_worths(&m->sets, st->nchan);
	m->paths = st->paths;
	m->conversions = st->conversions;
}

/* Packs m into a state (table at half load). */
bytea *
cdp_shapley_pack(const CdpShapleyModel *m)
{
	int64		namebytes = 0,
				cap = 16,
				i;
	int			c;
	ShapleyState *st;
	char	   *p;

	for (c = 0; c < m->nchan; c++)
		namebytes += CDP_DICT_ENTRY(strlen(m->names[c]));
	while (cap < (m->sets.used + 1) * 2)
		cap *= 2;
	st = shapley_new(cap, (int) namebytes);
	st->nchan = m->nchan;
	p = SHAPLEY_NAMES(st);
	for (c = 0; c < m->nchan; c++)
		p += cdp_dict_put(p, m->names[c], strlen(m->names[c]));
	st->namebytes = (int32) namebytes;
	for (i = 0; i < m->sets.capacity; i++)
		if (m->sets.slots[i].mask != 0)
			shapley_add(&st, m->sets.slots[i].mask, m->sets.slots[i].journeys, m->sets.slots[i].conversions);
	return (bytea *) st;
}

PG_FUNCTION_INFO_V1(cdp_shapley_trans);
PG_FUNCTION_INFO_V1(cdp_shapley_combine);
PG_FUNCTION_INFO_V1(cdp_shapley_values);
PG_FUNCTION_INFO_V1(cdp_shapley_journeys);
PG_FUNCTION_INFO_V1(cdp_shapley_game_fn);

/* Transition of shapley_agg(path, converted): counts the path's channel set. */
Datum
cdp_shapley_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ShapleyState *st;
	CdpPath		p;
	uint64		mask = 0;
	int			i;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_shapley_trans called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate.")));
	if (PG_ARGISNULL(0))
		st = shapley_new(16, 256);
	else
		st = shapley_header(PG_DETOAST_DATUM(PG_GETARG_DATUM(0)));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	cdp_path_unpack(PG_GETARG_BYTEA_P(1), &p);
	if (p.n == 0)
		PG_RETURN_POINTER(st);
	for (i = 0; i < p.nchan; i++)
	{
		int			j;

		for (j = 0; j < p.n && p.ch[j] != i; j++)
			;
		if (j < p.n)
			mask |= UINT64CONST(1) << shapley_channel(&st, p.names[i], p.lens[i]);
	}
	shapley_add(&st, mask, 1, PG_GETARG_BOOL(2) ? 1 : 0);
	PG_RETURN_POINTER(st);
}

/* Combine of shapley_agg: adds two states' set counts over the union of their channels. */
Datum
cdp_shapley_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ShapleyState *a,
			   *b;
	char	  **bnames;
	int			bits[64];
	int			i;
	CdpSetCount *s;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cdp_shapley_combine called in non-aggregate context"),
				 errhint("It is the transition or combine function of an aggregate.")));
	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(shapley_check(PG_GETARG_BYTEA_P(0)));
	b = shapley_check(PG_GETARG_BYTEA_P(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(b);
	a = shapley_check(PG_GETARG_BYTEA_P(0));
	a = shapley_grow(a, a->capacity, a->capnames);	/* a copy we may change */
	bnames = palloc(sizeof(char *) * Max(b->nchan, 1));
	cdp_dict_check("shapley", SHAPLEY_NAMES(b), b->namebytes, b->nchan, bnames, NULL);
	for (i = 0; i < b->nchan; i++)
		bits[i] = shapley_channel(&a, bnames[i], strlen(bnames[i]));
	s = SHAPLEY_SLOTS(b);
	for (int64 k = 0; k < b->capacity; k++)
	{
		uint64		m = 0;

		if (s[k].mask == 0)
			continue;
		for (i = 0; i < b->nchan; i++)
			if (s[k].mask & (UINT64CONST(1) << i))
				m |= UINT64CONST(1) << bits[i];
		shapley_add(&a, m, s[k].journeys, s[k].conversions);
	}
	PG_RETURN_POINTER(a);
}

/* The channel bits of a mask, lowest first, into bits[]; returns how many. */
static int
mask_bits(uint64 mask, int *bits)
{
	int			i,
				k = 0;

	for (i = 0; i < 64; i++)
		if (mask & (UINT64CONST(1) << i))
			bits[k++] = i;
	return k;
}

/*
 * shapley_values(state): the conversions each channel earns when every
 * converting channel set's conversions are split by its Shapley credits,
 * and that as a share.  Sets too large for the exact computation, or
 * worth nothing, are split equally (a NOTICE says how many).
 */
Datum
cdp_shapley_values(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CdpShapleyModel m;
	double	   *total;
	double		out[64];
	int			bits[64];
	int64		i,
				fallback = 0;
	int		   *ord;
	int			c;

	InitMaterializedSRF(fcinfo, 0);
	cdp_shapley_unpack(PG_GETARG_BYTEA_P(0), &m);
	total = palloc0(sizeof(double) * Max(m.nchan, 1));
	for (i = 0; i < m.sets.capacity; i++)
	{
		const CdpSetCount *s = &m.sets.slots[i];
		int			k;

		if (s->mask == 0 || s->conversions == 0)
			continue;
		k = mask_bits(s->mask, bits);
		if (!cdp_shapley_journey(&m.sets, s->mask, out))
		{
			for (c = 0; c < k; c++)
				out[c] = 1.0 / k;
			fallback++;
		}
		for (c = 0; c < k; c++)
			total[bits[c]] += out[c] * (double) s->conversions;
	}
	if (fallback > 0)
		ereport(NOTICE,
				(errmsg("%lld channel sets were split equally", (long long) fallback),
				 errdetail("Their journeys have more than %d distinct channels, or their coalitions are worth nothing.",
						   CDP_SHAPLEY_MAX_JOURNEY)));
	ord = order_by_name(m.names, m.nchan);
	for (c = 0; c < m.nchan; c++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(m.names[ord[c]]);
		values[1] = Float8GetDatum(total[ord[c]]);
		values[2] = Float8GetDatum(m.conversions > 0 ? total[ord[c]] / (double) m.conversions : 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * shapley_journeys(state): every exact channel set (names in name order)
 * with its journeys, conversions, conversion rate and, for a converting
 * set, the Shapley credit of each of its channels (NULL when it is split
 * equally: too many channels, or worth nothing).
 */
Datum
cdp_shapley_journeys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CdpShapleyModel m;
	int		   *ord;
	int		   *pos;
	int64		i;
	int			bits[64];

	InitMaterializedSRF(fcinfo, 0);
	cdp_shapley_unpack(PG_GETARG_BYTEA_P(0), &m);
	ord = order_by_name(m.names, m.nchan);
	pos = palloc(sizeof(int) * Max(m.nchan, 1));
	for (i = 0; i < m.nchan; i++)
		pos[ord[i]] = (int) i;
	for (i = 0; i < m.sets.capacity; i++)
	{
		const CdpSetCount *s = &m.sets.slots[i];
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, true};
		Datum		elems[64];
		double		out[64];
		int			k,
					c,
					d;
		bool		have_credits;

		if (s->mask == 0)
			continue;
		k = mask_bits(s->mask, bits);
		/* credits in bit order, before the bits are put in name order */
		have_credits = s->conversions > 0 && cdp_shapley_journey(&m.sets, s->mask, out);
		/* channel names in name order */
		for (c = 0; c < k; c++)
			for (d = c + 1; d < k; d++)
				if (pos[bits[d]] < pos[bits[c]])
				{
					int			t = bits[c];
					double		o = out[c];

					bits[c] = bits[d];
					bits[d] = t;
					out[c] = out[d];
					out[d] = o;
				}
		for (c = 0; c < k; c++)
			elems[c] = CStringGetTextDatum(m.names[bits[c]]);
		values[0] = PointerGetDatum(construct_array(elems, k, TEXTOID, -1, false, TYPALIGN_INT));
		values[1] = Int64GetDatum(s->journeys);
		values[2] = Int64GetDatum(s->conversions);
		values[3] = Float8GetDatum((double) s->conversions / (double) s->journeys);
		if (have_credits)
		{
			for (c = 0; c < k; c++)
				elems[c] = Float8GetDatum(out[c]);
			values[4] = PointerGetDatum(construct_array(elems, k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			nulls[4] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * shapley(players, worth): Shapley values of an explicit game; worth[m]
 * (1-based array, m = 1 .. 2^n - 1) is the worth of the coalition whose
 * bit i - 1 is set for each player i in it.
 */
Datum
cdp_shapley_game_fn(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *pa = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *wa = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *players;
	bool	   *pnull;
	Datum	   *worth;
	bool	   *wnull;
	int			n,
				nw,
				i;
	double	   *v;
	double		phi[64];

	if (ARR_NDIM(pa) > 1 || ARR_NDIM(wa) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("players and worth must be one-dimensional arrays")));
	deconstruct_array(pa, TEXTOID, -1, false, TYPALIGN_INT, &players, &pnull, &n);
	deconstruct_array(wa, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &worth, &wnull, &nw);
	if (n < 1 || n > 24)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a game needs 1 to 24 players, not %d", n),
				 errdetail("Every one of the 2^n - 1 coalitions needs a worth.")));
	if (nw != (1 << n) - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a game of %d players needs %d coalition worths, not %d", n, (1 << n) - 1, nw),
				 errdetail("worth[m] is the worth of the coalition whose bit i - 1 is set for each player i in it."),
				 errhint("For players {O,F,D}: worth = {O, F, OF, D, OD, FD, OFD}.")));
	for (i = 0; i < n; i++)
		if (pnull[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("player names must not be NULL")));
	v = palloc(sizeof(double) * (nw + 1));
	v[0] = 0;
	for (i = 0; i < nw; i++)
	{
		if (wnull[i] || isnan(DatumGetFloat8(worth[i])) || isinf(DatumGetFloat8(worth[i])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("coalition worth %d must be a finite number", i + 1)));
		v[i + 1] = DatumGetFloat8(worth[i]);
	}
	InitMaterializedSRF(fcinfo, 0);
	cdp_shapley_game(v, n, phi);
	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = players[i];
		values[1] = Float8GetDatum(phi[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ------------------------------------------------------------ cdp.attribute */

/* Microseconds of a positive interval (a month counts 30 days); errors otherwise. */
static double
interval_us(Interval *iv, const char *what)
{
	double		us = (double) iv->month * DAYS_PER_MONTH * USECS_PER_DAY
		+ (double) iv->day * USECS_PER_DAY + (double) iv->time;

	if (!(us > 0) || isinf(us))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval, not %s", what,
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(iv)))),
				 errhint("Use an interval such as '7 days'.")));
	return us;
}

/* Checks the position-based shares: finite, not negative, summing to at most 1. */
void
cdp_check_position_weights(double f, double l)
{
	if (isnan(f) || isnan(l) || f < 0 || l < 0 || f + l > 1.0 + 1e-12)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("position-based shares %g (first) and %g (last) are invalid", f, l),
				 errdetail("Both must lie between 0 and 1 and sum to at most 1; the middle touches share the rest."),
				 errhint("The usual split is 0.4 and 0.4 (40/20/40).")));
}

PG_FUNCTION_INFO_V1(cdp_attribute);

/*
 * attribute(path, converted_at, value, collapse, half_life, position_first,
 * position_last, direct_channels): the heuristic models' credits of one
 * conversion, per model and channel: credit (summing to 1 per model) and
 * value (the conversion's value split by largest remainder, so the parts
 * sum to it exactly).  Touches after converted_at are left out; a
 * conversion without touches goes to '(none)'.
 */
Datum
cdp_attribute(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CdpPath		p;
	CdpHeuristicParams hp;
	CdpPathCredits pc;
	TimestampTz conv;
	bool		collapse,
				have_value = false;
	bool	   *is_direct;
	int64		units = 0;
	int16		scale = 0;
	int64	   *parts;
	double	   *cr;
	int			i,
				m,
				n;

	for (i = 1; i < 8; i++)
		if (i != 2 && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("only the path and the value of cdp.attribute may be NULL"),
					 errdetail("Argument %d is NULL.", i + 1)));
	conv = PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_NOT_FINITE(conv))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the conversion time must be finite")));
	collapse = PG_GETARG_BOOL(3);
	hp.half_life_us = interval_us(PG_GETARG_INTERVAL_P(4), "the time-decay half-life");
	hp.position_first = PG_GETARG_FLOAT8(5);
	hp.position_last = PG_GETARG_FLOAT8(6);
	cdp_check_position_weights(hp.position_first, hp.position_last);
	if (!PG_ARGISNULL(2))
		have_value = cdp_numeric_units(PG_GETARG_DATUM(2), &units, &scale);

	if (PG_ARGISNULL(0))
	{
		p.n = 0;
		p.nchan = 0;
	}
	else
		cdp_path_unpack(PG_GETARG_BYTEA_P(0), &p);
	/* touches after the conversion do not count */
	for (n = 0; n < p.n && p.at[n] <= conv; n++)
		;
	p.n = n;
	n = maybe_collapse(&p, collapse);

	/* direct channels, by name */
	is_direct = palloc0(sizeof(bool) * Max(p.nchan, 1));
	{
		ArrayType  *da = PG_GETARG_ARRAYTYPE_P(7);
		Datum	   *d;
		bool	   *dn;
		int			nd,
					j;

		deconstruct_array(da, TEXTOID, -1, false, TYPALIGN_INT, &d, &dn, &nd);
		for (j = 0; j < nd; j++)
		{
			if (dn[j])
				continue;
			for (i = 0; i < p.nchan; i++)
				if (strcmp(p.names[i], TextDatumGetCString(d[j])) == 0)
					is_direct[i] = true;
		}
	}

	InitMaterializedSRF(fcinfo, 0);
	if (n == 0)
	{
		for (m = 0; m < CDP_N_HEURISTIC; m++)
		{
			Datum		values[4];
			bool		nulls[4] = {false, false, false, !have_value};

			values[0] = CStringGetTextDatum(cdp_model_names[m]);
			values[1] = CStringGetTextDatum(CDP_NO_TOUCH_CHANNEL);
			values[2] = Float8GetDatum(1.0);
			values[3] = have_value ? cdp_units_numeric(units, scale) : (Datum) 0;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		return (Datum) 0;
	}
	cdp_path_credits_init(&pc, p.nchan);
	cdp_heuristic_credits(&pc, p.ch, p.at, n, is_direct, &hp);
	parts = palloc(sizeof(int64) * pc.k);
	for (m = 0; m < CDP_N_HEURISTIC; m++)
	{
		cr = &CDP_CREDIT(&pc, m, 0);
		if (have_value)
			cdp_split_units(cr, pc.k, units, parts);
		for (i = 0; i < pc.k; i++)
		{
			Datum		values[4];
			bool		nulls[4] = {false, false, false, !have_value};

			if (cr[i] == 0 && (!have_value || parts[i] == 0))
				continue;		/* a channel this model gives nothing */

			values[0] = CStringGetTextDatum(cdp_model_names[m]);
			values[1] = CStringGetTextDatum(p.names[pc.chan[i]]);
			values[2] = Float8GetDatum(cr[i]);
			values[3] = have_value ? cdp_units_numeric(parts[i], scale) : (Datum) 0;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
