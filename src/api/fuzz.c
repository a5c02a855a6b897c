/*-------------------------------------------------------------------------
 * fuzz.c
 *		Internal SQL entry points that drive the decoders of outside bytes directly, for the
 *		regression tests and the fuzzing harness (test/t/013_fuzz.pl): archive frames given
 *		uncompressed, record batches built around such a frame, and single stream messages.
 *
 *	 _frame_raw(batch)      the uncompressed frames of a record batch (as _ae_fetch returns it)
 *	 _archive_frame_raw(segment_id, frame_no)
 *	                        the uncompressed bytes of an archive frame of a tier 2 segment (TLF2,
 *	                        decompressed with the segment's dictionary)
 *	 _frame_decode(raw)     decode one uncompressed frame; returns its row count
 *	 _frame_decode_key(raw, key)
 *	                        the same, rebuilding only the rows of one key (as a key read does);
 *	                        returns how many
 *	 _key_filter_probe(filter, key)
 *	                        whether a frame's key filter (its directory entry) may hold the key
 *	 _batch_pack(log, interval_us, raw, rids)
 *	                        a record batch (as _ae_store takes it) holding that frame, compressed
 *	                        and checksummed, with the rids given (16 bytes each; zeros if NULL)
 *	 _wire_decode(message)  decode one stream message ('B', 'R' or 'C') as the apply worker does;
 *	                        returns what it read as jsonb
 *
 * Nothing here stores anything; each function only decodes (or packs) and checks what it reads,
 * exactly as the real paths do. They are superuser-only (checked here, and revoked from PUBLIC
 * in the install script).
 *
 * Locking: none.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>
#include <xxhash.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "store/archive.h"
#include "store/archive_store.h"
#include "store/catalog.h"
#include "repl/reconcile_local.h"
#include "core/tieredlog.h"
#include "core/validate.h"
#include "repl/wire.h"

PG_FUNCTION_INFO_V1(tieredlog_frame_raw);
PG_FUNCTION_INFO_V1(tieredlog_archive_frame_raw);
PG_FUNCTION_INFO_V1(tieredlog_frame_decode);
PG_FUNCTION_INFO_V1(tieredlog_frame_decode_key);
PG_FUNCTION_INFO_V1(tieredlog_key_filter_probe);
PG_FUNCTION_INFO_V1(tieredlog_batch_pack);
PG_FUNCTION_INFO_V1(tieredlog_wire_decode);

static void
require_superuser(const char *fn)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may call %s", fn)));
}

/* _frame_raw(batch bytea) RETURNS bytea[]: the frames of a record batch, uncompressed */
Datum
tieredlog_frame_raw(PG_FUNCTION_ARGS)
{
	bytea	   *batch = PG_GETARG_BYTEA_PP(0);
	TlWire		w = {VARDATA_ANY(batch), VARDATA_ANY(batch) + VARSIZE_ANY_EXHDR(batch)};
	uint32		nframes;
	Datum	   *frames;

	require_superuser("tieredlog._frame_raw");
	(void) tl_wire_cstring(&w);
	(void) tl_wire_u64(&w);
	nframes = tl_wire_u32(&w);
	if (nframes > (uint32) (w.end - w.p) / 32)
		tl_wire_fail("frame count runs past the message");
	frames = palloc(sizeof(Datum) * Max(nframes, 1));
	for (uint32 f = 0; f < nframes; f++)
	{
		TlFrameMeta meta;
		bytea	   *frame = tl_rl_read_batch_frame(&w, &meta);

		w.p += meta.nrows * TL_RID_LEN;
		frames[f] = PointerGetDatum(tl_frame_decompress(frame, &meta, 0, (int) f));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(frames, (int) nframes, BYTEAOID, -1, false, TYPALIGN_INT));
}

