/*-------------------------------------------------------------------------
 * shmem.c
 *		tieredlog's shared memory: the HLC and the catalog generation; it also sets up the
 *		worker slots (worker.c) and the access statistics (stats.c).
 *
 * Locking: the HLC and the generation are atomics; the HLC advances by compare-and-swap (record.c)
 * and the generation only ever increases. The progress slots after them have their own spinlock.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "repl/apply.h"
#include "log/node.h"
#include "store/progress.h"
#include "store/stats.h"
#include "core/tieredlog.h"
#include "bgw/worker.h"

TieredlogShared *tl_shared = NULL;

void
tl_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(TieredlogShared)) + tl_progress_shmem_size());
	RequestAddinShmemSpace(tl_worker_shmem_size());
	RequestAddinShmemSpace(tl_apply_shmem_size());
	RequestAddinShmemSpace(tl_node_shmem_size());
	tl_stats_shmem_request();
}

void
tl_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	tl_shared = ShmemInitStruct("tieredlog", MAXALIGN(sizeof(TieredlogShared)) + tl_progress_shmem_size(),
								&found);
	if (!found)
	{
		pg_atomic_init_u64(&tl_shared->hlc, (uint64) GetCurrentTimestamp());
		pg_atomic_init_u64(&tl_shared->catalog_generation, 1);
		tl_progress_shmem_init(tl_progress_shared());
	}
	tl_worker_shmem_startup();
	tl_apply_shmem_startup();
	tl_node_shmem_startup();
	tl_stats_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

TlProgressShared *
tl_progress_shared(void)
{
	return (TlProgressShared *) ((char *) tl_shared + MAXALIGN(sizeof(TieredlogShared)));
}

/* Every SQL entry point calls this first. */
void
tl_require_preload(void)
{
	if (tl_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tieredlog must be loaded via \"shared_preload_libraries\""),
				 errhint("Add tieredlog to shared_preload_libraries in postgresql.conf and restart the server.")));
}

uint64
tl_catalog_generation(void)
{
	return pg_atomic_read_u64(&tl_shared->catalog_generation);
}

void
tl_bump_catalog_generation(void)
{
	pg_atomic_fetch_add_u64(&tl_shared->catalog_generation, 1);
}

/* ---- bumping the generation when a catalog change commits ---------------------------------- */

static bool bump_pending = false;

static void
bump_at_commit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && bump_pending)
		tl_bump_catalog_generation();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		bump_pending = false;
}

/*
 * Bump the catalog generation when this transaction commits (before its locks are released, so a
 * backend that waited for them sees the new generation): cached segments of other backends may
 * point at relations or states that are about to change.
 */
void
tl_bump_catalog_generation_at_commit(void)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(bump_at_commit, NULL);
		registered = true;
	}
	bump_pending = true;
}
