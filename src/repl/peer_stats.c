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

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "libpq-fe.h"
#include "utils/builtins.h"

#include "core/guc.h"
#include "store/catalog.h"
#include "repl/peer_conn.h"
#include "repl/peer_stats.h"

typedef struct PeerToAsk
{
	char	   *name;
	char	   *conninfo;
	Oid			owner;
	char	   *since;			/* the peer's newest sampled_at we hold, as text */
} PeerToAsk;

static List *
peers_to_ask(void)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext spi;
	TlAsOwner	save;
	List	   *out = NIL;
	bool		isnull;

	tl_become_owner(&save);
	tl_spi_exec("SELECT p.peer_name, p.conninfo, p.owner::oid, COALESCE((SELECT max(a.sampled_at) FROM tieredlog.peer_access a"
				" WHERE a.peer_name = p.peer_name), '-infinity') FROM tieredlog.peer p WHERE p.enabled"
				" ORDER BY p.peer_name", 0, NULL, NULL, SPI_OK_SELECT);
	spi = MemoryContextSwitchTo(outer);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		PeerToAsk  *p = palloc(sizeof(PeerToAsk));

		p->name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		p->conninfo = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		p->owner = atooid(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3));
		p->since = tl_peer_timestamp(DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i],
																	   SPI_tuptable->tupdesc, 4, &isnull)));
		out = lappend(out, p);
	}
	MemoryContextSwitchTo(spi);
	tl_restore_user(&save);
	return out;
}

/* Keep the rows one peer sent; returns how many. */
static int
keep_rows(const char *peer_name, PGresult *res)
{
	Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[9];
	TlAsOwner	save;
	int			n = PQntuples(res);

	tl_become_owner(&save);
	for (int r = 0; r < n; r++)
	{
		values[0] = CStringGetTextDatum(peer_name);
		for (int c = 0; c < 8; c++)
			values[c + 1] = CStringGetTextDatum(PQgetvalue(res, r, c));
		tl_spi_exec("INSERT INTO tieredlog.peer_access (peer_name, log_name, range_start, local_writes,"
					" remote_writes, reads, sampled_at, unstreamed_writes, row_changes) VALUES ($1, $2,"
					" $3::timestamptz, $4::bigint, $5::bigint, $6::bigint, $7::timestamptz, $8::bigint, $9::bigint)"
					" ON CONFLICT DO NOTHING", 9, types, values, SPI_OK_INSERT);
	}
	tl_restore_user(&save);
	return n;
}

/* One round: ask every enabled peer. Returns what happened, for the worker's report. */
char *
tl_gather_peer_access(void)
{
	List	   *peers = peers_to_ask();
	ListCell   *lc;
	int			rows = 0;
	int			asked = 0;
	int			unreachable = 0;
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(tl_stats_retention_s)};
	TlAsOwner	save;

	foreach(lc, peers)
	{
		PeerToAsk  *p = lfirst(lc);
		TlPeerAddr	addr = {p->name, p->conninfo, p->owner};
		const char *params[1] = {p->since};
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
	tl_spi_exec("DELETE FROM tieredlog.peer_access WHERE sampled_at < now() - make_interval(secs => $1)",
				1, types, values, SPI_OK_DELETE);
	tl_restore_user(&save);
	return psprintf("%d rows of access statistics from %d peers (%d not answering)", rows, asked - unreachable,
					unreachable);
}
