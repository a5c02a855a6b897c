/*-------------------------------------------------------------------------
 * worker.c
 *		Background workers: one launcher, and one long-lived worker per database that has the
 *		extension.
 *
 * The launcher (registered from shared_preload_libraries, started once recovery has finished, so
 * never on a standby) probes every connectable, non-template database it has not seen by giving
 * it a slot and starting its worker; a worker whose database lacks the extension marks the slot
 * "absent" and exits, and the launcher frees the slot and leaves that database alone until
 * CREATE EXTENSION registers it (tieredlog._register_database(), run by the install script, takes
 * a slot, marks it wanted and wakes the launcher). A worker exits by itself when the extension is dropped, and is sent
 * SIGTERM when its database is dropped (an object-access hook), so DROP DATABASE is not held up.
 * A worker that fails is restarted with exponential backoff; running out of
 * max_worker_processes is logged once, with a hint, and retried.
 *
 * The database worker runs a cycle every tieredlog.naptime seconds: tasks.c builds a queue and
 * works through it, one task per transaction (see there). The pool is bounded: one worker per
 * database, at most tieredlog.max_databases of them.
 *
 * Locking: the slots are protected by one spinlock (held only to copy a few fields); the
 * launcher alone adds and clears slots, a worker alone writes its slot's state fields.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/bgworker_internals.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "log/node.h"
#include "repl/peer_limits.h"
#include "core/shmem.h"
#include "core/guc.h"
#include "core/safe_spi.h"
#include "core/xact.h"
#include "bgw/tasks.h"
#include "core/tieredlog.h"
#include "bgw/worker.h"
#include "core/worker_slot.h"

#define BACKOFF_MAX_S	300

/* One database's worker: the common part (core/worker_slot.h), then the database worker's own. */
typedef struct TlDbSlot
{
	TlWorkerSlot w;				/* w.dboid InvalidOid: free */
	bool		absent;			/* last probe found no extension */
	bool		wanted;			/* CREATE EXTENSION ran: start even if absent */
	uint32		register_gen;	/* bumped by each registration (CREATE EXTENSION) */
	TimestampTz last_cycle_at;
	int64		cycles;
	int64		tasks_done;
	int64		tasks_failed;
	int			queued;
	char		task[64];
	Latch	   *latch;			/* the worker's, to wake it */
} TlDbSlot;

/* The launcher, protected by the slots' spinlock. */
typedef struct TlLauncherShared
{
	pid_t		pid;
	Latch	   *latch;
} TlLauncherShared;

static TlSlotArray *wslots = NULL;	/* tl_max_databases slots of TlDbSlot */
static TlLauncherShared *wlauncher = NULL;

#define db_slot(i)	((TlDbSlot *) tl_slot_at(wslots, (i)))
static bool launcher_registered = true;	/* false: max_worker_processes was used up at start */
static TlDbSlot *my_slot = NULL;	/* in a database worker */
static Oid	my_dboid = InvalidOid;
static object_access_hook_type prev_object_access_hook = NULL;

PGDLLEXPORT void tieredlog_launcher_main(Datum arg);
PGDLLEXPORT void tieredlog_worker_main(Datum arg);

/* ---- shared memory ---------------------------------------------------------------------------- */

Size
tl_worker_shmem_size(void)
{
	return add_size(CACHELINEALIGN(tl_slots_shmem_size(tl_max_databases, sizeof(TlDbSlot))),
					CACHELINEALIGN(sizeof(TlLauncherShared)));
}

/* Called with AddinShmemInitLock held. */
void
tl_worker_shmem_startup(void)
{
	wslots = tl_slots_init_locked("tieredlog workers", tl_max_databases, sizeof(TlDbSlot));
	wlauncher = tl_shmem_init_locked("tieredlog launcher", sizeof(TlLauncherShared));
}

/* The slot of database dboid (InvalidOid: a free one), or NULL. Spinlock held. */
static TlDbSlot *
find_slot(Oid dboid)
{
	return (TlDbSlot *) tl_slots_find_dboid_locked(wslots, dboid);
}

