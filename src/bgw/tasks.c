/*-------------------------------------------------------------------------
 * tasks.c
 *		The database worker's cycle: plan a queue (policy.c), then run its tasks one at a time,
 *		each in a transaction of its own.
 *
 * Seals and moves are recorded in tieredlog.task_history: a row with status 'running' is
 * committed before the task starts and finished after it, so a task cut short by a crash or a
 * shutdown is still 'running' when the worker next starts; it is then marked 'interrupted' and
 * redone first. A task that fails is recorded with its error, and its segment is left alone for
 * an exponentially growing time (naptime x 2^failures, at most an hour), so one bad segment never
 * stops the others. Moves are paced by tieredlog.move_rate_limit (bytes moved / rate).
 *
 * Locking: none of its own; each task takes the locks described in its file.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "common/hashfn.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/safe_spi.h"
#include "core/xact.h"
#include "repl/apply.h"
#include "log/conflict.h"
#include "store/digest.h"
#include "repl/reconcile.h"
#include "log/ledger.h"
#include "repl/ledger_witness.h"
#include "repl/peer_stats.h"
#include "core/record.h"
#include "log/scrub.h"
#include "store/stats.h"
#include "store/task_store.h"
#include "store/upkeep_store.h"
#include "bgw/policy.h"
#include "bgw/tasks.h"
#include "log/tier.h"
#include "core/tieredlog.h"
#include "bgw/worker.h"

/* A segment is folded by the worker once it has this many digest cells. */
#define TL_FOLD_CELLS	512
/* How often the fold looks at sealed segments' cells too (a read of the whole cell table). */
#define TL_FOLD_ALL_EVERY_S	3600
/* How long one cycle spends rebuilding digest cells after a crash. */
#define TL_REBUILD_BUDGET_MS	1000
#define TL_BACKOFF_MAX_S	3600

extern int	tl_naptime;

typedef struct SegmentBackoff
{
	int64		segment_id;
	int			failures;
	TimestampTz not_before;
	uint32		said;			/* hash of the last failure logged at LOG (digits left out) */
} SegmentBackoff;

static HTAB *backoff = NULL;
static List *redo_queue = NIL;	/* interrupted tasks found at start, in TopMemoryContext */
static TimestampTz last_flush = 0;

const char *
tl_task_name(TlTaskKind kind)
{
	switch (kind)
	{
		case TL_TASK_DIGESTS:
			return "rebuild digests";
		case TL_TASK_SWEEP:
			return "sweep";
		case TL_TASK_FOLD:
			return "fold";
		case TL_TASK_FLUSH_STATS:
			return "flush statistics";
		case TL_TASK_APPLY:
			return "start apply workers";
		case TL_TASK_CLOSE_GAPS:
			return "close gaps";
		case TL_TASK_SETTLE_HEADS:
			return "settle heads";
		case TL_TASK_CONFLICTS:
			return "conflicts";
		case TL_TASK_CHECKS:
			return "scheduled checks";
		case TL_TASK_TRAIN:
			return "train model";
		case TL_TASK_PEER_STATS:
			return "peer statistics";
		case TL_TASK_LEDGER:
			return "ledger";
		case TL_TASK_SEAL:
			return "seal";
		case TL_TASK_SCRUB:
			return "scrub";
		case TL_TASK_MOVE:
			return "move";
	}
	return "?";
}

static bool
task_is_recorded(const TlTask *t)
{
	return t->kind == TL_TASK_SEAL || t->kind == TL_TASK_MOVE || t->kind == TL_TASK_SCRUB ||
		t->kind == TL_TASK_CHECKS || t->kind == TL_TASK_TRAIN;
}

/* ---- per-segment backoff --------------------------------------------------------------------- */

