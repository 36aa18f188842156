/*
 * cdp.c — module entry point: the library magic, the cdp.* settings and
 * cdp.version().
 *
 * Settings are registered in _PG_init so that a value set in
 * postgresql.conf or with ALTER DATABASE is validated as soon as the library
 * loads; the "cdp" prefix is then reserved so that a typo such as
 * cdp.pseudonymkey is an error instead of a silently ignored placeholder.
 */
#include "postgres.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "cdp.h"
#include "clv.h"
#include "journeys.h"
#include "privacy.h"
#include "realtime.h"
#include "stitch.h"
#include "compat.h"

PG_MODULE_MAGIC;

int			cdp_default_country_code = 49;
char	   *cdp_pseudonym_key = NULL;
bool		cdp_preloaded = false;

void		_PG_init(void);

/* Registers the cdp.* settings. */
void
_PG_init(void)
{
	/*
	 * A custom setting is a placeholder, readable by every role, until the
	 * library defines it; only a preloaded library guards the key from the
	 * first connection on.  cdp.pseudonymize() refuses to run otherwise.
	 */
	cdp_preloaded = process_shared_preload_libraries_in_progress;

	DefineCustomIntVariable("cdp.default_country_code",
							"Country calling code that cdp.normalize('phone', ...) gives national numbers.",
							"A number written with a single leading 0 (030 1234567) is taken as national "
							"and gets this code; 49 is Germany.  Keep it fixed once identifiers are stored.",
							&cdp_default_country_code,
							49, 1, 999,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("cdp.pseudonym_key",
							   "Secret key of cdp.pseudonymize() (HMAC-SHA-256).",
							   "At least 16 bytes.  Only superusers can read or set it, once cdp is in "
							   "shared_preload_libraries; set it with ALTER SYSTEM so that pseudonyms stay stable.",
							   &cdp_pseudonym_key,
							   NULL,
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	cdp_stitch_define_gucs();
	cdp_clv_define_gucs();
	cdp_privacy_define_gucs();
	cdp_journeys_define_gucs();
	cdp_realtime_define_gucs();

	MarkGUCPrefixReserved("cdp");
}

PG_FUNCTION_INFO_V1(cdp_version);

/* Returns the version the library was built as (cdp.control's default_version). */
Datum
cdp_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(CDP_VERSION));
}

/* Callbacks of a DestReceiver that has nothing to do there. */
static void
receiver_startup_noop(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
receiver_noop(DestReceiver *self)
{
}

/* Sets a receiver's callbacks: receive for the rows, nothing for the rest. */
void
cdp_receiver_init(DestReceiver *dest, bool (*receive) (TupleTableSlot *slot, DestReceiver *self))
{
	dest->receiveSlot = receive;
	dest->rStartup = receiver_startup_noop;
	dest->rShutdown = receiver_noop;
	dest->rDestroy = receiver_noop;
	dest->mydest = DestNone;
}

/* Writes a key at the end of the arena without keeping it; returns its offset. */
uint32
cdp_key_arena_put(CdpKeyArena *a, int typ, const char *val, int len)
{
	uint64		need = a->len + (uint64) len + 2;
	uint64		off = a->len;

	if (need > a->cap)
	{
		uint64		cap = a->cap == 0 ? 1024 * 1024 : a->cap;

		/* offsets are 32 bits: 4 GB of identifier values */
		if (need > PG_UINT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many identifier bytes for %s", a->who),
					 errdetail("%s holds at most 4 GB of identifier values at once.", a->who)));
		while (cap < need)
			cap *= 2;
		cap = Min(cap, (uint64) PG_UINT32_MAX + 1);
		a->buf = a->buf == NULL ? MemoryContextAllocHuge(a->cxt, cap) : repalloc_huge(a->buf, cap);
		a->cap = cap;
	}
	a->buf[off] = (char) (typ + 1);
	memcpy(a->buf + off + 1, val, len);
	a->buf[off + 1 + len] = '\0';
	return (uint32) off;
}

