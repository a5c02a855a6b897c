/*-------------------------------------------------------------------------
 * quarantine.c
 *		tieredlog.quarantine keeps both versions of a record identity (origin, seq) that was found
 *		with two contents: by replication or reconciliation (remote.c: this node's copy and the
 *		peer's) or by the scrub (scrub.c: a row whose content no longer hashes to its stored rid,
 *		taken out of its segment so that reconciliation fetches an intact copy). Nothing here
 *		decides which copy wins; it records what the callers decided, and marks a scrubbed entry
 *		resolved once an intact copy of the record is back in its segment.
 *
 * Locking: rows are written through SPI in the caller's transaction, as the extension owner.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "core/json.h"
#include "core/record.h"
#include "core/safe_spi.h"
#include "log/ledger.h"
#include "log/quarantine.h"
#include "store/segrows.h"

/* Insert an entry; the same two versions found again only update an unresolved entry's resolution. */
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

void
tl_quarantine_insert(const TlQuarantineEntry *e)
{
	int			guc_level;
	Oid			types[12] = {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, UUIDOID, TEXTOID,
	UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[12];
	char		nulls[13] = "            ";
	TlAsOwner	save;

	values[0] = CStringGetTextDatum(e->log_name);
	values[1] = CStringGetTextDatum(e->origin);
	values[2] = Int64GetDatum(e->seq);
	values[3] = TimestampTzGetDatum(e->ts);
	values[4] = PointerGetDatum(e->key);
	values[5] = tl_rid_datum(&e->local_rid);
	values[6] = e->local_payload ? CStringGetTextDatum(e->local_payload) : (Datum) 0;
	nulls[6] = e->local_payload ? ' ' : 'n';
	values[7] = tl_rid_datum(&e->other_rid);
	values[8] = CStringGetTextDatum(e->other_payload);
	values[9] = CStringGetTextDatum(e->via);
	values[10] = e->peer_name ? CStringGetTextDatum(e->peer_name) : (Datum) 0;
	nulls[10] = e->peer_name ? ' ' : 'n';
	values[11] = e->resolution ? CStringGetTextDatum(e->resolution) : (Datum) 0;
	nulls[11] = e->resolution ? ' ' : 'n';
	tl_become_owner(&save);
	guc_level = tl_spi_connect();
	if (SPI_execute_with_args("INSERT INTO tieredlog.quarantine (log_name, origin, seq, ts, key, local_rid,"
							  " local_payload, other_rid, other_payload, via, peer_name, resolution, resolved_at)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb, $10, $11, $12,"
							  " CASE WHEN $12 IS NULL THEN NULL ELSE now() END)"
							  " ON CONFLICT (log_name, origin, seq, other_rid) DO UPDATE"
							  " SET resolution = EXCLUDED.resolution, resolved_at = EXCLUDED.resolved_at"
							  " WHERE quarantine.resolved_at IS NULL",
							  12, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a quarantined record");
	tl_spi_finish(guc_level);
	tl_restore_user(&save);
	log_quarantine(e);
}

/*
 * Scrubbed entries of this segment whose record is back with its stored rid (fetched from
 * `peer_name` by reconciliation) are marked resolved. Returns how many.
 */
int
tl_quarantine_resolve_restored(const TlLog *log, const TlSegment *seg, const char *peer_name)
{
	int			guc_level;
	Oid			types[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[3];
	TlAsOwner	save;
	int			resolved = 0;
	uint64		n;
	SPITupleTable *tt;

	values[0] = CStringGetTextDatum(log->name);
	values[1] = TimestampTzGetDatum(seg->range_start);
	values[2] = TimestampTzGetDatum(seg->range_end);
	tl_become_owner(&save);
	guc_level = tl_spi_connect();
	if (SPI_execute_with_args("SELECT quarantine_id, origin, seq, ts, key, local_rid FROM tieredlog.quarantine"
							  " WHERE via = 'scrub' AND resolved_at IS NULL AND log_name = $1"
							  " AND ts >= $2 AND ts < $3",
							  3, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tieredlog.quarantine");
	n = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		char	   *origin = TextDatumGetCString(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		int64		seq = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		TimestampTz ts = DatumGetTimestampTz(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
		text	   *key = DatumGetTextPP(SPI_getbinval(tt->vals[i], tt->tupdesc, 5, &isnull));
		pg_uuid_t  *want = DatumGetUUIDP(SPI_getbinval(tt->vals[i], tt->tupdesc, 6, &isnull));
		TlRid		here;
		Oid			utypes[2] = {INT8OID, TEXTOID};
		Datum		uvalues[2];

		if (!tl_segrows_local_rid(log->name, origin, seq, ts, key, &here) ||
			memcmp(here.bytes, want->data, TL_RID_LEN) != 0)
			continue;
		uvalues[0] = Int64GetDatum(id);
		uvalues[1] = CStringGetTextDatum(psprintf("restored: an intact copy came from peer %s by reconciliation",
												  peer_name ? peer_name : "?"));
		if (SPI_execute_with_args("UPDATE tieredlog.quarantine SET resolved_at = now(), resolution = $2"
								  " WHERE quarantine_id = $1", 2, utypes, uvalues, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update tieredlog.quarantine");
		resolved++;
	}
	tl_spi_finish(guc_level);
	tl_restore_user(&save);
	return resolved;
}
