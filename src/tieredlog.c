/*-------------------------------------------------------------------------
 * tieredlog.c
 *		_PG_init only: settings, shared-memory hooks, transaction callbacks.
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

#include "compat.h"
#include "digest.h"
#include "segment.h"
#include "progress.h"
#include "tier.h"
#include "tieredlog.h"
#include "validate.h"
#include "worker.h"

PG_MODULE_MAGIC;

char	   *tl_node_name_setting = NULL;
int			tl_max_payload_size = 1024 * 1024;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

static bool
check_node_name(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || tl_name_is_valid(*newval))
		return true;
	GUC_check_errdetail("A node name has 1 to %d characters: letters, digits, \"_\", \"-\", \".\" or \":\".",
						TL_MAX_NAME_LEN);
	return false;
}

static void
define_settings(void)
{
	DefineCustomStringVariable("tieredlog.node_name",
							   "This node's name, unique among its peers; part of every record's identity.",
							   "Empty means cluster_name if set, else the host name and port.",
							   &tl_node_name_setting, "",
							   PGC_POSTMASTER, 0,
							   check_node_name, NULL, NULL);
	DefineCustomIntVariable("tieredlog.max_payload_size",
							"Largest payload, in its stored jsonb form, that append accepts.",
							NULL,
							&tl_max_payload_size, 1024 * 1024, 1024, 256 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.archive_compression_level",
							"zstd level of tier 2 frames.",
							"Higher levels take longer to archive and store less; reading speed barely changes.",
							&tl_archive_level, 9, 1, 22,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.move_lock_timeout",
							"Longest a move waits, in small conditional tries, to stop writers of the segment it moves.",
							"Past it the move gives up with an error instead of making writers queue behind it.",
							&tl_move_lock_timeout_ms, 100, 0, 60000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.naptime",
							"Time between two maintenance cycles of the background workers.",
							"Each cycle visits every database with the extension: it removes old copies of moved segments and folds digest cells.",
							&tl_naptime, 10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("tieredlog");
}

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

	define_settings();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = tl_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = tl_shmem_startup_hook;

	tl_digest_register_callbacks();
	tl_segment_cache_register();
	tl_progress_register();
	tl_register_launcher();
}