/* _archive_frame_raw(segment_id bigint, frame_no integer) RETURNS bytea */
Datum
tieredlog_archive_frame_raw(PG_FUNCTION_ARGS)
{
	int64		segment_id = PG_GETARG_INT64(0);
	int32		frame_no = PG_GETARG_INT32(1);
	TlSegment	seg;

	require_superuser("tieredlog._archive_frame_raw");
	if (!tl_catalog_get_segment(segment_id, &seg) || seg.tier != 2 || seg.archive_attempt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segment %lld is not in tier 2", (long long) segment_id)));
	PG_RETURN_BYTEA_P(tl_archive_frame_raw(seg.log_id, segment_id, seg.archive_attempt, frame_no));
}

/* _frame_decode(raw bytea) RETURNS bigint: decode one uncompressed frame */
Datum
tieredlog_frame_decode(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	int			n;

	require_superuser("tieredlog._frame_decode");
	(void) tl_frame_decode_raw(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), &n);
	PG_RETURN_INT64(n);
}

/* _frame_decode_key(raw bytea, key text) RETURNS bigint: the rows of one key of a frame */
Datum
tieredlog_frame_decode_key(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	TlFrameWant want = {DT_NOBEGIN, DT_NOEND, PG_GETARG_TEXT_PP(1), false};
	int			n;

	require_superuser("tieredlog._frame_decode_key");
	(void) tl_frame_decode_raw_want(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), &want, &n);
	PG_RETURN_INT64(n);
}

/* _key_filter_probe(filter bytea, key text) RETURNS boolean */
Datum
tieredlog_key_filter_probe(PG_FUNCTION_ARGS)
{
	bytea	   *filter = PG_GETARG_BYTEA_PP(0);
	text	   *key = PG_GETARG_TEXT_PP(1);

	require_superuser("tieredlog._key_filter_probe");
	PG_RETURN_BOOL(tl_key_filter_may_hold(filter, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), 0, 0));
}

