/*-------------------------------------------------------------------------
 * api.c
 *		Thin SQL-callable wrappers: argument checks, then a call into the file that does the work.
 *
 * Every entry point first checks that the library was preloaded (tl_require_preload).
 *
 * Locking: see the files called.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "access/htup_details.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "catalog/pg_proc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "log/append.h"
#include "repl/apply.h"
#include "store/catalog.h"
#include "log/ledger.h"
#include "log/node.h"
#include "log/causal.h"
#include "log/conflict.h"
#include "store/digest.h"
#include "repl/peer.h"
#include "repl/peer_auth.h"
#include "store/progress.h"
#include "repl/reconcile.h"
#include "log/scrub.h"
#include "log/read.h"
#include "store/archive_store.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "store/stats.h"
#include "log/tier.h"
#include "core/json.h"
#include "core/tieredlog.h"
#include "core/validate.h"
#include "bgw/worker.h"

PG_FUNCTION_INFO_V1(tieredlog_require_preload);
PG_FUNCTION_INFO_V1(tieredlog_create_log);
PG_FUNCTION_INFO_V1(tieredlog_drop_log);
PG_FUNCTION_INFO_V1(tieredlog_append);
PG_FUNCTION_INFO_V1(tieredlog_append_many);
PG_FUNCTION_INFO_V1(tieredlog_read);
PG_FUNCTION_INFO_V1(tieredlog_latest);
PG_FUNCTION_INFO_V1(tieredlog_segment_digest);
PG_FUNCTION_INFO_V1(tieredlog_segment_leaves);
PG_FUNCTION_INFO_V1(tieredlog_check_digests);
PG_FUNCTION_INFO_V1(tieredlog_compact_digest);
PG_FUNCTION_INFO_V1(tieredlog_node_name);
PG_FUNCTION_INFO_V1(tieredlog_hlc_now);

#define ARG_TEXT_OR_NULL(n)		(PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))

/* A log named by argument n: valid, existing (tieredlog's own "_seen" included: it can be read). */
static void
arg_log(FunctionCallInfo fcinfo, int n, TlLog *out)
{
	text	   *arg = ARG_TEXT_OR_NULL(n);
	char	   *name;

	if (arg == NULL)
		(void) tl_arg_name("log", NULL);
	name = text_to_cstring(arg);
	tl_check_wire_log_name(name);
	tl_lookup_log(name, out);
}

/* A log this call may change: not one of tieredlog's own. */
static void
arg_user_log(FunctionCallInfo fcinfo, int n, TlLog *out)
{
	arg_log(fcinfo, n, out);
	if (out->name[0] == '_')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("log \"%s\" belongs to tieredlog", out->name),
				 errdetail("It can be read, not written, dropped or reconfigured.")));
}

Datum
tieredlog_require_preload(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_VOID();
}

Datum
tieredlog_create_log(PG_FUNCTION_ARGS)
{
	char	   *name;
	int64		interval_us;
	char	   *rule;
	int32		log_id;

	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.create_log()");
	tl_node_require(false, "tieredlog.create_log()");
	name = tl_arg_name("log", ARG_TEXT_OR_NULL(0));
	interval_us = tl_check_interval(PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("conflict rule must not be null")));
	rule = text_to_cstring(PG_GETARG_TEXT_PP(2));
	tl_check_rule(rule);
	if (strcmp(rule, "custom") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the custom rule needs a resolver"),
				 errhint("Create the log with another rule, then use tieredlog.set_conflict_rule(log_name, 'custom', resolver).")));
	log_id = tl_catalog_insert_log(name, interval_us, rule);
	tl_ledger_log_created(name, interval_us, rule);
	PG_RETURN_INT32(log_id);
}

Datum
tieredlog_drop_log(PG_FUNCTION_ARGS)
{
	TlLog		log;

	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.drop_log()");
	arg_user_log(fcinfo, 0, &log);
	tl_catalog_drop_log(&log);
	tl_ledger_log_dropped(log.name);
	tl_bump_catalog_generation_at_commit();
	tl_segment_cache_reset();
	PG_RETURN_VOID();
}

