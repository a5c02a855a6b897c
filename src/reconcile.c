/*-------------------------------------------------------------------------
 * reconcile.c
 *		Digest-driven anti-entropy between this node and a peer, over an ordinary libpq
 *		connection to SQL functions of the peer's tieredlog.
 *
 *   coordinator (this node)                         peer
 *   detect:    _ae_roots(log, from, to)      ---->  (range_start, tier, n, sum) per segment
 *              compare with the same computed here, from the rows (not the stored digests, so
 *              rows removed or added behind the extension's back show up)
 *   localize:  _ae_leaves(log, segment)      ---->  the non-empty leaves of 256 (n, sum)
 *   reconcile: _ae_ids(log, segment, leaves, salt) -> 8-byte ids XXH3_64(rid, salt) of the records
 *              in the mismatched leaves, sorted; the salt is fresh for every exchange
 *   repair:    _ae_fetch(log, segment, leaves, salt, ids) -> the records this node lacks
 *              _ae_store(records)            ---->  the records the peer lacks (as archive frames)
 *   confirm:   _ae_roots again for the segment, compared with this node's
 *
 * Only missing records move, both ways, never deletions. Every received record is re-hashed
 * and checked against its rid before it is stored; a record whose identity (origin, seq) exists
 * with other content is quarantined (remote.c), not merged. Repairs are written with the
 * replication origin DoNotReplicateId, so they are not streamed on again. Tier 2 segments are
 * compared only with include_archive (their rows come from decoded frames). Bytes and round
 * trips are counted per phase; every segment that was not already in sync is kept in
 * tieredlog.reconcile_log (the reconcile_history view).
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

#include "archive.h"
#include "catalog.h"
#include "digest.h"
#include "peer.h"
#include "iblt.h"
#include "reconcile.h"
#include "remote.h"
#include "segment.h"
#include "segrows.h"
#include "tieredlog.h"
#include "validate.h"
#include "wire.h"

static bool find_segment(const char *log_name, TimestampTz range_start, TlLog *log, TlSegment *seg);
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
static void
fresh_digest(const TlLog *log, const TlSegment *seg, TlSegmentDigest *d)
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

static int
cmp_u64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

typedef struct IdCollect
{
	const TlLog *log;
	const TlSegment *seg;
	bool		leaves[TL_LEAVES];
	uint64		salt;
	uint64	   *ids;
	uint8	   *id_leaf;		/* the leaf of each id (before sorting) */
	int			n;
	int			cap;
	/* fetch mode: collect rows whose id is in want[] */
	const uint64 *want;
	int			nwant;
	struct BatchRow *batch;
	int			nbatch;
	int			batch_cap;
	int			encoded;
	int			damaged;		/* local copies whose content does not match their rid */
} IdCollect;

static void
row_to_record(HeapTuple row, TupleDesc desc, TlRecord *rec)
{
	Datum		v[Natts_row];
	bool		n[Natts_row];

	heap_deform_tuple(row, desc, v, n);
	memset(rec, 0, sizeof(*rec));
	rec->ts = DatumGetTimestampTz(v[Anum_row_ts - 1]);
	rec->key = DatumGetTextPP(v[Anum_row_key - 1]);
	rec->payload = DatumGetJsonbP(v[Anum_row_payload - 1]);
	rec->source = n[Anum_row_source - 1] ? NULL : DatumGetTextPP(v[Anum_row_source - 1]);
	rec->origin = TextDatumGetCString(v[Anum_row_origin - 1]);
	rec->seq = DatumGetInt64(v[Anum_row_seq - 1]);
	memcpy(rec->rid.bytes, DatumGetUUIDP(v[Anum_row_rid - 1])->data, TL_RID_LEN);
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

		if (bsearch(&id, c->want, c->nwant, sizeof(uint64), cmp_u64) == NULL)
			return;
		row_to_record(row, desc, &rec);
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
		c->cap = Max(1024, c->cap * 2);
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
		qsort(c->ids, c->n, sizeof(uint64), cmp_u64);
}

static void
collect_ids(const TlLog *log, const TlSegment *seg, const bool *leaves, uint64 salt, IdCollect *c)
{
	collect_ids_ex(log, seg, leaves, salt, c, true);
}

