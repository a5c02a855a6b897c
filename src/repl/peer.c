/*-------------------------------------------------------------------------
 * peer.c
 *		Peers: add_peer() creates this node's slot on the peer and the replication origin here;
 *		drop_peer() stops the apply worker and removes both. The role that adds a peer owns it:
 *		connections to the peer follow the password rule for that role (peer_conn.c).
 *
 * A peer's slot is named after this node and database (tieredlog_<hash>_<node>), so several
 * nodes, or several databases of one node, can stream from the same peer. add_peer() talks to
 * the peer over an ordinary libpq connection before it commits here: if this transaction then
 * rolls back, the slot it created on the peer stays behind (drop it there; the hint says how).
 *
 * Locking: none of its own; tieredlog.peer's unique constraints serialise concurrent add_peer()
 * calls for the same name.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/cryptohash.h"
#include "common/md5.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "core/safe_spi.h"
#include "repl/apply.h"
#include "store/catalog.h"
#include "store/peer_store.h"
#include "repl/peer.h"
#include "repl/peer_conn.h"
#include "core/record.h"
#include "core/tieredlog.h"
#include "core/upcalls.h"
#include "core/validate.h"

/* ---- names ---------------------------------------------------------------------------------- */

/* This node's slot name on its peers: tieredlog_<12 hex of md5(node/db)>_<node, sanitised>. */
static char *
local_slot_name(void)
{
	const char *node = tl_node_name();
	char	   *key = psprintf("%s/%s", node, get_database_name(MyDatabaseId));
	char		hex[33];
	const char *errstr = NULL;
	StringInfoData name;

	if (!pg_md5_hash(key, strlen(key), hex, &errstr))
		elog(ERROR, "could not compute a slot name: %s", errstr ? errstr : "md5 failed");
	initStringInfo(&name);
	appendStringInfo(&name, "tieredlog_%.12s_", hex);
	for (const char *c = node; *c && name.len < NAMEDATALEN - 1; c++)
		appendStringInfoChar(&name, (isalnum((unsigned char) *c)) ? pg_tolower((unsigned char) *c) : '_');
	return name.data;
}

static char *
origin_name_for(const char *peer_name)
{
	return psprintf("tieredlog:%s", peer_name);
}

/* ---- talking to the peer -------------------------------------------------------------------- */

/*
 * The hint for a peer's refusal that is one of its limits (its settings, not ours), or NULL.
 * Matched on the peer's message: a refused connection carries no SQLSTATE through libpq's
 * connection error.
 */
const char *
tl_peer_limit_hint(const char *msg)
{
	if (msg == NULL)
		return NULL;
	if (strstr(msg, "max_wal_senders") != NULL)
		return "On the peer, raise max_wal_senders (needs a restart there) or end a replication connection it does not need; each node streaming from it uses one wal sender.";
	if (strstr(msg, "replication slots are in use") != NULL || strstr(msg, "max_replication_slots") != NULL)
		return "On the peer, raise max_replication_slots (needs a restart there) or drop a slot it does not need (pg_drop_replication_slot()); each node streaming from it uses one slot.";
	if (strstr(msg, "too many clients") != NULL || strstr(msg, "connection slots are reserved") != NULL)
		return "On the peer, raise max_connections (needs a restart there) or end connections it does not need.";
	return NULL;
}


