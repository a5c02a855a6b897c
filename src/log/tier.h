/*-------------------------------------------------------------------------
 * tier.h
 *		Tiers, sealing, moves between tiers, and the sweeper of old copies.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_TIER_H
#define TIEREDLOG_TIER_H

#include "store/catalog.h"

typedef struct TlMoveResult
{
	int			from_tier;
	int64		records;
	int64		bytes_before;
	int64		bytes_after;
} TlMoveResult;

extern void tl_check_tier(int tier);
extern void tl_set_tier(int tier, const char *tablespace);
extern const char *tl_seal(int64 segment_id);
extern bool tl_prepare_late_append(const TlLog *log, const TlSegment *seg);
extern bool tl_move(int64 segment_id, int to_tier, TlMoveResult *res);
extern int64 tl_sweep(void);
extern int64 tl_segment_stored_bytes(const TlSegment *seg);

/*
 * The prefix of the transactional logical message a move writes before it copies rows: the
 * decoder (repl/decoder.c) skips the rest of that transaction's segment inserts.
 */
#define TL_MOVE_MESSAGE_PREFIX	"tieredlog.move"

#endif							/* TIEREDLOG_TIER_H */
