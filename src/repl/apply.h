/*-------------------------------------------------------------------------
 * apply.h
 *		Apply workers (one per peer) and their slots in shared memory.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_APPLY_H
#define TIEREDLOG_APPLY_H

#include "postgres.h"
#include "fmgr.h"

extern Size tl_apply_shmem_size(void);
extern void tl_apply_shmem_startup(void);

/* the database worker: start the apply workers its peers need */
extern int	tl_apply_ensure_workers(void);
/* drop_peer: stop a peer's apply worker and wait for it (up to timeout_ms) */
extern bool tl_apply_stop_worker(int32 peer_id, int timeout_ms);
extern void tl_apply_clear_backoff(int32 peer_id);

/* SQL: the live state of every apply worker of this database */
extern void tl_apply_rows(FunctionCallInfo fcinfo);

#endif							/* TIEREDLOG_APPLY_H */
