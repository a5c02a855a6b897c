/*-------------------------------------------------------------------------
 * upcalls.h
 *		The few functions of a higher layer that a lower one needs, reached through pointers
 *		that _PG_init (tieredlog.c) sets at start-up, so that includes point only downwards
 *		(README, "Development"). Each wrapper does nothing while its pointer is unset (the
 *		library not preloaded, where every SQL entry point refuses to run anyway).
 *
 * Locking: none; the pointers are set once per process before any of them is used.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_UPCALLS_H
#define TIEREDLOG_UPCALLS_H

typedef struct TlUpcalls
{
	/* bgw/worker.c: wake this database's worker when the transaction commits */
	void		(*wake_worker_at_commit) (void);
} TlUpcalls;

extern TlUpcalls tl_upcalls;

static inline void
tl_wake_worker_at_commit(void)
{
	if (tl_upcalls.wake_worker_at_commit != NULL)
		tl_upcalls.wake_worker_at_commit();
}

#endif							/* TIEREDLOG_UPCALLS_H */
