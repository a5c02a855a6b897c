/*-------------------------------------------------------------------------
 * task_store.c
 *		The rows the database worker keeps about its own work: tieredlog.task_history (a row per
 *		seal, move or scrub: 'running' before it starts, finished after), tieredlog.check_log (the
 *		scheduler's checks; what is left unfinished at a start is abandoned) and
 *		tieredlog.access_history (the access counters flushed from shared memory, and the row
 *		changes PostgreSQL counted in segment relations); check_log and the history tables are
 *		pruned to their retention settings; and the calls of the SQL functions that
 *		log and run the scheduler's checks and train the model. bgw/tasks.c decides when; the SQL
 *		is here.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path
 * (the worker's tl_xact_begin or tl_spi_connect). Results are allocated in the context that was
 * current when SPI was connected (store/spi_rows.c).
 *
 * Locking: ordinary table locks; the worker is the only writer of these tables in its database.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core/record.h"
#include "store/catalog.h"
#include "store/spi_rows.h"
#include "store/stats.h"
#include "store/task_store.h"

/* ---- tieredlog.task_history -------------------------------------------------------------------- */

/* A task starts (status 'running', this process); to_tier NULL for tasks that are not moves. Returns its run_id. */
int64
tl_task_history_begin(const char *task, int64 segment_id, const int32 *to_tier, const char *reason)
{
	Oid			types[5] = {TEXTOID, INT8OID, INT4OID, TEXTOID, INT4OID};
	Datum		values[5];
	char		nulls[5] = "     ";

	values[0] = CStringGetTextDatum(task);
	values[1] = Int64GetDatum(segment_id);
	values[2] = to_tier ? Int32GetDatum(*to_tier) : (Datum) 0;
	values[3] = CStringGetTextDatum(reason);
	values[4] = Int32GetDatum(MyProcPid);
	if (to_tier == NULL)
		nulls[2] = 'n';
	if (SPI_execute_with_args("INSERT INTO tieredlog.task_history (task, segment_id, to_tier, reason, status, pid)"
							  " VALUES ($1, $2, $3, $4, 'running', $5) RETURNING run_id",
							  5, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record a task in tieredlog.task_history");
	return tl_spi_int8(0, 1);
}

/* A task ended with `status`, and `detail` (or NULL). */
void
tl_task_history_end(int64 run_id, const char *status, const char *detail)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = "   ";

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	if (detail == NULL)
		nulls[2] = 'n';
	if (SPI_execute_with_args("UPDATE tieredlog.task_history SET status = $2, detail = $3, finished_at = now()"
							  " WHERE run_id = $1", 3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not finish a task in tieredlog.task_history");
}

/* Mark the tasks still 'running' interrupted (the worker was not running); returns them. */
TlInterruptedTask *
tl_task_history_interrupt(int *n)
{
	static const TlSpiColumn cols[] = {
		TL_SPI_COL(TL_SPI_TEXT, TlInterruptedTask, task),
		TL_SPI_COL(TL_SPI_INT8, TlInterruptedTask, segment_id),
		TL_SPI_COL(TL_SPI_INT4, TlInterruptedTask, to_tier)
	};

	tl_spi_run("UPDATE tieredlog.task_history SET status = 'interrupted', finished_at = now(),"
			   " detail = 'the worker stopped while this task ran (crash or shutdown); it is redone'"
			   " WHERE status = 'running' RETURNING task, segment_id, COALESCE(to_tier, -1)",
			   SPI_OK_UPDATE_RETURNING, 0);
	return tl_spi_read_rows(cols, lengthof(cols), sizeof(TlInterruptedTask), n);
}

/* ---- tieredlog.check_log ----------------------------------------------------------------------- */

/* Mark the checks still unfinished abandoned; returns how many there were. */
uint64
tl_check_log_abandon(void)
{
	if (SPI_execute("UPDATE tieredlog.check_log SET status = 'abandoned', finished_at = clock_timestamp()"
					" WHERE finished_at IS NULL", false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not look for interrupted checks");
	return SPI_processed;
}

/*
 * Delete finished checks decided more than `retention_s` seconds ago (check_retention), at most
 * `limit` of them, oldest first; the newest check of each segment and peer stays whatever its age
 * (a pair's "time since its last check" is read from it). Returns how many went.
 */
uint64
tl_check_log_expire(int retention_s, int limit)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(retention_s), Int32GetDatum(limit)};

	tl_spi_exec("DELETE FROM tieredlog.check_log d WHERE d.check_id IN"
				" (SELECT o.check_id FROM tieredlog.check_log o"
				"   WHERE o.decided_at < now() - make_interval(secs => $1) AND o.finished_at IS NOT NULL"
				"     AND EXISTS (SELECT 1 FROM tieredlog.check_log n"
				"                  WHERE n.segment_id = o.segment_id AND n.peer_name = o.peer_name"
				"                    AND (n.decided_at, n.check_id) > (o.decided_at, o.check_id))"
				"   ORDER BY o.decided_at LIMIT $2)",
				2, types, values, SPI_OK_DELETE);
	return SPI_processed;
}

/* The int8 a query returns in its one row (NULL, or no row: 0). */
static int64
one_int8(const char *sql, int nargs, Oid *types, Datum *values)
{
	char	   *v;

	tl_spi_exec(sql, nargs, types, values, SPI_OK_SELECT);
	if (SPI_processed != 1 || (v = tl_spi_text(0, 1)) == NULL)
		return 0;
	return strtoi64(v, NULL, 10);
}

/* The scheduler chooses this cycle's checks and logs them in check_log (_log_checks); their ids. */
int64 *
tl_checks_log(int *n)
{
	static const TlSpiColumn id_col[] = {{TL_SPI_INT8, 0}};

	tl_spi_exec("SELECT unnest(tieredlog._log_checks())", 0, NULL, NULL, SPI_OK_SELECT);
	return tl_spi_read_rows(id_col, 1, sizeof(int64), n);
}

/* Run a logged check (_run_check); 1 when it found the segment diverged, else 0. */
int64
tl_check_run(int64 check_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(check_id)};

	return one_int8("SELECT tieredlog._run_check($1)::int", 1, types, values);
}

/* Refit the prediction model (train_model()); the new model's id, or 0 with too few labels. */
int64
tl_model_train(void)
{
	return one_int8("SELECT tieredlog.train_model()", 0, NULL, NULL);
}

/* ---- tieredlog.access_history ------------------------------------------------------------------ */

static ArrayType *
int8_array(Datum *elems, int n)
{
	return construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * Counts since the last flush, as rows of access_history (segments that still exist; the
 * entries of segments that are gone are dropped from shared memory), and the row changes of
 * segment relations from PostgreSQL's own table statistics (_flush_row_changes).
 */
void
tl_access_history_flush(const TlStatDelta *d, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *cols[6];
	Oid			types[8] = {TEXTOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID};
	Datum		values[8];

	for (int c = 0; c < 6; c++)
		cols[c] = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
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
	values[1] = PointerGetDatum(int8_array(ids, n));
	for (int c = 0; c < 4; c++)
		values[2 + c] = PointerGetDatum(int8_array(cols[c], n));
	values[6] = PointerGetDatum(construct_array(cols[4], n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[7] = PointerGetDatum(int8_array(cols[5], n));

	if (n > 0 &&
		SPI_execute_with_args("INSERT INTO tieredlog.access_history (segment_id, node_name, sampled_at, reads,"
							  " local_writes, remote_writes, bytes_read, last_access, unstreamed_writes)"
							  " SELECT u.id, $1, now(), u.r, u.lw, u.rw, u.b, NULLIF(u.la, 'epoch'), u.uw"
							  " FROM unnest($2, $3, $4, $5, $6, $7, $8) AS u(id, r, lw, rw, b, la, uw)"
							  " WHERE EXISTS (SELECT 1 FROM tieredlog.segment s WHERE s.segment_id = u.id)",
							  8, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write tieredlog.access_history");
	/* rows deleted or updated in segment relations, from PostgreSQL's own table statistics */
	if (SPI_execute_with_args("SELECT tieredlog._flush_row_changes($1)", 1, types, values, NULL, false, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not write the row changes into tieredlog.access_history");
	if (n > 0 &&
		SPI_execute_with_args("SELECT u.id FROM unnest($1) AS u(id) WHERE NOT EXISTS"
							  " (SELECT 1 FROM tieredlog.segment s WHERE s.segment_id = u.id)",
							  1, &types[1], &values[1], NULL, true, 0) == SPI_OK_SELECT)
	{
		for (uint64 i = 0; i < SPI_processed; i++)
			tl_stats_forget_segment(MyDatabaseId, tl_spi_int8(i, 1));
	}
}

/* Delete access_history and task_history older than `retention_s` seconds (stats_retention). */
void
tl_history_expire(int retention_s)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(retention_s)};

	if (SPI_execute_with_args("DELETE FROM tieredlog.access_history WHERE sampled_at < now() - make_interval(secs => $1)",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM tieredlog.task_history WHERE finished_at < now() - make_interval(secs => $1)",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not apply tieredlog.stats_retention");
}