/* One table per marked leaf (in leaf order), of cells[leaf] cells, over the leaf's ids. */
static IbltCell **
iblt_build(const TlLog *log, const TlSegment *seg, const bool *leaves, const int *cells, uint64 salt,
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

		if (leaf < 0 || leaf >= TL_LEAVES || m < IBLT_HASHES || m % IBLT_HASHES != 0 || m > 3000000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid leaf %d or table size %d", leaf, m)));
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
	have = find_segment(log_name, range_start, &log, &seg);
	tables = iblt_build(&log, &seg, leaves, cells, (uint64) salt, have);
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
static bytea *
encode_records(const TlLog *log, const TlSegment *seg, const bool *leaves, uint64 salt,
			   const uint64 *want, int nwant, int *count, int *damaged)
{
	IdCollect	c;
	StringInfoData out;
	TimestampTz from;
	TimestampTz to;
	int			nframes;
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
	nframes = (c.nbatch + TL_FRAME_MAX_ROWS - 1) / TL_FRAME_MAX_ROWS;
	tl_wire_put_u32(&out, nframes);
	for (int f = 0; f < nframes; f++)
	{
		int			first = f * TL_FRAME_MAX_ROWS;
		int			n = Min(TL_FRAME_MAX_ROWS, c.nbatch - first);
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

/*
 * After storing repairs: a segment whose rows had been changed behind tieredlog's back has a
 * stored digest that no longer matches its rows; correct it (digest_store.c).
 */
static void
correct_touched(List *touched)
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
		if (!find_segment(key, (TimestampTz) strtoi64(bar + 1, NULL, 10), &log, &seg))
			continue;
		if ((corrected = tl_digest_correct(&log, &seg)) > 0)
			ereport(NOTICE,
					(errmsg("stored digest of segment %lld did not match its rows in %d leaves; corrected",
							(long long) seg.segment_id, corrected),
					 errdetail("Rows of the segment were changed outside tieredlog.")));
	}
	PopActiveSnapshot();
}

/* Store a batch of records from a peer; counts[0..2] = stored, already here, quarantined. */
static void
store_records(const char *data, int len, const char *peer_name, const char *sender_node, int64 *counts)
{
	TlWire		w = {data, data + len};
	char	   *log_name;
	int64		interval_us;
	uint32		nframes;
	RepOriginId saved = replorigin_session_origin;
	List	  **touched = palloc0(sizeof(List *));	/* set before PG_TRY: not clobbered */

	log_name = tl_wire_cstring(&w);
	tl_check_name("log", log_name);
	interval_us = (int64) tl_wire_u64(&w);
	nframes = tl_wire_u32(&w);
	/* repairs are not streamed on: the peers reconcile for themselves */
	replorigin_session_origin = DoNotReplicateId;
	PG_TRY();
	{
		for (uint32 f = 0; f < nframes; f++)
		{
			TlFrameMeta meta;
			int			clen;
			const char *cdata;
			bytea	   *frame;
			TlArchiveRow *rows;

			memset(&meta, 0, sizeof(meta));
			meta.nrows = (int32) tl_wire_u32(&w);
			meta.first_ts = (TimestampTz) tl_wire_u64(&w);
			meta.last_ts = (TimestampTz) tl_wire_u64(&w);
			meta.raw_len = (int32) tl_wire_u32(&w);
			meta.checksum = (int64) tl_wire_u64(&w);
			cdata = tl_wire_bytes(&w, &clen);
			meta.comp_len = clen;
			if (meta.nrows <= 0 || meta.nrows > TL_FRAME_MAX_ROWS ||
				(int64) meta.nrows * TL_RID_LEN > w.end - w.p - 0)
				tl_wire_fail("bad frame header in a record batch");
			frame = palloc(VARHDRSZ + clen);
			SET_VARSIZE(frame, VARHDRSZ + clen);
			memcpy(VARDATA(frame), cdata, clen);
			rows = tl_frame_decode(frame, &meta, 0, (int) f);
			for (int i = 0; i < meta.nrows; i++)
			{
				TlWireRecord wr;
				TlRid		sent;
				char	   *seg_key;

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
				/* re-hash: the record must match the rid its sender holds */
				tl_record_compute_rid_with_text(&wr.rec, wr.payload_text, wr.payload_len);
				if (memcmp(wr.rec.rid.bytes, sent.bytes, TL_RID_LEN) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("record %s:%lld of log \"%s\" from the peer does not match its rid",
									wr.rec.origin, (long long) wr.rec.seq, log_name)));
				counts[tl_store_remote_record(&wr, "reconciliation", peer_name, sender_node)]++;
				seg_key = psprintf("%s|" INT64_FORMAT, log_name,
								   (int64) tl_window_start(wr.rec.ts, interval_us));
				if (!list_member(*touched, makeString(seg_key)))
					*touched = lappend(*touched, makeString(seg_key));
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
	replorigin_session_origin = saved;
	correct_touched(*touched);
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
			fresh_digest(&log, seg, d);
		tl_wire_put_u64(&out, (uint64) seg->range_start);
		tl_wire_put_u8(&out, (uint8) seg->tier);
		put_digest(&out, &d->root);
		pfree(d);
	}
	return stringinfo_to_bytea(&out);
}

static bool
find_segment(const char *log_name, TimestampTz range_start, TlLog *log, TlSegment *seg)
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
	if (find_segment(log_name, range_start, &log, &seg))
		fresh_digest(&log, &seg, d);
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
	if (!find_segment(log_name, range_start, &log, &seg))
		return (bytea *) cstring_to_text_with_len("", 0);
	collect_ids(&log, &seg, leaves, (uint64) salt, &c);
	out = palloc(VARHDRSZ + sizeof(uint64) * c.n);
	SET_VARSIZE(out, VARHDRSZ + sizeof(uint64) * c.n);
	for (int i = 0; i < c.n; i++)
	{
		uint64		be = pg_hton64(c.ids[i]);

		memcpy(VARDATA(out) + i * 8, &be, 8);
	}
	return out;
}

static uint64 *
ids_from_bytes(const char *p, int len, int *n)
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
	qsort(ids, *n, sizeof(uint64), cmp_u64);
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
	uint64	   *ids = ids_from_bytes(VARDATA_ANY(ids_raw), VARSIZE_ANY_EXHDR(ids_raw), &n);

	leaves_from_array(leaves_arr, leaves);
	if (!find_segment(log_name, range_start, &log, &seg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("log \"%s\" has no segment starting at %s here", log_name,
						timestamptz_to_str(range_start))));
	return encode_records(&log, &seg, leaves, (uint64) salt, ids, n, &count, &damaged);
}

void
tl_ae_store(bytea *records, const char *peer_name, int64 *counts)
{
	PreventCommandIfReadOnly("tieredlog reconciliation");
	/* the coordinator sends its own node name: as the sender, its copies win where it is the origin */
	store_records(VARDATA_ANY(records), VARSIZE_ANY_EXHDR(records), peer_name, peer_name, counts);
}

/* ---- the coordinator ------------------------------------------------------------------------------- */

typedef struct Exchange
{
	PGconn	   *conn;
	const char *peer_name;
	const char *peer_node;		/* the peer's tieredlog.node_name */
	int64		bytes_sent;
	int64		bytes_received;
	int			round_trips;
	int64		phase_bytes[4];	/* detect, localize, reconcile, repair */
} Exchange;

enum
{
	PHASE_DETECT, PHASE_LOCALIZE, PHASE_RECONCILE, PHASE_REPAIR
};

/* Call a peer function returning bytea (binary); params are text except those with lengths. */
static bytea *
peer_call(Exchange *ex, int phase, const char *sql, int nparams, const char *const *values,
		  const int *lengths, const int *formats)
{
	PGresult   *res;
	int64		sent = 0;
	int64		got;
	bytea	   *out;

	for (int i = 0; i < nparams; i++)
		sent += lengths && formats && formats[i] ? lengths[i] : (values[i] ? (int64) strlen(values[i]) : 0);
	res = PQexecParams(ex->conn, sql, nparams, NULL, values, lengths, formats, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		char	   *msg = pchomp(PQresultErrorMessage(res));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("reconciliation with peer \"%s\" failed: %s", ex->peer_name, msg)));
	}
	got = PQgetlength(res, 0, 0);
	out = palloc(VARHDRSZ + got);
	SET_VARSIZE(out, VARHDRSZ + got);
	memcpy(VARDATA(out), PQgetvalue(res, 0, 0), got);
	PQclear(res);
	ex->round_trips++;
	ex->bytes_sent += sent;
	ex->bytes_received += got;
	ex->phase_bytes[phase] += sent + got;
	return out;
}

