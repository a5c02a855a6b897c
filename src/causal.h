/*-------------------------------------------------------------------------
 * causal.h
 *		Which records a node had seen when it wrote one (the internal log "_seen", causal.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_CAUSAL_H
#define TIEREDLOG_CAUSAL_H

#include "postgres.h"
#include "datatype/timestamp.h"

#define TL_SEEN_LOG "_seen"

extern void tl_causal_note(const char *about_origin, int64 seq);
extern int64 tl_causal_seen_max(const char *writer, int64 writer_seq, const char *about,
								TimestampTz from_ts, TimestampTz to_ts);
extern int64 tl_causal_first_seer(const char *writer, const char *about, int64 about_seq,
								  TimestampTz from_ts, TimestampTz to_ts);
extern bool tl_causal_saw(const char *writer, int64 writer_seq, TimestampTz writer_ts,
						  const char *about, int64 about_seq, TimestampTz about_ts);

#endif							/* TIEREDLOG_CAUSAL_H */
