/*-------------------------------------------------------------------------
 * move_store.c
 *		What sealing and moving segments read and write in tieredlog's catalog: the tier to
 *		tablespace map (tieredlog.tier), a segment's state, place and seal (tieredlog.segment),
 *		and the moves and their sweeping (tieredlog.move). log/tier.c decides when and how.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path;
 * log/tier.c connects as the extension's owner (tl_become_owner).
 *
 * Locking: tl_tier_store_lock() locks the tier's row FOR UPDATE (set_tier() also holds
 * TL_LOCK_LOG_SEGMENTS); tl_move_store_flip() locks the segment's row FOR NO KEY UPDATE NOWAIT
 * (lock_not_available when an appender reopening the segment holds it: the move retries) and
 * writes the move row in the same transaction; tl_move_store_sweepable() locks the moves it
 * returns FOR UPDATE SKIP LOCKED, so two sweepers never take the same one.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "store/catalog.h"
#include "store/move_store.h"
#include "store/spi_rows.h"

/* ---- tiers ---------------------------------------------------------------------------------- */

/* The tablespace of `tier`, its row locked FOR UPDATE; a tier never mapped has no row: pg_default. */
char *
tl_tier_store_lock(int tier)
{
	tl_spi_run("SELECT tablespace FROM tieredlog.tier WHERE tier = $1 FOR UPDATE",
			   SPI_OK_SELECT, 1, INT4OID, Int32GetDatum(tier));
	return SPI_processed > 0 ? tl_spi_text(0, 1) : pstrdup("pg_default");
}

/* How many segments `tier` holds. */
int64
tl_tier_store_segments_in(int tier)
{
	tl_spi_run("SELECT count(*) FROM tieredlog.segment WHERE tier = $1",
			   SPI_OK_SELECT, 1, INT4OID, Int32GetDatum(tier));
	return tl_spi_int8(0, 1);
}

void
tl_tier_store_map(int tier, const char *tablespace)
{
	tl_spi_run("INSERT INTO tieredlog.tier (tier, tablespace) VALUES ($1, $2)"
			   " ON CONFLICT (tier) DO UPDATE SET tablespace = EXCLUDED.tablespace",
			   SPI_OK_INSERT, 2, INT4OID, Int32GetDatum(tier), TEXTOID, CStringGetTextDatum(tablespace));
}

/* ---- a segment's state ---------------------------------------------------------------------- */

void
tl_segment_store_mark_sealed(int64 segment_id, const TlHash *root, int64 records)
{
	Oid			types[3] = {INT8OID, BYTEAOID, INT8OID};
	Datum		values[3];

	values[0] = Int64GetDatum(segment_id);
	values[1] = tl_hash_to_bytea(root);
	values[2] = Int64GetDatum(records);
	tl_spi_exec("UPDATE tieredlog.segment SET state = 'sealed', sealed_at = now(), seal_root = $2,"
				" seal_records = $3 WHERE segment_id = $1", 3, types, values, SPI_OK_UPDATE);
}

/* A late record arrived in a sealed segment. */
void
tl_segment_store_mark_reopened(int64 segment_id)
{
	tl_spi_run("UPDATE tieredlog.segment SET state = 'reopened' WHERE segment_id = $1 AND state = 'sealed'",
			   SPI_OK_UPDATE, 1, INT8OID, Int64GetDatum(segment_id));
}

void
tl_segment_store_set_relname(int64 segment_id, const char *relname)
{
	tl_spi_run("UPDATE tieredlog.segment SET relname = $2 WHERE segment_id = $1",
			   SPI_OK_UPDATE, 2, INT8OID, Int64GetDatum(segment_id), TEXTOID, CStringGetTextDatum(relname));
}

/* ---- moves ---------------------------------------------------------------------------------- */

/* How many moves still keep an old archive copy for the sweeper. */
int64
tl_move_store_unswept(void)
{
	tl_spi_exec("SELECT count(*) FROM tieredlog.move WHERE state <> 'done' AND old_attempt IS NOT NULL",
				0, NULL, NULL, SPI_OK_SELECT);
	return tl_spi_int8(0, 1);
}

