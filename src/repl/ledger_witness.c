/*-------------------------------------------------------------------------
 * ledger_witness.c
 *		Ledger digests between nodes (log/ledger.c keeps the ledger itself). The worker's ledger
 *		round closes a block and, when entries other than witnesses were closed, gives the digest
 *		(head block id and hash) to every enabled peer; a peer keeps each digest it is given as a
 *		WITNESS entry (tieredlog._ae_witness), so a node that rewrites its history disagrees with
 *		the digests its peers hold.
 *
 * Security: _ae_witness takes the digest's node from the caller's role (tl_authenticate_sender),
 * never from the digest alone. Peers are reached with the adding role's rights (peer_conn.c).
 *
 * Locking: none of its own; entries are written through tl_ledger_add.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core/shmem.h"
#include "core/json.h"
#include "core/safe_spi.h"
#include "core/tieredlog.h"
#include "core/validate.h"
#include "store/catalog.h"
#include "store/ledger_store.h"
#include "store/peer_store.h"
#include "store/spi_rows.h"
#include "log/ledger.h"
#include "repl/ledger_witness.h"
#include "repl/peer_auth.h"
#include "repl/peer_conn.h"

/* ---- witnesses --------------------------------------------------------------------------------- */

static int64 last_pushed_block = 0;

/*
 * The worker's ledger round: close a block over pending entries; when entries other than
 * witnesses were closed since the last round that reached every peer, send the digest to every
 * enabled peer. Returns what happened.
 */
char *
tl_ledger_push_witness(void)
{
	int64		closed = tl_ledger_close_block();
	bool		changed;
	TlPeerRow  *peers;
	int			npeers;
	char	   *digest;
	int			sent = 0;
	int			failed = 0;
	int64		head;

	CommandCounterIncrement();
	{
		TlAsOwner	save;

		/* enabled peers, and whether entries other than witnesses were closed since the last push */
		tl_become_owner(&save);
		changed = tl_ledger_changed_since(last_pushed_block);
		peers = tl_peer_rows(NULL, &npeers);
		tl_restore_user(&save);
	}
	if (!changed || npeers == 0)
		return closed > 0 ? psprintf("block %lld closed", (long long) closed) : pstrdup("nothing to close");
	digest = tl_ledger_digest_json();
	{
		TlAsOwner	save;

		tl_become_owner(&save);
		head = tl_ledger_head_block();
		tl_restore_user(&save);
	}
	for (int i = 0; i < npeers; i++)
	{
		const TlPeerRow *p = &peers[i];
		TlPeerAddr	addr = {p->name, p->conninfo, p->owner};
		const char *params[1] = {digest};
		char	   *error;
		PGconn	   *conn = tl_peer_try_connect(&addr, "tieredlog witness", 5, &error);
		PGresult   *res = NULL;

		if (conn != NULL)
			res = PQexecParams(conn, "SELECT tieredlog._ae_witness($1::jsonb)", 1, NULL, params, NULL, NULL, 0);
		if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
			sent++;
		else
		{
			failed++;
			ereport(LOG,
					(errmsg("tieredlog: could not give the ledger digest to peer \"%s\": %s", p->name,
							conn ? pchomp(PQresultErrorMessage(res)) : error)));
		}
		PQclear(res);
		if (conn != NULL)
			PQfinish(conn);
	}
	if (failed == 0)
		last_pushed_block = head;
	return psprintf("digest of block %lld given to %d peers (%d failed)", (long long) head, sent, failed);
}

PG_FUNCTION_INFO_V1(tieredlog_ae_witness);

/*
 * _ae_witness(digest): a peer gives its ledger digest; keep it as a WITNESS entry. Returns 1, or
 * 0 when the same digest is already held. A different hash for a block already
 * witnessed means the peer's history changed: kept too, with a warning.
 */
Datum
tieredlog_ae_witness(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {JSONBOID};
	Datum		values[1];
	Oid			caller = GetUserId();	/* before the switch to the owner */
	TlAsOwner	save;
	char	   *node;
	char	   *block_id;
	char	   *hash;
	char	   *closed_at;
	char	   *digest_time;
	TlHash		h;
	TlJson		j;
	int64		held;

	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog._ae_witness()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("digest must not be null")));
	values[0] = PG_GETARG_DATUM(0);
	tl_become_owner(&save);
	tl_spi_exec("SELECT $1->>'node', CASE WHEN $1->>'block_id' ~ '^[0-9]{1,18}$' THEN $1->>'block_id' END,"
				" $1->>'block_hash', $1->>'closed_at', $1->>'digest_time'", 1, types, values, SPI_OK_SELECT);
	/* copied out of SPI's memory: the entry is built after the switch back */
	node = tl_spi_text(0, 1);
	block_id = tl_spi_text(0, 2);
	hash = tl_spi_text(0, 3);
	closed_at = tl_spi_text(0, 4);
	digest_time = tl_spi_text(0, 5);
	if (node == NULL || block_id == NULL || !tl_hash_from_hex(hash, &h))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a ledger digest needs node, block_id and block_hash"),
				 errhint("Pass what tieredlog.ledger_digest() returns.")));
	tl_check_name("node", node);
	/* the digest's node is a claim: only the peer the caller's role stands for may witness */
	node = tl_authenticate_sender(caller, node).node_name;
	if (strcmp(node, tl_node_name()) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a node cannot witness its own digest")));
	{
		int64		all;

		tl_ledger_witnessed(node, block_id, hash, &held, &all);
		if (held == 0 && all > 0)
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("node %s gave a different hash for its ledger block %s than before", node, block_id),
					 errdetail("Its history changed after it was witnessed; both digests are kept.")));
	}
	tl_restore_user(&save);
	if (held > 0)
		PG_RETURN_INT64(0);
	tl_json_init(&j);
	tl_json_text(&j, "node", node);
	tl_json_raw(&j, "block_id", block_id);
	tl_json_text(&j, "block_hash", tl_hash_to_hex(&h));
	tl_json_text(&j, "closed_at", closed_at);
	tl_json_text(&j, "digest_time", digest_time);
	tl_ledger_add("WITNESS", NULL, 0, tl_json_finish(&j));
	PG_RETURN_INT64(1);
}
