-- Content fingerprints (not timed). Output, one line each:
--   reference  md5 of (key, payload, ts, source) of reference_logs in ts order
--   log        md5 of the same columns as read() returns them
--   identity   md5 of (origin, seq, rid) as read() returns them (rids of tier 2 are recomputed)
--   digests    bool_and(ok) of check_digests('archive')
SET TimeZone = 'UTC';
SELECT 'reference ' || md5(string_agg(key || E'\t' || payload::text || E'\t' || ts::text || E'\t' || COALESCE(source, ''), E'\n' ORDER BY ts))
  FROM reference_logs;
SELECT 'log ' || md5(string_agg(key || E'\t' || payload::text || E'\t' || ts::text || E'\t' || COALESCE(source, ''), E'\n' ORDER BY ts, origin, seq))
  FROM tieredlog.read('archive');
SELECT 'identity ' || md5(string_agg(origin || E'\t' || seq || E'\t' || rid, E'\n' ORDER BY ts, origin, seq))
  FROM tieredlog.read('archive');
SELECT 'digests ' || bool_and(ok) FROM tieredlog.check_digests('archive');