/* The flip: the segment's row points at its new place; the move row keeps the old one. */
void
tl_move_store_flip(const TlMoveFlip *f)
{
	Oid			types[9] = {INT8OID, INT4OID, TEXTOID, INT8OID, INT8OID, INT4OID, TEXTOID, INT8OID, INT8OID};
	Datum		v[9];
	char		nulls[9] = "         ";

	v[0] = Int64GetDatum(f->segment_id);
	v[1] = Int32GetDatum(f->to_tier);
	v[2] = f->relname ? CStringGetTextDatum(f->relname) : (Datum) 0;
	nulls[2] = f->relname ? ' ' : 'n';
	v[3] = Int64GetDatum(f->archive_attempt);
	nulls[3] = f->to_tier == 2 ? ' ' : 'n';
	v[4] = Int64GetDatum(f->move_id);
	v[5] = Int32GetDatum(f->from_tier);
	v[6] = f->old_relname ? CStringGetTextDatum(f->old_relname) : (Datum) 0;
	nulls[6] = f->old_relname ? ' ' : 'n';
	v[7] = Int64GetDatum(f->old_attempt);
	nulls[7] = f->old_attempt != 0 ? ' ' : 'n';
	v[8] = Int64GetDatum(f->bytes_before);
	/* never queue behind an appender that is reopening the segment: it will retry, so do we */
	tl_spi_exec("SELECT 1 FROM tieredlog.segment WHERE segment_id = $1 FOR NO KEY UPDATE NOWAIT",
				1, types, v, SPI_OK_SELECT);
	if (SPI_execute_with_args("UPDATE tieredlog.segment SET tier = $2, relname = $3, archive_attempt = $4, "
							  "moved_at = now() WHERE segment_id = $1", 4, types, v, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not flip segment %lld", (long long) f->segment_id);
	if (SPI_execute_with_args("INSERT INTO tieredlog.move (move_id, segment_id, from_tier, to_tier, state, "
							  "old_relname, old_attempt, log_id, rows_copied, bytes_before, started_at, flipped_at, move_xid) "
							  "SELECT $5, $1, $6, $2, 'flipped', $7, $8, log_id, 0, $9, now(), clock_timestamp(), "
							  "pg_catalog.pg_current_xact_id() "
							  "FROM tieredlog.segment WHERE segment_id = $1", 9, types, v, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the move of segment %lld", (long long) f->segment_id);
}

void
tl_move_store_result(int64 move_id, int64 rows, int64 bytes_after)
{
	tl_spi_run("UPDATE tieredlog.move SET rows_copied = $2, bytes_after = $3 WHERE move_id = $1",
			   SPI_OK_UPDATE, 3, INT8OID, Int64GetDatum(move_id), INT8OID, Int64GetDatum(rows),
			   INT8OID, Int64GetDatum(bytes_after));
}

/*
 * The flipped moves whose old copies no running transaction may still read: any snapshot that
 * might not see a move's commit has an xmin at or before the move's xid (which it saw running),
 * so only moves older than every other backend's xmin. Locked FOR UPDATE SKIP LOCKED.
 */
TlMoveSweep *
tl_move_store_sweepable(int *n)
{
	static const TlSpiColumn cols[] = {
		TL_SPI_COL(TL_SPI_INT8, TlMoveSweep, move_id), TL_SPI_COL(TL_SPI_INT8, TlMoveSweep, segment_id),
		TL_SPI_COL(TL_SPI_INT4, TlMoveSweep, log_id), TL_SPI_COL(TL_SPI_TEXT, TlMoveSweep, old_relname),
		TL_SPI_COL(TL_SPI_INT8, TlMoveSweep, old_attempt)
	};

	tl_spi_exec("SELECT m.move_id, m.segment_id, m.log_id, m.old_relname, m.old_attempt "
				"FROM tieredlog.move m WHERE m.state = 'flipped' "
				"AND pg_catalog.pg_xact_status(m.move_xid) = 'committed' AND NOT EXISTS "
				"(SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.backend_xmin IS NOT NULL "
				" AND a.pid <> pg_catalog.pg_backend_pid() "
				" AND pg_catalog.age(a.backend_xmin) >= pg_catalog.age(pg_catalog.xid(m.move_xid))) "
				"ORDER BY m.move_id FOR UPDATE OF m SKIP LOCKED", 0, NULL, NULL, SPI_OK_SELECT);
	return tl_spi_read_rows(cols, lengthof(cols), sizeof(TlMoveSweep), n);
}

/* The move's old copy is gone. */
void
tl_move_store_done(int64 move_id)
{
	tl_spi_run("UPDATE tieredlog.move SET state = 'done', finished_at = now(), "
			   "old_relname = NULL, old_attempt = NULL WHERE move_id = $1",
			   SPI_OK_UPDATE, 1, INT8OID, Int64GetDatum(move_id));
}
