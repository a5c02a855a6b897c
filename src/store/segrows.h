/*-------------------------------------------------------------------------
 * segrows.h
 *		Every row of a segment, wherever it is stored (its row relation, its archive frames).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SEGROWS_H
#define TIEREDLOG_SEGROWS_H

#include "postgres.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/rel.h"
#include "utils/snapshot.h"
#include "utils/tuplesort.h"

#include "store/archive.h"
#include "store/catalog.h"
#include "core/record.h"

/* Columns of a segment row (catalog.c creates relations with them in this order). */
enum
{
	Anum_row_ts = 1, Anum_row_key, Anum_row_payload, Anum_row_source, Anum_row_origin,
	Anum_row_seq, Anum_row_rid, Natts_row = Anum_row_rid
};

typedef void (*TlRowVisitor) (HeapTuple row, TupleDesc desc, void *arg);

/* Optional: a visitor of rows decoded from frames, given before they are formed into tuples. */
typedef void (*TlArchiveRowVisitor) (const TlArchiveRow *row, const TlRid *rid, void *arg);

extern TupleDesc tl_row_desc(void);
extern HeapTuple tl_row_form(TupleDesc desc, const TlRecord *rec);
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
