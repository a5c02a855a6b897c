/*-------------------------------------------------------------------------
 * segment.h
 *		Segment windows, the backend's cache of logs and segments on the append path, and a
 *		segment's relation locked and checked against the catalog generation.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SEGMENT_H
#define TIEREDLOG_SEGMENT_H

#include "storage/lockdefs.h"
#include "utils/relcache.h"

#include "store/catalog.h"

extern TimestampTz tl_window_start(TimestampTz ts, int64 interval_us);
extern void tl_check_ts(const TlLog *log, TimestampTz ts);

extern void tl_lookup_log(const char *name, TlLog *out);
extern bool tl_lookup_log_if_exists(const char *name, TlLog *out);
extern void tl_segment_for_append(const TlLog *log, TimestampTz ts, TlSegment *out);
extern bool tl_segment_lookup(const TlLog *log, TimestampTz ts, TlSegment *out);
extern Relation tl_segment_lock_relation(const TlSegment *seg, uint64 gen, LOCKMODE mode, bool keep_lock);
extern void tl_segment_cache_reset(void);
extern void tl_segment_cache_register(void);

#endif							/* TIEREDLOG_SEGMENT_H */
