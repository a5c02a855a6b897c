/*-------------------------------------------------------------------------
 * move_store.h
 *		Rows of tieredlog.tier, tieredlog.move and the state columns of tieredlog.segment that
 *		sealing and moving change. See move_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_MOVE_STORE_H
#define TIEREDLOG_MOVE_STORE_H

#include "postgres.h"

#include "core/merkle.h"

/* A move's flip: the segment's new place and the move row that remembers its old one. */
typedef struct TlMoveFlip
{
	int64		segment_id;
	int64		move_id;
	int			from_tier;
	int			to_tier;
	const char *relname;		/* the new relation; NULL: none (tier 2) */
	int64		archive_attempt;	/* the new frames' attempt (tier 2), else unused */
	const char *old_relname;	/* NULL: none */
	int64		old_attempt;	/* 0: none */
	int64		bytes_before;
} TlMoveFlip;

/* A flipped move whose old copy may be removed (tl_move_store_sweepable). */
typedef struct TlMoveSweep
{
	int64		move_id;
	int64		segment_id;
	int32		log_id;
	char	   *old_relname;	/* NULL: none */
	int64		old_attempt;	/* 0: none */
} TlMoveSweep;

extern char *tl_tier_store_lock(int tier);
extern int64 tl_tier_store_segments_in(int tier);
extern void tl_tier_store_map(int tier, const char *tablespace);

extern void tl_segment_store_mark_sealed(int64 segment_id, const TlHash *root, int64 records);
extern void tl_segment_store_mark_reopened(int64 segment_id);
extern void tl_segment_store_set_relname(int64 segment_id, const char *relname);

extern int64 tl_move_store_unswept(void);
extern void tl_move_store_flip(const TlMoveFlip *f);
extern void tl_move_store_result(int64 move_id, int64 rows, int64 bytes_after);
extern TlMoveSweep *tl_move_store_sweepable(int *n);
extern void tl_move_store_done(int64 move_id);

#endif							/* TIEREDLOG_MOVE_STORE_H */
