/*-------------------------------------------------------------------------
 * reconcile_local.c
 *		This node's side of reconciliation: a segment's digest, short ids and tables computed
 *		from its rows, record batches built from the rows and stored from a peer, and the SQL
 *		functions a coordinating peer calls (_ae_roots, _ae_leaves, _ae_iblt, _ae_ids, _ae_fetch,
 *		_ae_store). reconcile.c, the coordinator, uses the same helpers for its own side.
 *
 * Records travel as archive frames (archive.c), each followed by its records' rids; a received
 * record is re-hashed and checked against its rid, stored through remote.c under the replication
 * origin DoNotReplicateId (repairs are not streamed on), and a segment whose rows changed behind
 * tieredlog's back gets its stored digest corrected (digest_store.c).
 *
 * What a peer sends is bounded before it is used: a batch's interval (the create_log rule), its
 * frames (archive.c), table sizes (IBLT_MAX_CELLS over all leaves of one call), leaves (0 to 255).
 *
 * Locking: none of its own; reads under the statement's snapshot, stores through append.c.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <xxhash.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "nodes/value.h"

#include "common/int.h"

#include "store/archive.h"
#include "store/catalog.h"
#include "store/digest.h"
#include "repl/peer.h"
#include "core/iblt.h"
#include "log/ledger.h"
#include "log/quarantine.h"
#include "repl/reconcile.h"
#include "repl/reconcile_local.h"
#include "repl/remote.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "core/tieredlog.h"
#include "core/validate.h"
#include "repl/wire.h"

static bytea *stringinfo_to_bytea(StringInfo s);

/* ---- a segment's digest and rows, here ------------------------------------------------------------ */

static bool
find_log(const char *log_name, TlLog *log)
{
	return tl_catalog_find_log(log_name, log);
}

/*
 * Digest of a segment computed from its rows, so that rows changed behind tieredlog's back show
 * up. A segment held only in frames uses its stored digest: frames are immutable and checksummed
 * (a damaged frame is an error when read), and decoding them all would cost what the protocol
 * saves; only the frames of mismatched leaves are decoded later.
 */
void
tl_rl_fresh_digest(const TlLog *log, const TlSegment *seg, TlSegmentDigest *d)
{
	if (seg->archive_attempt != 0 && !OidIsValid(seg->relid))
		tl_digest_load(seg->segment_id, d);
	else
		tl_digest_recompute(log, seg, GetActiveSnapshot(), d);
}

/* The time range covering the marked leaves (so that only the frames they need are decoded). */
static void
leaves_range(const TlLog *log, const TlSegment *seg, const bool *leaves, TimestampTz *from, TimestampTz *to)
{
	int			first = -1;
	int			last = -1;

	for (int i = 0; i < TL_LEAVES; i++)
		if (leaves[i])
		{
			if (first < 0)
				first = i;
			last = i;
		}
	if (first < 0)
	{
		*from = *to = seg->range_start;
		return;
	}
	/* leaf 0 and the last leaf also hold clamped timestamps (see tl_leaf_of) */
	*from = first == 0 ? DT_NOBEGIN : seg->range_start + (first * log->interval_us) / TL_LEAVES;
	*to = last == TL_LEAVES - 1 ? DT_NOEND
		: seg->range_start + ((last + 1) * log->interval_us + TL_LEAVES - 1) / TL_LEAVES;
}

static uint64
short_id(const TlRid *rid, uint64 salt)
{
	return XXH3_64bits_withSeed(rid->bytes, TL_RID_LEN, salt);
}

int
tl_rl_cmp_u64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}


/* A record to ship: its archive-row form (first, for tl_archive_row_cmp) and its rid. */
typedef struct BatchRow
{
	TlArchiveRow row;
	TlRid		rid;
} BatchRow;

