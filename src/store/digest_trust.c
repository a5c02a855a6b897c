/*-------------------------------------------------------------------------
 * digest_trust.c
 *		Whether a segment's digest cells add up to its rows, the digest as a reader gets it, and
 *		the rebuild of the cells after a crash.
 *
 * The cells (tieredlog.digest_cell) are unlogged: an append writes no WAL for them, and logical
 * decoding has none to read. After a crash, a restore from a base backup or a standby's promotion
 * there are none, while the rows are all there. So:
 * - tieredlog.digest_intact has a row while every segment's cells add up to its rows; it is
 *   unlogged too, so it is gone exactly when the cells are;
 * - without it, the database worker rebuilds the cells segment by segment (tl_digest_correct
 *   adds what the rows have and the cells lack, under the segment's fold lock) and lists each
 *   segment done in tieredlog.digest_rebuilt; when none is left it adds the digest_intact row;
 * - meanwhile a digest is computed from the rows (tl_digest_from_rows) unless its segment is
 *   listed. The result is the same digest, only slower to get.
 * A row, a cell and a listing are all read under the caller's snapshot, and a rebuild commits its
 * cells with its listing, so a reader never mixes the two ways.
 *
 * A transaction prepared before the crash may hold rows whose cells are gone and that no snapshot
 * sees yet: nothing is rebuilt while this database has prepared transactions.
 *
 * On a standby (in recovery) unlogged tables cannot be read: digests come from the rows.
 *
 * Locking: AccessShareLock on digest_intact and digest_rebuilt to read them, RowExclusiveLock to
 * write them; a rebuild takes the segment's fold lock (TL_LOCK_DIGEST_COMPACT) conditionally.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "store/catalog.h"
#include "store/digest.h"
#include "store/rowinsert.h"
#include "store/upkeep_store.h"
#include "core/tieredlog.h"
#include "core/xact.h"

/* Does `relid` have a row (with `segment_id` through `indexid`, when that is valid)? */
static bool
has_row(Oid relid, Oid indexid, int64 segment_id, Snapshot snapshot)
{
	Relation	rel = table_open(relid, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(segment_id));
	scan = systable_beginscan(rel, indexid, OidIsValid(indexid), snapshot,
							  OidIsValid(indexid) ? 1 : 0, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Do all segments' cells add up to their rows, as `snapshot` sees it? */
bool
tl_digest_intact(Snapshot snapshot)
{
	Oid			intact = get_relname_relid("digest_intact", get_namespace_oid(TL_SCHEMA, false));

	/* before ALTER EXTENSION ... UPDATE TO '1.1' the cells are logged, and always add up */
	if (!OidIsValid(intact))
		return true;
	if (RecoveryInProgress())
		return false;
	return has_row(intact, InvalidOid, 0, snapshot);
}

static bool
segment_rebuilt(int64 segment_id, Snapshot snapshot)
{
	return has_row(tl_catalog_relid("digest_rebuilt"), tl_catalog_relid("digest_rebuilt_pkey"),
				   segment_id, snapshot);
}

/* Do this segment's cells add up to its rows, as `snapshot` sees it? */
static bool
cells_trusted(int64 segment_id, Snapshot snapshot)
{
	return tl_digest_intact(snapshot) || (!RecoveryInProgress() && segment_rebuilt(segment_id, snapshot));
}

/*
 * The digest of a segment as `snapshot` sees it (NULL: the active snapshot), without this
 * transaction's own appends: from its cells, or from its rows while the cells are not trusted.
 */
void
tl_digest_load_snapshot(int64 segment_id, Snapshot snapshot, TlSegmentDigest *out)
{
	Snapshot	snap = snapshot ? snapshot : GetActiveSnapshot();
	TlSegment	seg;
	TlLog		log;

	if (cells_trusted(segment_id, snap))
	{
		tl_digest_load_cells(segment_id, snap, out);
		return;
	}
	memset(out, 0, sizeof(*out));
	if (tl_catalog_get_segment(segment_id, &seg) && tl_catalog_find_log_by_id(seg.log_id, &log))
		tl_digest_from_rows(&log, &seg, snap, out);
}

void
tl_digest_load(int64 segment_id, TlSegmentDigest *out)
{
	tl_digest_load_snapshot(segment_id, NULL, out);
}

/*
 * Before relying on the cells of a segment as they change (a move reads only the changed ones):
 * rebuild them now if they are not trusted, waiting for the segment's fold lock.
 */
void
tl_digest_require_cells(const TlLog *log, const TlSegment *seg)
{
	int			prepared;

	if (cells_trusted(seg->segment_id, GetLatestSnapshot()))
		return;
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("digest cells cannot be rebuilt during recovery")));
	if ((prepared = tl_prepared_xacts_here()) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the digest cells of segment %lld are not rebuilt yet after a restart",
						(long long) seg->segment_id),
				 errdetail("%d prepared transactions may hold rows of the segment whose cells were lost.",
						   prepared),
				 errhint("Commit or roll back the prepared transactions, then try again.")));
	(void) tl_digest_correct(log, seg, true);
	CommandCounterIncrement();
}

