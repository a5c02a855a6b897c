-- append benchmark, single-row, baseline: one reference row into the plain table per transaction.
\set id random(1, :nrows)
INSERT INTO plain (ts, key, payload, source, origin, seq, rid)
SELECT now(), r.key, r.payload, r.source, 'bench', nextval('plain_seq'), gen_random_uuid()
  FROM reference_logs r WHERE r.id = :id;