static void
batch_add(IdCollect *c, const TlRecord *rec)
{
	BatchRow   *b;

	if (c->nbatch == c->batch_cap)
	{
		c->batch_cap = Max(256, c->batch_cap * 2);
		c->batch = c->batch ? repalloc_huge(c->batch, sizeof(BatchRow) * c->batch_cap)
			: MemoryContextAllocHuge(CurrentMemoryContext, sizeof(BatchRow) * c->batch_cap);
	}
	b = &c->batch[c->nbatch++];
	memset(b, 0, sizeof(*b));
	b->row.ts = rec->ts;
	b->row.key = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(rec->key));
	b->row.payload = (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(rec->payload));
	b->row.source = rec->source ? (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(rec->source)) : NULL;
	b->row.origin = pstrdup(rec->origin);
	b->row.seq = rec->seq;
	b->rid = rec->rid;
}

static void
visit_collect(HeapTuple row, TupleDesc desc, void *arg)
{
	IdCollect  *c = arg;
	bool		isnull;
	TimestampTz ts = DatumGetTimestampTz(heap_getattr(row, Anum_row_ts, desc, &isnull));
	int			leaf = tl_leaf_of(ts, c->seg->range_start, c->log->interval_us);
	TlRid		rid;
	uint64		id;

	if (!c->leaves[leaf])
		return;
	memcpy(rid.bytes, DatumGetUUIDP(heap_getattr(row, Anum_row_rid, desc, &isnull))->data, TL_RID_LEN);
	id = short_id(&rid, c->salt);
	if (c->want != NULL)
	{
		TlRecord	rec;

		if (bsearch(&id, c->want, c->nwant, sizeof(uint64), tl_rl_cmp_u64) == NULL)
			return;
		tl_record_from_row(row, desc, NULL, &rec);
		rec.log_name = c->log->name;
		{
			/* a copy whose content no longer matches its rid is damaged: never ship it */
			TlRecord	check = rec;

			tl_record_compute_rid(&check);
			if (memcmp(check.rid.bytes, rec.rid.bytes, TL_RID_LEN) != 0)
			{
				ereport(WARNING,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("record %s:%lld of log \"%s\" here does not match its rid; not sent",
								rec.origin, (long long) rec.seq, c->log->name),
						 errhint("Its origin's copy replaces it when reconciled with the origin.")));
				c->damaged++;
				return;
			}
		}
		batch_add(c, &rec);
		c->encoded++;
		return;
	}
	if (c->n == c->cap)
	{
		if (pg_mul_s32_overflow(Max(512, c->cap), 2, &c->cap))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many records in the leaves of segment %lld", (long long) c->seg->segment_id)));
		c->ids = c->ids ? repalloc_huge(c->ids, sizeof(uint64) * c->cap)
			: MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint64) * c->cap);
		c->id_leaf = c->id_leaf ? repalloc_huge(c->id_leaf, c->cap)
			: MemoryContextAllocHuge(CurrentMemoryContext, c->cap);
	}
	c->id_leaf[c->n] = (uint8) leaf;
	c->ids[c->n++] = id;
}

/*
 * The short ids of the segment's records in the marked leaves: sorted when `sorted`, else in scan
 * order with each id's leaf in id_leaf.
 */
static void
collect_ids_ex(const TlLog *log, const TlSegment *seg, const bool *leaves, uint64 salt, IdCollect *c,
			   bool sorted)
{
	TimestampTz from;
	TimestampTz to;

	memset(c, 0, sizeof(*c));
	c->log = log;
	c->seg = seg;
	c->salt = salt;
	memcpy(c->leaves, leaves, sizeof(c->leaves));
	leaves_range(log, seg, leaves, &from, &to);
	if (from < to)
		tl_segment_rows(log, seg, GetActiveSnapshot(), from, to, NULL, visit_collect, c);
	if (sorted && c->n > 1)
		qsort(c->ids, c->n, sizeof(uint64), tl_rl_cmp_u64);
}

void
tl_rl_collect_ids(const TlLog *log, const TlSegment *seg, const bool *leaves, uint64 salt, IdCollect *c)
{
	collect_ids_ex(log, seg, leaves, salt, c, true);
}

