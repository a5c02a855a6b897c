/*-------------------------------------------------------------------------
 * segrows.h
 *		Every row of a segment, wherever it is stored (its row relation, its archive frames).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SEGROWS_H
#define TIEREDLOG_SEGROWS_H

#include "postgres.h"
#include "access/htup.h"
#include "access/skey.h"
#include "access/tupdesc.h"
#include "utils/rel.h"
#include "utils/snapshot.h"
#include "utils/tuplesort.h"

#include "store/archive.h"
#include "store/catalog.h"
#include "core/record.h"

/*
 * Columns of a segment row (catalog.c creates relations with them in this order). Relations this
 * build creates have an eighth, gen (the generation of the row's seq, below); those of earlier
 * builds have seven. Frames and the rows rebuilt from them have the seven.
 */
enum
{
	Anum_row_ts = 1, Anum_row_key, Anum_row_payload, Anum_row_source, Anum_row_origin,
	Anum_row_seq, Anum_row_rid, Natts_row = Anum_row_rid,
	Anum_row_gen = Natts_row + 1, TL_ROW_MAX_NATTS = Anum_row_gen
};

/*
 * A row's generation: which part of the segment's index it goes into. The index is led by it,
 * (gen, key, origin, ts, seq), so that new entries go into the newest generation's part only and
 * not onto every key's last leaf page across the whole segment (each of which a checkpoint makes
 * the next append write whole into the WAL). It is a function of the record's identity and the
 * segment: (seq - the segment's gen_base) in steps of 2^TL_SEG_GEN_SHIFT, 0 below gen_base, at
 * most TL_SEG_GEN_MAX; so the same record always has the same generation, and the unique index
 * still refuses a second copy of it. A key read descends once into each generation present.
 */
#define TL_SEG_GEN_SHIFT	20
#define TL_SEG_GEN_MAX		31

static inline int32
tl_segment_gen_of(int64 gen_base, int64 seq)
{
	uint64		steps;

	if (seq <= gen_base)
		return 0;
	steps = ((uint64) seq - (uint64) gen_base) >> TL_SEG_GEN_SHIFT;
	return steps > TL_SEG_GEN_MAX ? TL_SEG_GEN_MAX : (int32) steps;
}

typedef void (*TlRowVisitor) (HeapTuple row, TupleDesc desc, void *arg);

/* Optional: a visitor of rows decoded from frames, given before they are formed into tuples. */
typedef void (*TlArchiveRowVisitor) (const TlArchiveRow *row, const TlRid *rid, void *arg);

extern TupleDesc tl_row_desc(void);
extern HeapTuple tl_row_form(TupleDesc desc, const TlRecord *rec, int64 gen_base);
extern void tl_row_deform(HeapTuple row, TupleDesc desc, Datum *values, bool *nulls);
extern bool tl_row_has_gen(TupleDesc desc);
extern bool tl_row_shape_ok(TupleDesc desc);

/*
 * The generations of a segment index, newest first:
 *   for (gen = tl_segment_gen_first(rel, idx, snap); gen != TL_GEN_DONE;
 *        gen = tl_segment_gen_next(rel, idx, snap, gen))
 * with tl_segment_gen_scan_key() first among each scan's keys. An index of an earlier build, not
 * led by gen, comes once as TL_GEN_ALL (no key).
 */
#define TL_GEN_ALL		(-1)
#define TL_GEN_DONE		(-2)
extern int	tl_segment_gen_first(Relation rel, Relation idx, Snapshot snap);
extern int	tl_segment_gen_next(Relation rel, Relation idx, Snapshot snap, int gen);
extern int	tl_segment_gen_scan_key(ScanKeyData *sk, int gen);
extern HeapTuple tl_row_from_archive(const char *log_name, const TlArchiveRow *r);
extern void tl_row_to_archive(HeapTuple row, TupleDesc desc, TlArchiveRow *out);
extern void tl_record_from_row(HeapTuple row, TupleDesc desc, const char *log_name, TlRecord *rec);
extern bool tl_row_matches_rid(HeapTuple row, TupleDesc desc, const char *log_name, TlRecord *rec,
							   TlRid *stored);
extern void tl_segment_rows(const TlLog *log, const TlSegment *seg, Snapshot snap,
							TimestampTz from_ts, TimestampTz to_ts, text *key,
							TlRowVisitor visit, void *arg);
extern bool tl_segment_rows_ex(const TlLog *log, const TlSegment *seg, Snapshot snap,
							   TimestampTz from_ts, TimestampTz to_ts, text *key, bool merge,
							   TlRowVisitor visit, TlArchiveRowVisitor visit_archive, void *arg);

extern bool tl_index_is_plain_btree(Relation idx);
extern Oid	tl_index_on(Relation rel, const AttrNumber *cols, int ncols, bool exact);
extern bool tl_segment_find_identity(const TlLog *log, const TlSegment *seg, TimestampTz ts, text *key,
									 const char *origin, int64 seq, TlRid *rid);

extern Tuplesortstate *tl_sort_in_record_order(TupleDesc desc, AttrNumber ts_col,
											   AttrNumber origin_col, AttrNumber seq_col, int mem_kb);

extern bool tl_segrows_local_rid(const char *log_name, const char *origin, int64 seq, TimestampTz ts,
								 text *key, TlRid *rid);

#endif							/* TIEREDLOG_SEGROWS_H */
