/*-------------------------------------------------------------------------
 * ledger_store.c
 *		Reads of the ledger's tables that the proof and witness code needs: the root of a
 *		segment's latest seal entry (log/proof.c), whether entries other than witnesses were
 *		closed into blocks after a given block, the newest block, and the witness entries held
 *		for a peer's block (repl/ledger_witness.c). Writing the ledger is log/ledger.c's.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path
 * (tl_spi_connect, or tl_become_owner when the caller acts as the extension's owner); results
 * are allocated in the context that was current when SPI was connected (store/spi_rows.c).
 *
 * Locking: AccessShareLock on the tables read; nothing else.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "store/catalog.h"
#include "store/ledger_store.h"
#include "store/spi_rows.h"

/* The root the ledger's latest seal entry gives the segment, or NULL when it is not sealed. */
char *
tl_ledger_sealed_root(int64 segment_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(segment_id)};

	if (SPI_execute_with_args("SELECT CASE WHEN kind = 'REOPEN' THEN NULL ELSE body->>'root' END"
							  " FROM tieredlog.ledger_entry WHERE segment_id = $1"
							  "   AND kind IN ('SEAL', 'RESEAL', 'REOPEN') ORDER BY entry_id DESC LIMIT 1",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the ledger");
	return SPI_processed == 1 ? tl_spi_text(0, 1) : NULL;
}

/* Whether entries other than witnesses were closed into blocks after `block_id`. */
bool
tl_ledger_changed_since(int64 block_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(block_id)};

	tl_spi_exec("SELECT EXISTS (SELECT 1 FROM tieredlog.ledger_entry WHERE block_id > $1 AND kind <> 'WITNESS')",
				1, types, values, SPI_OK_SELECT);
	return strcmp(tl_spi_text(0, 1), "t") == 0;
}

/* The newest block's id, 0 when there is none. */
int64
tl_ledger_head_block(void)
{
	tl_spi_exec("SELECT COALESCE(max(block_id), 0) FROM tieredlog.ledger_block", 0, NULL, NULL, SPI_OK_SELECT);
	return strtoi64(tl_spi_text(0, 1), NULL, 10);
}

/*
 * The WITNESS entries held for node's block `block_id`: how many give `block_hash`, and how many
 * there are in all.
 */
void
tl_ledger_witnessed(const char *node, const char *block_id, const char *block_hash, int64 *same_hash,
					int64 *all)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(node), CStringGetTextDatum(block_id),
	CStringGetTextDatum(block_hash)};

	tl_spi_exec("SELECT count(*) FILTER (WHERE body->>'block_hash' = $3), count(*) FROM tieredlog.ledger_entry"
				" WHERE kind = 'WITNESS' AND body->>'node' = $1 AND body->>'block_id' = $2",
				3, types, values, SPI_OK_SELECT);
	*same_hash = strtoi64(tl_spi_text(0, 1), NULL, 10);
	*all = strtoi64(tl_spi_text(0, 2), NULL, 10);
}
