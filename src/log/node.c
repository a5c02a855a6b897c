/*-------------------------------------------------------------------------
 * node.c
 *		Whether this database's data may act as its node: restores and recovery.
 *
 * Every record this node originates is named (node_name, seq) by tieredlog.local_seq. A node
 * brought back from a backup, or to a point in time, has lost the records it wrote afterwards while
 * its peers still hold them: its sequence would hand out the same identities again for different
 * records. A logical copy (pg_dump / pg_restore) restored elsewhere would, unchecked, stream from
 * the original node's replication slots on its peers. So tieredlog.node_state records where the
 * data last ran as its node (system identifier, database OID, timeline, node name) and every
 * start compares that with the running server:
 *
 *	 unclaimed	 no row yet: a fresh CREATE EXTENSION, or a restore whose rows have not arrived.
 *				 The worker does nothing; the first create_log(), add_peer(), set_tier() or
 *				 append claims the data for this server.
 *	 restored	 the rows name another system or database (a logical restore), or another node
 *				 name. Nothing runs and nothing is appended until the operator runs
 *				 tieredlog.finish_restore() once the restore is complete: with the same
 *				 node_name the node goes on recovering (below); under another name the data
 *				 becomes a new node and the original's peers (whose slots are the original's)
 *				 are forgotten.
 *	 recovering	 same system and database, but the timeline changed (point-in-time recovery, a
 *				 promoted standby), the server started from a base backup (backup_label.old is
 *				 newer than the last check), or a peer's "_seen" record says it holds more of this
 *				 node's records than local_seq has handed out. Local appends are refused; the
 *				 worker reconciles every log with every enabled peer, which brings this node's
 *				 own records back (and moves local_seq past every one stored: note_own_seq),
 *				 then lifts the hold.
 *	 active		 everything matches: normal work.
 *
 * The state found is kept per database in shared memory, so an append pays one spinlock.
 *
 * Locking: the shared array has one spinlock, held only to read or write an entry. Claiming and
 * changing the table's row take the advisory lock TL_LOCK_NODE_STATE (transaction scope).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "store/catalog.h"
#include "store/node_store.h"
#include "store/peer_store.h"
#include "log/ledger.h"
#include "log/node.h"
#include "core/shmem.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/record.h"
#include "core/safe_spi.h"
#include "core/tieredlog.h"
#include "core/upcalls.h"

typedef struct TlNodeEntry
{
	Oid			dboid;			/* InvalidOid: free */
	TlNodeHold	hold;
	char		reason[256];
} TlNodeEntry;

typedef struct TlNodeShared
{
	slock_t		mutex;
	TlNodeEntry entries[FLEXIBLE_ARRAY_MEMBER];
} TlNodeShared;

static TlNodeShared *nshared = NULL;

/* ---- shared memory ---------------------------------------------------------------------------- */

static int
n_entries(void)
{
	return tl_max_databases * 2;	/* databases come and go: room for the stale ones */
}

Size
tl_node_shmem_size(void)
{
	return MAXALIGN(offsetof(TlNodeShared, entries) + sizeof(TlNodeEntry) * n_entries());
}

void
tl_node_shmem_startup(void)
{
	StaticAssertStmt(offsetof(TlNodeShared, mutex) == 0, "the spinlock comes first");
	nshared = tl_shmem_init_locked("tieredlog node state", tl_node_shmem_size());
}

static TlNodeHold
shared_get(char *reason, size_t reason_len)
{
	TlNodeHold	hold = TL_NODE_UNKNOWN;

	SpinLockAcquire(&nshared->mutex);
	for (int i = 0; i < n_entries(); i++)
	{
		if (nshared->entries[i].dboid == MyDatabaseId)
		{
			hold = nshared->entries[i].hold;
			if (reason)
				strlcpy(reason, nshared->entries[i].reason, reason_len);
			break;
		}
	}
	SpinLockRelease(&nshared->mutex);
	return hold;
}

static void
shared_set(Oid dboid, TlNodeHold hold, const char *reason)
{
	TlNodeEntry *e = NULL;

	SpinLockAcquire(&nshared->mutex);
	for (int i = 0; i < n_entries() && e == NULL; i++)
		if (nshared->entries[i].dboid == dboid)
			e = &nshared->entries[i];
	for (int i = 0; i < n_entries() && e == NULL; i++)
		if (nshared->entries[i].dboid == InvalidOid)
			e = &nshared->entries[i];
	if (e == NULL)
		e = &nshared->entries[dboid % n_entries()];	/* full of stale ones: reuse one */
	e->dboid = dboid;
	e->hold = hold;
	strlcpy(e->reason, reason ? reason : "", sizeof(e->reason));
	SpinLockRelease(&nshared->mutex);
}

