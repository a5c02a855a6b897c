/*-------------------------------------------------------------------------
 * apply.c
 *		One apply worker per peer: streams the records the peer originated from the peer's
 *		logical replication slot (tieredlog's output plugin, decoder.c) and stores them here.
 *
 * The worker connects with libpq (replication=database), sends START_REPLICATION from the
 * position its replication origin has reached, and applies records idempotently by their
 * identity (origin, seq) (append.c). Many remote transactions are grouped into one local
 * transaction (appends commute), never splitting one: a batch commits at APPLY_BATCH_RECORDS
 * records or APPLY_BATCH_XACTS transactions, or when the stream runs dry once it is
 * APPLY_LINGER_MS old (so the delay a batch adds is at most that). The origin's position advances
 * in that same commit, so after a crash the worker restarts exactly after the last applied transaction. It
 * commits asynchronously and confirms to the peer only positions whose local commit the WAL flush
 * has reached,
 * answers keepalives, advances the HLC on every record, checks each record's rid against its
 * content, and counts remote writes. Its writes carry the replication origin, so this node's
 * decoder never sends them on: a full mesh does not loop.
 *
 * The database worker starts apply workers (apply_launch.c). A failure is logged once per
 * distinct error and kept in the slot's last_error (peers view); one peer failing never stops
 * another.
 *
 * Locking: the slots are protected by one spinlock (apply_int.h); a worker alone writes its
 * slot's progress.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/origin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/shmem.h"
#include "core/guc.h"
#include "core/safe_spi.h"
#include "log/append.h"
#include "repl/apply.h"
#include "log/causal.h"
#include "store/catalog.h"
#include "log/conflict.h"
#include "repl/decoder.h"
#include "repl/remote.h"
#include "repl/wire.h"
#include "repl/peer.h"
#include "core/record.h"
#include "core/tieredlog.h"
#include "core/validate.h"
#include "core/xact.h"

#include "repl/apply_int.h"
#include "store/peer_store.h"

#define APPLY_BATCH_RECORDS		2000
#define APPLY_BATCH_XACTS		1000	/* remote transactions a catch-up commits at once */
#define APPLY_FEEDBACK_MS		1000
#define APPLY_SEEN_EVERY_MS		200	/* "_seen" witnesses while a backlog streams in */
#define APPLY_LINGER_MS			20	/* an open batch waits this long for more before it commits */
#define APPLY_PENDING_MAX		256

static TlApplySlot *my_slot = NULL;

PGDLLEXPORT void tieredlog_apply_main(Datum arg);

/* ---- the worker ------------------------------------------------------------------------------------ */

typedef struct PeerInfo
{
	char	   *name;
	char	   *conninfo;
	char	   *slot_name;
	char	   *origin_name;
	char	   *node_name;
	Oid			owner;			/* who added the peer: the password rule follows it */
	int32		peer_id;
	TimestampTz applied_until;	/* saved progress in peer commit time (or when it was added) */
} PeerInfo;

typedef struct ApplyState
{
	PGconn	   *conn;
	RepOriginId origin;
	bool		in_xact;		/* a local transaction is open */
	bool		in_remote_xact;	/* between a peer transaction's 'B' and its 'C' */
	/* committed here but maybe not yet flushed: (local commit end, peer end lsn), oldest first */
	XLogRecPtr	pending_local[APPLY_PENDING_MAX];
	XLogRecPtr	pending_remote[APPLY_PENDING_MAX];
	int			npending;
	int			batch_records;
	int			batch_xacts;
	TimestampTz batch_started;
	XLogRecPtr	batch_end_lsn;	/* end of the last remote transaction in the batch */
	TimestampTz batch_commit_time;
	XLogRecPtr	flushed_lsn;	/* committed here: safe to confirm */
	XLogRecPtr	wal_end;		/* the peer's WAL end, last reported */
	TimestampTz last_feedback;
	int64		applied;
	int64		skipped;
	MemoryContext record_cxt;
	int32		peer_id;
	const char *peer_name;
	const char *peer_node;		/* the peer's tieredlog.node_name */
	TimestampTz saved_until;	/* last applied_until written to tieredlog.peer */
	int64		seen_seq;		/* greatest seq of the peer's records applied (not "_seen" ones) */
	int64		noted_seq;		/* ... and written to "_seen" */
	TimestampTz noted_at;		/* when that witness was written */
} ApplyState;

