/*-------------------------------------------------------------------------
 * read.c
 *		read() and latest(): records of a log in a time range (optionally one key), and the
 *		winning record of a key under the log's rule.
 *
 * Segments are resolved through the catalog under the caller's snapshot and only those whose
 * window overlaps the range are opened, so there is no planner-visible parent over all segments.
 * Each segment's matching rows are sorted by (ts, origin, seq) before they are emitted, and
 * segments are visited in window order, so read() returns the log in ts order.
 *
 * Locking: AccessShareLock on each segment relation read, held to the end of the transaction.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_collation.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "log/conflict.h"
#include "log/read.h"
#include "log/read_cols.h"
#include "core/record.h"
#include "store/archive_store.h"
#include "store/segrows.h"
#include "store/stats.h"
#include "core/tieredlog.h"

/* Columns of the result, 1-based. */
enum
{
	Out_key = 1, Out_payload, Out_ts, Out_source, Out_origin, Out_seq, Out_rid, Out_segment_id,
	Out_tier
};

/* One row of a segment relation, turned into a result tuple. */
static HeapTuple
row_to_result(HeapTuple row, TupleDesc row_desc, const TlSegment *seg, TupleDesc out_desc)
{
	Datum		in[TL_ROW_MAX_NATTS];
	bool		in_null[TL_ROW_MAX_NATTS];
	Datum		out[TL_OUT_NATTS];
	bool		out_null[TL_OUT_NATTS] = {0};

	tl_row_deform(row, row_desc, in, in_null);
	/* detoast: the result outlives the scan */
	out[Out_key - 1] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(in[Anum_row_key - 1]));
	out[Out_payload - 1] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(in[Anum_row_payload - 1]));
	out[Out_ts - 1] = in[Anum_row_ts - 1];
	out[Out_source - 1] = in[Anum_row_source - 1];
	out_null[Out_source - 1] = in_null[Anum_row_source - 1];
	out[Out_origin - 1] = in[Anum_row_origin - 1];
	out[Out_seq - 1] = in[Anum_row_seq - 1];
	out[Out_rid - 1] = CStringGetTextDatum(
		tl_rid_to_hex((const TlRid *) DatumGetUUIDP(in[Anum_row_rid - 1])->data));
	out[Out_segment_id - 1] = Int64GetDatum(seg->segment_id);
	out[Out_tier - 1] = Int32GetDatum(seg->tier);
	return heap_form_tuple(out_desc, out, out_null);
}

/*
 * The origin of the last archive row read and it as text: the rows of a frame share a few
 * origins, so a read makes one text per run of rows of one origin.
 */
typedef struct OriginMemo
{
	char	   *origin;
	Datum		text;
	int			len;
} OriginMemo;

static Datum
origin_text(OriginMemo *m, const char *origin)
{
	if (m->origin == NULL || strcmp(m->origin, origin) != 0)
	{
		/* every caller has copied the previous one into its tuplestore or sort already */
		if (m->origin != NULL)
		{
			pfree(m->origin);
			pfree(DatumGetPointer(m->text));
		}
		m->len = strlen(origin);
		m->origin = pnstrdup(origin, m->len);
		m->text = PointerGetDatum(cstring_to_text_with_len(origin, m->len));
	}
	return m->text;
}

/* About what an archive row takes in a segment relation (the access statistics count that). */
static int64
archive_row_bytes(const TlArchiveRow *r, int origin_len, bool with_payload)
{
	return SizeofHeapTupleHeader + VARSIZE_ANY(r->key) + (with_payload ? VARSIZE(r->payload) + TL_RID_LEN : 0) +
		(r->source ? VARSIZE_ANY(r->source) : 0) + origin_len + 1 + sizeof(TimestampTz) + sizeof(int64);
}

/*
 * A row decoded from an archive frame, straight into the result: values[] and nulls[] for
 * tuplestore_putvalues (one copy, no intermediate tuple). rid_text must hold VARHDRSZ + 32 bytes
 * and outlive the call; origin is the row's origin as text (the caller keeps one per origin).
 */