/* Forget what was found for this database (CREATE EXTENSION, a state change): found again. */
void
tl_node_forget(void)
{
	shared_set(MyDatabaseId, TL_NODE_UNKNOWN, NULL);
}

/* ---- what the running server is --------------------------------------------------------------- */

static TimeLineID
current_timeline(void)
{
	return RecoveryInProgress() ? 0 : GetWALInsertionTimeLine();
}

/*
 * When the server last started from a base backup, or 0: the startup process renames
 * backup_label to backup_label.old, which sets the file's change time (its modification time is
 * the backup's, and a copy may keep it).
 */
static TimestampTz
started_from_backup_at(void)
{
	struct stat st;
	char	   *path = psprintf("%s/backup_label.old", DataDir);

	if (stat(path, &st) != 0)
		return 0;
	return time_t_to_timestamptz(st.st_ctim.tv_sec) + st.st_ctim.tv_nsec / 1000;
}

/*
 * The state the table and the running server give, without writing anything. SPI connected by
 * the caller, as the extension's owner.
 */
static TlNodeHold
derive(char *reason, size_t reason_len)
{
	uint64		sysid = GetSystemIdentifier();
	TimeLineID	tli = current_timeline();
	TimestampTz backup_at = started_from_backup_at();
	int			n;
	TlNodeStateRow *rows = tl_node_state_rows(&n);

	if (n == 0)
	{
		strlcpy(reason, "no data claimed by this server yet", reason_len);
		return TL_NODE_UNCLAIMED;
	}
	for (int i = 0; i < n; i++)
	{
		const char *name = rows[i].node_name;
		const char *row_sysid = rows[i].system_identifier;
		const char *row_db = rows[i].database_oid;
		const char *row_tli = rows[i].timeline;
		TimestampTz checked = rows[i].checked_at;
		const char *hold = rows[i].hold;
		const char *why = rows[i].hold_reason;

		if (hold != NULL)
		{
			strlcpy(reason, why ? why : hold, reason_len);
			return strcmp(hold, "recovering") == 0 ? TL_NODE_RECOVERING : TL_NODE_RESTORED;
		}
		if (strtou64(row_sysid, NULL, 10) != sysid || atooid(row_db) != MyDatabaseId)
		{
			snprintf(reason, reason_len,
					 "restored from node \"%s\" (system %s, database %s): run tieredlog.finish_restore() once the restore is complete",
					 name, row_sysid, row_db);
			return TL_NODE_RESTORED;
		}
		if (strcmp(name, tl_node_name()) != 0)
		{
			snprintf(reason, reason_len,
					 "this data belongs to node \"%s\", but tieredlog.node_name is \"%s\": set it back, or run tieredlog.finish_restore() to make this a new node",
					 name, tl_node_name());
			return TL_NODE_RESTORED;
		}
		if (tli != 0 && (TimeLineID) atoi(row_tli) != tli)
		{
			snprintf(reason, reason_len,
					 "the timeline changed from %s to %u (recovery to a point in time, or a promoted standby): this node's newest records may be lost here",
					 row_tli, tli);
			return TL_NODE_RECOVERING;
		}
		if (backup_at != 0 && backup_at > checked)
		{
			snprintf(reason, reason_len,
					 "the server started from a base backup at %s: this node's newest records may be lost here",
					 timestamptz_to_str(backup_at));
			return TL_NODE_RECOVERING;
		}
	}
	reason[0] = '\0';
	return TL_NODE_ACTIVE;
}

/* One row saying this server runs the data as its node, now. */
static void
write_current(void)
{
	tl_node_state_write(tl_node_name(), GetSystemIdentifier(), MyDatabaseId, (int32) current_timeline());
}

/*
 * The state, found once per database and server start (in a transaction). A backend only reads;
 * the worker (persist = true) also records a hold it finds and confirms an active node.
 */
static TlNodeHold
find_state(bool persist, char *reason, size_t reason_len)
{
	TlAsOwner	save;
	TlNodeHold	hold;

	if (!tl_node_state_table_exists())
		return TL_NODE_ACTIVE;	/* a 1.0 catalog: nothing recorded, nothing checked */
	tl_become_owner(&save);
	if (persist)
		tl_lock_object(TL_LOCK_NODE_STATE, 0);
	hold = derive(reason, reason_len);
	if (persist && hold == TL_NODE_RECOVERING)
	{
		if (!tl_node_state_held())
		{
			write_current();
			tl_node_state_set_hold("recovering", reason);
			ereport(LOG,
					(errmsg("tieredlog: database \"%s\" refuses local appends until it has its own records back from its peers",
							get_database_name(MyDatabaseId)),
					 errdetail("%s", reason)));
		}
	}
	else if (persist && hold == TL_NODE_ACTIVE)
		tl_node_state_checked();
	tl_restore_user(&save);
	shared_set(MyDatabaseId, hold, reason);
	return hold;
}

