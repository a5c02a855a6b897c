-- archive benchmark setup: one log, every reference row appended with its own ts into one segment
-- (segment_interval 1 hour; 200 000 rows span about 23 minutes from 2026-01-01 00:00 UTC), sealed.
SET client_min_messages = warning;
CREATE EXTENSION tieredlog;
CREATE EXTENSION pg_prewarm;
SELECT tieredlog.create_log('archive', '1 hour');
SELECT tieredlog.append_many('archive', array_agg(key ORDER BY ts), array_agg(payload ORDER BY ts),
							 array_agg(source ORDER BY ts), array_agg(ts ORDER BY ts))
  FROM reference_logs;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'archive';
VACUUM ANALYZE reference_logs;
CHECKPOINT;
