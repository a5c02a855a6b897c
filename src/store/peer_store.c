/*-------------------------------------------------------------------------
 * peer_store.c
 *		tieredlog's tables about peers: tieredlog.peer (who they are, how to reach them, as which
 *		role they log in here), tieredlog.gap (time ranges this node may have missed from a peer,
 *		until reconciliation closes them) and tieredlog.peer_access (the peers' access statistics
 *		kept here); and the WAL alerts of the tieredlog.peers view. The only SQL text about these
 *		tables; callers in repl/, log/ and bgw/ get C structs.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path
 * (tl_spi_connect, or tl_become_owner when the caller acts as the extension's owner): the caller
 * decides as which role, and these functions never switch. Results are allocated in the context
 * that was current when SPI was connected (store/spi_rows.c).
 *
 * Locking: ordinary table locks (AccessShareLock to read, RowExclusiveLock to write);
 * tieredlog.peer's unique constraints serialise concurrent inserts of the same peer.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "store/catalog.h"
#include "store/peer_store.h"
#include "store/spi_rows.h"

#define PEER_COL(type, field)	TL_SPI_COL(type, TlPeerRow, field)

/* the columns each query returns, in order */
static const TlSpiColumn addr_cols[] = {
	PEER_COL(TL_SPI_TEXT, name), PEER_COL(TL_SPI_TEXT, conninfo), PEER_COL(TL_SPI_TEXT, node_name),
	PEER_COL(TL_SPI_OID, owner)
};
static const TlSpiColumn role_cols[] = {
	PEER_COL(TL_SPI_TEXT, name), PEER_COL(TL_SPI_TEXT, node_name), PEER_COL(TL_SPI_TEXT, peer_role),
	PEER_COL(TL_SPI_TEXT, conninfo)
};
static const TlSpiColumn dropped_cols[] = {
	PEER_COL(TL_SPI_INT4, peer_id), PEER_COL(TL_SPI_TEXT, conninfo), PEER_COL(TL_SPI_TEXT, slot_name),
	PEER_COL(TL_SPI_TEXT, origin_name), PEER_COL(TL_SPI_OID, owner)
};
static const TlSpiColumn access_cols[] = {
	PEER_COL(TL_SPI_TEXT, name), PEER_COL(TL_SPI_TEXT, conninfo), PEER_COL(TL_SPI_OID, owner),
	PEER_COL(TL_SPI_TIMESTAMPTZ, access_since)
};
static const TlSpiColumn alert_cols[] = {
	TL_SPI_COL(TL_SPI_TEXT, TlPeerWalAlert, peer_name), TL_SPI_COL(TL_SPI_TEXT, TlPeerWalAlert, wal_state),
	TL_SPI_COL(TL_SPI_TEXT, TlPeerWalAlert, retained), TL_SPI_COL(TL_SPI_TEXT, TlPeerWalAlert, percent)
};
static const TlSpiColumn name_col[] = {{TL_SPI_TEXT, 0}};
static const TlSpiColumn apply_cols[] = {
	PEER_COL(TL_SPI_TEXT, name), PEER_COL(TL_SPI_TEXT, conninfo), PEER_COL(TL_SPI_TEXT, slot_name),
	PEER_COL(TL_SPI_TEXT, origin_name), PEER_COL(TL_SPI_TIMESTAMPTZ, applied_until),
	PEER_COL(TL_SPI_TEXT, node_name), PEER_COL(TL_SPI_OID, owner), PEER_COL(TL_SPI_INT4, peer_id)
};
static const TlSpiColumn enabled_cols[] = {PEER_COL(TL_SPI_INT4, peer_id), PEER_COL(TL_SPI_TEXT, name)};

/* The one row of the last result into *out (zeroed when there is none); whether there was one. */
static bool
read_one(const TlSpiColumn *cols, int ncols, TlPeerRow *out)
{
	int			n;
	TlPeerRow  *row = tl_spi_read_rows(cols, ncols, sizeof(TlPeerRow), &n);

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return false;
	*out = *row;
	return true;
}