static void
set_state(const char *state)
{
	tl_slot_set_state(ashared, &my_slot->w, state);
}

/*
 * Record an error in the slot (its message only); log it, with the error's code, detail and
 * context when it came from one, only if it differs from the last one (no log spam).
 */
static void
note_error_detail(const char *msg, ErrorData *edata)
{
	bool		same = tl_slot_keep_error(ashared, &my_slot->w, msg);
	const char *detail = edata ? edata->detail : NULL;
	const char *context = edata ? edata->context : NULL;

	ereport(same ? DEBUG1 : LOG,
			(edata ? errcode(edata->sqlerrcode) : 0,
			 errmsg("tieredlog apply worker: %s", msg),
			 (detail || context) ?
			 errdetail_internal("%s%s%s", detail ? detail : "", detail && context ? "\n" : "",
								context ? context : "") : 0));
}

/* Record an error in the slot; log it only if it differs from the last one (no log spam). */
static void
note_error(const char *msg)
{
	note_error_detail(msg, NULL);
}

/* A peer's limit stopped this worker: say so with the peer's setting to raise, then exit. */
static char exit_state[24] = "failed";

static void
note_peer_limit_and_exit(const char *msg, const char *hint)
{
	bool		same = tl_slot_keep_error(ashared, &my_slot->w, msg);

	ereport(same ? DEBUG1 : WARNING,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("tieredlog apply worker: %s", msg),
			 errdetail("Records from this peer wait in its slot there; the worker retries with backoff."),
			 errhint("%s", hint)));
	strlcpy(exit_state, "peer limit", sizeof(exit_state));
	proc_exit(1);
}

static void
apply_detach(int code, Datum arg)
{
	SpinLockAcquire(&ashared->mutex);
	if (my_slot != NULL && my_slot->w.pid == MyProcPid)
		tl_slot_end_run_locked(&my_slot->w, code != 0, exit_state, "stopped", APPLY_BACKOFF_MAX_S);
	SpinLockRelease(&ashared->mutex);
}

static void
load_peer(int32 peer_id, PeerInfo *peer)
{
	TlXact		x;
	TlPeerRow	row;
	MemoryContext cxt = CurrentMemoryContext;

	tl_xact_begin(&x, true);
	if (!tl_peer_for_apply(peer_id, &row))
	{
		tl_xact_commit(&x);
		proc_exit(0);			/* the peer was dropped or disabled */
	}
	peer->name = MemoryContextStrdup(cxt, row.name);
	peer->conninfo = MemoryContextStrdup(cxt, row.conninfo);
	peer->slot_name = MemoryContextStrdup(cxt, row.slot_name);
	peer->origin_name = MemoryContextStrdup(cxt, row.origin_name);
	peer->applied_until = row.applied_until;
	peer->peer_id = peer_id;
	peer->node_name = MemoryContextStrdup(cxt, row.node_name);
	peer->owner = row.owner;
	tl_xact_commit(&x);
}

/* Connect for replication; on failure record the error and exit (the database worker retries). */
static PGconn *
connect_peer(const PeerInfo *peer)
{
	TlPeerAddr	addr = {peer->name, peer->conninfo, peer->owner};
	char	   *error;
	PGconn	   *conn;

	set_state("connecting");
	conn = tl_peer_connect_replication(&addr, "tieredlog apply", &error);
	if (conn == NULL)
	{
		if (tl_peer_limit_hint(error) != NULL)
			note_peer_limit_and_exit(error, tl_peer_limit_hint(error));
		note_error(error);
		proc_exit(1);
	}
	return conn;
}

/*
 * Create the peer's slot again (peer.c); a refusal that is one of the peer's limits (all its
 * max_replication_slots in use) is reported with that setting and retried with backoff.
 */
