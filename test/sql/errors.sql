-- Every error a caller can cause, with its SQLSTATE (the messages are in the other tests).
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
SELECT tieredlog.create_log('errs', '1 hour') > 0 AS created;
SELECT tieredlog.append('errs', 'k', '{}', NULL, '2026-01-01 00:00:00+00') > 0 AS appended;
SELECT segment_id AS seg FROM tieredlog.segments WHERE log_name = 'errs' \gset

SELECT what, pg_temp.sqlstate_of(stmt) AS sqlstate FROM (VALUES
	('unknown log',              $$SELECT tieredlog.append('nope', 'k', '{}')$$),
	('unknown log (read)',       $$SELECT * FROM tieredlog.read('nope')$$),
	('duplicate log',            $$SELECT tieredlog.create_log('errs')$$),
	('name with quote',          $$SELECT tieredlog.create_log('a"b')$$),
	('name with semicolon',      $$SELECT tieredlog.create_log('a;b')$$),
	('200-character name',       $$SELECT tieredlog.create_log(repeat('n', 200))$$),
	('NULL log name',            $$SELECT tieredlog.append(NULL, 'k', '{}')$$),
	('NULL key',                 $$SELECT tieredlog.append('errs', NULL, '{}')$$),
	('NULL payload',             $$SELECT tieredlog.append('errs', 'k', NULL)$$),
	('key too long',             $$SELECT tieredlog.append('errs', repeat('k', 2000), '{}')$$),
	('payload too large',        $$SELECT tieredlog.append('errs', 'k', jsonb_build_object('x', repeat('x', 2000000)))$$),
	('payload text too large',   $$SELECT tieredlog.append('errs', 'k', (SELECT jsonb_agg(10::numeric ^ 131071) FROM generate_series(1, 70)))$$),
	('infinite ts',              $$SELECT tieredlog.append('errs', 'k', '{}', NULL, 'infinity')$$),
	('ts beyond any window',     $$SELECT tieredlog.append('errs', 'k', '{}', NULL, '294276-12-31 23:30:00+00')$$),
	('bad source name',          $$SELECT tieredlog.append('errs', 'k', '{}', 'a b')$$),
	('interval with months',     $$SELECT tieredlog.create_log('m1', '1 month')$$),
	('interval too short',       $$SELECT tieredlog.create_log('m2', '0 seconds')$$),
	('unknown rule',             $$SELECT tieredlog.create_log('m3', '1 hour', 'coin_toss')$$),
	('custom without resolver',  $$SELECT tieredlog.create_log('m4', '1 hour', 'custom')$$),
	('log name with leading _',  $$SELECT tieredlog.create_log('_mine', '1 hour')$$),
	('drop an internal log',     $$SELECT tieredlog.drop_log('_seen')$$),
	('append to an internal log',$$SELECT tieredlog.append('_seen', 'k', '{}')$$),
	('rule of an internal log',  $$SELECT tieredlog.set_conflict_rule('_seen', 'manual')$$),
	('rule of unknown log',      $$SELECT tieredlog.set_conflict_rule('nope', 'manual')$$),
	('unknown rule',             $$SELECT tieredlog.set_conflict_rule('errs', 'dice')$$),
	('null rule',                $$SELECT tieredlog.set_conflict_rule('errs', NULL)$$),
	('custom without resolver',  $$SELECT tieredlog.set_conflict_rule('errs', 'custom')$$),
	('resolver for a non-custom',$$SELECT tieredlog.set_conflict_rule('errs', 'manual', 'pg_catalog.upper(text)')$$),
	('resolver of bad signature',$$SELECT tieredlog.set_conflict_rule('errs', 'custom', 'pg_catalog.upper(text)')$$),
	('priority of null source',  $$SELECT tieredlog.set_source_priority(NULL, 1)$$),
	('unknown conflict',         $$SELECT tieredlog.resolve_conflict(-1, 'local')$$),
	('null conflict',            $$SELECT tieredlog.resolve_conflict(NULL, 'local')$$),
	('arrays of unequal length', $$SELECT tieredlog.append_many('errs', ARRAY['a', 'b'], ARRAY['{}']::jsonb[])$$),
	('unknown segment',          $$SELECT tieredlog.segment_digest(-1)$$),
	('tier out of range',        $$SELECT tieredlog.set_tier(7, 'pg_default')$$),
	('missing tablespace',       $$SELECT tieredlog.set_tier(1, 'no_such_space')$$),
	('move unsealed to tier 2',  $$SELECT * FROM tieredlog.move_segment($$ || :seg || $$, 2)$$),
	('move to tier 9',           $$SELECT * FROM tieredlog.move_segment($$ || :seg || $$, 9)$$),
	('scrub an unknown log',     $$SELECT * FROM tieredlog.scrub('nope')$$),
	('scrub a bad log name',     $$SELECT * FROM tieredlog.scrub('x; DROP TABLE t')$$),
	('scrub unknown segment',    $$SELECT * FROM tieredlog.scrub(NULL, -1)$$)
) AS t(what, stmt);

-- tieredlog's own log can be read
SELECT count(*) FROM tieredlog.read('_seen');
-- conflict rules and source priorities that are accepted
CREATE FUNCTION pick_first(a jsonb, b jsonb) RETURNS text LANGUAGE sql AS $$ SELECT a->>'origin' || ':' || (a->>'seq') $$;
SELECT tieredlog.set_conflict_rule('errs', 'custom', 'pick_first(jsonb, jsonb)');
SELECT log_name, conflict_rule, resolver FROM tieredlog.logs WHERE log_name = 'errs';
SELECT tieredlog.set_conflict_rule('errs', 'source_priority');
SELECT log_name, conflict_rule, resolver FROM tieredlog.logs WHERE log_name = 'errs';
SELECT tieredlog.set_source_priority('billing', 10), tieredlog.set_source_priority('crm', 5),
	   tieredlog.set_source_priority('billing', 20), tieredlog.set_source_priority('crm', NULL);
SELECT * FROM tieredlog.source_priority;
SELECT count(*) AS conflicts, (SELECT conflicts_pending FROM tieredlog.status()) AS pending FROM tieredlog.conflicts;

-- a clean log scrubs clean; a read-only transaction cannot scrub
SELECT log_name, records_checked > 0 AS checked, damaged FROM tieredlog.scrub('errs');

BEGIN TRANSACTION READ ONLY;
SELECT pg_temp.sqlstate_of($$SELECT tieredlog.append('errs', 'k', '{}')$$) AS read_only_append;
SELECT pg_temp.sqlstate_of($$SELECT * FROM tieredlog.scrub('errs')$$) AS read_only_scrub;
ROLLBACK;
SELECT tieredlog.drop_log('errs');
