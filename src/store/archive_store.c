/*-------------------------------------------------------------------------
 * archive_store.c
 *		Where tier 2 frames live: one archive relation per log (tieredlog_data.archive_<log_id>,
 *		in the tier 2 tablespace), one row per frame: the frame directory entry and the
 *		compressed bytes (bytea, STORAGE EXTERNAL, so PostgreSQL does not compress them again).
 *
 * A segment's frames carry the attempt id of the move that wrote them; the segment catalog row
 * names the attempt that is current, so frames of an interrupted or superseded attempt are never
 * read and are deleted by the sweeper.
 *
 * Locking: creating a log's archive relation takes the log's segment lock (TL_LOCK_LOG_SEGMENTS).
 * Reads and writes are ordinary SQL through SPI as the extension's owner (AccessShareLock /
 * RowExclusiveLock on the archive relation).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "store/archive.h"
#include "store/archive_store.h"
#include "store/catalog.h"
#include "core/tieredlog.h"

static char *
archive_relname(int32 log_id)
{
	return psprintf("archive_%d", log_id);
}

static char *
archive_qualified(int32 log_id)
{
	return quote_qualified_identifier(TL_DATA_SCHEMA, archive_relname(log_id));
}

bool
tl_archive_exists(int32 log_id)
{
	return OidIsValid(get_relname_relid(archive_relname(log_id), tl_data_namespace()));
}

/* Create the log's archive relation in the tier 2 tablespace unless it exists. Inside owner SPI. */
static void
ensure_archive(int32 log_id)
{
	char	   *rel;
	const char *spc;

	if (tl_archive_exists(log_id))
		return;
	tl_lock_object(TL_LOCK_LOG_SEGMENTS, log_id);
	if (tl_archive_exists(log_id))
		return;
	rel = archive_qualified(log_id);
	spc = quote_identifier(tl_tier_tablespace(2));
	tl_spi_exec(psprintf("CREATE TABLE %s (segment_id bigint NOT NULL, attempt bigint NOT NULL, "
						 "frame_no integer NOT NULL, nrows integer NOT NULL, first_ts timestamptz NOT NULL, "
						 "last_ts timestamptz NOT NULL, min_key text COLLATE \"C\" NOT NULL, "
						 "max_key text COLLATE \"C\" NOT NULL, raw_len integer NOT NULL, "
						 "comp_len integer NOT NULL, checksum bigint NOT NULL, data bytea NOT NULL) "
						 "TABLESPACE %s", rel, spc),
				0, NULL, NULL, SPI_OK_UTILITY);
	tl_spi_exec(psprintf("ALTER TABLE %s ALTER COLUMN data SET STORAGE EXTERNAL", rel),
				0, NULL, NULL, SPI_OK_UTILITY);
	tl_spi_exec(psprintf("CREATE UNIQUE INDEX %s ON %s (segment_id, attempt, frame_no) TABLESPACE %s",
						 quote_identifier(psprintf("archive_%d_frames", log_id)), rel, spc),
				0, NULL, NULL, SPI_OK_UTILITY);
}

/* ---- writing ----------------------------------------------------------------------------- */

void
tl_fw_init(TlFrameWriter *fw, int32 log_id, int64 segment_id, int64 attempt, int level)
{
	memset(fw, 0, sizeof(*fw));
	fw->log_id = log_id;
	fw->segment_id = segment_id;
	fw->attempt = attempt;
	fw->level = level;
	fw->cxt = AllocSetContextCreate(CurrentMemoryContext, "tieredlog frame", ALLOCSET_DEFAULT_SIZES);
	fw->rows = palloc(sizeof(TlArchiveRow) * TL_FRAME_MAX_ROWS);
}

