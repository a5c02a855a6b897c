/*-------------------------------------------------------------------------
 * apply_int.h
 *		What the apply worker (apply.c) and the code that starts and lists apply workers
 *		(apply_launch.c) share: the slots in shared memory.
 *
 * Locking: every field of every slot is protected by ashared->mutex; a worker alone writes its
 * slot's progress.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_APPLY_INT_H
#define TIEREDLOG_APPLY_INT_H

#include "postgres.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "storage/spin.h"

#define APPLY_BACKOFF_MAX_S		300

typedef struct TlApplySlot
{
	Oid			dboid;			/* InvalidOid: free */
	int32		peer_id;
	pid_t		pid;			/* 0: none, -1: being started */
	int			failures;
	TimestampTz next_start;
	char		state[24];
	char		last_error[512];
	TimestampTz last_error_at;
	TimestampTz last_contact;
	XLogRecPtr	received_lsn;	/* end of the peer's WAL as last reported */
	XLogRecPtr	applied_lsn;	/* end of the last remote transaction committed here */
	TimestampTz applied_commit_time;	/* its commit time on the peer */
	int64		records_applied;
	int64		records_skipped;	/* already here */
} TlApplySlot;

typedef struct TlApplyShared
{
	slock_t		mutex;
	TlApplySlot slots[FLEXIBLE_ARRAY_MEMBER];
} TlApplyShared;

extern TlApplyShared *ashared;

#endif							/* TIEREDLOG_APPLY_INT_H */
