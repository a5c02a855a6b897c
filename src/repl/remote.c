/*-------------------------------------------------------------------------
 * remote.c
 *		Storing a record that came from a peer, by streaming (apply.c) or by reconciliation
 *		(reconcile.c): the log is created if this node lacks it (with the peer's segment
 *		interval; a different interval here is an error), the record is stored unless its
 *		identity is already here, and the same identity with other content is damage: both
 *		versions are recorded in tieredlog.quarantine, and the copy the record's origin vouches
 *		for wins — this node's copy is replaced when the sender is the origin (and this node's
 *		copy is in a segment relation; one in archive frames stays quarantined), kept when this
 *		node is the origin, and left unresolved otherwise. Nothing is merged.
 *
 * Locking: as append.c; the quarantine row is inserted in the caller's transaction.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "access/htup_details.h"
#include "utils/snapmgr.h"
#include "store/catalog.h"
#include "log/causal.h"
#include "log/conflict.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "log/quarantine.h"
#include "repl/reconcile.h"
#include "log/ledger.h"
#include "log/node.h"
#include "repl/remote.h"
#include "log/scrub.h"
#include "repl/vote.h"
#include "core/tieredlog.h"

/* This node's copy of the record: found, still hashing to its rid, its payload text. */
typedef struct LocalCopy
{
	bool		found;
	bool		consistent;
	char	   *payload_text;
} LocalCopy;

static void
quarantine(const TlWireRecord *wr, const TlRid *existing, const LocalCopy *local, const char *via,
		   const char *peer_name, const char *resolution)
{
	tl_quarantine_insert(wr->log_name, &wr->rec, wr->payload_text, existing,
						 local->found ? local->payload_text : NULL, via, peer_name, resolution);
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("record %s:%lld of log \"%s\" differs between this node and peer \"%s\"",
					wr->rec.origin, (long long) wr->rec.seq, wr->log_name, peer_name ? peer_name : "?"),
			 errdetail("Same identity, rid %s here and %s there.", tl_rid_to_hex(existing),
					   tl_rid_to_hex(&wr->rec.rid)),
			 resolution ? errhint("Resolved: %s; both versions are in tieredlog.quarantine.", resolution)
			 : errhint("Neither copy comes from the record's origin: it waits in tieredlog.quarantine.")));
}

typedef struct CopyCheck
{
	const char *origin;
	int64		seq;
	LocalCopy  *out;
} CopyCheck;

/* Stops at the copy of (origin, seq). */
static bool
visit_check_copy(HeapTuple row, const TlRecord *rec, const TlRid *stored, bool matches, void *arg)
{
	CopyCheck  *c = arg;

	if (rec->seq != c->seq || strcmp(rec->origin, c->origin) != 0)
		return true;
	c->out->found = true;
	c->out->consistent = matches;
	c->out->payload_text = JsonbToCString(NULL, &rec->payload->root, VARSIZE(rec->payload));
	return false;
}

/* This node's copy of (origin, seq), and whether it still hashes to its rid (one that does not is damaged). */
static LocalCopy
read_local_copy(const TlLog *log, const TlRecord *rec)
{
	TlSegment	seg;
	LocalCopy	out = {false, true, NULL};
	CopyCheck	c = {rec->origin, rec->seq, &out};

	tl_segment_for_append(log, rec->ts, &seg);
	tl_segment_rows_checked(log, &seg, GetActiveSnapshot(), rec->ts, rec->ts + 1, rec->key,
							visit_check_copy, &c);
	return out;
}

/*
 * sender_node: the node name of the peer the record came from (the origin's copy wins). A
 * conflict resolved by replacing this node's copy returns TL_APPLY_STORED.
 */