static void
recreate_slot(const TlPeerAddr *addr, const PeerInfo *peer, const char *reason)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		TlXact		x;

		tl_xact_begin(&x, false);
		tl_peer_recreate_slot(addr, peer->slot_name, reason, peer->applied_until);
		tl_xact_commit(&x);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		const char *hint;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		hint = tl_peer_limit_hint(edata->message);
		if (hint == NULL)
			PG_RE_THROW();
		FlushErrorState();
		AbortCurrentTransaction();
		/* the message names the peer: "peer "p": all replication slots are in use" */
		note_peer_limit_and_exit(psprintf("could not recreate slot \"%s\" (%s): %s",
										  peer->slot_name, reason, edata->message), hint);
	}
	PG_END_TRY();
}

/*
 * START_REPLICATION. A slot that is gone, or was invalidated (max_slot_wal_keep_size), is created
 * again once and the commit-time range since the saved progress is recorded as a gap.
 */
static void
start_streaming(ApplyState *as, const PeerInfo *peer, XLogRecPtr from)
{
	char	   *slot_ident = PQescapeIdentifier(as->conn, peer->slot_name, strlen(peer->slot_name));
	char	   *cmd = psprintf("START_REPLICATION SLOT %s LOGICAL %X/%X (\"proto_version\" '%d')",
							   slot_ident, LSN_FORMAT_ARGS(from), TL_PROTO_VERSION);
	PGresult   *res = PQexec(as->conn, cmd);

	if (PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorMessage(res);
		const char *reason = NULL;

		if (sqlstate && strcmp(sqlstate, "42704") == 0)
			reason = "missing";
		else if (msg && strstr(msg, "invalidated") != NULL)
			reason = "invalidated";
		if (reason != NULL)
		{
			TlPeerAddr	addr = {peer->name, peer->conninfo, peer->owner};

			PQclear(res);
			recreate_slot(&addr, peer, reason);
			res = PQexec(as->conn, cmd);
		}
	}
	/* a peer with an older tieredlog speaks protocol 1 only (payloads as text): ask for that */
	if (PQresultStatus(res) != PGRES_COPY_BOTH && PQresultErrorMessage(res) != NULL &&
		strstr(PQresultErrorMessage(res), "protocol version") != NULL)
	{
		PQclear(res);
		ereport(LOG,
				(errmsg("tieredlog: peer \"%s\" does not speak streaming protocol %d; using protocol 1",
						peer->name, TL_PROTO_VERSION)));
		res = PQexec(as->conn, psprintf("START_REPLICATION SLOT %s LOGICAL %X/%X (\"proto_version\" '1')",
										slot_ident, LSN_FORMAT_ARGS(from)));
	}
	PQfreemem(slot_ident);
	if (PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		char	   *msg = pstrdup(primary ? primary : pchomp(PQerrorMessage(as->conn)));
		/* only a peer that has output_plugin_libraries (15.19+) names it in its refusal */
		const char *hint = strstr(PQresultErrorMessage(res), "output_plugin_libraries") != NULL
			? " (on the peer, add tieredlog to output_plugin_libraries and reload)" : "";

		PQclear(res);
		note_error(psprintf("peer \"%s\" refused to stream slot \"%s\": %s%s", peer->name,
							peer->slot_name, msg, hint));
		proc_exit(1);
	}
	PQclear(res);
}

/* ---- applying ---------------------------------------------------------------------------------- */

static void
begin_batch(ApplyState *as)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	as->in_xact = true;
	as->batch_records = 0;
	as->batch_xacts = 0;
	as->batch_started = GetCurrentTimestamp();
}

/* Save the peer commit time applied so far (the start of a gap, should the slot be lost). */
static void
save_progress_time(ApplyState *as)
{
	int			guc_level = tl_spi_connect();

	tl_peer_save_applied_until(as->peer_id, as->batch_commit_time);
	tl_spi_finish(guc_level);
	as->saved_until = as->batch_commit_time;
}

/*
 * The peer position that is safe to confirm: the end of the newest peer transaction whose local
 * commit is flushed. The worker commits asynchronously (as PostgreSQL's own apply workers do) and
 * confirms only what the WAL flush has reached, so a crash here loses nothing the peer forgot.
 */
