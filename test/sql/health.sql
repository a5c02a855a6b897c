-- The health view: one row per check, OK / WARN / CRIT with a reason, the worst first; what a
-- reader needs to query it; status() for a reader. Conditions that need peers or time are made
-- here by writing tieredlog's tables directly (as the superuser) and undone at the end.
\set VERBOSITY default
SELECT check_name, status FROM tieredlog.health ORDER BY check_name, object;
SELECT DISTINCT status FROM tieredlog.health;
SELECT reason FROM tieredlog.health WHERE check_name IN ('gaps', 'conflicts', 'quarantine', 'tasks') ORDER BY check_name;

BEGIN;
-- a gap two days old (CRIT), a conflict waiting for an hour (WARN), a failed move (WARN), a
-- damaged record (CRIT)
INSERT INTO tieredlog.gap (peer_name, from_ts, to_ts, reason, detected_at)
VALUES ('eu', '2026-03-01', '2026-03-02', 'slot invalidated', now() - interval '2 days');
INSERT INTO tieredlog.conflict (log_name, key, rid_a, origin_a, seq_a, ts_a, payload_a, rid_b, origin_b, seq_b, ts_b,
								payload_b, arrived, via, rule, status, winner, reason, detected_at)
VALUES ('orders', 'k1', '00000000-0000-0000-0000-000000000001', 'eu', 1, '2026-03-01', '{}',
		'00000000-0000-0000-0000-000000000002', 'us', 1, '2026-03-01', '{}', 'b', 'streaming', 'manual',
		'pending', 'b', 'manual rule', now() - interval '1 hour');
INSERT INTO tieredlog.task_history (task, segment_id, to_tier, reason, status, detail, started_at, finished_at)
VALUES ('move', 999999, 1, 'demote', 'failed', 'could not extend file: No space left on device', now(), now());
INSERT INTO tieredlog.quarantine (log_name, origin, seq, ts, key, local_rid, other_rid, other_payload, via)
VALUES ('orders', 'eu', 7, '2026-03-01', 'k7', '00000000-0000-0000-0000-000000000007',
		'00000000-0000-0000-0000-000000000008', '{}', 'scrub');
-- the worst first, each with what to run next
SELECT check_name, status, reason FROM tieredlog.health WHERE status <> 'OK';
-- a conflict pending for over a day is CRIT
UPDATE tieredlog.conflict SET detected_at = now() - interval '25 hours' WHERE key = 'k1' AND origin_a = 'eu';
SELECT status FROM tieredlog.health WHERE check_name = 'conflicts';
ROLLBACK;
SELECT check_name, status FROM tieredlog.health WHERE status <> 'OK';

-- a reader with the README's grants (SELECT on the view, EXECUTE on health_checks()) and nothing
-- else; status() needs only its own EXECUTE
CREATE ROLE health_reader;
GRANT USAGE ON SCHEMA tieredlog TO health_reader;
SET ROLE health_reader;
SELECT count(*) FROM tieredlog.health;
RESET ROLE;
GRANT SELECT ON tieredlog.health TO health_reader;
GRANT EXECUTE ON FUNCTION tieredlog.health_checks(), tieredlog.status() TO health_reader;
SET ROLE health_reader;
SELECT count(*) > 0 AS sees_checks, count(*) FILTER (WHERE status NOT IN ('OK', 'WARN', 'CRIT')) AS bad_status
  FROM tieredlog.health;
SELECT node_name, logs > 0 AS has_logs FROM tieredlog.status();
-- it reads nothing else
SELECT count(*) FROM tieredlog.gap;
RESET ROLE;
DROP OWNED BY health_reader;
DROP ROLE health_reader;

-- human sizes next to the raw bytes
SELECT tier, stored_size = pg_size_pretty(stored_bytes) AS human, logical_size = pg_size_pretty(logical_bytes) AS human_logical
  FROM tieredlog.tiers ORDER BY tier;
SELECT bool_and(stored_size = pg_size_pretty(stored_bytes)) AS human FROM tieredlog.segments;
