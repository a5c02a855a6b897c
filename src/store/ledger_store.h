/*-------------------------------------------------------------------------
 * ledger_store.h
 *		Reads of tieredlog.ledger_entry and tieredlog.ledger_block for proofs and witnesses. See
 *		ledger_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_LEDGER_STORE_H
#define TIEREDLOG_LEDGER_STORE_H

#include "postgres.h"

extern char *tl_ledger_sealed_root(int64 segment_id);
extern bool tl_ledger_changed_since(int64 block_id);
extern int64 tl_ledger_head_block(void);
extern void tl_ledger_witnessed(const char *node, const char *block_id, const char *block_hash,
								int64 *same_hash, int64 *all);

#endif							/* TIEREDLOG_LEDGER_STORE_H */
