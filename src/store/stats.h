/*-------------------------------------------------------------------------
 * stats.h
 *		pg_stat-style access statistics per segment: counted in shared memory, flushed into
 *		tieredlog.access_history by the database's worker.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_STATS_H
#define TIEREDLOG_STATS_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/timestamp.h"

/* One segment's counts since the last flush into access_history (stats.c fills it). */
typedef struct TlStatDelta
{
	int64		segment_id;
	int64		reads;
	int64		local_writes;
	int64		remote_writes;
	int64		unstreamed_writes;	/* local writes under a replication origin: not streamed */
	int64		bytes_read;
	TimestampTz last_access;
	/* the totals these deltas bring the flushed baseline to */
	int64		total_reads;
	int64		total_local_writes;
	int64		total_remote_writes;
	int64		total_unstreamed_writes;
	int64		total_bytes_read;
} TlStatDelta;

extern Size tl_stats_shmem_size(void);
extern void tl_stats_shmem_request(void);
extern void tl_stats_shmem_startup(void);
extern void tl_stats_register(void);

/* Counting (backend-local until the transaction ends; no shared lock per call). */
extern void tl_stats_count_read(int64 segment_id, int64 bytes);
extern void tl_stats_count_writes(int64 segment_id, int64 n, bool remote);

/* For the worker: what changed since the last flush, and marking it flushed. */
extern TlStatDelta *tl_stats_collect_deltas(int *n);
extern void tl_stats_mark_flushed(const TlStatDelta *d, int n);
extern void tl_stats_forget_segment(Oid dboid, int64 segment_id);
extern void tl_stats_restart_window(int64 segment_id);

/* SQL */
extern void tl_stats_live_rows(FunctionCallInfo fcinfo);
extern int64 tl_stats_reset_database(void);
extern void tl_stats_usage(int64 *entries, int64 *capacity, int64 *evicted);

#endif							/* TIEREDLOG_STATS_H */