static void
advance_flushed(ApplyState *as, bool wait)
{
	XLogRecPtr	flushed;
	int			done = 0;

	if (as->npending == 0)
		return;
	if (wait)
		XLogFlush(as->pending_local[as->npending - 1]);
	flushed = GetFlushRecPtr(NULL);
	while (done < as->npending && as->pending_local[done] <= flushed)
	{
		as->flushed_lsn = Max(as->flushed_lsn, as->pending_remote[done]);
		done++;
	}
	if (done > 0)
	{
		memmove(as->pending_local, as->pending_local + done, sizeof(XLogRecPtr) * (as->npending - done));
		memmove(as->pending_remote, as->pending_remote + done, sizeof(XLogRecPtr) * (as->npending - done));
		as->npending -= done;
	}
}

/*
 * Commit one of the worker's own bookkeeping transactions: they store no record of a user's log,
 * so the conflict heads it caches stay valid across them (tl_conflict_after_commit).
 */
static void
commit_own(TlXact *x)
{
	uint64		expected = tl_conflict_before_commit();

	tl_xact_commit(x);
	tl_conflict_after_commit(expected);
}

/*
 * Tell every node what this node has now seen of the peer (causal.c): a "_seen" record of this
 * node's own, in its own transaction after the batch's commit, so that its seq is greater than
 * that of any record written before the batch was visible. Not under the peer's replication
 * origin: it must stream to every peer. While a backlog streams in, at most one witness every
 * APPLY_SEEN_EVERY_MS (each is a transaction of its own: a tenth of a catch-up's work when written
 * after every batch); when the stream goes idle, at once.
 */
static void
note_seen(ApplyState *as, bool idle)
{
	RepOriginId saved = replorigin_session_origin;
	TlXact		x;
	TimestampTz now;

	if (as->in_xact || as->seen_seq <= as->noted_seq)
		return;					/* (in_xact: records of the open batch are not visible yet) */
	now = GetCurrentTimestamp();
	if (!idle && now - as->noted_at < APPLY_SEEN_EVERY_MS * 1000L)
		return;
	as->noted_at = now;
	tl_xact_begin(&x, false);
	replorigin_session_origin = InvalidRepOriginId;
	tl_causal_note(as->peer_node, as->seen_seq);
	commit_own(&x);
	replorigin_session_origin = saved;
	as->noted_seq = as->seen_seq;
}

/* A second without data: write the conflict episodes whose moves commits left for later. */
static void
write_conflicts_when_idle(ApplyState *as)
{
	XLogRecPtr	saved_lsn = replorigin_session_origin_lsn;
	TlXact		x;

	if (as->in_xact || !tl_conflict_unwritten())
		return;
	tl_xact_begin(&x, false);
	replorigin_session_origin_lsn = InvalidXLogRecPtr;	/* bookkeeping: the origin stays where it is */
	tl_conflict_flush(true);
	commit_own(&x);
	replorigin_session_origin_lsn = saved_lsn;
}

static void
commit_batch(ApplyState *as)
{
	uint64		expected;

	/* never in the middle of a peer transaction: it becomes visible here whole or not at all */
	if (!as->in_xact || as->in_remote_xact)
		return;
	tl_conflict_flush(false);	/* new conflict episodes, and moves not written for a second */
	if (as->batch_xacts > 0 && as->batch_commit_time - as->saved_until >= 10 * USECS_PER_SEC)
		save_progress_time(as);
	if (as->batch_xacts > 0)
	{
		replorigin_session_origin_lsn = as->batch_end_lsn;
		replorigin_session_origin_timestamp = as->batch_commit_time;
	}
	PopActiveSnapshot();
	expected = tl_conflict_before_commit();
	CommitTransactionCommand();
	tl_conflict_after_commit(expected);
	as->in_xact = false;
	MemoryContextReset(as->record_cxt);
	if (as->batch_xacts > 0)
	{
		if (as->npending == APPLY_PENDING_MAX)
			advance_flushed(as, true);
		as->pending_local[as->npending] = XactLastCommitEnd;
		as->pending_remote[as->npending++] = as->batch_end_lsn;
		SpinLockAcquire(&ashared->mutex);
		my_slot->applied_lsn = as->batch_end_lsn;
		my_slot->applied_commit_time = as->batch_commit_time;
		my_slot->records_applied = as->applied;
		my_slot->records_skipped = as->skipped;
		my_slot->w.failures = 0;
		SpinLockRelease(&ashared->mutex);
	}
	note_seen(as, false);
}

