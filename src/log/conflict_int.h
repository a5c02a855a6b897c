/*-------------------------------------------------------------------------
 * conflict_int.h
 *		What the files of conflict detection share among themselves (not for other modules):
 *		conflict_rules.c (records as sides, the rules), conflict_heads.c (reading a key's heads),
 *		conflict_episodes.c (episodes: detection and the conflict table), conflict.c (latest(),
 *		decisions by a person, the worker's sweep).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_CONFLICT_INT_H
#define TIEREDLOG_CONFLICT_INT_H

#include "postgres.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/snapshot.h"

#include "log/conflict.h"
#include "store/segment.h"

#define WINDOW_US	((int64) tl_conflict_window_s * USECS_PER_SEC)

/*
 * The order in which everything that writes conflict rows takes a log's keys: bytewise, a shorter
 * prefix first (then tl_cf_pair_order). The apply workers' flush (conflict_episodes.c) and the
 * worker's heads pass and sweep (conflict.c) all follow it within a log, one pass per
 * transaction, so that they do not wait on each other's rows in a cycle.
 */
static inline int
tl_cf_key_order(const text *x, const text *y)
{
	int			lx = VARSIZE_ANY_EXHDR(x);
	int			ly = VARSIZE_ANY_EXHDR(y);
	int			c = memcmp(VARDATA_ANY(x), VARDATA_ANY(y), Min(lx, ly));

	return c != 0 ? c : (lx > ly) - (lx < ly);
}

/*
 * Within a key, the order of two episodes' origin pairs (x1, x2) and (y1, y2), whichever way round
 * each pair is held: by the lesser origin, then the greater (strcmp). Used alike by the flush and
 * the sweep, after tl_cf_key_order.
 */
static inline int
tl_cf_pair_order(const char *x1, const char *x2, const char *y1, const char *y2)
{
	bool		xs = strcmp(x1, x2) <= 0;
	bool		ys = strcmp(y1, y2) <= 0;
	int			c = strcmp(xs ? x1 : x2, ys ? y1 : y2);

	return c != 0 ? c : strcmp(xs ? x2 : x1, ys ? y2 : y1);
}

/* conflict_rules.c */
extern TlSide *tl_cf_side_new(const TlRid *rid, char *origin, int64 seq, TimestampTz ts, char *source,
							  Jsonb *payload);
extern TlSide *tl_cf_head_from_row(HeapTuple row, TupleDesc desc);
extern TlSide *tl_cf_head_order_from_row(HeapTuple row, TupleDesc desc);
extern TlSide *tl_cf_side_from_row(HeapTuple row, TupleDesc desc, const TlSegment *seg);
extern void tl_cf_side_free_row(TlSide *s);
extern TlSide *tl_cf_side_from_record(const TlRecord *rec);
extern char *tl_cf_side_name(const TlSide *s);
extern bool tl_cf_side_saw(const TlSide *x, const TlSide *y);
extern bool tl_cf_concurrent(const TlSide *x, const TlSide *y);
extern bool tl_cf_later(const TlSide *x, const TlSide *y);
extern TlDecision tl_cf_decide(const TlLog *log, const char *key, const TlSide *a, const TlSide *b);

/* conflict_heads.c */
typedef struct Candidates
{
	const char *skip_origin;
	bool		newest_per_origin;	/* keep only each origin's newest (latest()) */
	const TlSegment *seg;		/* the segment being read */
	TupleDesc	desc_seen;		/* the scan's descriptor ... */
	TupleDesc	desc_copy;		/* ... and the copy the sides share */
	TimestampTz newest_ts;		/* the greatest ts visited */
	List	   *sides;
	Snapshot	snap;			/* NULL: the active snapshot */
} Candidates;

extern void tl_cf_visit_candidate(HeapTuple row, TupleDesc desc, void *arg);
extern List *tl_cf_key_records(const TlLog *log, text *key, TimestampTz from_ts, TimestampTz to_ts,
						 bool newest_per_origin);
extern bool tl_cf_newer(const TlSide *x, const TlSide *y);
extern TlSide *tl_cf_side_copy(const TlSide *s);
extern void tl_cf_side_free(TlSide *s);
extern List *tl_cf_merge_head(List *heads, TlSide *s, bool copy);
extern List *tl_cf_scan_heads(const TlLog *log, text *key, TimestampTz from_ts, TimestampTz to_ts, Snapshot snap,
							  const char *order_only_origin, int origin_limit);

/* conflict_episodes.c */
/* The newest conflict row (episode) of `key` between the origins of x and y, if any. */
typedef struct Episode
{
	int64		conflict_id;
	char	   *status;
	TlSide	   *side_of_x;		/* its record of x's origin */
	TlSide	   *side_of_y;
} Episode;

extern uint64 tl_cf_completed_transactions(void);
extern int64 tl_cf_record_conflict(const TlLog *log, const char *key, const TlSide *here, const TlSide *arrived,
							 const char *via, int64 episode_id, int pairs, const TlSide *was_here,
							 const TlSide *was_arrived);
extern bool tl_cf_find_episode(const TlLog *log, const char *key, const TlSide *x, const TlSide *y, Episode *ep);
extern bool tl_cf_continues(bool resolved, const TlSide *ex, const TlSide *ey, const TlSide *x, const TlSide *y);
extern bool tl_cf_note_pair_now(const TlLog *log, const char *key, TlSide *x, TlSide *y, const char *via);


#endif							/* TIEREDLOG_CONFLICT_INT_H */
