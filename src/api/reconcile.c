/*-------------------------------------------------------------------------
 * reconcile.c
 *		SQL-callable wrappers. Anti-entropy: the peer's side of the protocol (_ae_*), reconcile(), scrub().
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
#include "core/record.h"
#include "core/tieredlog.h"
#include "core/validate.h"
#include "store/catalog.h"
#include "store/digest.h"
#include "store/seal.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "log/append.h"
#include "log/causal.h"
#include "log/conflict.h"
#include "log/conflict_int.h"
#include "log/ledger.h"
#include "log/node.h"
#include "log/quarantine.h"
#include "log/read.h"
#include "log/scrub.h"
#include "log/tier.h"
#include "repl/peer_auth.h"
#include "repl/reconcile.h"
#include "repl/reconcile_local.h"
#include "repl/wire.h"
#include "api/args.h"

PG_FUNCTION_INFO_V1(tieredlog_ae_rid);
PG_FUNCTION_INFO_V1(tieredlog_record_rid);
PG_FUNCTION_INFO_V1(tieredlog_ae_iblt);
PG_FUNCTION_INFO_V1(tieredlog_ae_roots);
PG_FUNCTION_INFO_V1(tieredlog_ae_leaves);
PG_FUNCTION_INFO_V1(tieredlog_ae_ids);
PG_FUNCTION_INFO_V1(tieredlog_ae_fetch);
PG_FUNCTION_INFO_V1(tieredlog_ae_store);
PG_FUNCTION_INFO_V1(tieredlog_reconcile);
PG_FUNCTION_INFO_V1(tieredlog_reconcile_segment);
PG_FUNCTION_INFO_V1(tieredlog_scrub);

Datum
tieredlog_ae_rid(PG_FUNCTION_ARGS)
{
	TlRid		rid;

	tl_require_preload();
	if (!tl_segrows_local_rid(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
				   PG_GETARG_INT64(2), PG_GETARG_TIMESTAMPTZ(3), PG_GETARG_TEXT_PP(4), &rid))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(tl_rid_datum(&rid));
}

/* The rid a record with these fields has (the canonical encoding's seeded XXH3-128). */
Datum
tieredlog_record_rid(PG_FUNCTION_ARGS)
{
	TlRecord	rec;

	tl_require_preload();
	tl_record_from_args(fcinfo, &rec);
	tl_record_compute_rid(&rec);
	PG_RETURN_DATUM(tl_rid_datum(&rec.rid));
}

/* What _ae_iblt, _ae_ids and _ae_fetch are asked about: (log_name, range_start, leaves, ..., salt). */
typedef struct AeLeavesArgs
{
	const char *log_name;
	TimestampTz range_start;
	ArrayType  *leaves;
	int64		salt;
} AeLeavesArgs;

static AeLeavesArgs
ae_leaves_args(FunctionCallInfo fcinfo, int salt_arg)
{
	AeLeavesArgs a;

	tl_require_preload();
	a.log_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	a.range_start = PG_GETARG_TIMESTAMPTZ(1);
	a.leaves = PG_GETARG_ARRAYTYPE_P(2);
	a.salt = PG_GETARG_INT64(salt_arg);
	return a;
}

Datum
tieredlog_ae_iblt(PG_FUNCTION_ARGS)
{
	AeLeavesArgs a = ae_leaves_args(fcinfo, 4);

	PG_RETURN_BYTEA_P(tl_ae_iblt(a.log_name, a.range_start, a.leaves, PG_GETARG_ARRAYTYPE_P(3), a.salt));
}

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
	AeLeavesArgs a = ae_leaves_args(fcinfo, 3);

	PG_RETURN_BYTEA_P(tl_ae_ids(a.log_name, a.range_start, a.leaves, a.salt));
}

Datum
tieredlog_ae_fetch(PG_FUNCTION_ARGS)
{
	AeLeavesArgs a = ae_leaves_args(fcinfo, 3);

	PG_RETURN_BYTEA_P(tl_ae_fetch(a.log_name, a.range_start, a.leaves, a.salt, PG_GETARG_BYTEA_PP(4)));
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

/* An optional name argument: NULL, or a valid name (42602, the name cut short in the message). */
static char *
optional_name(FunctionCallInfo fcinfo, int argno, const char *what)
{
	return PG_ARGISNULL(argno) ? NULL : tl_arg_name(what, PG_GETARG_TEXT_PP(argno));
}

Datum
tieredlog_reconcile(PG_FUNCTION_ARGS)
{
	ReconcileOut o;
	char	   *log_name;

	tl_require_preload();
	/* a log that only the peers have is fine: reconciliation brings it here */
	log_name = optional_name(fcinfo, 0, "log");
	InitMaterializedSRF(fcinfo, 0);
	o.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	tl_reconcile(log_name, optional_name(fcinfo, 1, "peer"),
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
	api_require_args(fcinfo, 1, "segment_id");
	if (!tl_catalog_get_segment(PG_GETARG_INT64(0), &seg) || !tl_catalog_find_log_by_id(seg.log_id, &log))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment %lld does not exist", (long long) PG_GETARG_INT64(0))));
	InitMaterializedSRF(fcinfo, 0);
	o.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	/* a tier 2 segment named explicitly is reconciled, frames and all */
	tl_reconcile(log.name, optional_name(fcinfo, 1, "peer"),
				 seg.range_start, seg.range_start + 1, true, emit_reconcile_row, &o);
	return (Datum) 0;
}

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
	if (!PG_ARGISNULL(1))
	{
		TlSegment  *seg = palloc(sizeof(TlSegment));

		if (one_log)
			api_arg_log(fcinfo, 0, &log);
		api_require_segment(PG_GETARG_INT64(1), seg);
		if (!one_log || seg->log_id == log.log_id)
			segs = list_make1(seg);
	}
	else
		segs = api_arg_log_segments(fcinfo, 0, &log, &one_log);
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
