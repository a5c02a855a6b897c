/*-------------------------------------------------------------------------
 * conflict_store.h
 *		The rows of tieredlog.conflict (episodes) and the pruning of tieredlog.seen, read and
 *		written for log/conflict*.c. See conflict_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_CONFLICT_STORE_H
#define TIEREDLOG_CONFLICT_STORE_H

#include "postgres.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "core/record.h"
#include "store/segment.h"

/* One record as a side of a conflict (and a candidate of latest()). */
typedef struct TlSide
{
	TlRid		rid;
	char	   *origin;
	int64		seq;
	TimestampTz ts;
	char	   *source;			/* NULL when none */
	Jsonb	   *payload;		/* NULL for a head whose order alone is wanted */
	HeapTuple	row;			/* the segment row, when read from one */
	TupleDesc	desc;
	const TlSegment *seg;		/* and its segment */
} TlSide;

/* A conflict row: its id, where it stands, and its two sides (a has the smaller rid). */
typedef struct TlConflictRow
{
	int64		conflict_id;
	char	   *log_name;
	char	   *key;
	char	   *status;			/* pending, resolved_by_rule, resolved */
	char		arrived;		/* 'a' or 'b': the side whose arrival was detected */
	TlSide	   *a;
	TlSide	   *b;
} TlConflictRow;

/* What tl_conflict_store_write() writes: a new episode, or episode_id moved to this pair. */
typedef struct TlConflictWrite
{
	const char *log_name;
	const char *key;
	const TlSide *a;
	const TlSide *b;
	bool		arrived_is_a;
	const char *via;
	const char *rule;
	bool		pending;
	bool		a_wins;
	const char *reason;
	int64		episode_id;		/* 0: a new episode */
	int			pairs;
	/* a move only applies to the pair the caller read: (was_origin: was_seq, the other: other_seq) */
	const char *was_origin;
	int64		was_seq;
	int64		other_seq;
} TlConflictWrite;

extern int	tl_conflict_store_decision(const char *log_name, const char *key, const TlRid *rid_a,
									   const TlRid *rid_b);
extern bool tl_conflict_store_lock(int64 conflict_id, TlConflictRow *row);
extern void tl_conflict_store_decide(int64 conflict_id, char winner, const char *decision_record);
extern void tl_conflict_store_mark_resolved(int64 conflict_id, const char *why, const char *decision_record);
extern void tl_conflict_store_delete(int64 conflict_id);
extern void tl_conflict_store_prune(int retention_s);
extern List *tl_conflict_store_to_recheck(int window_s, int limit);
extern int	tl_conflict_store_recent_keys(TimestampTz since, int limit, char ***log_names, char ***keys,
										  TimestampTz **anchors);
extern int64 tl_conflict_store_write(const TlConflictWrite *w);
extern bool tl_conflict_store_find_episode(const char *log_name, const char *key, const char *origin_x,
										   const char *origin_y, TlConflictRow *row);

#endif							/* TIEREDLOG_CONFLICT_STORE_H */
