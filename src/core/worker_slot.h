/*-------------------------------------------------------------------------
 * worker_slot.h
 *		The shared-memory slot array of tieredlog's background workers: one slot per worker that
 *		may run (a database worker per database, an apply worker per peer), what they all keep
 *		(pid, state, failures and backoff, the last error) and the steps they all take (claim,
 *		report, detach, "no background worker slot", a row per slot). See worker_slot.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_WORKER_SLOT_H
#define TIEREDLOG_WORKER_SLOT_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "storage/spin.h"

#define TL_SLOT_ERROR_LEN	512

/* What every worker slot begins with (a module's slot type has it as its first member). */
typedef struct TlWorkerSlot
{
	Oid			dboid;			/* InvalidOid: free */
	pid_t		pid;			/* the worker's; 0: none runs; -1: being started */
	int			failures;		/* consecutive failed runs */
	TimestampTz next_start;		/* not started before */
	TimestampTz started_at;
	char		state[24];
	char		last_error[TL_SLOT_ERROR_LEN];
	TimestampTz last_error_at;
} TlWorkerSlot;

/* nslots slots of slot_size bytes each, under one spinlock. */
typedef struct TlSlotArray
{
	slock_t		mutex;
	int			nslots;
	Size		slot_size;
	char		slots[FLEXIBLE_ARRAY_MEMBER];
} TlSlotArray;

/* Is this slot the one a caller looks for? Called with the array's spinlock held: no errors. */
typedef bool (*TlSlotMatch) (const TlWorkerSlot *slot, const void *arg);

/*
 * A slot's row for a view (tl_slots_materialize): fills its module's columns of v and n from a
 * copy of the slot (whose state it may change: the state shown), or returns false to show no row.
 */
typedef bool (*TlSlotRow) (TlWorkerSlot *copy, Datum *v, bool *n);

extern Size tl_slots_shmem_size(int nslots, Size slot_size);
extern TlSlotArray *tl_slots_init_locked(const char *name, int nslots, Size slot_size);
extern TlWorkerSlot *tl_slot_at(TlSlotArray *a, int i);
extern int	tl_slot_index(const TlSlotArray *a, const TlWorkerSlot *s);
extern TlWorkerSlot *tl_slots_find_locked(TlSlotArray *a, TlSlotMatch match, const void *arg);
extern TlWorkerSlot *tl_slots_find_dboid_locked(TlSlotArray *a, Oid dboid);

extern void tl_slot_set_state(TlSlotArray *a, TlWorkerSlot *s, const char *state);
extern bool tl_slot_keep_error(TlSlotArray *a, TlWorkerSlot *s, const char *msg);
extern void tl_slot_end_run_locked(TlWorkerSlot *s, bool failed, const char *failed_state,
								   const char *stopped_state, int backoff_max_s);
extern int	tl_slot_note_no_worker(TlSlotArray *a, TlWorkerSlot *s, const char *what, int backoff_max_s,
								   bool *first);
extern void tl_slots_materialize(FunctionCallInfo fcinfo, TlSlotArray *a, int ncols, TlSlotRow row);
extern bool tl_register_worker(const char *function, const char *name, const char *type, Datum arg,
							   pid_t notify_pid);

#endif							/* TIEREDLOG_WORKER_SLOT_H */
