/*-------------------------------------------------------------------------
 * conflict.h
 *		Conflicts between records of one key from different origins (conflict.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_CONFLICT_H
#define TIEREDLOG_CONFLICT_H

#include "postgres.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/jsonb.h"

#include "store/catalog.h"
#include "core/record.h"
#include "store/conflict_store.h"

typedef struct TlDecision
{
	bool		a_wins;			/* provisional when pending */
	bool		pending;
	const char *reason;
} TlDecision;

extern int	tl_conflict_check(const TlLog *log, const TlRecord *rec, const char *via);
extern TlSide *tl_conflict_latest(const TlLog *log, text *key);
extern char *tl_conflict_resolve(int64 conflict_id, const char *winner);
extern int	tl_conflict_settle_heads(void);
extern int	tl_conflict_sweep(void);
extern void tl_conflict_forget_heads(void);
extern void tl_conflict_flush(bool everything);
extern bool tl_conflict_unwritten(void);
extern uint64 tl_conflict_before_commit(void);
extern void tl_conflict_after_commit(uint64 expected);

#endif							/* TIEREDLOG_CONFLICT_H */
