/*
 * attribution.h — attribution models (attribution.c): the heuristic models
 * over one path, the first-order Markov chain with its removal effects
 * solved exactly, and Shapley values over channel coalitions, plus the
 * bytea states of cdp.markov_agg and cdp.shapley_agg.
 *
 * A path is given as arrays of channel ids and times, in time order; a
 * conversion's credits sum to 1 per model.  The C pass of journeys.c and
 * the SQL functions of attribution.c share this code.
 */
#ifndef CDP_ATTRIBUTION_H
#define CDP_ATTRIBUTION_H

#include "datatype/timestamp.h"

typedef enum CdpModel
{
	CDP_MODEL_FIRST = 0,
	CDP_MODEL_LAST,
	CDP_MODEL_LAST_NON_DIRECT,
	CDP_MODEL_LINEAR,
	CDP_MODEL_POSITION,
	CDP_MODEL_TIME_DECAY,
	CDP_MODEL_MARKOV,
	CDP_MODEL_SHAPLEY,
	CDP_N_MODELS
} CdpModel;

#define CDP_N_HEURISTIC 6

/* model names as stored in cdp.attribution_credits.model */
extern const char *const cdp_model_names[CDP_N_MODELS];

/* the channel a conversion without any touch is credited to */
#define CDP_NO_TOUCH_CHANNEL "(none)"

/* the largest number of distinct channels of one journey Shapley values are computed exactly for */
#define CDP_SHAPLEY_MAX_JOURNEY 20
/* the most channels a Shapley model (its coalitions are 64-bit masks) and a Markov chain hold */
#define CDP_SHAPLEY_MAX_CHANNELS 64
#define CDP_MARKOV_MAX_CHANNELS 2000

/* parameters of the heuristic models */
typedef struct CdpHeuristicParams
{
	double		half_life_us;	/* time decay: half-life in microseconds, > 0 */
	double		position_first; /* position-based: share of the first touch */
	double		position_last;	/* ... and of the last */
} CdpHeuristicParams;

/*
 * Credits of one path: k distinct channels (ids in order of first
 * appearance) and per model a credit for each of them.
 */
typedef struct CdpPathCredits
{
	int			k;
	int			capacity;
	int32	   *chan;			/* [capacity] */
	double	   *credit;			/* [CDP_N_MODELS * capacity], model-major */
	int32	   *slot;			/* [nchannels] scratch: position of a channel id in chan, -1 */
	int			nslots;
} CdpPathCredits;

#define CDP_CREDIT(pc, m, j) ((pc)->credit[(m) * (pc)->capacity + (j)])

/* prepares pc for paths over channel ids 0..nchannels-1 (in CurrentMemoryContext) */
extern void cdp_path_credits_init(CdpPathCredits *pc, int nchannels);
/* sets the distinct channels of a path (ch[0..n-1]) and zeroes the credits */
extern void cdp_path_credits_reset(CdpPathCredits *pc, const int32 *ch, int n);
/* the six heuristic models over a path sorted by time (n >= 1; already collapsed if wanted) */
extern void cdp_heuristic_credits(CdpPathCredits *pc, const int32 *ch, const int64 *at, int n,
								  const bool *is_direct, const CdpHeuristicParams *params);
/* errors unless the position-based shares are valid */
extern void cdp_check_position_weights(double first, double last);
/* collapses runs of one channel in place (keeping the latest time of a run); returns the new length */
extern int	cdp_collapse_path(int32 *ch, int64 *at, int n);

/* splits units (a value in its smallest unit) over k credits by largest remainder: out sums to units */
extern void cdp_split_units(const double *credit, int k, int64 units, int64 *out);
/* a finite numeric as units of 10^-scale (false for NaN, infinities and values beyond int64) */
extern bool cdp_numeric_units(Datum num, int64 *units, int16 *scale);
/* units of 10^-scale as a numeric datum with that scale */
extern Datum cdp_units_numeric(int64 units, int scale);

/*
 * Markov chain counts: (nchan + 1) rows (start, then each channel) by
 * (nchan + 2) columns (each channel, conversion, null).
 */
#define CDP_MARKOV_ROWS(n) ((n) + 1)
#define CDP_MARKOV_COLS(n) ((n) + 2)
extern void cdp_markov_count(int64 *trans, int nchan, const int32 *ch, int n, bool converted);
/* removal effect of each channel into re[nchan]; returns P(conversion) from the start */
extern double cdp_markov_solve(const int64 *trans, int nchan, double *re);

/* exact-set counts of journeys: an open-addressing table keyed by channel masks */
typedef struct CdpSetCount
{
	uint64		mask;			/* 0: empty slot */
	int64		journeys;
	int64		conversions;
} CdpSetCount;

typedef struct CdpSetTable
{
	CdpSetCount *slots;
	int64		capacity;		/* a power of two */
	int64		used;
	MemoryContext cxt;
	double	   *worth;			/* NULL, or the worth of every mask over worth_bits channels */
	int			worth_bits;
} CdpSetTable;

extern void cdp_settable_init(CdpSetTable *t, MemoryContext cxt, int64 capacity);
/* the worth of every coalition at once, when the table's channels are few (at most 20); after the last add */
extern void cdp_settable_worths(CdpSetTable *t, int nchannels);
extern void cdp_settable_add(CdpSetTable *t, uint64 mask, int64 journeys, int64 conversions);
extern const CdpSetCount *cdp_settable_find(const CdpSetTable *t, uint64 mask);

/*
 * Shapley credits of a converting journey with channel set T (at most
 * CDP_SHAPLEY_MAX_JOURNEY bits): out[j] for the j-th set bit of T, summing
 * to 1.  The worth of a coalition S is the conversion rate of the journeys
 * whose channels all lie in S.  False (out untouched) when the set is too
 * large or worth nothing.
 */
extern bool cdp_shapley_journey(const CdpSetTable *t, uint64 T, double *out);
/* Shapley values phi[n] of an explicit game: worth[m] for the coalition with bit mask m (worth[0] = 0) */
extern void cdp_shapley_game(const double *worth, int n, double *phi);

/*
 * The bytea states of cdp.markov_agg and cdp.shapley_agg, also the form
 * cdp.attribution_models stores.  Both start with a channel dictionary.
 */
#define CDP_MARKOV_STATE_VERSION 1
#define CDP_SHAPLEY_STATE_VERSION 1

/* a checked, unpacked Markov state: channel names and counts (palloc'd) */
typedef struct CdpMarkovModel
{
	int			nchan;
	char	  **names;
	int64	   *trans;			/* CDP_MARKOV_ROWS x CDP_MARKOV_COLS */
	int64		paths;
	int64		conversions;
	bool		collapse;
} CdpMarkovModel;

typedef struct CdpShapleyModel
{
	int			nchan;
	char	  **names;
	CdpSetTable sets;
	int64		paths;
	int64		conversions;
} CdpShapleyModel;

extern void cdp_markov_unpack(bytea *b, CdpMarkovModel *m);
/* removal effects re[nchan] of an unpacked model, solved with its channels ordered by name */
extern double cdp_markov_model_effects(const CdpMarkovModel *m, double *re);
extern bytea *cdp_markov_pack(const CdpMarkovModel *m);
extern void cdp_shapley_unpack(bytea *b, CdpShapleyModel *m);
extern bytea *cdp_shapley_pack(const CdpShapleyModel *m);

#endif							/* CDP_ATTRIBUTION_H */