/* The peers to reconcile with: `peer_name`, or (NULL) every enabled one. name, conninfo, node, owner. */
TlPeerRow *
tl_peer_rows(const char *peer_name, int *n)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {peer_name ? CStringGetTextDatum(peer_name) : (Datum) 0};
	char		nulls[1] = {peer_name ? ' ' : 'n'};

	if (SPI_execute_with_args("SELECT peer_name, conninfo, node_name, owner::oid FROM tieredlog.peer"
							  " WHERE ($1::text IS NULL AND enabled) OR peer_name = $1 ORDER BY peer_name",
							  1, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list peers");
	return tl_spi_read_rows(addr_cols, lengthof(addr_cols), sizeof(TlPeerRow), n);
}

/* Every peer, enabled or not: name, node, role and conninfo (to tell the role it logs in as). */
TlPeerRow *
tl_peer_all(int *n)
{
	tl_spi_exec("SELECT peer_name, node_name, peer_role, conninfo FROM tieredlog.peer ORDER BY peer_name",
				0, NULL, NULL, SPI_OK_SELECT);
	return tl_spi_read_rows(role_cols, lengthof(role_cols), sizeof(TlPeerRow), n);
}

/* One peer: name, conninfo, node and owner; false when there is no such peer. */
bool
tl_peer_get(const char *peer_name, TlPeerRow *out)
{
	tl_spi_run("SELECT peer_name, conninfo, node_name, owner::oid FROM tieredlog.peer WHERE peer_name = $1",
			   SPI_OK_SELECT, 1, TEXTOID, CStringGetTextDatum(peer_name));
	return read_one(addr_cols, lengthof(addr_cols), out);
}

/* A new peer: name, conninfo, slot_name, origin_name, node_name and owner (peer_id from its sequence). */
void
tl_peer_insert(const TlPeerRow *p)
{
	tl_spi_run("INSERT INTO tieredlog.peer (peer_id, peer_name, conninfo, slot_name, origin_name, node_name, owner)"
			   " VALUES (nextval('tieredlog.peer_id_seq'), $1, $2, $3, $4, $5, $6)",
			   SPI_OK_INSERT, 6, TEXTOID, CStringGetTextDatum(p->name), TEXTOID, CStringGetTextDatum(p->conninfo),
			   TEXTOID, CStringGetTextDatum(p->slot_name), TEXTOID, CStringGetTextDatum(p->origin_name),
			   TEXTOID, CStringGetTextDatum(p->node_name), OIDOID, ObjectIdGetDatum(p->owner));
}

/* Delete a peer; false when there was none. Fills peer_id, conninfo, slot_name, origin_name, owner. */
bool
tl_peer_delete(const char *peer_name, TlPeerRow *out)
{
	tl_spi_run("DELETE FROM tieredlog.peer WHERE peer_name = $1 RETURNING peer_id, conninfo, slot_name, origin_name, owner::oid",
			   SPI_OK_DELETE_RETURNING, 1, TEXTOID, CStringGetTextDatum(peer_name));
	if (!read_one(dropped_cols, lengthof(dropped_cols), out))
		return false;
	out->name = (char *) peer_name;
	return true;
}

/* Pause or resume a peer; false when there is none. */
bool
tl_peer_set_enabled(const char *peer_name, bool enabled, int32 *peer_id)
{
	tl_spi_run("UPDATE tieredlog.peer SET enabled = $2 WHERE peer_name = $1 RETURNING peer_id",
			   SPI_OK_UPDATE_RETURNING, 2, TEXTOID, CStringGetTextDatum(peer_name),
			   BOOLOID, BoolGetDatum(enabled));
	if (SPI_processed == 0)
		return false;
	*peer_id = tl_spi_int4(0, 1);
	return true;
}

/* The role a peer logs in as here (NULL: its conninfo's user); false when there is no such peer. */
bool
tl_peer_set_role(const char *peer_name, const char *role)
{
	Oid			types[2] = {TEXTOID, NAMEOID};
	Datum		values[2] = {CStringGetTextDatum(peer_name), role ? CStringGetDatum(role) : (Datum) 0};
	char		nulls[2] = {' ', role ? ' ' : 'n'};

	if (SPI_execute_with_args("UPDATE tieredlog.peer SET peer_role = $2 WHERE peer_name = $1",
							  2, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not set the role of peer \"%s\"", peer_name);
	return SPI_processed > 0;
}

/* Every peer's name, comma-separated (NULL when none), and how many there are, as text. */
void
tl_peer_summary(char **names, char **count)
{
	tl_spi_exec("SELECT string_agg(peer_name, ', ' ORDER BY peer_name), count(*) FROM tieredlog.peer",
				0, NULL, NULL, SPI_OK_SELECT);
	*names = tl_spi_text(0, 1);
	*count = tl_spi_text(0, 2);
}

/* Forget every peer and its gaps (a restored database that became a new node). */
void
tl_peer_forget_all(void)
{
	tl_spi_exec("DELETE FROM tieredlog.gap", 0, NULL, NULL, SPI_OK_DELETE);
	tl_spi_exec("DELETE FROM tieredlog.peer", 0, NULL, NULL, SPI_OK_DELETE);
}

/* Peers whose slot keeps WAL near or past max_slot_wal_keep_size (the peers view), by name. */
TlPeerWalAlert *
tl_peer_wal_alerts(int *n)
{
	if (SPI_execute("SELECT peer_name, wal_state, pg_catalog.pg_size_pretty(wal_retained_bytes),"
					" pg_catalog.round(100 * wal_keep_fraction)::text"
					" FROM tieredlog.peers WHERE wal_state IN ('warning', 'critical', 'lost') ORDER BY peer_name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the peers view");
	return tl_spi_read_rows(alert_cols, lengthof(alert_cols), sizeof(TlPeerWalAlert), n);
}

/* ---- tieredlog.gap ----------------------------------------------------------------------------- */

/* A range [from_ts, now()) this node may have missed from the peer: its slot was recreated. */
void
tl_gap_insert(const char *peer_name, TimestampTz from_ts, const char *reason, const char *slot)
{
	tl_spi_run("INSERT INTO tieredlog.gap (peer_name, from_ts, to_ts, reason)"
			   " VALUES ($1, $2, now(), $3 || ' (slot ' || $4 || ' recreated)')",
			   SPI_OK_INSERT, 4, TEXTOID, CStringGetTextDatum(peer_name), TIMESTAMPTZOID, TimestampTzGetDatum(from_ts),
			   TEXTOID, CStringGetTextDatum(reason), TEXTOID, CStringGetTextDatum(slot));
}

/* Close the peer's open gaps detected up to `detected_before` (a reconciliation started then). */
void
tl_gap_close(const char *peer_name, TimestampTz detected_before)
{
	tl_spi_run("UPDATE tieredlog.gap SET closed_at = now() WHERE peer_name = $1 AND closed_at IS NULL"
			   " AND detected_at <= $2",
			   SPI_OK_UPDATE, 2, TEXTOID, CStringGetTextDatum(peer_name),
			   TIMESTAMPTZOID, TimestampTzGetDatum(detected_before));
}

/* The names of the enabled peers with open gaps, in order. */
char	  **
tl_gap_open_peers(int *n)
{
	if (SPI_execute("SELECT DISTINCT g.peer_name FROM tieredlog.gap g JOIN tieredlog.peer p USING (peer_name)"
					" WHERE g.closed_at IS NULL AND p.enabled ORDER BY 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tieredlog: could not list open gaps");
	return tl_spi_read_rows(name_col, 1, sizeof(char *), n);
}

/* ---- tieredlog.peer_access --------------------------------------------------------------------- */

/* The enabled peers to ask for access statistics: name, conninfo, owner and access_since. */
TlPeerRow *
tl_peer_access_sources(int *n)
{
	tl_spi_exec("SELECT p.peer_name, p.conninfo, p.owner::oid, COALESCE((SELECT max(a.sampled_at) FROM tieredlog.peer_access a"
				" WHERE a.peer_name = p.peer_name), '-infinity') FROM tieredlog.peer p WHERE p.enabled"
				" ORDER BY p.peer_name", 0, NULL, NULL, SPI_OK_SELECT);
	return tl_spi_read_rows(access_cols, lengthof(access_cols), sizeof(TlPeerRow), n);
}

/*
 * Keep one row a peer sent: log_name, range_start, local_writes, remote_writes, reads,
 * sampled_at, unstreamed_writes, row_changes, as text (cast here; a row held already is skipped).
 */
void
tl_peer_access_insert(const char *peer_name, const char *const cols[TL_PEER_ACCESS_NCOLS])
{
	Oid			types[TL_PEER_ACCESS_NCOLS + 1];
	Datum		values[TL_PEER_ACCESS_NCOLS + 1];

	types[0] = TEXTOID;
	values[0] = CStringGetTextDatum(peer_name);
	for (int c = 0; c < TL_PEER_ACCESS_NCOLS; c++)
	{
		types[c + 1] = TEXTOID;
		values[c + 1] = CStringGetTextDatum(cols[c]);
	}
	tl_spi_exec("INSERT INTO tieredlog.peer_access (peer_name, log_name, range_start, local_writes,"
				" remote_writes, reads, sampled_at, unstreamed_writes, row_changes) VALUES ($1, $2,"
				" $3::timestamptz, $4::bigint, $5::bigint, $6::bigint, $7::timestamptz, $8::bigint, $9::bigint)"
				" ON CONFLICT DO NOTHING", TL_PEER_ACCESS_NCOLS + 1, types, values, SPI_OK_INSERT);
}

/* Delete the peers' statistics older than `retention_s` seconds (tieredlog.stats_retention). */
void
tl_peer_access_expire(int retention_s)
{
	tl_spi_run("DELETE FROM tieredlog.peer_access WHERE sampled_at < now() - make_interval(secs => $1)",
			   SPI_OK_DELETE, 1, INT4OID, Int32GetDatum(retention_s));
}

/* ---- the apply workers (repl/apply.c, repl/apply_launch.c) ---------------------------------- */

/*
 * The enabled peer peer_id as its apply worker streams from it: name, conninfo, slot_name,
 * origin_name, applied_until (its progress, else when it was added), node_name, owner. False when
 * it was dropped or disabled.
 */
bool
tl_peer_for_apply(int32 peer_id, TlPeerRow *out)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(peer_id)};

	if (SPI_execute_with_args("SELECT peer_name, conninfo, slot_name, origin_name,"
							  " COALESCE(applied_until, created_at), node_name, owner::oid, peer_id FROM tieredlog.peer"
							  " WHERE peer_id = $1 AND enabled", 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tieredlog.peer");
	return read_one(apply_cols, lengthof(apply_cols), out);
}

/* The peer commit time applied so far (where a gap would start, should the slot be lost). */
void
tl_peer_save_applied_until(int32 peer_id, TimestampTz until)
{
	Oid			types[2] = {INT4OID, TIMESTAMPTZOID};
	Datum		values[2] = {Int32GetDatum(peer_id), TimestampTzGetDatum(until)};

	if (SPI_execute_with_args("UPDATE tieredlog.peer SET applied_until = $2 WHERE peer_id = $1",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not save the apply progress");
}

bool
tl_peer_exists(int32 peer_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(peer_id)};

	if (SPI_execute_with_args("SELECT 1 FROM tieredlog.peer WHERE peer_id = $1", 1, types, values,
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a peer");
	return SPI_processed > 0;
}

/* The enabled peers, by peer_id: peer_id and name. */
TlPeerRow *
tl_peer_enabled(int *n)
{
	if (SPI_execute("SELECT peer_id, peer_name FROM tieredlog.peer WHERE enabled ORDER BY peer_id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list peers");
	return tl_spi_read_rows(enabled_cols, lengthof(enabled_cols), sizeof(TlPeerRow), n);
}
