-- Appends inside subtransactions (SAVEPOINT, PL/pgSQL exception blocks): a record written in a
-- subtransaction that rolls back is gone, and only it, with its share of the digest cells (written
-- in the same transaction) and a segment it created; one that commits stays, once. After each case
-- the log's digests are checked against its rows. A leaked buffer pin or relation reference at a
-- subtransaction's end would show as a WARNING in this output.
SELECT tieredlog.create_log('sx', '1 day') > 0 AS created;
\set VERBOSITY terse
CREATE FUNCTION sx_state() RETURNS text LANGUAGE sql AS $$
	SELECT count(*) || ' records: ' || COALESCE(string_agg(key, ' ' ORDER BY key), '')
		|| ' / digests ' || (SELECT bool_and(ok) FROM tieredlog.check_digests('sx'))
	FROM tieredlog.read('sx') $$;

-- 1. a savepoint released: its records stay
BEGIN;
SELECT tieredlog.append('sx', 'a1', '{}', NULL, '2026-03-01 10:00:00+00') > 0 AS ok;
SAVEPOINT s1;
SELECT tieredlog.append('sx', 'a2', '{}', NULL, '2026-03-01 10:00:01+00') > 0 AS ok;
SELECT tieredlog.append('sx', 'a3', '{}', NULL, '2026-03-01 10:00:02+00') > 0 AS ok;
RELEASE SAVEPOINT s1;
SELECT tieredlog.append('sx', 'a4', '{}', NULL, '2026-03-01 10:00:03+00') > 0 AS ok;
COMMIT;
SELECT sx_state();

-- 2. rolled back to a savepoint: its records are gone, those before and after stay
BEGIN;
SELECT tieredlog.append('sx', 'b1', '{}', NULL, '2026-03-01 10:01:00+00') > 0 AS ok;
SAVEPOINT s1;
SELECT tieredlog.append('sx', 'b-gone', '{}', NULL, '2026-03-01 10:01:01+00') > 0 AS ok;
SELECT tieredlog.append_many('sx', ARRAY['b-gone2', 'b-gone3'], ARRAY['{}', '{}']::jsonb[], NULL,
	ARRAY['2026-03-01 10:01:02+00', '2026-03-01 10:01:03+00']::timestamptz[]) AS appended;
ROLLBACK TO SAVEPOINT s1;
SELECT tieredlog.append('sx', 'b2', '{}', NULL, '2026-03-01 10:01:04+00') > 0 AS ok;
COMMIT;
SELECT sx_state();

-- 3. the first append of the transaction inside a savepoint, then more after it ends
BEGIN;
SAVEPOINT s1;
SELECT tieredlog.append('sx', 'c-gone', '{}', NULL, '2026-03-01 10:02:00+00') > 0 AS ok;
ROLLBACK TO SAVEPOINT s1;
SELECT tieredlog.append('sx', 'c1', '{}', NULL, '2026-03-01 10:02:01+00') > 0 AS ok;
SAVEPOINT s2;
SELECT tieredlog.append('sx', 'c2', '{}', NULL, '2026-03-01 10:02:02+00') > 0 AS ok;
RELEASE SAVEPOINT s2;
SELECT tieredlog.append('sx', 'c3', '{}', NULL, '2026-03-01 10:02:03+00') > 0 AS ok;
COMMIT;
SELECT sx_state();

-- 4. nested savepoints, the outer one rolled back, then another segment (another day)
BEGIN;
SELECT tieredlog.append('sx', 'd1', '{}', NULL, '2026-03-01 10:03:00+00') > 0 AS ok;
SAVEPOINT outer_sp;
SELECT tieredlog.append('sx', 'd-gone1', '{}', NULL, '2026-03-01 10:03:01+00') > 0 AS ok;
SAVEPOINT inner_sp;
SELECT tieredlog.append('sx', 'd-gone2', '{}', NULL, '2026-03-02 10:03:02+00') > 0 AS ok;
RELEASE SAVEPOINT inner_sp;
SELECT tieredlog.append('sx', 'd-gone3', '{}', NULL, '2026-03-01 10:03:03+00') > 0 AS ok;
ROLLBACK TO SAVEPOINT outer_sp;
SELECT tieredlog.append('sx', 'd2', '{}', NULL, '2026-03-02 10:03:04+00') > 0 AS ok;
SELECT tieredlog.append('sx', 'd3', '{}', NULL, '2026-03-01 10:03:05+00') > 0 AS ok;
COMMIT;
SELECT sx_state();

