/*-------------------------------------------------------------------------
 * vote.c
 *		Damage between two copies of one record that both hash to their rids: which copy the
 *		other nodes hold. The origin's answer decides; without it, a copy held by more than half
 *		of the nodes that answer. Used by remote.c when neither side of an exchange is the origin.
 *
 * Locking: none; each peer is asked over its own short libpq connection (read only).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq-fe.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "core/safe_spi.h"
#include "store/catalog.h"
#include "store/peer_store.h"
#include "repl/peer_conn.h"
#include "repl/reconcile.h"
#include "repl/vote.h"
#include "store/segrows.h"

/*
 * Two copies of one record disagree and neither node is its origin: ask the other peers. The
 * origin's answer decides; without it, a copy held by more than half of the nodes that answered
 * (this node and the sender included) wins. Returns 1 and sets *winner, or 0 (undecided), with a
 * description of the vote in *why.
 */
int
tl_vote_on_conflict(const char *log_name, const TlRecord *rec, const TlRid *local, const char *sender_node,
					TlRid *winner, char **why)
{
	TlAsOwner	save;
	TlPeerRow  *peers;
	int			npeers;
	TlRid		votes[64];
	int			nvotes = 0;
	char		seq_txt[32];
	char	   *ts_txt = tl_peer_timestamp(rec->ts);

	votes[nvotes++] = *local;
	votes[nvotes++] = rec->rid;
	tl_become_owner(&save);		/* tieredlog.peer (conninfo) is the owner's to read */
	peers = tl_peer_rows(NULL, &npeers);
	tl_restore_user(&save);
	snprintf(seq_txt, sizeof(seq_txt), INT64_FORMAT, rec->seq);
	for (int p = 0; p < npeers && nvotes < 64; p++)
	{
		const char *node = peers[p].node_name;
		TlPeerAddr	addr = {peers[p].name, peers[p].conninfo, peers[p].owner};
		const char *params[5] = {log_name, rec->origin, seq_txt, ts_txt, text_to_cstring(rec->key)};
		char	   *error;
		PGconn	   *conn;
		PGresult   *res;

		if (sender_node && strcmp(node, sender_node) == 0)
			continue;
		conn = tl_peer_try_connect(&addr, "tieredlog vote", 5, &error);
		if (conn == NULL)
			continue;			/* an unreachable (or refused) peer does not vote */
		res = PQexecParams(conn, "SELECT tieredlog._ae_rid($1, $2, $3::bigint, $4::timestamptz, $5)",
						   5, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		{
			pg_uuid_t  *u = DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(PQgetvalue(res, 0, 0))));
			TlRid		r;

			memcpy(r.bytes, u->data, TL_RID_LEN);
			if (strcmp(node, rec->origin) == 0)
			{
				PQclear(res);
				PQfinish(conn);
				*winner = r;
				*why = psprintf("the origin %s holds it", node);
				return 1;
			}
			votes[nvotes++] = r;
		}
		PQclear(res);
		PQfinish(conn);
	}
	for (int i = 0; i < nvotes; i++)
	{
		int			same = 0;

		for (int j = 0; j < nvotes; j++)
			same += memcmp(votes[i].bytes, votes[j].bytes, TL_RID_LEN) == 0;
		if (same * 2 > nvotes)
		{
			*winner = votes[i];
			*why = psprintf("%d of the %d nodes that answered hold it", same, nvotes);
			return 1;
		}
	}
	*why = psprintf("no majority among the %d nodes that answered, and the origin %s did not", nvotes,
					rec->origin);
	return 0;
}
