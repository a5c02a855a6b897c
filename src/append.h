/*-------------------------------------------------------------------------
 * append.h
 *		Writing records into segments.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_APPEND_H
#define TIEREDLOG_APPEND_H

#include "record.h"
#include "segment.h"

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
extern bool tl_apply_record(const TlLog *log, TlRecord *rec);

#endif							/* TIEREDLOG_APPEND_H */
