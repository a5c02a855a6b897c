/*-------------------------------------------------------------------------
 * progress.h
 *		Moves in flight, in shared memory, for the tieredlog.progress view.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PROGRESS_H
#define TIEREDLOG_PROGRESS_H

#include "postgres.h"
#include "fmgr.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#define TL_MAX_PROGRESS		32

typedef struct TlProgressSlot
{
	int			pid;			/* 0: free */
	char		what[16];		/* "move" */
	int64		segment_id;
	int			from_tier;
	int			to_tier;
	char		phase[24];
	int64		rows_done;
	int64		rows_total;
} TlProgressSlot;

typedef struct TlProgressShared
{
	slock_t		lock;
	TlProgressSlot slots[TL_MAX_PROGRESS];
} TlProgressShared;

extern Size tl_progress_shmem_size(void);
extern void tl_progress_shmem_startup(void);
extern int	tl_progress_begin(const char *what, int64 segment_id, int from_tier, int to_tier,
							  int64 rows_total);
extern void tl_progress_update(int slot, const char *phase, int64 rows_done);
extern void tl_progress_end(int slot);
extern void tl_progress_register(void);
extern void tl_progress_rows(FunctionCallInfo fcinfo);

#endif							/* TIEREDLOG_PROGRESS_H */
