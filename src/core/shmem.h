/*-------------------------------------------------------------------------
 * shmem.h
 *		tieredlog's shared memory: the HLC and the catalog generation, the registry of the
 *		higher layers' parts, and the preload check every SQL entry point makes. See shmem.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SHMEM_H
#define TIEREDLOG_SHMEM_H

#include "postgres.h"
#include "port/atomics.h"

typedef struct TieredlogShared
{
	pg_atomic_uint64 hlc;			/* last HLC value handed out, in microseconds */
	pg_atomic_uint64 catalog_generation;	/* bumped when segments move or vanish */
} TieredlogShared;

typedef Size (*TlShmemSizeFn) (void);
typedef void (*TlShmemHookFn) (void);

extern TieredlogShared *tl_shared;
extern void tl_shmem_request(void);
extern void tl_shmem_startup(void);
extern void *tl_shmem_init_locked(const char *name, Size size);
extern void tl_shmem_add(TlShmemSizeFn size, TlShmemHookFn request, TlShmemHookFn startup);
extern void tl_require_preload(void);
extern uint64 tl_catalog_generation(void);
extern void tl_bump_catalog_generation(void);
extern void tl_bump_catalog_generation_at_commit(void);

#endif							/* TIEREDLOG_SHMEM_H */
