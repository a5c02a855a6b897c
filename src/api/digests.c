/*-------------------------------------------------------------------------
 * digests.c
 *		SQL-callable wrappers. Segment digests: the stored digest and its leaves, checking them against the rows.
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
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "core/shmem.h"
#include "core/tieredlog.h"
#include "core/xact.h"
#include "store/catalog.h"
#include "store/digest.h"
#include "store/seal.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "log/append.h"
#include "log/conflict.h"
#include "log/conflict_int.h"
#include "log/quarantine.h"
#include "log/read.h"
#include "log/tier.h"
#include "repl/reconcile_local.h"
#include "api/args.h"

PG_FUNCTION_INFO_V1(tieredlog_segment_digest);
PG_FUNCTION_INFO_V1(tieredlog_segment_totals);
PG_FUNCTION_INFO_V1(tieredlog_segment_leaves);
PG_FUNCTION_INFO_V1(tieredlog_check_digests);
PG_FUNCTION_INFO_V1(tieredlog_compact_digest);

Datum
tieredlog_segment_digest(PG_FUNCTION_ARGS)
{
	TlSegmentDigest *d = palloc(sizeof(TlSegmentDigest));
	TlSegment	seg;

	tl_require_preload();
	api_require_segment(PG_GETARG_INT64(0), &seg);
	tl_digest_load(seg.segment_id, d);
	PG_RETURN_TEXT_P(cstring_to_text(tl_digest_to_text(&d->root)));
}

/* The views that show segment_totals(): a role that may read one of them may call it. */
static const char *const totals_views[] = {"segments", "logs", "tiers", "schedule"};

/*
 * A segment's record count and logical bytes (the views read them here, not from the cells,
 * which may be rebuilding). EXECUTE is granted to PUBLIC so that the views work for whoever may
 * read them, before and after an update, and after a restore; the function checks that itself.
 */
Datum
tieredlog_segment_totals(PG_FUNCTION_ARGS)
{
	TlSegmentDigest *d = palloc(sizeof(TlSegmentDigest));
	TlSegment	seg;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {0};

	tl_require_preload();
	api_require_view_reader("segment_totals", totals_views, lengthof(totals_views));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "segment_totals must return a record");
	/* a segment the view's snapshot still sees may be gone since: none of it is left */
	memset(d, 0, sizeof(*d));
	if (tl_catalog_get_segment(PG_GETARG_INT64(0), &seg))
		tl_digest_load(seg.segment_id, d);
	values[0] = Int64GetDatum(d->root.n);
	values[1] = Int64GetDatum(d->root.bytes);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

Datum
tieredlog_segment_leaves(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlSegmentDigest *d = palloc(sizeof(TlSegmentDigest));
	TlSegment	seg;

	tl_require_preload();
	api_require_segment(PG_GETARG_INT64(0), &seg);
	InitMaterializedSRF(fcinfo, 0);
	tl_digest_load(seg.segment_id, d);
	for (int leaf = 0; leaf < TL_LEAVES; leaf++)
	{
		Datum		values[3];
		bool		nulls[3] = {0};

		if (d->leaves[leaf].n == 0)
			continue;
		values[0] = Int32GetDatum(leaf);
		values[1] = Int64GetDatum(d->leaves[leaf].n);
		values[2] = CStringGetTextDatum(tl_digest_to_text(&d->leaves[leaf]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Compare a segment's stored digest (root and every leaf) with a recomputation from its rows. */
/*
 * Recompute a segment's digest inside a subtransaction, so that a damaged segment (a corrupted
 * archive frame, say) is reported as one failed row instead of ending the whole check. Returns
 * NULL, or the error message.
 */
typedef struct Recompute
{
	const TlLog *log;
	const TlSegment *seg;
	TlSegmentDigest *fresh;
} Recompute;

static void
recompute(void *arg)
{
	Recompute  *r = arg;

	tl_digest_recompute(r->log, r->seg, GetActiveSnapshot(), r->fresh);
}

static char *
recompute_or_fail(const TlLog *log, const TlSegment *seg, TlSegmentDigest *fresh)
{
	Recompute	r = {log, seg, fresh};
	char	   *error;

	if (tl_subxact_run(recompute, &r, &error))
		return NULL;
	return psprintf("error: %s", error);
}

static void
check_one_segment(ReturnSetInfo *rsinfo, const TlLog *log, const TlSegment *seg)
{
	TlSegmentDigest *stored = palloc(sizeof(TlSegmentDigest));
	TlSegmentDigest *fresh = palloc(sizeof(TlSegmentDigest));
	Datum		values[4];
	bool		nulls[4] = {0};
	bool		ok = true;

	tl_digest_load(seg->segment_id, stored);
	values[0] = Int64GetDatum(seg->segment_id);
	values[2] = CStringGetTextDatum(tl_digest_to_text(&stored->root));
	if (seg->relation_missing || (!OidIsValid(seg->relid) && seg->archive_attempt == 0))
	{
		ok = false;
		values[3] = CStringGetTextDatum("storage missing");
	}
	else
	{
		char	   *failure = recompute_or_fail(log, seg, fresh);

		if (failure)
		{
			ok = false;
			values[3] = CStringGetTextDatum(failure);
		}
		else
		{
			for (int leaf = 0; leaf < TL_LEAVES && ok; leaf++)
				ok = tl_digest_equal(&stored->leaves[leaf], &fresh->leaves[leaf]);
			ok = ok && tl_digest_equal(&stored->root, &fresh->root);
			values[3] = CStringGetTextDatum(tl_digest_to_text(&fresh->root));
		}
	}
	values[1] = BoolGetDatum(ok);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	pfree(stored);
	pfree(fresh);
}

Datum
tieredlog_check_digests(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *segs;
	ListCell   *lc;
	TlLog		log;
	bool		one_log;

	tl_require_preload();
	segs = api_arg_log_segments(fcinfo, 0, &log, &one_log);
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, segs)
	{
		TlSegment  *seg = lfirst(lc);
		TlLog		seg_log;

		CHECK_FOR_INTERRUPTS();
		if (one_log)
			seg_log = log;
		else if (!tl_catalog_find_log_by_id(seg->log_id, &seg_log))
			continue;
		check_one_segment(rsinfo, &seg_log, seg);
	}
	return (Datum) 0;
}

Datum
tieredlog_compact_digest(PG_FUNCTION_ARGS)
{
	TlSegment	seg;

	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.compact_digest()");
	api_require_segment(PG_GETARG_INT64(0), &seg);
	PG_RETURN_INT64(tl_digest_compact(seg.segment_id, true));
}
