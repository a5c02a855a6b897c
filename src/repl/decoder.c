/*-------------------------------------------------------------------------
 * decoder.c
 *		tieredlog's logical decoding output plugin: the records this node originated, and nothing
 *		else, in a compact versioned binary format (apply.c reads it on the peers).
 *
 * Records are the inserts into segment relations (tieredlog_data.seg_<segment>[_<attempt>]). The
 * segment's log comes from tieredlog.segment and tieredlog.log, which are user catalog tables so
 * that they can be read here under the historic snapshot. Inserts made by a move (a copy of
 * records already decoded when they were appended) are skipped: a move first writes a
 * transactional logical message with prefix "tieredlog.move", and the rest of that transaction's
 * segment inserts are ignored if they go into a relation that is not the segment's current one in
 * tieredlog.segment (so a forged message cannot hide appends). Changes that arrived from a peer
 * (a replication origin is set) are filtered out, so a full mesh never loops.
 *
 * Wire format, protocol version 1 (all integers big-endian; str = u32 length + bytes):
 *   'B' begin:   u64 final_lsn, i64 commit_time (µs since 2000-01-01), u32 xid
 *   'R' record:  str log_name, i64 segment_interval_us, str key, str payload (jsonb text form,
 *                exactly what the rid was computed over),
 *                i64 ts, u8 has_source [str source], str origin, i64 seq, 16 bytes rid
 *   'C' commit:  u64 commit_lsn, u64 end_lsn, i64 commit_time
 * Version 2 differs in the payload: u32 (length | 0x80000000) and jsonb's binary container
 * (the stored datum without its varlena header), so that neither side prints or parses it; the
 * receiver checks the container and prints it for the rid (wire.c). And in the framing: items are
 * gathered and one message carries a whole transaction ('B', its records, 'C'), or
 * TL_BATCH_BYTES of it, so a one-record transaction costs the walsender one write, not three.
 * Version 1 sends one item per message.
 * Options: proto_version ('1' or '2', required), format ('binary' default, or 'text': one
 * readable line per record without LSNs, xids or times, for pg_regress).
 *
 * Locking: none; runs in a walsender (or a SQL decoding function) with a historic snapshot.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "access/xlog.h"
#include "replication/logical.h"
#include "replication/message.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "log/tier.h"
#include "repl/decoder.h"
#include "core/record.h"
#include "store/segrows.h"
#include "core/tieredlog.h"
#include "repl/wire.h"

PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

typedef struct SegmentLog
{
	int64		segment_id;
	char		log_name[NAMEDATALEN];
	int64		interval_us;
} SegmentLog;

typedef struct DecoderState
{
	MemoryContext cxt;			/* reset after every change */
	bool		text_format;
	bool		binary_payload; /* protocol version 2: payloads as jsonb's binary container */
	bool		in_move;		/* this transaction is a move: skip its segment inserts */
	bool		began;			/* 'B' sent for this transaction */
	StringInfoData pending;		/* version 2: items gathered for the next message */
	HTAB	   *segment_logs;
	Oid			data_nsp;
} DecoderState;

/* ---- callbacks ------------------------------------------------------------------------------ */

