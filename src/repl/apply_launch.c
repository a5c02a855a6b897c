/*-------------------------------------------------------------------------
 * apply_launch.c
 *		Starting, stopping and listing the apply workers (apply.c): one slot per peer in shared
 *		memory. The database worker starts an apply worker for every enabled peer that has none
 *		(tl_apply_ensure_workers) and restarts one that failed after naptime x 2^failures (at
 *		most 5 minutes); drop_peer() and set_peer_enabled() stop one or lift its backoff; the
 *		peers view reads the slots (tl_apply_rows).
 *
 * Locking: the slots are protected by one spinlock (ashared->mutex); nothing that can raise an
 * error runs while it is held.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/safe_spi.h"
#include "core/shmem.h"
#include "core/xact.h"
#include "repl/apply.h"
#include "repl/apply_int.h"
#include "store/peer_store.h"

TlSlotArray *ashared = NULL;

/* ---- shared memory -------------------------------------------------------------------------- */

Size
tl_apply_shmem_size(void)
{
	return tl_slots_shmem_size(tl_max_peers, sizeof(TlApplySlot));
}

void
tl_apply_shmem_startup(void)
{
	ashared = tl_slots_init_locked("tieredlog apply workers", tl_max_peers, sizeof(TlApplySlot));
}

typedef struct SlotKey
{
	Oid			dboid;
	int32		peer_id;
} SlotKey;

static bool
match_peer(const TlWorkerSlot *s, const void *arg)
{
	const SlotKey *k = arg;

	return s->dboid == k->dboid && ((const TlApplySlot *) s)->peer_id == k->peer_id;
}

/* The slot of (database, peer); (InvalidOid, 0): a free one. Spinlock held. */
static TlApplySlot *
find_slot(Oid dboid, int32 peer_id)
{
	SlotKey		k = {dboid, peer_id};

	return (TlApplySlot *) tl_slots_find_locked(ashared, match_peer, &k);
}

/* ---- starting and stopping (database worker, drop_peer) ----------------------------------------- */

static bool
start_apply_worker(int slot_index, const char *peer_name)
{
	char		name[BGW_MAXLEN];

	snprintf(name, sizeof(name), "tieredlog apply worker for peer %s", peer_name);
	return tl_register_worker("tieredlog_apply_main", name, "tieredlog apply", Int32GetDatum(slot_index), 0);
}

/*
 * max_worker_processes is used up: the apply worker of this peer could not be registered. Said
 * once (at LOG, with the setting to raise) until a worker of this peer starts again; the slot
 * shows it (peers view: state 'no worker slot', last_error) and the start is retried after a
 * backoff.
 */
static void
note_no_worker_slot(TlApplySlot *slot, const char *peer_name)
{
	bool		say;
	int			wait_s = tl_slot_note_no_worker(ashared, &slot->w, "the apply worker", APPLY_BACKOFF_MAX_S, &say);

	ereport(say ? LOG : DEBUG1,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("tieredlog: no background worker slot free for the apply worker of peer \"%s\"", peer_name),
			 errdetail("Records from this peer wait in its slot; retrying in %d s, with backoff.", wait_s),
			 errhint("Raise max_worker_processes (needs a restart): each peer needs one apply worker, each database with tieredlog one worker, plus one launcher.")));
}

/* Free the idle slots of this database whose peer no longer exists. Inside SPI. */
static void
free_slots_of_dropped_peers(void)
{
	for (int i = 0; i < tl_max_peers; i++)
	{
		TlApplySlot *s = apply_slot(i);
		int32		peer_id;
		bool		idle;

		SpinLockAcquire(&ashared->mutex);
		peer_id = s->peer_id;
		idle = s->w.dboid == MyDatabaseId && s->w.pid == 0;
		SpinLockRelease(&ashared->mutex);
		if (!idle)
			continue;
		if (tl_peer_exists(peer_id))
			continue;
		SpinLockAcquire(&ashared->mutex);
		if (s->w.dboid == MyDatabaseId && s->peer_id == peer_id && s->w.pid == 0)
			memset(s, 0, sizeof(*s));
		SpinLockRelease(&ashared->mutex);
	}
}

/*
 * Start an apply worker for every peer of this database that has none (and is not backing off).
 * Called by the database worker each cycle, inside a transaction. Returns how many it started.
 */