/* One table per marked leaf (in leaf order), of cells[leaf] cells, over the leaf's ids. */
IbltCell **
tl_rl_iblt_build(const TlLog *log, const TlSegment *seg, const bool *leaves, const int *cells, uint64 salt,
		   bool have_segment)
{
	IbltCell  **tables = palloc0(sizeof(IbltCell *) * TL_LEAVES);
	IdCollect	c;

	for (int i = 0; i < TL_LEAVES; i++)
		if (leaves[i])
			tables[i] = palloc0(sizeof(IbltCell) * cells[i]);
	if (!have_segment)
		return tables;
	collect_ids_ex(log, seg, leaves, salt, &c, false);
	for (int i = 0; i < c.n; i++)
		tl_iblt_add(tables[c.id_leaf[i]], cells[c.id_leaf[i]], c.ids[i], 1);
	return tables;
}

static void
cells_from_arrays(ArrayType *leaves_arr, ArrayType *cells_arr, bool *leaves, int *cells)
{
	Datum	   *l;
	Datum	   *c;
	bool	   *ln;
	bool	   *cn;
	int			nl;
	int			nc;
	int			total = 0;

	memset(leaves, 0, sizeof(bool) * TL_LEAVES);
	memset(cells, 0, sizeof(int) * TL_LEAVES);
	deconstruct_array(leaves_arr, INT4OID, 4, true, TYPALIGN_INT, &l, &ln, &nl);
	deconstruct_array(cells_arr, INT4OID, 4, true, TYPALIGN_INT, &c, &cn, &nc);
	if (nl != nc)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("leaves and cells must have the same length")));
	for (int i = 0; i < nl; i++)
	{
		int			leaf = ln[i] ? -1 : DatumGetInt32(l[i]);
		int			m = cn[i] ? -1 : DatumGetInt32(c[i]);

		if (leaf < 0 || leaf >= TL_LEAVES || m < IBLT_HASHES || m % IBLT_HASHES != 0 || m > IBLT_MAX_CELLS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid leaf %d or table size %d", leaf, m),
					 errdetail("A leaf is 0 to %d; a table has a multiple of %d cells, at most %d.",
							   TL_LEAVES - 1, IBLT_HASHES, IBLT_MAX_CELLS)));
		/* the tables are allocated for all leaves at once: bound the sum */
		if (pg_add_s32_overflow(total, m, &total) || total > IBLT_MAX_CELLS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("tables of more than %d cells in all were asked for", IBLT_MAX_CELLS)));
		leaves[leaf] = true;
		cells[leaf] = m;
	}
}

/* _ae_iblt: the peer's tables for the given leaves and sizes */
bytea *
tl_ae_iblt(const char *log_name, TimestampTz range_start, ArrayType *leaves_arr, ArrayType *cells_arr,
		   int64 salt)
{
	bool		leaves[TL_LEAVES];
	int			cells[TL_LEAVES];
	TlLog		log;
	TlSegment	seg;
	bool		have;
	IbltCell  **tables;
	StringInfoData out;

	cells_from_arrays(leaves_arr, cells_arr, leaves, cells);
	have = tl_rl_find_segment(log_name, range_start, &log, &seg);
	tables = tl_rl_iblt_build(&log, &seg, leaves, cells, (uint64) salt, have);
	initStringInfo(&out);
	for (int i = 0; i < TL_LEAVES; i++)
		if (leaves[i])
			tl_iblt_put(&out, tables[i], cells[i]);
	return stringinfo_to_bytea(&out);
}

/*
 * Encode the records of the marked leaves whose id is in want, differentially: sorted, in archive
 * frames (archive.c: delta-encoded ts and seq, front-coded keys, payloads shredded by path, zstd),
 * each frame followed by the rids of its rows so that the receiver checks every record.
 *   str log_name, i64 interval_us, u32 frames, then per frame:
 *   i32 nrows, i64 first_ts, i64 last_ts, i32 raw_len, i64 checksum, str compressed, nrows x 16 B rids
 */
