/*-------------------------------------------------------------------------
 * archive_writer.c
 *		Writing a segment's tier 2 frames (TlFrameWriter, used by the move in tier.c): rows are
 *		gathered into frames of tieredlog.archive_frame_records and encoded as they come, the
 *		encoded frames are spooled to a temporary file, then a dictionary is trained from samples
 *		of them where it pays (archive_dict.c) and every frame is compressed and stored in the
 *		log's archive relation, which is created here when missing.
 *
 * A move writes a segment's rows clustered by key (tier.c sorts them by key, ts, origin, seq), so
 * each frame covers a narrow key range; the writer puts each frame's rows back in record order.
 * archive_store.c reads the frames.
 *
 * Locking: creating a log's archive relation takes the log's segment lock (TL_LOCK_LOG_SEGMENTS).
 * Frames are inserted with SQL through SPI as the extension's owner (RowExclusiveLock on the
 * archive relation). The spool is a temporary file of the backend, gone at the end of the
 * transaction.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/buffile.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "store/archive.h"
#include "store/archive_store.h"
#include "store/archive_store_int.h"
#include "store/catalog.h"
#include "core/guc.h"
#include "core/tieredlog.h"

/*
 * Create the log's archive relation in the tier 2 tablespace unless it exists; give one created
 * by 1.0 its key_filter column. Inside owner SPI.
 */
static void
ensure_archive(int32 log_id)
{
	char	   *rel;
	const char *spc;
	Oid			relid = get_relname_relid(tl_archive_relname(log_id), tl_data_namespace());

	if (OidIsValid(relid) && tl_archive_key_filter_attnum(relid) != InvalidAttrNumber)
		return;
	tl_lock_object(TL_LOCK_LOG_SEGMENTS, log_id);
	relid = get_relname_relid(tl_archive_relname(log_id), tl_data_namespace());
	rel = tl_archive_qualified(log_id);
	if (OidIsValid(relid))
	{
		/* kept inline (STORAGE MAIN): a key read scans every frame's filter */
		if (tl_archive_key_filter_attnum(relid) == InvalidAttrNumber)
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

/*
 * Rows per frame: tieredlog.archive_frame_records (128 by default). A key read decompresses the
 * frames whose key range holds its key, so frames are small (a lookup decompresses about 16 kB of
 * the reference data, not 200 kB); what they lose in compression alone, the segment's dictionary
 * gives back (archive_dict.c).
 */

/*
 * A dictionary is trained from up to TL_DICT_SAMPLE_BYTES of encoded frames, evenly spread over
 * the segment (zstd advises about 100 times the dictionary's size; 40 times gave the same archive
 * size on the reference data, in half the time), and only for segments of at least
 * TL_DICT_MIN_RAW bytes encoded: below that it costs more than it saves. Whether it pays is
 * judged on every TL_DICT_CHECK_STRIDE-th sample, compressed with it and without.
 */
#define TL_DICT_SAMPLE_TIMES	40
#define TL_DICT_CHECK_STRIDE	4
#define TL_DICT_SAMPLE_BYTES	((int64) TL_DICT_SAMPLE_TIMES * TL_ARCHIVE_DICT_BYTES)
#define TL_DICT_MIN_RAW			((int64) 16 * TL_ARCHIVE_DICT_BYTES)

/* What the spool holds before each frame's uncompressed bytes. */
typedef struct SpoolHeader
{
	int32		nrows;
	int32		raw_len;
	TimestampTz first_ts;
	TimestampTz last_ts;
	int32		min_key_len;
	int32		max_key_len;
	int32		filter_len;		/* -1: no key filter */
} SpoolHeader;

void
tl_fw_init(TlFrameWriter *fw, int32 log_id, int64 segment_id, int64 attempt, int level)
{
	memset(fw, 0, sizeof(*fw));
	fw->log_id = log_id;
	fw->segment_id = segment_id;
	fw->attempt = attempt;
	fw->level = level;
	fw->frame_rows = Max(1, Min(tl_archive_frame_records, TL_FRAME_MAX_ROWS));
	fw->cxt = AllocSetContextCreate(CurrentMemoryContext, "tieredlog frame", ALLOCSET_DEFAULT_SIZES);
	fw->rows = palloc(sizeof(TlArchiveRow) * TL_FRAME_MAX_ROWS);
	fw->spool = BufFileCreateTemp(false);
	fw->offsets_cap = 1024;
	fw->offsets = palloc(sizeof(off_t) * fw->offsets_cap);
	fw->filenos = palloc(sizeof(int) * fw->offsets_cap);
}

/* Insert one row of the archive relation: a frame (frame_no >= 0) or the dictionary (-1). */
static void
insert_archive_row(TlFrameWriter *fw, int frame_no, const bytea *data, const TlFrameMeta *m)
{
	TlAsOwner	save;
	Oid			types[13] = {INT8OID, INT8OID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TEXTOID, TEXTOID, INT4OID, INT4OID, INT8OID, BYTEAOID, BYTEAOID};
	Datum		v[13];
	char		nulls[13];

	v[0] = Int64GetDatum(fw->segment_id);
	v[1] = Int64GetDatum(fw->attempt);
	v[2] = Int32GetDatum(frame_no);
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
									   "$11, $12, $13)", tl_archive_qualified(fw->log_id)),
							  13, types, v, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert an archive frame");
	tl_restore_user(&save);
}

static void
spool_bytes(TlFrameWriter *fw, const void *p, int len)
{
	if (len > 0)
		BufFileWrite(fw->spool, unconstify(void *, p), len);
}

static void
unspool_bytes(TlFrameWriter *fw, void *p, int len)
{
	if (len > 0 && BufFileRead(fw->spool, p, len) != (size_t) len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read back the encoded frames of segment %lld from a temporary file",
						(long long) fw->segment_id)));
}