static TlNodeHold
current_state(char *reason, size_t reason_len)
{
	TlNodeHold	hold = shared_get(reason, reason_len);

	/* unclaimed is not kept: a restore's rows may have arrived since */
	if (hold == TL_NODE_UNKNOWN || hold == TL_NODE_UNCLAIMED)
		hold = find_state(false, reason, reason_len);
	return hold;
}

/*
 * Claim unclaimed data for this server (in the caller's transaction); returns the state found
 * under the lock (rows a restore brought since are not claimed).
 */
static TlNodeHold
claim(char *reason, size_t reason_len)
{
	TlAsOwner	save;
	TlNodeHold	hold;

	tl_become_owner(&save);
	tl_lock_object(TL_LOCK_NODE_STATE, 0);
	hold = derive(reason, reason_len);
	if (hold == TL_NODE_UNCLAIMED)
	{
		write_current();
		hold = TL_NODE_ACTIVE;
	}
	tl_restore_user(&save);
	tl_node_forget();
	return hold;
}

/* ---- for the rest of tieredlog ---------------------------------------------------------------- */

/*
 * Called by every call that changes what the node holds or does (create_log, add_peer, set_tier,
 * local appends): claims unclaimed data, and refuses while restored, and appends while recovering.
 */
void
tl_node_require(bool appending, const char *what)
{
	char		reason[256];
	TlNodeHold	hold = current_state(reason, sizeof(reason));

	if (hold == TL_NODE_UNCLAIMED)
		hold = claim(reason, sizeof(reason));
	if (hold == TL_NODE_RESTORED || (appending && hold == TL_NODE_RECOVERING))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is not possible: %s", what,
						hold == TL_NODE_RESTORED ? "this database holds restored tieredlog data"
						: "this node is recovering its own records from its peers"),
				 errdetail("%s", reason),
				 hold == TL_NODE_RESTORED
				 ? errhint("Once the restore is complete, run SELECT tieredlog.finish_restore(); see the README, Backup and restore.")
				 : errhint("The worker lifts this once every enabled peer has been reconciled; tieredlog.status() shows the state.")));
}

/* Whether tieredlog itself may append here now ("_seen" witnesses; never claims). */
bool
tl_node_may_append(void)
{
	char		reason[256];

	return current_state(reason, sizeof(reason)) == TL_NODE_ACTIVE;
}

/* The state for the worker at the start of each cycle (it records holds it finds). */
TlNodeHold
tl_node_worker_state(bool first_cycle, char *reason, size_t reason_len)
{
	TlNodeHold	hold = shared_get(reason, reason_len);

	if (first_cycle || hold == TL_NODE_UNKNOWN || hold == TL_NODE_UNCLAIMED)
		hold = find_state(true, reason, reason_len);
	return hold;
}

/* ---- local_seq and the peers' knowledge ------------------------------------------------------- */

/*
 * A record of this node's own origin was stored here from outside (reconciliation brought it back):
 * local_seq must never hand out its seq again.
 */
void
tl_node_note_own_seq(int64 seq)
{
	TlAsOwner	save;

	tl_become_owner(&save);
	if (tl_local_seq_last() < seq)
		tl_local_seq_set(seq);
	tl_restore_user(&save);
}

/*
 * A peer's "_seen" record says it stored this node's records up to seen_seq: more than local_seq
 * has handed out means this node lost records it wrote (restored without being noticed): hold.
 */
void
tl_node_note_seen_of_me(const char *writer, int64 seen_seq)
{
	char		reason[256];
	TlAsOwner	save;
	int64		last;

	if (!tl_node_state_table_exists())
		return;
	tl_become_owner(&save);
	last = tl_local_seq_last();
	tl_restore_user(&save);
	if (seen_seq <= last)
		return;
	snprintf(reason, sizeof(reason),
			 "peer \"%s\" holds this node's records up to seq " INT64_FORMAT ", but local_seq is at " INT64_FORMAT
			 ": this node was restored and lost records it wrote", writer, seen_seq, last);
	tl_become_owner(&save);
	tl_lock_object(TL_LOCK_NODE_STATE, 0);
	if (!tl_node_state_held())
	{
		if (tl_node_state_empty())
			write_current();
		tl_node_state_set_hold("recovering", reason);
		ereport(LOG, (errmsg("tieredlog: %s; local appends are refused until they are back", reason)));
	}
	tl_restore_user(&save);
	shared_set(MyDatabaseId, TL_NODE_RECOVERING, reason);
}