/* ---- hooks in ordinary backends --------------------------------------------------------------- */

/* DROP DATABASE: stop its worker before dropdb() counts the backends still connected. */
static void
tl_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access == OAT_DROP && classId == DatabaseRelationId && wslots != NULL)
	{
		pid_t		pid = 0;
		TlDbSlot   *slot;

		SpinLockAcquire(&wslots->mutex);
		if ((slot = find_slot(objectId)) != NULL)
		{
			pid = slot->w.pid;
			slot->w.next_start = GetCurrentTimestamp() + 60 * USECS_PER_SEC;
		}
		SpinLockRelease(&wslots->mutex);
		if (pid != 0)
			(void) kill(pid, SIGTERM);
	}
}

void
tl_worker_register_hooks(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = tl_object_access;
}

/*
 * Give this database a slot and want its worker. Runs when CREATE EXTENSION commits: a worker
 * started after that sees the extension. A worker that probed before and is about to report the
 * extension absent sees register_gen changed and leaves `wanted` alone, so the launcher starts
 * another one.
 */
static void
register_database_now(void)
{
	TlDbSlot   *slot;
	Latch	   *latch;

	SpinLockAcquire(&wslots->mutex);
	if ((slot = find_slot(MyDatabaseId)) == NULL && (slot = find_slot(InvalidOid)) != NULL)
	{
		memset(slot, 0, sizeof(*slot));
		slot->w.dboid = MyDatabaseId;
		strlcpy(slot->w.state, "starting", sizeof(slot->w.state));
	}
	if (slot != NULL)
	{
		slot->wanted = true;
		slot->absent = false;
		slot->w.next_start = 0;
		slot->register_gen++;
	}
	latch = wlauncher->latch;
	SpinLockRelease(&wslots->mutex);
	if (slot == NULL)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("no tieredlog worker can run for this database: all %d worker slots are taken",
						tl_max_databases),
				 errdetail("Segments of this database are not sealed or moved automatically."),
				 errhint("Raise tieredlog.max_databases and restart the server.")));
	if (!launcher_registered)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("tieredlog's launcher is not running: max_worker_processes (%d) was used up when the server started",
						max_worker_processes),
				 errdetail("No tieredlog worker runs on this server: segments are not sealed or moved automatically and peers are not streamed."),
				 errhint("Raise max_worker_processes and restart the server.")));
	if (latch != NULL)
		SetLatch(latch);
}

/* tieredlog._register_database(): the install script's call, so the worker starts at commit. */
void
tl_worker_register_database(void)
{
	static TlAtCommit reg = TL_AT_COMMIT(register_database_now);

	tl_require_preload();
	tl_at_commit(&reg);
}

