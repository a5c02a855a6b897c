/*-------------------------------------------------------------------------
 * peers.c
 *		SQL-callable wrappers. Peers: adding, dropping, enabling, their roles, and the apply workers' state.
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
#include "log/ledger.h"
#include "log/node.h"
#include "repl/apply.h"
#include "repl/peer.h"
#include "repl/peer_auth.h"
#include "repl/peer_conn.h"
#include "api/args.h"

PG_FUNCTION_INFO_V1(tieredlog_set_peer_enabled);
PG_FUNCTION_INFO_V1(tieredlog_set_peer_role);
PG_FUNCTION_INFO_V1(tieredlog_add_peer);
PG_FUNCTION_INFO_V1(tieredlog_drop_peer);
PG_FUNCTION_INFO_V1(tieredlog_apply_status);
PG_FUNCTION_INFO_V1(tieredlog_mask_conninfo);

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
	api_require_args(fcinfo, 2, "peer_name and enabled");
	PreventCommandIfReadOnly("tieredlog.set_peer_enabled()");
	tl_set_peer_enabled(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_BOOL(1));
	config_peer("set_peer_enabled", text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_BOOL(1) ? "true" : "false");
	PG_RETURN_VOID();
}

/* set_peer_role(peer_name, peer_role) */
Datum
tieredlog_set_peer_role(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	api_require_args(fcinfo, 1, "peer_name");
	PreventCommandIfReadOnly("tieredlog.set_peer_role()");
	tl_set_peer_role(text_to_cstring(PG_GETARG_TEXT_PP(0)),
					 PG_ARGISNULL(1) ? NULL : NameStr(*PG_GETARG_NAME(1)));
	PG_RETURN_VOID();
}

Datum
tieredlog_add_peer(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	api_require_args(fcinfo, 2, "peer_name and conninfo");
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
	api_require_args(fcinfo, 1, "peer_name");
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
