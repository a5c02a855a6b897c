/*-------------------------------------------------------------------------
 * peer.h
 *		Peers: adding and dropping them. Connecting to them and masking their secrets:
 *		peer_conn.h.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PEER_H
#define TIEREDLOG_PEER_H

#include "postgres.h"
#include "utils/timestamp.h"

#include "repl/peer_conn.h"

extern void tl_add_peer(const char *peer_name, const char *conninfo);
extern void tl_drop_peer(const char *peer_name);
extern void tl_set_peer_enabled(const char *peer_name, bool enabled);
extern void tl_peer_recreate_slot(const TlPeerAddr *peer, const char *slot, const char *reason,
								  TimestampTz from_ts);
extern const char *tl_peer_limit_hint(const char *msg);

#endif							/* TIEREDLOG_PEER_H */