/* What apply and reconciliation do with a record that is already here under another rid. */
static void
apply_record(ApplyState *as, TlWire *w)
{
	MemoryContext old = MemoryContextSwitchTo(as->record_cxt);
	TlWireRecord wr;
	TlApplyResult res;

	tl_wire_get_record(w, &wr);
	if (strcmp(wr.rec.origin, tl_node_name()) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the peer sent record %lld with this node's own name as origin", (long long) wr.rec.seq),
				 errhint("Two nodes share the node name \"%s\"; tieredlog.node_name must be unique.",
						 wr.rec.origin)));
	/*
	 * A peer's decoder streams only what that peer originated (records it stored for others
	 * are written under a replication origin and skipped): anything else is forged.
	 */
	if (strcmp(wr.rec.origin, as->peer_node) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer \"%s\" streamed record %lld of origin \"%s\"; it may stream only its own (\"%s\")",
						as->peer_name, (long long) wr.rec.seq, wr.rec.origin, as->peer_node)));
	if (strcmp(wr.log_name, TL_SEEN_LOG) != 0)
		as->seen_seq = Max(as->seen_seq, wr.rec.seq);
	res = tl_store_remote_record(&wr, "streaming", as->peer_name, as->peer_node);
	/* the counters are the user's records; "_seen" ones are tieredlog's bookkeeping */
	if (strcmp(wr.log_name, TL_SEEN_LOG) != 0)
	{
		if (res == TL_APPLY_STORED)
			as->applied++;
		else
			as->skipped++;
	}
	as->batch_records++;
	MemoryContextSwitchTo(old);
	/* nothing of one record outlives it: memory stays flat however big the peer's transaction */
	MemoryContextReset(as->record_cxt);
}

/* One item of a stream message: 'B' begin, 'R' record, 'C' commit. */
static void
handle_item(ApplyState *as, TlWire *w)
{
	uint8		kind = tl_wire_u8(w);

	switch (kind)
	{
		case 'B':
			(void) tl_wire_u64(w);
			(void) tl_wire_u64(w);
			(void) tl_wire_u32(w);
			if (!as->in_xact)
				begin_batch(as);
			as->in_remote_xact = true;
			break;
		case 'R':
			if (!as->in_xact)
				begin_batch(as);
			apply_record(as, w);
			break;
		case 'C':
			(void) tl_wire_u64(w);
			as->batch_end_lsn = tl_wire_u64(w);
			as->batch_commit_time = (TimestampTz) tl_wire_u64(w);
			as->batch_xacts++;
			as->in_remote_xact = false;
			if (as->batch_records >= APPLY_BATCH_RECORDS || as->batch_xacts >= APPLY_BATCH_XACTS)
				commit_batch(as);
			break;
		default:
			tl_wire_fail("unknown message kind");
	}
}

/* One XLogData message: one item (protocol 1), or a transaction's items in a row (protocol 2). */
static void
handle_xlogdata(ApplyState *as, const char *buf, int len)
{
	TlWire		w = {buf + 25, buf + len};

	if (len < 26)
		tl_wire_fail("short XLogData");
	while (w.p < w.end)
		handle_item(as, &w);
}

