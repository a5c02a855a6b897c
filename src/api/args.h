/*-------------------------------------------------------------------------
 * args.h
 *		Argument checks shared by the SQL-callable wrappers (the files in api/). See args.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_API_ARGS_H
#define TIEREDLOG_API_ARGS_H

#include "postgres.h"
#include "fmgr.h"

#include "store/catalog.h"
#include "store/segment.h"

#define API_ARG_TEXT_OR_NULL(n)		(PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))

extern void api_arg_log(FunctionCallInfo fcinfo, int n, TlLog *out);
extern void api_arg_user_log(FunctionCallInfo fcinfo, int n, TlLog *out);
extern void api_arg_array(FunctionCallInfo fcinfo, int argno, const char *what, Oid elemtype,
						  Datum **elems, bool **nulls, int *n);
extern char *api_arg_rule(FunctionCallInfo fcinfo, int n);
extern TimestampTz api_arg_ts_or(FunctionCallInfo fcinfo, int n, TimestampTz dflt);
extern void api_require_segment(int64 segment_id, TlSegment *seg);
extern void api_require_args(FunctionCallInfo fcinfo, int n, const char *what);
extern void api_require_view_reader(const char *function, const char *const *views, int nviews);
extern List *api_arg_log_segments(FunctionCallInfo fcinfo, int n, TlLog *log, bool *one_log);

#endif							/* TIEREDLOG_API_ARGS_H */
