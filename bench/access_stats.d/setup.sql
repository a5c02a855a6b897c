-- access statistics benchmark setup (run after reference_logs.sql).
SET client_min_messages = warning;

-- A dense id in ts order, so a random id picks a reference row (and id..id+99 a batch of 100),
-- as in bench/append, whose single_tieredlog.sql and batch_tieredlog.sql this benchmark runs.
ALTER TABLE reference_logs ADD COLUMN id bigint;
UPDATE reference_logs r SET id = n.id
  FROM (SELECT ctid, row_number() OVER (ORDER BY ts) AS id FROM reference_logs) n
 WHERE r.ctid = n.ctid;
ALTER TABLE reference_logs ALTER COLUMN id SET NOT NULL, ADD PRIMARY KEY (id);
VACUUM FULL reference_logs;
ANALYZE reference_logs;

CREATE EXTENSION tieredlog;
-- 'bench': the append cases write into it (ts = now(), so the current hour's open segment).
SELECT tieredlog.create_log('bench', '1 hour');
-- 'ref': the read case reads it. Every reference row with its own ts (200 000 rows span about
-- 23 minutes from 2026-01-01 00:00 UTC, so one segment), sealed here so that the worker has
-- nothing to seal in it later.
SELECT tieredlog.create_log('ref', '1 hour');
SELECT tieredlog.append_many('ref', array_agg(key ORDER BY ts), array_agg(payload ORDER BY ts),
							 array_agg(source ORDER BY ts), array_agg(ts ORDER BY ts))
  FROM reference_logs;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'ref';

CREATE EXTENSION pg_prewarm;
SELECT pg_prewarm('reference_logs'), pg_prewarm('reference_logs_pkey');
SELECT pg_prewarm(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'tieredlog_data' AND c.relkind IN ('r', 'i');
CHECKPOINT;
-- Start counting from zero: the setup's own appends and reads are not part of the check.
SELECT tieredlog.stat_reset();