bytea *
tl_rl_encode_records(const TlLog *log, const TlSegment *seg, const bool *leaves, uint64 salt,
			   const uint64 *want, int nwant, int *count, int *damaged)
{
	IdCollect	c;
	StringInfoData out;
	TimestampTz from;
	TimestampTz to;
	int			nframes;
	int		   *starts;
	bytea	   *result;

	memset(&c, 0, sizeof(c));
	c.log = log;
	c.seg = seg;
	c.salt = salt;
	memcpy(c.leaves, leaves, sizeof(c.leaves));
	c.want = want;
	c.nwant = nwant;
	leaves_range(log, seg, leaves, &from, &to);
	if (from < to)
		tl_segment_rows(log, seg, GetActiveSnapshot(), from, to, NULL, visit_collect, &c);
	*count = c.encoded;
	*damaged = c.damaged;
	if (c.nbatch > 1)
		qsort(c.batch, c.nbatch, sizeof(BatchRow), tl_archive_row_cmp);

	initStringInfo(&out);
	tl_wire_put_bytes(&out, log->name, strlen(log->name));
	tl_wire_put_u64(&out, (uint64) log->interval_us);
	/* frames close, as tier 2's do, at TL_FRAME_MAX_ROWS rows or TL_FRAME_TARGET_BYTES */
	starts = palloc(sizeof(int) * (c.nbatch + 1));
	nframes = 0;
	for (int i = 0, bytes = 0; i < c.nbatch; i++)
	{
		if (i == 0 || i - starts[nframes - 1] == TL_FRAME_MAX_ROWS || bytes >= TL_FRAME_TARGET_BYTES)
		{
			starts[nframes++] = i;
			bytes = 0;
		}
		bytes += VARSIZE_ANY(c.batch[i].row.key) + VARSIZE(c.batch[i].row.payload);
	}
	starts[nframes] = c.nbatch;
	tl_wire_put_u32(&out, nframes);
	for (int f = 0; f < nframes; f++)
	{
		int			first = starts[f];
		int			n = starts[f + 1] - first;
		TlArchiveRow *rows = palloc(sizeof(TlArchiveRow) * n);
		TlFrameMeta meta;
		bytea	   *frame;

		for (int i = 0; i < n; i++)
			rows[i] = c.batch[first + i].row;
		frame = tl_frame_encode(rows, n, 3, &meta);
		tl_wire_put_u32(&out, (uint32) meta.nrows);
		tl_wire_put_u64(&out, (uint64) meta.first_ts);
		tl_wire_put_u64(&out, (uint64) meta.last_ts);
		tl_wire_put_u32(&out, (uint32) meta.raw_len);
		tl_wire_put_u64(&out, (uint64) meta.checksum);
		tl_wire_put_bytes(&out, VARDATA(frame), VARSIZE(frame) - VARHDRSZ);
		for (int i = 0; i < n; i++)
			appendBinaryStringInfo(&out, (char *) c.batch[first + i].rid.bytes, TL_RID_LEN);
		pfree(frame);
		pfree(rows);
	}
	result = stringinfo_to_bytea(&out);
	pfree(out.data);
	return result;
}

static int
cmp_string_nodes(const ListCell *a, const ListCell *b)
{
	return strcmp(strVal(lfirst(a)), strVal(lfirst(b)));
}

/*
 * The list of String nodes sorted, each once: what a batch touched, in O(n log n) however many
 * segments a peer's records name (a search of the list per record was O(n^2)).
 */
static List *
unique_strings(List *strings)
{
	List	   *out = NIL;
	ListCell   *lc;

	list_sort(strings, cmp_string_nodes);
	foreach(lc, strings)
		if (out == NIL || strcmp(strVal(llast(out)), strVal(lfirst(lc))) != 0)
			out = lappend(out, lfirst(lc));
	list_free(strings);
	return out;
}

/*
 * After storing repairs: a segment whose rows had been changed behind tieredlog's back has a
 * stored digest that no longer matches its rows; correct it (digest_store.c). Scrubbed records
 * that came back intact get their quarantine entries resolved.
 */
static void
correct_touched(List *touched, const char *peer_name)
{
	ListCell   *lc;

	if (touched == NIL)
		return;
	CommandCounterIncrement();
	PushActiveSnapshot(GetLatestSnapshot());
	foreach(lc, touched)
	{
		char	   *key = strVal(lfirst(lc));
		char	   *bar = strrchr(key, '|');
		TlLog		log;
		TlSegment	seg;
		int			corrected;

		*bar = '\0';
		if (!tl_rl_find_segment(key, (TimestampTz) strtoi64(bar + 1, NULL, 10), &log, &seg))
			continue;
		if ((corrected = tl_digest_correct(&log, &seg, false)) > 0)
			ereport(NOTICE,
					(errmsg("stored digest of segment %lld did not match its rows in %d leaves; corrected",
							(long long) seg.segment_id, corrected),
					 errdetail("Rows of the segment were changed outside tieredlog.")));
		(void) tl_quarantine_resolve_restored(&log, &seg, peer_name);
	}
	PopActiveSnapshot();
}