/* A bounded varint reader for peeking at a frame's header (no errors: false when it stops). */
static bool
peek_varint(const uint8 **p, const uint8 *end, uint64 *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift <= 63; shift += 7)
	{
		uint8		c = *(*p)++;

		*v |= (uint64) (c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

/*
 * The row count and first and last ts that a frame's header claims, as far as they can be read
 * (the directory entry a real writer would make for it).
 */
static void
peek_header(const char *raw, int len, int *nrows, int64 *first_ts, int64 *last_ts)
{
	const uint8 *p = (const uint8 *) raw + 4;
	const uint8 *end = (const uint8 *) raw + len;
	uint64		v;

	*nrows = 1;
	*first_ts = *last_ts = 0;
	if (len < 4 || !peek_varint(&p, end, &v))
		return;
	*nrows = (int) Min(v, (uint64) TL_FRAME_MAX_ROWS + 1);
	if (!peek_varint(&p, end, &v))
		return;
	*first_ts = *last_ts = (int64) (v >> 1) ^ -(int64) (v & 1);
	for (int i = 1; i < *nrows && peek_varint(&p, end, &v); i++)
		*last_ts = (int64) ((uint64) *last_ts + v);
}

/* _batch_pack(log_name text, interval_us bigint, raw bytea, rids bytea) RETURNS bytea */
Datum
tieredlog_batch_pack(PG_FUNCTION_ARGS)
{
	char	   *log_name;
	int64		interval_us;
	bytea	   *raw;
	bytea	   *rids;
	int			rawlen;
	int			nrows;
	int64		first_ts;
	int64		last_ts;
	size_t		bound;
	char	   *comp;
	size_t		clen;
	ZSTD_CCtx  *cctx;
	StringInfoData out;
	bytea	   *result;

	require_superuser("tieredlog._batch_pack");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	log_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	interval_us = PG_GETARG_INT64(1);
	raw = PG_GETARG_BYTEA_PP(2);
	rids = PG_ARGISNULL(3) ? NULL : PG_GETARG_BYTEA_PP(3);
	rawlen = VARSIZE_ANY_EXHDR(raw);
	bound = ZSTD_compressBound(rawlen);
	peek_header(VARDATA_ANY(raw), rawlen, &nrows, &first_ts, &last_ts);
	if ((cctx = ZSTD_createCCtx()) == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a zstd context")));
	comp = palloc(bound);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	clen = ZSTD_compress2(cctx, comp, bound, VARDATA_ANY(raw), rawlen);
	ZSTD_freeCCtx(cctx);
	if (ZSTD_isError(clen))
		elog(ERROR, "zstd compression failed: %s", ZSTD_getErrorName(clen));

	initStringInfo(&out);
	tl_wire_put_bytes(&out, log_name, strlen(log_name));
	tl_wire_put_u64(&out, (uint64) interval_us);
	tl_wire_put_u32(&out, 1);
	tl_wire_put_u32(&out, (uint32) nrows);
	tl_wire_put_u64(&out, (uint64) first_ts);
	tl_wire_put_u64(&out, (uint64) last_ts);
	tl_wire_put_u32(&out, (uint32) rawlen);
	tl_wire_put_u64(&out, XXH3_64bits(comp, clen));
	tl_wire_put_bytes(&out, comp, (int) clen);
	{
		int			given = rids ? (int) VARSIZE_ANY_EXHDR(rids) : 0;

		for (int i = 0; i < nrows * TL_RID_LEN; i++)
			appendStringInfoChar(&out, i < given ? VARDATA_ANY(rids)[i] : '\0');
	}
	result = palloc(VARHDRSZ + out.len);
	SET_VARSIZE(result, VARHDRSZ + out.len);
	memcpy(VARDATA(result), out.data, out.len);
	PG_RETURN_BYTEA_P(result);
}

static void
json_field(StringInfo j, const char *name, const char *s, int len)
{
	char	   *t = pnstrdup(s, len);

	appendStringInfo(j, "%s\"%s\": ", j->len > 1 ? ", " : "", name);
	escape_json(j, t);
	pfree(t);
}

static void
json_int(StringInfo j, const char *name, int64 v)
{
	appendStringInfo(j, "%s\"%s\": " INT64_FORMAT, j->len > 1 ? ", " : "", name, v);
}

/*
 * _wire_decode(message bytea) RETURNS jsonb: one stream message, read as apply.c reads it (its
 * items one after the other); the fields of the last item, and how many there were.
 */
Datum
tieredlog_wire_decode(PG_FUNCTION_ARGS)
{
	bytea	   *msg = PG_GETARG_BYTEA_PP(0);
	TlWire		w = {VARDATA_ANY(msg), VARDATA_ANY(msg) + VARSIZE_ANY_EXHDR(msg)};
	StringInfoData j;
	uint8		kind;

	int			items = 0;

	require_superuser("tieredlog._wire_decode");
	do
	{
		CHECK_FOR_INTERRUPTS();
		items++;
		initStringInfo(&j);
		appendStringInfoChar(&j, '{');
		kind = tl_wire_u8(&w);
		switch (kind)
		{
			case 'B':
				json_field(&j, "kind", "B", 1);
				json_int(&j, "final_lsn", (int64) tl_wire_u64(&w));
				json_int(&j, "commit_time", (int64) tl_wire_u64(&w));
				json_int(&j, "xid", tl_wire_u32(&w));
				break;
			case 'C':
				json_field(&j, "kind", "C", 1);
				json_int(&j, "commit_lsn", (int64) tl_wire_u64(&w));
				json_int(&j, "end_lsn", (int64) tl_wire_u64(&w));
				json_int(&j, "commit_time", (int64) tl_wire_u64(&w));
				break;
			case 'R':
				{
					TlWireRecord wr;

					tl_wire_get_record(&w, &wr);
					json_field(&j, "kind", "R", 1);
					json_field(&j, "log", wr.log_name, strlen(wr.log_name));
					json_int(&j, "interval_us", wr.interval_us);
					json_field(&j, "key", VARDATA_ANY(wr.rec.key), VARSIZE_ANY_EXHDR(wr.rec.key));
					json_field(&j, "payload", wr.payload_text, wr.payload_len);
					json_int(&j, "ts", wr.rec.ts);
					if (wr.rec.source)
						json_field(&j, "source", VARDATA_ANY(wr.rec.source), VARSIZE_ANY_EXHDR(wr.rec.source));
					json_field(&j, "origin", wr.rec.origin, strlen(wr.rec.origin));
					json_int(&j, "seq", wr.rec.seq);
					break;
				}
			default:
				tl_wire_fail("unknown message kind");
		}
	} while (w.p < w.end);
	json_int(&j, "items", items);
	json_int(&j, "trailing", w.end - w.p);
	appendStringInfoChar(&j, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(j.data)));
}
