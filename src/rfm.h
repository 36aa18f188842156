/*
 * rfm.h — the per-customer RFM/CLV summary aggregate (rfm.c).
 */
#ifndef CDP_RFM_H
#define CDP_RFM_H

#include "datatype/timestamp.h"

/* seconds in a day; purchase days are UTC days */
#define CDP_SECS_PER_DAY 86400.0

/* UTC day number (days since 2000-01-01) of a timestamp */
extern int32 cdp_utc_day(TimestampTz ts);

/* the state of cdp.rfm_agg (a versioned bytea; rfm.c) */
typedef struct RfmState RfmState;

/* what cdp.rfm_agg's final function reports about a non-empty state */
typedef struct RfmSummary
{
	TimestampTz first_ts;
	TimestampTz last_ts;
	int64		orders;
	int32		days;			/* distinct UTC purchase days */
	double		spend;
	double		first_day_spend;
	double		repeat_spend;	/* spend - first_day_spend, exactly, rounded once */
} RfmSummary;

/* adds one order (time not NULL) to st, or to a new state in cxt when st is NULL */
extern RfmState *rfm_state_add(MemoryContext cxt, RfmState *st, TimestampTz ts,
							   Datum amount, bool amount_isnull);
/* orders of a state */
extern int64 rfm_state_orders(const RfmState *st);
/* checks a state datum (detoasted); errors when it is not a valid state */
extern RfmState *rfm_state_check(struct varlena *b);
/* a checked copy of a state datum without its unused room, in the current context */
extern RfmState *rfm_state_copy(struct varlena *b);
/* merges b into a: a updated in place when it has room, else a new state in cxt */
extern RfmState *rfm_merge_into(MemoryContext cxt, RfmState *a, const RfmState *b);
/* distinct purchase days of a state */
extern int32 rfm_state_days(const RfmState *st);
/* the summary of a state */
extern void rfm_state_summary(const RfmState *st, RfmSummary *s);

#endif							/* CDP_RFM_H */