-- 5. an append that fails inside a savepoint (bad input), rolled back, and the transaction goes on
BEGIN;
SELECT tieredlog.append('sx', 'e1', '{}', NULL, '2026-03-01 10:04:00+00') > 0 AS ok;
SAVEPOINT s1;
SELECT tieredlog.append('sx', 'e-gone', '{}', NULL, '2026-03-01 10:04:01+00') > 0 AS ok;
SELECT tieredlog.append('sx', NULL, '{}', NULL, '2026-03-01 10:04:02+00');
ROLLBACK TO SAVEPOINT s1;
SELECT tieredlog.append('sx', 'e2', '{}', NULL, '2026-03-01 10:04:03+00') > 0 AS ok;
COMMIT;
SELECT sx_state();

-- 6. a whole transaction rolled back after a released savepoint: nothing of it stays
BEGIN;
SAVEPOINT s1;
SELECT tieredlog.append('sx', 'f-gone1', '{}', NULL, '2026-03-01 10:05:00+00') > 0 AS ok;
RELEASE SAVEPOINT s1;
SELECT tieredlog.append('sx', 'f-gone2', '{}', NULL, '2026-03-01 10:05:01+00') > 0 AS ok;
ROLLBACK;
SELECT sx_state();

-- 7. PL/pgSQL: 200 appends, each in an exception block; every third raises after its append
DO $$
BEGIN
	FOR i IN 1..200 LOOP
		BEGIN
			PERFORM tieredlog.append('sx', 'g' || i, jsonb_build_object('i', i), NULL,
				timestamptz '2026-03-01 11:00:00+00' + i * interval '1 second');
			IF i % 3 = 0 THEN
				RAISE EXCEPTION 'undo %', i;
			END IF;
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
	END LOOP;
END $$;
SELECT count(*) AS kept, count(*) FILTER (WHERE (payload->>'i')::int % 3 = 0) AS undone_kept,
	(SELECT bool_and(ok) FROM tieredlog.check_digests('sx')) AS digests_ok
  FROM tieredlog.read('sx') WHERE key LIKE 'g%';

-- every record once, as the relation holds them: nothing duplicated, nothing of a rolled-back
-- subtransaction left
SELECT count(*) AS records, count(DISTINCT (origin, seq)) AS identities,
	count(*) FILTER (WHERE key LIKE '%gone%') AS gone_left FROM tieredlog.read('sx');
SELECT records FROM tieredlog.logs WHERE log_name = 'sx';
-- two segments (2026-03-01 and 2026-03-02; the second was created in case 4's rolled-back
-- savepoint first, then again), each with its relation
SELECT range_start, records, relation IS NOT NULL AND to_regclass('tieredlog_data.' || relation) IS NOT NULL AS has_relation
  FROM tieredlog.segments WHERE log_name = 'sx' ORDER BY range_start;
DROP FUNCTION sx_state();

-- append_many with payloads PostgreSQL TOASTs (compressed in line, and stored out of line): the
-- index entry of every row points at the row as stored, so key reads, latest() and amcheck find
-- them all (the entries of TOASTed rows once pointed nowhere: heap_multi_insert writes such a row
-- as a new tuple).
CREATE EXTENSION amcheck;
SELECT tieredlog.create_log('toasty', '1 day');
SELECT tieredlog.append_many('toasty', ARRAY['small', 'inline', 'external', 'small', 'external'],
	ARRAY['{"s": 1}'::jsonb, jsonb_build_object('blob', repeat('x', 3000)),
		  jsonb_build_object('blob', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 300) i)),
		  '{"s": 2}', jsonb_build_object('blob', (SELECT string_agg(md5((-i)::text), '') FROM generate_series(1, 300) i))],
	NULL, ARRAY['2024-01-01 00:00:01+00', '2024-01-01 00:00:02+00', '2024-01-01 00:00:03+00',
				'2024-01-01 00:00:04+00', '2024-01-01 00:00:05+00']::timestamptz[]);
SELECT k, (SELECT count(*) FROM tieredlog.read('toasty', key => k)) AS by_key,
	   (SELECT count(*) FROM tieredlog.read('toasty') r WHERE r.key = k) AS by_scan,
	   length((SELECT payload::text FROM tieredlog.latest('toasty', k))) AS latest_length
  FROM unnest(ARRAY['small', 'inline', 'external']) k;
SELECT bt_index_check(i.indexrelid, true) AS index_whole
  FROM tieredlog.segment s JOIN tieredlog.log l USING (log_id)
  JOIN pg_class c ON c.relname = s.relname AND c.relnamespace = 'tieredlog_data'::regnamespace
  JOIN pg_index i ON i.indrelid = c.oid
 WHERE l.log_name = 'toasty';
SELECT ok FROM tieredlog.check_digests('toasty');
SELECT tieredlog.drop_log('toasty');
DROP EXTENSION amcheck;

