/*-------------------------------------------------------------------------
 * tieredlog.h
 *		Names and limits shared by all of tieredlog's files, and the internal lock tags.
 *
 * Shared state (core/shmem.h): TieredlogShared holds lock-free atomics; the progress slots
 * (progress.c), the worker slots (worker.c) and the apply-worker slots (apply.c) are parts of
 * their own, each with its own spinlock. The access statistics table has the one LWLock, "tieredlog_stats" (stats.c).
 * Lock order: the stats LWLock may be held while an entry spinlock is taken; nothing else nests.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_H
#define TIEREDLOG_H

#include "postgres.h"

#define TL_SCHEMA			"tieredlog"
#define TL_DATA_SCHEMA		"tieredlog_data"

/* Names of logs, sources and nodes: see validate.c. */
#define TL_MAX_NAME_LEN		63
#define TL_MAX_KEY_LEN		1024

/* Segment windows: whole seconds between one second and 366 days. */
#define TL_MIN_INTERVAL_US	INT64CONST(1000000)
#define TL_MAX_INTERVAL_US	(INT64CONST(366) * USECS_PER_DAY)

/* Internal lock tags (advisory lock method, field4 outside the range SQL advisory locks use). */
#define TL_LOCK_LOG_SEGMENTS	0x544C01	/* creating or dropping segments of a log */
#define TL_LOCK_DIGEST_COMPACT	0x544C02	/* compacting a segment's digest cells */
#define TL_LOCK_SEGMENT_MOVE	0x544C03	/* moving or sealing a segment */
#define TL_LOCK_LEDGER			0x544C04	/* closing a ledger block */
#define TL_LOCK_NODE_STATE		0x544C05	/* claiming or changing tieredlog.node_state (node.c) */

#endif							/* TIEREDLOG_H */
