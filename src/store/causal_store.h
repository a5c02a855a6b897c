/*-------------------------------------------------------------------------
 * causal_store.h
 *		tieredlog.seen: which record of a writer said it had another origin's records up to which
 *		seq. See causal_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_CAUSAL_STORE_H
#define TIEREDLOG_CAUSAL_STORE_H

#include "postgres.h"

/* What tieredlog.seen says around a writer's record (tl_seen_around). */
typedef struct TlSeenAround
{
	int64		after_seq;		/* the writer's last "_seen" record about `about` before it; PG_INT64_MIN: none */
	int64		seen_seq;		/* what that record says it had seen; -1: none */
	int64		before_seq;		/* the writer's first such record at or after it; PG_INT64_MAX: none */
} TlSeenAround;

extern void tl_seen_insert(const char *writer, int64 writer_seq, const char *about, int64 seen_seq);
extern void tl_seen_around(const char *writer, const char *about, int64 writer_seq, TlSeenAround *out);

#endif							/* TIEREDLOG_CAUSAL_STORE_H */
