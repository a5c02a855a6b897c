/*-------------------------------------------------------------------------
 * ledger_store.h
 *		Rows of tieredlog.ledger_entry and tieredlog.ledger_block: adding entries, closing
 *		blocks, and the reads for proofs and witnesses. See ledger_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_LEDGER_STORE_H
#define TIEREDLOG_LEDGER_STORE_H

#include "postgres.h"
#include "datatype/timestamp.h"

#include "core/merkle.h"

/* A block of the ledger as stored. */
typedef struct TlLedgerBlock
{
	int64		block_id;
	int64		first_entry;
	int64		last_entry;
	int64		entries;
	TlHash		entries_root;
	TlHash		previous;		/* hash of the block before; zeros for block 1 */
	TimestampTz closed_at;
} TlLedgerBlock;

/* An entry of the ledger as stored (what its leaf hash covers). */
typedef struct TlLedgerEntryRow
{
	int64		entry_id;
	char	   *kind;
	char	   *log_name;		/* NULL when none */
	int64		segment_id;		/* 0 when none */
	TimestampTz created_at;
	char	   *body;			/* the jsonb body's text */
	bytea	   *stored_hash;	/* entry_hash as stored when its block closed (NULL: none) */
} TlLedgerEntryRow;

/* The latest SEAL/RESEAL/REOPEN entry of a segment, its body's fields as text. */
typedef struct TlLedgerSealEntry
{
	int64		segment_id;
	int64		entry_id;
	char	   *kind;
	char	   *log_name;
	char	   *root;
	char	   *records;
	char	   *digest;
} TlLedgerSealEntry;

/* Entries that name a block that does not exist: the block and how many (as text). */
typedef struct TlLedgerOrphans
{
	char	   *block_id;
	char	   *entries;
} TlLedgerOrphans;

extern bool tl_ledger_store_is_empty(void);
extern void tl_ledger_store_add_genesis(const char *body_json);
extern void tl_ledger_store_add(const char *kind, const char *log_name, int64 segment_id, const char *body_json);
extern bool tl_ledger_store_newest_block(TlLedgerBlock *b);
extern TlLedgerEntryRow *tl_ledger_store_unblocked(int limit, int *n);
extern void tl_ledger_store_close_block(const TlLedgerBlock *b, const TlLedgerEntryRow *entries,
										const TlHash *entry_hashes, int n);

/* reads under the caller's snapshot (read-only SPI), for verify() */
extern TlLedgerBlock *tl_ledger_store_blocks(int64 *n);
extern TlLedgerEntryRow *tl_ledger_store_block_entries(int64 block_id, int64 *n);
extern TlLedgerOrphans *tl_ledger_store_orphans(int *n);
extern char *tl_ledger_store_unblocked_count(void);
extern TlLedgerSealEntry *tl_ledger_store_seal_entries(const char *log_name, int *n);
extern bool tl_ledger_store_log_dropped_after(const char *log_name, int64 entry_id);
extern char **tl_ledger_store_repaired_rids(int64 segment_id, const char *log_name, int *n);

extern char *tl_ledger_sealed_root(int64 segment_id);
extern bool tl_ledger_changed_since(int64 block_id);
extern int64 tl_ledger_head_block(void);
extern void tl_ledger_witnessed(const char *node, const char *block_id, const char *block_hash,
								int64 *same_hash, int64 *all);

#endif							/* TIEREDLOG_LEDGER_STORE_H */
