/*-------------------------------------------------------------------------
 * ledger_store.c
 *		The ledger's tables: adding an entry (and the genesis entry), closing a block over the
 *		entries no block covers yet (log/ledger.c, which hashes them); the root of a segment's
 *		latest seal entry (log/proof.c), whether entries other than witnesses were closed into
 *		blocks after a given block, the newest block, and the witness entries held for a peer's
 *		block (repl/ledger_witness.c). What an entry and a block hash to is log/ledger.c's.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path
 * (tl_spi_connect, or tl_become_owner when the caller acts as the extension's owner); results
 * are allocated in the context that was current when SPI was connected (store/spi_rows.c).
 *
 * Locking: AccessShareLock on the tables read, RowExclusiveLock on those written; closing a
 * block is serialised by the caller (TL_LOCK_LEDGER), which reads the newest block after it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
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
	tl_spi_run("SELECT EXISTS (SELECT 1 FROM tieredlog.ledger_entry WHERE block_id > $1 AND kind <> 'WITNESS')",
			   SPI_OK_SELECT, 1, INT8OID, Int64GetDatum(block_id));
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
	tl_spi_run("SELECT count(*) FILTER (WHERE body->>'block_hash' = $3), count(*) FROM tieredlog.ledger_entry"
			   " WHERE kind = 'WITNESS' AND body->>'node' = $1 AND body->>'block_id' = $2",
			   SPI_OK_SELECT, 3, TEXTOID, CStringGetTextDatum(node), TEXTOID, CStringGetTextDatum(block_id),
			   TEXTOID, CStringGetTextDatum(block_hash));
	*same_hash = strtoi64(tl_spi_text(0, 1), NULL, 10);
	*all = strtoi64(tl_spi_text(0, 2), NULL, 10);
}

/* ---- writing (log/ledger.c) ------------------------------------------------------------------ */

static const TlSpiColumn entry_cols[] = {
	TL_SPI_COL(TL_SPI_INT8, TlLedgerEntryRow, entry_id), TL_SPI_COL(TL_SPI_TEXT, TlLedgerEntryRow, kind),
	TL_SPI_COL(TL_SPI_TEXT, TlLedgerEntryRow, log_name), TL_SPI_COL(TL_SPI_INT8, TlLedgerEntryRow, segment_id),
	TL_SPI_COL(TL_SPI_TIMESTAMPTZ, TlLedgerEntryRow, created_at), TL_SPI_COL(TL_SPI_TEXT, TlLedgerEntryRow, body)
};

/*
 * Row i of the last result, columns block_id, first_entry, last_entry, entries, entries_root,
 * previous_block_hash, closed_at, as a block (a stored hash of another length reads as zeros).
 */
static void
block_of_row(uint64 i, TlLedgerBlock *b)
{
	HeapTuple	tup = SPI_tuptable->vals[i];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;

	b->block_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	b->first_entry = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	b->last_entry = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	b->entries = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	tl_hash_from_bytea(SPI_getbinval(tup, desc, 5, &isnull), &b->entries_root);
	tl_hash_from_bytea(SPI_getbinval(tup, desc, 6, &isnull), &b->previous);
	b->closed_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
}

