-- The tieredlog demo: logs, records, segments and digests. Run by scripts/demo.sh.
\pset footer off
\set QUIET on
CREATE EXTENSION IF NOT EXISTS tieredlog;
\echo
\echo '--- this node'
SELECT tieredlog.node_name() AS node, tieredlog.hlc_now() AS hlc;

\echo '--- a log with 10-minute segments'
SELECT tieredlog.create_log('orders', '10 minutes') AS log_id;

\echo '--- appends: one at a time (ts from the HLC), a batch, and back-filled history'
SELECT tieredlog.append('orders', 'order-1', '{"status": "created", "amount": 42}', 'checkout') AS seq;
SELECT tieredlog.append('orders', 'order-1', '{"status": "paid"}', 'payments') AS seq;
SELECT tieredlog.append_many('orders',
		ARRAY['order-2', 'order-3', 'order-2'],
		ARRAY['{"status": "created"}', '{"status": "created"}', '{"status": "shipped"}']::jsonb[],
		ARRAY['checkout', 'checkout', 'warehouse']) AS appended;
SELECT tieredlog.append_many('orders',
		array_agg('sensor-' || (i % 50)), array_agg(jsonb_build_object('reading', i)),
		NULL, array_agg(timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'))
		AS backfilled
  FROM generate_series(1, 3000) AS i;

\echo '--- reading: a key, in ts order'
SELECT key, payload, source, origin, seq, segment_id FROM tieredlog.read('orders', key => 'order-2');
\echo '--- the winning record of a key (last_writer_wins)'
SELECT key, payload, ts FROM tieredlog.latest('orders', 'order-1');

\echo '--- segments: windows of the record ts, each with its digest (count:sum of rids mod 2^128)'
SELECT segment_id, range_start, range_end, state, tier, records, digest FROM tieredlog.segments
 WHERE log_name = 'orders' ORDER BY range_start;
\echo '--- the 256 leaves of one segment (non-empty ones, first five)'
SELECT * FROM tieredlog.segment_leaves((SELECT min(segment_id) FROM tieredlog.segments)) LIMIT 5;

\echo '--- a rolled-back append leaves no trace; every stored digest equals a recomputation'
BEGIN;
SELECT tieredlog.append('orders', 'order-9', '{"status": "ghost"}') AS seq_rolled_back;
ROLLBACK;
SELECT count(*) AS segments, bool_and(ok) AS all_digests_verify FROM tieredlog.check_digests('orders');

\echo '--- the background worker seals segments whose window + seal_grace (5 s in this demo) has passed'
DO $$
BEGIN
	FOR i IN 1 .. 300 LOOP
		EXIT WHEN NOT EXISTS (SELECT 1 FROM tieredlog.segments
							   WHERE log_name = 'orders' AND state = 'open' AND range_end < now() - interval '1 day');
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT run_id, task, segment_id, reason, status, detail FROM tieredlog.task_history ORDER BY run_id LIMIT 3;
SELECT database, pid IS NOT NULL AS running, state, cycles, tasks_done, tasks_failed FROM tieredlog.workers;

\echo '--- tiers: move the sealed segments down by hand; the oldest to the zstd archive'
SELECT m.* FROM tieredlog.segments s, tieredlog.move_segment(s.segment_id, 1) m
 WHERE s.log_name = 'orders' AND s.state = 'sealed' ORDER BY s.segment_id;
SELECT m.* FROM (SELECT segment_id AS id FROM tieredlog.segments WHERE log_name = 'orders'
				  ORDER BY range_start LIMIT 1) s,
	   tieredlog.move_segment(s.id, 2) m;
SELECT tier, tablespace, segments, records, logical_bytes, stored_bytes FROM tieredlog.tiers ORDER BY tier;
\echo '--- reads do not care where a segment is: a key whose records span tiers'
SELECT key, payload, tier FROM tieredlog.read('orders', key => 'sensor-7') ORDER BY ts LIMIT 4;
\echo '--- a late record reopens a sealed segment, visibly; seal() reseals it'
SELECT tieredlog.append('orders', 'sensor-7', '{"late": true}', NULL, '2026-01-01 00:15:00+00') AS seq;
SELECT segment_id, state, tier FROM tieredlog.segments WHERE state = 'reopened';
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE state = 'reopened';
\echo '--- moves and their old copies (the background worker removes them within tieredlog.naptime)'
SELECT move_id, segment_id, from_tier, to_tier, state, rows_copied FROM tieredlog.moves ORDER BY move_id;
SELECT count(*) AS segments, bool_and(ok) AS all_digests_verify FROM tieredlog.check_digests('orders');

\echo '--- access statistics: live counters per segment (pg_stat style), flushed to access_history'
SELECT segment_id, tier, reads, local_writes, bytes_read, last_access IS NOT NULL AS accessed
  FROM tieredlog.stat_segments WHERE log_name = 'orders' ORDER BY reads DESC, segment_id LIMIT 4;
\echo '--- status(): one row about this node and its worker'
SELECT node_name, logs, segments, open_segments, sealed_segments, worker_state, tasks_failed,
	   stats_entries, stats_capacity
  FROM tieredlog.status();

\echo '--- logs'
SELECT log_name, segment_interval, conflict_rule, segments, records FROM tieredlog.logs;

\echo '--- bad input is refused with a clear error'
\set ON_ERROR_STOP off
SELECT tieredlog.append('no_such_log', 'k', '{}');
SELECT tieredlog.create_log('orders; DROP TABLE x');
SELECT tieredlog.append('orders', NULL, '{}');
\set ON_ERROR_STOP on