typedef struct RootEntry
{
	TimestampTz range_start;
	int			tier;
	TlDigest	d;
} RootEntry;

static RootEntry *
parse_roots(bytea *b, int *n)
{
	TlWire		w = {VARDATA_ANY(b), VARDATA_ANY(b) + VARSIZE_ANY_EXHDR(b)};
	uint32		count = tl_wire_u32(&w);
	RootEntry  *r;

	if (count > (uint32) (VARSIZE_ANY_EXHDR(b) / 33 + 1))
		tl_wire_fail("root count runs past the message");
	r = palloc0(sizeof(RootEntry) * Max(count, 1));
	for (uint32 i = 0; i < count; i++)
	{
		r[i].range_start = (TimestampTz) tl_wire_u64(&w);
		r[i].tier = tl_wire_u8(&w);
		r[i].d.n = (int64) tl_wire_u64(&w);
		r[i].d.sum_hi = tl_wire_u64(&w);
		r[i].d.sum_lo = tl_wire_u64(&w);
	}
	*n = count;
	return r;
}

static char *
ts_param(TimestampTz ts)
{
	return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(ts)));
}

static RootEntry *
peer_roots(Exchange *ex, const char *log_name, TimestampTz from_ts, TimestampTz to_ts,
		   bool include_archive, int *n)
{
	const char *v[4] = {log_name, ts_param(from_ts), ts_param(to_ts), include_archive ? "true" : "false"};

	return parse_roots(peer_call(ex, PHASE_DETECT,
								 "SELECT tieredlog._ae_roots($1, $2::timestamptz, $3::timestamptz, $4::boolean)",
								 4, v, NULL, NULL), n);
}

