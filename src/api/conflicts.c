/*-------------------------------------------------------------------------
 * conflicts.c
 *		SQL-callable wrappers. Conflict rules, source priorities and resolving a conflict by hand.
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
#include "core/validate.h"
#include "store/catalog.h"
#include "store/priority_store.h"
#include "store/digest.h"
#include "store/seal.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "log/append.h"
#include "log/conflict.h"
#include "log/conflict_int.h"
#include "log/ledger.h"
#include "log/quarantine.h"
#include "log/read.h"
#include "log/tier.h"
#include "repl/reconcile_local.h"
#include "api/args.h"

PG_FUNCTION_INFO_V1(tieredlog_set_conflict_rule);
PG_FUNCTION_INFO_V1(tieredlog_set_source_priority);
PG_FUNCTION_INFO_V1(tieredlog_resolve_conflict);

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
	api_arg_user_log(fcinfo, 0, &log);
	rule = api_arg_rule(fcinfo, 1);
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
	TlAsOwner	save;
	int32		priority;

	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog.set_source_priority()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null")));
	tl_check_source(PG_GETARG_TEXT_PP(0));
	priority = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	tl_become_owner(&save);
	tl_source_priority_set(PG_GETARG_TEXT_PP(0), PG_ARGISNULL(1) ? NULL : &priority);
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
