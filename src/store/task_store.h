/*-------------------------------------------------------------------------
 * task_store.h
 *		The database worker's bookkeeping tables: tieredlog.task_history, tieredlog.check_log and
 *		tieredlog.access_history; the checks and the model's training it runs. See task_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_TASK_STORE_H
#define TIEREDLOG_TASK_STORE_H

#include "postgres.h"

#include "store/stats.h"

/* A task the worker was running when it stopped (task_history said 'running'). */
typedef struct TlInterruptedTask
{
	char	   *task;			/* task_history.task: 'move', 'seal', 'scrub', ... */
	int64		segment_id;
	int32		to_tier;		/* -1 when none */
} TlInterruptedTask;

extern int64 tl_task_history_begin(const char *task, int64 segment_id, const int32 *to_tier,
								   const char *reason);
extern void tl_task_history_end(int64 run_id, const char *status, const char *detail);
extern TlInterruptedTask *tl_task_history_interrupt(int *n);
extern uint64 tl_check_log_abandon(void);
extern uint64 tl_check_log_expire(int retention_s, int limit);
extern int64 *tl_checks_log(int *n);
extern int64 tl_check_run(int64 check_id);
extern int64 tl_model_train(void);

extern void tl_access_history_flush(const TlStatDelta *d, int n);
extern void tl_history_expire(int retention_s);

#endif							/* TIEREDLOG_TASK_STORE_H */