/* Reconcile one segment (range_start) of a log whose roots differ. */
static void
reconcile_one(Exchange *ex, const char *log_name, TimestampTz range_start, TlReconcileResult *r)
{
	TlLog		log;
	TlSegment	seg;
	bool		have_local;
	TlSegmentDigest *local = palloc0(sizeof(TlSegmentDigest));
	TlDigest	remote_leaves[TL_LEAVES];
	bool		mismatch[TL_LEAVES];
	bytea	   *b;
	TlWire		w;
	uint32		count;
	uint64		salt = ((uint64) random() << 32) ^ (uint64) random() ^ (uint64) GetCurrentTimestamp();
	StringInfoData leaves_txt;
	IdCollect	mine;
	uint64	   *theirs;
	int			ntheirs;
	uint64	   *missing_here;
	uint64	   *missing_there;
	int			nhere = 0;
	int			nthere = 0;
	const char *v[4];
	char		salt_txt[32];

	have_local = find_segment(log_name, range_start, &log, &seg);
	if (have_local)
		fresh_digest(&log, &seg, local);

	/* localize */
	v[0] = log_name;
	v[1] = ts_param(range_start);
	b = peer_call(ex, PHASE_LOCALIZE, "SELECT tieredlog._ae_leaves($1, $2::timestamptz)", 2, v, NULL, NULL);
	memset(remote_leaves, 0, sizeof(remote_leaves));
	w.p = VARDATA_ANY(b);
	w.end = w.p + VARSIZE_ANY_EXHDR(b);
	count = tl_wire_u32(&w);
	if (count > TL_LEAVES)
		tl_wire_fail("too many leaves");
	for (uint32 i = 0; i < count; i++)
	{
		int			leaf = tl_wire_u8(&w);

		remote_leaves[leaf].n = (int64) tl_wire_u32(&w);
		remote_leaves[leaf].sum_hi = tl_wire_u64(&w);
		remote_leaves[leaf].sum_lo = tl_wire_u64(&w);
	}
	initStringInfo(&leaves_txt);
	appendStringInfoChar(&leaves_txt, '{');
	for (int i = 0; i < TL_LEAVES; i++)
	{
		mismatch[i] = !tl_digest_equal(&local->leaves[i], &remote_leaves[i]);
		if (mismatch[i])
			appendStringInfo(&leaves_txt, "%s%d", leaves_txt.len > 1 ? "," : "", i);
	}
	appendStringInfoChar(&leaves_txt, '}');
	r->leaves_differing = 0;
	for (int i = 0; i < TL_LEAVES; i++)
		r->leaves_differing += mismatch[i];

	/*
	 * reconcile: per mismatched leaf an invertible Bloom lookup table sized for the leaf's count
	 * difference (about 20 bytes per differing record); a leaf whose difference is larger than
	 * its table decodes falls back to exchanging all its ids.
	 */
	snprintf(salt_txt, sizeof(salt_txt), INT64_FORMAT, (int64) salt);
	{
		int			cells[TL_LEAVES] = {0};
		bool		fallback[TL_LEAVES] = {0};
		bool		any_fallback = false;
		bool		retry[TL_LEAVES] = {0};
		bool		any_retry = false;
		StringInfoData cells_txt;
		IbltCell  **mine_t;
		int			cap_here = 64;
		int			cap_there = 64;

		initStringInfo(&cells_txt);
		appendStringInfoChar(&cells_txt, '{');
		for (int i = 0; i < TL_LEAVES; i++)
			if (mismatch[i])
			{
				cells[i] = tl_iblt_cells_for(local->leaves[i].n - remote_leaves[i].n);
				appendStringInfo(&cells_txt, "%s%d", cells_txt.len > 1 ? "," : "", cells[i]);
			}
		appendStringInfoChar(&cells_txt, '}');
		{
			const char *pv[5] = {log_name, v[1], leaves_txt.data, cells_txt.data, salt_txt};

			b = peer_call(ex, PHASE_RECONCILE,
						  "SELECT tieredlog._ae_iblt($1, $2::timestamptz, $3::int[], $4::int[], $5::bigint)",
						  5, pv, NULL, NULL);
		}
		mine_t = iblt_build(&log, &seg, mismatch, cells, salt, have_local);
		missing_here = palloc(sizeof(uint64) * cap_here);
		missing_there = palloc(sizeof(uint64) * cap_there);
		w.p = VARDATA_ANY(b);
		w.end = w.p + VARSIZE_ANY_EXHDR(b);
		for (int i = 0; i < TL_LEAVES; i++)
		{
			uint64	   *h;
			uint64	   *t;
			int			nh;
			int			nt;

			if (!mismatch[i])
				continue;
			for (int k = 0; k < cells[i]; k++)
			{
				mine_t[i][k].count -= (int32) tl_wire_u32(&w);
				mine_t[i][k].key ^= tl_wire_u64(&w);
				mine_t[i][k].check ^= tl_wire_u32(&w);
			}
			/* local minus remote: +1 only here (missing there), -1 only there (missing here) */
			if (!tl_iblt_peel(mine_t[i], cells[i], &h, &nh, &t, &nt))
			{
				retry[i] = any_retry = true;
				continue;
			}
			for (int k = 0; k < nh; k++)
			{
				if (nthere == cap_there)
					missing_there = repalloc(missing_there, sizeof(uint64) * (cap_there *= 2));
				missing_there[nthere++] = h[k];
			}
			for (int k = 0; k < nt; k++)
			{
				if (nhere == cap_here)
					missing_here = repalloc(missing_here, sizeof(uint64) * (cap_here *= 2));
				missing_here[nhere++] = t[k];
			}
		}
		if (w.p != w.end)
			tl_wire_fail("unexpected length of the peer's tables");

		/* tables that did not decode: once more, four times larger, then the leaf's ids */
		if (any_retry)
		{
			StringInfoData rl;
			StringInfoData rc;

			initStringInfo(&rl);
			initStringInfo(&rc);
			appendStringInfoChar(&rl, '{');
			appendStringInfoChar(&rc, '{');
			for (int i = 0; i < TL_LEAVES; i++)
				if (retry[i])
				{
					cells[i] *= 4;
					appendStringInfo(&rl, "%s%d", rl.len > 1 ? "," : "", i);
					appendStringInfo(&rc, "%s%d", rc.len > 1 ? "," : "", cells[i]);
				}
			appendStringInfoChar(&rl, '}');
			appendStringInfoChar(&rc, '}');
			{
				const char *pv[5] = {log_name, v[1], rl.data, rc.data, salt_txt};

				b = peer_call(ex, PHASE_RECONCILE,
							  "SELECT tieredlog._ae_iblt($1, $2::timestamptz, $3::int[], $4::int[], $5::bigint)",
							  5, pv, NULL, NULL);
			}
			mine_t = iblt_build(&log, &seg, retry, cells, salt, have_local);
			w.p = VARDATA_ANY(b);
			w.end = w.p + VARSIZE_ANY_EXHDR(b);
			for (int i = 0; i < TL_LEAVES; i++)
			{
				uint64	   *h;
				uint64	   *t;
				int			nh;
				int			nt;

				if (!retry[i])
					continue;
				for (int k = 0; k < cells[i]; k++)
				{
					mine_t[i][k].count -= (int32) tl_wire_u32(&w);
					mine_t[i][k].key ^= tl_wire_u64(&w);
					mine_t[i][k].check ^= tl_wire_u32(&w);
				}
				if (!tl_iblt_peel(mine_t[i], cells[i], &h, &nh, &t, &nt))
				{
					fallback[i] = any_fallback = true;
					continue;
				}
				missing_there = repalloc(missing_there, sizeof(uint64) * (nthere + nh + 1));
				missing_here = repalloc(missing_here, sizeof(uint64) * (nhere + nt + 1));
				for (int k = 0; k < nh; k++)
					missing_there[nthere++] = h[k];
				for (int k = 0; k < nt; k++)
					missing_here[nhere++] = t[k];
			}
			if (w.p != w.end)
				tl_wire_fail("unexpected length of the peer's tables");
		}

		if (any_fallback)
		{
			StringInfoData fb_txt;

			initStringInfo(&fb_txt);
			appendStringInfoChar(&fb_txt, '{');
			for (int i = 0; i < TL_LEAVES; i++)
				if (fallback[i])
					appendStringInfo(&fb_txt, "%s%d", fb_txt.len > 1 ? "," : "", i);
			appendStringInfoChar(&fb_txt, '}');
			{
				const char *pv[4] = {log_name, v[1], fb_txt.data, salt_txt};

				b = peer_call(ex, PHASE_RECONCILE,
							  "SELECT tieredlog._ae_ids($1, $2::timestamptz, $3::int[], $4::bigint)", 4, pv, NULL, NULL);
			}
			theirs = ids_from_bytes(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), &ntheirs);
			if (have_local)
				collect_ids(&log, &seg, fallback, salt, &mine);
			else
				memset(&mine, 0, sizeof(mine));
			missing_here = repalloc(missing_here, sizeof(uint64) * (nhere + ntheirs + 1));
			missing_there = repalloc(missing_there, sizeof(uint64) * (nthere + mine.n + 1));
			for (int i = 0, j = 0; i < ntheirs || j < mine.n;)
			{
				if (j >= mine.n || (i < ntheirs && theirs[i] < mine.ids[j]))
					missing_here[nhere++] = theirs[i++];
				else if (i >= ntheirs || mine.ids[j] < theirs[i])
					missing_there[nthere++] = mine.ids[j++];
				else
				{
					i++;
					j++;
				}
			}
		}
		if (nhere > 1)
			qsort(missing_here, nhere, sizeof(uint64), cmp_u64);
	}

	/* repair: fetch what is missing here, push what is missing there */
	if (nhere > 0)
	{
		bytea	   *ids = palloc(VARHDRSZ + nhere * 8);
		int64		counts[3] = {0, 0, 0};
		const char *pv[5] = {log_name, v[1], leaves_txt.data, salt_txt, VARDATA(ids)};
		int			lens[5] = {0, 0, 0, 0, nhere * 8};
		int			fmts[5] = {0, 0, 0, 0, 1};

		SET_VARSIZE(ids, VARHDRSZ + nhere * 8);
		for (int i = 0; i < nhere; i++)
		{
			uint64		be = pg_hton64(missing_here[i]);

			memcpy(VARDATA(ids) + i * 8, &be, 8);
		}
		b = peer_call(ex, PHASE_REPAIR,
					  "SELECT tieredlog._ae_fetch($1, $2::timestamptz, $3::int[], $4::bigint, $5::bytea)",
					  5, pv, lens, fmts);
		store_records(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), ex->peer_name, ex->peer_node, counts);
		r->records_received += counts[TL_APPLY_STORED];
		r->conflicts += counts[TL_APPLY_CONFLICT];
	}
	if (nthere > 0)
	{
		int			encoded;
		int			damaged;
		bytea	   *recs;
		PGresult   *res;

		qsort(missing_there, nthere, sizeof(uint64), cmp_u64);
		recs = encode_records(&log, &seg, mismatch, salt, missing_there, nthere, &encoded, &damaged);
		r->conflicts += damaged;
		{
			const char *pv[2] = {VARDATA(recs), ex->peer_name};
			int			lens[2] = {VARSIZE(recs) - VARHDRSZ, 0};
			int			fmts[2] = {1, 0};
			const char *me = tl_node_name();

			pv[1] = me;
			b = peer_call(ex, PHASE_REPAIR, "SELECT tieredlog._ae_store($1::bytea, $2)::text::bytea",
						  2, pv, lens, fmts);
		}
		/* "{stored,duplicate,conflict}" */
		{
			char	   *txt = pnstrdup(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
			long long	s = 0,
						d = 0,
						c = 0;

			if (sscanf(txt, "{%lld,%lld,%lld}", &s, &d, &c) != 3)
				tl_wire_fail("unexpected answer from _ae_store");
			r->records_sent += s;
			r->conflicts += c;
		}
		(void) res;
	}
}

