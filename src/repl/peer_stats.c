/*-------------------------------------------------------------------------
 * peer_stats.c
 *		Peers' access statistics, gathered for the prediction model: each time the worker flushes
 *		its own counters (tieredlog.stats_flush_interval) it asks every enabled peer for the rows
 *		of its access_history newer than the ones it already has (tieredlog._ae_access(since),
 *		by the peer's clock) and keeps them in tieredlog.peer_access, with access_history's
 *		retention. A peer that cannot be reached is skipped until the next time.
 *
 * Locking: rows are written through SPI in the worker's transaction; one short libpq
 * connection per peer.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq-fe.h"
#include "utils/builtins.h"

#include "core/guc.h"
#include "store/catalog.h"
#include "store/peer_store.h"
#include "repl/peer_conn.h"
#include "repl/peer_stats.h"

/* Keep the rows one peer sent; returns how many. */
static int
keep_rows(const char *peer_name, PGresult *res)
{
	const char *cols[TL_PEER_ACCESS_NCOLS];
	TlAsOwner	save;
	int			n = PQntuples(res);

	tl_become_owner(&save);
	for (int r = 0; r < n; r++)
	{
		for (int c = 0; c < TL_PEER_ACCESS_NCOLS; c++)
			cols[c] = PQgetvalue(res, r, c);
		tl_peer_access_insert(peer_name, cols);
	}
	tl_restore_user(&save);
	return n;
}

/* One round: ask every enabled peer. Returns what happened, for the worker's report. */
char *
tl_gather_peer_access(void)
{
	TlPeerRow  *peers;
	int			npeers;
	int			rows = 0;
	int			asked = 0;
	int			unreachable = 0;
	TlAsOwner	save;

	tl_become_owner(&save);
	peers = tl_peer_access_sources(&npeers);
	tl_restore_user(&save);
	for (int i = 0; i < npeers; i++)
	{
		const TlPeerRow *p = &peers[i];
		TlPeerAddr	addr = {p->name, p->conninfo, p->owner};
		/* the peer's newest sampled_at held here, as text for its clock */
		const char *params[1] = {tl_peer_timestamp(p->access_since)};
		char	   *error;
		PGconn	   *conn = tl_peer_try_connect(&addr, "tieredlog access statistics", 5, &error);
		PGresult   *res;

		asked++;
		if (conn == NULL)
		{
			unreachable++;
			continue;
		}
		res = PQexecParams(conn, "SELECT log_name, range_start, local_writes, remote_writes, reads, sampled_at,"
						   " unstreamed_writes, row_changes FROM tieredlog._ae_access($1::timestamptz)",
						   1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			rows += keep_rows(p->name, res);
		else
			unreachable++;
		PQclear(res);
		PQfinish(conn);
	}
	tl_become_owner(&save);
	tl_peer_access_expire(tl_stats_retention_s);
	tl_restore_user(&save);
	return psprintf("%d rows of access statistics from %d peers (%d not answering)", rows, asked - unreachable,
					unreachable);
}
