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
#include "utils/uuid.h"

#include "access/htup_details.h"
#include "utils/snapmgr.h"
#include "catalog.h"
#include "segment.h"
#include "segrows.h"
#include "reconcile.h"
#include "remote.h"
#include "tieredlog.h"

static void
quarantine(const TlWireRecord *wr, const TlRid *existing, const char *via, const char *peer_name,
		   const char *resolution)
{
	Oid			types[10] = {TEXTOID, TEXTOID, INT8OID, TEXTOID, UUIDOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[10];
	char		nulls[10] = "          ";
	pg_uuid_t  *local = palloc(sizeof(pg_uuid_t));
	pg_uuid_t  *remote = palloc(sizeof(pg_uuid_t));
	TlAsOwner	save;

	memcpy(local->data, existing->bytes, TL_RID_LEN);
	memcpy(remote->data, wr->rec.rid.bytes, TL_RID_LEN);
	values[0] = CStringGetTextDatum(wr->log_name);
	values[1] = CStringGetTextDatum(wr->rec.origin);
	values[2] = Int64GetDatum(wr->rec.seq);
	values[3] = PointerGetDatum(wr->rec.key);
	values[4] = UUIDPGetDatum(local);
	values[5] = UUIDPGetDatum(remote);
	values[6] = CStringGetTextDatum(wr->payload_text);
	values[7] = CStringGetTextDatum(via);
	values[8] = CStringGetTextDatum(peer_name ? peer_name : "");
	values[9] = resolution ? CStringGetTextDatum(resolution) : (Datum) 0;
	if (resolution == NULL)
		nulls[9] = 'n';
	tl_become_owner(&save);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("INSERT INTO tieredlog.quarantine (log_name, origin, seq, key, local_rid, remote_rid,"
							  " remote_payload, via, peer_name, resolution, resolved_at)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, NULLIF($9, ''), $10,"
							  " CASE WHEN $10 IS NULL THEN NULL ELSE now() END)"
							  " ON CONFLICT (log_name, origin, seq, remote_rid) DO UPDATE"
							  " SET resolution = EXCLUDED.resolution, resolved_at = EXCLUDED.resolved_at"
							  " WHERE quarantine.resolved_at IS NULL",
							  10, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a quarantined record");
	SPI_finish();
	tl_restore_user(&save);
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
	const char *log_name;
	const char *origin;
	int64		seq;
	bool		found;
	bool		consistent;
} CopyCheck;

static void
visit_check_copy(HeapTuple row, TupleDesc desc, void *arg)
{
	CopyCheck  *c = arg;
	Datum		v[Natts_row];
	bool		n[Natts_row];
	TlRecord	rec;
	TlRid		stored;

	heap_deform_tuple(row, desc, v, n);
	if (c->found || DatumGetInt64(v[Anum_row_seq - 1]) != c->seq ||
		strcmp(TextDatumGetCString(v[Anum_row_origin - 1]), c->origin) != 0)
		return;
	memset(&rec, 0, sizeof(rec));
	rec.log_name = c->log_name;
	rec.ts = DatumGetTimestampTz(v[Anum_row_ts - 1]);
	rec.key = DatumGetTextPP(v[Anum_row_key - 1]);
	rec.payload = DatumGetJsonbP(v[Anum_row_payload - 1]);
	rec.source = n[Anum_row_source - 1] ? NULL : DatumGetTextPP(v[Anum_row_source - 1]);
	rec.origin = c->origin;
	rec.seq = c->seq;
	tl_record_compute_rid(&rec);
	memcpy(stored.bytes, DatumGetUUIDP(v[Anum_row_rid - 1])->data, TL_RID_LEN);
	c->found = true;
	c->consistent = memcmp(stored.bytes, rec.rid.bytes, TL_RID_LEN) == 0;
}

/* Does this node's copy of (origin, seq) still hash to its rid? (A copy that does not is damaged.) */
static bool
local_copy_consistent(const TlLog *log, const TlRecord *rec)
{
	TlSegment	seg;
	CopyCheck	c = {log->name, rec->origin, rec->seq, false, true};

	tl_segment_for_append(log, rec->ts, &seg);
	tl_segment_rows(log, &seg, GetActiveSnapshot(), rec->ts, rec->ts + 1, rec->key,
					visit_check_copy, &c);
	return !c.found || c.consistent;
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

	/* the cached lookup append() uses: a catalog query per record was a fifth of the apply's time */
	if (!tl_lookup_log_if_exists(wr->log_name, &log))
	{
		(void) tl_catalog_insert_log(wr->log_name, wr->interval_us, "last_writer_wins");
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
	if (res != TL_APPLY_CONFLICT)
		return res;
	if (strcmp(wr->rec.origin, tl_node_name()) == 0)
		quarantine(wr, &existing, via, peer_name, "kept this node's copy: this node is the record's origin");
	else if (sender_node != NULL && strcmp(wr->rec.origin, sender_node) == 0 &&
			 tl_replace_record(&log, &wr->rec, &existing))
	{
		quarantine(wr, &existing, via, peer_name, psprintf("replaced by the copy of its origin %s", sender_node));
		return TL_APPLY_STORED;
	}
	else if (!local_copy_consistent(&log, &wr->rec) && tl_replace_record(&log, &wr->rec, &existing))
	{
		/* the origin may be unavailable: a copy that no longer hashes to its rid is damage either way */
		quarantine(wr, &existing, via, peer_name,
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
				quarantine(wr, &existing, via, peer_name, psprintf("replaced by the peer's copy: %s", why));
				return TL_APPLY_STORED;
			}
			if (memcmp(winner.bytes, existing.bytes, TL_RID_LEN) == 0)
			{
				quarantine(wr, &existing, via, peer_name, psprintf("kept this node's copy: %s", why));
				return TL_APPLY_CONFLICT;
			}
		}
		quarantine(wr, &existing, via, peer_name, NULL);
		if (why)
			ereport(NOTICE, (errmsg("record %s:%lld of log \"%s\" stays quarantined: %s", wr->rec.origin,
									(long long) wr->rec.seq, wr->log_name, why)));
	}
	return TL_APPLY_CONFLICT;
}
