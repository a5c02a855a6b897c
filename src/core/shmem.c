/*-------------------------------------------------------------------------
 * shmem.c
 *		tieredlog's shared memory: the HLC and the catalog generation, and a registry through
 *		which the higher layers' shared state is requested and set up. _PG_init (tieredlog.c)
 *		registers each part (progress, access statistics, node state, worker and apply slots);
 *		this file knows none of them.
 *
 * Locking: the HLC and the generation are atomics; the HLC advances by compare-and-swap (record.c)
 * and the generation only ever increases. Each registered part is started with
 * AddinShmemInitLock held and has locks of its own.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "core/shmem.h"
#include "core/tieredlog.h"
#include "core/upcalls.h"
#include "core/xact.h"

#define TL_MAX_SHMEM_PARTS	16

typedef struct ShmemPart
{
	TlShmemSizeFn size;			/* bytes to request, or NULL */
	TlShmemHookFn request;		/* anything else to request (LWLock tranches), or NULL */
	TlShmemHookFn startup;		/* ShmemInitStruct and set up, AddinShmemInitLock held */
} ShmemPart;

TieredlogShared *tl_shared = NULL;
TlUpcalls	tl_upcalls;			/* core/upcalls.h; set by _PG_init */
static ShmemPart parts[TL_MAX_SHMEM_PARTS];
static int	nparts = 0;

/* From _PG_init, in the order the parts are to be set up. */
void
tl_shmem_add(TlShmemSizeFn size, TlShmemHookFn request, TlShmemHookFn startup)
{
	if (nparts >= TL_MAX_SHMEM_PARTS)
		elog(ERROR, "too many tieredlog shared memory parts");
	parts[nparts].size = size;
	parts[nparts].request = request;
	parts[nparts].startup = startup;
	nparts++;
}

void
tl_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(TieredlogShared)));
	for (int i = 0; i < nparts; i++)
	{
		if (parts[i].size)
			RequestAddinShmemSpace(parts[i].size());
		if (parts[i].request)
			parts[i].request();
	}
}

void
tl_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	tl_shared = ShmemInitStruct("tieredlog", MAXALIGN(sizeof(TieredlogShared)), &found);
	if (!found)
	{
		pg_atomic_init_u64(&tl_shared->hlc, (uint64) GetCurrentTimestamp());
		pg_atomic_init_u64(&tl_shared->catalog_generation, 1);
	}
	for (int i = 0; i < nparts; i++)
		parts[i].startup();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * A part's struct in shared memory, zeroed and with its spinlock initialised the first time; the
 * struct's first member must be that slock_t. Called from a part's start-up (AddinShmemInitLock
 * held).
 */
void *
tl_shmem_init_locked(const char *name, Size size)
{
	bool		found;
	void	   *p = ShmemInitStruct(name, size, &found);

	if (!found)
	{
		memset(p, 0, size);
		SpinLockInit((slock_t *) p);
	}
	return p;
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

/*
 * Bump the catalog generation when this transaction commits (before its locks are released, so a
 * backend that waited for them sees the new generation): cached segments of other backends may
 * point at relations or states that are about to change.
 */
void
tl_bump_catalog_generation_at_commit(void)
{
	static TlAtCommit bump = TL_AT_COMMIT(tl_bump_catalog_generation);

	tl_at_commit(&bump);
}
