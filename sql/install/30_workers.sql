-- ---- sql/install/30_workers.sql: access statistics, task history, the workers, moves in flight
-- Access statistics flushed by the worker every tieredlog.stats_flush_interval: the counts of
-- one segment on one node since the previous row (pg_stat style deltas), kept for
-- tieredlog.stats_retention. The prediction model trains from it.
--   unstreamed_writes: local writes made while the session had a replication origin set; the
--	   output plugin skips those transactions, so only anti-entropy brings them to peers.
--   row_changes: rows deleted or updated in the segment's relation (pg_stat_get_tuples_deleted
--	   + _updated): tieredlog's own conflict replacements and scrub quarantines, and anything
--	   done behind its back. An append-only segment otherwise has none.
CREATE TABLE tieredlog.access_history (
	segment_id			bigint NOT NULL,
	node_name			text NOT NULL,
	sampled_at			timestamptz NOT NULL,
	reads				bigint NOT NULL,
	local_writes		bigint NOT NULL,
	remote_writes		bigint NOT NULL,
	bytes_read			bigint NOT NULL,
	last_access			timestamptz,
	unstreamed_writes	bigint NOT NULL DEFAULT 0,
	row_changes			bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (segment_id, node_name, sampled_at)
);
CREATE INDEX access_history_sampled_at ON tieredlog.access_history (sampled_at);
-- a segment's last access (upkeep_store.c, every worker cycle): one probe per segment
CREATE INDEX access_history_segment_last_access ON tieredlog.access_history (segment_id, last_access);

-- PostgreSQL's cumulative count of deleted and updated rows of each segment relation, as of the
-- last flush: the baseline the next flush's row_changes are counted from. A moved segment has a
-- new relation (counted from zero); counters that went backwards (statistics reset, a crash)
-- count from zero too.
CREATE TABLE tieredlog.row_change_baseline (
	segment_id			bigint PRIMARY KEY,
	relid				oid NOT NULL,
	changes				bigint NOT NULL
);

-- Called by the worker's statistics flush, in its transaction: row changes since the baseline
-- into access_history (merged into the row of this flush), then the new baseline.
CREATE FUNCTION tieredlog._flush_row_changes(node text) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
WITH cur AS (
	SELECT s.segment_id, c.oid AS relid,
		   pg_stat_get_tuples_deleted(c.oid) + pg_stat_get_tuples_updated(c.oid) AS changes
	  FROM tieredlog.segment s
	  JOIN pg_class c ON c.relname = s.relname AND c.relnamespace = 'tieredlog_data'::regnamespace
), delta AS (
	SELECT cur.segment_id, cur.relid, cur.changes,
		   CASE WHEN b.relid IS DISTINCT FROM cur.relid OR cur.changes < b.changes THEN cur.changes
				ELSE cur.changes - b.changes END AS d,
		   b.segment_id IS NOT NULL AND b.relid = cur.relid AND b.changes = cur.changes AS same
	  FROM cur LEFT JOIN tieredlog.row_change_baseline b USING (segment_id)
), hist AS (
	INSERT INTO tieredlog.access_history AS h (segment_id, node_name, sampled_at, reads, local_writes,
											  remote_writes, bytes_read, row_changes)
	SELECT segment_id, node, now(), 0, 0, 0, 0, d FROM delta WHERE d > 0
	ON CONFLICT (segment_id, node_name, sampled_at) DO UPDATE SET row_changes = EXCLUDED.row_changes
	RETURNING 1
), base AS (
	INSERT INTO tieredlog.row_change_baseline AS b (segment_id, relid, changes)
	SELECT segment_id, relid, changes FROM delta WHERE NOT same
	ON CONFLICT (segment_id) DO UPDATE SET relid = EXCLUDED.relid, changes = EXCLUDED.changes
), gone AS (
	DELETE FROM tieredlog.row_change_baseline b
	 WHERE NOT EXISTS (SELECT 1 FROM tieredlog.segment s WHERE s.segment_id = b.segment_id)
)
SELECT count(*) FROM hist
$$;

