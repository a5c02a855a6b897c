/*-------------------------------------------------------------------------
 * upkeep_store.h
 *		Which segments are due for the worker's upkeep (seal, move, scrub, fold), and noting a
 *		scrub. See upkeep_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_UPKEEP_STORE_H
#define TIEREDLOG_UPKEEP_STORE_H

#include "postgres.h"
#include "utils/array.h"

typedef enum TlDueKind
{
	TL_DUE_SEAL,				/* args: seal_grace s */
	TL_DUE_REARCHIVE,			/* no args */
	TL_DUE_PROMOTE,				/* args: promote_reads, min_residency s */
	TL_DUE_DEMOTE,				/* args: demote_after s, min_residency s */
	TL_DUE_SCRUB				/* args: scrub_interval s */
} TlDueKind;

/* A segment due, and the tier it is in (TL_DUE_SEAL, TL_DUE_SCRUB) or is to go to (moves). */
typedef struct TlDueSegment
{
	int64		segment_id;
	int32		tier;
} TlDueSegment;

extern TlDueSegment *tl_segments_due(TlDueKind kind, ArrayType *skip, const int *args, int limit, int *n);
extern int64 *tl_segments_to_fold(int min_cells, bool sealed_too, int *n);
extern int	tl_prepared_xacts_here(void);
extern void tl_segment_note_scrubbed(int64 segment_id);

#endif							/* TIEREDLOG_UPKEEP_STORE_H */
