/*-------------------------------------------------------------------------
 * workers.c
 *		SQL-callable wrappers. The background workers, the access statistics and the scheduler's
 *		plan as the schedule view shows it.
 *		Argument checks, then a call into the file that does the work.
 *
 * Every entry point first checks that the library was preloaded (tl_require_preload).
 *
 * Locking: see the files called.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "core/shmem.h"
#include "core/tieredlog.h"
#include "store/spi_rows.h"
#include "store/stats.h"
#include "log/node.h"
#include "bgw/worker.h"
#include "api/args.h"

PG_FUNCTION_INFO_V1(tieredlog_register_database);
PG_FUNCTION_INFO_V1(tieredlog_workers);
PG_FUNCTION_INFO_V1(tieredlog_stat_live);
PG_FUNCTION_INFO_V1(tieredlog_schedule);
PG_FUNCTION_INFO_V1(tieredlog_stat_reset);
PG_FUNCTION_INFO_V1(tieredlog_stat_usage);

Datum
tieredlog_register_database(PG_FUNCTION_ARGS)
{
	tl_node_forget();			/* a new install: found again */
	tl_worker_register_database();
	PG_RETURN_VOID();
}

Datum
tieredlog_workers(PG_FUNCTION_ARGS)
{
	tl_worker_rows(fcinfo);
	return (Datum) 0;
}

/* The view that shows _stat_live() (EXECUTE is granted to PUBLIC; its reader may call it). */
static const char *const stat_live_views[] = {"stat_segments"};

Datum
tieredlog_stat_live(PG_FUNCTION_ARGS)
{
	api_require_view_reader("_stat_live", stat_live_views, lengthof(stat_live_views));
	tl_stats_live_rows(fcinfo);
	return (Datum) 0;
}

/*
 * _schedule(): the schedule view's rows. The scheduler's plan (_plan_checks) reads tieredlog's
 * tables and functions, which a reader of the view is not granted: it runs here as the extension's
 * owner, for a role that may read the view (EXECUTE is granted to PUBLIC).
 */
static const char *const schedule_views[] = {"schedule"};

Datum
tieredlog_schedule(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlAsOwner	save;

	tl_require_preload();
	api_require_view_reader("_schedule", schedule_views, lengthof(schedule_views));
	InitMaterializedSRF(fcinfo, 0);
	tl_become_owner(&save);
	if (SPI_execute("SELECT segment_id, log_name, range_start, tier, peer_name, score, cost, reason, due_at"
					" FROM tieredlog._plan_checks()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not plan the scheduler's checks");
	tl_spi_rows_to_tuplestore(rsinfo);
	tl_restore_user(&save);
	return (Datum) 0;
}

Datum
tieredlog_stat_reset(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(tl_stats_reset_database());
}

/* (entries, capacity, evicted) of the shared statistics table */
Datum
tieredlog_stat_usage(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		v[3];
	bool		n[3] = {0};
	int64		entries;
	int64		capacity;
	int64		evicted;

	tl_require_preload();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tl_stats_usage(&entries, &capacity, &evicted);
	v[0] = Int64GetDatum(entries);
	v[1] = Int64GetDatum(capacity);
	v[2] = Int64GetDatum(evicted);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), v, n)));
}
