/*
 * realtime.h — the background worker that works off cdp.realtime_queue
 * (realtime.c, realtime.sql).
 */
#ifndef CDP_REALTIME_H
#define CDP_REALTIME_H

#include "postgres.h"

extern void cdp_realtime_define_gucs(void);
extern PGDLLEXPORT void cdp_realtime_main(Datum arg);

#endif
