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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "archive.h"
#include "archive_store.h"
#include "catalog.h"
#include "tieredlog.h"

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

/*
 * The column of the archive relation holding each frame's key filter, or InvalidAttrNumber: an
 * archive relation created by tieredlog 1.0 has none until its log archives a segment again.
 */
static AttrNumber
key_filter_attnum(Oid relid)
{
	AttrNumber	att = get_attnum(relid, "key_filter");

	return att > 0 ? att : InvalidAttrNumber;
}

/*
 * Create the log's archive relation in the tier 2 tablespace unless it exists; give one created
 * by 1.0 its key_filter column. Inside owner SPI.
 */
static void
ensure_archive(int32 log_id)
{
	char	   *rel;
	const char *spc;
	Oid			relid = get_relname_relid(archive_relname(log_id), tl_data_namespace());

	if (OidIsValid(relid) && key_filter_attnum(relid) != InvalidAttrNumber)
		return;
	tl_lock_object(TL_LOCK_LOG_SEGMENTS, log_id);
	relid = get_relname_relid(archive_relname(log_id), tl_data_namespace());
	rel = archive_qualified(log_id);
	if (OidIsValid(relid))
	{
		/* kept inline (STORAGE MAIN): a key read scans every frame's filter */
		if (key_filter_attnum(relid) == InvalidAttrNumber)
			tl_spi_exec(psprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS key_filter bytea, "
								 "ALTER COLUMN key_filter SET STORAGE MAIN", rel),
						0, NULL, NULL, SPI_OK_UTILITY);
		return;
	}
	spc = quote_identifier(tl_tier_tablespace(2));
	tl_spi_exec(psprintf("CREATE TABLE %s (segment_id bigint NOT NULL, attempt bigint NOT NULL, "
						 "frame_no integer NOT NULL, nrows integer NOT NULL, first_ts timestamptz NOT NULL, "
						 "last_ts timestamptz NOT NULL, min_key text COLLATE \"C\" NOT NULL, "
						 "max_key text COLLATE \"C\" NOT NULL, raw_len integer NOT NULL, "
						 "comp_len integer NOT NULL, checksum bigint NOT NULL, data bytea NOT NULL, "
						 "key_filter bytea) TABLESPACE %s", rel, spc),
				0, NULL, NULL, SPI_OK_UTILITY);
	tl_spi_exec(psprintf("ALTER TABLE %s ALTER COLUMN data SET STORAGE EXTERNAL, "
						 "ALTER COLUMN key_filter SET STORAGE MAIN", rel),
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
	Oid			types[13] = {INT8OID, INT8OID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TEXTOID, TEXTOID, INT4OID, INT4OID, INT8OID, BYTEAOID, BYTEAOID};
	Datum		v[13];
	char		nulls[13];

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
	v[12] = PointerGetDatum(m->key_filter);
	memset(nulls, ' ', sizeof(nulls));
	nulls[12] = m->key_filter ? ' ' : 'n';
	tl_become_owner(&save);
	ensure_archive(fw->log_id);
	if (SPI_execute_with_args(psprintf("INSERT INTO %s (segment_id, attempt, frame_no, nrows, first_ts, "
									   "last_ts, min_key, max_key, raw_len, comp_len, checksum, data, "
									   "key_filter) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
									   "$11, $12, $13)", archive_qualified(fw->log_id)),
							  13, types, v, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert an archive frame");
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

/* Columns of the archive relation (ensure_archive creates them in this order). */
enum
{
	Anum_arch_segment_id = 1, Anum_arch_attempt, Anum_arch_frame_no, Anum_arch_nrows,
	Anum_arch_first_ts, Anum_arch_last_ts, Anum_arch_min_key, Anum_arch_max_key, Anum_arch_raw_len,
	Anum_arch_comp_len, Anum_arch_checksum, Anum_arch_data, Natts_arch_fixed = Anum_arch_data
};

/* Compare bytes as the C collation does (min_key and max_key are COLLATE "C"). */
static int
cmp_c(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/*
 * Decode every frame of (segment, attempt) that may hold rows with from_ts <= ts < to_ts (and
 * `key`, when not NULL), in frame order, calling visit() with each frame's wanted rows (frames
 * with none are not visited). Frames are pruned by their directory entry first: time bounds, key
 * bounds and, for a key, the frame's key filter; only the frames left are fetched and
 * decompressed, and only their wanted rows are rebuilt. Runs under the active snapshot.
 *
 * The archive relation is read directly (an index scan on (segment_id, attempt, frame_no)), not
 * through SPI: a key read on a large segment is mostly this scan.
 */
void
tl_archive_scan(int32 log_id, int64 segment_id, int64 attempt, TimestampTz from_ts,
				TimestampTz to_ts, text *key, TlFrameVisitor visit, void *arg)
{
	Oid			relid = get_relname_relid(archive_relname(log_id), tl_data_namespace());
	Oid			indexid = get_relname_relid(psprintf("archive_%d_frames", log_id), tl_data_namespace());
	MemoryContext frame_cxt;
	MemoryContext outer = CurrentMemoryContext;
	Relation	rel;
	TupleDesc	desc;
	AttrNumber	filter_att;
	ScanKeyData skey[2];
	SysScanDesc scan;
	HeapTuple	tup;
	TlFrameWant want = {from_ts, to_ts, key};
	const char *key_s = key ? VARDATA_ANY(key) : NULL;
	int			key_len = key ? VARSIZE_ANY_EXHDR(key) : 0;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive of segment %lld is missing", (long long) segment_id)));
	/*
	 * A decoded frame takes a few MB; a large first block survives each reset, so the next frame
	 * reuses that memory instead of faulting fresh pages in (measured: about 9% of a tier 2 read).
	 * A key read decodes few rows: no large block.
	 */
	if (key)
		frame_cxt = AllocSetContextCreate(outer, "tieredlog frame read", ALLOCSET_DEFAULT_SIZES);
	else
		frame_cxt = AllocSetContextCreate(outer, "tieredlog frame read", 4 * 1024 * 1024,
										  4 * 1024 * 1024, ALLOCSET_DEFAULT_MAXSIZE);
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	if (desc->natts < Natts_arch_fixed)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive relation \"%s\" has %d columns, fewer than %d",
						RelationGetRelationName(rel), desc->natts, Natts_arch_fixed)));
	filter_att = key_filter_attnum(relid);
	ScanKeyInit(&skey[0], Anum_arch_segment_id, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(segment_id));
	ScanKeyInit(&skey[1], Anum_arch_attempt, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(attempt));
	scan = systable_beginscan_ordered(rel, index_open(indexid, AccessShareLock), GetActiveSnapshot(), 2, skey);
	while (HeapTupleIsValid(tup = systable_getnext_ordered(scan, ForwardScanDirection)))
	{
		TlFrameMeta meta;
		int			frame_no;
		bool		isnull;
		bytea	   *data;
		TlArchiveRow *rows;
		int			n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(frame_cxt);
		memset(&meta, 0, sizeof(meta));
		frame_no = DatumGetInt32(heap_getattr(tup, Anum_arch_frame_no, desc, &isnull));
		meta.first_ts = DatumGetTimestampTz(heap_getattr(tup, Anum_arch_first_ts, desc, &isnull));
		meta.last_ts = DatumGetTimestampTz(heap_getattr(tup, Anum_arch_last_ts, desc, &isnull));
		if (meta.last_ts < from_ts || meta.first_ts >= to_ts)
			goto next;
		if (key)
		{
			text	   *min_key = DatumGetTextPP(heap_getattr(tup, Anum_arch_min_key, desc, &isnull));
			text	   *max_key = DatumGetTextPP(heap_getattr(tup, Anum_arch_max_key, desc, &isnull));
			Datum		f;

			if (cmp_c(VARDATA_ANY(min_key), VARSIZE_ANY_EXHDR(min_key), key_s, key_len) > 0 ||
				cmp_c(VARDATA_ANY(max_key), VARSIZE_ANY_EXHDR(max_key), key_s, key_len) < 0)
				goto next;
			if (filter_att != InvalidAttrNumber)
			{
				f = heap_getattr(tup, filter_att, desc, &isnull);
				/* frames archived before key filters have none: they may hold any key */
				if (!isnull && !tl_key_filter_may_hold(DatumGetByteaPP(f), key_s, key_len,
													   segment_id, frame_no))
					goto next;
			}
		}
		meta.nrows = DatumGetInt32(heap_getattr(tup, Anum_arch_nrows, desc, &isnull));
		meta.raw_len = DatumGetInt32(heap_getattr(tup, Anum_arch_raw_len, desc, &isnull));
		meta.comp_len = DatumGetInt32(heap_getattr(tup, Anum_arch_comp_len, desc, &isnull));
		meta.checksum = DatumGetInt64(heap_getattr(tup, Anum_arch_checksum, desc, &isnull));
		data = DatumGetByteaPP(heap_getattr(tup, Anum_arch_data, desc, &isnull));
		rows = tl_frame_decode_want(data, &meta, segment_id, frame_no, &want, &n);
		MemoryContextSwitchTo(outer);
		if (n > 0)
			visit(rows, n, arg);
next:
		MemoryContextSwitchTo(outer);
		MemoryContextReset(frame_cxt);
	}
	{
		Relation	irel = scan->irel;

		systable_endscan_ordered(scan);
		index_close(irel, NoLock);
	}
	table_close(rel, NoLock);
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
