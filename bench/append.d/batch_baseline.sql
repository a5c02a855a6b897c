-- append benchmark, 100-row batch, baseline: one multi-row INSERT ... SELECT per transaction.
\set id random(1, :nrows - 99)
INSERT INTO plain (ts, key, payload, source, origin, seq, rid)
SELECT now(), r.key, r.payload, r.source, 'bench', nextval('plain_seq'), gen_random_uuid()
  FROM reference_logs r WHERE r.id BETWEEN :id AND :id + 99;