/* ---- recovering: the worker's step ------------------------------------------------------------ */

/*
 * The next enabled peer this node has not yet reconciled with since the hold began, or NULL when
 * none is left (then tl_node_lift_recovery). The worker reconciles every log with it
 * (bgw/worker.c), then calls tl_node_recovered_with. Each runs in a transaction of the worker's,
 * between its cycles.
 */
char *
tl_node_next_recovery_peer(void)
{
	char	   *peer;
	TlAsOwner	save;

	tl_become_owner(&save);
	peer = tl_node_state_next_recovery_peer();
	tl_restore_user(&save);
	return peer;
}

/* Every log has been reconciled with this peer since the hold began. */
void
tl_node_recovered_with(const char *peer)
{
	TlAsOwner	save;

	tl_become_owner(&save);
	tl_node_state_add_reconciled(peer);
	tl_restore_user(&save);
}

/* No peer is left to reconcile with: lift the hold. Returns whether there was one to lift. */
bool
tl_node_lift_recovery(void)
{
	TlAsOwner	save;
	bool		lifted = false;
	char	   *why;
	char	   *peers;

	tl_become_owner(&save);
	tl_lock_object(TL_LOCK_NODE_STATE, 0);
	if (tl_node_state_recovering(&why, &peers))
	{
		TlJson		j;

		write_current();
		tl_json_init(&j);
		tl_json_text(&j, "reason", why ? why : "");
		tl_json_text(&j, "reconciled_peers", peers ? peers : "{}");
		tl_json_int(&j, "local_seq", tl_local_seq_last());
		tl_ledger_config("recovered", NULL, tl_json_finish(&j));
		ereport(LOG, (errmsg("tieredlog: database \"%s\" has its own records back from its peers; local appends resume",
							 get_database_name(MyDatabaseId)),
					  errdetail("local_seq is at " INT64_FORMAT ".", tl_local_seq_last())));
		lifted = true;
	}
	tl_restore_user(&save);
	tl_node_forget();
	return lifted;
}

/* ---- SQL: finish_restore ------------------------------------------------------------------------ */

PG_FUNCTION_INFO_V1(tieredlog_finish_restore);

/*
 * tieredlog.finish_restore(): the operator says the restore is complete. Under the same node name
 * the node recovers its own records (as after a physical restore); under another name the data
 * becomes a new node: the original's peers are forgotten here (their slots belong to the
 * original), records keep the origin they were written under. Returns what it did.
 */
Datum
tieredlog_finish_restore(PG_FUNCTION_ARGS)
{
	char		reason[256];
	TlAsOwner	save;
	char	   *from = NULL;
	char	   *result;
	TlJson		j;
	MemoryContext caller = CurrentMemoryContext;

	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.finish_restore()");
	if (find_state(false, reason, sizeof(reason)) != TL_NODE_RESTORED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database holds no restored tieredlog data waiting for finish_restore()")));
	tl_become_owner(&save);
	tl_lock_object(TL_LOCK_NODE_STATE, 0);
	from = tl_node_state_restored_from();
	tl_json_init(&j);
	tl_json_text(&j, "from_node", from ? from : "");
	write_current();
	if (from != NULL && strcmp(from, tl_node_name()) == 0)
	{
		tl_node_state_set_hold("recovering", psprintf("restored as node \"%s\": its newest records may be lost here", from));
		result = psprintf("node \"%s\" restored: local appends resume once every enabled peer has been reconciled", from);
		tl_json_text(&j, "as", "the same node");
	}
	else
	{
		char	   *names;
		char	   *count;

		tl_peer_summary(&names, &count);
		tl_json_text(&j, "forgot_peers", names ?: "");
		result = psprintf("the restored data of node \"%s\" is now node \"%s\"; its %s peers were forgotten (add them again with add_peer)",
						  from ? from : "?", tl_node_name(), count);
		tl_peer_forget_all();
		tl_json_text(&j, "as", "a new node");
	}
	tl_ledger_config("finish_restore", NULL, tl_json_finish(&j));
	result = MemoryContextStrdup(caller, result);
	tl_restore_user(&save);
	tl_node_forget();
	tl_wake_worker_at_commit();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

PG_FUNCTION_INFO_V1(tieredlog_node_hold);

/* tieredlog._node_hold(): (hold, reason) as this backend finds them; for status(). */
Datum
tieredlog_node_hold(PG_FUNCTION_ARGS)
{
	char		reason[256];
	TlNodeHold	hold = current_state(reason, sizeof(reason));
	const char *names[] = {"unknown", "unclaimed", "active", "recovering", "restored"};

	if (hold == TL_NODE_ACTIVE)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s: %s", names[hold], reason)));
}
