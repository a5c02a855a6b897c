/*-------------------------------------------------------------------------
 * policy.c
 *		What the database worker should do this cycle: seal segments whose window + seal_grace
 *		has passed, promote segments read again, demote segments nobody touched, re-archive
 *		tier 2 segments that took late records.
 *
 * Adaptive tiering, with hysteresis:
 *   - promote one tier up when a segment had at least tieredlog.promote_reads reads within the
 *     current tieredlog.promote_window (live counters, stats.c);
 *   - demote one tier down when a sealed segment has not been accessed for
 *     tieredlog.demote_after: its last access is the newest of the live counter, the flushed
 *     history of this node, its seal and its last move;
 *   - never move a segment that moved less than tieredlog.min_residency ago;
 *   - at most tieredlog.max_moves_per_cycle moves per cycle, promotions first.
 * Segments whose last task failed are left out until their backoff ends (tasks.c passes them).
 *
 * Locking: none; reads the catalog in the caller's transaction. The moves themselves lock.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/safe_spi.h"
#include "store/peer_store.h"
#include "store/upkeep_store.h"
#include "log/ledger.h"
#include "core/record.h"
#include "log/scrub.h"
#include "bgw/policy.h"
#include "bgw/tasks.h"
#include "core/tieredlog.h"

static MemoryContext plan_cxt;

static TimestampTz last_checks = 0;
static TimestampTz last_train = 0;
static TimestampTz last_ledger = 0;

static List *
add_task(List *queue, TlTaskKind kind, int64 segment_id, int to_tier, const char *reason)
{
	MemoryContext old = MemoryContextSwitchTo(plan_cxt);
	TlTask	   *t = palloc0(sizeof(TlTask));

	t->kind = kind;
	t->segment_id = segment_id;
	t->to_tier = to_tier;
	t->reason = reason;
	queue = lappend(queue, t);
	MemoryContextSwitchTo(old);
	return queue;
}

/* Queue a task of `kind` for each segment due (store/upkeep_store.c), skipping those in backoff. */
static List *
plan_due(List *queue, TlDueKind due, const int *args, TlTaskKind kind, const char *reason, int limit)
{
	int			n;
	TlDueSegment *segs = tl_segments_due(due, tl_tasks_backoff_array(), args, limit, &n);

	for (int i = 0; i < n; i++)
		queue = add_task(queue, kind, segs[i].segment_id, segs[i].tier, reason);
	return queue;
}

static List *
plan_moves(List *queue)
{
	int			budget = tl_max_moves_per_cycle;
	int			before = list_length(queue);
	int			promote_args[2] = {tl_promote_reads, tl_min_residency_s};
	int			demote_args[2] = {tl_demote_after_s, tl_min_residency_s};

	queue = plan_due(queue, TL_DUE_REARCHIVE, NULL, TL_TASK_MOVE, "rearchive", budget);
	budget -= list_length(queue) - before;
	if (budget <= 0 || !tl_adaptive_tiering)
		return queue;

	before = list_length(queue);
	queue = plan_due(queue, TL_DUE_PROMOTE, promote_args, TL_TASK_MOVE, "promote", budget);
	budget -= list_length(queue) - before;
	if (budget <= 0)
		return queue;
	return plan_due(queue, TL_DUE_DEMOTE, demote_args, TL_TASK_MOVE, "demote", budget);
}

/* One task per peer with open gaps (reconciliation closes them). */
static List *
plan_gaps(List *queue)
{
	int			n;
	char	  **peers = tl_gap_open_peers(&n);

	for (int i = 0; i < n; i++)
	{
		MemoryContext old;
		char	   *copy;

		if (tl_tasks_in_backoff(tl_task_backoff_key(TL_TASK_CLOSE_GAPS, 0, peers[i])))
			continue;
		old = MemoryContextSwitchTo(plan_cxt);
		copy = pstrdup(peers[i]);
		MemoryContextSwitchTo(old);
		queue = add_task(queue, TL_TASK_CLOSE_GAPS, 0, 0, "open gap");
		((TlTask *) llast(queue))->peer_name = copy;
	}
	return queue;
}

/*
 * Plan this cycle's tasks after whatever `queue` already holds (redone tasks); the caller runs
 * this inside a transaction with a snapshot. Tasks are allocated in the queue's context.
 */
List *
tl_policy_plan(List *queue, bool flush_due)
{
	int			guc_level;
	int			grace[1] = {tl_seal_grace_s};

	plan_cxt = CurrentMemoryContext;
	queue = add_task(queue, TL_TASK_DIGESTS, 0, 0, "housekeeping");
	queue = add_task(queue, TL_TASK_APPLY, 0, 0, "replication");
	queue = add_task(queue, TL_TASK_SWEEP, 0, 0, "housekeeping");
	queue = add_task(queue, TL_TASK_FOLD, 0, 0, "housekeeping");
	queue = add_task(queue, TL_TASK_SETTLE_HEADS, 0, 0, "housekeeping");
	queue = add_task(queue, TL_TASK_CONFLICTS, 0, 0, "housekeeping");
	if (tl_check_interval_s > 0 && GetCurrentTimestamp() - last_checks >= (int64) tl_check_interval_s * USECS_PER_SEC)
	{
		queue = add_task(queue, TL_TASK_CHECKS, 0, 0, "check_interval passed");
		last_checks = GetCurrentTimestamp();
	}
	if (tl_train_interval_s > 0 && GetCurrentTimestamp() - last_train >= (int64) tl_train_interval_s * USECS_PER_SEC)
	{
		queue = add_task(queue, TL_TASK_TRAIN, 0, 0, "train_interval passed");
		last_train = GetCurrentTimestamp();
	}
	if (tl_ledger_interval_s > 0 && GetCurrentTimestamp() - last_ledger >= (int64) tl_ledger_interval_s * USECS_PER_SEC)
	{
		queue = add_task(queue, TL_TASK_LEDGER, 0, 0, "ledger_interval passed");
		last_ledger = GetCurrentTimestamp();
	}
	if (flush_due)
	{
		queue = add_task(queue, TL_TASK_FLUSH_STATS, 0, 0, "housekeeping");
		queue = add_task(queue, TL_TASK_PEER_STATS, 0, 0, "housekeeping");
	}

	guc_level = tl_spi_connect();
	queue = plan_due(queue, TL_DUE_SEAL, grace, TL_TASK_SEAL, "seal_grace passed", 1000);
	queue = plan_gaps(queue);
	queue = plan_moves(queue);
	if (tl_scrub_interval_s > 0)
	{
		int			interval[1] = {tl_scrub_interval_s};

		/* one segment a cycle */
		queue = plan_due(queue, TL_DUE_SCRUB, interval, TL_TASK_SCRUB, "scrub_interval passed", 1);
	}
	tl_spi_finish(guc_level);
	return queue;
}
