/*-------------------------------------------------------------------------
 * archive.c
 *		The tier 2 frame format: encode a run of records (sorted by ts, origin, seq) into one
 *		independent zstd frame, and decode it back.
 *
 * Before zstd, a frame is laid out by column so that similar bytes sit together:
 *
 *	 magic "TLF2" | nrows
 *	 origin   distinct origins, then one index per row (omitted when there is one origin)
 *	 seq      zigzag deltas from the previous row of the same origin
 *	 ts       mode 0: the first value, then non-negative deltas (varints); mode 1: a rate (us per
 *	          seq step), the first value, then each row's zigzag difference from its prediction:
 *	          the previous row of its origin's ts plus the rate times the seq step from it. Records
 *	          are mostly appended in time order, so a frame of records clustered by key (whose ts
 *	          deltas are large and irregular) stores its times almost for free. The writer keeps
 *	          whichever mode is shorter.
 *	 key      distinct keys, sorted and front-coded (shared prefix, suffix), then one index per row
 *	 source   distinct sources, then one index per row (0 = no source)
 *	 payload  shredded by path: the table of object paths (parent, key), then for each path one
 *	          tag per row and that path's values (integers as zigzag varints, lowercase hex strings
 *	          and uuids as bytes, other strings, numbers and arrays as text; objects nested deeper
 *	          than TL_FRAME_SHRED_DEPTH as text too)
 *
 * Frames written before "TLF2" ("TLF1") have the ts column first, in mode 0 without its mode; both
 * are read.
 *
 * jsonb keeps object keys sorted and unique, so rebuilding each object from its (key, value) pairs
 * gives back the identical jsonb; numbers are kept as their text (or as integers when the text is
 * a plain integer), so their scale survives. The whole buffer is compressed with zstd (with its
 * content checksum), with the segment's dictionary when it has one (archive_dict.c; the frame's
 * zstd header names the dictionary's id, and a frame that names another is corrupt), and the
 * directory entry carries an XXH3-64 of the compressed bytes.
 *
 * Decoding trusts nothing: every length and index is checked, and any inconsistency is an
 * ERRCODE_DATA_CORRUPTED error naming the segment and frame. What a frame can make the reader
 * allocate is bounded before it is allocated: the uncompressed size (tl_frame_max_raw), the
 * dictionaries (no more entries than rows, each no longer than a key or a name), the path table
 * (TL_FRAME_MAX_PATHS, and no more paths than the bytes can describe) and its depth
 * (TL_FRAME_MAX_DEPTH). Strings, keys, names and numbers carry no NUL and are valid in the
 * database encoding.
 *
 * The parts live beside this file (store/archive_int.h joins them): archive_codec.c (varints,
 * the bounds-checked reader, dictionaries), archive_shred.c (payloads into columns),
 * archive_rebuild.c (columns back into payloads), archive_filter.c (key filters); this file
 * holds the frame: its columns, compression, and decoding with what a read wants.
 *
 * Locking: none (pure encoding).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>
#include <xxhash.h>

#include "common/int.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "store/archive.h"
#include "store/archive_int.h"
#include "core/guc.h"
#include "core/tieredlog.h"
#include "core/validate.h"

#define TL_FRAME_MAGIC		"TLF2"	/* what this build writes */
#define TL_FRAME_MAGIC_V1	"TLF1"	/* read: time column first, plain deltas */

/* ---- frames ------------------------------------------------------------------------------ */

static ZSTD_CCtx *cctx = NULL;
static ZSTD_DCtx *dctx = NULL;

int
tl_archive_row_cmp(const void *a, const void *b)
{
	const TlArchiveRow *x = a;
	const TlArchiveRow *y = b;
	int			c;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	c = strcmp(x->origin, y->origin);
	if (c != 0)
		return c;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The length of v as a varint. */
static inline int
varint_len(uint64 v)
{
	int			len = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		len++;
	}
	return len;
}

/*
 * The rate of the predicted time column: microseconds per seq step of the first row's origin
 * across the frame (0 when it has a single row or its seqs do not advance). Records are mostly
 * appended in time order, so one origin's ts grows with its seq.
 */
static int64
ts_rate(const TlArchiveRow *rows, int n, const int *origin_ids)
{
	int			last = 0;
	int64		dseq;
	int64		dts;

	for (int i = 1; i < n; i++)
		if (origin_ids[i] == origin_ids[0])
			last = i;
	if (last == 0 || pg_sub_s64_overflow(rows[last].seq, rows[0].seq, &dseq) || dseq <= 0 ||
		pg_sub_s64_overflow(rows[last].ts, rows[0].ts, &dts) || dts < 0)
		return 0;
	return dts / dseq;
}

/*
 * The predicted ts of row i: the previous row of its origin's ts plus `rate` per seq step from it,
 * or the previous row's ts when its origin has none before it. False on overflow.
 */
