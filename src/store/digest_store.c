/*-------------------------------------------------------------------------
 * digest_store.c
 *		Digest cells on disk (tieredlog.digest_cell): loading, inserting, folding; and the
 *		from-scratch recomputation of a segment's digest from its rows.
 *
 * The digest of a leaf is the sum of its visible cells, so a reader sees, under any snapshot,
 * exactly the digest of the records that snapshot sees: records and their cells commit together.
 * The cells are unlogged: after a crash there are none, and digest_trust.c decides whether the
 * cells or the rows give a segment's digest (tl_digest_load_snapshot is there).
 *
 * Locking: loading takes AccessShareLock on digest_cell; inserting RowExclusiveLock. Folding takes
 * the segment's compaction lock (TL_LOCK_DIGEST_COMPACT) first, then RowExclusiveLock, and reads
 * with a snapshot taken after the lock, so two folds never overlap and appenders are never blocked
 * (they only insert new cells, which a fold does not see and leaves alone).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "store/catalog.h"
#include "store/digest.h"
#include "store/rowinsert.h"
#include "store/segrows.h"
#include "core/tieredlog.h"

enum
{
	Anum_cell_segment_id = 1, Anum_cell_leaf, Anum_cell_n, Anum_cell_sum_hi, Anum_cell_sum_lo,
	Anum_cell_bytes, Natts_cell = Anum_cell_bytes
};


void
tl_cell_insert(Relation rel, CatalogIndexState ind, int64 segment_id, int leaf, const TlDigest *d)
{
	Datum		values[Natts_cell];
	bool		nulls[Natts_cell] = {0};
	HeapTuple	tup;

	values[Anum_cell_segment_id - 1] = Int64GetDatum(segment_id);
	values[Anum_cell_leaf - 1] = Int16GetDatum((int16) leaf);
	values[Anum_cell_n - 1] = Int64GetDatum(d->n);
	values[Anum_cell_sum_hi - 1] = Int64GetDatum((int64) d->sum_hi);
	values[Anum_cell_sum_lo - 1] = Int64GetDatum((int64) d->sum_lo);
	values[Anum_cell_bytes - 1] = Int64GetDatum(d->bytes);
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	/* this node's bookkeeping: not decoded (store/rowinsert.c says why) */
	tl_tuple_insert(rel, ind, tup, HEAP_INSERT_NO_LOGICAL, NULL);
	heap_freetuple(tup);
}

/* Add one cell tuple into `out`; returns the leaf. */
static int
add_cell(HeapTuple tup, TupleDesc desc, TlSegmentDigest *out)
{
	bool		isnull;
	int			leaf = DatumGetInt16(heap_getattr(tup, Anum_cell_leaf, desc, &isnull));
	int64		n = DatumGetInt64(heap_getattr(tup, Anum_cell_n, desc, &isnull));
	uint64		hi = (uint64) DatumGetInt64(heap_getattr(tup, Anum_cell_sum_hi, desc, &isnull));
	uint64		lo = (uint64) DatumGetInt64(heap_getattr(tup, Anum_cell_sum_lo, desc, &isnull));
	int64		bytes = DatumGetInt64(heap_getattr(tup, Anum_cell_bytes, desc, &isnull));

	if (leaf < 0 || leaf >= TL_LEAVES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("digest cell of segment %lld has invalid leaf %d",
						(long long) DatumGetInt64(heap_getattr(tup, Anum_cell_segment_id, desc, &isnull)),
						leaf)));
	tl_digest_add(&out->leaves[leaf], hi, lo, n, bytes);
	tl_digest_add(&out->root, hi, lo, n, bytes);
	return leaf;
}

static SysScanDesc
begin_cell_scan(Relation rel, int64 segment_id, Snapshot snapshot, ScanKeyData *key)
{
	ScanKeyInit(key, Anum_cell_segment_id, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(segment_id));
	return systable_beginscan(rel, tl_catalog_digest_cell_index(), true, snapshot, 1, key);
}

/*
 * The sum of a segment's cells as `snapshot` sees them: its digest when the cells are trusted
 * (digest_trust.c), otherwise what the cells written since the last crash add up to.
 */