/* Encode the gathered rows into one frame and spool it. */
static void
flush_frame(TlFrameWriter *fw)
{
	TlFrameMeta meta;
	StringInfoData raw;
	SpoolHeader h;
	MemoryContext old;

	if (fw->nrows == 0)
		return;
	old = MemoryContextSwitchTo(fw->cxt);
	/* rows come clustered by key (tier.c); a frame holds them in (ts, origin, seq) order */
	qsort(fw->rows, fw->nrows, sizeof(TlArchiveRow), tl_archive_row_cmp);
	initStringInfo(&raw);
	tl_frame_encode_raw(fw->rows, fw->nrows, &raw, &meta);
	MemoryContextSwitchTo(old);

	if (fw->spooled == fw->offsets_cap)
	{
		fw->offsets_cap *= 2;
		fw->offsets = repalloc(fw->offsets, sizeof(off_t) * fw->offsets_cap);
		fw->filenos = repalloc(fw->filenos, sizeof(int) * fw->offsets_cap);
	}
	BufFileTell(fw->spool, &fw->filenos[fw->spooled], &fw->offsets[fw->spooled]);
	h.nrows = meta.nrows;
	h.raw_len = meta.raw_len;
	h.first_ts = meta.first_ts;
	h.last_ts = meta.last_ts;
	h.min_key_len = VARSIZE_ANY_EXHDR(meta.min_key);
	h.max_key_len = VARSIZE_ANY_EXHDR(meta.max_key);
	h.filter_len = meta.key_filter ? (int32) VARSIZE_ANY_EXHDR(meta.key_filter) : -1;
	spool_bytes(fw, &h, sizeof(h));
	spool_bytes(fw, VARDATA_ANY(meta.min_key), h.min_key_len);
	spool_bytes(fw, VARDATA_ANY(meta.max_key), h.max_key_len);
	if (meta.key_filter)
		spool_bytes(fw, VARDATA_ANY(meta.key_filter), h.filter_len);
	spool_bytes(fw, raw.data, raw.len);
	fw->spooled++;
	fw->spooled_raw += raw.len;
	fw->total_rows += fw->nrows;
	fw->nrows = 0;
	fw->pending_bytes = 0;
	MemoryContextReset(fw->cxt);
}