static inline bool
ts_predict(const TlArchiveRow *rows, int i, int64 rate, const int *prev_of_origin, int64 *pred)
{
	int			p = prev_of_origin[i];
	int64		dseq;
	int64		step;

	if (p < 0)
	{
		*pred = rows[i - 1].ts;
		return true;
	}
	return !pg_sub_s64_overflow(rows[i].seq, rows[p].seq, &dseq) &&
		!pg_mul_s64_overflow(dseq, rate, &step) &&
		!pg_add_s64_overflow(rows[p].ts, step, pred);
}

/* For each row, the index of the previous row of its origin, or -1 (palloc'd). */
static int *
previous_of_origin(const int *origin_ids, int n, int norigins)
{
	int		   *prev = palloc(sizeof(int) * n);
	int		   *last = palloc(sizeof(int) * norigins);

	for (int o = 0; o < norigins; o++)
		last[o] = -1;
	for (int i = 0; i < n; i++)
	{
		prev[i] = last[origin_ids[i]];
		last[origin_ids[i]] = i;
	}
	pfree(last);
	return prev;
}

/* TLF1's time column, and TLF2's mode 0: the first ts, then non-negative deltas (rows are in ts order). */
static void
write_ts_plain(StringInfo raw, const TlArchiveRow *rows, int n)
{
	tl_arc_put_varint(raw, tl_arc_zigzag(rows[0].ts));
	for (int i = 1; i < n; i++)
		tl_arc_put_varint(raw, (uint64) (rows[i].ts - rows[i - 1].ts));
}

/*
 * The time column (TLF2): mode 0, the first ts and non-negative deltas (as TLF1); or mode 1, the
 * rate, the first ts and for each further row its difference from ts_predict (zigzag). The
 * smaller of the two is written.
 */
static void
write_ts(StringInfo raw, const TlArchiveRow *rows, int n, const int *origin_ids, int norigins)
{
	int64		rate = ts_rate(rows, n, origin_ids);
	int		   *prev_of_origin = previous_of_origin(origin_ids, n, norigins);
	int64	   *resid = palloc(sizeof(int64) * n);
	int64		plain_len = 0;
	int64		pred_len = varint_len(tl_arc_zigzag(rate));
	bool		predicted = rate > 0;

	for (int i = 1; i < n && predicted; i++)
	{
		int64		pred;

		plain_len += varint_len((uint64) (rows[i].ts - rows[i - 1].ts));
		if (!ts_predict(rows, i, rate, prev_of_origin, &pred) || pg_sub_s64_overflow(rows[i].ts, pred, &resid[i]))
			predicted = false;
		else
			pred_len += varint_len(tl_arc_zigzag(resid[i]));
	}
	if (predicted && pred_len < plain_len)
	{
		tl_arc_put_varint(raw, 1);
		tl_arc_put_varint(raw, tl_arc_zigzag(rate));
		tl_arc_put_varint(raw, tl_arc_zigzag(rows[0].ts));
		for (int i = 1; i < n; i++)
			tl_arc_put_varint(raw, tl_arc_zigzag(resid[i]));
	}
	else
	{
		tl_arc_put_varint(raw, 0);
		write_ts_plain(raw, rows, n);
	}
	pfree(prev_of_origin);
	pfree(resid);
}

/*
 * The frame's columns in format `version`: 2 (TLF2, the archive's) or 1 (TLF1, for record
 * batches sent to peers, which an earlier build must read during a rolling upgrade).
 */
static void
write_columns(StringInfo raw, const TlArchiveRow *rows, int n, TlFrameMeta *meta, int version)
{
	DictItem   *items = palloc(sizeof(DictItem) * n);
	int		   *ids = palloc(sizeof(int) * n);
	int		   *origin_ids = palloc(sizeof(int) * n);
	int			norigins;
	int			nkeys;
	int			nsources;
	int			nsrc_items = 0;

	appendBinaryStringInfo(raw, version == 1 ? TL_FRAME_MAGIC_V1 : TL_FRAME_MAGIC, 4);
	tl_arc_put_varint(raw, n);
	if (version == 1)
		write_ts_plain(raw, rows, n);

	/* origins */
	for (int i = 0; i < n; i++)
		items[i] = (DictItem) {rows[i].origin, (int) strlen(rows[i].origin), i};
	tl_arc_write_dict(raw, items, n, false, 0, origin_ids, &norigins);
	if (norigins > 1)
		for (int i = 0; i < n; i++)
			tl_arc_put_varint(raw, origin_ids[i]);

	/* seq: delta from the previous row of the same origin (rows are mostly one origin) */
	{
		int64	   *last = palloc0(sizeof(int64) * norigins);

		for (int i = 0; i < n; i++)
		{
			tl_arc_put_varint(raw, tl_arc_zigzag(rows[i].seq - last[origin_ids[i]]));
			last[origin_ids[i]] = rows[i].seq;
		}
		pfree(last);
	}

	/* TLF2's time column: rows are in ts order */
	if (version != 1)
		write_ts(raw, rows, n, origin_ids, norigins);

	/* keys: sorted dictionary, front-coded */
	for (int i = 0; i < n; i++)
		items[i] = (DictItem) {VARDATA_ANY(rows[i].key), (int) VARSIZE_ANY_EXHDR(rows[i].key), i};
	tl_arc_write_dict(raw, items, n, true, 0, ids, &nkeys);
	meta->min_key = cstring_to_text_with_len(items[0].s, items[0].len);
	meta->max_key = cstring_to_text_with_len(items[n - 1].s, items[n - 1].len);
	meta->key_filter = tl_arc_build_key_filter(items, n, nkeys);
	for (int i = 0; i < n; i++)
		tl_arc_put_varint(raw, ids[i]);

	/* sources: index 0 means none */
	for (int i = 0; i < n; i++)
		if (rows[i].source)
			items[nsrc_items++] = (DictItem) {VARDATA_ANY(rows[i].source),
				(int) VARSIZE_ANY_EXHDR(rows[i].source), i};
	for (int i = 0; i < n; i++)
		ids[i] = 0;
	tl_arc_write_dict(raw, items, nsrc_items, false, 1, ids, &nsources);
	for (int i = 0; i < n; i++)
		tl_arc_put_varint(raw, ids[i]);

	tl_arc_write_payloads(raw, rows, n);
	pfree(items);
	pfree(ids);
	pfree(origin_ids);
}

