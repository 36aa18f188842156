/*
 * realtime.c — the background worker of incremental membership.
 *
 * Registered by _PG_init when cdp is in shared_preload_libraries and
 * cdp.realtime_database names a database: it connects there and calls
 * cdp.realtime_process() in a loop, one transaction per batch, so the
 * dequeue and the entries/exits (and the outbox rows) commit together: a
 * crash rolls the batch back and the queue rows come back.  It sleeps
 * cdp.realtime_naptime between empty rounds, and prunes the outbox now and
 * then.  The postmaster restarts it a second after it dies.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "realtime.h"

static char *cdp_realtime_database = NULL;
static int	cdp_realtime_naptime = 100;
static int	cdp_realtime_batch = 1000;
static bool cdp_realtime = false;
static int	cdp_offer_cooldown = 240;
static int	cdp_offer_lookback = 14 * 24 * 60;

/* Defines the cdp.realtime* settings and registers the worker when asked to. */
void
cdp_realtime_define_gucs(void)
{
	BackgroundWorker worker;

	DefineCustomBoolVariable("cdp.realtime",
							 "Queue the profiles whose inputs change, for incremental segment membership.",
							 "On: triggers on cdp's tables and cdp.touch_profile() queue dirty profiles in "
							 "cdp.realtime_queue; the worker (cdp.realtime_database) or cdp.realtime_process() "
							 "works them off.  Off: the nightly refresh alone keeps the segments.",
							 &cdp_realtime,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("cdp.realtime_naptime",
							"Milliseconds the realtime worker sleeps when the queue is empty.",
							NULL,
							&cdp_realtime_naptime,
							100, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cdp.realtime_batch",
							"Most queued profiles the realtime worker evaluates in one transaction.",
							NULL,
							&cdp_realtime_batch,
							1000, 1, 1000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cdp.offer_cooldown",
							"No second offer at the door to a profile at the same store within this time.",
							"cdp.offer_at_door() reads it; the app cannot change it.",
							&cdp_offer_cooldown,
							240, 0, 365 * 24 * 60,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cdp.offer_lookback",
							"How far back cdp.offer_at_door() looks for articles viewed online or clicked in a newsletter.",
							NULL,
							&cdp_offer_lookback,
							14 * 24 * 60, 1, 365 * 24 * 60,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	/* a postmaster setting can only be defined while preloading */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomStringVariable("cdp.realtime_database",
							   "Database whose cdp.realtime_queue the background worker works off.",
							   "Empty (the default): no worker.  Needs cdp in shared_preload_libraries and a restart.",
							   &cdp_realtime_database,
							   "",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	if (cdp_realtime_database == NULL || cdp_realtime_database[0] == '\0')
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "cdp");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "cdp_realtime_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "cdp realtime worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "cdp realtime worker");
	RegisterBackgroundWorker(&worker);
}

/*
 * One round in its own transaction: returns the number of profiles
 * evaluated (0 when the queue is empty, cdp is not installed, or another
 * batch or a refresh holds the segments).
 */
static int64
realtime_round(bool prune)
{
	int64		done = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "cdp.realtime_process()");

	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'cdp'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char		sql[128];
		bool		isnull;

		snprintf(sql, sizeof(sql), "SELECT profiles FROM cdp.realtime_process(%d)", cdp_realtime_batch);
		if (SPI_execute(sql, false, 0) == SPI_OK_SELECT && SPI_processed == 1)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				done = DatumGetInt32(d);
		}
		if (prune)
			SPI_execute("SELECT cdp.outbox_prune()", false, 0);
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return done;
}

/* The worker's entry point. */
void
cdp_realtime_main(Datum arg)
{
	int			rounds = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(cdp_realtime_database, NULL, 0);
	elog(LOG, "cdp realtime worker started in database \"%s\"", cdp_realtime_database);

	for (;;)
	{
		int64		done;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		done = realtime_round(++rounds % 100 == 0);
		if (done > 0)
			continue;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 cdp_realtime_naptime, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