/*
 * One frame of a record batch: its header, checked against what is left of the message, and
 * its compressed bytes. The frame's rids follow it in the message; the caller reads them.
 */
bytea *
tl_rl_read_batch_frame(TlWire *w, TlFrameMeta *meta)
{
	int			clen;
	const char *cdata;
	bytea	   *frame;

	memset(meta, 0, sizeof(*meta));
	meta->nrows = (int32) tl_wire_u32(w);
	meta->first_ts = (TimestampTz) tl_wire_u64(w);
	meta->last_ts = (TimestampTz) tl_wire_u64(w);
	meta->raw_len = (int32) tl_wire_u32(w);
	meta->checksum = (int64) tl_wire_u64(w);
	cdata = tl_wire_bytes(w, &clen);
	meta->comp_len = clen;
	if (meta->nrows <= 0 || meta->nrows > TL_FRAME_MAX_ROWS ||
		(int64) meta->nrows * TL_RID_LEN > w->end - w->p)
		tl_wire_fail("bad frame header in a record batch");
	frame = palloc(VARHDRSZ + clen);
	SET_VARSIZE(frame, VARHDRSZ + clen);
	memcpy(VARDATA(frame), cdata, clen);
	return frame;
}
/* Store a batch of records from a peer; counts[0..2] = stored, already here, quarantined. */
void
tl_rl_store_records(const char *data, int len, const char *peer_name, const char *sender_node, int64 *counts)
{
	TlWire		w = {data, data + len};
	char	   *log_name;
	int64		interval_us;
	uint32		nframes;
	RepOriginId saved = replorigin_session_origin;
	List	  **touched = palloc0(sizeof(List *));	/* set before PG_TRY: not clobbered */

	log_name = tl_wire_cstring(&w);
	tl_check_wire_log_name(log_name);
	interval_us = (int64) tl_wire_u64(&w);
	if (!tl_interval_us_is_valid(interval_us))
		tl_wire_fail("segment interval is not a whole number of seconds between 1 second and 366 days");
	nframes = tl_wire_u32(&w);
	tl_ledger_forget_repairs();	/* a failed store's, caught by the caller: rolled back */
	/* repairs are not streamed on: the peers reconcile for themselves */
	replorigin_session_origin = DoNotReplicateId;
	/*
	 * Whether a record is already here is looked up under the active snapshot: take one that
	 * sees what this transaction stored before (an earlier batch, or another peer's repair in
	 * the same reconcile()), or the record would be stored twice and hit the identity index.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetLatestSnapshot());
	PG_TRY();
	{
		for (uint32 f = 0; f < nframes; f++)
		{
			TlFrameMeta meta;
			bytea	   *frame = tl_rl_read_batch_frame(&w, &meta);
			TlArchiveRow *rows = tl_frame_decode(frame, &meta, 0, (int) f);

			for (int i = 0; i < meta.nrows; i++)
			{
				TlWireRecord wr;
				TlRid		sent;
				char	   *seg_key;
				TlApplyResult res;

				CHECK_FOR_INTERRUPTS();
				memcpy(sent.bytes, w.p, TL_RID_LEN);
				w.p += TL_RID_LEN;
				memset(&wr, 0, sizeof(wr));
				wr.log_name = log_name;
				wr.interval_us = interval_us;
				wr.rec.log_name = log_name;
				wr.rec.key = rows[i].key;
				wr.rec.payload = rows[i].payload;
				wr.rec.ts = rows[i].ts;
				wr.rec.source = rows[i].source;
				wr.rec.origin = rows[i].origin;
				wr.rec.seq = rows[i].seq;
				wr.payload_text = rows[i].payload_text;
				wr.payload_len = rows[i].payload_text_len;
				tl_check_name("origin", wr.rec.origin);
				/* (its jsonb size is checked where it is stored, tl_apply_record) */
				tl_check_payload_text_len(wr.payload_len);
				/* re-hash: the record must match the rid its sender holds */
				tl_record_compute_rid_with_text(&wr.rec, wr.payload_text, wr.payload_len);
				if (memcmp(wr.rec.rid.bytes, sent.bytes, TL_RID_LEN) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("record %s:%lld of log \"%s\" from the peer does not match its rid",
									wr.rec.origin, (long long) wr.rec.seq, log_name)));
				res = tl_store_remote_record(&wr, "reconciliation", peer_name, sender_node);
				counts[res]++;
				if (res == TL_APPLY_STORED)
					tl_ledger_note_repair(log_name, tl_window_start(wr.rec.ts, interval_us),
										  peer_name ? peer_name : (sender_node ? sender_node : "?"), &wr.rec.rid);
				seg_key = psprintf("%s|" INT64_FORMAT, log_name,
								   (int64) tl_window_start(wr.rec.ts, interval_us));
				/* (a frame's records come in ts order: repeats are mostly the last; the rest go below) */
				if (*touched == NIL || strcmp(strVal(llast(*touched)), seg_key) != 0)
					*touched = lappend(*touched, makeString(seg_key));
				else
					pfree(seg_key);
			}
			pfree(frame);
		}
		if (w.p != w.end)
			tl_wire_fail("trailing bytes after a record batch");
	}
	PG_CATCH();
	{
		replorigin_session_origin = saved;
		PG_RE_THROW();
	}
	PG_END_TRY();
	PopActiveSnapshot();
	replorigin_session_origin = saved;
	tl_ledger_flush_repairs();
	*touched = unique_strings(*touched);
	correct_touched(*touched, peer_name);
}

