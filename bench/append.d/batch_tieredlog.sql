-- append benchmark, 100-row batch, tieredlog: the same 100 reference rows through one append_many().
\set id random(1, :nrows - 99)
SELECT tieredlog.append_many('bench', array_agg(r.key), array_agg(r.payload), array_agg(r.source))
  FROM reference_logs r WHERE r.id BETWEEN :id AND :id + 99;
