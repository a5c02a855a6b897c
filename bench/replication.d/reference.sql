-- replication benchmark, node A, every side's database (run after reference_logs.sql): a dense id
-- in ts order so that a random id picks a reference row, as in bench/append.
SET client_min_messages = warning;
ALTER TABLE reference_logs ADD COLUMN id bigint;
UPDATE reference_logs r SET id = n.id
  FROM (SELECT ctid, row_number() OVER (ORDER BY ts) AS id FROM reference_logs) n
 WHERE r.ctid = n.ctid;
ALTER TABLE reference_logs ALTER COLUMN id SET NOT NULL, ADD PRIMARY KEY (id);
VACUUM FULL reference_logs;
ANALYZE reference_logs;
CREATE EXTENSION pg_prewarm;
SELECT pg_prewarm('reference_logs'), pg_prewarm('reference_logs_pkey');