static void
backoff_init(void)
{
	HASHCTL		ctl;

	if (backoff != NULL)
		return;
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(SegmentBackoff);
	ctl.hcxt = TopMemoryContext;
	backoff = hash_create("tieredlog segment backoff", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * A failure's message without its digits: a retry that fails the same way often names another
 * relation or block (a move's new target file on a full disk), which is no news.
 */
static uint32
failure_hash(const char *error)
{
	StringInfoData s;
	uint32		h;

	initStringInfo(&s);
	for (const char *c = error; *c; c++)
		if (!isdigit((unsigned char) *c))
			appendStringInfoChar(&s, *c);
	h = hash_bytes((const unsigned char *) s.data, s.len);
	pfree(s.data);
	return h;
}

/*
 * A task succeeded (error NULL) or failed with error. Returns true when the failure is news — the
 * first since the last success, or another message than the one logged — so that a task failing
 * the same way at every retry is logged once, not at every retry.
 */
static bool
backoff_note(int64 segment_id, const char *error)
{
	SegmentBackoff *b;
	bool		found;
	int64		s = tl_naptime;
	uint32		h;
	bool		news;

	backoff_init();
	if (error == NULL)
	{
		hash_search(backoff, &segment_id, HASH_REMOVE, NULL);
		return false;
	}
	h = failure_hash(error);
	b = hash_search(backoff, &segment_id, HASH_ENTER, &found);
	if (!found)
		b->failures = 0;
	news = !found || b->said != h;
	b->said = h;
	b->failures++;
	for (int i = 1; i < b->failures && s < TL_BACKOFF_MAX_S; i++)
		s *= 2;
	b->not_before = GetCurrentTimestamp() + Min(s, TL_BACKOFF_MAX_S) * USECS_PER_SEC;
	return news;
}

/* The backoff key of a task: its segment, or for a peer's gaps a negative hash of the name. */
int64
tl_task_backoff_key(TlTaskKind kind, int64 segment_id, const char *peer_name)
{
	if (kind == TL_TASK_CLOSE_GAPS && peer_name != NULL)
		return -1 - (int64) (hash_bytes((const unsigned char *) peer_name, strlen(peer_name)) & 0x7fffffff);
	return segment_id;
}

bool
tl_tasks_in_backoff(int64 key)
{
	SegmentBackoff *b;

	backoff_init();
	b = hash_search(backoff, &key, HASH_FIND, NULL);
	return b != NULL && b->not_before > GetCurrentTimestamp();
}

/* The segments still in backoff, as an int8[] for the planning queries (policy.c). */
ArrayType *
tl_tasks_backoff_array(void)
{
	HASH_SEQ_STATUS seq;
	SegmentBackoff *b;
	Datum	   *ids;
	int			n = 0;
	TimestampTz now = GetCurrentTimestamp();

	backoff_init();
	ids = palloc(sizeof(Datum) * (hash_get_num_entries(backoff) + 1));
	hash_seq_init(&seq, backoff);
	while ((b = hash_seq_search(&seq)) != NULL)
		if (b->not_before > now)
			ids[n++] = Int64GetDatum(b->segment_id);
	return construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* ---- task history ------------------------------------------------------------------------------ */

static int64
history_begin(const TlTask *t)
{
	TlXact		x;
	int32		to_tier = t->to_tier;
	int64		run_id;

	tl_xact_begin(&x, true);
	run_id = tl_task_history_begin(tl_task_name(t->kind), t->segment_id,
								   t->kind == TL_TASK_MOVE ? &to_tier : NULL, t->reason);
	tl_xact_commit(&x);
	return run_id;
}

static void
history_end(int64 run_id, const char *status, const char *detail)
{
	TlXact		x;

	tl_xact_begin(&x, true);
	tl_task_history_end(run_id, status, detail);
	tl_xact_commit(&x);
}

/*
 * At the worker's start: tasks still 'running' were cut short (this is the only worker of the
 * database, and it was not running). Mark them and queue them to be redone first; checks still
 * unfinished are marked abandoned (the next cycle plans again).
 */
void
tl_tasks_recover_interrupted(MemoryContext cxt)
{
	TlXact		x;
	TlInterruptedTask *tasks;
	int			n;
	uint64		abandoned;

	tl_xact_begin(&x, true);
	tasks = tl_task_history_interrupt(&n);
	for (int i = 0; i < n; i++)
	{
		const char *task = tasks[i].task;
		MemoryContext old;
		TlTask	   *t;

		/* checks and training are planned again on their own; seals, moves and scrubs are redone */
		if (strcmp(task, "move") != 0 && strcmp(task, "scrub") != 0 && strcmp(task, "seal") != 0)
			continue;
		old = MemoryContextSwitchTo(TopMemoryContext);
		t = palloc0(sizeof(TlTask));
		t->kind = strcmp(task, "move") == 0 ? TL_TASK_MOVE
			: strcmp(task, "scrub") == 0 ? TL_TASK_SCRUB : TL_TASK_SEAL;
		t->segment_id = tasks[i].segment_id;
		t->to_tier = tasks[i].to_tier;
		t->reason = "redo";
		redo_queue = lappend(redo_queue, t);
		MemoryContextSwitchTo(old);
		ereport(LOG,
				(errmsg("tieredlog: %s of segment %lld was interrupted; redoing it", task,
						(long long) t->segment_id)));
	}
	/*
	 * Checks are logged and run only by this database's worker (_log_checks, run_checks): one
	 * still unfinished was cut short with its worker, and would otherwise show as in flight until
	 * a later cycle's logging gives up on it after ten minutes.
	 */
	abandoned = tl_check_log_abandon();
	if (abandoned > 0)
		ereport(LOG,
				(errmsg("tieredlog: %llu checks were cut short by the worker's stop; marked abandoned",
						(unsigned long long) abandoned)));
	tl_xact_commit(&x);
}

/* ---- tasks --------------------------------------------------------------------------------------- */

/*
 * Fold the segments with many cells. Appenders fold the segments they write every TL_FOLD_EVERY
 * commits (digest.c); this catches what short sessions leave. Each cycle looks at the segments
 * that are not sealed, the only ones written; the first cycle and one an hour look at all of
 * them (cells left just before a seal, or before this worker started).
 */
static int64
fold_busy_segments(void)
{
	static TimestampTz last_all = 0;	/* 0: not yet in this worker */
	int			guc_level;
	int64	   *segs;
	int			n;
	int64		folded = 0;
	TimestampTz now = GetCurrentTimestamp();
	bool		all = last_all == 0 ||
		TimestampDifferenceExceeds(last_all, now, TL_FOLD_ALL_EVERY_S * 1000);

	guc_level = tl_spi_connect();
	segs = tl_segments_to_fold(TL_FOLD_CELLS, all, &n);
	tl_spi_finish(guc_level);
	for (int i = 0; i < n; i++)
		if (tl_digest_compact(segs[i], false) > 0)
			folded++;
	if (all)
		last_all = now;		/* after the folds: a failed one is tried again with all */
	return folded;
}

/* After a crash: digest cells rebuilt from the rows for at most about a second per cycle. */
static char *
rebuild_digests(void)
{
	static char *last_logged = NULL;	/* in TopMemoryContext: a state is logged once */
	char	   *what = tl_digest_rebuild_cells(TL_REBUILD_BUDGET_MS);

	if (what != NULL && (last_logged == NULL || strcmp(what, last_logged) != 0))
	{
		ereport(LOG, (errmsg("tieredlog: %s", what)));
		if (last_logged)
			pfree(last_logged);
		last_logged = MemoryContextStrdup(TopMemoryContext, what);
	}
	return what ? what : pstrdup("digest cells intact");
}

/*
 * Counts since the last flush into access_history (segments that still exist); entries of
 * segments that are gone are dropped; history older than tieredlog.stats_retention is deleted,
 * and up to CHECK_LOG_EXPIRE_BATCH checks older than tieredlog.check_retention (a backlog, as after
 * the setting is lowered, goes over several flushes instead of in one long transaction).
 * Returns the deltas to mark flushed once this transaction has committed.
 */
#define CHECK_LOG_EXPIRE_BATCH	10000

static TlStatDelta *
flush_stats(int *n)
{
	int			guc_level;
	TlStatDelta *d = tl_stats_collect_deltas(n);

	guc_level = tl_spi_connect();
	tl_access_history_flush(d, *n);
	tl_history_expire(tl_stats_retention_s);
	tl_check_log_expire(tl_check_retention_s, CHECK_LOG_EXPIRE_BATCH);
	tl_spi_finish(guc_level);
	return d;
}

/* The scheduler's plan for this cycle, logged in check_log; the check ids, in the caller's context. */
static List *
log_checks(MemoryContext outer)
{
	TlAsOwner	save;
	List	   *ids = NIL;
	int64	   *logged;
	int			n;

	tl_become_owner(&save);
	logged = tl_checks_log(&n);
	for (int i = 0; i < n; i++)
	{
		MemoryContext spi = MemoryContextSwitchTo(outer);
		int64	   *box = palloc(sizeof(int64));

		*box = logged[i];
		ids = lappend(ids, box);
		MemoryContextSwitchTo(spi);
	}
	tl_restore_user(&save);
	return ids;
}

/*
 * Run the logged checks, each in its own transaction: a reconciliation commits as soon as it is
 * done, and a long cycle holds no snapshot or locks across its checks. Returns the report.
 */
static char *
run_checks(List *ids)
{
	ListCell   *lc;
	int			done = 0;
	int			diverged = 0;
	MemoryContext caller = CurrentMemoryContext;
	TlXact		x;

	foreach(lc, ids)
	{
		int64		id = *(int64 *) lfirst(lc);
		TlAsOwner	save;

		CHECK_FOR_INTERRUPTS();
		tl_xact_begin(&x, false);
		tl_become_owner(&save);
		diverged += (int) tl_check_run(id);
		tl_restore_user(&save);
		tl_xact_commit(&x);
		MemoryContextSwitchTo(caller);	/* the commit left TopMemoryContext current */
		done++;
	}
	return psprintf("%d checks run, %d diverged", done, diverged);
}

/*
 * The conflict tasks give way to the apply workers. Both write conflict rows in the same (log,
 * key, origin pair) order (conflict.c's cmp_recent_key, cmp_pending and cmp_head_origin,
 * conflict_episodes.c's cmp_flush_item), one pass per transaction, so they do not wait on each
 * other in a cycle; when the sweep settled in conflict order, they did ("deadlock detected" in an
 * apply worker, which then restarted). As a backstop for any other row a batch holds: at most
 * 100 ms for a row lock (under the default deadlock_timeout of 1 s, so the task, not the apply
 * worker, gives up), then the task stops and runs again next cycle.
 */
static void
give_way_to_apply(void)
{
	(void) set_config_option("lock_timeout", "100", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/* Run one task in its own transaction; returns a short description of what it did. */
static char *
execute_task(const TlTask *t, int64 *bytes_moved, TlStatDelta **flushed, int *nflushed)
{
	char	   *what = NULL;
	TlMoveResult res;
	List	   *checks = NIL;
	MemoryContext caller = CurrentMemoryContext;	/* outlives the task's transaction */
	TlXact		x;

	tl_xact_begin(&x, false);
	switch (t->kind)
	{
		case TL_TASK_DIGESTS:
			what = rebuild_digests();
			break;
		case TL_TASK_SWEEP:
			what = psprintf("%lld moves finished", (long long) tl_sweep());
			break;
		case TL_TASK_FOLD:
			what = psprintf("%lld segments folded", (long long) fold_busy_segments());
			break;
		case TL_TASK_FLUSH_STATS:
			*flushed = flush_stats(nflushed);
			what = psprintf("%d segments' counts flushed", *nflushed);
			break;
		case TL_TASK_APPLY:
			what = psprintf("%d apply workers started", tl_apply_ensure_workers());
			break;
		case TL_TASK_CLOSE_GAPS:
			what = tl_reconcile_close_gaps(t->peer_name);
			break;
		case TL_TASK_SETTLE_HEADS:
			give_way_to_apply();
			what = psprintf("%d episodes changed", tl_conflict_settle_heads());
			break;
		case TL_TASK_CONFLICTS:
			give_way_to_apply();
			what = psprintf("%d pending conflicts settled", tl_conflict_sweep());
			break;
		case TL_TASK_CHECKS:
			checks = log_checks(caller);
			break;
		case TL_TASK_PEER_STATS:
			what = tl_gather_peer_access();
			break;
		case TL_TASK_LEDGER:
			what = tl_ledger_push_witness();
			break;
		case TL_TASK_TRAIN:
			{
				TlAsOwner	save;
				int64		id;

				tl_become_owner(&save);
				id = tl_model_train();
				tl_restore_user(&save);

				what = id > 0 ? psprintf("model %lld trained", (long long) id) : pstrdup("too few labels to train");
			}
			break;
		case TL_TASK_SEAL:
			(void) tl_seal(t->segment_id);
			what = pstrdup("sealed");
			break;
		case TL_TASK_SCRUB:
			{
				int64		damaged;
				int64		checked = tl_scrub_segment(t->segment_id, &damaged);

				what = psprintf("%lld records checked, %lld damaged", (long long) checked, (long long) damaged);
			}
			break;
		case TL_TASK_MOVE:
			if (tl_move(t->segment_id, t->to_tier, &res))
			{
				*bytes_moved = res.bytes_before;
				what = psprintf("moved from tier %d to tier %d: %lld records, %lld -> %lld bytes",
								res.from_tier, t->to_tier, (long long) res.records,
								(long long) res.bytes_before, (long long) res.bytes_after);
			}
			else
				what = psprintf("already in tier %d", t->to_tier);
			break;
	}
	/* the commit frees the transaction's memory: what the caller reads goes to its context */
	if (what != NULL)
		what = MemoryContextStrdup(caller, what);
	if (*flushed != NULL)
		*flushed = memcpy(MemoryContextAlloc(caller, sizeof(TlStatDelta) * Max(*nflushed, 1)),
						  *flushed, sizeof(TlStatDelta) * *nflushed);
	tl_xact_commit(&x);
	MemoryContextSwitchTo(caller);	/* the commit left TopMemoryContext current */
	if (t->kind == TL_TASK_CHECKS)
		what = run_checks(checks);
	return what;
}

/* Wait so that moves average at most tieredlog.move_rate_limit kB/s. */
static void
pace_moves(int64 bytes)
{
	long		ms;

	if (tl_move_rate_limit_kb <= 0 || bytes <= 0)
		return;
	ms = (long) (bytes * 1000 / ((int64) tl_move_rate_limit_kb * 1024));
	if (ms <= 0)
		return;
	tl_worker_report("pacing", NULL, -1);
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, Min(ms, 3600 * 1000L),
					 PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

typedef struct TaskOutcome
{
	int64		run_id;			/* task_history row, 0 if not recorded */
	int64		bytes_moved;
	TlStatDelta *flushed;
	int			nflushed;
	char	   *what;
	ErrorData  *edata;
} TaskOutcome;

/*
 * The hint of a failed task's log line. A move that ran out of disk space in the target tier's
 * tablespace left the segment where it was (the target vanished with the transaction): the hint
 * names what to free or remap.
 */
static int
task_failure_hint(const TlTask *t, const ErrorData *edata)
{
	if (t->kind == TL_TASK_MOVE && edata->sqlerrcode == ERRCODE_DISK_FULL)
		return errhint("The tablespace of tier %d (see tieredlog.tiers) is full; the segment stays complete in its tier. "
					   "Free space there or map the tier to a larger tablespace with tieredlog.set_tier(); "
					   "the worker retries the move after a backoff.", t->to_tier);
	return errhint("The worker retries it after a backoff; other segments go on.");
}

/* Run a task, isolating its failure; returns false if it failed. */
static bool
run_task(const TlTask *t, MemoryContext cxt, int remaining)
{
	/* what the task produced: written inside PG_TRY, so kept behind a pointer set before it */
	TaskOutcome *out = palloc0(sizeof(TaskOutcome));
	char	   *label;

	label = t->kind == TL_TASK_CLOSE_GAPS
		? psprintf("close gaps with peer %s", t->peer_name)
		: t->segment_id != 0
		? psprintf("%s segment %lld%s%s", tl_task_name(t->kind), (long long) t->segment_id,
				   t->kind == TL_TASK_MOVE ? psprintf(" to tier %d", t->to_tier) : "",
				   psprintf(" (%s)", t->reason))
		: pstrdup(tl_task_name(t->kind));
	tl_worker_report("running", label, remaining);

	PG_TRY();
	{
		if (task_is_recorded(t))
			out->run_id = history_begin(t);
		out->what = execute_task(t, &out->bytes_moved, &out->flushed, &out->nflushed);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		out->edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();

	if (out->edata != NULL)
	{
		char	   *msg = psprintf("%s: %s", label, out->edata->message);
		int64		key = tl_task_backoff_key(t->kind, t->segment_id, t->peer_name);
		bool		news = key == 0 || backoff_note(key, out->edata->message);

		/* the same failure again is logged at DEBUG1 (workers view: last_error, failures) */
		ereport(news ? LOG : DEBUG1,
				(errcode(out->edata->sqlerrcode),
				 errmsg("tieredlog: %s failed: %s", label, out->edata->message),
				 out->edata->detail ? errdetail_internal("%s", out->edata->detail) : 0,
				 task_failure_hint(t, out->edata)));
		tl_worker_report_task_end(false, msg);
		if (out->run_id != 0)
			history_end(out->run_id, "failed", out->edata->message);
		return false;
	}
	if (out->flushed != NULL)
		tl_stats_mark_flushed(out->flushed, out->nflushed);
	if (out->run_id != 0)
		history_end(out->run_id, "done", out->what);
	if (tl_task_backoff_key(t->kind, t->segment_id, t->peer_name) != 0)
		backoff_note(tl_task_backoff_key(t->kind, t->segment_id, t->peer_name), NULL);
	tl_worker_report_task_end(true, NULL);
	if (t->kind == TL_TASK_MOVE)
	{
		if (strcmp(t->reason, "promote") == 0)
			tl_stats_restart_window(t->segment_id);
		pace_moves(out->bytes_moved);
	}
	return true;
}

/* The cycle's plan, made in a transaction of its own (tl_xact_run). */
typedef struct CyclePlan
{
	List	   *queue;			/* in: tasks to redo; out: the whole queue */
	bool		flush_due;
} CyclePlan;

static void
plan_cycle(void *arg)
{
	CyclePlan  *plan = arg;

	plan->queue = tl_policy_plan(plan->queue, plan->flush_due);
}

/*
 * One cycle: plan, then run the queue. Returns false when the cycle itself could not be planned
 * (the worker backs off); failed tasks are reported and retried later without failing the cycle.
 */
bool
tl_tasks_run_cycle(MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	List	   *queue = NIL;
	bool		flush_due;
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	int			i = 0;
	CyclePlan	plan;
	char	   *error = NULL;

	flush_due = now - last_flush >= (int64) tl_stats_flush_interval_s * USECS_PER_SEC;
	foreach(lc, redo_queue)
		queue = lappend(queue, lfirst(lc));

	tl_worker_report("planning", "planning", -1);
	plan.queue = queue;
	plan.flush_due = flush_due;
	if (!tl_xact_run(plan_cycle, &plan, false, cxt, &error))
	{
		ereport(LOG, (errmsg("tieredlog: planning the worker's cycle failed: %s", error)));
		tl_worker_report_task_end(false, psprintf("planning: %s", error));
		MemoryContextSwitchTo(old);
		return false;
	}
	queue = plan.queue;
	MemoryContextSwitchTo(cxt);
	redo_queue = NIL;			/* they are in this queue now */
	if (flush_due)
		last_flush = now;

	foreach(lc, queue)
	{
		CHECK_FOR_INTERRUPTS();
		(void) run_task((TlTask *) lfirst(lc), cxt, list_length(queue) - ++i);
	}
	MemoryContextSwitchTo(old);
	return true;
}
