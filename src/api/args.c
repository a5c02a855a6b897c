/*-------------------------------------------------------------------------
 * args.c
 *		Argument checks shared by the SQL-callable wrappers (the files in api/): a log named by an
 *		argument, arrays, timestamps with defaults, segments that must exist.
 *
 * Locking: none of its own.
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

#include "core/validate.h"
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

/* A log named by argument n: valid, existing (tieredlog's own "_seen" included: it can be read). */
void
api_arg_log(FunctionCallInfo fcinfo, int n, TlLog *out)
{
	text	   *arg = API_ARG_TEXT_OR_NULL(n);
	char	   *name;

	if (arg == NULL)
		(void) tl_arg_name("log", NULL);
	name = text_to_cstring(arg);
	tl_check_wire_log_name(name);
	tl_lookup_log(name, out);
}

/* A log this call may change: not one of tieredlog's own. */
void
api_arg_user_log(FunctionCallInfo fcinfo, int n, TlLog *out)
{
	api_arg_log(fcinfo, n, out);
	if (out->name[0] == '_')
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("log \"%s\" belongs to tieredlog", out->name),
				 errdetail("It can be read, not written, dropped or reconfigured.")));
}

/* Deconstruct a one-dimensional array argument; *n = -1 when the argument is NULL. */
void
api_arg_array(FunctionCallInfo fcinfo, int argno, const char *what, Oid elemtype,
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

TimestampTz
api_arg_ts_or(FunctionCallInfo fcinfo, int n, TimestampTz dflt)
{
	return PG_ARGISNULL(n) ? dflt : PG_GETARG_TIMESTAMPTZ(n);
}

/* Argument n: a conflict rule (tl_check_rule), never null. */
char *
api_arg_rule(FunctionCallInfo fcinfo, int n)
{
	char	   *rule;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("conflict rule must not be null")));
	rule = text_to_cstring(PG_GETARG_TEXT_PP(n));
	tl_check_rule(rule);
	return rule;
}

void
api_require_segment(int64 segment_id, TlSegment *seg)
{
	if (!tl_catalog_get_segment(segment_id, seg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment %lld does not exist", (long long) segment_id)));
}

/*
 * The segments of the log named by argument n (*one_log, *log set), or of every log when it is
 * NULL, as the active snapshot sees them.
 */
List *
api_arg_log_segments(FunctionCallInfo fcinfo, int n, TlLog *log, bool *one_log)
{
	*one_log = !PG_ARGISNULL(n);
	if (!*one_log)
		return tl_catalog_all_segments(GetActiveSnapshot());
	api_arg_log(fcinfo, n, log);
	return tl_catalog_log_segments(log->log_id, DT_NOBEGIN, DT_NOEND, GetActiveSnapshot());
}

void
api_require_args(FunctionCallInfo fcinfo, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", what)));
}

/*
 * For a function a view calls (a view's functions are checked against its reader, so EXECUTE on
 * them is granted to PUBLIC): answer only a role that may read one of `views`, else 42501.
 */
void
api_require_view_reader(const char *function, const char *const *views, int nviews)
{
	StringInfoData names;

	for (int i = 0; i < nviews; i++)
		if (pg_class_aclcheck(tl_catalog_relid(views[i]), GetUserId(), ACL_SELECT) == ACLCHECK_OK)
			return;
	initStringInfo(&names);
	for (int i = 0; i < nviews; i++)
		appendStringInfo(&names, "%stieredlog.%s", i == 0 ? "" : i == nviews - 1 ? " or " : ", ", views[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for function %s", function),
			 errdetail("It answers roles that may read %s.", names.data)));
}