/* Run a query on the peer with text parameters; returns the result (caller clears) or errors. */
static PGresult *
peer_exec(PGconn *conn, const char *peer_name, const char *sql, int nparams, const char *const *params,
		  const char *hint)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		/* the peer's message without its "ERROR:" prefix and its own hint (ours follows) */
		char	   *msg = primary ? pstrdup(primary) : pchomp(PQresultErrorMessage(res));
		char	   *full = pchomp(PQresultErrorMessage(res));
		char	   *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		/* only a peer that has output_plugin_libraries (15.19+) names it in its refusal */
		bool		plugin_refused = strstr(full, "output_plugin_libraries") != NULL;

		sqlstate = sqlstate ? pstrdup(sqlstate) : NULL;
		PQclear(res);
		PQfinish(conn);
		ereport(ERROR,
				(errcode(sqlstate && strlen(sqlstate) == 5
						 ? MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4])
						 : ERRCODE_CONNECTION_FAILURE),
				 errmsg("peer \"%s\": %s", peer_name, msg),
				 plugin_refused
				 ? errhint("On the peer, add tieredlog to output_plugin_libraries, e.g. output_plugin_libraries = 'pgoutput, test_decoding, tieredlog', and reload.")
				 : tl_peer_limit_hint(full) ? errhint("%s", tl_peer_limit_hint(full))
				 : (hint ? errhint("%s", hint) : 0)));
	}
	return res;
}

/* ---- add_peer / drop_peer ---------------------------------------------------------------------- */

static void
add_peer(const char *peer_name, const char *conninfo)
{
	TlPeerAddr	addr = {peer_name, conninfo, GetUserId()};
	PGconn	   *conn;
	PGresult   *res;
	char	   *slot = local_slot_name();
	const char *params[1];
	TlPeerRow	row;
	char	   *remote_node;
	TlAsOwner	save;
	RepOriginId origin;

	tl_check_name("peer", peer_name);
	tl_peer_check_conninfo(conninfo, addr.owner);

	conn = tl_peer_connect(&addr, "tieredlog add_peer");
	res = peer_exec(conn, peer_name, "SELECT tieredlog.node_name()", 0, NULL,
					"The peer needs tieredlog installed (CREATE EXTENSION tieredlog) in the database the conninfo names.");
	remote_node = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!tl_name_is_valid(remote_node))
	{
		PQfinish(conn);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("peer \"%s\" reports an invalid node name", peer_name),
				 errhint("Set a valid tieredlog.node_name on the peer.")));
	}
	if (strcmp(remote_node, tl_node_name()) == 0)
	{
		PQfinish(conn);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("peer \"%s\" has this node's name \"%s\"", peer_name, remote_node),
				 errhint("Each node needs its own tieredlog.node_name; a node cannot be its own peer.")));
	}
	params[0] = slot;
	res = peer_exec(conn, peer_name, "SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
					1, params, NULL);
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		res = peer_exec(conn, peer_name,
						"SELECT pg_catalog.pg_create_logical_replication_slot($1, 'tieredlog')", 1, params,
						"The peer needs wal_level = logical, a free max_replication_slots entry, and a role with REPLICATION.");
	}
	else
		ereport(NOTICE,
				(errmsg("slot \"%s\" already exists on peer \"%s\"; streaming resumes from it", slot, peer_name)));
	PQclear(res);
	PQfinish(conn);

	/* the local side: origin and catalog row */
	origin = replorigin_by_name(origin_name_for(peer_name), true);
	if (origin == InvalidRepOriginId)
		(void) replorigin_create(origin_name_for(peer_name));
	memset(&row, 0, sizeof(row));
	row.name = (char *) peer_name;
	row.conninfo = (char *) conninfo;
	row.slot_name = slot;
	row.origin_name = origin_name_for(peer_name);
	row.node_name = remote_node;
	row.owner = addr.owner;
	tl_become_owner(&save);
	PG_TRY();
	{
		tl_peer_insert(&row);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopTransactionContext);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION)
		{
			FlushErrorState();
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("peer \"%s\" already exists", peer_name)));
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	tl_restore_user(&save);
	tl_wake_worker_at_commit();
}

/*
 * add_peer(): the peer's node name, this node's slot there, the origin and the catalog row here.
 * The caller becomes the peer's owner. Its errors leave the statement out of the server log: the
 * statement holds the conninfo.
 */
void
tl_add_peer(const char *peer_name, const char *conninfo)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		add_peer(peer_name, conninfo);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->hide_stmt = true;
		ReThrowError(edata);
	}
	PG_END_TRY();
}

