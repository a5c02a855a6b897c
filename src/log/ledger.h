/*-------------------------------------------------------------------------
 * ledger.h
 *		The integrity ledger: entries for events that change history, grouped into blocks
 *		chained by SHA-256; digests for safekeeping and peers' witnesses.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_LEDGER_H
#define TIEREDLOG_LEDGER_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#include "core/merkle.h"
#include "core/record.h"
#include "store/ledger_store.h"

#define TL_LEDGER_BLOCK_MAX		100000	/* entries per block at most */

extern void tl_ledger_log_created(const char *name, int64 interval_us, const char *rule);
extern void tl_ledger_log_dropped(const char *name);

extern void tl_ledger_add(const char *kind, const char *log_name, int64 segment_id, const char *body_json);
extern void tl_ledger_config(const char *action, const char *log_name, const char *detail_json);

extern void tl_ledger_entry_hash(TlSha *s, int64 entry_id, const char *kind, const char *log_name,
								 int64 segment_id, TimestampTz created_at, const char *body_text,
								 TlHash *out);
extern void tl_ledger_block_hash(TlSha *s, const TlLedgerBlock *b, TlHash *out);

extern int64 tl_ledger_close_block(void);
extern char *tl_ledger_digest_json(void);

extern void tl_ledger_note_repair(const char *log_name, TimestampTz window_start, const char *peer,
								  const TlRid *rid);
extern void tl_ledger_flush_repairs(void);
extern void tl_ledger_forget_repairs(void);
extern void tl_ledger_register_callbacks(void);

#endif							/* TIEREDLOG_LEDGER_H */