/*
 * Reconcile the segments of one log in [from_ts, to_ts) with one peer; calls emit() for each
 * segment, in sync or not.
 */
static void
reconcile_log_with(Exchange *ex, const char *log_name, TimestampTz from_ts, TimestampTz to_ts,
				   bool include_archive, TlReconcileEmit emit, void *arg)
{
	TlLog		log;
	int			nremote;
	int64		detect_before = ex->phase_bytes[PHASE_DETECT];
	RootEntry  *remote = peer_roots(ex, log_name, from_ts, to_ts, include_archive, &nremote);
	int64		range_bytes = ex->phase_bytes[PHASE_DETECT] - detect_before;
	List	   *local = NIL;
	ListCell   *lc;
	List	   *starts = NIL;
	int			row = 0;

	if (find_log(log_name, &log))
		local = tl_catalog_log_segments(log.log_id, from_ts, to_ts, GetActiveSnapshot());

	/* the union of segment windows on both sides */
	foreach(lc, local)
		starts = lappend(starts, &((TlSegment *) lfirst(lc))->range_start);
	for (int i = 0; i < nremote; i++)
	{
		bool		seen = false;

		foreach(lc, local)
			if (((TlSegment *) lfirst(lc))->range_start == remote[i].range_start)
				seen = true;
		if (!seen)
			starts = lappend(starts, &remote[i].range_start);
	}

	foreach(lc, starts)
	{
		TimestampTz start = *(TimestampTz *) lfirst(lc);
		TlReconcileResult r;
		RootEntry  *rem = NULL;
		TlSegment	seg;
		bool		have_local = false;
		TlSegmentDigest *d = palloc0(sizeof(TlSegmentDigest));
		TimestampTz t0 = GetCurrentTimestamp();
		int64		before[4];

		CHECK_FOR_INTERRUPTS();
		memset(&r, 0, sizeof(r));
		memcpy(before, ex->phase_bytes, sizeof(before));
		r.round_trips = -ex->round_trips;
		r.log_name = log_name;
		r.peer_name = ex->peer_name;
		r.range_start = start;
		for (int i = 0; i < nremote; i++)
			if (remote[i].range_start == start)
				rem = &remote[i];
		if (find_log(log_name, &log) && tl_catalog_find_segment(log.log_id, start, &seg))
		{
			have_local = true;
			r.segment_id = seg.segment_id;
		}
		if ((have_local && seg.tier == 2 && !include_archive) || (rem && rem->tier == 2 && !include_archive))
		{
			if (have_local)
				tl_digest_load(seg.segment_id, d);
			r.status = (rem && tl_digest_equal(&d->root, &rem->d)) ? "in_sync" : "skipped_archive";
		}
		else
		{
			TlDigest	empty = {0};

			if (have_local)
				fresh_digest(&log, &seg, d);
			if (tl_digest_equal(&d->root, rem ? &rem->d : &empty))
				r.status = "in_sync";
			else
			{
				int			nafter;
				RootEntry  *after;

				reconcile_one(ex, log_name, start, &r);
				/* confirm, with a snapshot that sees what was just stored */
				CommandCounterIncrement();
				PushActiveSnapshot(GetLatestSnapshot());
				if (find_log(log_name, &log) && tl_catalog_find_segment(log.log_id, start, &seg))
				{
					int			corrected;

					r.segment_id = seg.segment_id;
					fresh_digest(&log, &seg, d);
					/* rows changed behind tieredlog's back leave the stored digest wrong: fix it */
					if ((corrected = tl_digest_correct(&log, &seg)) > 0)
						ereport(NOTICE,
								(errmsg("stored digest of segment %lld did not match its rows in %d leaves; corrected",
										(long long) seg.segment_id, corrected),
								 errdetail("Rows of the segment were changed outside tieredlog.")));
				}
				PopActiveSnapshot();
				after = peer_roots(ex, log_name, start, start + 1, include_archive, &nafter);
				r.status = (nafter == 1 && tl_digest_equal(&d->root, &after[0].d)) ? "repaired"
					: (r.conflicts > 0 ? "damaged" : "diverged");
			}
		}
		r.round_trips += ex->round_trips;
		for (int p = 0; p < 4; p++)
			r.phase_bytes[p] = ex->phase_bytes[p] - before[p];
		/* the one detect call over the whole range: its round trip on the first row, its bytes shared */
		r.phase_bytes[PHASE_DETECT] += range_bytes / list_length(starts) +
			(row == 0 ? range_bytes % list_length(starts) : 0);
		if (row++ == 0)
			r.round_trips++;
		r.duration_ms = (double) (GetCurrentTimestamp() - t0) / 1000.0;
		emit(&r, arg);
		pfree(d);
	}
}

