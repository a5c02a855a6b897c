/*-------------------------------------------------------------------------
 * quarantine_store.c
 *		Rows of tieredlog.quarantine: both versions of a record identity (origin, seq) found with
 *		two contents. What is quarantined and when an entry is resolved is log/quarantine.c's;
 *		the SQL is here.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path;
 * quarantine.c connects as the extension's owner (tl_become_owner). Results are allocated in the
 * context that was current when SPI was connected (store/spi_rows.c).
 *
 * Locking: rows are written in the caller's transaction (RowExclusiveLock); the same two
 * versions found again only update an unresolved entry (the table's unique constraint).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "store/quarantine_store.h"
#include "store/spi_rows.h"

/* Insert an entry; the same two versions found again only update an unresolved entry's resolution. */
void
tl_quarantine_row_insert(const TlQuarantineEntry *e)
{
	Oid			types[12] = {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, UUIDOID, TEXTOID,
	UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[12];
	char		nulls[13] = "            ";

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
	if (SPI_execute_with_args("INSERT INTO tieredlog.quarantine (log_name, origin, seq, ts, key, local_rid,"
							  " local_payload, other_rid, other_payload, via, peer_name, resolution, resolved_at)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb, $10, $11, $12,"
							  " CASE WHEN $12 IS NULL THEN NULL ELSE now() END)"
							  " ON CONFLICT (log_name, origin, seq, other_rid) DO UPDATE"
							  " SET resolution = EXCLUDED.resolution, resolved_at = EXCLUDED.resolved_at"
							  " WHERE quarantine.resolved_at IS NULL",
							  12, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a quarantined record");
}

/* The unresolved scrub entries of a log in [from_ts, to_ts). */
TlQuarantineScrub *
tl_quarantine_unresolved_scrubs(const char *log_name, TimestampTz from_ts, TimestampTz to_ts, int *n)
{
	Oid			types[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[3];
	TlQuarantineScrub *rows;

	values[0] = CStringGetTextDatum(log_name);
	values[1] = TimestampTzGetDatum(from_ts);
	values[2] = TimestampTzGetDatum(to_ts);
	if (SPI_execute_with_args("SELECT quarantine_id, origin, seq, ts, key, local_rid FROM tieredlog.quarantine"
							  " WHERE via = 'scrub' AND resolved_at IS NULL AND log_name = $1"
							  " AND ts >= $2 AND ts < $3",
							  3, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tieredlog.quarantine");
	*n = (int) SPI_processed;
	rows = tl_spi_rows_alloc(sizeof(TlQuarantineScrub) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		text	   *key = DatumGetTextPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 5, &isnull));
		pg_uuid_t  *rid = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 6, &isnull));

		rows[i].quarantine_id = tl_spi_int8(i, 1);
		rows[i].origin = tl_spi_text(i, 2);
		rows[i].seq = tl_spi_int8(i, 3);
		rows[i].ts = tl_spi_timestamptz(i, 4);
		rows[i].key = SPI_palloc(VARSIZE_ANY(key));
		memcpy(rows[i].key, key, VARSIZE_ANY(key));
		memcpy(rows[i].local_rid.bytes, rid->data, TL_RID_LEN);
	}
	return rows;
}

/* Mark an entry resolved now, saying how. */
void
tl_quarantine_mark_resolved(int64 quarantine_id, const char *resolution)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(quarantine_id);
	values[1] = CStringGetTextDatum(resolution);
	if (SPI_execute_with_args("UPDATE tieredlog.quarantine SET resolved_at = now(), resolution = $2"
							  " WHERE quarantine_id = $1", 2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tieredlog.quarantine");
}
