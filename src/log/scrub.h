/*-------------------------------------------------------------------------
 * scrub.h
 *		Re-hashing a segment's rows against their stored rids (scrub.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SCRUB_H
#define TIEREDLOG_SCRUB_H

#include "postgres.h"

#include "store/segrows.h"

/*
 * A row of a segment, re-hashed: the record decoded from it (rec->rid is what its content hashes
 * to; it points into the row), the rid stored with it, and whether the two match. Returns
 * whether to go on with the following rows.
 */
typedef bool (*TlCheckedRowVisitor) (HeapTuple row, const TlRecord *rec, const TlRid *stored,
									 bool matches, void *arg);

extern void tl_segment_rows_checked(const TlLog *log, const TlSegment *seg, Snapshot snap,
									TimestampTz from_ts, TimestampTz to_ts, text *key,
									TlCheckedRowVisitor visit, void *arg);
extern int64 tl_scrub_segment(int64 segment_id, int64 *damaged);

#endif							/* TIEREDLOG_SCRUB_H */
