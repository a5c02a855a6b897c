-- ---- sql/install/25_views.sql: the views of segments, tiers, moves and logs
CREATE VIEW tieredlog.segments AS
SELECT s.segment_id, l.log_name, s.range_start, s.range_end, s.state, s.tier, t.tablespace,
	   COALESCE(d.records, 0)::bigint AS records,
	   COALESCE(d.logical_bytes, 0)::bigint AS logical_bytes,
	   tieredlog.segment_stored_bytes(s.segment_id) AS stored_bytes,
	   tieredlog.segment_digest(s.segment_id) AS digest,
	   s.relname AS relation,
	   s.sealed_at, s.moved_at, s.scrubbed_at,
	   encode(s.seal_root, 'hex') AS seal_root,
	   COALESCE(k.conflicts, 0)::bigint AS conflicts,
	   -- until the prediction model exists: the observed share of the segment's records in conflict
	   CASE WHEN COALESCE(d.records, 0) = 0 THEN 0
			ELSE least(1.0, 2.0 * COALESCE(k.conflicts, 0) / d.records)::float8 END AS conflict_score,
	   pg_catalog.pg_size_pretty(tieredlog.segment_stored_bytes(s.segment_id)) AS stored_size
  FROM tieredlog.segment s
  JOIN tieredlog.log l USING (log_id)
  JOIN (SELECT g.tier, COALESCE(m.tablespace, 'pg_default'::name) AS tablespace
		  FROM generate_series(0, 2) g(tier) LEFT JOIN tieredlog.tier m ON m.tier = g.tier) t USING (tier)
  CROSS JOIN LATERAL tieredlog.segment_totals(s.segment_id) d
  LEFT JOIN LATERAL (SELECT count(*) AS conflicts FROM tieredlog.conflict c
					  WHERE c.log_name = l.log_name AND greatest(c.ts_a, c.ts_b) >= s.range_start
						AND greatest(c.ts_a, c.ts_b) < s.range_end) k ON true;

CREATE VIEW tieredlog.tiers AS
SELECT t.tier, t.tablespace,
	   count(s.segment_id)::bigint AS segments,
	   COALESCE(sum(s.records), 0)::bigint AS records,
	   COALESCE(sum(s.logical_bytes), 0)::bigint AS logical_bytes,
	   COALESCE(sum(s.stored_bytes), 0)::bigint AS stored_bytes,
	   pg_catalog.pg_size_pretty(COALESCE(sum(s.logical_bytes), 0)) AS logical_size,
	   pg_catalog.pg_size_pretty(COALESCE(sum(s.stored_bytes), 0)) AS stored_size
  FROM (SELECT g.tier, COALESCE(m.tablespace, 'pg_default'::name) AS tablespace
		  FROM generate_series(0, 2) g(tier) LEFT JOIN tieredlog.tier m ON m.tier = g.tier) t
  LEFT JOIN tieredlog.segments s USING (tier)
 GROUP BY t.tier, t.tablespace;

CREATE VIEW tieredlog.moves AS
SELECT m.move_id, m.segment_id, l.log_name, m.from_tier, m.to_tier, m.state, m.rows_copied,
	   m.bytes_before, m.bytes_after, m.started_at, m.flipped_at, m.finished_at,
	   m.old_relname AS pending_relation, m.old_attempt AS pending_frames
  FROM tieredlog.move m LEFT JOIN tieredlog.log l USING (log_id);

CREATE FUNCTION tieredlog._progress()
	RETURNS TABLE(pid integer, operation text, segment_id bigint, from_tier integer, to_tier integer,
				  phase text, rows_done bigint, rows_total bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_progress' LANGUAGE C VOLATILE;


CREATE VIEW tieredlog.logs AS
SELECT l.log_id, l.log_name, l.segment_interval, l.conflict_rule, l.resolver, l.created_at,
	   count(s.segment_id)::bigint AS segments,
	   COALESCE(sum(s.records), 0)::bigint AS records,
	   COALESCE(sum(s.logical_bytes), 0)::bigint AS logical_bytes,
	   min(s.range_start) AS first_segment_start,
	   max(s.range_end) AS last_segment_end
  FROM tieredlog.log l
  LEFT JOIN tieredlog.segments s USING (log_name)
 GROUP BY l.log_id, l.log_name, l.segment_interval, l.conflict_rule, l.resolver, l.created_at;

-- background workers, access statistics, status -------------------------------------------------

