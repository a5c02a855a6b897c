/*-------------------------------------------------------------------------
 * node_store.h
 *		Rows of tieredlog.node_state and the tieredlog.local_seq sequence. See node_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_NODE_STORE_H
#define TIEREDLOG_NODE_STORE_H

#include "postgres.h"
#include "datatype/timestamp.h"

/* A row of tieredlog.node_state, as text where the caller compares text. */
typedef struct TlNodeStateRow
{
	char	   *node_name;
	char	   *system_identifier;
	char	   *database_oid;
	char	   *timeline;
	TimestampTz checked_at;
	char	   *hold;			/* NULL, 'recovering' or 'restored' */
	char	   *hold_reason;
} TlNodeStateRow;

extern bool tl_node_state_table_exists(void);
extern TlNodeStateRow *tl_node_state_rows(int *n);
extern void tl_node_state_set_hold(const char *hold, const char *reason);
extern void tl_node_state_write(const char *node_name, uint64 system_identifier, Oid database_oid,
								int32 timeline);
extern bool tl_node_state_held(void);
extern bool tl_node_state_empty(void);
extern void tl_node_state_checked(void);
extern char *tl_node_state_next_recovery_peer(void);
extern void tl_node_state_add_reconciled(const char *peer);
extern bool tl_node_state_recovering(char **reason, char **reconciled_peers);
extern char *tl_node_state_restored_from(void);

extern int64 tl_local_seq_next(void);
extern int64 tl_local_seq_last(void);
extern void tl_local_seq_set(int64 seq);

#endif							/* TIEREDLOG_NODE_STORE_H */
