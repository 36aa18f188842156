/*
 * cdp.h — shared declarations of the cdp extension: settings defined in
 * cdp.c and read by the modules, and the SPI reading helper they share.
 */
#ifndef CDP_H
#define CDP_H

/* cdp.default_country_code: calling code used for national phone numbers */
extern int	cdp_default_country_code;

/* cdp.pseudonym_key: secret key of cdp.pseudonymize() (superuser only) */
extern char *cdp_pseudonym_key;

/* true when loaded through shared_preload_libraries */
extern bool cdp_preloaded;

/*
 * Reading a big result without copying it into SPI tuple tables: the rows go
 * to a DestReceiver one by one.  cdp_receiver_init sets its callbacks (the
 * others do nothing); cdp_execute_into runs sql through SPI into it and
 * errors, naming what, when SPI fails.  (A cursor would also copy, and it
 * rules out a parallel plan.)
 */
struct _DestReceiver;			/* tcop/dest.h */
struct TupleTableSlot;			/* executor/tuptable.h */
extern void cdp_receiver_init(struct _DestReceiver *dest,
							  bool (*receive) (struct TupleTableSlot *slot, struct _DestReceiver *self));
extern void cdp_execute_into(const char *sql, bool read_only, struct _DestReceiver *dest,
							 const char *what);

#endif							/* CDP_H */
