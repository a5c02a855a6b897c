/*-------------------------------------------------------------------------
 * digest.c
 *		Transactional maintenance of segment digests.
 *
 * Each append adds its rid to a backend-local accumulator keyed by (segment, leaf,
 * subtransaction). A subtransaction that aborts drops its entries, one that commits hands them to
 * its parent; just before the top transaction commits (or prepares) the accumulator is written as
 * one new digest cell per touched leaf, in the same transaction as the records. So a rolled-back
 * append leaves no trace, concurrent appenders never update a shared row (no hot row, no lock
 * waits), and a transaction of many appends writes only a few cells. Cells are folded now and
 * then (tl_digest_compact) by whichever committing backend finds the segment's fold lock free.
 *
 * Locking: none on the append path; at commit RowExclusiveLock on tieredlog.digest_cell, and for
 * a fold the segment's compaction lock, taken conditionally.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "store/catalog.h"
#include "store/digest.h"
#include "core/tieredlog.h"

/* A committing backend tries to fold the segments it writes once every this many commits. */
#define TL_FOLD_EVERY		64

typedef struct PendingKey
{
	int64		segment_id;
	int32		leaf;
	SubTransactionId subxid;
} PendingKey;

typedef struct PendingEntry
{
	PendingKey	key;
	TlDigest	delta;
} PendingEntry;

static HTAB *pending = NULL;	/* lives in TopTransactionContext */
static uint64 commits_with_cells = 0;

char *
tl_digest_to_text(const TlDigest *d)
{
	return psprintf("%lld:%016llx%016llx", (long long) d->n,
					(unsigned long long) d->sum_hi, (unsigned long long) d->sum_lo);
}

/* The leaf of a timestamp inside its segment window (clamped, so corrupt rows stay countable). */
int
tl_leaf_of(TimestampTz ts, TimestampTz range_start, int64 interval_us)
{
	int64		offset = ts - range_start;
	int64		leaf;

	if (interval_us <= 0)
		elog(ERROR, "segment interval of %lld us is not positive", (long long) interval_us);
	if (offset < 0)
		return 0;
	leaf = (int64) (((__int128) offset * TL_LEAVES) / interval_us);
	return (int) Min(leaf, TL_LEAVES - 1);
}

static HTAB *
pending_table(void)
{
	HASHCTL		ctl;

	if (pending != NULL)
		return pending;
	ctl.keysize = sizeof(PendingKey);
	ctl.entrysize = sizeof(PendingEntry);
	ctl.hcxt = TopTransactionContext;
	pending = hash_create("tieredlog pending digests", 64, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return pending;
}

static void
pending_add(int64 segment_id, int leaf, SubTransactionId subxid, const TlDigest *d)
{
	PendingKey	key;
	PendingEntry *e;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.segment_id = segment_id;
	key.leaf = leaf;
	key.subxid = subxid;
	e = hash_search(pending_table(), &key, HASH_ENTER, &found);
	if (!found)
		memset(&e->delta, 0, sizeof(e->delta));
	tl_digest_add(&e->delta, d->sum_hi, d->sum_lo, d->n, d->bytes);
}

/* Add this transaction's not yet written deltas for a segment to *out (they become cells at commit). */
void
tl_digest_add_pending(int64 segment_id, TlSegmentDigest *out)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *e;

	if (pending == NULL)
		return;
	hash_seq_init(&seq, pending);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.segment_id != segment_id)
			continue;
		tl_digest_add(&out->leaves[e->key.leaf], e->delta.sum_hi, e->delta.sum_lo, e->delta.n, e->delta.bytes);
		tl_digest_add(&out->root, e->delta.sum_hi, e->delta.sum_lo, e->delta.n, e->delta.bytes);
	}
}

/* Called when a record is removed from its segment relation (a damaged copy being replaced). */
void
tl_digest_note_remove(int64 segment_id, int leaf, const TlRid *rid, int64 bytes)
{
	TlDigest	d = {0};
	uint64		hi;
	uint64		lo;

	tl_rid_split(rid, &hi, &lo);
	/* minus the rid, mod 2^128 */
	tl_digest_add(&d, ~hi + (lo == 0 ? 1 : 0), ~lo + 1, -1, -bytes);
	pending_add(segment_id, leaf, GetCurrentSubTransactionId(), &d);
}

/* Called for every record written, after it is in its segment relation. */
void
tl_digest_note_append(int64 segment_id, int leaf, const TlRecord *rec)
{
	TlDigest	d = {0};

	tl_digest_add_record(&d, rec);
	pending_add(segment_id, leaf, GetCurrentSubTransactionId(), &d);
}

