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
#include "bgw/policy.h"
#include "bgw/tasks.h"
#include "log/tier.h"
#include "core/tieredlog.h"
#include "bgw/worker.h"

/* A segment is folded by the worker once it has this many digest cells. */
#define TL_FOLD_CELLS	512
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
	Oid			types[5] = {TEXTOID, INT8OID, INT4OID, TEXTOID, INT4OID};
	Datum		values[5];
	char		nulls[5] = "     ";
	bool		isnull;
	int64		run_id;

	values[0] = CStringGetTextDatum(tl_task_name(t->kind));
	values[1] = Int64GetDatum(t->segment_id);
	values[2] = Int32GetDatum(t->to_tier);
	values[3] = CStringGetTextDatum(t->reason);
	values[4] = Int32GetDatum(MyProcPid);
	if (t->kind != TL_TASK_MOVE)
		nulls[2] = 'n';
	tl_xact_begin(&x, true);
	if (SPI_execute_with_args("INSERT INTO tieredlog.task_history (task, segment_id, to_tier, reason, status, pid)"
							  " VALUES ($1, $2, $3, $4, 'running', $5) RETURNING run_id",
							  5, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record a task in tieredlog.task_history");
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_xact_commit(&x);
	return run_id;
}

static void
history_end(int64 run_id, const char *status, const char *detail)
{
	TlXact		x;
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = "   ";

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	if (detail == NULL)
		nulls[2] = 'n';
	tl_xact_begin(&x, true);
	if (SPI_execute_with_args("UPDATE tieredlog.task_history SET status = $2, detail = $3, finished_at = now()"
							  " WHERE run_id = $1", 3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not finish a task in tieredlog.task_history");
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

	tl_xact_begin(&x, true);
	if (SPI_execute("UPDATE tieredlog.task_history SET status = 'interrupted', finished_at = now(),"
					" detail = 'the worker stopped while this task ran (crash or shutdown); it is redone'"
					" WHERE status = 'running' RETURNING task, segment_id, COALESCE(to_tier, -1)",
					false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not look for interrupted tasks");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char	   *task = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old;
		TlTask	   *t;

		/* checks and training are planned again on their own; seals, moves and scrubs are redone */
		if (strcmp(task, "move") != 0 && strcmp(task, "scrub") != 0 && strcmp(task, "seal") != 0)
			continue;
		old = MemoryContextSwitchTo(TopMemoryContext);
		t = palloc0(sizeof(TlTask));
		t->kind = strcmp(task, "move") == 0 ? TL_TASK_MOVE
			: strcmp(task, "scrub") == 0 ? TL_TASK_SCRUB : TL_TASK_SEAL;
		t->segment_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		t->to_tier = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
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
	if (SPI_execute("UPDATE tieredlog.check_log SET status = 'abandoned', finished_at = clock_timestamp()"
					" WHERE finished_at IS NULL", false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not look for interrupted checks");
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("tieredlog: %llu checks were cut short by the worker's stop; marked abandoned",
						(unsigned long long) SPI_processed)));
	tl_xact_commit(&x);
}

/* ---- tasks --------------------------------------------------------------------------------------- */

static int64
fold_busy_segments(void)
{
	int			guc_level;
	List	   *segs = NIL;
	ListCell   *lc;
	int64		folded = 0;

	guc_level = tl_spi_connect();
	if (SPI_execute(psprintf("SELECT segment_id FROM tieredlog.digest_cell GROUP BY segment_id "
							 "HAVING count(*) > %d", TL_FOLD_CELLS), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list digest cells");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64	   *id = MemoryContextAlloc(TopTransactionContext, sizeof(int64));

		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		segs = lappend(segs, id);
	}
	tl_spi_finish(guc_level);
	foreach(lc, segs)
		if (tl_digest_compact(*(int64 *) lfirst(lc), false) > 0)
			folded++;
	return folded;
}

/*
 * Counts since the last flush into access_history (segments that still exist); entries of
 * segments that are gone are dropped; history older than tieredlog.stats_retention is deleted.
 * Returns the deltas to mark flushed once this transaction has committed.
 */
static TlStatDelta *
flush_stats(int *n)
{
	int			guc_level;
	TlStatDelta *d = tl_stats_collect_deltas(n);
	Datum	   *ids = palloc(sizeof(Datum) * Max(*n, 1));
	Datum	   *cols[6];
	Oid			types[9] = {TEXTOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT4OID, INT8ARRAYOID};
	Datum		values[9];

	for (int c = 0; c < 6; c++)
		cols[c] = palloc(sizeof(Datum) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		ids[i] = Int64GetDatum(d[i].segment_id);
		cols[0][i] = Int64GetDatum(d[i].reads);
		cols[1][i] = Int64GetDatum(d[i].local_writes);
		cols[2][i] = Int64GetDatum(d[i].remote_writes);
		cols[3][i] = Int64GetDatum(d[i].bytes_read);
		cols[4][i] = TimestampTzGetDatum(d[i].last_access);
		cols[5][i] = Int64GetDatum(d[i].unstreamed_writes);
	}
	values[0] = CStringGetTextDatum(tl_node_name());
	values[1] = PointerGetDatum(construct_array(ids, *n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	for (int c = 0; c < 4; c++)
		values[2 + c] = PointerGetDatum(construct_array(cols[c], *n, INT8OID, 8, FLOAT8PASSBYVAL,
														TYPALIGN_DOUBLE));
	values[6] = PointerGetDatum(construct_array(cols[4], *n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[7] = Int32GetDatum(tl_stats_retention_s);
	values[8] = PointerGetDatum(construct_array(cols[5], *n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	guc_level = tl_spi_connect();
	if (*n > 0 &&
		SPI_execute_with_args("INSERT INTO tieredlog.access_history (segment_id, node_name, sampled_at, reads,"
							  " local_writes, remote_writes, bytes_read, last_access, unstreamed_writes)"
							  " SELECT u.id, $1, now(), u.r, u.lw, u.rw, u.b, NULLIF(u.la, 'epoch'), u.uw"
							  " FROM unnest($2, $3, $4, $5, $6, $7, $9) AS u(id, r, lw, rw, b, la, uw)"
							  " WHERE EXISTS (SELECT 1 FROM tieredlog.segment s WHERE s.segment_id = u.id)",
							  9, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write tieredlog.access_history");
	/* rows deleted or updated in segment relations, from PostgreSQL's own table statistics */
	if (SPI_execute_with_args("SELECT tieredlog._flush_row_changes($1)", 1, types, values, NULL, false, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not write the row changes into tieredlog.access_history");
	if (*n > 0 &&
		SPI_execute_with_args("SELECT u.id FROM unnest($1) AS u(id) WHERE NOT EXISTS"
							  " (SELECT 1 FROM tieredlog.segment s WHERE s.segment_id = u.id)",
							  1, &types[1], &values[1], NULL, true, 0) == SPI_OK_SELECT)
	{
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			tl_stats_forget_segment(MyDatabaseId,
									DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																SPI_tuptable->tupdesc, 1, &isnull)));
		}
	}
	if (SPI_execute_with_args("DELETE FROM tieredlog.access_history WHERE sampled_at < now() - make_interval(secs => $1)",
							  1, &types[7], &values[7], NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM tieredlog.task_history WHERE finished_at < now() - make_interval(secs => $1)",
							  1, &types[7], &values[7], NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not apply tieredlog.stats_retention");
	tl_spi_finish(guc_level);
	return d;
}

/* Run a query that returns one int8 (NULL: 0), as the extension's owner. */
static int64
run_sql_int8(const char *sql)
{
	TlAsOwner	save;
	int64		result = 0;

	tl_become_owner(&save);
	tl_spi_exec(sql, 0, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			result = strtoi64(v, NULL, 10);
	}
	tl_restore_user(&save);
	return result;
}

/* The scheduler's plan for this cycle, logged in check_log; the check ids, in the caller's context. */
static List *
log_checks(MemoryContext outer)
{
	TlAsOwner	save;
	List	   *ids = NIL;

	tl_become_owner(&save);
	tl_spi_exec("SELECT unnest(tieredlog._log_checks())", 0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext spi = MemoryContextSwitchTo(outer);
		int64	   *box = palloc(sizeof(int64));

		*box = id;
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
		char		sql[64];

		CHECK_FOR_INTERRUPTS();
		snprintf(sql, sizeof(sql), "SELECT tieredlog._run_check(" INT64_FORMAT ")::int", id);
		tl_xact_begin(&x, false);
		diverged += (int) run_sql_int8(sql);
		tl_xact_commit(&x);
		MemoryContextSwitchTo(caller);	/* the commit left TopMemoryContext current */
		done++;
	}
	return psprintf("%d checks run, %d diverged", done, diverged);
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
		case TL_TASK_CONFLICTS:
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
				int64		id = run_sql_int8("SELECT tieredlog.train_model()");

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