TlApplyResult
tl_store_remote_record(TlWireRecord *wr, const char *via, const char *peer_name, const char *sender_node)
{
	TlLog		log;
	TlRid		existing;
	TlApplyResult res;
	LocalCopy	local;

	/* the cached lookup append() uses: a catalog query per record was a fifth of the apply's time */
	if (!tl_lookup_log_if_exists(wr->log_name, &log))
	{
		(void) tl_catalog_insert_log(wr->log_name, wr->interval_us, "last_writer_wins");
		tl_ledger_log_created(wr->log_name, wr->interval_us, "last_writer_wins");
		CommandCounterIncrement();
		if (!tl_catalog_find_log(wr->log_name, &log))
			elog(ERROR, "log \"%s\" vanished after it was created", wr->log_name);
	}
	else if (log.interval_us != wr->interval_us)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("log \"%s\" has segments of %lld s here but of %lld s on the peer",
						wr->log_name, (long long) (log.interval_us / USECS_PER_SEC),
						(long long) (wr->interval_us / USECS_PER_SEC)),
				 errhint("A log must have the same segment_interval on every node.")));
	res = tl_apply_record(&log, &wr->rec, &existing);
	/*
	 * A "_seen" record says what its origin had received: it settles and hides conflicts, so it
	 * counts only when its origin itself sent it (streaming, or that node's reconciliation); a
	 * copy relayed by another peer is stored but proves nothing.
	 */
	if (res == TL_APPLY_STORED && strcmp(log.name, TL_SEEN_LOG) == 0)
	{
		if (sender_node == NULL || strcmp(wr->rec.origin, sender_node) == 0)
			tl_causal_index_record(&wr->rec);
	}
	else if (res == TL_APPLY_STORED)
		(void) tl_conflict_check(&log, &wr->rec, via);
	if (res == TL_APPLY_STORED && strcmp(wr->rec.origin, tl_node_name()) == 0)
		tl_node_note_own_seq(wr->rec.seq);	/* this node's own record, back: never hand its seq out again */
	if (res != TL_APPLY_CONFLICT)
		return res;
	/* a copy here may be replaced below: heads cached with its content must be read again */
	tl_conflict_forget_heads();
	local = read_local_copy(&log, &wr->rec);
	if (strcmp(wr->rec.origin, tl_node_name()) == 0)
		quarantine(wr, &existing, &local, via, peer_name, "kept this node's copy: this node is the record's origin");
	else if (sender_node != NULL && strcmp(wr->rec.origin, sender_node) == 0 &&
			 tl_replace_record(&log, &wr->rec, &existing))
	{
		quarantine(wr, &existing, &local, via, peer_name, psprintf("replaced by the copy of its origin %s", sender_node));
		return TL_APPLY_STORED;
	}
	else if (local.found && !local.consistent && tl_replace_record(&log, &wr->rec, &existing))
	{
		/* the origin may be unavailable: a copy that no longer hashes to its rid is damage either way */
		quarantine(wr, &existing, &local, via, peer_name,
				   "replaced: this node's copy no longer matched its rid, the peer's does");
		return TL_APPLY_STORED;
	}
	else
	{
		TlRid		winner;
		char	   *why = NULL;

		/* neither copy is vouched for: the origin, if reachable, else the majority decides */
		if (tl_vote_on_conflict(wr->log_name, &wr->rec, &existing, sender_node, &winner, &why))
		{
			if (memcmp(winner.bytes, wr->rec.rid.bytes, TL_RID_LEN) == 0 &&
				tl_replace_record(&log, &wr->rec, &existing))
			{
				quarantine(wr, &existing, &local, via, peer_name, psprintf("replaced by the peer's copy: %s", why));
				return TL_APPLY_STORED;
			}
			if (memcmp(winner.bytes, existing.bytes, TL_RID_LEN) == 0)
			{
				quarantine(wr, &existing, &local, via, peer_name, psprintf("kept this node's copy: %s", why));
				return TL_APPLY_CONFLICT;
			}
		}
		quarantine(wr, &existing, &local, via, peer_name, NULL);
		if (why)
			ereport(NOTICE, (errmsg("record %s:%lld of log \"%s\" stays quarantined: %s", wr->rec.origin,
									(long long) wr->rec.seq, wr->log_name, why)));
	}
	return TL_APPLY_CONFLICT;
}
