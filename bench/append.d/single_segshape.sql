-- append benchmark, single-row, diagnostic baseline (TL_BENCH_SEGSHAPE=1): the plain INSERT into a
-- table with exactly a segment relation's definition and index (unique (gen, key, origin, ts, seq), gen computed from seq).
\set id random(1, :nrows)
INSERT INTO plain_segshape (ts, key, payload, source, origin, seq, rid)
SELECT now(), r.key, r.payload, r.source, 'bench', nextval('plain_seq'), gen_random_uuid()
  FROM reference_logs r WHERE r.id = :id;