void
tl_digest_load_cells(int64 segment_id, Snapshot snapshot, TlSegmentDigest *out)
{
	Relation	rel = table_open(tl_catalog_digest_cell_relid(), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	memset(out, 0, sizeof(*out));
	scan = begin_cell_scan(rel, segment_id, snapshot, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		add_cell(tup, RelationGetDescr(rel), out);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * How a segment's digest changed from snapshot `since` to `now`, without summing every cell of the
 * segment twice: the cells `now` sees and `since` does not are summed into *plus, those `since`
 * sees and `now` does not (cells a fold replaced) into *minus, so that digest(now) + minus =
 * digest(since) + plus. The segment's cells are read once through the index, whatever their
 * visibility, and each is checked against both snapshots. A move calls this under the segment's
 * fold lock, after folding the cells once, so the cells read are those written since.
 */
void
tl_digest_changes(int64 segment_id, Snapshot since, Snapshot now, TlSegmentDigest *plus,
				  TlSegmentDigest *minus)
{
	Relation	rel = table_open(tl_catalog_digest_cell_relid(), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	ScanKeyData key;
	SysScanDesc scan = begin_cell_scan(rel, segment_id, SnapshotAny, &key);
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		in_now = table_tuple_satisfies_snapshot(rel, scan->slot, now);
		bool		in_since = table_tuple_satisfies_snapshot(rel, scan->slot, since);

		if (in_now && !in_since)
			(void) add_cell(tup, desc, plus);
		else if (in_since && !in_now)
			(void) add_cell(tup, desc, minus);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * Fold all committed cells of a segment into one cell per leaf. Returns how many cells were
 * removed, or -1 when another fold holds the segment and wait is false.
 */
int64
tl_digest_compact(int64 segment_id, bool wait)
{
	Relation	rel;
	CatalogIndexState ind;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	TlSegmentDigest *sum = palloc0(sizeof(TlSegmentDigest));
	int			cells_per_leaf[TL_LEAVES] = {0};
	int64		removed = 0;

	if (wait)
		tl_lock_object(TL_LOCK_DIGEST_COMPACT, segment_id);
	else if (!tl_try_lock_object(TL_LOCK_DIGEST_COMPACT, segment_id))
		return -1;

	rel = table_open(tl_catalog_digest_cell_relid(), RowExclusiveLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = begin_cell_scan(rel, segment_id, snap, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		cells_per_leaf[add_cell(tup, RelationGetDescr(rel), sum)]++;
	}
	systable_endscan(scan);

	/* Second pass: delete the cells of leaves that have more than one. */
	scan = begin_cell_scan(rel, segment_id, snap, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		int			leaf = DatumGetInt16(heap_getattr(tup, Anum_cell_leaf, RelationGetDescr(rel), &isnull));

		if (cells_per_leaf[leaf] > 1)
		{
			(void) tl_tuple_delete(rel, &tup->t_self, false);	/* the compaction lock is held */
			removed++;
		}
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);

	ind = CatalogOpenIndexes(rel);
	for (int leaf = 0; leaf < TL_LEAVES; leaf++)
		if (cells_per_leaf[leaf] > 1)
			tl_cell_insert(rel, ind, segment_id, leaf, &sum->leaves[leaf]);
	CatalogCloseIndexes(ind);
	table_close(rel, RowExclusiveLock);
	pfree(sum);
	return removed;
}

typedef struct RecomputeState
{
	const char *log_name;
	TimestampTz range_start;
	int64		interval_us;
	bool		with_bytes;		/* also each record's logical bytes (its encoding is built) */
	bool		skip_own;		/* leave out rows this transaction wrote (their cells come at commit) */
	MemoryContext row_cxt;		/* reset after each row */
	TlSegmentDigest *out;
} RecomputeState;

static void
add_row_rid(HeapTuple row, TupleDesc desc, void *arg)
{
	RecomputeState *st = arg;
	bool		isnull;
	TimestampTz ts;
	pg_uuid_t  *rid;
	uint64		hi;
	uint64		lo;
	int64		bytes = 0;
	int			leaf;

	/* rows decoded from archive frames are formed tuples: no header of a stored row to read */
	if (st->skip_own && ItemPointerIsValid(&row->t_self) &&
		TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(row->t_data)))
		return;
	ts = DatumGetTimestampTz(heap_getattr(row, Anum_row_ts, desc, &isnull));
	rid = DatumGetUUIDP(heap_getattr(row, Anum_row_rid, desc, &isnull));
	leaf = tl_leaf_of(ts, st->range_start, st->interval_us);
	tl_rid_split((const TlRid *) rid->data, &hi, &lo);
	if (st->with_bytes)
	{
		MemoryContext old = MemoryContextSwitchTo(st->row_cxt);
		TlRecord	rec;
		TlRid		stored;

		(void) tl_row_matches_rid(row, desc, st->log_name, &rec, &stored);
		bytes = rec.logical_bytes;
		MemoryContextSwitchTo(old);
		MemoryContextReset(st->row_cxt);
	}
	tl_digest_add(&st->out->leaves[leaf], hi, lo, 1, bytes);
	tl_digest_add(&st->out->root, hi, lo, 1, bytes);
}

static void
recompute(const TlLog *log, const TlSegment *seg, Snapshot snap, bool with_bytes, bool skip_own,
		  TlSegmentDigest *out)
{
	RecomputeState st = {log->name, seg->range_start, log->interval_us, with_bytes, skip_own, NULL, out};

	memset(out, 0, sizeof(*out));
	if (with_bytes)
		st.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tieredlog digest rows",
										   ALLOCSET_DEFAULT_SIZES);
	PushActiveSnapshot(snap);
	tl_segment_rows(log, seg, snap, DT_NOBEGIN, DT_NOEND, NULL, add_row_rid, &st);
	PopActiveSnapshot();
	if (with_bytes)
		MemoryContextDelete(st.row_cxt);
}

/*
 * Recompute a segment's digest (counts and rids) from its rows under `snap`, ignoring the stored
 * cells. Rows from frames get their rid recomputed from their content, so this also verifies the
 * archive.
 */
void
tl_digest_recompute(const TlLog *log, const TlSegment *seg, Snapshot snap, TlSegmentDigest *out)
{
	recompute(log, seg, snap, false, false, out);
}

/*
 * The digest of a segment as `snap` sees its rows, bytes included, as its cells would give it:
 * without the rows this transaction wrote (cells are written at commit). For a segment whose
 * cells are not trusted (digest_trust.c).
 */
void
tl_digest_from_rows(const TlLog *log, const TlSegment *seg, Snapshot snap, TlSegmentDigest *out)
{
	recompute(log, seg, snap, true, true, out);
}

/*
 * Make the stored digest of a segment equal its rows again: after rows changed behind
 * tieredlog's back (deleted or inserted by hand) and reconciliation repaired them, or after a
 * crash left no cells (digest_trust.c). Under the segment's fold lock (waited for only when
 * `wait`; -1 is returned when another holds it), rows and cells are read under one snapshot
 * taken after the lock (a transaction writes both or neither), and the difference is added as
 * one correction cell per leaf, so cells that concurrent appenders commit meanwhile stay valid,
 * and two corrections never both add the same difference. Returns how many leaves were corrected.
 */
int
tl_digest_correct(const TlLog *log, const TlSegment *seg, bool wait)
{
	Snapshot	snap;
	TlSegmentDigest *fresh = palloc0(sizeof(TlSegmentDigest));
	TlSegmentDigest *stored = palloc0(sizeof(TlSegmentDigest));
	Relation	rel;
	CatalogIndexState ind;
	int			corrected = 0;
	bool		with_bytes;

	if (wait)
		tl_lock_object(TL_LOCK_DIGEST_COMPACT, seg->segment_id);
	else if (!tl_try_lock_object(TL_LOCK_DIGEST_COMPACT, seg->segment_id))
		return -1;
	snap = RegisterSnapshot(GetLatestSnapshot());
	/* a rebuild after a crash corrects every leaf: its bytes are read at once */
	with_bytes = !tl_digest_intact(snap);
	recompute(log, seg, snap, with_bytes, false, fresh);
	tl_digest_load_cells(seg->segment_id, snap, stored);
	/* rows this transaction wrote are visible; their cells come at commit */
	tl_digest_add_pending(seg->segment_id, stored);
	/* otherwise the records' bytes are read only when a correction is due (each is encoded) */
	for (int leaf = 0; leaf < TL_LEAVES && !with_bytes; leaf++)
		if (!tl_digest_equal(&fresh->leaves[leaf], &stored->leaves[leaf]))
		{
			recompute(log, seg, snap, true, false, fresh);
			break;
		}
	UnregisterSnapshot(snap);
	rel = table_open(tl_catalog_digest_cell_relid(), RowExclusiveLock);
	ind = CatalogOpenIndexes(rel);
	for (int leaf = 0; leaf < TL_LEAVES; leaf++)
	{
		TlDigest   *f = &fresh->leaves[leaf];
		TlDigest   *s = &stored->leaves[leaf];
		TlDigest	delta;

		if (tl_digest_equal(f, s))
			continue;
		delta.n = f->n - s->n;
		delta.sum_lo = f->sum_lo - s->sum_lo;
		delta.sum_hi = f->sum_hi - s->sum_hi - (f->sum_lo < s->sum_lo ? 1 : 0);
		delta.bytes = f->bytes - s->bytes;
		tl_cell_insert(rel, ind, seg->segment_id, leaf, &delta);
		corrected++;
	}
	CatalogCloseIndexes(ind);
	table_close(rel, RowExclusiveLock);
	tl_digest_note_rebuilt(seg->segment_id);
	pfree(fresh);
	pfree(stored);
	return corrected;
}