static void
insert_frame(TlFrameWriter *fw, bytea *data, const TlFrameMeta *m)
{
	TlAsOwner	save;
	Oid			types[12] = {INT8OID, INT8OID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TEXTOID, TEXTOID, INT4OID, INT4OID, INT8OID, BYTEAOID};
	Datum		v[12];

	v[0] = Int64GetDatum(fw->segment_id);
	v[1] = Int64GetDatum(fw->attempt);
	v[2] = Int32GetDatum(fw->frames);
	v[3] = Int32GetDatum(m->nrows);
	v[4] = TimestampTzGetDatum(m->first_ts);
	v[5] = TimestampTzGetDatum(m->last_ts);
	v[6] = PointerGetDatum(m->min_key);
	v[7] = PointerGetDatum(m->max_key);
	v[8] = Int32GetDatum(m->raw_len);
	v[9] = Int32GetDatum(m->comp_len);
	v[10] = Int64GetDatum(m->checksum);
	v[11] = PointerGetDatum(data);
	tl_become_owner(&save);
	ensure_archive(fw->log_id);
	tl_spi_exec(psprintf("INSERT INTO %s VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
						 archive_qualified(fw->log_id)), 12, types, v, SPI_OK_INSERT);
	tl_restore_user(&save);
}

static void
flush_frame(TlFrameWriter *fw)
{
	TlFrameMeta meta;
	bytea	   *data;
	MemoryContext old;

	if (fw->nrows == 0)
		return;
	old = MemoryContextSwitchTo(fw->cxt);
	data = tl_frame_encode(fw->rows, fw->nrows, fw->level, &meta);
	MemoryContextSwitchTo(old);
	insert_frame(fw, data, &meta);
	fw->raw_bytes += meta.raw_len;
	fw->stored_bytes += meta.comp_len;
	fw->total_rows += fw->nrows;
	fw->frames++;
	fw->nrows = 0;
	fw->pending_bytes = 0;
	MemoryContextReset(fw->cxt);
}

/* Add a row (rows must come in ts, origin, seq order); its data is copied. */
void
tl_fw_add(TlFrameWriter *fw, const TlArchiveRow *row)
{
	MemoryContext old = MemoryContextSwitchTo(fw->cxt);
	TlArchiveRow *r = &fw->rows[fw->nrows++];

	r->ts = row->ts;
	r->key = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(row->key));
	r->payload = (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(row->payload));
	r->source = row->source ? (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(row->source)) : NULL;
	r->origin = pstrdup(row->origin);
	r->seq = row->seq;
	fw->pending_bytes += VARSIZE(r->payload) + VARSIZE(r->key);
	MemoryContextSwitchTo(old);
	if (fw->nrows == TL_FRAME_MAX_ROWS || fw->pending_bytes >= TL_FRAME_TARGET_BYTES)
		flush_frame(fw);
}

void
tl_fw_finish(TlFrameWriter *fw)
{
	flush_frame(fw);
	MemoryContextDelete(fw->cxt);
	pfree(fw->rows);
}

/* ---- reading ----------------------------------------------------------------------------- */

static void
meta_from_spi(HeapTuple tup, TupleDesc desc, TlFrameMeta *m, int *frame_no)
{
	bool		isnull;

	*frame_no = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	m->nrows = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	m->first_ts = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
	m->last_ts = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
	m->min_key = DatumGetTextPP(SPI_getbinval(tup, desc, 5, &isnull));
	m->max_key = DatumGetTextPP(SPI_getbinval(tup, desc, 6, &isnull));
	m->raw_len = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	m->comp_len = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
	m->checksum = DatumGetInt64(SPI_getbinval(tup, desc, 9, &isnull));
}

/*
 * Decode every frame of (segment, attempt) that may hold rows with from_ts <= ts < to_ts (and
 * `key`, when not NULL), in frame order, calling visit() with each frame's rows. Runs under the
 * active snapshot.
 */
