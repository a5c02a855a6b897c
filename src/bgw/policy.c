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

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/safe_spi.h"
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

/* Run a planning query with $1 = segments in backoff, $2..$n = ints; rows are (segment_id, tier). */
static List *
plan_from(List *queue, const char *sql, int nints, const int *ints, TlTaskKind kind,
		  const char *reason, int limit)
{
	Oid			types[8];
	Datum		values[8];

	Assert(nints < 8);
	types[0] = INT8ARRAYOID;
	values[0] = PointerGetDatum(tl_tasks_backoff_array());
	for (int i = 0; i < nints; i++)
	{
		types[i + 1] = INT4OID;
		values[i + 1] = Int32GetDatum(ints[i]);
	}
	if (SPI_execute_with_args(sql, nints + 1, types, values, NULL, true, limit) != SPI_OK_SELECT)
		elog(ERROR, "tieredlog: planning query failed: %s", sql);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int			tier = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		queue = add_task(queue, kind, id, tier, reason);
	}
	return queue;
}

/* last access known on this node: live counters, flushed history, seal, move */
#define LAST_ACCESS_SQL \
	"GREATEST(l.last_access, h.last_access, s.sealed_at, s.moved_at, s.created_at)"
#define ACCESS_JOINS_SQL \
	" LEFT JOIN tieredlog._stat_live() l USING (segment_id)" \
	" LEFT JOIN (SELECT segment_id, max(last_access) AS last_access FROM tieredlog.access_history" \
	"             GROUP BY segment_id) h USING (segment_id)"

static List *
plan_moves(List *queue)
{
	int			budget = tl_max_moves_per_cycle;
	int			before = list_length(queue);
	int			promote_args[2] = {tl_promote_reads, tl_min_residency_s};
	int			demote_args[2] = {tl_demote_after_s, tl_min_residency_s};

	/* tier 2 segments that took late records: back into frames once sealed again */
	queue = plan_from(queue,
					  "SELECT s.segment_id, 2 FROM tieredlog.segment s"
					  " WHERE s.tier = 2 AND s.state = 'sealed' AND s.relname IS NOT NULL"
					  "   AND s.segment_id <> ALL ($1) ORDER BY s.segment_id",
					  0, NULL, TL_TASK_MOVE, "rearchive", budget);
	budget -= list_length(queue) - before;
	if (budget <= 0 || !tl_adaptive_tiering)
		return queue;

	before = list_length(queue);
	queue = plan_from(queue,
					  "SELECT s.segment_id, s.tier - 1 FROM tieredlog.segment s"
					  " JOIN tieredlog._stat_live() l USING (segment_id)"
					  " WHERE s.tier > 0 AND l.reads_in_window >= $2 AND s.segment_id <> ALL ($1)"
					  "   AND (s.moved_at IS NULL OR s.moved_at <= now() - make_interval(secs => $3))"
					  " ORDER BY l.reads_in_window DESC, s.segment_id",
					  2, promote_args, TL_TASK_MOVE, "promote", budget);
	budget -= list_length(queue) - before;
	if (budget <= 0)
		return queue;

	/* tier 1 -> 2 needs a sealed segment; tier 0 -> 1 too: open segments are being written */
	queue = plan_from(queue,
					  "SELECT s.segment_id, s.tier + 1 FROM tieredlog.segment s" ACCESS_JOINS_SQL
					  " WHERE s.tier < 2 AND s.state = 'sealed' AND s.segment_id <> ALL ($1)"
					  "   AND " LAST_ACCESS_SQL " <= now() - make_interval(secs => $2)"
					  "   AND (s.moved_at IS NULL OR s.moved_at <= now() - make_interval(secs => $3))"
					  " ORDER BY " LAST_ACCESS_SQL ", s.segment_id",
					  2, demote_args, TL_TASK_MOVE, "demote", budget);
	return queue;
}

/* One task per peer with open gaps (reconciliation closes them). */
static List *
plan_gaps(List *queue)
{
	if (SPI_execute("SELECT DISTINCT g.peer_name FROM tieredlog.gap g JOIN tieredlog.peer p USING (peer_name)"
					" WHERE g.closed_at IS NULL AND p.enabled ORDER BY 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tieredlog: could not list open gaps");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *peer = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old;
		char	   *copy;

		if (tl_tasks_in_backoff(tl_task_backoff_key(TL_TASK_CLOSE_GAPS, 0, peer)))
			continue;
		old = MemoryContextSwitchTo(plan_cxt);
		copy = pstrdup(peer);

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
	queue = add_task(queue, TL_TASK_APPLY, 0, 0, "replication");
	queue = add_task(queue, TL_TASK_SWEEP, 0, 0, "housekeeping");
	queue = add_task(queue, TL_TASK_FOLD, 0, 0, "housekeeping");
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
	/* open segments past their window + grace; reopened ones once no write came for the grace */
	queue = plan_from(queue,
					  "SELECT s.segment_id, s.tier FROM tieredlog.segment s" ACCESS_JOINS_SQL
					  " WHERE s.segment_id <> ALL ($1) AND ("
					  "   (s.state = 'open' AND s.range_end <= now() - make_interval(secs => $2))"
					  "   OR (s.state = 'reopened' AND " LAST_ACCESS_SQL " <= now() - make_interval(secs => $2)))"
					  " ORDER BY s.range_end, s.segment_id",
					  1, grace, TL_TASK_SEAL, "seal_grace passed", 1000);
	queue = plan_gaps(queue);
	queue = plan_moves(queue);
	if (tl_scrub_interval_s > 0)
	{
		int			interval[1] = {tl_scrub_interval_s};

		/* one segment a cycle, the longest unscrubbed first; frames-only segments too (checksums) */
		queue = plan_from(queue,
						  "SELECT s.segment_id, s.tier FROM tieredlog.segment s"
						  " WHERE s.segment_id <> ALL ($1)"
						  "   AND COALESCE(s.scrubbed_at, s.created_at) <= now() - make_interval(secs => $2)"
						  " ORDER BY COALESCE(s.scrubbed_at, s.created_at), s.segment_id",
						  1, interval, TL_TASK_SCRUB, "scrub_interval passed", 1);
	}
	tl_spi_finish(guc_level);
	return queue;
}