-- Indexes someone else adds to a segment relation (a superuser can): an append refuses an index
-- with expressions or a predicate (0A000) instead of indexing it wrongly (an expression index
-- crashed the single-row path: the catalog helper evaluates expressions without an executor), and
-- key reads go through tieredlog's own btree, never a partial index, even when that one is older.
SELECT tieredlog.create_log('added', '1 day');
SELECT count(tieredlog.append('added', 'k' || i, jsonb_build_object('i', i), NULL,
							 '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 s')) AS appended
  FROM generate_series(1, 5) i;
SELECT format('CREATE INDEX added_expr ON tieredlog_data.%I ((payload->>''i''))', s.relname)
  FROM tieredlog.segment s JOIN tieredlog.log l USING (log_id) WHERE l.log_name = 'added' \gexec
\set VERBOSITY default
SELECT tieredlog.append('added', 'k6', '{"i": 6}', NULL, '2024-01-01 00:00:06+00');
SELECT tieredlog.append_many('added', ARRAY['k7'], ARRAY['{"i": 7}'::jsonb], NULL, ARRAY['2024-01-01 00:00:07+00'::timestamptz]);
\set VERBOSITY terse
DROP INDEX tieredlog_data.added_expr;
SELECT format('CREATE INDEX added_partial ON tieredlog_data.%I (key) WHERE key = ''k1''', s.relname)
  FROM tieredlog.segment s JOIN tieredlog.log l USING (log_id) WHERE l.log_name = 'added' \gexec
SELECT tieredlog.append('added', 'k8', '{"i": 8}', NULL, '2024-01-01 00:00:08+00');
-- tieredlog's key index rebuilt: it now has a higher OID than the partial one
SELECT format('REINDEX INDEX CONCURRENTLY tieredlog_data.%I', c.relname)
  FROM tieredlog.segment s JOIN tieredlog.log l USING (log_id)
  JOIN pg_class t ON t.relname = s.relname AND t.relnamespace = 'tieredlog_data'::regnamespace
  JOIN pg_index i ON i.indrelid = t.oid JOIN pg_class c ON c.oid = i.indexrelid
 WHERE l.log_name = 'added' AND c.relname <> 'added_partial' \gexec
SELECT k, (SELECT count(*) FROM tieredlog.read('added', key => k)) AS by_key,
	   (SELECT payload->>'i' FROM tieredlog.latest('added', k)) AS latest
  FROM unnest(ARRAY['k1', 'k2', 'k5']) k;
DROP INDEX tieredlog_data.added_partial;
SELECT tieredlog.append('added', 'k8', '{"i": 8}', NULL, '2024-01-01 00:00:08+00') > 0 AS appended;
SELECT count(*) AS records, count(*) FILTER (WHERE key = 'k8') AS k8 FROM tieredlog.read('added');
-- A transaction that seals (or moves, or changes a log, rule or peer) cannot be prepared: other
-- sessions learn of the change when its transaction commits in this session, which COMMIT
-- PREPARED does not do. Refused at PREPARE TRANSACTION and rolled back.
BEGIN;
SELECT tieredlog.seal(segment_id) IS NOT NULL AS sealed FROM tieredlog.segments WHERE log_name = 'added';
\set VERBOSITY default
PREPARE TRANSACTION 'tl_seal';
\set VERBOSITY terse
SELECT state FROM tieredlog.segments WHERE log_name = 'added';
-- appends alone can be prepared, and count once committed
BEGIN;
SELECT tieredlog.append('added', 'k9', '{}', NULL, '2024-01-01 00:00:09+00') > 0 AS appended;
PREPARE TRANSACTION 'tl_append';
COMMIT PREPARED 'tl_append';
SELECT count(*) AS k9 FROM tieredlog.read('added', key => 'k9');
SELECT bool_and(ok) AS digests_ok FROM tieredlog.check_digests('added');
SELECT tieredlog.drop_log('added');

-- reconcile(): log and peer names are checked as everywhere else (42602, the name cut short),
-- not echoed whole; a log no node has gives no rows (one only the peers have is brought here)
\set VERBOSITY default
SELECT * FROM tieredlog.reconcile('no_such_log');
SELECT * FROM tieredlog.reconcile(NULL, repeat('x', 100));
SELECT * FROM tieredlog.reconcile(repeat('y', 100));
SELECT tieredlog.create_log('rc', '1 day') > 0 AS created;
SELECT tieredlog.append('rc', 'k', '{}', NULL, '2026-03-01 10:00:00+00') > 0 AS appended;
SELECT * FROM tieredlog.reconcile_segment((SELECT max(segment_id) FROM tieredlog.segments WHERE log_name = 'rc'), 'bad name');
SELECT tieredlog.drop_log('rc');
