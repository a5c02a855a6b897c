/*-------------------------------------------------------------------------
 * peer_store.h
 *		Rows of tieredlog.peer, tieredlog.gap and tieredlog.peer_access, and the peers view's WAL
 *		alerts. See peer_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PEER_STORE_H
#define TIEREDLOG_PEER_STORE_H

#include "postgres.h"
#include "datatype/timestamp.h"

/* A row of tieredlog.peer; each function says which fields it fills (the others are zero). */
typedef struct TlPeerRow
{
	int32		peer_id;
	char	   *name;
	char	   *conninfo;
	char	   *node_name;
	Oid			owner;			/* the role that added the peer */
	char	   *slot_name;
	char	   *origin_name;
	char	   *peer_role;		/* NULL: the conninfo's user */
	TimestampTz access_since;	/* tl_peer_access_sources: newest peer_access row held */
	TimestampTz applied_until;	/* tl_peer_for_apply: the peer commit time applied so far */
} TlPeerRow;

/* One row of the peers view whose WAL retention is worth a warning. */
typedef struct TlPeerWalAlert
{
	char	   *peer_name;
	char	   *wal_state;		/* warning, critical or lost */
	char	   *retained;		/* pretty-printed size, or NULL */
	char	   *percent;		/* of max_slot_wal_keep_size, or NULL */
} TlPeerWalAlert;

/* the columns of a peer_access row, as the peer's _ae_access() returns them (text) */
#define TL_PEER_ACCESS_NCOLS	8

extern TlPeerRow *tl_peer_rows(const char *peer_name, int *n);
extern TlPeerRow *tl_peer_all(int *n);
extern bool tl_peer_get(const char *peer_name, TlPeerRow *out);
extern void tl_peer_insert(const TlPeerRow *p);
extern bool tl_peer_delete(const char *peer_name, TlPeerRow *out);
extern bool tl_peer_set_enabled(const char *peer_name, bool enabled, int32 *peer_id);
extern bool tl_peer_set_role(const char *peer_name, const char *role);
extern void tl_peer_summary(char **names, char **count);
extern void tl_peer_forget_all(void);
extern TlPeerWalAlert *tl_peer_wal_alerts(int *n);
extern bool tl_peer_for_apply(int32 peer_id, TlPeerRow *out);
extern void tl_peer_save_applied_until(int32 peer_id, TimestampTz until);
extern bool tl_peer_exists(int32 peer_id);
extern TlPeerRow *tl_peer_enabled(int *n);

extern void tl_gap_insert(const char *peer_name, TimestampTz from_ts, const char *reason, const char *slot);
extern void tl_gap_close(const char *peer_name, TimestampTz detected_before);
extern char **tl_gap_open_peers(int *n);

extern TlPeerRow *tl_peer_access_sources(int *n);
extern void tl_peer_access_insert(const char *peer_name, const char *const cols[TL_PEER_ACCESS_NCOLS]);
extern void tl_peer_access_expire(int retention_s);

#endif							/* TIEREDLOG_PEER_STORE_H */