/*
 * Reconcile: for each peer (or the one named) and each log (or the one named), the segments in
 * [from_ts, to_ts). A peer that cannot be reached, or fails midway, raises an error: what was
 * stored before stays (it is correct on its own), and the next run finishes the work.
 */
void
tl_reconcile(const char *log_name, const char *peer_name, TimestampTz from_ts, TimestampTz to_ts,
			 bool include_archive, TlReconcileEmit emit, void *arg)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {peer_name ? CStringGetTextDatum(peer_name) : (Datum) 0};
	char		nulls[1] = {peer_name ? ' ' : 'n'};
	List	   *peers = NIL;
	List	   *logs = NIL;
	ListCell   *lc;
	MemoryContext cxt = CurrentMemoryContext;

	PreventCommandIfReadOnly("tieredlog reconciliation");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT peer_name, conninfo, node_name FROM tieredlog.peer"
							  " WHERE ($1::text IS NULL AND enabled) OR peer_name = $1 ORDER BY peer_name",
							  1, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list peers");
	if (peer_name && SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", peer_name)));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		peers = lappend(peers, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
		peers = lappend(peers, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2)));
		peers = lappend(peers, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3)));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	for (int p = 0; p < list_length(peers); p += 3)
	{
		Exchange	ex;
		const char *pname = list_nth(peers, p);

		memset(&ex, 0, sizeof(ex));
		ex.peer_name = pname;
		ex.peer_node = list_nth(peers, p + 2);
		ex.conn = tl_peer_connect(pname, list_nth(peers, p + 1), "tieredlog reconcile");
		PG_TRY();
		{
			/* the logs of both sides */
			logs = NIL;
			if (log_name)
				logs = list_make1(pstrdup(log_name));
			else
			{
				PGresult   *res = PQexec(ex.conn, "SELECT log_name FROM tieredlog.log ORDER BY log_name");

				ex.round_trips++;
				if (PQresultStatus(res) != PGRES_TUPLES_OK)
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("reconciliation with peer \"%s\" failed: %s", pname,
									pchomp(PQresultErrorMessage(res)))));
				for (int i = 0; i < PQntuples(res); i++)
					logs = lappend(logs, pstrdup(PQgetvalue(res, i, 0)));
				PQclear(res);
				if (SPI_connect() != SPI_OK_CONNECT)
					elog(ERROR, "SPI_connect failed");
				if (SPI_execute("SELECT log_name FROM tieredlog.log ORDER BY log_name", true, 0) != SPI_OK_SELECT)
					elog(ERROR, "could not list logs");
				for (uint64 i = 0; i < SPI_processed; i++)
				{
					char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
					bool		seen = false;

					foreach(lc, logs)
						seen |= strcmp(lfirst(lc), name) == 0;
					if (!seen)
					{
						MemoryContext old = MemoryContextSwitchTo(cxt);

						logs = lappend(logs, pstrdup(name));
						MemoryContextSwitchTo(old);
					}
				}
				SPI_finish();
			}
			foreach(lc, logs)
				reconcile_log_with(&ex, lfirst(lc), from_ts, to_ts, include_archive, emit, arg);
		}
		PG_CATCH();
		{
			PQfinish(ex.conn);
			PG_RE_THROW();
		}
		PG_END_TRY();
		PQfinish(ex.conn);
	}
}

