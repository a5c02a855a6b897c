/*-------------------------------------------------------------------------
 * peer.h
 *		Peers: adding and dropping them, and masking their passwords.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PEER_H
#define TIEREDLOG_PEER_H

#include "postgres.h"
#include "utils/timestamp.h"

extern void tl_add_peer(const char *peer_name, const char *conninfo);
extern void tl_drop_peer(const char *peer_name);
extern void tl_set_peer_enabled(const char *peer_name, bool enabled);
extern void tl_peer_recreate_slot(const char *peer_name, const char *conninfo, const char *slot,
								  const char *reason, TimestampTz from_ts);
extern char *tl_mask_conninfo(const char *conninfo);

#ifdef LIBPQ_FE_H
extern PGconn *tl_peer_connect(const char *peer_name, const char *conninfo, const char *application_name);
#endif

#endif							/* TIEREDLOG_PEER_H */