int
tl_apply_ensure_workers(void)
{
	int			guc_level;
	int			started = 0;
	TimestampTz now = GetCurrentTimestamp();
	int			npeers;
	TlPeerRow  *peers;

	guc_level = tl_spi_connect();
	peers = tl_peer_enabled(&npeers);
	free_slots_of_dropped_peers();
	for (int i = 0; i < npeers; i++)
	{
		int32		peer_id = peers[i].peer_id;
		char	   *peer_name = peers[i].name;
		TlApplySlot *slot;
		int			index = -1;
		bool		due = false;

		SpinLockAcquire(&ashared->mutex);
		if ((slot = find_slot(MyDatabaseId, peer_id)) == NULL &&
			(slot = find_slot(InvalidOid, 0)) != NULL)
		{
			memset(slot, 0, sizeof(*slot));
			slot->w.dboid = MyDatabaseId;
			slot->peer_id = peer_id;
			strlcpy(slot->w.state, "starting", sizeof(slot->w.state));
		}
		if (slot != NULL && slot->w.pid == 0 && slot->w.next_start <= now)
		{
			slot->w.pid = -1;
			index = tl_slot_index(ashared, &slot->w);
			due = true;
		}
		SpinLockRelease(&ashared->mutex);
		if (slot == NULL)
			ereport(LOG,
					(errmsg("tieredlog: no apply worker slot for peer \"%s\"", peer_name),
					 errhint("Raise tieredlog.max_peers and restart the server.")));
		else if (due && start_apply_worker(index, peer_name))
			started++;
		else if (due)
			note_no_worker_slot(slot, peer_name);
	}
	tl_spi_finish(guc_level);
	return started;
}

/* Stop the apply worker of a peer of this database; wait until it has exited. */
bool
tl_apply_stop_worker(int32 peer_id, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50)
	{
		TlApplySlot *slot;
		pid_t		pid = 0;

		/*
		 * The slot stays (with its counters), held back for an hour: the database worker may run
		 * before this transaction commits and still see the peer enabled. It frees slots of
		 * peers that are gone, and set_peer_enabled(true) lifts the hold.
		 */
		SpinLockAcquire(&ashared->mutex);
		if ((slot = find_slot(MyDatabaseId, peer_id)) != NULL)
		{
			pid = slot->w.pid;
			slot->w.next_start = GetCurrentTimestamp() + 3600 * USECS_PER_SEC;
			if (pid == 0)
				strlcpy(slot->w.state, "stopped", sizeof(slot->w.state));
		}
		SpinLockRelease(&ashared->mutex);
		if (pid == 0)
			return true;
		if (pid > 0)
			(void) kill(pid, SIGTERM);
		pg_usleep(50 * 1000L);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/* set_peer_enabled(true): start the worker at the next cycle, whatever its backoff was. */
void
tl_apply_clear_backoff(int32 peer_id)
{
	TlApplySlot *slot;

	SpinLockAcquire(&ashared->mutex);
	if ((slot = find_slot(MyDatabaseId, peer_id)) != NULL)
	{
		slot->w.next_start = 0;
		slot->w.failures = 0;
	}
	SpinLockRelease(&ashared->mutex);
}

/* ---- the peers view's live part -------------------------------------------------------------------- */

/* An apply worker's columns (tl_slots_materialize fills pid, state and the last three). */
static bool
apply_row(TlWorkerSlot *copy, Datum *v, bool *n)
{
	TlApplySlot *s = (TlApplySlot *) copy;

	if (s->w.dboid != MyDatabaseId)
		return false;
	v[0] = Int32GetDatum(s->peer_id);
	v[3] = LSNGetDatum(s->received_lsn);
	n[3] = s->received_lsn == InvalidXLogRecPtr;
	v[4] = LSNGetDatum(s->applied_lsn);
	n[4] = s->applied_lsn == InvalidXLogRecPtr;
	v[5] = TimestampTzGetDatum(s->applied_commit_time);
	n[5] = s->applied_commit_time == 0;
	v[6] = TimestampTzGetDatum(s->last_contact);
	n[6] = s->last_contact == 0;
	v[7] = Int64GetDatum(s->records_applied);
	v[8] = Int64GetDatum(s->records_skipped);
	return true;
}

void
tl_apply_rows(FunctionCallInfo fcinfo)
{
	tl_require_preload();
	tl_slots_materialize(fcinfo, ashared, 12, apply_row);
}