static void
decoder_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	DecoderState *st = palloc0(sizeof(DecoderState));
	ListCell   *lc;
	bool		have_version = is_init;
	HASHCTL		ctl;

	st->cxt = AllocSetContextCreate(ctx->context, "tieredlog decoder", ALLOCSET_DEFAULT_SIZES);
	{
		MemoryContext old = MemoryContextSwitchTo(ctx->context);

		initStringInfo(&st->pending);
		MemoryContextSwitchTo(old);
	}
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(SegmentLog);
	ctl.hcxt = ctx->context;
	st->segment_logs = hash_create("tieredlog decoder segments", 256, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	foreach(lc, ctx->output_plugin_options)
	{
		DefElem    *e = lfirst(lc);
		char	   *v = e->arg ? strVal(e->arg) : NULL;

		if (strcmp(e->defname, "proto_version") == 0)
		{
			if (v == NULL || (strcmp(v, "1") != 0 && strcmp(v, "2") != 0))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("tieredlog output plugin: protocol version \"%s\" is not supported",
								v ? v : ""),
						 errdetail("This node speaks versions 1 to %d.", TL_PROTO_VERSION)));
			st->binary_payload = strcmp(v, "2") == 0;
			have_version = true;
		}
		else if (strcmp(e->defname, "format") == 0)
		{
			if (v != NULL && strcmp(v, "text") == 0)
				st->text_format = true;
			else if (v == NULL || strcmp(v, "binary") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("tieredlog output plugin: unknown format \"%s\"", v ? v : ""),
						 errhint("Use 'binary' or 'text'.")));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tieredlog output plugin: unknown option \"%s\"", e->defname)));
	}
	if (!have_version && !st->text_format)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tieredlog output plugin: option \"proto_version\" is required")));
	opt->output_type = st->text_format ? OUTPUT_PLUGIN_TEXTUAL_OUTPUT : OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;
	ctx->output_plugin_private = st;
}

static void
decoder_shutdown(LogicalDecodingContext *ctx)
{
}

static bool
decoder_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	/* only what this node originated; records applied from peers carry their origin */
	return origin_id != InvalidRepOriginId;
}

static void
decoder_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DecoderState *st = ctx->output_plugin_private;

	st->in_move = false;
	st->began = false;
}

#define TL_BATCH_BYTES	(64 * 1024)

/* Where the next item goes: the message being written, or (version 2) the gathered items. */
static StringInfo
item_buffer(LogicalDecodingContext *ctx, bool last_write)
{
	DecoderState *st = ctx->output_plugin_private;

	if (st->binary_payload && !st->text_format)
		return &st->pending;
	OutputPluginPrepareWrite(ctx, last_write);
	return ctx->out;
}

/*
 * The item is complete: version 1 and text write it now; version 2 writes the gathered items as
 * one message at the end of the transaction (last) or when they reach TL_BATCH_BYTES.
 */
static void
item_done(LogicalDecodingContext *ctx, bool last_write, bool txn_end)
{
	DecoderState *st = ctx->output_plugin_private;

	if (!st->binary_payload || st->text_format)
	{
		OutputPluginWrite(ctx, last_write);
		return;
	}
	if (!txn_end && st->pending.len < TL_BATCH_BYTES)
		return;
	OutputPluginPrepareWrite(ctx, txn_end);
	appendBinaryStringInfo(ctx->out, st->pending.data, st->pending.len);
	OutputPluginWrite(ctx, txn_end);
	resetStringInfo(&st->pending);
}

/* 'B' is sent lazily, before the transaction's first record: most transactions have none. */
static void
send_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DecoderState *st = ctx->output_plugin_private;
	StringInfo	out = item_buffer(ctx, false);

	if (st->text_format)
		appendStringInfoString(out, "BEGIN");
	else
	{
		tl_wire_put_u8(out, 'B');
		tl_wire_put_u64(out, txn->final_lsn);
		tl_wire_put_u64(out, (uint64) txn->xact_time.commit_time);
		tl_wire_put_u32(out, txn->xid);
	}
	item_done(ctx, false, false);
	st->began = true;
}

static void
decoder_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	DecoderState *st = ctx->output_plugin_private;

	if (!st->began)
	{
		OutputPluginUpdateProgress(ctx, true);
		return;
	}
	OutputPluginUpdateProgress(ctx, false);
	{
		StringInfo	out = item_buffer(ctx, true);

		if (st->text_format)
			appendStringInfoString(out, "COMMIT");
		else
		{
			tl_wire_put_u8(out, 'C');
			tl_wire_put_u64(out, commit_lsn);
			tl_wire_put_u64(out, txn->end_lsn);
			tl_wire_put_u64(out, (uint64) txn->xact_time.commit_time);
		}
	}
	item_done(ctx, true, true);
}

static void
decoder_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr lsn,
				bool transactional, const char *prefix, Size sz, const char *message)
{
	DecoderState *st = ctx->output_plugin_private;

	if (transactional && strcmp(prefix, TL_MOVE_MESSAGE_PREFIX) == 0)
		st->in_move = true;
}