/* Wake this database's worker (e.g. add_peer(): start the apply worker now, not next cycle). */
void
tl_worker_wake_database(void)
{
	TlDbSlot   *slot;
	Latch	   *latch = NULL;

	SpinLockAcquire(&wslots->mutex);
	if ((slot = find_slot(MyDatabaseId)) != NULL && slot->w.pid > 0)
		latch = slot->latch;
	SpinLockRelease(&wslots->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/* Wake this database's worker once the current transaction commits (and only then). */
void
tl_worker_wake_database_at_commit(void)
{
	static TlAtCommit wake = TL_AT_COMMIT(tl_worker_wake_database);

	tl_at_commit(&wake);
}

/* ---- launcher ---------------------------------------------------------------------------------- */

/* The databases a worker may run in, allocated in `cxt`. */
static List *
connectable_databases(MemoryContext cxt)
{
	List	   *dbs = NIL;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;

	SetCurrentStatementStartTimestamp();
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

/*
 * Databases whose worker found no extension: the launcher keeps them here (not in a slot, so
 * slots go only to databases that use tieredlog) and does not probe them again until CREATE
 * EXTENSION registers one.
 */
static List *absent_dbs = NIL;

static void
forget_absent(Oid dboid)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	absent_dbs = list_delete_oid(absent_dbs, dboid);
	MemoryContextSwitchTo(old);
}

/*
 * Give every listed database that may use tieredlog a slot; move probed databases without the
 * extension out of their slots; free the slots of databases that are gone.
 */
static void
sync_slots(List *dbs)
{
	static bool full_logged = false;
	ListCell   *lc;
	List	   *newly_absent = NIL;
	MemoryContext old;

	SpinLockAcquire(&wslots->mutex);
	for (int i = 0; i < tl_max_databases; i++)
	{
		TlDbSlot   *s = db_slot(i);

		if (!OidIsValid(s->w.dboid) || s->w.pid != 0)
			continue;
		if (!list_member_oid(dbs, s->w.dboid))
			memset(s, 0, sizeof(*s));
		else if (s->absent && !s->wanted)
		{
			newly_absent = lappend_oid(newly_absent, s->w.dboid);
			memset(s, 0, sizeof(*s));
		}
	}
	SpinLockRelease(&wslots->mutex);

	old = MemoryContextSwitchTo(TopMemoryContext);
	absent_dbs = list_concat_unique_oid(absent_dbs, newly_absent);
	foreach(lc, absent_dbs)
	{
		if (!list_member_oid(dbs, lfirst_oid(lc)))
			absent_dbs = foreach_delete_current(absent_dbs, lc);
	}
	MemoryContextSwitchTo(old);

	foreach(lc, dbs)
	{
		Oid			dboid = lfirst_oid(lc);
		TlDbSlot   *free_slot = NULL;
		bool		has_slot;

		SpinLockAcquire(&wslots->mutex);
		has_slot = find_slot(dboid) != NULL;
		if (!has_slot && !list_member_oid(absent_dbs, dboid) &&
			(free_slot = find_slot(InvalidOid)) != NULL)
		{
			memset(free_slot, 0, sizeof(*free_slot));
			free_slot->w.dboid = dboid;
			strlcpy(free_slot->w.state, "starting", sizeof(free_slot->w.state));
		}
		SpinLockRelease(&wslots->mutex);
		if (has_slot)
			forget_absent(dboid);	/* registered by CREATE EXTENSION */
		else if (free_slot == NULL && !list_member_oid(absent_dbs, dboid) && !full_logged)
		{
			ereport(LOG,
					(errmsg("tieredlog: more databases than tieredlog.max_databases (%d); database %u has no worker",
							tl_max_databases, dboid),
					 errhint("Raise tieredlog.max_databases (and max_worker_processes) and restart the server.")));
			full_logged = true;
		}
	}
}

static bool
start_worker(TlDbSlot *slot, Oid dboid)
{
	char		name[BGW_MAXLEN];
	bool		say;
	int			wait_s;

	snprintf(name, sizeof(name), "tieredlog worker for database %u", dboid);
	/* pid -1: being started (the worker replaces it with its own pid, maybe before we return) */
	SpinLockAcquire(&wslots->mutex);
	slot->w.pid = -1;
	slot->w.started_at = GetCurrentTimestamp();
	SpinLockRelease(&wslots->mutex);
	if (tl_register_worker("tieredlog_worker_main", name, "tieredlog worker", ObjectIdGetDatum(dboid), MyProcPid))
		return true;
	wait_s = tl_slot_note_no_worker(wslots, &slot->w, "the database worker", BACKOFF_MAX_S, &say);
	ereport(say ? LOG : DEBUG1,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("tieredlog: no background worker slot free for the worker of database %u", dboid),
			 errdetail("Retrying in %d s, with backoff.", wait_s),
			 errhint("Raise max_worker_processes (each database with tieredlog needs one worker, plus one launcher); retrying with backoff.")));
	return false;
}

static void
start_due_workers(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < tl_max_databases; i++)
	{
		TlDbSlot   *s = db_slot(i);
		Oid			dboid;
		bool		due;

		SpinLockAcquire(&wslots->mutex);
		dboid = s->w.dboid;
		due = OidIsValid(dboid) && s->w.pid == 0 && (!s->absent || s->wanted) && s->w.next_start <= now;
		SpinLockRelease(&wslots->mutex);
		if (due)
			start_worker(s, dboid);
	}
}

