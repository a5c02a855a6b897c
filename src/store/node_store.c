/*-------------------------------------------------------------------------
 * node_store.c
 *		tieredlog.node_state (which server runs this database's data as which node, and a hold on
 *		it while restored or recovering) and tieredlog.local_seq (the seqs this node hands out).
 *		What the rows mean, and when they are written, is log/node.c's; the SQL is here.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path;
 * node.c connects as the extension's owner (tl_become_owner). Results are allocated in the
 * context that was current when SPI was connected (store/spi_rows.c).
 *
 * Locking: none of its own. node.c serialises the writers of node_state with the internal lock
 * (TL_LOCK_NODE_STATE, 0); otherwise ordinary table locks.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "core/shmem.h"
#include "core/tieredlog.h"
#include "store/catalog.h"
#include "store/node_store.h"
#include "store/spi_rows.h"

/* Whether the catalog has node_state at all (a 1.0 catalog does not). */
bool
tl_node_state_table_exists(void)
{
	return OidIsValid(get_relname_relid("node_state", get_namespace_oid(TL_SCHEMA, false)));
}

#define STATE_COL(type, field)	TL_SPI_COL(type, TlNodeStateRow, field)

/* Every row: held ones first, then the most recently checked. */
TlNodeStateRow *
tl_node_state_rows(int *n)
{
	static const TlSpiColumn cols[] = {
		STATE_COL(TL_SPI_TEXT, node_name), STATE_COL(TL_SPI_TEXT, system_identifier),
		STATE_COL(TL_SPI_TEXT, database_oid), STATE_COL(TL_SPI_TEXT, timeline),
		STATE_COL(TL_SPI_TIMESTAMPTZ, checked_at), STATE_COL(TL_SPI_TEXT, hold),
		STATE_COL(TL_SPI_TEXT, hold_reason)
	};

	if (SPI_execute("SELECT node_name, system_identifier::text, database_oid::oid::text, timeline,"
					" checked_at, hold, hold_reason FROM tieredlog.node_state"
					" ORDER BY hold IS NULL, checked_at DESC", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tieredlog.node_state");
	return tl_spi_read_rows(cols, lengthof(cols), sizeof(TlNodeStateRow), n);
}

/* Set (or with NULL, lift) the hold; the peers reconciled since it began start empty. */
void
tl_node_state_set_hold(const char *hold, const char *reason)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	values[0] = hold ? CStringGetTextDatum(hold) : (Datum) 0;
	values[1] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[0] = hold ? ' ' : 'n';
	nulls[1] = reason ? ' ' : 'n';
	if (SPI_execute_with_args("UPDATE tieredlog.node_state SET hold = $1, hold_reason = $2,"
							  " hold_since = CASE WHEN $1 IS NULL THEN NULL ELSE now() END,"
							  " reconciled_peers = '{}'", 2, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tieredlog.node_state");
}

/* Replace the table's rows with one: this server runs the data as `node_name`, checked now. */
void
tl_node_state_write(const char *node_name, uint64 system_identifier, Oid database_oid, int32 timeline)
{
	Oid			types[4] = {TEXTOID, TEXTOID, OIDOID, INT4OID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(node_name);
	values[1] = CStringGetTextDatum(psprintf(UINT64_FORMAT, system_identifier));
	values[2] = ObjectIdGetDatum(database_oid);
	values[3] = Int32GetDatum(timeline);
	tl_spi_exec("DELETE FROM tieredlog.node_state", 0, NULL, NULL, SPI_OK_DELETE);
	tl_spi_exec("INSERT INTO tieredlog.node_state (node_name, system_identifier, database_oid, timeline,"
				" checked_at) VALUES ($1, $2::bigint, $3, $4, now())", 4, types, values, SPI_OK_INSERT);
}

/* Whether a hold is recorded. */
bool
tl_node_state_held(void)
{
	SPI_execute("SELECT 1 FROM tieredlog.node_state WHERE hold IS NOT NULL", true, 1);
	return SPI_processed > 0;
}

/* Whether the table has no row (no data claimed yet). */
bool
tl_node_state_empty(void)
{
	SPI_execute("SELECT 1 FROM tieredlog.node_state", true, 1);
	return SPI_processed == 0;
}

/* The worker found the node active: note when. */
void
tl_node_state_checked(void)
{
	tl_spi_exec("UPDATE tieredlog.node_state SET checked_at = now()", 0, NULL, NULL, SPI_OK_UPDATE);
}

/* The first enabled peer not yet reconciled with since the recovering hold began, or NULL. */
char *
tl_node_state_next_recovery_peer(void)
{
	SPI_execute("SELECT p.peer_name FROM tieredlog.peer p, tieredlog.node_state n"
				" WHERE p.enabled AND n.hold = 'recovering' AND NOT p.peer_name = ANY (n.reconciled_peers)"
				" ORDER BY p.peer_name LIMIT 1", true, 1);
	return SPI_processed > 0 ? tl_spi_text(0, 1) : NULL;
}

/* Every log has been reconciled with `peer` since the hold began. */
void
tl_node_state_add_reconciled(const char *peer)
{
	tl_spi_run("UPDATE tieredlog.node_state SET reconciled_peers = reconciled_peers || $1",
			   SPI_OK_UPDATE, 1, TEXTOID, CStringGetTextDatum(peer));
}

/* The recovering hold's reason and reconciled peers (as text); false when not recovering. */
bool
tl_node_state_recovering(char **reason, char **reconciled_peers)
{
	SPI_execute("SELECT hold_reason, reconciled_peers::text FROM tieredlog.node_state WHERE hold = 'recovering'",
				true, 1);
	if (SPI_processed == 0)
		return false;
	*reason = tl_spi_text(0, 1);
	*reconciled_peers = tl_spi_text(0, 2);
	return true;
}

/* The node a restore brought the data from (the newest row not of this server, database and name), or NULL. */
char *
tl_node_state_restored_from(void)
{
	SPI_execute("SELECT node_name FROM tieredlog.node_state WHERE NOT (system_identifier = "
				"(SELECT system_identifier FROM pg_control_system()) AND database_oid = "
				"(SELECT oid FROM pg_database WHERE datname = current_database()) AND node_name = "
				"tieredlog.node_name()) ORDER BY checked_at DESC LIMIT 1", true, 1);
	return SPI_processed > 0 ? tl_spi_text(0, 1) : NULL;
}

/* ---- tieredlog.local_seq ----------------------------------------------------------------------- */

static Oid	local_seq_relid = InvalidOid;
static uint64 local_seq_generation = 0;

/*
 * The next seq of a record this node originates: nextval of local_seq, called directly (no SQL:
 * one per appended record), its relation looked up again when the catalog generation moves.
 */
int64
tl_local_seq_next(void)
{
	if (!OidIsValid(local_seq_relid) || local_seq_generation != tl_catalog_generation())
	{
		local_seq_relid = tl_catalog_relid("local_seq");
		local_seq_generation = tl_catalog_generation();
	}
	return nextval_internal(local_seq_relid, false);
}

/* The last value local_seq handed out (0 when none). */
int64
tl_local_seq_last(void)
{
	tl_spi_exec("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tieredlog.local_seq", 0, NULL,
				NULL, SPI_OK_SELECT);
	return tl_spi_int8(0, 1);
}

/* local_seq hands out values after `seq` from now on. */
void
tl_local_seq_set(int64 seq)
{
	DirectFunctionCall2(setval_oid, ObjectIdGetDatum(tl_catalog_relid("local_seq")), Int64GetDatum(seq));
}