/* Which segment a relation of tieredlog_data holds, from its name; -1 if it is no segment. */
static int64
segment_of_relation(DecoderState *st, Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	char	   *end;
	int64		id;

	if (!OidIsValid(st->data_nsp))
		st->data_nsp = get_namespace_oid(TL_DATA_SCHEMA, true);
	if (RelationGetNamespace(rel) != st->data_nsp || strncmp(name, "seg_", 4) != 0)
		return -1;
	errno = 0;
	id = strtoi64(name + 4, &end, 10);
	if (errno != 0 || end == name + 4 || (*end != '\0' && *end != '_'))
		return -1;
	return id;
}

/* Fetch one row of a user catalog table by its integer primary key (historic snapshot). */
static HeapTuple
fetch_by_key(const char *table, const char *index, AttrNumber keycol, Oid keytype, Datum key,
			 Relation *rel_out)
{
	Oid			nsp = get_namespace_oid(TL_SCHEMA, false);
	Relation	rel = table_open(get_relname_relid(table, nsp), AccessShareLock);
	ScanKeyData sk;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&sk, keycol, BTEqualStrategyNumber,
				keytype == INT8OID ? F_INT8EQ : F_INT4EQ, key);
	scan = systable_beginscan(rel, get_relname_relid(index, nsp), true, NULL, 1, &sk);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		tup = heap_copytuple(tup);
	systable_endscan(scan);
	*rel_out = rel;
	return tup;
}

static SegmentLog *
log_of_segment(DecoderState *st, int64 segment_id)
{
	bool		found;
	SegmentLog *sl = hash_search(st->segment_logs, &segment_id, HASH_ENTER, &found);
	Relation	rel;
	HeapTuple	tup;
	bool		isnull;
	int32		log_id;
	Interval   *iv;

	if (found)
		return sl;
	tup = fetch_by_key("segment", "segment_pkey", 1, INT8OID, Int64GetDatum(segment_id), &rel);
	if (!HeapTupleIsValid(tup))
	{
		hash_search(st->segment_logs, &segment_id, HASH_REMOVE, NULL);
		elog(ERROR, "tieredlog output plugin: segment %lld is not in tieredlog.segment",
			 (long long) segment_id);
	}
	log_id = DatumGetInt32(heap_getattr(tup, 2, RelationGetDescr(rel), &isnull));
	table_close(rel, AccessShareLock);
	tup = fetch_by_key("log", "log_pkey", 1, INT4OID, Int32GetDatum(log_id), &rel);
	if (!HeapTupleIsValid(tup))
	{
		hash_search(st->segment_logs, &segment_id, HASH_REMOVE, NULL);
		elog(ERROR, "tieredlog output plugin: log %d is not in tieredlog.log", log_id);
	}
	strlcpy(sl->log_name, TextDatumGetCString(heap_getattr(tup, 2, RelationGetDescr(rel), &isnull)),
			sizeof(sl->log_name));
	iv = DatumGetIntervalP(heap_getattr(tup, 3, RelationGetDescr(rel), &isnull));
	sl->interval_us = iv->time + (int64) iv->day * USECS_PER_DAY;
	table_close(rel, AccessShareLock);
	return sl;
}

/*
 * Whether an insert into `rel` after a move message is a move's copy: it goes into a relation
 * that is not (yet) the segment's relation in tieredlog.segment (a move flips relname only after
 * its copy, in the same transaction). The message alone is not trusted: anyone who can write a
 * transaction can emit one, and appends go into the segment's current relation, so they are
 * streamed whatever messages their transaction carries.
 */
static bool
is_move_copy(int64 segment_id, Relation rel)
{
	Relation	segrel;
	HeapTuple	tup = fetch_by_key("segment", "segment_pkey", 1, INT8OID, Int64GetDatum(segment_id), &segrel);
	bool		isnull = true;
	Datum		relname = (Datum) 0;
	bool		copy;

	if (HeapTupleIsValid(tup))
		relname = heap_getattr(tup, 7, RelationGetDescr(segrel), &isnull);
	copy = isnull || strcmp(NameStr(*DatumGetName(relname)), RelationGetRelationName(rel)) != 0;
	table_close(segrel, AccessShareLock);
	return copy;
}