/* ---- the peer's side: SQL functions -------------------------------------------------------------- */

static void
put_digest(StringInfo out, const TlDigest *d)
{
	tl_wire_put_u64(out, (uint64) d->n);
	tl_wire_put_u64(out, d->sum_hi);
	tl_wire_put_u64(out, d->sum_lo);
}

static bytea *
stringinfo_to_bytea(StringInfo s)
{
	bytea	   *b = palloc(VARHDRSZ + s->len);

	SET_VARSIZE(b, VARHDRSZ + s->len);
	memcpy(VARDATA(b), s->data, s->len);
	return b;
}

/* u32 count, then per segment: i64 range_start, u8 tier, digest (fresh unless skipped archive) */
bytea *
tl_ae_roots(const char *log_name, TimestampTz from_ts, TimestampTz to_ts, bool include_archive)
{
	StringInfoData out;
	TlLog		log;
	List	   *segs = NIL;
	ListCell   *lc;

	initStringInfo(&out);
	if (find_log(log_name, &log))
		segs = tl_catalog_log_segments(log.log_id, from_ts, to_ts, GetActiveSnapshot());
	tl_wire_put_u32(&out, list_length(segs));
	foreach(lc, segs)
	{
		TlSegment  *seg = lfirst(lc);
		TlSegmentDigest *d = palloc(sizeof(TlSegmentDigest));

		CHECK_FOR_INTERRUPTS();
		if (seg->tier == 2 && !include_archive)
			tl_digest_load(seg->segment_id, d);
		else
			tl_rl_fresh_digest(&log, seg, d);
		tl_wire_put_u64(&out, (uint64) seg->range_start);
		tl_wire_put_u8(&out, (uint8) seg->tier);
		put_digest(&out, &d->root);
		pfree(d);
	}
	return stringinfo_to_bytea(&out);
}

bool
tl_rl_find_segment(const char *log_name, TimestampTz range_start, TlLog *log, TlSegment *seg)
{
	return find_log(log_name, log) && tl_catalog_find_segment(log->log_id, range_start, seg);
}