static void
archive_row_values(const TlArchiveRow *r, const TlRid *rid, const TlSegment *seg, Datum origin,
				   char *rid_text, Datum *out, bool *out_null)
{
	memset(out_null, 0, sizeof(bool) * TL_OUT_NATTS);
	out[Out_key - 1] = PointerGetDatum(r->key);
	out[Out_payload - 1] = JsonbPGetDatum(r->payload);
	out[Out_ts - 1] = TimestampTzGetDatum(r->ts);
	out[Out_source - 1] = PointerGetDatum(r->source);
	out_null[Out_source - 1] = r->source == NULL;
	out[Out_origin - 1] = origin;
	out[Out_seq - 1] = Int64GetDatum(r->seq);
	SET_VARSIZE(rid_text, VARHDRSZ + TL_RID_LEN * 2);
	hex_encode((const char *) rid->bytes, TL_RID_LEN, rid_text + VARHDRSZ);
	out[Out_rid - 1] = PointerGetDatum(rid_text);
	out[Out_segment_id - 1] = Int64GetDatum(seg->segment_id);
	out[Out_tier - 1] = Int32GetDatum(seg->tier);
}

/* ---- read() ------------------------------------------------------------------------------ */

typedef struct ReadSortState
{
	Tuplesortstate *sort;
	TupleTableSlot *slot;
	TupleTableSlot *vslot;		/* rows from archive frames */
	const TlSegment *seg;
	TupleDesc	out_desc;
	int64		bytes;			/* of the rows returned, for the access statistics */
	OriginMemo	origin;
} ReadSortState;


static void
visit_into_sort(HeapTuple row, TupleDesc desc, void *arg)
{
	ReadSortState  *st = arg;
	HeapTuple	out = row_to_result(row, desc, st->seg, st->out_desc);

	st->bytes += row->t_len;
	ExecStoreHeapTuple(out, st->slot, true);
	tuplesort_puttupleslot(st->sort, st->slot);
}

typedef struct DirectState
{
	ReturnSetInfo *rsinfo;
	const TlSegment *seg;
	int64		bytes;
	OriginMemo	origin;
} DirectState;

static void
visit_into_result(HeapTuple row, TupleDesc desc, void *arg)
{
	DirectState *st = arg;
	HeapTuple	out = row_to_result(row, desc, st->seg, st->rsinfo->setDesc);

	st->bytes += row->t_len;
	tuplestore_puttuple(st->rsinfo->setResult, out);
	heap_freetuple(out);
}

static void
visit_archive_into_result(const TlArchiveRow *row, const TlRid *rid, void *arg)
{
	DirectState *st = arg;
	TupleDesc	desc = st->rsinfo->setDesc;
	Datum		out[TL_OUT_NATTS];
	bool		out_null[TL_OUT_NATTS];
	union
	{
		char		data[VARHDRSZ + TL_RID_LEN * 2];
		int32		align;
	}			rid_text;

	archive_row_values(row, rid, st->seg, origin_text(&st->origin, row->origin), rid_text.data, out,
					   out_null);
	st->bytes += archive_row_bytes(row, st->origin.len, true);
	tuplestore_putvalues(st->rsinfo->setResult, desc, out, out_null);
}

/* A row decoded from an archive frame, into the sort (one copy, as a minimal tuple). */
static void
visit_archive_into_sort(const TlArchiveRow *row, const TlRid *rid, void *arg)
{
	ReadSortState *st = arg;
	TupleTableSlot *slot = st->vslot;
	union
	{
		char		data[VARHDRSZ + TL_RID_LEN * 2];
		int32		align;
	}			rid_text;

	ExecClearTuple(slot);
	archive_row_values(row, rid, st->seg, origin_text(&st->origin, row->origin), rid_text.data,
					   slot->tts_values, slot->tts_isnull);
	st->bytes += archive_row_bytes(row, st->origin.len, true);
	ExecStoreVirtualTuple(slot);
	tuplesort_puttupleslot(st->sort, slot);
}

/* ---- tier 2 rows without payload and rid ------------------------------------------------- */

#define OUT_COL(c)	((uint32) 1 << ((c) - 1))

/*
 * A read of a tier 2 segment whose query uses neither the payload nor the rid (a count(*), a
 * query of keys and timestamps; read_cols.c tells): rows come from the frames without payloads
 * (none is rebuilt) and the rid, which is hashed over the payload's text, is not computed. The
 * columns the query does not use are returned NULL; the others as a full read returns them.
 */
typedef struct SlimState
{
	ReturnSetInfo *rsinfo;
	const TlSegment *seg;
	uint32		cols;
	TimestampTz from_ts;
	TimestampTz to_ts;
	text	   *key;
	Tuplesortstate *sort;		/* NULL: straight into the result */
	TupleTableSlot *vslot;
	int64		bytes;
	OriginMemo	origin;
} SlimState;

