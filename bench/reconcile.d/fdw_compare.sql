-- Baseline 2, the naive full comparison through postgres_fdw (run on B): all rows of A's segment
-- cross the connection and are joined with B's rows on every column that makes a record
-- (rid, key, payload, ts, origin, seq), in both directions. It only finds the differences.
SELECT count(*) FILTER (WHERE l.rid IS NULL) AS only_on_a,
	   count(*) FILTER (WHERE f.rid IS NULL) AS only_on_b
  FROM bench.a_seg f
  FULL JOIN bench.b_seg l
	ON f.rid = l.rid AND f.key = l.key AND f.payload = l.payload AND f.ts = l.ts
   AND f.origin = l.origin AND f.seq = l.seq;
