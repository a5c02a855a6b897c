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

#include "core/worker_slot.h"

#define APPLY_BACKOFF_MAX_S		300

/* One peer's apply worker: the common part (core/worker_slot.h), then the peer's progress. */
typedef struct TlApplySlot
{
	TlWorkerSlot w;				/* w.dboid InvalidOid: free */
	int32		peer_id;
	TimestampTz last_contact;
	XLogRecPtr	received_lsn;	/* end of the peer's WAL as last reported */
	XLogRecPtr	applied_lsn;	/* end of the last remote transaction committed here */
	TimestampTz applied_commit_time;	/* its commit time on the peer */
	int64		records_applied;
	int64		records_skipped;	/* already here */
} TlApplySlot;

/* tl_max_peers slots of TlApplySlot */
extern TlSlotArray *ashared;

#define apply_slot(i)	((TlApplySlot *) tl_slot_at(ashared, (i)))

#endif							/* TIEREDLOG_APPLY_INT_H */
