-- ---- sql/install/80_status.sql: status()
-- One row: this node, its tiers, its worker, its peers and what waits for attention. Later versions
-- add pending checks and conflicts. last_error is the worker's last error, unless the WAL this
-- node keeps for a peer nears max_slot_wal_keep_size or its slot was lost (peers view: wal_state).
-- SECURITY DEFINER: EXECUTE is what a reader is granted (README, Privileges), not the tables and
-- views it summarises; it shows only this database's worker, no conninfo.
CREATE FUNCTION tieredlog.status(
	OUT node_name text, OUT logs bigint, OUT segments bigint, OUT open_segments bigint,
	OUT sealed_segments bigint, OUT reopened_segments bigint, OUT tiers jsonb,
	OUT worker_pid integer, OUT worker_state text, OUT worker_task text, OUT tasks_queued integer,
	OUT last_cycle_at timestamptz, OUT tasks_failed bigint, OUT last_error text,
	OUT moves_in_flight bigint, OUT stats_entries bigint, OUT stats_capacity bigint,
	OUT stats_evicted bigint, OUT peers bigint, OUT peers_streaming bigint, OUT max_lag_bytes bigint,
	OUT max_lag_seconds float8, OUT open_gaps bigint, OUT quarantined bigint,
	OUT conflicts_pending bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT tieredlog.node_name(),
	   (SELECT count(*) FROM tieredlog.log),
	   (SELECT count(*) FROM tieredlog.segment),
	   (SELECT count(*) FROM tieredlog.segment WHERE state = 'open'),
	   (SELECT count(*) FROM tieredlog.segment WHERE state = 'sealed'),
	   (SELECT count(*) FROM tieredlog.segment WHERE state = 'reopened'),
	   (SELECT jsonb_agg(jsonb_build_object('tier', t.tier, 'tablespace', t.tablespace,
											'segments', t.segments, 'records', t.records,
											'logical_bytes', t.logical_bytes,
											'stored_bytes', t.stored_bytes) ORDER BY t.tier)
		  FROM tieredlog.tiers t),
	   w.pid, COALESCE(w.state, 'not running'), w.task, w.queued, w.last_cycle_at, w.tasks_failed,
	   COALESCE((SELECT string_agg(CASE p.wal_state
					WHEN 'lost' THEN format('the slot of peer "%s" here was lost (max_slot_wal_keep_size); the peer records a gap when it returns', p.peer_name)
					ELSE format('WAL kept for peer "%s": %s, %s%% of max_slot_wal_keep_size (%s)%s', p.peer_name,
								pg_size_pretty(p.wal_retained_bytes), round(100 * p.wal_keep_fraction),
								current_setting('max_slot_wal_keep_size'),
								CASE p.wal_state WHEN 'critical' THEN '; the next checkpoint invalidates the slot'
									 ELSE '; bring the peer back, drop_peer() on it, or raise max_slot_wal_keep_size' END) END,
					'; ' ORDER BY p.peer_name)
				   FROM tieredlog.peers p WHERE p.wal_state IN ('warning', 'critical', 'lost')),
				w.last_error),
	   (SELECT count(*) FROM tieredlog._progress() p WHERE p.operation = 'move'),
	   u.entries, u.capacity, u.evicted,
	   (SELECT count(*) FROM tieredlog.peers),
	   (SELECT count(*) FROM tieredlog.peers p WHERE p.state = 'streaming'),
	   (SELECT max(p.lag_bytes) FROM tieredlog.peers p),
	   (SELECT max(p.lag_seconds) FROM tieredlog.peers p),
	   (SELECT count(*) FROM tieredlog.gap g WHERE g.closed_at IS NULL),
	   (SELECT count(*) FROM tieredlog.quarantine q WHERE q.resolved_at IS NULL),
	   (SELECT count(*) FROM tieredlog.conflict c WHERE c.status = 'pending')
  FROM tieredlog._stat_usage() u
  LEFT JOIN tieredlog._workers() w ON w.datid = (SELECT oid FROM pg_database WHERE datname = current_database());
$$;