static void
send_feedback(ApplyState *as, bool force)
{
	TimestampTz now = GetCurrentTimestamp();
	char		buf[1 + 8 * 4 + 1];
	uint64		v;

	if (!force && now - as->last_feedback < APPLY_FEEDBACK_MS * 1000L)
		return;
	advance_flushed(as, false);
	buf[0] = 'r';
	v = pg_hton64(as->flushed_lsn);
	memcpy(buf + 1, &v, 8);		/* written */
	memcpy(buf + 9, &v, 8);		/* flushed */
	memcpy(buf + 17, &v, 8);	/* applied */
	v = pg_hton64((uint64) now);
	memcpy(buf + 25, &v, 8);
	buf[33] = 0;
	if (PQputCopyData(as->conn, buf, sizeof(buf)) <= 0 || PQflush(as->conn) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not send feedback to the peer: %s", pchomp(PQerrorMessage(as->conn)))));
	as->last_feedback = now;
}

static void
handle_keepalive(ApplyState *as, const char *buf, int len)
{
	TlWire		w = {buf + 1, buf + len};

	XLogRecPtr	sent = tl_wire_u64(&w);
	bool		reply;

	(void) tl_wire_u64(&w);
	reply = tl_wire_u8(&w);
	as->wal_end = Max(as->wal_end, sent);
	commit_batch(as);
	note_seen(as, true);		/* the peer had nothing more to send */
	advance_flushed(as, false);

	/*
	 * Everything the peer decoded before `sent` has reached us (messages arrive in order); once it
	 * is all committed and flushed here, confirm it, so the slot also moves past WAL that held no
	 * record for us.
	 */
	if (sent > as->flushed_lsn && !as->in_xact && as->npending == 0)
	{
		as->flushed_lsn = sent;
		SpinLockAcquire(&ashared->mutex);
		my_slot->applied_lsn = sent;
		SpinLockRelease(&ashared->mutex);
	}
	if (reply)
		send_feedback(as, true);
}

static void
note_contact(ApplyState *as)
{
	SpinLockAcquire(&ashared->mutex);
	my_slot->last_contact = GetCurrentTimestamp();
	my_slot->received_lsn = as->wal_end;
	SpinLockRelease(&ashared->mutex);
}

/* Read what the socket holds into libpq's buffer, without waiting (what is applied is kept). */
static void
consume_input(ApplyState *as)
{
	if (PQconsumeInput(as->conn) == 0)
	{
		commit_batch(as);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("lost the connection to the peer: %s", pchomp(PQerrorMessage(as->conn)))));
	}
}

/* Wait up to `ms` for the peer's socket; false if the time ran out with nothing to read. */
static bool
wait_for_socket(ApplyState *as, long ms)
{
	int			rc = WaitLatchOrSocket(MyLatch,
									   WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									   PQsocket(as->conn), ms, PG_WAIT_EXTENSION);

	ResetLatch(MyLatch);
	return (rc & WL_TIMEOUT) == 0;
}

/*
 * The stream ran dry with a batch open for less than APPLY_LINGER_MS: wait for more until then,
 * rather than commit. An apply worker that outruns the peer's walsender (a catch-up) otherwise
 * commits, and flushes, every few records, and writes a "_seen" witness each time. True if more
 * arrived (it is in libpq's buffer), false if the batch should commit now.
 */
static bool
linger(ApplyState *as)
{
	long		open_ms;

	if (!as->in_xact)
		return false;
	open_ms = (long) ((GetCurrentTimestamp() - as->batch_started) / 1000);
	if (open_ms >= APPLY_LINGER_MS)
		return false;
	/* a millisecond for the peer to fill the socket: one read of many messages, not a wake-up each */
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	if (!wait_for_socket(as, Max(APPLY_LINGER_MS - open_ms - 1, 0)))
		return false;
	consume_input(as);
	return true;
}

