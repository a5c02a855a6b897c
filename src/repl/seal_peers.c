/*-------------------------------------------------------------------------
 * seal_peers.c
 *		compare_seals(peer_name, log_name): this node's seal roots next to a peer's, segment by
 *		segment (matched by log and window). Replicas that hold the same records compute the same
 *		root (seal.c), so a difference between two sealed copies means the records differ (and
 *		reconcile_segment() or the scrub says which), and agreement is a witness that neither
 *		node rewrote that segment.
 *
 * Locking: reads only; one libpq connection to the peer for the duration of the call.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "core/shmem.h"
#include "core/safe_spi.h"
#include "store/catalog.h"
#include "store/peer_store.h"
#include "repl/peer.h"
#include "store/segment.h"
#include "store/spi_rows.h"
#include "core/tieredlog.h"
#include "core/validate.h"

PG_FUNCTION_INFO_V1(tieredlog_compare_seals);

/* The peer's conninfo and owner; an error naming the peer if there is none. */
static void
peer_addr(const char *peer_name, TlPeerAddr *addr)
{
	TlAsOwner	save;
	TlPeerRow	row;

	addr->name = peer_name;
	addr->conninfo = NULL;
	tl_become_owner(&save);
	if (tl_peer_get(peer_name, &row))
	{
		addr->conninfo = row.conninfo;
		addr->owner = row.owner;
	}
	tl_restore_user(&save);
	if (addr->conninfo == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", peer_name)));
}

/* The peer's segments as four parallel arrays (log, window start in µs since 1970, state, root). */
static void
fetch_peer_seals(const char *peer_name, const char *log_name, Datum *arrays)
{
	TlPeerAddr	addr;
	PGconn	   *volatile conn = NULL;
	PGresult   *volatile res = NULL;

	peer_addr(peer_name, &addr);
	PG_TRY();
	{
		const char *params[1] = {log_name};
		int			n;
		Datum	   *cols[4];

		conn = tl_peer_connect(&addr, "tieredlog compare_seals");
		res = PQexecParams(conn, "SELECT log_name, (extract(epoch FROM range_start) * 1000000)::bigint, state, seal_root"
						   " FROM tieredlog._ae_seals($1)", 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("peer \"%s\" did not give its seals: %s", peer_name, pchomp(PQresultErrorMessage(res)))));
		n = PQntuples(res);
		for (int c = 0; c < 4; c++)
			cols[c] = palloc(sizeof(Datum) * Max(n, 1));
		for (int r = 0; r < n; r++)
		{
			cols[0][r] = CStringGetTextDatum(PQgetvalue(res, r, 0));
			cols[1][r] = Int64GetDatum(strtoi64(PQgetvalue(res, r, 1), NULL, 10));
			cols[2][r] = CStringGetTextDatum(PQgetvalue(res, r, 2));
			cols[3][r] = CStringGetTextDatum(PQgetisnull(res, r, 3) ? "" : PQgetvalue(res, r, 3));
		}
		arrays[0] = PointerGetDatum(construct_array(cols[0], n, TEXTOID, -1, false, TYPALIGN_INT));
		arrays[1] = PointerGetDatum(construct_array(cols[1], n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		arrays[2] = PointerGetDatum(construct_array(cols[2], n, TEXTOID, -1, false, TYPALIGN_INT));
		arrays[3] = PointerGetDatum(construct_array(cols[3], n, TEXTOID, -1, false, TYPALIGN_INT));
	}
	PG_FINALLY();
	{
		if (res)
			PQclear(res);
		if (conn)
			PQfinish(conn);
	}
	PG_END_TRY();
}

Datum
tieredlog_compare_seals(PG_FUNCTION_ARGS)
{
	TlAsOwner	save;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *peer_name;
	char	   *log_name = NULL;
	Datum		values[5];
	Oid			types[5] = {TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID};
	char		nulls[5] = "    n";
	TlLog		log;

	tl_require_preload();
	peer_name = tl_arg_name("peer", PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
	{
		log_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
		tl_check_wire_log_name(log_name);
		tl_lookup_log(log_name, &log);
		values[4] = CStringGetTextDatum(log_name);
		nulls[4] = ' ';
	}
	InitMaterializedSRF(fcinfo, 0);
	fetch_peer_seals(peer_name, log_name, values);
	tl_become_owner(&save);	/* _ae_seals is the peers' and the owner's, not the caller's */
	if (SPI_execute_with_args(
			"WITH p AS (SELECT * FROM unnest($1, $2, $3, $4) AS p(log_name, us, state, root)),"
			" l AS (SELECT log_name, (extract(epoch FROM range_start) * 1000000)::bigint AS us, segment_id, state,"
			"         COALESCE(seal_root, '') AS root FROM tieredlog._ae_seals($5))"
			" SELECT COALESCE(l.log_name, p.log_name), to_timestamp(COALESCE(l.us, p.us) / 1000000.0), l.segment_id,"
			"        NULLIF(l.root, ''), NULLIF(p.root, ''),"
			"        CASE WHEN l.us IS NULL THEN 'missing_here' WHEN p.us IS NULL THEN 'missing_on_peer'"
			"             WHEN l.state <> 'sealed' THEN 'not_sealed_here' WHEN p.state <> 'sealed' THEN 'not_sealed_on_peer'"
			"             WHEN l.root = p.root THEN 'equal' ELSE 'different' END"
			"   FROM l FULL JOIN p ON l.log_name = p.log_name AND l.us = p.us ORDER BY 1, 2",
			5, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not compare seals");
	tl_spi_rows_to_tuplestore(rsinfo);
	tl_restore_user(&save);
	return (Datum) 0;
}
