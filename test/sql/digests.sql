-- Digests: maintained per transaction, rolled back with it, equal to a recomputation.
SELECT tieredlog.create_log('dg', '1 hour') > 0 AS created;

-- a rolled-back append leaves no trace
BEGIN;
SELECT tieredlog.append('dg', 'a', '{"n": 1}', NULL, '2026-03-01 00:10:00+00') > 0 AS appended;
ROLLBACK;
SELECT count(*) AS records FROM tieredlog.read('dg');
SELECT count(*) AS cells FROM tieredlog.digest_cell c JOIN tieredlog.segment s USING (segment_id)
  JOIN tieredlog.log l USING (log_id) WHERE l.log_name = 'dg';

-- subtransactions: the rolled-back savepoint's records leave the digest, the rest stays
BEGIN;
SELECT tieredlog.append('dg', 'a', '{"n": 2}', NULL, '2026-03-01 00:10:00+00') > 0 AS appended;
SAVEPOINT s1;
SELECT tieredlog.append('dg', 'b', '{"n": 3}', NULL, '2026-03-01 00:20:00+00') > 0 AS appended;
ROLLBACK TO SAVEPOINT s1;
SAVEPOINT s2;
SELECT tieredlog.append('dg', 'c', '{"n": 4}', NULL, '2026-03-01 00:30:00+00') > 0 AS appended;
RELEASE SAVEPOINT s2;
COMMIT;
SELECT key, payload FROM tieredlog.read('dg');
SELECT records, ok FROM tieredlog.segments s JOIN tieredlog.check_digests('dg') c USING (segment_id);

-- errors caught inside a function roll back only their own appends
DO $$
BEGIN
	PERFORM tieredlog.append('dg', 'd', '{"n": 5}', NULL, '2026-03-01 00:40:00+00');
	BEGIN
		PERFORM tieredlog.append('dg', 'e', '{"n": 6}', NULL, '2026-03-01 00:41:00+00');
		PERFORM tieredlog.append('dg', NULL, '{}');
	EXCEPTION WHEN null_value_not_allowed THEN
		RAISE NOTICE 'caught: %', SQLERRM;
	END;
END $$;
SELECT key FROM tieredlog.read('dg');

-- one transaction of many appends writes one cell per touched leaf
SELECT tieredlog.append_many('dg', array_agg('k' || i), array_agg(jsonb_build_object('i', i)), NULL,
		array_agg(timestamptz '2026-03-01 01:00:00+00' + i * interval '1 second'))
  FROM generate_series(0, 3599) i;
SELECT count(*) AS cells, sum(n) AS records FROM tieredlog.digest_cell c
  JOIN tieredlog.segments s USING (segment_id) WHERE s.range_start = '2026-03-01 01:00:00+00';
SELECT count(*) AS leaves, sum(records) AS records, min(leaf), max(leaf)
  FROM tieredlog.segment_leaves((SELECT segment_id FROM tieredlog.segments WHERE range_start = '2026-03-01 01:00:00+00'));

-- many small transactions (one cell each), then compaction folds cells without changing the digest
DO $$ BEGIN FOR i IN 0..9 LOOP
	PERFORM tieredlog.append('dg', 'x' || i, '{}', NULL, timestamptz '2026-03-01 02:00:00+00' + i * interval '1 minute');
	COMMIT;
END LOOP; END $$;
DO $$ BEGIN FOR i IN 1..5 LOOP
	PERFORM tieredlog.append('dg', 'y', '{}', NULL, '2026-03-01 02:00:00+00');
	COMMIT;
END LOOP; END $$;
SELECT segment_id AS seg2, digest AS before, relation AS seg2_rel FROM tieredlog.segments
 WHERE range_start = '2026-03-01 02:00:00+00' \gset
