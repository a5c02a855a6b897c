-- replication benchmark, baseline sides (built-in logical replication, pglogical), on node A: one
-- reference row per transaction into the published table ev (ts = clock_timestamp() at the insert).
\set id random(1, :nrows)
INSERT INTO ev (key, payload, source)
SELECT r.key, r.payload, r.source
  FROM reference_logs r WHERE r.id = :id;
