/*-------------------------------------------------------------------------
 * peer_conn.h
 *		The one way tieredlog connects out to a peer (libpq): the postgres_fdw/dblink password
 *		rule for peers added by non-superusers, an interruptible connect, a pinned remote
 *		session; and the masking of conninfo secrets.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PEER_CONN_H
#define TIEREDLOG_PEER_CONN_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "libpq-fe.h"

/* A peer as the connect helper needs it (a row of tieredlog.peer). */
typedef struct TlPeerAddr
{
	const char *name;			/* peer_name, for messages */
	const char *conninfo;
	Oid			owner;			/* the role that added the peer: the password rule follows it */
} TlPeerAddr;

/* Seconds a connection attempt may take, unless the caller gives its own. */
#define TL_PEER_CONNECT_TIMEOUT 10

extern void tl_peer_check_conninfo(const char *conninfo, Oid owner);
extern PGconn *tl_peer_connect(const TlPeerAddr *peer, const char *application_name);
extern PGconn *tl_peer_try_connect(const TlPeerAddr *peer, const char *application_name, int timeout_s,
								   char **error);
extern PGconn *tl_peer_connect_replication(const TlPeerAddr *peer, const char *application_name,
										   char **error);
extern char *tl_peer_timestamp(TimestampTz ts);
extern char *tl_mask_conninfo(const char *conninfo);
extern char *tl_peer_scrub(const char *conninfo, const char *text);

#endif							/* TIEREDLOG_PEER_CONN_H */