static void
visit_frame_slim(const TlArchiveRow *rows, int n, void *arg)
{
	SlimState  *st = arg;
	TupleDesc	desc = st->rsinfo->setDesc;

	for (int i = 0; i < n; i++)
	{
		const TlArchiveRow *r = &rows[i];
		Datum		local_values[TL_OUT_NATTS];
		bool		local_nulls[TL_OUT_NATTS];
		Datum	   *out = local_values;
		bool	   *out_null = local_nulls;

		/* (the scan hands out only wanted rows; checked again as tl_segment_rows does) */
		if (r->ts < st->from_ts || r->ts >= st->to_ts)
			continue;
		if (st->key && (VARSIZE_ANY_EXHDR(r->key) != VARSIZE_ANY_EXHDR(st->key) ||
						memcmp(VARDATA_ANY(r->key), VARDATA_ANY(st->key), VARSIZE_ANY_EXHDR(st->key)) != 0))
			continue;
		if (st->sort)
		{
			ExecClearTuple(st->vslot);
			out = st->vslot->tts_values;
			out_null = st->vslot->tts_isnull;
		}
		memset(out_null, true, sizeof(bool) * TL_OUT_NATTS);
		if (st->cols & OUT_COL(Out_key))
		{
			out[Out_key - 1] = PointerGetDatum(r->key);
			out_null[Out_key - 1] = false;
		}
		out[Out_ts - 1] = TimestampTzGetDatum(r->ts);
		out_null[Out_ts - 1] = false;
		if ((st->cols & OUT_COL(Out_source)) && r->source)
		{
			out[Out_source - 1] = PointerGetDatum(r->source);
			out_null[Out_source - 1] = false;
		}
		/* the sort needs origin and seq */
		out[Out_origin - 1] = origin_text(&st->origin, r->origin);
		out_null[Out_origin - 1] = false;
		out[Out_seq - 1] = Int64GetDatum(r->seq);
		out_null[Out_seq - 1] = false;
		out[Out_segment_id - 1] = Int64GetDatum(st->seg->segment_id);
		out_null[Out_segment_id - 1] = false;
		out[Out_tier - 1] = Int32GetDatum(st->seg->tier);
		out_null[Out_tier - 1] = false;
		/* what the returned values take (payloads and rids are not read) */
		st->bytes += archive_row_bytes(r, st->origin.len, false);
		if (st->sort)
		{
			ExecStoreVirtualTuple(st->vslot);
			tuplesort_puttupleslot(st->sort, st->vslot);
		}
		else
			tuplestore_putvalues(st->rsinfo->setResult, desc, out, out_null);
	}
}

static void
read_archive_slim(ReturnSetInfo *rsinfo, const TlLog *log, const TlSegment *seg, TimestampTz from_ts,
				  TimestampTz to_ts, text *key, uint32 cols)
{
	SlimState	st;

	memset(&st, 0, sizeof(st));
	st.rsinfo = rsinfo;
	st.seg = seg;
	st.cols = cols;
	st.from_ts = from_ts;
	st.to_ts = to_ts;
	st.key = key;
	/* in record order as they come, or sorted (also after a merge given up for memory) */
	if (!tl_archive_scan_in_record_order(log->log_id, seg->segment_id, seg->archive_attempt, from_ts,
										 to_ts, key) ||
		!tl_archive_scan_cols(log->log_id, seg->segment_id, seg->archive_attempt, from_ts, to_ts, key,
							  true, true, NULL, visit_frame_slim, &st))
	{
		st.sort = tl_sort_in_record_order(rsinfo->setDesc, Out_ts, Out_origin, Out_seq, work_mem);
		st.vslot = MakeSingleTupleTableSlot(rsinfo->setDesc, &TTSOpsVirtual);
		(void) tl_archive_scan_cols(log->log_id, seg->segment_id, seg->archive_attempt, from_ts, to_ts,
									key, true, false, NULL, visit_frame_slim, &st);
	}
	tl_stats_count_read(seg->segment_id, st.bytes);
	if (st.sort)
	{
		TupleTableSlot *slot = MakeSingleTupleTableSlot(rsinfo->setDesc, &TTSOpsMinimalTuple);

		ExecDropSingleTupleTableSlot(st.vslot);
		tuplesort_performsort(st.sort);
		while (tuplesort_gettupleslot(st.sort, true, false, slot, NULL))
			tuplestore_puttupleslot(rsinfo->setResult, slot);
		tuplesort_end(st.sort);
		ExecDropSingleTupleTableSlot(slot);
	}
}

