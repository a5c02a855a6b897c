-- Logs: create, list, drop, and every way a name or option can be wrong.
CREATE EXTENSION tieredlog;
\set VERBOSITY default

SELECT tieredlog.node_name();
SELECT tieredlog.create_log('events');
SELECT tieredlog.create_log('audit.trail-2026', '5 minutes', 'first_writer_wins');
SELECT log_id, log_name, segment_interval, conflict_rule, segments, records FROM tieredlog.logs ORDER BY log_id;

-- duplicate
SELECT tieredlog.create_log('events');

-- invalid names: quotes, semicolons (SQL injection), spaces, empty, too long, NULL, non-ASCII
SELECT tieredlog.create_log('bad"name');
SELECT tieredlog.create_log('x''; DROP TABLE tieredlog.log; --');
SELECT tieredlog.create_log('with space');
SELECT tieredlog.create_log('');
SELECT tieredlog.create_log(repeat('a', 200));
SELECT tieredlog.create_log(repeat('a', 64));
SELECT tieredlog.create_log(repeat('a', 63)) > 0 AS created_63_chars;
SELECT tieredlog.create_log(NULL);
SELECT tieredlog.create_log('_leading_underscore');
SELECT tieredlog.create_log('caf' || chr(233));

-- segment intervals
SELECT tieredlog.create_log('m', '1 month');
SELECT tieredlog.create_log('z', '0 seconds');
SELECT tieredlog.create_log('n', '-1 hour');
SELECT tieredlog.create_log('f', '1.5 seconds');
SELECT tieredlog.create_log('y', '400 days');
SELECT tieredlog.create_log('i', NULL);
SELECT tieredlog.create_log('d', '1 day') > 0 AS created_daily;

-- conflict rules
SELECT tieredlog.create_log('r1', '1 hour', 'coin_toss');
SELECT tieredlog.create_log('r2', '1 hour', 'manual');
SELECT tieredlog.create_log('r3', '1 hour', NULL);

-- the catalog is untouched by all of the above
SELECT log_name FROM tieredlog.logs ORDER BY log_id;

-- drop
SELECT tieredlog.append('events', 'k', '{"x": 1}', NULL, '2026-01-01 00:00:00+00') > 0 AS appended;
SELECT count(*) AS segment_relations FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'tieredlog_data' AND c.relkind = 'r';
SELECT tieredlog.drop_log('events');
SELECT count(*) AS segment_relations FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'tieredlog_data' AND c.relkind = 'r';
SELECT count(*) AS leftover_segments FROM tieredlog.segment;
SELECT count(*) AS leftover_cells FROM tieredlog.digest_cell;
SELECT tieredlog.drop_log('events');
SELECT tieredlog.drop_log(NULL);
SELECT tieredlog.drop_log('no;such');
-- a dropped name can be reused
SELECT tieredlog.create_log('events') > 0 AS recreated;

-- privileges: nothing is granted to PUBLIC
CREATE ROLE tl_nobody;
SET ROLE tl_nobody;
SELECT tieredlog.create_log('sneaky');
SELECT * FROM tieredlog.log;
RESET ROLE;
-- a reader can be granted read() alone
CREATE ROLE tl_reader;
GRANT USAGE ON SCHEMA tieredlog TO tl_reader;
GRANT EXECUTE ON FUNCTION tieredlog.read(text, timestamptz, timestamptz, text) TO tl_reader;
SET ROLE tl_reader;
SELECT count(*) FROM tieredlog.read('events');
SELECT tieredlog.append('events', 'k', '{}');
RESET ROLE;
DROP OWNED BY tl_reader;
DROP ROLE tl_reader;
DROP ROLE tl_nobody;

-- internal queries ignore the caller's search_path (they run as the extension's owner)
CREATE SCHEMA evil;
CREATE FUNCTION evil.int4eq(int, int) RETURNS boolean LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'evil operator called'; END $$;
CREATE OPERATOR evil.= (LEFTARG = int, RIGHTARG = int, FUNCTION = evil.int4eq);
SET search_path = evil, pg_catalog, public;
SELECT 1 = 1;
SELECT tieredlog.create_log('pathtest') > 0 AS created;
SELECT tieredlog.append('pathtest', 'k', '{}', NULL, '2026-01-01 00:00:00+00') > 0 AS appended;
SELECT tieredlog.drop_log('pathtest');
RESET search_path;
DROP SCHEMA evil CASCADE;

-- read-only transactions cannot write
BEGIN TRANSACTION READ ONLY;
SELECT tieredlog.create_log('ro');
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
SELECT tieredlog.append('events', 'k', '{}');
ROLLBACK;
