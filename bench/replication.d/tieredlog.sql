-- replication benchmark, tieredlog side, on node A: one reference row per transaction through
-- tieredlog.append() into log :log (ts = A's hybrid logical clock at the append).
\set id random(1, :nrows)
SELECT tieredlog.append(:log, r.key, r.payload, r.source)
  FROM reference_logs r WHERE r.id = :id;