/* Receive and apply until the connection ends or an error is raised. */
static void
stream(ApplyState *as)
{
	set_state("streaming");
	for (;;)
	{
		char	   *buf;
		int			len;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		len = PQgetCopyData(as->conn, &buf, 1);
		if (len == 0)
		{
			/*
			 * libpq's buffer is empty, but the socket may not be: read what has arrived before
			 * taking the stream for idle. A commit and a "_seen" witness every time the buffer
			 * ran dry made batches of about 20 records in a catch-up.
			 */
			consume_input(as);
			len = PQgetCopyData(as->conn, &buf, 1);
		}
		if (len > 0)
		{
			if (buf[0] == 'w')
			{
				TlWire		hdr = {buf + 1, buf + len};

				(void) tl_wire_u64(&hdr);
				as->wal_end = tl_wire_u64(&hdr);
				handle_xlogdata(as, buf, len);
			}
			else if (buf[0] == 'k')
				handle_keepalive(as, buf, len);
			PQfreemem(buf);
			note_contact(as);
			continue;
		}
		if (len == -1)
		{
			commit_batch(as);
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("the peer ended streaming: %s", pchomp(PQerrorMessage(as->conn)))));
		}
		if (len == -2)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not receive from the peer: %s", pchomp(PQerrorMessage(as->conn)))));
		if (linger(as))
			continue;
		/*
		 * Nothing buffered: commit what we have and confirm it. Once nothing came for
		 * APPLY_LINGER_MS, the stream is idle: say what was seen; after a second, write the
		 * conflict episodes left for later.
		 */
		commit_batch(as);
		send_feedback(as, false);
		if (!wait_for_socket(as, APPLY_LINGER_MS))
		{
			note_seen(as, true);
			if (!wait_for_socket(as, APPLY_FEEDBACK_MS))
				write_conflicts_when_idle(as);
		}
		consume_input(as);
	}
}

static void
close_connection(int code, Datum arg)
{
	PGconn	   *conn = (PGconn *) DatumGetPointer(arg);

	if (conn)
		PQfinish(conn);
}

void
tieredlog_apply_main(Datum arg)
{
	int			index = DatumGetInt32(arg);
	Oid			dboid;
	int32		peer_id;
	PeerInfo	peer;
	ApplyState	as;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	if (index < 0 || index >= tl_max_peers)
		proc_exit(0);
	my_slot = apply_slot(index);
	SpinLockAcquire(&ashared->mutex);
	dboid = my_slot->w.dboid;
	peer_id = my_slot->peer_id;
	my_slot->w.pid = MyProcPid;
	my_slot->w.started_at = GetCurrentTimestamp();
	SpinLockRelease(&ashared->mutex);
	before_shmem_exit(apply_detach, (Datum) 0);
	if (!OidIsValid(dboid))
		proc_exit(0);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	tl_append_keep_indexes = true;
	tl_pin_search_path_for_process();	/* runs as the bootstrap superuser */
	pgstat_report_appname("tieredlog apply");
	/* commits are asynchronous; only flushed positions are confirmed (advance_flushed) */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	load_peer(peer_id, &peer);
	memset(&as, 0, sizeof(as));
	as.peer_id = peer_id;
	as.peer_name = peer.name;
	as.peer_node = peer.node_name;
	tl_causal_set_stream_writer(peer.node_name);
	as.saved_until = peer.applied_until;
	/* counters carry on across restarts of the worker (not of the server) */
	SpinLockAcquire(&ashared->mutex);
	as.applied = my_slot->records_applied;
	as.skipped = my_slot->records_skipped;
	strlcpy(my_slot->w.state, "starting", sizeof(my_slot->w.state));
	SpinLockRelease(&ashared->mutex);
	as.record_cxt = AllocSetContextCreate(TopMemoryContext, "tieredlog apply record", ALLOCSET_DEFAULT_SIZES);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	as.origin = replorigin_by_name(peer.origin_name, true);
	if (as.origin == InvalidRepOriginId)
		as.origin = replorigin_create(peer.origin_name);
	CommitTransactionCommand();
	replorigin_session_setup(as.origin);
	replorigin_session_origin = as.origin;
	as.flushed_lsn = replorigin_session_get_progress(false);

	as.conn = connect_peer(&peer);
	before_shmem_exit(close_connection, PointerGetDatum(as.conn));
	start_streaming(&as, &peer, as.flushed_lsn);
	ereport(LOG, (errmsg("tieredlog apply worker for peer \"%s\" streams from %X/%X", peer.name,
						 LSN_FORMAT_ARGS(as.flushed_lsn))));
	PG_TRY();
	{
		stream(&as);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		note_error_detail(psprintf("peer \"%s\": %s", peer.name, edata->message), edata);
		proc_exit(1);
	}
	PG_END_TRY();
	proc_exit(0);
}
