/*-------------------------------------------------------------------------
 * append.h
 *		Writing records into segments.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_APPEND_H
#define TIEREDLOG_APPEND_H

#include "core/record.h"
#include "store/segment.h"

/* One record to append: key and payload required, source and ts optional. */
typedef struct TlAppendInput
{
	text	   *key;
	Jsonb	   *payload;
	text	   *source;
	bool		has_ts;
	TimestampTz ts;
} TlAppendInput;

extern int64 tl_append(const TlLog *log, const TlAppendInput *in);
extern int64 tl_append_batch(const TlLog *log, const TlAppendInput *in, int n);
typedef enum TlApplyResult
{
	TL_APPLY_STORED,
	TL_APPLY_DUPLICATE,			/* already here, same rid */
	TL_APPLY_CONFLICT			/* (origin, seq) here with another rid: damage */
} TlApplyResult;

/*
 * Set by the apply worker: tl_apply_record keeps the segment's indexes open to the end of the
 * (sub)transaction. Only there: a session could drop a segment it still holds that way (drop_log,
 * sweep) in the same transaction.
 */
extern bool tl_append_keep_indexes;
extern TlApplyResult tl_apply_record(const TlLog *log, TlRecord *rec, TlRid *existing);
extern bool tl_replace_record(const TlLog *log, TlRecord *rec, const TlRid *old_rid);

#endif							/* TIEREDLOG_APPEND_H */