/* A text of `len` bytes read from the spool, in the current memory context. */
static text *
unspool_text(TlFrameWriter *fw, int len)
{
	text	   *t = palloc(VARHDRSZ + len);

	SET_VARSIZE(t, VARHDRSZ + len);
	unspool_bytes(fw, VARDATA(t), len);
	return t;
}

/*
 * Read the spooled frame at the spool's position: its directory entry (but for the compressed
 * length and checksum) and its uncompressed bytes, in the current memory context.
 */
static char *
unspool_frame(TlFrameWriter *fw, TlFrameMeta *meta)
{
	SpoolHeader h;
	char	   *raw;

	unspool_bytes(fw, &h, sizeof(h));
	memset(meta, 0, sizeof(*meta));
	meta->nrows = h.nrows;
	meta->raw_len = h.raw_len;
	meta->first_ts = h.first_ts;
	meta->last_ts = h.last_ts;
	meta->min_key = unspool_text(fw, h.min_key_len);
	meta->max_key = unspool_text(fw, h.max_key_len);
	if (h.filter_len >= 0)
		meta->key_filter = (bytea *) unspool_text(fw, h.filter_len);
	raw = palloc(h.raw_len);
	unspool_bytes(fw, raw, h.raw_len);
	return raw;
}

static void
spool_seek(TlFrameWriter *fw, int frame)
{
	if (BufFileSeek(fw->spool, fw->filenos[frame], fw->offsets[frame], SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seek in the temporary file of segment %lld's frames",
						(long long) fw->segment_id)));
}

/*
 * The compressed size, at the writer's level, with `dict` or without, of every
 * TL_DICT_CHECK_STRIDE-th of the `n` samples; *raw (if not NULL) is set to their size before.
 */
static int64
compressed_size(TlFrameWriter *fw, const char *samples, const size_t *sizes, int n,
				const TlArchiveDict *dict, int64 *raw)
{
	int64		total = 0;
	const char *p = samples;

	if (raw)
		*raw = 0;
	for (int i = 0; i < n; i++)
	{
		if (i % TL_DICT_CHECK_STRIDE == 0)
		{
			TlFrameMeta m;
			bytea	   *c = tl_frame_compress(p, (int) sizes[i], fw->level, dict, &m);

			total += m.comp_len;
			if (raw)
				*raw += sizes[i];
			pfree(c);
		}
		p += sizes[i];
	}
	return total;
}

/*
 * Train the segment's dictionary from spooled frames spread evenly over it, and keep it only if
 * it pays: the saving it brings to the samples, scaled to the whole segment, must exceed its own
 * size. NULL when the segment is too small, zstd cannot train one, or it does not pay.
 */