-- Seals and moves the worker ran: 'running' is committed before a task starts, so a task a
-- crash cut short is found ('interrupted') and redone when the worker starts again.
CREATE TABLE tieredlog.task_history (
	run_id				bigserial PRIMARY KEY,
	task				text NOT NULL,
	segment_id			bigint,
	to_tier				integer,
	reason				text,
	status				text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
	detail				text,
	pid					integer,
	started_at			timestamptz NOT NULL DEFAULT now(),
	finished_at			timestamptz
);
CREATE INDEX task_history_running ON tieredlog.task_history (status) WHERE status = 'running';

CREATE FUNCTION tieredlog._create_internal_logs() RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_create_internal_logs' LANGUAGE C STRICT;
CREATE FUNCTION tieredlog._register_database() RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_register_database' LANGUAGE C STRICT;

CREATE FUNCTION tieredlog._workers()
	RETURNS TABLE(datid oid, pid integer, state text, task text, queued integer, cycles bigint,
				  tasks_done bigint, tasks_failed bigint, started_at timestamptz,
				  last_cycle_at timestamptz, last_error text, last_error_at timestamptz,
				  failures integer)
	AS 'MODULE_PATHNAME', 'tieredlog_workers' LANGUAGE C VOLATILE;

CREATE FUNCTION tieredlog._stat_live()
	RETURNS TABLE(segment_id bigint, reads bigint, local_writes bigint, remote_writes bigint,
				  bytes_read bigint, last_access timestamptz, reads_in_window bigint,
				  unstreamed_writes bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_stat_live' LANGUAGE C VOLATILE;

CREATE FUNCTION tieredlog._stat_usage(OUT entries bigint, OUT capacity bigint, OUT evicted bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_stat_usage' LANGUAGE C VOLATILE;

-- Forget this database's live access counters (access_history is kept).
CREATE FUNCTION tieredlog.stat_reset() RETURNS bigint
	AS 'MODULE_PATHNAME', 'tieredlog_stat_reset' LANGUAGE C VOLATILE;

-- The workers of every database (the launcher's slots).
CREATE VIEW tieredlog.workers AS
SELECT d.datname AS database, w.pid, w.state, w.task, w.queued, w.cycles, w.tasks_done,
	   w.tasks_failed, w.failures, w.started_at, w.last_cycle_at, w.last_error, w.last_error_at
  FROM tieredlog._workers() w LEFT JOIN pg_catalog.pg_database d ON d.oid = w.datid
 -- other databases' workers (and their errors) only for superusers and pg_read_all_stats
 WHERE w.datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
	OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE');

-- Live counters of this node, per segment (since the counters were last reset, or since startup
-- after a crash). reads_in_window counts reads in the current tieredlog.promote_window;
-- unstreamed_writes the local writes made under a replication origin (not streamed).
CREATE VIEW tieredlog.stat_segments AS
SELECT s.segment_id, l.log_name, s.tier, s.state, tieredlog.node_name() AS node_name,
	   COALESCE(c.reads, 0) AS reads, COALESCE(c.local_writes, 0) AS local_writes,
	   COALESCE(c.remote_writes, 0) AS remote_writes, COALESCE(c.bytes_read, 0) AS bytes_read,
	   c.last_access, COALESCE(c.reads_in_window, 0) AS reads_in_window,
	   COALESCE(c.unstreamed_writes, 0) AS unstreamed_writes
  FROM tieredlog.segment s
  JOIN tieredlog.log l USING (log_id)
  LEFT JOIN tieredlog._stat_live() c USING (segment_id);


-- Moves in flight (reconciliations will appear here too), and what each database's worker is
-- doing when it is not moving (sealing, sweeping, flushing statistics...).
CREATE VIEW tieredlog.progress AS
SELECT p.pid, p.operation, p.segment_id, l.log_name, p.from_tier, p.to_tier, p.phase, p.rows_done,
	   p.rows_total, a.query_start AS started_at
  FROM tieredlog._progress() p
  LEFT JOIN tieredlog.segment s USING (segment_id)
  LEFT JOIN tieredlog.log l USING (log_id)
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
UNION ALL
SELECT w.pid, 'worker', NULL, NULL, NULL, NULL, w.task, NULL, NULL, a.query_start
  FROM tieredlog._workers() w
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid
 WHERE w.task IS NOT NULL AND w.task <> 'planning'
   AND NOT EXISTS (SELECT 1 FROM tieredlog._progress() p WHERE p.pid = w.pid);

-- peers and replication ---------------------------------------------------------------------------

