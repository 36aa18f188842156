/*
 * sources.h — reading the ERP's registered source views (sources.c).
 */
#ifndef CDP_SOURCES_H
#define CDP_SOURCES_H

struct _DestReceiver;			/* tcop/dest.h */

/*
 * Runs every registered source of a kind into dest, each with the rights of
 * the role that registered it (rights.c).  Rows have the kind's contract
 * columns in their declared order and types (NULL for optional columns a
 * view lacks), then source_id integer.  Needs an SPI connection; returns the
 * number of sources read.
 */
extern int	cdp_source_scan(const char *kind, struct _DestReceiver *dest);

#endif							/* CDP_SOURCES_H */
