/*
 * cdp.h — shared declarations of the cdp extension: settings defined in
 * cdp.c and read by the modules, and the helpers they share (reading big
 * results through SPI, the key arena of identifier hash tables).
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

/*
 * A string arena of identifier keys: per key a type byte (type index + 1),
 * the value and a NUL, addressed by 32-bit offsets (so at most 4 GB).
 * cdp_key_arena_put writes a key at the end without keeping it; the caller
 * keeps it with cdp_key_arena_keep (after a hash probe found it new, say).
 * who names the caller in the error at the limit.  stitch.c and
 * rfm_refresh.c key their hash tables by these offsets.
 */
typedef struct CdpKeyArena
{
	MemoryContext cxt;
	const char *who;
	char	   *buf;
	uint64		len;
	uint64		cap;
} CdpKeyArena;

extern uint32 cdp_key_arena_put(CdpKeyArena *a, int typ, const char *val, int len);

static inline void
cdp_key_arena_keep(CdpKeyArena *a, int len)
{
	a->len += (uint64) len + 2;
}

/* keeps memory freed by big phases with malloc (in huge pages) until cxt goes */
extern void cdp_keep_freed_memory(MemoryContext cxt);
struct FunctionCallInfoBaseData;	/* fmgr.h */
extern void cdp_require_args(struct FunctionCallInfoBaseData *fcinfo, const char *fn, int n);

#endif							/* CDP_H */