/* u32 count, then per non-empty leaf: u8 leaf, digest */
bytea *
tl_ae_leaves(const char *log_name, TimestampTz range_start)
{
	StringInfoData out;
	TlLog		log;
	TlSegment	seg;
	TlSegmentDigest *d = palloc0(sizeof(TlSegmentDigest));
	int			n = 0;

	initStringInfo(&out);
	if (tl_rl_find_segment(log_name, range_start, &log, &seg))
		tl_rl_fresh_digest(&log, &seg, d);
	for (int i = 0; i < TL_LEAVES; i++)
		n += d->leaves[i].n != 0;
	tl_wire_put_u32(&out, n);
	for (int i = 0; i < TL_LEAVES; i++)
	{
		if (d->leaves[i].n == 0)
			continue;
		tl_wire_put_u8(&out, (uint8) i);
		tl_wire_put_u32(&out, (uint32) d->leaves[i].n);
		tl_wire_put_u64(&out, d->leaves[i].sum_hi);
		tl_wire_put_u64(&out, d->leaves[i].sum_lo);
	}
	return stringinfo_to_bytea(&out);
}

static void
leaves_from_array(ArrayType *arr, bool *leaves)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	memset(leaves, 0, sizeof(bool) * TL_LEAVES);
	deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		int			leaf = nulls[i] ? -1 : DatumGetInt32(elems[i]);

		if (leaf < 0 || leaf >= TL_LEAVES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("leaf %d is outside 0 to %d", leaf, TL_LEAVES - 1)));
		leaves[leaf] = true;
	}
}

/* the sorted 8-byte ids of the records in the leaves, as raw bytes */
bytea *
tl_ae_ids(const char *log_name, TimestampTz range_start, ArrayType *leaves_arr, int64 salt)
{
	TlLog		log;
	TlSegment	seg;
	bool		leaves[TL_LEAVES];
	IdCollect	c;
	bytea	   *out;

	leaves_from_array(leaves_arr, leaves);
	if (!tl_rl_find_segment(log_name, range_start, &log, &seg))
		return (bytea *) cstring_to_text_with_len("", 0);
	tl_rl_collect_ids(&log, &seg, leaves, (uint64) salt, &c);
	out = palloc(VARHDRSZ + sizeof(uint64) * c.n);
	SET_VARSIZE(out, VARHDRSZ + sizeof(uint64) * c.n);
	for (int i = 0; i < c.n; i++)
	{
		uint64		be = pg_hton64(c.ids[i]);

		memcpy(VARDATA(out) + i * 8, &be, 8);
	}
	return out;
}

uint64 *
tl_rl_ids_from_bytes(const char *p, int len, int *n)
{
	uint64	   *ids;

	if (len % 8 != 0)
		tl_wire_fail("id list is not a whole number of ids");
	*n = len / 8;
	ids = palloc(sizeof(uint64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		uint64		v;

		memcpy(&v, p + i * 8, 8);
		ids[i] = pg_ntoh64(v);
	}
	qsort(ids, *n, sizeof(uint64), tl_rl_cmp_u64);
	return ids;
}

/* the records of the leaves whose id is in ids, encoded and compressed */
bytea *
tl_ae_fetch(const char *log_name, TimestampTz range_start, ArrayType *leaves_arr, int64 salt,
			bytea *ids_raw)
{
	TlLog		log;
	TlSegment	seg;
	bool		leaves[TL_LEAVES];
	int			n;
	int			count;
	int			damaged;
	uint64	   *ids = tl_rl_ids_from_bytes(VARDATA_ANY(ids_raw), VARSIZE_ANY_EXHDR(ids_raw), &n);

	leaves_from_array(leaves_arr, leaves);
	if (!tl_rl_find_segment(log_name, range_start, &log, &seg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("log \"%s\" has no segment starting at %s here", log_name,
						timestamptz_to_str(range_start))));
	return tl_rl_encode_records(&log, &seg, leaves, (uint64) salt, ids, n, &count, &damaged);
}

void
tl_ae_store(bytea *records, const char *peer_name, const char *sender_node, int64 *counts)
{
	PreventCommandIfReadOnly("tieredlog reconciliation");
	/* the sender is authenticated (peer_auth.c): its copies win where it is the origin */
	tl_rl_store_records(VARDATA_ANY(records), VARSIZE_ANY_EXHDR(records), peer_name, sender_node, counts);
}
