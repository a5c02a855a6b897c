/*-------------------------------------------------------------------------
 * scrub.h
 *		Re-hashing a segment's rows against their stored rids (scrub.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SCRUB_H
#define TIEREDLOG_SCRUB_H

#include "postgres.h"

extern int64 tl_scrub_segment(int64 segment_id, int64 *damaged);

#endif							/* TIEREDLOG_SCRUB_H */