/*
 * A worker registered by start_worker() that never got to run (e.g. its database was dropped
 * while it connected) leaves pid -1 behind: after a while, let it be started again.
 */
static void
expire_stuck_starts(void)
{
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&wslots->mutex);
	for (int i = 0; i < tl_max_databases; i++)
	{
		TlDbSlot   *s = db_slot(i);

		if (s->w.pid == -1 && now - s->w.started_at > 60 * USECS_PER_SEC)
			s->w.pid = 0;
	}
	SpinLockRelease(&wslots->mutex);
}

static void
launcher_detach(int code, Datum arg)
{
	SpinLockAcquire(&wslots->mutex);
	wlauncher->pid = 0;
	wlauncher->latch = NULL;
	SpinLockRelease(&wslots->mutex);
}

void
tieredlog_launcher_main(Datum arg)
{
	MemoryContext cycle_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	tl_pin_search_path_for_process();
	pgstat_report_appname("tieredlog launcher");
	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "tieredlog launcher cycle",
									  ALLOCSET_DEFAULT_SIZES);
	SpinLockAcquire(&wslots->mutex);
	wlauncher->pid = MyProcPid;
	wlauncher->latch = MyLatch;
	SpinLockRelease(&wslots->mutex);
	before_shmem_exit(launcher_detach, (Datum) 0);
	ereport(LOG, (errmsg("tieredlog launcher started")));

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(cycle_cxt);
		sync_slots(connectable_databases(cycle_cxt));
		expire_stuck_starts();
		start_due_workers();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(tl_naptime, 5) * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * RegisterBackgroundWorker() only logs it when max_worker_processes is used up at server start
 * (PostgreSQL's "too many background workers", with its hint): look in the postmaster's registry
 * whether the launcher is there. Backends inherit the answer (fork).
 */
static bool
launcher_in_registry(void)
{
	slist_iter	it;

	slist_foreach(it, &BackgroundWorkerList)
	{
		RegisteredBgWorker *rw = slist_container(RegisteredBgWorker, rw_lnode, it.cur);

		if (strcmp(rw->rw_worker.bgw_library_name, "tieredlog") == 0 &&
			strcmp(rw->rw_worker.bgw_function_name, "tieredlog_launcher_main") == 0)
			return true;
	}
	return false;
}

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
	launcher_registered = launcher_in_registry();
}

/* ---- database worker --------------------------------------------------------------------------- */

void
tl_worker_report(const char *state, const char *task, int queued)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&wslots->mutex);
	strlcpy(my_slot->w.state, state, sizeof(my_slot->w.state));
	strlcpy(my_slot->task, task ? task : "", sizeof(my_slot->task));
	if (queued >= 0)
		my_slot->queued = queued;
	SpinLockRelease(&wslots->mutex);
	pgstat_report_activity(task ? STATE_RUNNING : STATE_IDLE, task);
}

void
tl_worker_report_task_end(bool ok, const char *error)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&wslots->mutex);
	if (ok)
		my_slot->tasks_done++;
	else
	{
		my_slot->tasks_failed++;
		strlcpy(my_slot->w.last_error, error ? error : "", sizeof(my_slot->w.last_error));
		my_slot->w.last_error_at = GetCurrentTimestamp();
	}
	SpinLockRelease(&wslots->mutex);
}