/* Has the ledger no entry at all (not even the genesis entry)? */
bool
tl_ledger_store_is_empty(void)
{
	if (SPI_execute("SELECT 1 FROM tieredlog.ledger_entry LIMIT 1", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tieredlog.ledger_entry");
	return SPI_processed == 0;
}

/* The genesis entry (entry 0); two first writers at once: the key decides, the second adds nothing. */
void
tl_ledger_store_add_genesis(const char *body_json)
{
	tl_spi_run("INSERT INTO tieredlog.ledger_entry (entry_id, kind, body) VALUES (0, 'CONFIG', $1::jsonb)"
			   " ON CONFLICT (entry_id) DO NOTHING",
			   SPI_OK_INSERT, 1, TEXTOID, CStringGetTextDatum(body_json));
}

/* An entry; log_name may be NULL and segment_id 0. */
void
tl_ledger_store_add(const char *kind, const char *log_name, int64 segment_id, const char *body_json)
{
	Oid			types[4] = {TEXTOID, TEXTOID, INT8OID, TEXTOID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(log_name ? log_name : "");
	values[2] = Int64GetDatum(segment_id);
	values[3] = CStringGetTextDatum(body_json);
	tl_spi_exec("INSERT INTO tieredlog.ledger_entry (kind, log_name, segment_id, body)"
				" VALUES ($1, NULLIF($2, ''), NULLIF($3, 0), $4::jsonb)", 4, types, values, SPI_OK_INSERT);
}

/* The newest block as stored (through a fresh snapshot); false when there is none. */
bool
tl_ledger_store_newest_block(TlLedgerBlock *b)
{
	tl_spi_exec("SELECT block_id, first_entry, last_entry, entries, entries_root, previous_block_hash, closed_at"
				" FROM tieredlog.ledger_block ORDER BY block_id DESC LIMIT 1", 0, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	block_of_row(0, b);
	return true;
}

/* The committed entries no block covers yet, oldest first, at most `limit` of them. */
TlLedgerEntryRow *
tl_ledger_store_unblocked(int limit, int *n)
{
	tl_spi_run("SELECT entry_id, kind, log_name, COALESCE(segment_id, 0), created_at, body::text"
			   " FROM tieredlog.ledger_entry WHERE block_id IS NULL ORDER BY entry_id LIMIT $1",
			   SPI_OK_SELECT, 1, INT4OID, Int32GetDatum(limit));
	return tl_spi_read_rows(entry_cols, lengthof(entry_cols), sizeof(TlLedgerEntryRow), n);
}

/* Store block b and mark its n entries as covered by it, each with its hash. */
void
tl_ledger_store_close_block(const TlLedgerBlock *b, const TlLedgerEntryRow *entries, const TlHash *entry_hashes,
							int n)
{
	Oid			types[7] = {INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID, BYTEAOID, TIMESTAMPTZOID};
	Datum		values[7];
	Oid			utypes[3] = {INT8OID, INT8ARRAYOID, BYTEAARRAYOID};
	Datum		uvalues[3];
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *hashes = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		ids[i] = Int64GetDatum(entries[i].entry_id);
		hashes[i] = tl_hash_to_bytea(&entry_hashes[i]);
	}
	values[0] = Int64GetDatum(b->block_id);
	values[1] = Int64GetDatum(b->first_entry);
	values[2] = Int64GetDatum(b->last_entry);
	values[3] = Int64GetDatum(b->entries);
	values[4] = tl_hash_to_bytea(&b->entries_root);
	values[5] = tl_hash_to_bytea(&b->previous);
	values[6] = TimestampTzGetDatum(b->closed_at);
	tl_spi_exec("INSERT INTO tieredlog.ledger_block (block_id, first_entry, last_entry, entries, entries_root,"
				" previous_block_hash, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
				7, types, values, SPI_OK_INSERT);
	uvalues[0] = Int64GetDatum(b->block_id);
	uvalues[1] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	uvalues[2] = PointerGetDatum(construct_array(hashes, n, BYTEAOID, -1, false, TYPALIGN_INT));
	tl_spi_exec("UPDATE tieredlog.ledger_entry e SET block_id = $1, entry_hash = u.h"
				" FROM unnest($2, $3) AS u(id, h) WHERE e.entry_id = u.id",
				3, utypes, uvalues, SPI_OK_UPDATE);
}

/* ---- reads for verify() (log/verify.c): read-only, under the caller's one snapshot ---------- */

static void
ro_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tieredlog ledger query failed (%s): %s", SPI_result_code_string(rc), sql);
}

/* Every block as stored, by block_id; a stored hash of another length reads as zeros. */
TlLedgerBlock *
tl_ledger_store_blocks(int64 *n)
{
	TlLedgerBlock *blocks;

	ro_exec("SELECT block_id, first_entry, last_entry, entries, entries_root, previous_block_hash, closed_at"
			" FROM tieredlog.ledger_block ORDER BY block_id", 0, NULL, NULL, NULL);
	*n = SPI_processed;
	blocks = tl_spi_rows_alloc(sizeof(TlLedgerBlock) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
		block_of_row(i, &blocks[i]);
	return blocks;
}

/* The entries of one block, by entry_id, with the hash each had when the block closed. */
TlLedgerEntryRow *
tl_ledger_store_block_entries(int64 block_id, int64 *n)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(block_id)};
	TlLedgerEntryRow *rows;
	int			nrows;

	ro_exec("SELECT entry_id, kind, log_name, COALESCE(segment_id, 0), created_at, body::text, entry_hash"
			" FROM tieredlog.ledger_entry WHERE block_id = $1 ORDER BY entry_id", 1, types, values, NULL);
	rows = tl_spi_read_rows(entry_cols, lengthof(entry_cols), sizeof(TlLedgerEntryRow), &nrows);
	for (int i = 0; i < nrows; i++)
	{
		bool		isnull;
		Datum		h = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 7, &isnull);

		if (!isnull)
		{
			bytea	   *b = DatumGetByteaPP(h);
			bytea	   *copy = tl_spi_rows_alloc(VARSIZE_ANY(b));

			memcpy(copy, b, VARSIZE_ANY(b));
			rows[i].stored_hash = copy;
		}
	}
	*n = nrows;
	return rows;
}

