/*-------------------------------------------------------------------------
 * quarantine.c
 *		tieredlog.quarantine keeps both versions of a record identity (origin, seq) that was found
 *		with two contents: by replication or reconciliation (remote.c: this node's copy and the
 *		peer's) or by the scrub (scrub.c: a row whose content no longer hashes to its stored rid,
 *		taken out of its segment so that reconciliation fetches an intact copy). Nothing here
 *		decides which copy wins; it records what the callers decided, and marks a scrubbed entry
 *		resolved once an intact copy of the record is back in its segment.
 *
 * Locking: rows are written (store/quarantine_store.c) in the caller's transaction, as the
 * extension owner.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "core/json.h"
#include "core/record.h"
#include "core/safe_spi.h"
#include "log/ledger.h"
#include "log/quarantine.h"
#include "store/segrows.h"

/* The QUARANTINE ledger entry: which versions of which record, and what was done. */
static void
log_quarantine(const TlQuarantineEntry *e)
{
	TlJson		j;

	tl_json_init(&j);
	tl_json_text(&j, "origin", e->origin);
	tl_json_int(&j, "seq", e->seq);
	tl_json_text(&j, "ts", timestamptz_to_str(e->ts));
	tl_json_text(&j, "local_rid", tl_rid_to_hex(&e->local_rid));
	tl_json_text(&j, "other_rid", tl_rid_to_hex(&e->other_rid));
	tl_json_text(&j, "via", e->via);
	tl_json_text(&j, "peer", e->peer_name);
	tl_json_text(&j, "resolution", e->resolution);
	tl_ledger_add("QUARANTINE", e->log_name, 0, tl_json_finish(&j));
}

/*
 * Quarantine two versions of one record identity: `other` (its rid; its content as jsonb text,
 * other_payload) beside this node's copy, stored with local_rid (local_payload: that copy's
 * content, NULL when it was not read). peer_name is NULL for the scrub; resolution NULL when the
 * entry waits for a decision.
 */
void
tl_quarantine_insert(const char *log_name, const TlRecord *other, const char *other_payload,
					 const TlRid *local_rid, const char *local_payload, const char *via,
					 const char *peer_name, const char *resolution)
{
	TlQuarantineEntry e;
	TlAsOwner	save;

	e.log_name = log_name;
	e.origin = other->origin;
	e.seq = other->seq;
	e.ts = other->ts;
	e.key = other->key;
	e.local_rid = *local_rid;
	e.local_payload = local_payload;
	e.other_rid = other->rid;
	e.other_payload = other_payload;
	e.via = via;
	e.peer_name = peer_name;
	e.resolution = resolution;
	tl_become_owner(&save);
	tl_quarantine_row_insert(&e);
	tl_restore_user(&save);
	log_quarantine(&e);
}

/*
 * Scrubbed entries of this segment whose record is back with its stored rid (fetched from
 * `peer_name` by reconciliation) are marked resolved. Returns how many.
 */
int
tl_quarantine_resolve_restored(const TlLog *log, const TlSegment *seg, const char *peer_name)
{
	TlAsOwner	save;
	int			resolved = 0;
	int			n;
	TlQuarantineScrub *rows;

	tl_become_owner(&save);
	rows = tl_quarantine_unresolved_scrubs(log->name, seg->range_start, seg->range_end, &n);
	for (int i = 0; i < n; i++)
	{
		const TlQuarantineScrub *q = &rows[i];
		TlRid		here;

		if (!tl_segrows_local_rid(log->name, q->origin, q->seq, q->ts, q->key, &here) ||
			memcmp(here.bytes, q->local_rid.bytes, TL_RID_LEN) != 0)
			continue;
		tl_quarantine_mark_resolved(q->quarantine_id,
									psprintf("restored: an intact copy came from peer %s by reconciliation",
											 peer_name ? peer_name : "?"));
		resolved++;
	}
	tl_restore_user(&save);
	return resolved;
}
