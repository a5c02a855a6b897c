-- access statistics benchmark, read case: latest() of the key of a random reference row, from the
-- sealed one-segment log 'ref' (one counted read per transaction when tracking is on).
\set id random(1, :nrows)
SELECT l.seq FROM reference_logs r, tieredlog.latest('ref', r.key) l WHERE r.id = :id;
