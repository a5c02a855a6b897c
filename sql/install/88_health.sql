-- ---- sql/install/88_health.sql: the health view, an operator's first query
-- health ------------------------------------------------------------------------------------------
-- An operator's first query: one row per check (and per peer, slot), OK / WARN / CRIT with the
-- reason and what to look at next (README, Troubleshooting). Runs as the extension's owner (it
-- reads tieredlog's tables, the workers' shared memory and pg_replication_slots), shows counts,
-- ages, names and sizes only, and never connects to a peer nor recomputes a digest: verify() is
-- the integrity check to run on a schedule.
CREATE FUNCTION tieredlog.health_checks()
	RETURNS TABLE(check_name text, object text, status text, severity integer, reason text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET intervalstyle = 'postgres'		-- the reasons read the same in every session
SET datestyle = 'ISO, YMD'
AS $$
WITH w AS (
	SELECT w.* FROM tieredlog._workers() w
	 WHERE w.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
), settings AS (
	SELECT current_setting('tieredlog.naptime')::interval AS naptime,
		   current_setting('tieredlog.seal_grace')::interval AS seal_grace,
		   current_setting('tieredlog.ledger_interval')::interval AS ledger_interval,
		   pg_size_bytes(current_setting('max_slot_wal_keep_size')) AS max_keep
), checks AS (
	-- the worker of this database
	SELECT 'worker' AS check_name, current_database()::text AS object,
		   CASE WHEN w.pid IS NULL OR w.state IN ('failed', 'stopped', 'no worker slot', 'no extension') THEN 2
				WHEN w.state IN ('backoff', 'held', 'recovering') OR w.failures > 0
					 OR w.last_cycle_at < now() - greatest(10 * s.naptime, interval '1 minute') THEN 1
				ELSE 0 END AS severity,
		   CASE WHEN w.pid IS NULL THEN 'no worker runs for this database (is tieredlog in shared_preload_libraries? see SELECT * FROM tieredlog.workers)'
				WHEN w.state IN ('held', 'recovering') THEN 'worker ' || w.state || ': ' || COALESCE(tieredlog.node_hold(), 'held after a restore') || ' (README, Backup and restore)'
				WHEN w.state IN ('failed', 'stopped', 'no worker slot', 'no extension', 'backoff') OR w.failures > 0
					 THEN 'worker ' || w.state || COALESCE(', ' || w.failures || ' failed run(s) in a row', '')
						  || COALESCE(': ' || w.last_error, '')
						  || CASE WHEN w.state = 'no worker slot' THEN ' (raise max_worker_processes)' ELSE '' END
				WHEN w.last_cycle_at < now() - greatest(10 * s.naptime, interval '1 minute')
					 THEN 'worker ' || w.state || ', last cycle ' || date_trunc('second', now() - w.last_cycle_at) || ' ago'
				ELSE 'worker ' || w.state || COALESCE(', last cycle ' || date_trunc('second', now() - w.last_cycle_at) || ' ago', '') END AS reason
	  FROM settings s LEFT JOIN w ON true
	UNION ALL
	-- seals and moves that failed in the last hour
	SELECT 'tasks', NULL,
		   CASE WHEN count(*) > 0 THEN 1 ELSE 0 END,
		   CASE WHEN count(*) = 0 THEN 'no seal or move failed in the last hour'
				ELSE count(*) || ' seal(s)/move(s) failed in the last hour, last: '
					 || (array_agg(h.task || ' of ' || COALESCE(l.log_name || ' segment ' || h.segment_id, 'segment ' || h.segment_id)
								   || ': ' || COALESCE(h.detail, '?') ORDER BY h.finished_at DESC))[1]
					 || ' (SELECT * FROM tieredlog.task_history WHERE status = ''failed'')' END
	  FROM tieredlog.task_history h
	  LEFT JOIN tieredlog.segment sg ON sg.segment_id = h.segment_id
	  LEFT JOIN tieredlog.log l ON l.log_id = sg.log_id
	 WHERE h.status = 'failed' AND h.finished_at > now() - interval '1 hour'
	UNION ALL
	-- segments whose window and seal_grace have passed and that are still open
	SELECT 'sealing', NULL,
		   CASE WHEN count(sg.segment_id) FILTER (WHERE sg.range_end + s.seal_grace < now() - greatest(10 * s.naptime, interval '5 minutes')) > 0 THEN 1 ELSE 0 END,
		   CASE WHEN count(sg.segment_id) = 0 THEN 'no segment waits to be sealed'
				ELSE count(sg.segment_id) || ' segment(s) past their window and tieredlog.seal_grace not sealed yet, oldest '
					 || (array_agg(l.log_name || ' ' || sg.range_start ORDER BY sg.range_end))[1] END
	  FROM settings s
	  LEFT JOIN tieredlog.segment sg ON sg.state IN ('open', 'reopened') AND sg.range_end + s.seal_grace < now()
	  LEFT JOIN tieredlog.log l ON l.log_id = sg.log_id
	 GROUP BY s.seal_grace, s.naptime
	UNION ALL
	-- each peer: its stream and its lag
	SELECT 'peer', p.peer_name,
		   CASE WHEN p.state = 'failed' OR p.lag_seconds > 3600 THEN 2
				WHEN p.state <> 'streaming' OR p.lag_seconds > 60 THEN 1 ELSE 0 END,
		   CASE WHEN NOT pe.enabled THEN 'paused, ' ELSE '' END || p.state
				  || CASE WHEN p.lag_bytes IS NOT NULL AND pe.enabled
						   THEN ', ' || pg_size_pretty(p.lag_bytes) || ' and ' || round(p.lag_seconds::numeric, 1) || ' s behind'
						   ELSE '' END
				  || CASE WHEN p.state <> 'streaming' AND p.last_error IS NOT NULL
						  THEN ': ' || p.last_error || ' (at ' || date_trunc('second', p.last_error_at) || ')' ELSE '' END
				  || CASE WHEN NOT pe.enabled THEN ' (set_peer_enabled(''' || p.peer_name || ''', true) resumes it)' ELSE '' END
	  FROM tieredlog.peers p JOIN tieredlog.peer pe ON pe.peer_name = p.peer_name
	UNION ALL
	-- slots peers stream from: WAL they hold back here
	SELECT 'slot', sl.slot_name,
		   CASE WHEN sl.wal_status IN ('unreserved', 'lost') THEN 2
				WHEN s.max_keep > 0 AND sl.retained_bytes > 0.8 * s.max_keep THEN 1
				WHEN NOT sl.active AND sl.retained_bytes > 1073741824 THEN 1 ELSE 0 END,
		   CASE WHEN sl.active THEN 'streaming' ELSE 'no peer streams from it' END
			   || ', holds ' || pg_size_pretty(sl.retained_bytes) || ' of WAL'
			   || CASE WHEN s.max_keep > 0 THEN ' (max_slot_wal_keep_size ' || pg_size_pretty(s.max_keep) || ')' ELSE '' END
			   || ', wal_status ' || COALESCE(sl.wal_status, '?')
			   || CASE WHEN sl.wal_status = 'lost' THEN ': the peer will be recorded as a gap and must be reconciled' ELSE '' END
	  FROM tieredlog.slots sl CROSS JOIN settings s
	UNION ALL
	-- records this node may have missed
	SELECT 'gaps', NULL,
		   CASE WHEN count(*) = 0 THEN 0 WHEN min(g.detected_at) < now() - interval '1 day' THEN 2 ELSE 1 END,
		   CASE WHEN count(*) = 0 THEN 'no open gap'
				ELSE count(*) || ' open gap(s) with ' || string_agg(DISTINCT g.peer_name, ', ')
					 || ', oldest detected ' || date_trunc('second', now() - min(g.detected_at)) || ' ago'
					 || ' (SELECT * FROM tieredlog.reconcile(peer_name => ...) closes them)' END
	  FROM tieredlog.gap g WHERE g.closed_at IS NULL
	UNION ALL
	-- conflicts waiting for a person
	SELECT 'conflicts', NULL,
		   CASE WHEN count(*) = 0 THEN 0 WHEN min(c.detected_at) < now() - interval '1 day' THEN 2 ELSE 1 END,
		   CASE WHEN count(*) = 0 THEN 'no conflict waits for a person'
				ELSE count(*) || ' conflict(s) wait for a person (' || string_agg(DISTINCT c.log_name, ', ')
					 || '), oldest ' || date_trunc('second', now() - min(c.detected_at)) || ' old'
					 || ' (SELECT * FROM tieredlog.conflicts WHERE status = ''pending''; resolve_conflict())' END
	  FROM tieredlog.conflict c WHERE c.status = 'pending'
	UNION ALL
	-- two contents for one record identity
	SELECT 'quarantine', NULL,
		   CASE WHEN count(*) = 0 THEN 0 ELSE 2 END,
		   CASE WHEN count(*) = 0 THEN 'no damaged or disputed record'
				ELSE count(*) || ' record(s) in quarantine (' || string_agg(DISTINCT q.log_name || ' via ' || q.via, ', ')
					 || ') (SELECT * FROM tieredlog.quarantine WHERE resolved_at IS NULL)' END
	  FROM tieredlog.quarantine q WHERE q.resolved_at IS NULL
	UNION ALL
	-- the ledger closes blocks
	SELECT 'ledger', NULL,
		   CASE WHEN min(e.created_at) < now() - greatest(10 * s.ledger_interval, interval '10 minutes') THEN 1 ELSE 0 END,
		   CASE WHEN count(e.entry_id) = 0 THEN 'every entry is in a block'
				ELSE count(e.entry_id) || ' ledger entries wait for a block, oldest '
					 || date_trunc('second', now() - min(e.created_at)) || ' old (tieredlog.ledger_interval '
					 || current_setting('tieredlog.ledger_interval') || ')' END
			  || COALESCE(', last block ' || (SELECT max(b.block_id) || ' closed ' || date_trunc('second', now() - max(b.closed_at)) || ' ago'
												FROM tieredlog.ledger_block b), '')
	  FROM settings s LEFT JOIN tieredlog.ledger_entry e ON e.block_id IS NULL
	 GROUP BY s.ledger_interval
	UNION ALL
	-- access statistics that did not fit
	SELECT 'statistics', NULL,
		   CASE WHEN u.evicted > 0 THEN 1 ELSE 0 END,
		   u.entries || ' of ' || u.capacity || ' access-statistics entries used'
			   || CASE WHEN u.evicted > 0 THEN ', ' || u.evicted || ' evicted (raise tieredlog.stats_max_segments)' ELSE '' END
	  FROM tieredlog._stat_usage() u
)
SELECT c.check_name, c.object, (ARRAY['OK', 'WARN', 'CRIT'])[c.severity + 1], c.severity, c.reason
  FROM checks c
$$;

-- The checks, the worst first.
CREATE VIEW tieredlog.health AS
SELECT h.check_name, h.object, h.status, h.reason, h.severity
  FROM tieredlog.health_checks() h
 ORDER BY h.severity DESC, h.check_name, h.object;