static void
worker_detach(int code, Datum arg)
{
	Latch	   *latch;

	SpinLockAcquire(&wslots->mutex);
	if (my_slot != NULL && my_slot->w.dboid == my_dboid)
	{
		my_slot->latch = NULL;
		strlcpy(my_slot->task, "", sizeof(my_slot->task));
		tl_slot_end_run_locked(&my_slot->w, code != 0, "failed", my_slot->absent ? NULL : "stopped",
							   BACKOFF_MAX_S);
	}
	latch = wlauncher->latch;
	SpinLockRelease(&wslots->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

static char my_dbname[NAMEDATALEN];

static bool
extension_present(void)
{
	bool		present;
	char	   *name;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	present = OidIsValid(get_extension_oid("tieredlog", true));
	if ((name = get_database_name(MyDatabaseId)) != NULL)
		strlcpy(my_dbname, name, sizeof(my_dbname));
	CommitTransactionCommand();
	return present;
}

static uint32 my_register_gen;

static void
mark_absent(void)
{
	SpinLockAcquire(&wslots->mutex);
	my_slot->absent = true;
	/* a CREATE EXTENSION that committed after this worker started still wants a worker */
	if (my_slot->register_gen == my_register_gen)
		my_slot->wanted = false;
	my_slot->w.failures = 0;
	strlcpy(my_slot->w.state, "no extension", sizeof(my_slot->w.state));
	SpinLockRelease(&wslots->mutex);
}

static void
claim_slot(Oid dboid)
{
	my_dboid = dboid;
	SpinLockAcquire(&wslots->mutex);
	my_slot = find_slot(dboid);
	if (my_slot != NULL)
	{
		my_slot->w.pid = MyProcPid;
		my_slot->latch = MyLatch;
		my_slot->w.started_at = GetCurrentTimestamp();
		my_register_gen = my_slot->register_gen;
		strlcpy(my_slot->w.state, "starting", sizeof(my_slot->w.state));
	}
	SpinLockRelease(&wslots->mutex);
	if (my_slot == NULL)
		proc_exit(0);			/* the launcher forgot this database meanwhile */
	before_shmem_exit(worker_detach, (Datum) 0);
}

static void
cycle_done(bool ok)
{
	SpinLockAcquire(&wslots->mutex);
	my_slot->cycles++;
	my_slot->last_cycle_at = GetCurrentTimestamp();
	if (ok)
		my_slot->w.failures = 0;
	else
		my_slot->w.failures++;
	SpinLockRelease(&wslots->mutex);
}


/*
 * A node that is recovering its own records (log/node.c): reconcile every log with one enabled
 * peer not yet done since the hold began, as the worker itself (the bootstrap superuser) with the
 * same call an operator would make; lift the hold when none is left. Its own transaction
 * (tl_xact_run), SPI connected.
 */
static void
recover_step(void *arg)
{
	char	   *peer = tl_node_next_recovery_peer();
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	if (peer == NULL)
	{
		(void) tl_node_lift_recovery();
		return;
	}
	tl_worker_report("recovering", psprintf("reconciling with %s", peer), 0);
	values[0] = CStringGetTextDatum(peer);
	if (SPI_execute_with_args("SELECT count(*) FROM tieredlog.reconcile(NULL, $1)", 1, types, values,
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reconciliation with peer \"%s\" failed", peer);
	tl_node_recovered_with(peer);
}

typedef struct NodeStateArgs
{
	bool		first;
	TlNodeHold	hold;
	char		reason[256];
} NodeStateArgs;

static void
read_node_state(void *arg)
{
	NodeStateArgs *a = arg;

	a->hold = tl_node_worker_state(a->first, a->reason, sizeof(a->reason));
}

/*
 * Whether this cycle may run (node.c): not while this database's data is unclaimed or restored;
 * while it is recovering its own records, one reconciliation step comes first.
 */
static bool
node_allows_cycle(bool first, MemoryContext cxt, TlNodeHold *found)
{
	NodeStateArgs a = {first, TL_NODE_ACTIVE, ""};
	char	   *error = NULL;

	if (!tl_xact_run(read_node_state, &a, false, cxt, &error) ||
		(a.hold == TL_NODE_RECOVERING && !tl_xact_run(recover_step, NULL, true, cxt, &error)))
	{
		ereport(LOG, (errmsg("tieredlog: %s", error)));
		tl_worker_report_task_end(false, error);
	}
	if (a.hold == TL_NODE_UNCLAIMED)
		tl_worker_report("unclaimed", "waiting for create_log() or add_peer()", 0);
	else if (a.hold == TL_NODE_RESTORED)
		tl_worker_report("held", "restored data: see tieredlog.node_hold()", 0);
	*found = a.hold;
	return a.hold != TL_NODE_UNCLAIMED && a.hold != TL_NODE_RESTORED;
}

void
tieredlog_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	MemoryContext cycle_cxt;
	bool		first = true;
	TlNodeHold	hold = TL_NODE_ACTIVE;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	claim_slot(dboid);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	tl_pin_search_path_for_process();	/* runs as the bootstrap superuser */
	pgstat_report_appname("tieredlog worker");
	if (!extension_present())
	{
		mark_absent();
		proc_exit(0);
	}
	SpinLockAcquire(&wslots->mutex);
	my_slot->absent = false;
	SpinLockRelease(&wslots->mutex);
	ereport(LOG, (errmsg("tieredlog worker started for database \"%s\"", my_dbname)));
	cycle_cxt = AllocSetContextCreate(TopMemoryContext, "tieredlog worker cycle",
									  ALLOCSET_DEFAULT_SIZES);
	tl_tasks_recover_interrupted(cycle_cxt);

	for (;;)
	{
		bool		ok;
		int			failures;
		long		wait_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!extension_present())
		{
			ereport(LOG, (errmsg("tieredlog worker for database \"%s\" stops: the extension was dropped",
								 my_dbname)));
			mark_absent();
			proc_exit(0);
		}
		MemoryContextReset(cycle_cxt);
		if (!node_allows_cycle(first, cycle_cxt, &hold))
		{
			first = false;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, tl_naptime * 1000L,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		first = false;
		ok = tl_tasks_run_cycle(cycle_cxt);
		tl_limits_check(cycle_cxt);
		cycle_done(ok);
		SpinLockAcquire(&wslots->mutex);
		failures = my_slot->w.failures;
		SpinLockRelease(&wslots->mutex);
		wait_ms = (long) (ok ? tl_naptime : tl_backoff_seconds(failures, tl_naptime, BACKOFF_MAX_S)) * 1000L;
		if (hold == TL_NODE_RECOVERING)
			tl_worker_report("recovering", "appends wait: see tieredlog.node_hold()", 0);
		else
			tl_worker_report(ok ? "idle" : "backoff", NULL, 0);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---- SQL: tieredlog.workers ---------------------------------------------------------------------- */

/* A database worker's columns (tl_slots_materialize fills pid, state and the last three). */
static bool
worker_row(TlWorkerSlot *copy, Datum *v, bool *n)
{
	TlDbSlot   *s = (TlDbSlot *) copy;

	if (!OidIsValid(s->w.dboid))
		return false;
	if (!launcher_registered)
		strlcpy(s->w.state, "no launcher", sizeof(s->w.state));
	v[0] = ObjectIdGetDatum(s->w.dboid);
	v[3] = CStringGetTextDatum(s->task);
	n[3] = s->task[0] == '\0';
	v[4] = Int32GetDatum(s->queued);
	v[5] = Int64GetDatum(s->cycles);
	v[6] = Int64GetDatum(s->tasks_done);
	v[7] = Int64GetDatum(s->tasks_failed);
	v[8] = TimestampTzGetDatum(s->w.started_at);
	n[8] = s->w.started_at == 0;
	v[9] = TimestampTzGetDatum(s->last_cycle_at);
	n[9] = s->last_cycle_at == 0;
	return true;
}

void
tl_worker_rows(FunctionCallInfo fcinfo)
{
	tl_require_preload();
	tl_slots_materialize(fcinfo, wslots, 13, worker_row);
}