TlLedgerOrphans *
tl_ledger_store_orphans(int *n)
{
	static const TlSpiColumn cols[] = {
		TL_SPI_COL(TL_SPI_TEXT, TlLedgerOrphans, block_id), TL_SPI_COL(TL_SPI_TEXT, TlLedgerOrphans, entries)
	};

	ro_exec("SELECT e.block_id, count(*) FROM tieredlog.ledger_entry e WHERE e.block_id IS NOT NULL"
			" AND NOT EXISTS (SELECT 1 FROM tieredlog.ledger_block b WHERE b.block_id = e.block_id)"
			" GROUP BY e.block_id ORDER BY e.block_id", 0, NULL, NULL, NULL);
	return tl_spi_read_rows(cols, lengthof(cols), sizeof(TlLedgerOrphans), n);
}

/* How many entries no block covers yet, as text. */
char *
tl_ledger_store_unblocked_count(void)
{
	ro_exec("SELECT count(*) FROM tieredlog.ledger_entry WHERE block_id IS NULL", 0, NULL, NULL, NULL);
	return tl_spi_text(0, 1);
}

/* The latest SEAL/RESEAL/REOPEN entry of every segment (of log_name, or of all logs with NULL). */
TlLedgerSealEntry *
tl_ledger_store_seal_entries(const char *log_name, int *n)
{
	static const TlSpiColumn cols[] = {
		TL_SPI_COL(TL_SPI_INT8, TlLedgerSealEntry, segment_id), TL_SPI_COL(TL_SPI_INT8, TlLedgerSealEntry, entry_id),
		TL_SPI_COL(TL_SPI_TEXT, TlLedgerSealEntry, kind), TL_SPI_COL(TL_SPI_TEXT, TlLedgerSealEntry, log_name),
		TL_SPI_COL(TL_SPI_TEXT, TlLedgerSealEntry, root), TL_SPI_COL(TL_SPI_TEXT, TlLedgerSealEntry, records),
		TL_SPI_COL(TL_SPI_TEXT, TlLedgerSealEntry, digest)
	};
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {log_name ? CStringGetTextDatum(log_name) : (Datum) 0};
	char		nulls[1] = {log_name ? ' ' : 'n'};

	ro_exec("SELECT DISTINCT ON (segment_id) segment_id, entry_id, kind, log_name, body->>'root',"
			" body->>'records', body->>'digest' FROM tieredlog.ledger_entry"
			" WHERE kind IN ('SEAL', 'RESEAL', 'REOPEN') AND segment_id IS NOT NULL"
			"   AND ($1::text IS NULL OR log_name = $1) ORDER BY segment_id, entry_id DESC",
			1, types, values, nulls);
	return tl_spi_read_rows(cols, lengthof(cols), sizeof(TlLedgerSealEntry), n);
}

/* Was log_name dropped after entry entry_id? */
bool
tl_ledger_store_log_dropped_after(const char *log_name, int64 entry_id)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {CStringGetTextDatum(log_name ? log_name : ""), Int64GetDatum(entry_id)};

	ro_exec("SELECT 1 FROM tieredlog.ledger_entry WHERE kind = 'CONFIG' AND log_name = $1 AND entry_id > $2"
			" AND body->>'action' = 'drop_log' LIMIT 1", 2, types, values, NULL);
	return SPI_processed > 0;
}

/* The rids (hex) that REPAIR entries of the segment added and no later QUARANTINE entry took out. */
char **
tl_ledger_store_repaired_rids(int64 segment_id, const char *log_name, int *n)
{
	static const TlSpiColumn cols[] = {{TL_SPI_TEXT, 0}};
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(segment_id), CStringGetTextDatum(log_name ? log_name : "")};

	ro_exec("SELECT r.rid FROM tieredlog.ledger_entry l, jsonb_array_elements_text(l.body->'rids') r(rid)"
			" WHERE l.kind = 'REPAIR' AND l.segment_id = $1"
			"   AND NOT EXISTS (SELECT 1 FROM tieredlog.ledger_entry q WHERE q.kind = 'QUARANTINE'"
			"     AND q.log_name = $2 AND q.entry_id > l.entry_id"
			"     AND r.rid IN (q.body->>'local_rid', q.body->>'other_rid'))", 2, types, values, NULL);
	return tl_spi_read_rows(cols, lengthof(cols), sizeof(char *), n);
}