/*
 * Encode n rows (sorted by tl_archive_row_cmp) into the uncompressed bytes of one frame in format
 * `version`, appended to `raw`. Fills *meta but for the compressed length and checksum.
 */
static void
encode_raw(const TlArchiveRow *rows, int n, StringInfo raw, TlFrameMeta *meta, int version)
{
	int			start = raw->len;

	Assert(n > 0);
	memset(meta, 0, sizeof(*meta));
	write_columns(raw, rows, n, meta, version);
	if ((Size) (raw->len - start) > tl_frame_max_raw())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a frame of %d records would be %d bytes, more than the limit of %zu", n,
						raw->len - start, tl_frame_max_raw()),
				 errhint("The limit grows with \"tieredlog.max_payload_size\".")));
	meta->nrows = n;
	meta->first_ts = rows[0].ts;
	meta->last_ts = rows[n - 1].ts;
	meta->raw_len = raw->len - start;
}

/*
 * Encode n rows (sorted by tl_archive_row_cmp) into the uncompressed bytes of one archive frame
 * (TLF2), appended to `raw`. Fills *meta but for the compressed length and checksum
 * (tl_frame_compress).
 */
void
tl_frame_encode_raw(const TlArchiveRow *rows, int n, StringInfo raw, TlFrameMeta *meta)
{
	encode_raw(rows, n, raw, meta, 2);
}

/*
 * Compress the uncompressed bytes of a frame at zstd `level`, with the segment's dictionary when
 * `dict` is not NULL (its id goes into the frame's header); sets meta's compressed length and
 * checksum.
 */
