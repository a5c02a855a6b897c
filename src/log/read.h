/*-------------------------------------------------------------------------
 * read.h
 *		Reading records back: ranges and keys across segments, and the winning record of a key.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_READ_H
#define TIEREDLOG_READ_H

#include "postgres.h"
#include "fmgr.h"
#include "store/catalog.h"

/* Columns of read() and latest(). */
#define TL_OUT_NATTS	9

extern void tl_read_into(FunctionCallInfo fcinfo, const TlLog *log, TimestampTz from_ts,
						 TimestampTz to_ts, text *key);
extern void tl_latest_into(FunctionCallInfo fcinfo, const TlLog *log, text *key);

#endif							/* TIEREDLOG_READ_H */