/* Insert a row of one column into a table of tieredlog's, with its index entries. */
static void
insert_one(const char *table, Datum value)
{
	Relation	rel = table_open(tl_catalog_relid(table), RowExclusiveLock);
	CatalogIndexState ind = CatalogOpenIndexes(rel);
	bool		isnull = false;
	HeapTuple	tup = heap_form_tuple(RelationGetDescr(rel), &value, &isnull);

	tl_tuple_insert(rel, ind, tup, 0, NULL);
	heap_freetuple(tup);
	CatalogCloseIndexes(ind);
	table_close(rel, RowExclusiveLock);
}

/* A rebuild of this segment's cells is committing with this transaction: list it. */
void
tl_digest_note_rebuilt(int64 segment_id)
{
	if (tl_digest_intact(GetLatestSnapshot()) || segment_rebuilt(segment_id, GetLatestSnapshot()))
		return;
	insert_one("digest_rebuilt", Int64GetDatum(segment_id));
}

/* Every segment is rebuilt: one row in digest_intact, and the list emptied, in one commit. */
static void
mark_intact(void)
{
	Relation	rel = table_open(tl_catalog_relid("digest_rebuilt"), RowExclusiveLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, GetLatestSnapshot(), 0, NULL);
	HeapTuple	tup;

	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		(void) tl_tuple_delete(rel, &tup->t_self, true);	/* a concurrent mark_intact emptied it too */
	systable_endscan(scan);
	table_close(rel, RowExclusiveLock);
	insert_one("digest_intact", BoolGetDatum(true));
}

typedef struct RebuildOne
{
	const TlLog *log;
	const TlSegment *seg;
	int			corrected;
} RebuildOne;

static void
rebuild_one(void *arg)
{
	RebuildOne *r = arg;

	r->corrected = tl_digest_correct(r->log, r->seg, false);
}

/*
 * The database worker's rebuild, in its task's transaction: segments not yet rebuilt, one after
 * the other, until `budget_ms` has passed (what is left waits for the next cycle); a segment
 * whose fold lock is taken (a move, a fold) is left for the next cycle too. Nothing is done while
 * this database has prepared transactions. Returns what it did, for the worker's log (NULL: the
 * cells are intact).
 */
char *
tl_digest_rebuild_cells(int budget_ms)
{
	TimestampTz start = GetCurrentTimestamp();
	List	   *segments;
	ListCell   *lc;
	int			rebuilt = 0;
	int			left = 0;
	int			prepared;

	if (RecoveryInProgress() || tl_digest_intact(GetLatestSnapshot()))
		return NULL;
	if ((prepared = tl_prepared_xacts_here()) > 0)
		return psprintf("digest cells not rebuilt: %d prepared transactions may hold rows", prepared);
	segments = tl_catalog_all_segments(GetLatestSnapshot());
	foreach(lc, segments)
	{
		TlSegment  *seg = lfirst(lc);
		TlLog		log;
		RebuildOne	one = {&log, seg, -1};
		char	   *error = NULL;

		if (segment_rebuilt(seg->segment_id, GetLatestSnapshot()))
			continue;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), budget_ms) ||
			!tl_catalog_find_log_by_id(seg->log_id, &log))
		{
			left++;
			continue;
		}
		/* one segment that cannot be read (its error is logged) does not hold up the others */
		if (!tl_subxact_run(rebuild_one, &one, &error))
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("digest cells of segment %lld could not be rebuilt: %s",
							(long long) seg->segment_id, error)));
		if (one.corrected < 0)
		{
			left++;
			continue;
		}
		CommandCounterIncrement();
		rebuilt++;
	}
	if (left > 0)
		return psprintf("digest cells of %d segments rebuilt, %d left", rebuilt, left);
	mark_intact();
	return psprintf("digest cells of %d segments rebuilt; all intact", rebuilt);
}