void
tl_drop_peer(const char *peer_name)
{
	TlAsOwner	save;
	TlPeerRow	row;
	TlPeerAddr	addr;
	int32		peer_id;
	char	   *slot;
	char	   *origin;
	char	   *error;
	PGconn	   *conn;

	tl_check_name("peer", peer_name);
	tl_become_owner(&save);
	if (!tl_peer_delete(peer_name, &row))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", peer_name)));
	tl_restore_user(&save);
	peer_id = row.peer_id;
	addr = (TlPeerAddr) {peer_name, row.conninfo, row.owner};
	slot = row.slot_name;
	origin = row.origin_name;

	if (!tl_apply_stop_worker(peer_id, 10000))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("the apply worker of peer \"%s\" did not stop", peer_name),
				 errhint("Retry drop_peer().")));
	replorigin_drop_by_name(origin, true, false);

	/* the slot on the peer: if the peer is gone, say so and go on */
	conn = tl_peer_try_connect(&addr, "tieredlog drop_peer", TL_PEER_CONNECT_TIMEOUT, &error);
	if (conn != NULL)
	{
		const char *params[1] = {slot};
		PGresult   *res = PQexecParams(conn,
									   "SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
									   1, NULL, params, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			ereport(WARNING,
					(errmsg("could not drop slot \"%s\" on peer \"%s\": %s", slot, peer_name,
							pchomp(PQresultErrorMessage(res))),
					 errhint("On the peer, run SELECT pg_drop_replication_slot('%s') once it is inactive; until then it keeps WAL.", slot)));
		PQclear(res);
		PQfinish(conn);
	}
	else
		ereport(WARNING,
				(errmsg("peer \"%s\" is unreachable; its slot \"%s\" was not dropped there: %s", peer_name,
						slot, error),
				 errhint("When the peer is back, run SELECT pg_drop_replication_slot('%s') on it; until then it keeps WAL.", slot)));
}

/* Pause (false) or resume (true) streaming from a peer; its slot keeps WAL while paused. */
void
tl_set_peer_enabled(const char *peer_name, bool enabled)
{
	TlAsOwner	save;
	int32		peer_id;

	tl_check_name("peer", peer_name);
	tl_become_owner(&save);
	if (!tl_peer_set_enabled(peer_name, enabled, &peer_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", peer_name)));
	tl_restore_user(&save);
	if (!enabled && !tl_apply_stop_worker(peer_id, 10000))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("the apply worker of peer \"%s\" did not stop", peer_name)));
	if (enabled)
		tl_apply_clear_backoff(peer_id);
	tl_wake_worker_at_commit();
}

/*
 * The apply worker found its slot on the peer gone or invalidated: create it again (dropping an
 * invalidated one first) and record the commit-time range this node may have missed as a gap.
 * Runs in the apply worker, inside a transaction.
 */
void
tl_peer_recreate_slot(const TlPeerAddr *peer, const char *slot, const char *reason, TimestampTz from_ts)
{
	int			guc_level;
	const char *peer_name = peer->name;
	PGconn	   *conn = tl_peer_connect(peer, "tieredlog add_peer");
	const char *params[1] = {slot};
	PGresult   *res;

	res = peer_exec(conn, peer_name,
					"SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots"
					" WHERE slot_name = $1 AND NOT active", 1, params, NULL);
	PQclear(res);
	res = peer_exec(conn, peer_name, "SELECT pg_catalog.pg_create_logical_replication_slot($1, 'tieredlog')",
					1, params, NULL);
	PQclear(res);
	PQfinish(conn);
	guc_level = tl_spi_connect();
	tl_gap_insert(peer_name, from_ts, reason, slot);
	tl_spi_finish(guc_level);
	ereport(LOG,
			(errmsg("tieredlog: slot \"%s\" on peer \"%s\" was %s; recreated it and recorded a gap from %s",
					slot, peer_name, reason, timestamptz_to_str(from_ts))));
}