static void
read_segment(ReturnSetInfo *rsinfo, const TlLog *log, const TlSegment *seg, TimestampTz from_ts,
			 TimestampTz to_ts, text *key, uint32 cols)
{
	ReadSortState st;

	/* a segment all in its archive, read without payloads and rids when the query uses neither */
	if (seg->archive_attempt != 0 && !OidIsValid(seg->relid) && !seg->relation_missing &&
		(cols & (OUT_COL(Out_payload) | OUT_COL(Out_rid))) == 0)
	{
		read_archive_slim(rsinfo, log, seg, from_ts, to_ts, key, cols);
		return;
	}

	/*
	 * Frames hold their rows in (ts, origin, seq) order. When the frames follow each other in that
	 * order (archives written before frames were clustered by key, or of one frame), or the scan
	 * merges them into it (frames clustered by key, no key asked for), the rows need no sort. A
	 * merge given up for memory has delivered nothing: the rows are then sorted, as below.
	 */
	if (seg->archive_attempt != 0 && !OidIsValid(seg->relid) &&
		tl_archive_scan_in_record_order(log->log_id, seg->segment_id, seg->archive_attempt, from_ts,
										to_ts, key))
	{
		DirectState direct = {rsinfo, seg, 0, {NULL, (Datum) 0, 0}};

		if (tl_segment_rows_ex(log, seg, GetActiveSnapshot(), from_ts, to_ts, key, true,
							   visit_into_result, visit_archive_into_result, &direct))
		{
			tl_stats_count_read(seg->segment_id, direct.bytes);
			return;
		}
	}

	st.out_desc = rsinfo->setDesc;
	st.seg = seg;
	st.bytes = 0;
	st.sort = tl_sort_in_record_order(rsinfo->setDesc, Out_ts, Out_origin, Out_seq, work_mem);
	st.slot = MakeSingleTupleTableSlot(rsinfo->setDesc, &TTSOpsHeapTuple);
	st.vslot = MakeSingleTupleTableSlot(rsinfo->setDesc, &TTSOpsVirtual);
	memset(&st.origin, 0, sizeof(st.origin));
	(void) tl_segment_rows_ex(log, seg, GetActiveSnapshot(), from_ts, to_ts, key, false,
							  visit_into_sort, visit_archive_into_sort, &st);
	ExecDropSingleTupleTableSlot(st.slot);
	ExecDropSingleTupleTableSlot(st.vslot);
	tl_stats_count_read(seg->segment_id, st.bytes);

	/* tuplesort hands back minimal tuples */
	st.slot = MakeSingleTupleTableSlot(rsinfo->setDesc, &TTSOpsMinimalTuple);
	tuplesort_performsort(st.sort);
	while (tuplesort_gettupleslot(st.sort, true, false, st.slot, NULL))
		tuplestore_puttupleslot(rsinfo->setResult, st.slot);
	tuplesort_end(st.sort);
	ExecDropSingleTupleTableSlot(st.slot);
}

void
tl_read_into(FunctionCallInfo fcinfo, const TlLog *log, TimestampTz from_ts, TimestampTz to_ts,
			 text *key)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *segs;
	ListCell   *lc;
	uint32		cols;

	InitMaterializedSRF(fcinfo, 0);
	cols = tl_read_needed_columns(fcinfo, TL_OUT_NATTS);
	if (from_ts >= to_ts)
		return;
	segs = tl_catalog_log_segments(log->log_id, from_ts, to_ts, GetActiveSnapshot());
	foreach(lc, segs)
	{
		CHECK_FOR_INTERRUPTS();
		read_segment(rsinfo, log, (TlSegment *) lfirst(lc), from_ts, to_ts, key, cols);
	}
}

/* ---- latest() ---------------------------------------------------------------------------- */

/* The winning record of the key (conflict.c decides among concurrent records). */
void
tl_latest_into(FunctionCallInfo fcinfo, const TlLog *log, text *key)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlSide	   *best;

	InitMaterializedSRF(fcinfo, 0);
	best = tl_conflict_latest(log, key);
	if (best == NULL)
		return;
	tl_stats_count_read(best->seg->segment_id, best->row->t_len);
	tuplestore_puttuple(rsinfo->setResult, row_to_result(best->row, best->desc, best->seg, rsinfo->setDesc));
}