SELECT count(*) AS cells_before FROM tieredlog.digest_cell WHERE segment_id = :seg2;
SELECT tieredlog.compact_digest(:seg2) AS cells_removed;
SELECT count(*) AS cells_after FROM tieredlog.digest_cell WHERE segment_id = :seg2;
SELECT digest = :'before' AS unchanged, records FROM tieredlog.segments WHERE segment_id = :seg2;
SELECT tieredlog.compact_digest(:seg2) AS cells_removed_again;
SELECT ok, stored = recomputed AS same FROM tieredlog.check_digests('dg') ORDER BY segment_id;

-- the digest is (count, sum of rids mod 2^128): check it against SQL arithmetic on read()'s rids
CREATE FUNCTION pg_temp.hex128(h text) RETURNS numeric LANGUAGE sql AS $$
	SELECT sum((('x' || lpad(substr(h, 1 + 8 * j, 8), 16, '0'))::bit(64)::bigint)::numeric
			   * pow(2::numeric, 32 * (3 - j)))
	  FROM generate_series(0, 3) j $$;
SELECT s.records = count(r.*) AS count_matches,
	   pg_temp.hex128(split_part(s.digest, ':', 2))
		 = mod(sum(pg_temp.hex128(r.rid)), pow(2::numeric, 128)) AS sum_matches
  FROM tieredlog.segments s JOIN tieredlog.read('dg') r USING (segment_id)
 GROUP BY s.segment_id, s.records, s.digest ORDER BY s.segment_id;

-- a batch whose records alternate between leaves (a batch notes each run of one leaf at once): every
-- leaf's digest of seg2 (the x and y records above and these) equals the sum of its records' rids,
-- with a savepoint rolled back in between
BEGIN;
SELECT tieredlog.append_many('dg', array_agg('alt' || i), array_agg(jsonb_build_object('i', i)), NULL,
		array_agg(timestamptz '2026-03-01 02:00:00+00' + (i % 3) * interval '20 minutes' + i * interval '1 second'
				  + (i / 4) * interval '1 minute'))
  FROM generate_series(0, 11) i;
SAVEPOINT s3;
SELECT tieredlog.append_many('dg', ARRAY['gone1', 'gone2', 'gone3'], ARRAY['{}', '{}', '{}']::jsonb[], NULL,
		ARRAY['2026-03-01 02:00:30+00', '2026-03-01 02:40:30+00', '2026-03-01 02:00:31+00']::timestamptz[]);
ROLLBACK TO SAVEPOINT s3;
COMMIT;
SELECT l.leaf, l.records, l.records = r.n AS count_matches,
	   pg_temp.hex128(split_part(l.digest, ':', 2)) = r.sum AS sum_matches
  FROM tieredlog.segment_leaves((SELECT segment_id FROM tieredlog.segments WHERE range_start = '2026-03-01 02:00:00+00')) l
  FULL JOIN (SELECT floor(extract(epoch FROM ts - '2026-03-01 02:00:00+00') * 256 / 3600)::int AS leaf, count(*) AS n,
					mod(sum(pg_temp.hex128(replace(rid::text, '-', ''))), pow(2::numeric, 128)) AS sum
			   FROM tieredlog.read('dg', '2026-03-01 02:00:00+00', '2026-03-01 03:00:00+00') GROUP BY 1) r
	USING (leaf)
 ORDER BY leaf;

-- damage is detected: a row changed behind tieredlog's back
UPDATE tieredlog_data.:"seg2_rel" SET rid = '00000000-0000-0000-0000-000000000001'
 WHERE ctid = (SELECT min(ctid) FROM tieredlog_data.:"seg2_rel");
SELECT segment_id = :seg2 AS damaged_segment, ok FROM tieredlog.check_digests() WHERE NOT ok;
-- a deleted row too
DELETE FROM tieredlog_data.:"seg2_rel" WHERE key = 'y';
SELECT segment_id = :seg2 AS damaged_segment, ok, stored <> recomputed AS differs FROM tieredlog.check_digests('dg') WHERE NOT ok;

SELECT tieredlog.segment_digest(-1);
SELECT * FROM tieredlog.segment_leaves(-1);
SELECT tieredlog.compact_digest(-1);
SELECT * FROM tieredlog.check_digests('nope');