/* A result as the 16 columns of reconcile() (and of tieredlog.reconcile_log). */
void
tl_reconcile_result_values(const TlReconcileResult *r, Datum *v, bool *n)
{
	int64		bytes = 0;

	for (int p = 0; p < 4; p++)
		bytes += r->phase_bytes[p];
	memset(n, 0, sizeof(bool) * TL_RECONCILE_NCOLS);
	v[0] = CStringGetTextDatum(r->log_name);
	v[1] = TimestampTzGetDatum(r->range_start);
	v[2] = Int64GetDatum(r->segment_id);
	n[2] = r->segment_id == 0;
	v[3] = CStringGetTextDatum(r->peer_name);
	v[4] = CStringGetTextDatum(r->status);
	v[5] = Int64GetDatum(r->records_sent);
	v[6] = Int64GetDatum(r->records_received);
	v[7] = Int64GetDatum(r->conflicts);
	v[8] = Int32GetDatum(r->leaves_differing);
	v[9] = Int64GetDatum(bytes);
	v[10] = Int32GetDatum(r->round_trips);
	for (int p = 0; p < 4; p++)
		v[11 + p] = Int64GetDatum(r->phase_bytes[p]);
	v[15] = Float8GetDatum(r->duration_ms);
}

/* Keep a segment's outcome in tieredlog.reconcile_log unless it was already in sync. */
void
tl_reconcile_log_result(const TlReconcileResult *r)
{
	Oid			types[TL_RECONCILE_NCOLS] = {TEXTOID, TIMESTAMPTZOID, INT8OID, TEXTOID, TEXTOID, INT8OID,
	INT8OID, INT8OID, INT4OID, INT8OID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, FLOAT8OID};
	Datum		v[TL_RECONCILE_NCOLS];
	bool		n[TL_RECONCILE_NCOLS];
	char		nulls[TL_RECONCILE_NCOLS];
	TlAsOwner	save;

	if (strcmp(r->status, "in_sync") == 0)
		return;
	tl_reconcile_result_values(r, v, n);
	for (int i = 0; i < TL_RECONCILE_NCOLS; i++)
		nulls[i] = n[i] ? 'n' : ' ';
	tl_become_owner(&save);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("INSERT INTO tieredlog.reconcile_log (log_name, range_start, segment_id,"
							  " peer_name, status, records_sent, records_received, conflicts, leaves_differing,"
							  " bytes, round_trips, detect_bytes, localize_bytes, reconcile_bytes, repair_bytes,"
							  " duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
							  " $14, $15, $16)", TL_RECONCILE_NCOLS, types, v, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a reconciliation");
	SPI_finish();
	tl_restore_user(&save);
}

typedef struct GapState
{
	bool		all_good;
	int			segments;
	int64		received;
	int64		sent;
} GapState;

static void
emit_for_gap(const TlReconcileResult *r, void *arg)
{
	GapState   *g = arg;

	g->segments++;
	g->received += r->records_received;
	g->sent += r->records_sent;
	if (strcmp(r->status, "in_sync") != 0 && strcmp(r->status, "repaired") != 0)
		g->all_good = false;
	tl_reconcile_log_result(r);
}

/*
 * The database worker's task: reconcile every log with a peer that has open gaps; close the gaps
 * detected before this run started once every segment is in sync (tier 2 included: a gap may
 * have hit archived segments). Returns a description of what it did.
 */
char *
tl_reconcile_close_gaps(const char *peer_name)
{
	GapState	g = {true, 0, 0, 0};
	TimestampTz started = GetCurrentTimestamp();
	Oid			types[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2] = {CStringGetTextDatum(peer_name), TimestampTzGetDatum(started)};
	TlAsOwner	save;

	tl_reconcile(NULL, peer_name, DT_NOBEGIN, DT_NOEND, true, emit_for_gap, &g);
	if (!g.all_good)
		return psprintf("gaps with peer \"%s\" stay open: some segments still differ", peer_name);
	tl_become_owner(&save);
	tl_spi_exec("UPDATE tieredlog.gap SET closed_at = now() WHERE peer_name = $1 AND closed_at IS NULL"
				" AND detected_at <= $2", 2, types, values, SPI_OK_UPDATE);
	tl_restore_user(&save);
	return psprintf("gaps with peer \"%s\" closed: %d segments compared, %lld records received, %lld sent",
					peer_name, g.segments, (long long) g.received, (long long) g.sent);
}
