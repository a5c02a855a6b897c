/*-------------------------------------------------------------------------
 * digest.h
 *		Segment digests: (count, sum of rids mod 2^128) for the segment and for 256 time leaves.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_DIGEST_H
#define TIEREDLOG_DIGEST_H

#include "postgres.h"
#include "access/xlogdefs.h"
#include "catalog/indexing.h"
#include "utils/snapshot.h"

#include "store/catalog.h"
#include "core/record.h"

#define TL_LEAVES			256

typedef struct TlDigest
{
	int64		n;
	uint64		sum_hi;
	uint64		sum_lo;
	int64		bytes;
} TlDigest;

typedef struct TlSegmentDigest
{
	TlDigest	root;
	TlDigest	leaves[TL_LEAVES];
} TlSegmentDigest;

static inline void
tl_digest_add(TlDigest *d, uint64 hi, uint64 lo, int64 n, int64 bytes)
{
	uint64		new_lo = d->sum_lo + lo;

	d->sum_hi += hi + (new_lo < d->sum_lo ? 1 : 0);
	d->sum_lo = new_lo;
	d->n += n;
	d->bytes += bytes;
}

static inline bool
tl_digest_equal(const TlDigest *a, const TlDigest *b)
{
	return a->n == b->n && a->sum_hi == b->sum_hi && a->sum_lo == b->sum_lo;
}

extern char *tl_digest_to_text(const TlDigest *d);
extern int	tl_leaf_of(TimestampTz ts, TimestampTz range_start, int64 interval_us);

/* transactional maintenance (digest.c) */
extern void tl_digest_note_append(int64 segment_id, int leaf, const TlRecord *rec);
extern void tl_digest_note_appends(int64 segment_id, int leaf, const TlDigest *d);
extern void tl_digest_add_record(TlDigest *d, const TlRecord *rec);
extern void tl_digest_note_remove(int64 segment_id, int leaf, const TlRid *rid, int64 bytes);
extern void tl_digest_register_callbacks(void);
extern void tl_digest_add_pending(int64 segment_id, TlSegmentDigest *out);

/* a segment's digest as a reader gets it, trusted cells, the rebuild after a crash (digest_trust.c) */
extern void tl_digest_load(int64 segment_id, TlSegmentDigest *out);
extern void tl_digest_load_snapshot(int64 segment_id, Snapshot snapshot, TlSegmentDigest *out);
extern bool tl_digest_intact(Snapshot snapshot);
extern void tl_digest_require_cells(const TlLog *log, const TlSegment *seg);
extern void tl_digest_note_rebuilt(int64 segment_id);
extern char *tl_digest_rebuild_cells(int budget_ms);

/* cells on disk, recomputing from rows, compacting (digest_store.c) */
extern void tl_digest_load_cells(int64 segment_id, Snapshot snapshot, TlSegmentDigest *out);
extern void tl_digest_changes(int64 segment_id, Snapshot since, Snapshot now,
							  TlSegmentDigest *plus, TlSegmentDigest *minus);
extern void tl_cell_insert(Relation rel, CatalogIndexState ind, int64 segment_id, int leaf,
						   const TlDigest *d);
extern void tl_digest_recompute(const TlLog *log, const TlSegment *seg, Snapshot snap,
								TlSegmentDigest *out);
extern void tl_digest_from_rows(const TlLog *log, const TlSegment *seg, Snapshot snap,
								TlSegmentDigest *out);
extern int64 tl_digest_compact(int64 segment_id, bool wait);
extern int	tl_digest_correct(const TlLog *log, const TlSegment *seg, bool wait);

#endif							/* TIEREDLOG_DIGEST_H */
