/*-------------------------------------------------------------------------
 * peer.h
 *		Peers: adding and dropping them, and masking their passwords.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PEER_H
#define TIEREDLOG_PEER_H

extern void tl_add_peer(const char *peer_name, const char *conninfo);
extern void tl_drop_peer(const char *peer_name);
extern char *tl_mask_conninfo(const char *conninfo);

#endif							/* TIEREDLOG_PEER_H */