/* Add one record (its rid and logical bytes) to a digest. */
void
tl_digest_add_record(TlDigest *d, const TlRecord *rec)
{
	uint64		hi;
	uint64		lo;

	tl_rid_split(&rec->rid, &hi, &lo);
	tl_digest_add(d, hi, lo, 1, rec->logical_bytes);
}

/*
 * The same for records already summed into `d` (tl_digest_add per record), all written to `leaf`
 * of the segment in this subtransaction: one pending entry update for the lot, as a batch append
 * notes a run of records of one leaf.
 */
void
tl_digest_note_appends(int64 segment_id, int leaf, const TlDigest *d)
{
	if (d->n != 0)
		pending_add(segment_id, leaf, GetCurrentSubTransactionId(), d);
}

/* Subtransaction end: drop (abort) or hand to the parent (commit) the entries of `subxid`. */
static void
pending_close_subxact(SubTransactionId subxid, SubTransactionId parent, bool commit)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *e;
	List	   *moved = NIL;
	ListCell   *lc;

	if (pending == NULL)
		return;
	hash_seq_init(&seq, pending);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.subxid != subxid)
			continue;
		if (commit)
		{
			PendingEntry *copy = MemoryContextAlloc(TopTransactionContext, sizeof(PendingEntry));

			*copy = *e;
			moved = lappend(moved, copy);
		}
		hash_search(pending, &e->key, HASH_REMOVE, NULL);
	}
	foreach(lc, moved)
	{
		PendingEntry *m = lfirst(lc);

		pending_add(m->key.segment_id, m->key.leaf, parent, &m->delta);
	}
}

static int
cmp_pending(const void *a, const void *b)
{
	const PendingEntry *x = *(PendingEntry *const *) a;
	const PendingEntry *y = *(PendingEntry *const *) b;

	if (x->key.segment_id != y->key.segment_id)
		return x->key.segment_id < y->key.segment_id ? -1 : 1;
	return x->key.leaf - y->key.leaf;
}

/* Gather pending entries sorted by (segment, leaf). */
static PendingEntry **
pending_sorted(long *count)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *e;
	long		n = hash_get_num_entries(pending);
	PendingEntry **all = palloc(sizeof(PendingEntry *) * Max(n, 1));
	long		i = 0;

	hash_seq_init(&seq, pending);
	while ((e = hash_seq_search(&seq)) != NULL)
		all[i++] = e;
	qsort(all, n, sizeof(PendingEntry *), cmp_pending);
	*count = n;
	return all;
}

/* Fold the segments this commit writes, now and then, when nobody else is folding them. */
static void
maybe_fold(PendingEntry **all, long n)
{
	if (++commits_with_cells % TL_FOLD_EVERY != 0)
		return;
	for (long i = 0; i < n; i++)
		if (i == 0 || all[i]->key.segment_id != all[i - 1]->key.segment_id)
			(void) tl_digest_compact(all[i]->key.segment_id, false);
}

/* Write one cell per (segment, leaf) touched by this transaction. */
static void
pending_flush(void)
{
	Relation	rel;
	CatalogIndexState ind;
	PendingEntry **all;
	long		n;

	if (pending == NULL || hash_get_num_entries(pending) == 0)
		return;
	all = pending_sorted(&n);
	maybe_fold(all, n);
	rel = table_open(tl_catalog_digest_cell_relid(), RowExclusiveLock);
	ind = CatalogOpenIndexes(rel);
	for (long i = 0; i < n; i++)
		if (all[i]->delta.n != 0 || all[i]->delta.sum_hi != 0 || all[i]->delta.sum_lo != 0)
			tl_cell_insert(rel, ind, all[i]->key.segment_id, all[i]->key.leaf, &all[i]->delta);
	CatalogCloseIndexes(ind);
	table_close(rel, RowExclusiveLock);
	pfree(all);
	hash_destroy(pending);
	pending = NULL;
}

static void
digest_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			pending_flush();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			pending = NULL;		/* its memory goes with TopTransactionContext */
			break;
		default:
			break;
	}
}

static void
digest_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		pending_close_subxact(mySubid, parentSubid, false);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		pending_close_subxact(mySubid, parentSubid, true);
}

void
tl_digest_register_callbacks(void)
{
	RegisterXactCallback(digest_xact_callback, NULL);
	RegisterSubXactCallback(digest_subxact_callback, NULL);
}
