/*-------------------------------------------------------------------------
 * workers.c
 *		SQL-callable wrappers. The background workers and the access statistics.
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
#include "store/stats.h"
#include "log/node.h"
#include "bgw/worker.h"
#include "api/args.h"

PG_FUNCTION_INFO_V1(tieredlog_register_database);
PG_FUNCTION_INFO_V1(tieredlog_workers);
PG_FUNCTION_INFO_V1(tieredlog_stat_live);
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

Datum
tieredlog_stat_live(PG_FUNCTION_ARGS)
{
	tl_stats_live_rows(fcinfo);
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