bytea *
tl_frame_compress(const char *raw, int raw_len, int level, const TlArchiveDict *dict, TlFrameMeta *meta)
{
	size_t		bound;
	size_t		clen;
	bytea	   *out;

	if (cctx == NULL && (cctx = ZSTD_createCCtx()) == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a zstd context")));
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	if (dict != NULL)
	{
		size_t		rc = ZSTD_CCtx_refCDict(cctx, tl_archive_dict_cdict(dict));

		if (ZSTD_isError(rc))
			elog(ERROR, "zstd could not use the dictionary: %s", ZSTD_getErrorName(rc));
	}
	bound = ZSTD_compressBound(raw_len);
	out = palloc(VARHDRSZ + bound);
	clen = ZSTD_compress2(cctx, VARDATA(out), bound, raw, raw_len);
	/* (the context must not keep a dictionary that may be freed before its next use) */
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	if (ZSTD_isError(clen))
		elog(ERROR, "zstd compression failed: %s", ZSTD_getErrorName(clen));
	SET_VARSIZE(out, VARHDRSZ + clen);
	meta->comp_len = (int32) clen;
	meta->checksum = (int64) XXH3_64bits(VARDATA(out), clen);
	return out;
}

/*
 * Encode n rows (sorted by tl_archive_row_cmp) into one frame at zstd `level`, in the TLF1 format
 * every build reads (record batches for peers). Fills *meta.
 */
bytea *
tl_frame_encode(const TlArchiveRow *rows, int n, int level, TlFrameMeta *meta)
{
	StringInfoData raw;
	bytea	   *out;

	initStringInfo(&raw);
	encode_raw(rows, n, &raw, meta, 1);
	out = tl_frame_compress(raw.data, raw.len, level, NULL, meta);
	pfree(raw.data);
	return out;
}

/*
 * The decompression buffer, kept for the life of the backend and grown as needed: freeing and
 * re-allocating half a megabyte per frame cost about a tenth of a tier 2 read in page faults.
 * Decoded rows never point into it (everything they keep is copied).
 */
static char *raw_buf = NULL;
static Size raw_cap = 0;

/* Buffers larger than this are not kept: one large frame must not pin its size for good. */
#define RAW_KEEP_BYTES	(1024 * 1024)

/*
 * The largest uncompressed frame: what the writer can produce (TL_FRAME_TARGET_BYTES plus one
 * record, with room for the payload's path table), and never less than 64 MB.
 */
Size
tl_frame_max_raw(void)
{
	Size		cap = Max((Size) 64 * 1024 * 1024,
						  4 * ((Size) TL_FRAME_TARGET_BYTES + (Size) tl_max_payload_size));

	return Min(cap, MaxAllocSize - 1);
}

static char *
raw_buffer(Size len)
{
	if (len > RAW_KEEP_BYTES)
		return palloc(len);
	if (len > raw_cap)
	{
		if (raw_buf)
			pfree(raw_buf);
		raw_buf = MemoryContextAlloc(TopMemoryContext, len);
		raw_cap = len;
	}
	return raw_buf;
}

static char *
decompress(const bytea *data, const TlFrameMeta *meta, Reader *r, char *dst)
{
	int			clen = VARSIZE_ANY_EXHDR(data);
	char	   *raw;
	size_t		got;
	unsigned	dict_id;

	if (meta->raw_len <= 0 || (Size) meta->raw_len > tl_frame_max_raw())
		tl_arc_corrupt(r, psprintf("uncompressed size of %d bytes is outside 1 to %zu", meta->raw_len,
							tl_frame_max_raw()));
	if (meta->nrows <= 0 || meta->nrows > TL_FRAME_MAX_ROWS)
		tl_arc_corrupt(r, psprintf("row count of %d in the frame directory is outside 1 to %d", meta->nrows,
							TL_FRAME_MAX_ROWS));
	if (clen != meta->comp_len || (int64) XXH3_64bits(VARDATA_ANY(data), clen) != meta->checksum)
		tl_arc_corrupt(r, "checksum of the compressed bytes does not match the frame directory");
	if (ZSTD_getFrameContentSize(VARDATA_ANY(data), clen) != (unsigned long long) meta->raw_len)
		tl_arc_corrupt(r, "uncompressed size does not match the frame directory");
	if (dctx == NULL && (dctx = ZSTD_createDCtx()) == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a zstd context")));
	dict_id = ZSTD_getDictID_fromFrame(VARDATA_ANY(data), clen);
	if (dict_id != 0 && (meta->dict == NULL || tl_archive_dict_id(meta->dict) != dict_id))
		tl_arc_corrupt(r, psprintf("compressed with dictionary %u, which the segment does not have", dict_id));
	raw = dst ? dst : raw_buffer(meta->raw_len);
	if (dict_id != 0)
		got = ZSTD_decompress_usingDDict(dctx, raw, meta->raw_len, VARDATA_ANY(data), clen,
										 tl_archive_dict_ddict(meta->dict));
	else
		got = ZSTD_decompressDCtx(dctx, raw, meta->raw_len, VARDATA_ANY(data), clen);
	if (ZSTD_isError(got) || got != (size_t) meta->raw_len)
		tl_arc_corrupt(r, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
	return raw;
}

/*
 * The uncompressed bytes of a frame, checked against its directory entry (a copy in the current
 * memory context).
 */
bytea *
tl_frame_decompress(const bytea *data, const TlFrameMeta *meta, int64 segment_id, int frame_no)
{
	Reader		r = {NULL, NULL, segment_id, frame_no};
	char	   *raw = decompress(data, meta, &r, NULL);
	bytea	   *out = palloc(VARHDRSZ + meta->raw_len);

	SET_VARSIZE(out, VARHDRSZ + meta->raw_len);
	memcpy(VARDATA(out), raw, meta->raw_len);
	if (raw != raw_buf)
		pfree(raw);
	return out;
}

/* Past one varint, bounds-checked as tl_arc_get_varint (at most 10 bytes), without its value. */
static inline void
skip_varint(Reader *r)
{
	const uint8 *p = r->p;
	const uint8 *end = r->end - r->p > 10 ? r->p + 10 : r->end;

	while (p < end && (*p & 0x80))
		p++;
	if (p >= end)
		tl_arc_corrupt(r, "truncated or overlong integer");
	r->p = p + 1;
}

/*
 * Skip the payload values of rows from .. to - 1: advance every path's value streams past them,
 * path by path, without rebuilding anything (rows the reader does not want). Every length is
 * still checked against the end of its stream.
 */
static void
skip_rows(DecPath *paths, int npaths, int from, int to)
{
	for (int i = 0; i < npaths; i++)
	{
		DecPath    *p = &paths[i];
		const uint8 *tags = p->tags;

		for (int row = from; row < to; row++)
		{
			uint64		len;

			switch (tags[row])
			{
				case TAG_INT:
					skip_varint(&p->ints);
					break;
				case TAG_NUM:
				case TAG_STR:
				case TAG_JSON:
					len = tl_arc_get_varint(&p->strs);
					if (len > (uint64) (p->strs.end - p->strs.p))
						tl_arc_corrupt(&p->strs, "string runs past the end of the frame");
					p->strs.p += len;
					break;
				case TAG_HEX:
					len = tl_arc_get_varint(&p->strs);
					if (len > (uint64) (INT_MAX / 2))
						tl_arc_corrupt(&p->strs, "hex length");
					if (len > (uint64) (p->strs.end - p->strs.p))
						tl_arc_corrupt(&p->strs, "hex value runs past the end of the frame");
					p->strs.p += len;
					break;
				case TAG_UUID:
					if (16 > p->strs.end - p->strs.p)
						tl_arc_corrupt(&p->strs, "hex value runs past the end of the frame");
					p->strs.p += 16;
					break;
				default:
					break;
			}
		}
	}
}

/* TLF1's time column, and TLF2's mode 0: the first ts, then non-negative deltas. */
static void
read_ts_plain(Reader *r, TlArchiveRow *rows, int n)
{
	rows[0].ts = tl_arc_unzigzag(tl_arc_get_varint(r));
	for (int i = 1; i < n; i++)
	{
		uint64		delta = tl_arc_get_varint(r);

		if (delta > (uint64) PG_INT64_MAX || pg_add_s64_overflow(rows[i - 1].ts, (int64) delta, &rows[i].ts))
			tl_arc_corrupt(r, "timestamp delta overflows");
	}
}

/* TLF2's time column (write_ts): its mode, then plain deltas or differences from ts_predict. */
static void
read_ts(Reader *r, TlArchiveRow *rows, int n, const int *origin_ids, int norigins)
{
	uint64		mode = tl_arc_get_varint(r);
	int64		rate;
	int		   *prev_of_origin;

	if (mode == 0)
	{
		read_ts_plain(r, rows, n);
		return;
	}
	if (mode != 1)
		tl_arc_corrupt(r, "unknown time column mode");
	rate = tl_arc_unzigzag(tl_arc_get_varint(r));
	rows[0].ts = tl_arc_unzigzag(tl_arc_get_varint(r));
	prev_of_origin = previous_of_origin(origin_ids, n, norigins);
	for (int i = 1; i < n; i++)
	{
		int64		pred;

		if (!ts_predict(rows, i, rate, prev_of_origin, &pred) ||
			pg_add_s64_overflow(pred, tl_arc_unzigzag(tl_arc_get_varint(r)), &rows[i].ts))
			tl_arc_corrupt(r, "timestamp prediction overflows");
	}
	pfree(prev_of_origin);
}

/*
 * The origin column (a dictionary, then one index per row unless there is one origin) and the
 * seq column (deltas from the previous row of the same origin). Fills each row's origin and seq
 * and origin_ids; returns the number of origins.
 */
static int
read_origins_seq(Reader *r, TlArchiveRow *rows, int n, int *origin_ids)
{
	int			norigins;
	DictEntry  *origins = tl_arc_read_dict(r, false, DICT_NAMES, n, &norigins);
	int64	   *last_seq;

	if (norigins < 1)
		tl_arc_corrupt(r, "no origin");
	if (norigins > 1)
		for (int i = 0; i < n; i++)
			origin_ids[i] = tl_arc_get_count(r, norigins - 1, "origin index out of range");
	else
		memset(origin_ids, 0, sizeof(int) * n);
	last_seq = palloc0(sizeof(int64) * norigins);
	for (int i = 0; i < n; i++)
	{
		int			o = origin_ids[i];

		rows[i].origin = origins[o].s;
		if (pg_add_s64_overflow(last_seq[o], tl_arc_unzigzag(tl_arc_get_varint(r)), &rows[i].seq))
			tl_arc_corrupt(r, "seq delta overflows");
		last_seq[o] = rows[i].seq;
	}
	pfree(last_seq);
	return norigins;
}

/* A builder's buffers, in the current memory context (see RowBuilder). */
static void
row_builder_init(RowBuilder *b, const char *rid_log, bool in_place)
{
	initStringInfo(&b->bin);
	initStringInfo(&b->text);
	initStringInfo(&b->scratch);
	b->rid_log = rid_log;
	b->in_place = in_place;
}

/*
 * Decode the uncompressed bytes of a frame; *nrows is set to its row count, which must be
 * expect_nrows unless that is negative. With `want`, only the rows it wants are rebuilt and
 * returned (*nrows is then their count, and *first_ts / *last_ts the frame's own bounds, for the
 * directory check); every row's timestamp, origin, seq and key index is still read and checked.
 */
static TlArchiveRow *
decode_raw(Reader *r, const char *raw, int raw_len, int expect_nrows, const TlFrameWant *want,
		   int *nrows, TimestampTz *first_ts, TimestampTz *last_ts, TlFrameCursor *cursor)
{
	TlArchiveRow *rows;
	int			n;
	int			norigins;
	int			nsources;
	int			nkeys;
	DictEntry  *sources;
	DictEntry  *keys;
	text	  **key_text;
	text	  **source_text;
	int		   *key_ids;
	int			want_key = -1;
	bool	   *wanted;
	int			nwanted = 0;
	int		   *origin_ids;
	int			version;
	DecPath    *paths;
	int			npaths;
	RowBuilder	builder;
	int			out;

	r->p = (const uint8 *) raw;
	r->end = r->p + raw_len;
	if (raw_len < 5)
		tl_arc_corrupt(r, "bad magic");
	if (memcmp(raw, TL_FRAME_MAGIC, 4) == 0)
		version = 2;
	else if (memcmp(raw, TL_FRAME_MAGIC_V1, 4) == 0)
		version = 1;
	else
		tl_arc_corrupt(r, "bad magic");
	r->p += 4;
	n = tl_arc_get_count(r, TL_FRAME_MAX_ROWS, "row count");
	if ((expect_nrows >= 0 && n != expect_nrows) || n == 0)
		tl_arc_corrupt(r, "row count does not match the frame directory");
	/* a merge's cursor keeps its rows to the end of the read: in the read's arena */
	rows = cursor ? tl_arena_alloc(cursor->arena, sizeof(TlArchiveRow) * n) :
		palloc(sizeof(TlArchiveRow) * n);
	wanted = palloc(sizeof(bool) * n);
	origin_ids = palloc(sizeof(int) * n);

	/* TLF1: the time column first, then origins and seqs; TLF2: origins and seqs first */
	if (version == 1)
		read_ts_plain(r, rows, n);
	norigins = read_origins_seq(r, rows, n, origin_ids);
	if (version == 2)
		read_ts(r, rows, n, origin_ids, norigins);
	/*
	 * timestamps: sorted, each one a valid timestamptz; rows in record order (ts, origin, seq),
	 * which a merge of frames relies on
	 */
	for (int i = 0; i < n; i++)
	{
		if (!IS_VALID_TIMESTAMP(rows[i].ts))
			tl_arc_corrupt(r, "timestamp out of range");
		if (i > 0 && rows[i].ts < rows[i - 1].ts)
			tl_arc_corrupt(r, "timestamps out of order");
		if (i > 0 && rows[i].ts == rows[i - 1].ts && tl_archive_row_cmp(&rows[i - 1], &rows[i]) > 0)
			tl_arc_corrupt(r, "rows out of record order");
		wanted[i] = want == NULL || (rows[i].ts >= want->from_ts && rows[i].ts < want->to_ts);
	}
	if (first_ts)
		*first_ts = rows[0].ts;
	if (last_ts)
		*last_ts = rows[n - 1].ts;

	/* keys: a text per distinct key, made when a wanted row first uses it */
	if (want && want->key)
		keys = tl_arc_find_key_in_dict(r, n, VARDATA_ANY(want->key), VARSIZE_ANY_EXHDR(want->key),
								&nkeys, &want_key);
	else
		keys = tl_arc_read_dict(r, true, DICT_KEYS, n, &nkeys);
	if (nkeys < 1)
		tl_arc_corrupt(r, "no key");
	/* the key is not in this frame (its filter gave a false positive): nothing to rebuild */
	if (want && want->key && want_key < 0)
	{
		*nrows = 0;
		return rows;
	}
	key_text = palloc0(sizeof(text *) * nkeys);
	key_ids = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
	{
		key_ids[i] = tl_arc_get_count(r, nkeys - 1, "key index out of range");
		if (want && want->key && key_ids[i] != want_key)
			wanted[i] = false;
		if (wanted[i])
			nwanted++;
	}

	sources = tl_arc_read_dict(r, false, DICT_NAMES, n, &nsources);
	source_text = palloc0(sizeof(text *) * (nsources + 1));
	for (int i = 0; i < n; i++)
	{
		int			s = tl_arc_get_count(r, nsources, "source index out of range");

		if (!wanted[i])
			continue;
		if (key_text[key_ids[i]] == NULL)
			key_text[key_ids[i]] = cstring_to_text_with_len(keys[key_ids[i]].s, keys[key_ids[i]].len);
		rows[i].key = key_text[key_ids[i]];
		if (s > 0 && source_text[s] == NULL)
			source_text[s] = cstring_to_text_with_len(sources[s - 1].s, sources[s - 1].len);
		rows[i].source = s == 0 ? NULL : source_text[s];
	}

	*nrows = 0;
	if (nwanted == 0)
		return rows;
	if (want && want->no_payload)
	{
		/* the reader wants no payload: the path table and the values are not even read */
		paths = NULL;
		npaths = 0;
		for (int i = 0; i < n; i++)
		{
			rows[i].payload = NULL;
			rows[i].payload_text = NULL;
			rows[i].payload_text_len = 0;
			rows[i].has_rid = false;
		}
	}
	else
		paths = tl_arc_read_paths(r, n, &npaths, cursor ? cursor->arena : NULL);
	if (cursor)
	{
		/* the fixed columns are read; payloads are rebuilt one row at a time by the cursor */
		cursor->nrows = n;
		cursor->rows = rows;
		cursor->paths = paths;
		cursor->npaths = npaths;
		cursor->next = 0;
		/* (what only the decoding needed goes back to the memory context for the next frame) */
		pfree(wanted);
		pfree(origin_ids);
		pfree(key_ids);
		*nrows = n;
		return rows;
	}
	if (paths == NULL)
	{
		out = 0;
		for (int i = 0; i < n; i++)
		{
			if (!wanted[i])
				continue;
			if (out != i)
				rows[out] = rows[i];
			out++;
		}
		*nrows = out;
		return rows;
	}
	row_builder_init(&builder, want ? want->rid_log : NULL, false);
	out = 0;
	for (int i = 0, done = 0; i < n; i++)
	{
		if (!wanted[i])
			continue;
		if (done < i)
			skip_rows(paths, npaths, done, i);
		done = i + 1;
		tl_arc_rebuild_row(paths, i, &builder, &rows[i]);
		if (out != i)
			rows[out] = rows[i];
		out++;
		/* rows after the last wanted one need not be read at all */
		if (out == nwanted)
			break;
	}
	*nrows = out;
	return rows;
}

/*
 * Decode a frame. Checks the directory's checksum and sizes first; errors name the segment and
 * frame. The rows come back in the order they were encoded (ts, origin, seq).
 */
TlArchiveRow *
tl_frame_decode(const bytea *data, const TlFrameMeta *meta, int64 segment_id, int frame_no)
{
	int			n;

	return tl_frame_decode_want(data, meta, segment_id, frame_no, NULL, &n);
}

/*
 * Decode the rows of a frame that `want` wants (all of them when it is NULL), in frame order;
 * *nrows is set to their count. The same checks as tl_frame_decode.
 */
TlArchiveRow *
tl_frame_decode_want(const bytea *data, const TlFrameMeta *meta, int64 segment_id, int frame_no,
					 const TlFrameWant *want, int *nrows)
{
	Reader		r = {NULL, NULL, segment_id, frame_no};
	char	   *raw = decompress(data, meta, &r, NULL);
	TlArchiveRow *rows;
	TimestampTz first_ts;
	TimestampTz last_ts;

	rows = decode_raw(&r, raw, meta->raw_len, meta->nrows, want, nrows, &first_ts, &last_ts, NULL);
	if (raw != raw_buf)
		pfree(raw);
	if (first_ts != meta->first_ts || last_ts != meta->last_ts)
		tl_arc_corrupt(&r, "timestamps do not match the frame directory");
	return rows;
}

/*
 * Decode uncompressed frame bytes that have no directory entry (tieredlog._frame_decode, for
 * tests and fuzzing): the row count is the frame's own.
 */
TlArchiveRow *
tl_frame_decode_raw(const char *raw, int raw_len, int *nrows)
{
	Reader		r = {NULL, NULL, 0, 0};

	return decode_raw(&r, raw, raw_len, -1, NULL, nrows, NULL, NULL, NULL);
}

/* The same, rebuilding only the rows `want` wants (tieredlog._frame_decode_key). */
TlArchiveRow *
tl_frame_decode_raw_want(const char *raw, int raw_len, const TlFrameWant *want, int *nrows)
{
	Reader		r = {NULL, NULL, 0, 0};

	return decode_raw(&r, raw, raw_len, -1, want, nrows, NULL, NULL, NULL);
}

/*
 * The row builder the cursors of one merge share, in the current memory context: a row a cursor
 * hands out has its payload (and, with rid_log, its rid) rebuilt into the builder's own buffers,
 * valid until the next row of any of them is rebuilt. With rid_log (the log's name), each row's
 * rid is computed as its payload is rebuilt.
 */
TlFrameBuilder *
tl_frame_builder_create(const char *rid_log)
{
	TlFrameBuilder *fb = palloc(sizeof(TlFrameBuilder));

	row_builder_init(&fb->b, rid_log, true);
	return fb;
}

/*
 * A cursor over the rows of one frame, for reading several frames merged in record order: the
 * frame is decompressed into memory of its own and its fixed columns decoded (with every check
 * tl_frame_decode makes); each row's payload is rebuilt (or skipped) when the reader gets to it,
 * in frame order, by the builder the reader passes (with no_payload, never: rows come without
 * payloads). The frame, its rows, payload paths and batches live in `arena`, the cursor itself
 * in the current memory context; both go when the read's memory does.
 */
TlFrameCursor *
tl_frame_cursor_open(const bytea *data, const TlFrameMeta *meta, int64 segment_id, int frame_no,
					 bool no_payload, TlArena *arena)
{
	TlFrameCursor *c = palloc0(sizeof(TlFrameCursor));
	Reader		r = {NULL, NULL, segment_id, frame_no};
	TlFrameWant all = {DT_NOBEGIN, DT_NOEND, NULL, no_payload, NULL};
	char	   *raw;
	TimestampTz first_ts;
	TimestampTz last_ts;
	int			n;

	if (meta->raw_len <= 0 || (Size) meta->raw_len > tl_frame_max_raw())
		tl_arc_corrupt(&r, psprintf("uncompressed size of %d bytes is outside 1 to %zu", meta->raw_len,
							tl_frame_max_raw()));
	c->arena = arena;
	raw = decompress(data, meta, &r, tl_arena_alloc(arena, meta->raw_len));
	c->raw = raw;
	(void) decode_raw(&r, raw, meta->raw_len, meta->nrows, &all, &n, &first_ts, &last_ts, c);
	if (first_ts != meta->first_ts || last_ts != meta->last_ts)
		tl_arc_corrupt(&r, "timestamps do not match the frame directory");
	Assert(c->nrows == n && n > 0);
	return c;
}

/* The fixed columns (ts, origin, seq, key, source) of the cursor's row `row` (0-based), or NULL past its end. */
const TlArchiveRow *
tl_frame_cursor_row(const TlFrameCursor *c, int row)
{
	return row >= 0 && row < c->nrows ? &c->rows[row] : NULL;
}

/* The index of the row tl_frame_cursor_next returns next. */
int
tl_frame_cursor_position(const TlFrameCursor *c)
{
	return c->next;
}

/*
 * Rows a cursor rebuilds at a time: a merge visits its frames in turn, one row each, and a row's
 * rebuild reads every value stream of the frame; a batch reads them while they are in the CPU's
 * cache. Each cursor keeps its batch's payloads, so a batch costs memory in every open frame: a
 * batch takes no more rows once its payloads hold TL_CURSOR_BATCH_BYTES, and a batch's first row
 * that alone holds more stays where the builder made it (the merge visits it before the next
 * rebuild). An open frame then keeps at most that much and one row more, whatever its payloads.
 */
#define TL_CURSOR_BATCH			16
#define TL_CURSOR_BATCH_BYTES	16384

/*
 * Rebuild rows [next, ...) with fb: up to TL_CURSOR_BATCH rows, their payloads (and texts) copied
 * into c->batch, or one row left in the builder's buffers.
 */
static void
cursor_rebuild_batch(TlFrameCursor *c, RowBuilder *b)
{
	int			end = Min(c->next + TL_CURSOR_BATCH, c->nrows);
	Size		payload_at[TL_CURSOR_BATCH];
	Size		text_at[TL_CURSOR_BATCH];
	Size		used = 0;
	int			i;

	Assert(b->in_place);
	for (i = c->next; i < end && used < TL_CURSOR_BATCH_BYTES; i++)
	{
		TlArchiveRow *row = &c->rows[i];
		Size		plen;
		Size		need;

		tl_arc_rebuild_row(c->paths, i, b, row);
		plen = VARSIZE(row->payload);
		need = MAXALIGN(plen) + (row->payload_text ? MAXALIGN(row->payload_text_len + 1) : 0);
		if (i == c->next && need > TL_CURSOR_BATCH_BYTES)
		{
			/* (in the builder's buffers, valid until its next rebuild) */
			c->batch_end = i + 1;
			return;
		}
		if (used + need > c->batch_cap)
		{
			Size		cap = Max(Max(c->batch_cap * 2, used + need), 2048);
			char	   *grown = tl_arena_alloc(c->arena, cap);

			/* (the old buffer stays in the arena until the read ends: at most as much again) */
			if (used > 0)
				memcpy(grown, c->batch, used);
			c->batch = grown;
			c->batch_cap = cap;
		}
		memcpy(c->batch + used, row->payload, plen);
		payload_at[i - c->next] = used;
		used += MAXALIGN(plen);
		if (row->payload_text)
		{
			memcpy(c->batch + used, row->payload_text, row->payload_text_len + 1);
			text_at[i - c->next] = used;
			used += MAXALIGN(row->payload_text_len + 1);
		}
	}
	end = i;
	/* (the buffer may have moved while it grew) */
	for (i = c->next; i < end; i++)
	{
		c->rows[i].payload = (Jsonb *) (c->batch + payload_at[i - c->next]);
		if (c->rows[i].payload_text)
			c->rows[i].payload_text = c->batch + text_at[i - c->next];
	}
	c->batch_end = end;
}

/*
 * The next row with its payload rebuilt (by fb, with the next few rows of the frame), and
 * advance. The row stays valid until the cursor's next batch, and a row that had a batch to
 * itself until fb's next rebuild; what a rebuild allocates besides its payload is in the current
 * memory context.
 */
const TlArchiveRow *
tl_frame_cursor_next(TlFrameCursor *c, TlFrameBuilder *fb)
{
	Assert(c->next < c->nrows);
	if (c->next >= c->batch_end && c->paths != NULL)
		cursor_rebuild_batch(c, &fb->b);
	return &c->rows[c->next++];
}

/* Advance past every row before `ts` (rows are in ts order), without rebuilding them. */
void
tl_frame_cursor_skip_before(TlFrameCursor *c, TimestampTz ts)
{
	int			to = c->next;

	while (to < c->nrows && c->rows[to].ts < ts)
		to++;
	if (to > c->batch_end)
	{
		if (c->paths != NULL)
			skip_rows(c->paths, c->npaths, Max(c->next, c->batch_end), to);
		c->batch_end = to;
	}
	c->next = to;
}
