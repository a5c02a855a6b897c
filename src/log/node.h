/*-------------------------------------------------------------------------
 * node.h
 *		Whether this database's data may act as its node: restores and recovery (node.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_NODE_H
#define TIEREDLOG_NODE_H

typedef enum TlNodeHold
{
	TL_NODE_UNKNOWN = 0,		/* not found yet since the server started */
	TL_NODE_UNCLAIMED,			/* no data claimed by this server yet */
	TL_NODE_ACTIVE,
	TL_NODE_RECOVERING,			/* appends refused until the peers gave this node's records back */
	TL_NODE_RESTORED			/* nothing runs until finish_restore() */
} TlNodeHold;

extern Size tl_node_shmem_size(void);
extern void tl_node_shmem_startup(void);
extern void tl_node_forget(void);
extern void tl_node_require(bool appending, const char *what);
extern bool tl_node_may_append(void);
extern TlNodeHold tl_node_worker_state(bool first_cycle, char *reason, size_t reason_len);
extern void tl_node_note_own_seq(int64 seq);
extern void tl_node_note_seen_of_me(const char *writer, int64 seen_seq);
extern char *tl_node_next_recovery_peer(void);
extern void tl_node_recovered_with(const char *peer);
extern bool tl_node_lift_recovery(void);

#endif							/* TIEREDLOG_NODE_H */
