/*-------------------------------------------------------------------------
 * tieredlog.c
 *		_PG_init only: defines the settings (core/guc.c), registers each layer's shared memory
 *		(core/shmem.c) and upcalls (core/upcalls.h), transaction callbacks and the launcher.
 *		The one file above every layer.
 *
 * tieredlog must be loaded through shared_preload_libraries: it reserves shared memory for the
 * hybrid logical clock and the catalog generation, and registers the background worker launcher. Loaded any other way it defines its settings but every SQL entry point refuses to run.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "core/shmem.h"
#include "core/compat.h"
#include "core/guc.h"
#include "core/tieredlog.h"
#include "core/upcalls.h"
#include "store/digest.h"
#include "store/progress.h"
#include "store/segment.h"
#include "store/stats.h"
#include "log/ledger.h"
#include "log/node.h"
#include "repl/apply.h"
#include "bgw/worker.h"

PG_MODULE_MAGIC;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

static void
tl_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	tl_shmem_request();
}

static void
tl_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	tl_shmem_startup();
}

void
_PG_init(void)
{
	/*
	 * Loaded late (not preloaded), the library defines nothing: PGC_POSTMASTER settings cannot be
	 * created after startup, and every SQL entry point reports the missing preload instead.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	tl_define_settings();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = tl_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = tl_shmem_startup_hook;

	tl_shmem_add(tl_progress_shmem_size, NULL, tl_progress_shmem_startup);
	tl_shmem_add(tl_worker_shmem_size, NULL, tl_worker_shmem_startup);
	tl_shmem_add(tl_apply_shmem_size, NULL, tl_apply_shmem_startup);
	tl_shmem_add(tl_node_shmem_size, NULL, tl_node_shmem_startup);
	tl_shmem_add(NULL, tl_stats_shmem_request, tl_stats_shmem_startup);

	tl_upcalls.wake_worker_at_commit = tl_worker_wake_database_at_commit;

	tl_digest_register_callbacks();
	tl_ledger_register_callbacks();
	tl_segment_cache_register();
	tl_progress_register();
	tl_stats_register();
	tl_worker_register_hooks();
	tl_register_launcher();
}
