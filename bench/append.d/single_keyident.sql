-- append benchmark, single-row, diagnostic baseline (TL_BENCH_SEGSHAPE=2): the plain INSERT into a
-- table with an index on key and a unique index on (origin, seq).
\set id random(1, :nrows)
INSERT INTO plain_keyident (ts, key, payload, source, origin, seq, rid)
SELECT now(), r.key, r.payload, r.source, 'bench', nextval('plain_seq'), gen_random_uuid()
  FROM reference_logs r WHERE r.id = :id;
