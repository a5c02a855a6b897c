/*-------------------------------------------------------------------------
 * worker.c
 *		Background workers: a launcher, and one short-lived maintenance worker per database and
 *		cycle (the autovacuum pattern).
 *
 * Every tieredlog.naptime seconds the launcher lists the databases that accept connections and,
 * one at a time, starts a worker connected to each. A worker whose database has the extension
 * runs one maintenance cycle in its own transaction and exits:
 *   - sweep: remove the old copies of finished moves (and complete moves interrupted after their
 *     commit, e.g. by a crash), see tier.c;
 *   - fold the digest cells of segments that have accumulated many of them, see digest_store.c.
 * A worker that fails logs its error and exits; the launcher goes on with the next database and
 * tries again next cycle, so one bad database never stops the others. Later versions add sealing,
 * access statistics and adaptive tiering to the cycle.
 *
 * Locking: none of its own; each step takes the locks described in its file, conditionally where
 * it could otherwise queue (drops, folds).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "digest.h"
#include "tier.h"
#include "tieredlog.h"
#include "worker.h"

int			tl_naptime = 10;

/* A segment is folded by the worker once it has this many digest cells. */
#define TL_FOLD_CELLS	512

PGDLLEXPORT void tieredlog_launcher_main(Datum arg);
PGDLLEXPORT void tieredlog_worker_main(Datum arg);

void
tl_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	strlcpy(worker.bgw_library_name, "tieredlog", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "tieredlog_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "tieredlog launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "tieredlog launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* ---- launcher ---------------------------------------------------------------------------- */

/* The databases to visit, allocated in `cxt` (the transaction's memory is gone after commit). */
static List *
connectable_databases(MemoryContext cxt)
{
	List	   *dbs = NIL;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dbs;
}

/* Start the maintenance worker for one database and wait until it is done. */
static void
run_worker_for(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "tieredlog", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "tieredlog_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "tieredlog worker for database %u", dboid);
	strlcpy(worker.bgw_type, "tieredlog worker", BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errmsg("tieredlog: no background worker slot free for database %u", dboid),
				 errhint("Raise max_worker_processes.")));
		return;
	}
	if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
		(void) WaitForBackgroundWorkerShutdown(handle);
	pfree(handle);
}

void
tieredlog_launcher_main(Datum arg)
{
	MemoryContext cycle_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("tieredlog launcher");
	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "tieredlog launcher cycle",
									  ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		List	   *dbs;
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(cycle_cxt);
		dbs = connectable_databases(cycle_cxt);
		foreach(lc, dbs)
		{
			CHECK_FOR_INTERRUPTS();
			run_worker_for(lfirst_oid(lc));
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 tl_naptime * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---- per-database worker ----------------------------------------------------------------- */

/* Fold the cells of segments that have many. */
static int64
fold_busy_segments(void)
{
	List	   *segs = NIL;
	ListCell   *lc;
	int64		folded = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(psprintf("SELECT segment_id FROM tieredlog.digest_cell GROUP BY segment_id "
							 "HAVING count(*) > %d", TL_FOLD_CELLS), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list digest cells");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64	   *id = MemoryContextAlloc(TopTransactionContext, sizeof(int64));

		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		segs = lappend(segs, id);
	}
	SPI_finish();
	foreach(lc, segs)
		if (tl_digest_compact(*(int64 *) lfirst(lc), false) > 0)
			folded++;
	return folded;
}

static void
maintenance_cycle(void)
{
	int64		swept;
	int64		folded;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!OidIsValid(get_extension_oid("tieredlog", true)))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		return;
	}
	pgstat_report_activity(STATE_RUNNING, "tieredlog maintenance");
	swept = tl_sweep();
	folded = fold_busy_segments();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	if (swept > 0 || folded > 0)
		elog(DEBUG1, "tieredlog: swept %lld moves, folded %lld segments", (long long) swept,
			 (long long) folded);
}

void
tieredlog_worker_main(Datum arg)
{
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	pgstat_report_appname("tieredlog worker");
	maintenance_cycle();
	proc_exit(0);
}
