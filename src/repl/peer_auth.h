/*-------------------------------------------------------------------------
 * peer_auth.h
 *		Who is speaking: the peer a session's role stands for.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PEER_AUTH_H
#define TIEREDLOG_PEER_AUTH_H

typedef struct TlSender
{
	char	   *peer_name;		/* this node's name for the peer */
	char	   *node_name;		/* the peer's tieredlog.node_name */
} TlSender;

extern TlSender tl_authenticate_sender(Oid caller, const char *claimed_node);
extern void tl_set_peer_role(const char *peer_name, const char *role);

#endif							/* TIEREDLOG_PEER_AUTH_H */
