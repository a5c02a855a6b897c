/*-------------------------------------------------------------------------
 * remote.c
 *		Storing a record that came from a peer, by streaming (apply.c) or by reconciliation
 *		(reconcile.c): the log is created if this node lacks it (with the peer's segment
 *		interval; a different interval here is an error), the record is stored unless its
 *		identity is already here, and the same identity with other content is quarantined:
 *		both versions are kept in tieredlog.quarantine, nothing is merged or overwritten.
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

#include "catalog.h"
#include "remote.h"
#include "tieredlog.h"

static void
quarantine(const TlWireRecord *wr, const TlRid *existing, const char *via, const char *peer_name)
{
	Oid			types[9] = {TEXTOID, TEXTOID, INT8OID, TEXTOID, UUIDOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[9];
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
	tl_become_owner(&save);
	tl_spi_exec("INSERT INTO tieredlog.quarantine (log_name, origin, seq, key, local_rid, remote_rid,"
				" remote_payload, via, peer_name) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, NULLIF($9, ''))"
				" ON CONFLICT (log_name, origin, seq, remote_rid) DO NOTHING",
				9, types, values, SPI_OK_INSERT);
	tl_restore_user(&save);
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("record %s:%lld of log \"%s\" differs between this node and peer \"%s\"; quarantined",
					wr->rec.origin, (long long) wr->rec.seq, wr->log_name, peer_name ? peer_name : "?"),
			 errdetail("Same identity, rid %s here and %s there.", tl_rid_to_hex(existing),
					   tl_rid_to_hex(&wr->rec.rid)),
			 errhint("See tieredlog.quarantine; nothing was overwritten.")));
}

TlApplyResult
tl_store_remote_record(TlWireRecord *wr, const char *via, const char *peer_name)
{
	TlLog		log;
	TlRid		existing;
	TlApplyResult res;

	if (!tl_catalog_find_log(wr->log_name, &log))
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
	if (res == TL_APPLY_CONFLICT)
		quarantine(wr, &existing, via, peer_name);
	return res;
}
