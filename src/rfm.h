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

#endif							/* CDP_RFM_H */
