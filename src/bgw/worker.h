/*-------------------------------------------------------------------------
 * worker.h
 *		The launcher, the per-database workers, and their slots in shared memory.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_WORKER_H
#define TIEREDLOG_WORKER_H

#include "postgres.h"
#include "fmgr.h"

extern Size tl_worker_shmem_size(void);
extern void tl_worker_shmem_startup(void);
extern void tl_register_launcher(void);
extern void tl_worker_register_hooks(void);

/* Called by the running database worker to say what it does (shown by workers/status()). */
extern void tl_worker_report(const char *state, const char *task, int queued);
extern void tl_worker_report_task_end(bool ok, const char *error);

/* SQL */
extern void tl_worker_register_database(void);
extern void tl_worker_wake_database(void);
extern void tl_worker_wake_database_at_commit(void);
extern void tl_worker_rows(FunctionCallInfo fcinfo);

#endif							/* TIEREDLOG_WORKER_H */
