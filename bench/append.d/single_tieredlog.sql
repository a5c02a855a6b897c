-- append benchmark, single-row, tieredlog: the same reference row through tieredlog.append().
\set id random(1, :nrows)
SELECT tieredlog.append('bench', r.key, r.payload, r.source)
  FROM reference_logs r WHERE r.id = :id;
