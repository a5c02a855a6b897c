/*-------------------------------------------------------------------------
 * tiers.c
 *		SQL-callable wrappers. Tiers, seals and moves; stored size and frames of a segment; moves in flight.
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
#include "core/json.h"
#include "core/tieredlog.h"
#include "store/archive_store.h"
#include "store/catalog.h"
#include "store/digest.h"
#include "store/progress.h"
#include "store/seal.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "log/conflict.h"
#include "log/conflict_int.h"
#include "log/ledger.h"
#include "log/node.h"
#include "log/quarantine.h"
#include "log/tier.h"
#include "repl/reconcile_local.h"
#include "api/args.h"

PG_FUNCTION_INFO_V1(tieredlog_set_tier);
PG_FUNCTION_INFO_V1(tieredlog_seal);
PG_FUNCTION_INFO_V1(tieredlog_move_segment);
PG_FUNCTION_INFO_V1(tieredlog_sweep);
PG_FUNCTION_INFO_V1(tieredlog_segment_stored_bytes);
PG_FUNCTION_INFO_V1(tieredlog_segment_frames);
PG_FUNCTION_INFO_V1(tieredlog_progress);

Datum
tieredlog_set_tier(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.set_tier()");
	api_require_args(fcinfo, 2, "tier and tablespace");
	tl_node_require(false, "tieredlog.set_tier()");
	tl_set_tier(PG_GETARG_INT32(0), NameStr(*PG_GETARG_NAME(1)));
	{
		TlJson		j;

		tl_json_init(&j);
		tl_json_int(&j, "tier", PG_GETARG_INT32(0));
		tl_json_text(&j, "tablespace", NameStr(*PG_GETARG_NAME(1)));
		tl_ledger_config("set_tier", NULL, tl_json_finish(&j));
	}
	PG_RETURN_VOID();
}

Datum
tieredlog_seal(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.seal()");
	api_require_args(fcinfo, 1, "segment_id");
	PG_RETURN_TEXT_P(cstring_to_text(tl_seal(PG_GETARG_INT64(0))));
}

Datum
tieredlog_move_segment(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlMoveResult res = {0};
	int64		segment_id;
	int			tier;
	Datum		values[6];
	bool		nulls[6] = {0};

	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.move_segment()");
	api_require_args(fcinfo, 2, "segment_id and tier");
	segment_id = PG_GETARG_INT64(0);
	tier = PG_GETARG_INT32(1);
	InitMaterializedSRF(fcinfo, 0);
	(void) tl_sweep();
	if (!tl_move(segment_id, tier, &res))
	{
		ereport(NOTICE,
				(errmsg("segment %lld is already in tier %d", (long long) segment_id, tier)));
		return (Datum) 0;
	}
	values[0] = Int64GetDatum(segment_id);
	values[1] = Int32GetDatum(res.from_tier);
	values[2] = Int32GetDatum(tier);
	values[3] = Int64GetDatum(res.records);
	values[4] = Int64GetDatum(res.bytes_before);
	values[5] = Int64GetDatum(res.bytes_after);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

Datum
tieredlog_sweep(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.sweep()");
	PG_RETURN_INT64(tl_sweep());
}

Datum
tieredlog_segment_stored_bytes(PG_FUNCTION_ARGS)
{
	TlSegment	seg;

	tl_require_preload();
	api_require_segment(PG_GETARG_INT64(0), &seg);
	PG_RETURN_INT64(tl_segment_stored_bytes(&seg));
}

Datum
tieredlog_segment_frames(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlSegment	seg;

	tl_require_preload();
	api_require_segment(PG_GETARG_INT64(0), &seg);
	InitMaterializedSRF(fcinfo, 0);
	if (seg.archive_attempt != 0)
		tl_archive_directory(seg.log_id, seg.segment_id, seg.archive_attempt, rsinfo->setResult,
							 rsinfo->setDesc);
	return (Datum) 0;
}

Datum
tieredlog_progress(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	tl_progress_rows(fcinfo);
	return (Datum) 0;
}
