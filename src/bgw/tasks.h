/*-------------------------------------------------------------------------
 * tasks.h
 *		The database worker's queue: what it plans each cycle and how each task runs.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_TASKS_H
#define TIEREDLOG_TASKS_H

#include "postgres.h"
#include "nodes/pg_list.h"
#include "utils/array.h"

typedef enum TlTaskKind
{
	TL_TASK_DIGESTS,			/* rebuild digest cells after a crash (digest_trust.c) */
	TL_TASK_SWEEP,				/* remove old copies of finished moves */
	TL_TASK_FOLD,				/* fold digest cells of busy segments */
	TL_TASK_FLUSH_STATS,		/* access counts into access_history, and retention */
	TL_TASK_APPLY,				/* start the apply workers peers need */
	TL_TASK_CLOSE_GAPS,			/* reconcile with a peer that has open gaps */
	TL_TASK_SETTLE_HEADS,		/* compare again the heads of keys written lately */
	TL_TASK_CONFLICTS,			/* settle pending conflicts that were superseded; retention */
	TL_TASK_CHECKS,				/* the scheduler: choose (segment, peer) checks and run them */
	TL_TASK_TRAIN,				/* refit the prediction model */
	TL_TASK_PEER_STATS,			/* gather peers' access statistics */
	TL_TASK_LEDGER,				/* close a ledger block; give the digest to the peers */
	TL_TASK_SEAL,				/* seal a segment whose window + seal_grace has passed */
	TL_TASK_SCRUB,				/* re-hash a segment's rows against their rids */
	TL_TASK_MOVE				/* move a segment one tier (promote, demote, re-archive, redo) */
} TlTaskKind;

typedef struct TlTask
{
	TlTaskKind	kind;
	int64		segment_id;		/* SEAL, MOVE */
	int			to_tier;		/* MOVE */
	const char *reason;			/* "demote", "promote", "rearchive", "redo", ... */
	const char *peer_name;		/* CLOSE_GAPS */
} TlTask;


/* tasks.c */
extern const char *tl_task_name(TlTaskKind kind);
extern ArrayType *tl_tasks_backoff_array(void);
extern int64 tl_task_backoff_key(TlTaskKind kind, int64 segment_id, const char *peer_name);
extern bool tl_tasks_in_backoff(int64 key);
extern void tl_tasks_recover_interrupted(MemoryContext cxt);
extern bool tl_tasks_run_cycle(MemoryContext cxt);

#endif							/* TIEREDLOG_TASKS_H */