static TlArchiveDict *
train_dictionary(TlFrameWriter *fw)
{
	int64		budget = Min(fw->spooled_raw, TL_DICT_SAMPLE_BYTES);
	int			stride;
	StringInfoData samples;
	size_t	   *sizes;
	int			n = 0;
	bytea	   *bytes;
	TlArchiveDict *dict;
	int64		plain;
	int64		with_dict;
	int64		checked;

	if (fw->spooled_raw < TL_DICT_MIN_RAW || fw->spooled < 16)
		return NULL;
	stride = (int) Max(1, (fw->spooled_raw + budget - 1) / budget);
	initStringInfo(&samples);
	sizes = palloc(sizeof(size_t) * (fw->spooled / stride + 1));
	for (int f = 0; f < fw->spooled; f += stride)
	{
		TlFrameMeta meta;
		char	   *raw;

		CHECK_FOR_INTERRUPTS();
		spool_seek(fw, f);
		raw = unspool_frame(fw, &meta);
		if ((int64) samples.len + meta.raw_len > budget)
			break;
		appendBinaryStringInfo(&samples, raw, meta.raw_len);
		sizes[n++] = meta.raw_len;
		pfree(raw);
	}
	bytes = tl_archive_dict_train(samples.data, sizes, n, TL_ARCHIVE_DICT_BYTES);
	if (bytes == NULL)
		return NULL;
	dict = tl_archive_dict_for_writing(bytes, fw->level);
	plain = compressed_size(fw, samples.data, sizes, n, NULL, &checked);
	with_dict = compressed_size(fw, samples.data, sizes, n, dict, NULL);
	pfree(samples.data);
	pfree(sizes);
	if ((double) (plain - with_dict) * ((double) fw->spooled_raw / (double) Max(checked, 1)) <= VARSIZE(bytes))
	{
		elog(DEBUG1, "tieredlog: the dictionary of segment %lld does not pay (%lld bytes of samples "
			 "compress to %lld with it, %lld without)", (long long) fw->segment_id,
			 (long long) checked, (long long) with_dict, (long long) plain);
		return NULL;
	}
	return dict;
}

/* Store the dictionary as the attempt's row -1 of the archive relation. */
static void
insert_dictionary(TlFrameWriter *fw, const TlArchiveDict *dict)
{
	const bytea *bytes = tl_archive_dict_bytes(dict);
	TlFrameMeta m;

	memset(&m, 0, sizeof(m));
	m.nrows = 0;
	m.first_ts = DT_NOBEGIN;
	m.last_ts = DT_NOBEGIN;
	m.min_key = cstring_to_text("");
	m.max_key = m.min_key;
	m.raw_len = VARSIZE_ANY_EXHDR(bytes);
	m.comp_len = VARSIZE_ANY_EXHDR(bytes);
	m.checksum = tl_archive_dict_checksum(bytes);
	insert_archive_row(fw, TL_ARCHIVE_DICT_FRAME_NO, bytes, &m);
	fw->stored_bytes += VARSIZE_ANY_EXHDR(bytes);
}

/* Add a row (rows come in key, ts, origin, seq order, or in ts, origin, seq order); its data is copied. */
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
	if (fw->nrows >= fw->frame_rows || fw->pending_bytes >= TL_FRAME_TARGET_BYTES)
		flush_frame(fw);
}

/* Encode the last frame, train the dictionary, compress and store every frame. */
void
tl_fw_finish(TlFrameWriter *fw)
{
	TlArchiveDict *dict;
	MemoryContext old;
	MemoryContext frame_cxt;

	flush_frame(fw);
	/* the dictionary lives in fw->cxt (its zstd states are freed with it, also at an error) */
	old = MemoryContextSwitchTo(fw->cxt);
	dict = train_dictionary(fw);
	MemoryContextSwitchTo(old);
	if (dict != NULL)
		insert_dictionary(fw, dict);
	frame_cxt = AllocSetContextCreate(fw->cxt, "tieredlog frame compression", ALLOCSET_DEFAULT_SIZES);
	spool_seek(fw, 0);
	for (int f = 0; f < fw->spooled; f++)
	{
		TlFrameMeta meta;
		char	   *raw;
		bytea	   *data;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(frame_cxt);
		raw = unspool_frame(fw, &meta);
		data = tl_frame_compress(raw, meta.raw_len, fw->level, dict, &meta);
		MemoryContextSwitchTo(old);
		insert_archive_row(fw, fw->frames, data, &meta);
		fw->raw_bytes += meta.raw_len;
		fw->stored_bytes += meta.comp_len;
		fw->frames++;
		MemoryContextReset(frame_cxt);
	}
	BufFileClose(fw->spool);
	fw->spool = NULL;
	MemoryContextDelete(fw->cxt);
	pfree(fw->rows);
	pfree(fw->offsets);
	pfree(fw->filenos);
}