/*
 * Bulk work in C (cdp.refresh_rfm, cdp.stitch) allocates and frees arrays
 * of megabytes phase after phase.
 * By default glibc maps each such array afresh and unmaps it when freed
 * (until its dynamic threshold has risen), so every phase page-faults its
 * memory in again, and page faults are dear (on the virtual machine we
 * measured on, 11 us per 4 kB page: 0.3 s of a 3.7 s refresh).  While the
 * work runs, freed memory stays with malloc and is reused, in huge pages
 * where the system allows (advise_huge_heap).  When cxt
 * goes (also on error) the thresholds are set to where glibc's own dynamic
 * adjustment ends up after freeing big arrays (mmap 32 MB, trim twice
 * that): setting them to the initial 128 kB would turn that adjustment off
 * and make the rest of the session fault more than before the refresh.
 */
#ifdef M_MMAP_THRESHOLD
static void
restore_malloc(void *arg)
{
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}
#endif

/*
 * Asks for transparent huge pages on the heap the work is about to use:
 * it grows the heap by about 240 MB of free space (chunks below the mmap
 * threshold come from the heap, and with the trim threshold above they stay
 * there when freed) and advises huge pages on it.  The space is only
 * virtual until touched; touched, it comes in 2 MB pages, one fault each
 * instead of 512.  Measured: 63k minor faults -> 12k per refresh (the rest
 * are shared buffers), 15-20 % off the refresh on a machine where a fault
 * costs 11 us.  Where the heap cannot grow in one piece, or transparent huge
 * pages are off ("never"), nothing changes.
 */
static void
advise_huge_heap(void)
{
#if defined(MADV_HUGEPAGE)
	void	   *chunks[8];
	char	   *lo,
			   *hi;
	int			i;

	lo = sbrk(0);
	for (i = 0; i < 8; i++)
		chunks[i] = malloc(30 * 1024 * 1024);
	hi = sbrk(0);
	for (i = 7; i >= 0; i--)
		free(chunks[i]);
	lo = (char *) TYPEALIGN(2 * 1024 * 1024, lo);
	if (lo != (char *) -1 && hi > lo)
		(void) madvise(lo, hi - lo, MADV_HUGEPAGE);
#endif
}

/*
 * Keeps freed memory with malloc, in huge pages where the system allows,
 * until cxt is reset or deleted (also on error).
 */
void
cdp_keep_freed_memory(MemoryContext cxt)
{
#ifdef M_MMAP_THRESHOLD
	MemoryContextCallback *cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));

	cb->func = restore_malloc;
	cb->arg = NULL;
	MemoryContextRegisterResetCallback(cxt, cb);
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
	advise_huge_heap();
#endif
}

/* Runs sql through SPI with its rows going to dest; errors naming what when SPI fails. */
void
cdp_execute_into(const char *sql, bool read_only, DestReceiver *dest, const char *what)
{
	SPIExecuteOptions opts;
	int			rc;

	memset(&opts, 0, sizeof(opts));
	opts.read_only = read_only;
	opts.dest = dest;
	rc = SPI_execute_extended(sql, &opts);
	/* SPI says SPI_OK_UTILITY for a SELECT whose rows go to a DestNone receiver */
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cdp: could not read the %s: the query is not a SELECT (%s)", what, SPI_result_code_string(rc)),
				 errhint("The %s are read with one SELECT statement.", what)));
}

/*
 * Errors (22004) when one of the first n arguments of fn is NULL: for the
 * internal entry points that are not STRICT because some of their
 * arguments may be NULL, or that must not silently return NULL.
 */
void
cdp_require_args(FunctionCallInfo fcinfo, const char *fn, int n)
{
	int			i;

	for (i = 0; i < n && i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of %s must not be NULL", i + 1, fn),
					 errhint("%s is called by cdp's own functions; call those instead.", fn)));
}