Datum
tieredlog_append(PG_FUNCTION_ARGS)
{
	TlLog		log;
	TlAppendInput in;

	tl_require_preload();
	arg_user_log(fcinfo, 0, &log);
	in.key = ARG_TEXT_OR_NULL(1);
	in.payload = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	in.source = ARG_TEXT_OR_NULL(3);
	in.has_ts = !PG_ARGISNULL(4);
	in.ts = in.has_ts ? PG_GETARG_TIMESTAMPTZ(4) : 0;
	PG_RETURN_INT64(tl_append(&log, &in));
}

/* Deconstruct a one-dimensional array argument; *n = -1 when the argument is NULL. */
static void
arg_array(FunctionCallInfo fcinfo, int argno, const char *what, Oid elemtype,
		  Datum **elems, bool **nulls, int *n)
{
	ArrayType  *arr;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	*n = -1;
	if (PG_ARGISNULL(argno))
		return;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, elems, nulls, n);
}

static void
check_same_length(const char *what, int n, int expected)
{
	if (n >= 0 && n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s has %d elements but keys has %d", what, n, expected),
				 errhint("Pass arrays of the same length, or NULL for sources and ts.")));
}

Datum
tieredlog_append_many(PG_FUNCTION_ARGS)
{
	TlLog		log;
	Datum	   *keys, *payloads, *sources = NULL, *tss = NULL;
	bool	   *knull, *pnull, *snull = NULL, *tnull = NULL;
	int			nk, np, ns, nt;
	TlAppendInput *in;

	tl_require_preload();
	arg_user_log(fcinfo, 0, &log);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("keys and payloads must not be null")));
	arg_array(fcinfo, 1, "keys", TEXTOID, &keys, &knull, &nk);
	arg_array(fcinfo, 2, "payloads", JSONBOID, &payloads, &pnull, &np);
	arg_array(fcinfo, 3, "sources", TEXTOID, &sources, &snull, &ns);
	arg_array(fcinfo, 4, "ts", TIMESTAMPTZOID, &tss, &tnull, &nt);
	check_same_length("payloads", np, nk);
	check_same_length("sources", ns, nk);
	check_same_length("ts", nt, nk);

	in = palloc0(sizeof(TlAppendInput) * Max(nk, 1));
	for (int i = 0; i < nk; i++)
	{
		in[i].key = knull[i] ? NULL : DatumGetTextPP(keys[i]);
		in[i].payload = pnull[i] ? NULL : DatumGetJsonbP(payloads[i]);
		in[i].source = (ns < 0 || snull[i]) ? NULL : DatumGetTextPP(sources[i]);
		in[i].has_ts = nt >= 0 && !tnull[i];
		in[i].ts = in[i].has_ts ? DatumGetTimestampTz(tss[i]) : 0;
	}
	PG_RETURN_INT64(tl_append_batch(&log, in, nk));
}

static TimestampTz
arg_ts_or(FunctionCallInfo fcinfo, int n, TimestampTz dflt)
{
	return PG_ARGISNULL(n) ? dflt : PG_GETARG_TIMESTAMPTZ(n);
}

Datum
tieredlog_read(PG_FUNCTION_ARGS)
{
	TlLog		log;

	tl_require_preload();
	arg_log(fcinfo, 0, &log);
	tl_read_into(fcinfo, &log, arg_ts_or(fcinfo, 1, DT_NOBEGIN), arg_ts_or(fcinfo, 2, DT_NOEND),
				 ARG_TEXT_OR_NULL(3));
	return (Datum) 0;
}

Datum
tieredlog_latest(PG_FUNCTION_ARGS)
{
	TlLog		log;

	tl_require_preload();
	arg_log(fcinfo, 0, &log);
	if (PG_ARGISNULL(1))
		tl_check_key(NULL);
	tl_latest_into(fcinfo, &log, PG_GETARG_TEXT_PP(1));
	return (Datum) 0;
}