static void
write_record_text(StringInfo out, const SegmentLog *sl, Datum *v, bool *n)
{
	appendStringInfo(out, "record log=%s key=%s origin=%s seq=" INT64_FORMAT " ts=%s source=%s payload=%s",
					 sl->log_name, TextDatumGetCString(v[Anum_row_key - 1]),
					 TextDatumGetCString(v[Anum_row_origin - 1]), DatumGetInt64(v[Anum_row_seq - 1]),
					 timestamptz_to_str(DatumGetTimestampTz(v[Anum_row_ts - 1])),
					 n[Anum_row_source - 1] ? "(null)" : TextDatumGetCString(v[Anum_row_source - 1]),
					 JsonbToCString(NULL, &DatumGetJsonbP(v[Anum_row_payload - 1])->root, 0));
}

static void
write_record_binary(StringInfo out, const SegmentLog *sl, Datum *v, bool *n, bool binary_payload)
{
	TlRecord	rec;

	memset(&rec, 0, sizeof(rec));
	rec.key = DatumGetTextPP(v[Anum_row_key - 1]);
	rec.payload = DatumGetJsonbP(v[Anum_row_payload - 1]);
	rec.ts = DatumGetTimestampTz(v[Anum_row_ts - 1]);
	rec.source = n[Anum_row_source - 1] ? NULL : DatumGetTextPP(v[Anum_row_source - 1]);
	rec.origin = TextDatumGetCString(v[Anum_row_origin - 1]);
	rec.seq = DatumGetInt64(v[Anum_row_seq - 1]);
	memcpy(rec.rid.bytes, DatumGetUUIDP(v[Anum_row_rid - 1])->data, TL_RID_LEN);
	tl_wire_put_u8(out, 'R');
	tl_wire_put_record(out, sl->log_name, sl->interval_us, &rec, NULL, binary_payload);
}

static void
decoder_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
			   ReorderBufferChange *change)
{
	DecoderState *st = ctx->output_plugin_private;
	MemoryContext old;
	int64		segment_id;
	HeapTuple	tup;
	Datum		v[TL_ROW_MAX_NATTS];
	bool		n[TL_ROW_MAX_NATTS];
	SegmentLog *sl;

	if (change->action != REORDER_BUFFER_CHANGE_INSERT ||
		change->data.tp.newtuple == NULL ||
		(segment_id = segment_of_relation(st, rel)) < 0 ||
		!tl_row_shape_ok(RelationGetDescr(rel)))
	{
		OutputPluginUpdateProgress(ctx, true);
		return;
	}
	old = MemoryContextSwitchTo(st->cxt);
	if (st->in_move && is_move_copy(segment_id, rel))
	{
		MemoryContextSwitchTo(old);
		MemoryContextReset(st->cxt);
		OutputPluginUpdateProgress(ctx, true);
		return;
	}
	sl = log_of_segment(st, segment_id);
	tup = &change->data.tp.newtuple->tuple;
	tl_row_deform(tup, RelationGetDescr(rel), v, n);
	for (int i = 0; i < Natts_row; i++)
		if (!n[i] && TupleDescAttr(RelationGetDescr(rel), i)->attlen == -1)
			v[i] = PointerGetDatum(PG_DETOAST_DATUM(v[i]));
	if (!st->began)
		send_begin(ctx, txn);
	{
		StringInfo	out = item_buffer(ctx, true);

		if (st->text_format)
			write_record_text(out, sl, v, n);
		else
			write_record_binary(out, sl, v, n, st->binary_payload);
	}
	item_done(ctx, true, false);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->cxt);
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = decoder_startup;
	cb->begin_cb = decoder_begin;
	cb->change_cb = decoder_change;
	cb->commit_cb = decoder_commit;
	cb->message_cb = decoder_message;
	cb->filter_by_origin_cb = decoder_filter_by_origin;
	cb->shutdown_cb = decoder_shutdown;
}
