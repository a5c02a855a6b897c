/*-------------------------------------------------------------------------
 * progress.c
 *		Moves in flight: a small array of slots in shared memory that a moving backend updates
 *		between steps (and every few thousand rows), read by the tieredlog.progress view.
 *
 * Locking: the slots' spinlock, held only to copy a few fields in or out. A backend's slots are
 * released at the end of its move, and by a transaction-abort callback when the move fails.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/builtins.h"

#include "store/progress.h"
#include "core/shmem.h"
#include "core/tieredlog.h"

static TlProgressShared *progress_shared = NULL;

Size
tl_progress_shmem_size(void)
{
	return sizeof(TlProgressShared);
}

/* Called with AddinShmemInitLock held. */
void
tl_progress_shmem_startup(void)
{
	StaticAssertStmt(offsetof(TlProgressShared, lock) == 0, "the spinlock comes first");
	progress_shared = tl_shmem_init_locked("tieredlog progress", sizeof(TlProgressShared));
}

/* Claim a slot; -1 when all are taken (the move goes on, unreported). */
int
tl_progress_begin(const char *what, int64 segment_id, int from_tier, int to_tier, int64 rows_total)
{
	TlProgressShared *p = progress_shared;
	int			slot = -1;

	SpinLockAcquire(&p->lock);
	for (int i = 0; i < TL_MAX_PROGRESS && slot < 0; i++)
		if (p->slots[i].pid == 0)
			slot = i;
	if (slot >= 0)
	{
		TlProgressSlot *s = &p->slots[slot];

		s->pid = MyProcPid;
		strlcpy(s->what, what, sizeof(s->what));
		s->segment_id = segment_id;
		s->from_tier = from_tier;
		s->to_tier = to_tier;
		strlcpy(s->phase, "starting", sizeof(s->phase));
		s->rows_done = 0;
		s->rows_total = rows_total;
	}
	SpinLockRelease(&p->lock);
	return slot;
}

void
tl_progress_update(int slot, const char *phase, int64 rows_done)
{
	TlProgressShared *p = progress_shared;

	if (slot < 0)
		return;
	SpinLockAcquire(&p->lock);
	if (phase)
		strlcpy(p->slots[slot].phase, phase, sizeof(p->slots[slot].phase));
	if (rows_done >= 0)
		p->slots[slot].rows_done = rows_done;
	SpinLockRelease(&p->lock);
}

void
tl_progress_end(int slot)
{
	TlProgressShared *p = progress_shared;

	if (slot < 0)
		return;
	SpinLockAcquire(&p->lock);
	p->slots[slot].pid = 0;
	SpinLockRelease(&p->lock);
}

/* A failed move leaves its slot behind: free every slot of this backend at abort. */
static void
progress_abort_callback(XactEvent event, void *arg)
{
	TlProgressShared *p;

	if (event != XACT_EVENT_ABORT || tl_shared == NULL)
		return;
	p = progress_shared;
	SpinLockAcquire(&p->lock);
	for (int i = 0; i < TL_MAX_PROGRESS; i++)
		if (p->slots[i].pid == MyProcPid)
			p->slots[i].pid = 0;
	SpinLockRelease(&p->lock);
}

void
tl_progress_register(void)
{
	RegisterXactCallback(progress_abort_callback, NULL);
}

/* Rows of the progress view: one per slot in use. */
void
tl_progress_rows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlProgressShared *p = progress_shared;
	TlProgressSlot copy[TL_MAX_PROGRESS];

	InitMaterializedSRF(fcinfo, 0);
	SpinLockAcquire(&p->lock);
	memcpy(copy, p->slots, sizeof(copy));
	SpinLockRelease(&p->lock);
	for (int i = 0; i < TL_MAX_PROGRESS; i++)
	{
		Datum		v[8];
		bool		n[8] = {0};

		if (copy[i].pid == 0)
			continue;
		v[0] = Int32GetDatum(copy[i].pid);
		v[1] = CStringGetTextDatum(copy[i].what);
		v[2] = Int64GetDatum(copy[i].segment_id);
		v[3] = Int32GetDatum(copy[i].from_tier);
		v[4] = Int32GetDatum(copy[i].to_tier);
		v[5] = CStringGetTextDatum(copy[i].phase);
		v[6] = Int64GetDatum(copy[i].rows_done);
		v[7] = Int64GetDatum(copy[i].rows_total);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
}
