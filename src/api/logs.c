/*-------------------------------------------------------------------------
 * logs.c
 *		SQL-callable wrappers. Logs: create, drop, append, read, latest; the node's name and clock.
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
#include "log/tier.h"
#include "repl/reconcile_local.h"
#include "api/args.h"

PG_FUNCTION_INFO_V1(tieredlog_require_preload);
PG_FUNCTION_INFO_V1(tieredlog_create_log);
PG_FUNCTION_INFO_V1(tieredlog_drop_log);
PG_FUNCTION_INFO_V1(tieredlog_append);
PG_FUNCTION_INFO_V1(tieredlog_append_many);
PG_FUNCTION_INFO_V1(tieredlog_read);
PG_FUNCTION_INFO_V1(tieredlog_latest);
PG_FUNCTION_INFO_V1(tieredlog_node_name);
PG_FUNCTION_INFO_V1(tieredlog_hlc_now);
PG_FUNCTION_INFO_V1(tieredlog_create_internal_logs);

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
	name = tl_arg_name("log", API_ARG_TEXT_OR_NULL(0));
	interval_us = tl_check_interval(PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1));
	rule = api_arg_rule(fcinfo, 2);
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
	api_arg_user_log(fcinfo, 0, &log);
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
	api_arg_user_log(fcinfo, 0, &log);
	in.key = API_ARG_TEXT_OR_NULL(1);
	in.payload = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	in.source = API_ARG_TEXT_OR_NULL(3);
	in.has_ts = !PG_ARGISNULL(4);
	in.ts = in.has_ts ? PG_GETARG_TIMESTAMPTZ(4) : 0;
	PG_RETURN_INT64(tl_append(&log, &in));
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
	api_arg_user_log(fcinfo, 0, &log);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("keys and payloads must not be null")));
	api_arg_array(fcinfo, 1, "keys", TEXTOID, &keys, &knull, &nk);
	api_arg_array(fcinfo, 2, "payloads", JSONBOID, &payloads, &pnull, &np);
	api_arg_array(fcinfo, 3, "sources", TEXTOID, &sources, &snull, &ns);
	api_arg_array(fcinfo, 4, "ts", TIMESTAMPTZOID, &tss, &tnull, &nt);
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

Datum
tieredlog_read(PG_FUNCTION_ARGS)
{
	TlLog		log;

	tl_require_preload();
	api_arg_log(fcinfo, 0, &log);
	tl_read_into(fcinfo, &log, api_arg_ts_or(fcinfo, 1, DT_NOBEGIN), api_arg_ts_or(fcinfo, 2, DT_NOEND),
				 API_ARG_TEXT_OR_NULL(3));
	return (Datum) 0;
}

Datum
tieredlog_latest(PG_FUNCTION_ARGS)
{
	TlLog		log;

	tl_require_preload();
	api_arg_log(fcinfo, 0, &log);
	if (PG_ARGISNULL(1))
		tl_check_key(NULL);
	tl_latest_into(fcinfo, &log, PG_GETARG_TEXT_PP(1));
	return (Datum) 0;
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