void
tl_archive_scan(int32 log_id, int64 segment_id, int64 attempt, TimestampTz from_ts,
				TimestampTz to_ts, text *key, TlFrameVisitor visit, void *arg)
{
	TlAsOwner	save;
	Oid			types[5] = {INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	Datum		v[5];
	MemoryContext frame_cxt;
	MemoryContext outer = CurrentMemoryContext;
	Portal		portal;

	if (!tl_archive_exists(log_id))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive of segment %lld is missing", (long long) segment_id)));
	v[0] = Int64GetDatum(segment_id);
	v[1] = Int64GetDatum(attempt);
	v[2] = TimestampTzGetDatum(from_ts);
	v[3] = TimestampTzGetDatum(to_ts);
	v[4] = key ? PointerGetDatum(key) : (Datum) 0;
	/*
	 * A decoded frame takes a few MB; a large first block survives each reset, so the next frame
	 * reuses that memory instead of faulting fresh pages in (measured: about 9% of a tier 2 read).
	 */
	frame_cxt = AllocSetContextCreate(outer, "tieredlog frame read", 4 * 1024 * 1024,
									  4 * 1024 * 1024, ALLOCSET_DEFAULT_MAXSIZE);
	tl_become_owner(&save);
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT frame_no, nrows, first_ts, last_ts, min_key, max_key, "
												"raw_len, comp_len, checksum, data FROM %s "
												"WHERE segment_id = $1 AND attempt = $2 AND last_ts >= $3 AND first_ts < $4 "
												"%s ORDER BY frame_no", archive_qualified(log_id),
												key ? "AND min_key <= $5 AND max_key >= $5" : "AND $5 IS NULL"),
									   5, types, v, key ? NULL : "    n", true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 8);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			TlFrameMeta meta;
			int			frame_no;
			bool		isnull;
			bytea	   *data;
			TlArchiveRow *rows;

			MemoryContextSwitchTo(frame_cxt);
			meta_from_spi(tup, desc, &meta, &frame_no);
			data = DatumGetByteaPP(SPI_getbinval(tup, desc, 10, &isnull));
			rows = tl_frame_decode(data, &meta, segment_id, frame_no);
			MemoryContextSwitchTo(outer);
			visit(rows, meta.nrows, arg);
			MemoryContextReset(frame_cxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	tl_restore_user(&save);
	MemoryContextDelete(frame_cxt);
}

/* The frame directory of (segment, attempt), for segment_frames(). */
void
tl_archive_directory(int32 log_id, int64 segment_id, int64 attempt, Tuplestorestate *out,
					 TupleDesc out_desc)
{
	TlAsOwner	save;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		v[2] = {Int64GetDatum(segment_id), Int64GetDatum(attempt)};

	if (!tl_archive_exists(log_id))
		return;
	tl_become_owner(&save);
	tl_spi_exec(psprintf("SELECT frame_no, nrows, first_ts, last_ts, min_key, max_key, raw_len, comp_len, "
						 "lpad(to_hex(checksum), 16, '0') FROM %s WHERE segment_id = $1 AND attempt = $2 "
						 "ORDER BY frame_no", archive_qualified(log_id)), 2, types, v, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		values[9];
		bool		nulls[9];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
		tuplestore_putvalues(out, out_desc, values, nulls);
	}
	tl_restore_user(&save);
}

/* Compressed bytes of (segment, attempt), TOAST included. */
int64
tl_archive_bytes(int32 log_id, int64 segment_id, int64 attempt)
{
	TlAsOwner	save;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		v[2] = {Int64GetDatum(segment_id), Int64GetDatum(attempt)};
	int64		bytes = 0;
	bool		isnull;

	if (!tl_archive_exists(log_id))
		return 0;
	tl_become_owner(&save);
	tl_spi_exec(psprintf("SELECT COALESCE(sum(pg_column_size(a.*)), 0)::bigint FROM %s a "
						 "WHERE segment_id = $1 AND attempt = $2", archive_qualified(log_id)),
				2, types, v, SPI_OK_SELECT);
	if (SPI_processed == 1)
		bytes = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_restore_user(&save);
	return bytes;
}

/* Delete the frames of (segment, attempt); returns how many. */
int64
tl_archive_delete(int32 log_id, int64 segment_id, int64 attempt)
{
	TlAsOwner	save;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		v[2] = {Int64GetDatum(segment_id), Int64GetDatum(attempt)};
	int64		n;

	if (!tl_archive_exists(log_id))
		return 0;
	tl_become_owner(&save);
	tl_spi_exec(psprintf("DELETE FROM %s WHERE segment_id = $1 AND attempt = $2",
						 archive_qualified(log_id)), 2, types, v, SPI_OK_DELETE);
	n = (int64) SPI_processed;
	tl_restore_user(&save);
	return n;
}
