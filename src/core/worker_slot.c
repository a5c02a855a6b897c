/*-------------------------------------------------------------------------
 * worker_slot.c
 *		The shared-memory slot array of tieredlog's background workers. bgw/worker.c keeps one
 *		slot per database (its database workers), repl/apply.c one per peer (its apply workers);
 *		each slot type begins with a TlWorkerSlot, and this file holds what they do alike: find
 *		a slot, report a state or an error into it, end a run (backoff after a failure), say
 *		that max_worker_processes is used up, register a dynamic worker, show a row per slot.
 *
 * Locking: one spinlock per array (TlSlotArray.mutex) guards every field of its slots. Functions
 * named *_locked expect the caller to hold it; the others take it themselves. Nothing that can
 * raise an error runs while it is held.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/shmem.h"
#include "core/worker_slot.h"
#include "core/xact.h"

Size
tl_slots_shmem_size(int nslots, Size slot_size)
{
	return add_size(offsetof(TlSlotArray, slots), mul_size(MAXALIGN(slot_size), nslots));
}

/* Called with AddinShmemInitLock held (a tl_shmem_add startup hook); zeroes a new array. */
TlSlotArray *
tl_slots_init_locked(const char *name, int nslots, Size slot_size)
{
	TlSlotArray *a;

	StaticAssertStmt(offsetof(TlSlotArray, mutex) == 0, "the spinlock comes first");
	a = tl_shmem_init_locked(name, tl_slots_shmem_size(nslots, slot_size));
	a->nslots = nslots;
	a->slot_size = MAXALIGN(slot_size);
	return a;
}

TlWorkerSlot *
tl_slot_at(TlSlotArray *a, int i)
{
	Assert(i >= 0 && i < a->nslots);
	return (TlWorkerSlot *) (a->slots + (Size) i * a->slot_size);
}

int
tl_slot_index(const TlSlotArray *a, const TlWorkerSlot *s)
{
	return (int) (((const char *) s - a->slots) / a->slot_size);
}

/* The first slot `match` accepts, or NULL. */
TlWorkerSlot *
tl_slots_find_locked(TlSlotArray *a, TlSlotMatch match, const void *arg)
{
	for (int i = 0; i < a->nslots; i++)
	{
		TlWorkerSlot *s = tl_slot_at(a, i);

		if (match(s, arg))
			return s;
	}
	return NULL;
}

static bool
match_dboid(const TlWorkerSlot *s, const void *arg)
{
	return s->dboid == *(const Oid *) arg;
}

/* The slot of database `dboid` (InvalidOid: a free one), or NULL. */
TlWorkerSlot *
tl_slots_find_dboid_locked(TlSlotArray *a, Oid dboid)
{
	return tl_slots_find_locked(a, match_dboid, &dboid);
}

/* The worker's state, shown by its view and by pg_stat_activity. */
void
tl_slot_set_state(TlSlotArray *a, TlWorkerSlot *s, const char *state)
{
	SpinLockAcquire(&a->mutex);
	strlcpy(s->state, state, sizeof(s->state));
	SpinLockRelease(&a->mutex);
	pgstat_report_activity(STATE_RUNNING, state);
}

/* Keep an error in the slot; returns whether it is the one already there (to say it only once). */
bool
tl_slot_keep_error(TlSlotArray *a, TlWorkerSlot *s, const char *msg)
{
	bool		same;

	SpinLockAcquire(&a->mutex);
	same = strncmp(s->last_error, msg, sizeof(s->last_error) - 1) == 0;
	strlcpy(s->last_error, msg, sizeof(s->last_error));
	s->last_error_at = GetCurrentTimestamp();
	SpinLockRelease(&a->mutex);
	return same;
}

/*
 * A worker's run ended (its before_shmem_exit callback): the slot is free for the next start;
 * after a failure that start waits a backoff that grows with the failures in a row.
 * stopped_state NULL leaves the state as it is after a clean exit.
 */
void
tl_slot_end_run_locked(TlWorkerSlot *s, bool failed, const char *failed_state, const char *stopped_state,
					   int backoff_max_s)
{
	s->pid = 0;
	if (failed)
	{
		s->failures++;
		s->next_start = GetCurrentTimestamp() +
			(int64) tl_backoff_seconds(s->failures, tl_naptime, backoff_max_s) * USECS_PER_SEC;
		strlcpy(s->state, failed_state, sizeof(s->state));
	}
	else if (stopped_state != NULL)
		strlcpy(s->state, stopped_state, sizeof(s->state));
}

/*
 * max_worker_processes is used up: the worker of this slot could not be registered. The slot
 * shows it (state "no worker slot", last_error) and the start is retried after a backoff.
 * *first: the slot did not say so already (the caller logs it once, at LOG, until a worker of
 * this slot starts again). Returns the seconds until the next try.
 */
int
tl_slot_note_no_worker(TlSlotArray *a, TlWorkerSlot *s, const char *what, int backoff_max_s, bool *first)
{
	TimestampTz now = GetCurrentTimestamp();
	int			wait_s;

	SpinLockAcquire(&a->mutex);
	s->pid = 0;
	s->failures++;
	wait_s = tl_backoff_seconds(s->failures, tl_naptime, backoff_max_s);
	s->next_start = now + (int64) wait_s * USECS_PER_SEC;
	*first = strcmp(s->state, "no worker slot") != 0;
	strlcpy(s->state, "no worker slot", sizeof(s->state));
	snprintf(s->last_error, sizeof(s->last_error),
			 "no background worker slot free for %s (max_worker_processes = %d is used up)",
			 what, max_worker_processes);
	s->last_error_at = now;
	SpinLockRelease(&a->mutex);
	return wait_s;
}

/*
 * Register a dynamic background worker of tieredlog's library, connected to a database, started
 * once recovery has finished and never restarted by the postmaster (the slot's owner decides).
 * False when no background worker slot is free.
 */
bool
tl_register_worker(const char *function, const char *name, const char *type, Datum arg, pid_t notify_pid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "tieredlog", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	worker.bgw_main_arg = arg;
	worker.bgw_notify_pid = notify_pid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return false;
	pfree(handle);
	return true;
}

/*
 * The rows of a view of the array's slots (tieredlog.workers, the peers view): one per slot `row`
 * accepts, each from a copy of the slot taken under the spinlock. Every worker's row has its pid
 * (null when none runs) at column 1, its state at 2, and its last error, the error's time and its
 * consecutive failures as the last three columns; `row` fills the others.
 */
void
tl_slots_materialize(FunctionCallInfo fcinfo, TlSlotArray *a, int ncols, TlSlotRow row)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlWorkerSlot *s = palloc(a->slot_size);
	Datum	   *v = palloc(sizeof(Datum) * ncols);
	bool	   *n = palloc(sizeof(bool) * ncols);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < a->nslots; i++)
	{
		SpinLockAcquire(&a->mutex);
		memcpy(s, tl_slot_at(a, i), a->slot_size);
		SpinLockRelease(&a->mutex);
		memset(n, 0, sizeof(bool) * ncols);
		if (!row(s, v, n))
			continue;
		v[1] = Int32GetDatum(s->pid > 0 ? s->pid : 0);
		n[1] = s->pid <= 0;
		v[2] = CStringGetTextDatum(s->state);
		v[ncols - 3] = CStringGetTextDatum(s->last_error);
		n[ncols - 3] = s->last_error[0] == '\0';
		v[ncols - 2] = TimestampTzGetDatum(s->last_error_at);
		n[ncols - 2] = s->last_error_at == 0;
		v[ncols - 1] = Int32GetDatum(s->failures);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
}