static void
require_segment(int64 segment_id, TlSegment *seg)
{
	if (!tl_catalog_get_segment(segment_id, seg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment %lld does not exist", (long long) segment_id)));
}

Datum
tieredlog_segment_digest(PG_FUNCTION_ARGS)
{
	TlSegmentDigest *d = palloc(sizeof(TlSegmentDigest));
	TlSegment	seg;

	tl_require_preload();
	require_segment(PG_GETARG_INT64(0), &seg);
	tl_digest_load(seg.segment_id, d);
	PG_RETURN_TEXT_P(cstring_to_text(tl_digest_to_text(&d->root)));
}

Datum
tieredlog_segment_leaves(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlSegmentDigest *d = palloc(sizeof(TlSegmentDigest));
	TlSegment	seg;

	tl_require_preload();
	require_segment(PG_GETARG_INT64(0), &seg);
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
static char *
recompute_or_fail(const TlLog *log, const TlSegment *seg, TlSegmentDigest *fresh)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *failure = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		tl_digest_recompute(log, seg, GetActiveSnapshot(), fresh);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *err;

		MemoryContextSwitchTo(cxt);
		err = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		failure = psprintf("error: %s", err->message);
	}
	PG_END_TRY();
	return failure;
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
	bool		one_log = !PG_ARGISNULL(0);

	tl_require_preload();
	if (one_log)
		arg_log(fcinfo, 0, &log);
	InitMaterializedSRF(fcinfo, 0);
	segs = one_log ? tl_catalog_log_segments(log.log_id, DT_NOBEGIN, DT_NOEND, GetActiveSnapshot())
		: tl_catalog_all_segments(GetActiveSnapshot());
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
	require_segment(PG_GETARG_INT64(0), &seg);
	PG_RETURN_INT64(tl_digest_compact(seg.segment_id, true));
}

Datum
tieredlog_node_name(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_TEXT_P(cstring_to_text(tl_node_name()));
}

Datum
tieredlog_hlc_now(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_TIMESTAMPTZ(tl_hlc_now());
}

/* ---- tiers, sealing, moves ------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(tieredlog_set_tier);
PG_FUNCTION_INFO_V1(tieredlog_seal);
PG_FUNCTION_INFO_V1(tieredlog_move_segment);
PG_FUNCTION_INFO_V1(tieredlog_sweep);
PG_FUNCTION_INFO_V1(tieredlog_segment_stored_bytes);
PG_FUNCTION_INFO_V1(tieredlog_segment_frames);

static void
require_args(FunctionCallInfo fcinfo, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", what)));
}

Datum
tieredlog_set_tier(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.set_tier()");
	require_args(fcinfo, 2, "tier and tablespace");
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
	require_args(fcinfo, 1, "segment_id");
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
	require_args(fcinfo, 2, "segment_id and tier");
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
	require_segment(PG_GETARG_INT64(0), &seg);
	PG_RETURN_INT64(tl_segment_stored_bytes(&seg));
}

Datum
tieredlog_segment_frames(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlSegment	seg;

	tl_require_preload();
	require_segment(PG_GETARG_INT64(0), &seg);
	InitMaterializedSRF(fcinfo, 0);
	if (seg.archive_attempt != 0)
		tl_archive_directory(seg.log_id, seg.segment_id, seg.archive_attempt, rsinfo->setResult,
							 rsinfo->setDesc);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(tieredlog_progress);

Datum
tieredlog_progress(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	tl_progress_rows(fcinfo);
	return (Datum) 0;
}

/* ---- workers, access statistics, status ------------------------------------------------------ */

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

/* ---- peers ------------------------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(tieredlog_add_peer);
PG_FUNCTION_INFO_V1(tieredlog_drop_peer);
PG_FUNCTION_INFO_V1(tieredlog_apply_status);
PG_FUNCTION_INFO_V1(tieredlog_set_peer_enabled);

/* The CONFIG ledger entry of a peer change (the conninfo stays out: it may hold a password). */
static void
config_peer(const char *action, const char *peer_name, const char *enabled)
{
	TlJson		j;

	tl_json_init(&j);
	tl_json_text(&j, "peer", peer_name);
	if (enabled)
		tl_json_raw(&j, "enabled", enabled);
	tl_ledger_config(action, NULL, tl_json_finish(&j));
}

Datum
tieredlog_set_peer_enabled(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	require_args(fcinfo, 2, "peer_name and enabled");
	PreventCommandIfReadOnly("tieredlog.set_peer_enabled()");
	tl_set_peer_enabled(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_BOOL(1));
	config_peer("set_peer_enabled", text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_BOOL(1) ? "true" : "false");
	PG_RETURN_VOID();
}
PG_FUNCTION_INFO_V1(tieredlog_mask_conninfo);
PG_FUNCTION_INFO_V1(tieredlog_set_peer_role);

/* set_peer_role(peer_name, peer_role) */
Datum
tieredlog_set_peer_role(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	require_args(fcinfo, 1, "peer_name");
	PreventCommandIfReadOnly("tieredlog.set_peer_role()");
	tl_set_peer_role(text_to_cstring(PG_GETARG_TEXT_PP(0)),
					 PG_ARGISNULL(1) ? NULL : NameStr(*PG_GETARG_NAME(1)));
	PG_RETURN_VOID();
}

Datum
tieredlog_add_peer(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	require_args(fcinfo, 2, "peer_name and conninfo");
	PreventCommandIfReadOnly("tieredlog.add_peer()");
	tl_node_require(false, "tieredlog.add_peer()");
	tl_add_peer(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	config_peer("add_peer", text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL);
	PG_RETURN_VOID();
}

Datum
tieredlog_drop_peer(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	require_args(fcinfo, 1, "peer_name");
	PreventCommandIfReadOnly("tieredlog.drop_peer()");
	tl_drop_peer(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	config_peer("drop_peer", text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL);
	PG_RETURN_VOID();
}

Datum
tieredlog_apply_status(PG_FUNCTION_ARGS)
{
	tl_apply_rows(fcinfo);
	return (Datum) 0;
}

Datum
tieredlog_mask_conninfo(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(tl_mask_conninfo(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

/* ---- reconciliation ---------------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(tieredlog_ae_roots);
PG_FUNCTION_INFO_V1(tieredlog_ae_leaves);
PG_FUNCTION_INFO_V1(tieredlog_ae_ids);
PG_FUNCTION_INFO_V1(tieredlog_ae_iblt);
PG_FUNCTION_INFO_V1(tieredlog_ae_rid);
PG_FUNCTION_INFO_V1(tieredlog_record_rid);

Datum
tieredlog_ae_rid(PG_FUNCTION_ARGS)
{
	TlRid		rid;
	pg_uuid_t  *u;

	tl_require_preload();
	if (!tl_segrows_local_rid(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
				   PG_GETARG_INT64(2), PG_GETARG_TIMESTAMPTZ(3), PG_GETARG_TEXT_PP(4), &rid))
		PG_RETURN_NULL();
	u = palloc(sizeof(pg_uuid_t));
	memcpy(u->data, rid.bytes, TL_RID_LEN);
	PG_RETURN_UUID_P(u);
}

/* The rid a record with these fields has (the canonical encoding's seeded XXH3-128). */
Datum
tieredlog_record_rid(PG_FUNCTION_ARGS)
{
	TlRecord	rec;
	pg_uuid_t  *u;

	tl_require_preload();
	tl_record_from_args(fcinfo, &rec);
	tl_record_compute_rid(&rec);
	u = palloc(sizeof(pg_uuid_t));
	memcpy(u->data, rec.rid.bytes, TL_RID_LEN);
	PG_RETURN_UUID_P(u);
}

Datum
tieredlog_ae_iblt(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_BYTEA_P(tl_ae_iblt(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_TIMESTAMPTZ(1),
								 PG_GETARG_ARRAYTYPE_P(2), PG_GETARG_ARRAYTYPE_P(3), PG_GETARG_INT64(4)));
}
PG_FUNCTION_INFO_V1(tieredlog_ae_fetch);
PG_FUNCTION_INFO_V1(tieredlog_ae_store);
PG_FUNCTION_INFO_V1(tieredlog_reconcile);
PG_FUNCTION_INFO_V1(tieredlog_reconcile_segment);

Datum
tieredlog_ae_roots(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_BYTEA_P(tl_ae_roots(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_TIMESTAMPTZ(1),
								  PG_GETARG_TIMESTAMPTZ(2), PG_GETARG_BOOL(3)));
}

Datum
tieredlog_ae_leaves(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_BYTEA_P(tl_ae_leaves(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_TIMESTAMPTZ(1)));
}

Datum
tieredlog_ae_ids(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_BYTEA_P(tl_ae_ids(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_TIMESTAMPTZ(1),
								PG_GETARG_ARRAYTYPE_P(2), PG_GETARG_INT64(3)));
}

Datum
tieredlog_ae_fetch(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_BYTEA_P(tl_ae_fetch(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_TIMESTAMPTZ(1),
								  PG_GETARG_ARRAYTYPE_P(2), PG_GETARG_INT64(3), PG_GETARG_BYTEA_PP(4)));
}

Datum
tieredlog_ae_store(PG_FUNCTION_ARGS)
{
	int64		counts[3] = {0, 0, 0};
	Datum		d[3];
	TlSender	sender;

	tl_require_preload();
	/* from_node is a claim: the sender is the peer the caller's role stands for */
	sender = tl_authenticate_sender(GetUserId(), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	tl_node_require(false, "storing records a peer sends");
	tl_ae_store(PG_GETARG_BYTEA_PP(0), sender.peer_name, sender.node_name, counts);
	for (int i = 0; i < 3; i++)
		d[i] = Int64GetDatum(counts[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, 3, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

typedef struct ReconcileOut
{
	ReturnSetInfo *rsinfo;
} ReconcileOut;

/* One result row, and a history row for every segment that was not already in sync. */
static void
emit_reconcile_row(const TlReconcileResult *r, void *arg)
{
	ReconcileOut *o = arg;
	Datum		v[TL_RECONCILE_NCOLS];
	bool		n[TL_RECONCILE_NCOLS];

	tl_reconcile_result_values(r, v, n);
	tuplestore_putvalues(o->rsinfo->setResult, o->rsinfo->setDesc, v, n);
	tl_reconcile_log_result(r);
}

Datum
tieredlog_reconcile(PG_FUNCTION_ARGS)
{
	ReconcileOut o;

	tl_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	o.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	tl_reconcile(PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)),
				 PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)),
				 PG_ARGISNULL(2) ? DT_NOBEGIN : PG_GETARG_TIMESTAMPTZ(2),
				 PG_ARGISNULL(3) ? DT_NOEND : PG_GETARG_TIMESTAMPTZ(3),
				 PG_ARGISNULL(4) ? false : PG_GETARG_BOOL(4),
				 emit_reconcile_row, &o);
	return (Datum) 0;
}

Datum
tieredlog_reconcile_segment(PG_FUNCTION_ARGS)
{
	ReconcileOut o;
	TlSegment	seg;
	TlLog		log;

	tl_require_preload();
	require_args(fcinfo, 1, "segment_id");
	if (!tl_catalog_get_segment(PG_GETARG_INT64(0), &seg) || !tl_catalog_find_log_by_id(seg.log_id, &log))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment %lld does not exist", (long long) PG_GETARG_INT64(0))));
	InitMaterializedSRF(fcinfo, 0);
	o.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	/* a tier 2 segment named explicitly is reconciled, frames and all */
	tl_reconcile(log.name, PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)),
				 seg.range_start, seg.range_start + 1, true, emit_reconcile_row, &o);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(tieredlog_scrub);

/* scrub(log_name, segment_id): every segment, those of one log, or one; a row per segment scrubbed */
Datum
tieredlog_scrub(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *segs = NIL;
	ListCell   *lc;
	TlLog		log;
	bool		one_log = !PG_ARGISNULL(0);

	tl_require_preload();
	if (one_log)
		arg_log(fcinfo, 0, &log);
	if (!PG_ARGISNULL(1))
	{
		TlSegment  *seg = palloc(sizeof(TlSegment));

		require_segment(PG_GETARG_INT64(1), seg);
		if (!one_log || seg->log_id == log.log_id)
			segs = list_make1(seg);
	}
	else
		segs = one_log ? tl_catalog_log_segments(log.log_id, DT_NOBEGIN, DT_NOEND, GetActiveSnapshot())
			: tl_catalog_all_segments(GetActiveSnapshot());
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, segs)
	{
		TlSegment  *seg = lfirst(lc);
		TlLog		seg_log;
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		int64		damaged;

		CHECK_FOR_INTERRUPTS();
		if (!tl_catalog_find_log_by_id(seg->log_id, &seg_log))
			continue;
		values[4] = Int64GetDatum(tl_scrub_segment(seg->segment_id, &damaged));
		values[0] = CStringGetTextDatum(seg_log.name);
		values[1] = Int64GetDatum(seg->segment_id);
		values[2] = TimestampTzGetDatum(seg->range_start);
		values[3] = Int32GetDatum(seg->tier);
		values[5] = Int64GetDatum(damaged);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(tieredlog_create_internal_logs);
PG_FUNCTION_INFO_V1(tieredlog_set_conflict_rule);
PG_FUNCTION_INFO_V1(tieredlog_set_source_priority);
PG_FUNCTION_INFO_V1(tieredlog_resolve_conflict);

/* At CREATE EXTENSION: tieredlog's own logs, with the same interval on every node. */
Datum
tieredlog_create_internal_logs(PG_FUNCTION_ARGS)
{
	TlLog		log;

	tl_require_preload();
	/* not in the ledger: every node has it, and a restore must find the ledger empty (README) */
	if (!tl_catalog_find_log(TL_SEEN_LOG, &log))
		(void) tl_catalog_insert_log(TL_SEEN_LOG, USECS_PER_DAY, "last_writer_wins");
	PG_RETURN_VOID();
}

/* A custom rule's resolver: (jsonb, jsonb) returning text. */
static void
check_resolver(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		ok;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %u does not exist", fn)));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	ok = proc->pronargs == 2 && proc->proargtypes.values[0] == JSONBOID &&
		proc->proargtypes.values[1] == JSONBOID && proc->prorettype == TEXTOID && !proc->proretset &&
		proc->prokind == PROKIND_FUNCTION;
	ReleaseSysCache(tup);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("resolver %s must take (jsonb, jsonb) and return text", format_procedure(fn)),
				 errhint("It is given both records and returns the winner's 'origin:seq'.")));
	/*
	 * The resolver runs as its owner (conflict.c), so naming one is acting as that owner: only
	 * its owner (or a member of the owner's role) may choose it.
	 */
	if (!pg_proc_ownercheck(fn, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be the owner of function %s to make it a resolver", format_procedure(fn)),
				 errdetail("A resolver runs as the role that owns it.")));
}

/* set_conflict_rule(log_name, rule, resolver) */
Datum
tieredlog_set_conflict_rule(PG_FUNCTION_ARGS)
{
	TlLog		log;
	char	   *rule;
	Oid			resolver = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);

	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.set_conflict_rule()");
	arg_user_log(fcinfo, 0, &log);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("conflict rule must not be null")));
	rule = text_to_cstring(PG_GETARG_TEXT_PP(1));
	tl_check_rule(rule);
	if (strcmp(rule, "custom") == 0 && !OidIsValid(resolver))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the custom rule needs a resolver")));
	if (strcmp(rule, "custom") != 0 && OidIsValid(resolver))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only the custom rule takes a resolver")));
	if (OidIsValid(resolver))
		check_resolver(resolver);
	tl_catalog_set_rule(&log, rule, resolver);
	{
		TlJson		j;

		tl_json_init(&j);
		tl_json_text(&j, "rule", rule);
		tl_json_text(&j, "resolver", OidIsValid(resolver) ? format_procedure(resolver) : NULL);
		tl_ledger_config("set_conflict_rule", log.name, tl_json_finish(&j));
	}
	PG_RETURN_VOID();
}

/* set_source_priority(source, priority): NULL priority removes the source. */
Datum
tieredlog_set_source_priority(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	TlAsOwner	save;

	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.set_source_priority()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null")));
	tl_check_source(PG_GETARG_TEXT_PP(0));
	values[0] = PointerGetDatum(PG_GETARG_TEXT_PP(0));
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	tl_become_owner(&save);
	if (PG_ARGISNULL(1))
		tl_spi_exec("DELETE FROM tieredlog.source_priority WHERE source = $1", 1, types, values, SPI_OK_DELETE);
	else
		tl_spi_exec("INSERT INTO tieredlog.source_priority (source, priority) VALUES ($1, $2)"
					" ON CONFLICT (source) DO UPDATE SET priority = EXCLUDED.priority",
					2, types, values, SPI_OK_INSERT);
	tl_restore_user(&save);
	{
		TlJson		j;

		tl_json_init(&j);
		tl_json_text(&j, "source", text_to_cstring(PG_GETARG_TEXT_PP(0)));
		if (PG_ARGISNULL(1))
			tl_json_raw(&j, "priority", "null");
		else
			tl_json_int(&j, "priority", PG_GETARG_INT32(1));
		tl_ledger_config("set_source_priority", NULL, tl_json_finish(&j));
	}
	PG_RETURN_VOID();
}

/* resolve_conflict(conflict_id, winner): the new record's 'origin:seq' */
Datum
tieredlog_resolve_conflict(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("conflict_id and winner must not be null")));
	PG_RETURN_TEXT_P(cstring_to_text(tl_conflict_resolve(PG_GETARG_INT64(0),
														 text_to_cstring(PG_GETARG_TEXT_PP(1)))));
}
