/*-------------------------------------------------------------------------
 * digest_store.c
 *		Digest cells on disk (tieredlog.digest_cell): loading, inserting, folding; and the
 *		from-scratch recomputation of a segment's digest from its rows.
 *
 * The digest of a leaf is the sum of its visible cells, so a reader sees, under any snapshot,
 * exactly the digest of the records that snapshot sees: records and their cells commit together.
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
#include "access/visibilitymap.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "store/catalog.h"
#include "store/digest.h"
#include "store/page_scan.h"
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

/* The stored digest of a segment as `snapshot` sees it (NULL: the active snapshot). */
void
tl_digest_load_snapshot(int64 segment_id, Snapshot snapshot, TlSegmentDigest *out)
{
	Relation	rel = table_open(tl_catalog_digest_cell_relid(), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	memset(out, 0, sizeof(*out));
	scan = begin_cell_scan(rel, segment_id, snapshot ? snapshot : GetActiveSnapshot(), &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		add_cell(tup, RelationGetDescr(rel), out);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * How a segment's digest changed from snapshot `since` to `now`, without reading every cell of the
 * segment: the cells `now` sees and `since` does not are summed into *plus, those `since` sees and
 * `now` does not (cells a fold replaced) into *minus, so that digest(now) + minus = digest(since)
 * + plus. The heap of tieredlog.digest_cell is read page by page; with `lsn_floor` valid, a page
 * whose LSN is at or below it is skipped: the caller guarantees that every change made to the
 * segment's cells before that LSN belongs to a transaction that had ended before `since` was taken
 * (so both snapshots see it the same way), as a move does by waiting for the segment's writers and
 * holding the segment's fold lock. Pages the visibility map marks all-visible are skipped too.
 */
typedef struct CellChanges
{
	int64		segment_id;
	Snapshot	since;
	Snapshot	now;
	TupleDesc	desc;
	TlSegmentDigest *plus;
	TlSegmentDigest *minus;
} CellChanges;

static void
cell_change(HeapTuple tup, Buffer buf, void *arg)
{
	CellChanges *c = arg;
	bool		isnull;
	bool		in_now;
	bool		in_since;

	if (DatumGetInt64(heap_getattr(tup, Anum_cell_segment_id, c->desc, &isnull)) != c->segment_id)
		return;
	in_now = HeapTupleSatisfiesVisibility(tup, c->now, buf);
	in_since = HeapTupleSatisfiesVisibility(tup, c->since, buf);
	if (in_now && !in_since)
		(void) add_cell(tup, c->desc, c->plus);
	else if (in_since && !in_now)
		(void) add_cell(tup, c->desc, c->minus);
}

void
tl_digest_changes(int64 segment_id, Snapshot since, Snapshot now, XLogRecPtr lsn_floor,
				  TlSegmentDigest *plus, TlSegmentDigest *minus)
{
	Relation	rel = table_open(tl_catalog_digest_cell_relid(), AccessShareLock);
	CellChanges c = {segment_id, since, now, RelationGetDescr(rel), plus, minus};
	TlPageScanStats stats;

	tl_scan_changed_pages(rel, lsn_floor, cell_change, NULL, &c, &stats);
	table_close(rel, AccessShareLock);
}

void
tl_digest_load(int64 segment_id, TlSegmentDigest *out)
{
	tl_digest_load_snapshot(segment_id, NULL, out);
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
			simple_heap_delete(rel, &tup->t_self);
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
	TimestampTz range_start;
	int64		interval_us;
	TlSegmentDigest *out;
} RecomputeState;

static void
add_row_rid(HeapTuple row, TupleDesc desc, void *arg)
{
	RecomputeState *st = arg;
	bool		isnull;
	TimestampTz ts = DatumGetTimestampTz(heap_getattr(row, Anum_row_ts, desc, &isnull));
	pg_uuid_t  *rid = DatumGetUUIDP(heap_getattr(row, Anum_row_rid, desc, &isnull));
	uint64		hi;
	uint64		lo;
	int			leaf = tl_leaf_of(ts, st->range_start, st->interval_us);

	tl_rid_split((const TlRid *) rid->data, &hi, &lo);
	tl_digest_add(&st->out->leaves[leaf], hi, lo, 1, 0);
	tl_digest_add(&st->out->root, hi, lo, 1, 0);
}

/*
 * Recompute a segment's digest from its rows under `snap` (which must be the active snapshot when
 * the segment has archive frames), ignoring the stored cells. Rows from frames get their rid
 * recomputed from their content, so this also verifies the archive.
 */
void
tl_digest_recompute(const TlLog *log, const TlSegment *seg, Snapshot snap, TlSegmentDigest *out)
{
	RecomputeState st = {seg->range_start, log->interval_us, out};

	memset(out, 0, sizeof(*out));
	tl_segment_rows(log, seg, snap, DT_NOBEGIN, DT_NOEND, NULL, add_row_rid, &st);
}

/*
 * Make the stored digest of a segment equal its rows again, after rows changed behind
 * tieredlog's back (deleted or inserted by hand) and reconciliation repaired them. Rows and
 * cells are read under one snapshot (a transaction writes both or neither), and the difference
 * is added as one correction cell per leaf, so cells that concurrent appenders commit meanwhile
 * stay valid. Returns how many leaves were corrected.
 */
int
tl_digest_correct(const TlLog *log, const TlSegment *seg)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	TlSegmentDigest *fresh = palloc0(sizeof(TlSegmentDigest));
	TlSegmentDigest *stored = palloc0(sizeof(TlSegmentDigest));
	Relation	rel;
	CatalogIndexState ind;
	int			corrected = 0;

	tl_digest_recompute(log, seg, snap, fresh);
	tl_digest_load_snapshot(seg->segment_id, snap, stored);
	/* rows this transaction wrote are visible; their cells come at commit */
	tl_digest_add_pending(seg->segment_id, stored);
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
	pfree(fresh);
	pfree(stored);
	return corrected;
}
