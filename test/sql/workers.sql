-- Access statistics (stat_segments, stat_reset), the workers view, status(), and the worker
-- settings. The regress server's worker neither seals nor moves (test/regress.conf).
\set VERBOSITY default
SELECT tieredlog.create_log('st', '1 hour');
SELECT tieredlog.append('st', 'a', '{"v": 1}', NULL, '2026-03-01 00:10:00+00');
SELECT tieredlog.append_many('st', ARRAY['b', 'c'], ARRAY['{}', '{}']::jsonb[], NULL,
							 ARRAY['2026-03-01 00:20:00+00', '2026-03-01 00:30:00+00']::timestamptz[]);
SELECT segment_id AS st_seg FROM tieredlog.segments WHERE log_name = 'st' \gset

-- writes are counted when their transaction commits
SELECT log_name, tier, reads, local_writes, remote_writes, bytes_read, last_access IS NOT NULL AS accessed
  FROM tieredlog.stat_segments WHERE segment_id = :st_seg;

-- reads: one per segment read, with the bytes of the rows returned
SELECT count(*) FROM tieredlog.read('st');
SELECT key FROM tieredlog.latest('st', 'a');
SELECT reads, local_writes, bytes_read > 0 AS bytes_counted, reads_in_window
  FROM tieredlog.stat_segments WHERE segment_id = :st_seg;

-- a rolled-back append is not a write; the read in that transaction still counts
BEGIN;
SELECT tieredlog.append('st', 'd', '{}', NULL, '2026-03-01 00:40:00+00');
SELECT count(*) FROM tieredlog.read('st');
ROLLBACK;
SELECT reads, local_writes FROM tieredlog.stat_segments WHERE segment_id = :st_seg;

-- a local write in a session with a replication origin is also an unstreamed write: the output
-- plugin skips such transactions
SELECT pg_replication_origin_create('regress_elsewhere') > 0 AS origin_created;
SELECT pg_replication_origin_session_setup('regress_elsewhere');
SELECT tieredlog.append('st', 'u', '{}', NULL, '2026-03-01 00:45:00+00') > 0 AS appended;
SELECT pg_replication_origin_session_reset();
SELECT pg_replication_origin_drop('regress_elsewhere');
SELECT local_writes, unstreamed_writes FROM tieredlog.stat_segments WHERE segment_id = :st_seg;

-- with tracking off nothing is counted
SET tieredlog.track_access = off;
SELECT count(*) FROM tieredlog.read('st');
SELECT tieredlog.append('st', 'e', '{}', NULL, '2026-03-01 00:50:00+00');
RESET tieredlog.track_access;
SELECT reads, local_writes FROM tieredlog.stat_segments WHERE segment_id = :st_seg;

-- reset forgets this database's live counters
SELECT tieredlog.stat_reset() >= 1 AS some_reset;
SELECT reads, local_writes, last_access FROM tieredlog.stat_segments WHERE segment_id = :st_seg;

-- the worker of this database runs (CREATE EXTENSION started it)
DO $$
BEGIN
	FOR i IN 1 .. 100 LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM tieredlog.workers
						   WHERE database = current_database() AND pid IS NOT NULL AND cycles > 0);
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT pid IS NOT NULL AS has_pid, state NOT IN ('failed', 'no extension') AS healthy, cycles > 0 AS cycled,
	   last_error
  FROM tieredlog.workers WHERE database = current_database();

-- status(): one row about this node
SELECT node_name = tieredlog.node_name() AS this_node, logs >= 1 AS has_logs,
	   segments = open_segments + sealed_segments + reopened_segments AS states_add_up,
	   jsonb_array_length(tiers) AS tiers, worker_pid IS NOT NULL AS worker, stats_capacity,
	   stats_entries <= stats_capacity AS bounded
  FROM tieredlog.status();

-- settings: reload-only ones cannot be SET in a session; ranges are checked
SET tieredlog.demote_after = '1h';
SET tieredlog.max_databases = 4;
SHOW tieredlog.promote_window;
SHOW tieredlog.move_rate_limit;

-- privileges: none of it is PUBLIC's
CREATE ROLE tl_stranger;
SET ROLE tl_stranger;
SELECT tieredlog.stat_reset();
SELECT * FROM tieredlog.status();
RESET ROLE;
DROP ROLE tl_stranger;
SELECT tieredlog.drop_log('st');
