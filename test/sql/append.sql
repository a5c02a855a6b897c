-- Appending and reading records; the record identity (origin, seq, rid); bad input.
SELECT tieredlog.create_log('app', '1 hour') > 0 AS created;
\set VERBOSITY default
-- pin the record numbering, so the rids below depend on nothing but this file
ALTER SEQUENCE tieredlog.local_seq RESTART WITH 1000;

-- explicit ts: deterministic rids pin the canonical encoding (version 1)
SELECT tieredlog.append('app', 'user-1', '{"event": "login", "ok": true}', 'auth', '2026-01-01 10:00:00+00') AS seq;
SELECT tieredlog.append('app', 'user-2', '{"event": "login", "ok": false}', NULL, '2026-01-01 10:00:00+00') AS seq;
SELECT tieredlog.append_many('app', ARRAY['user-1', 'user-3', 'user-1'],
		ARRAY['{"event": "view"}', '{"event": "login"}', '{"event": "logout"}']::jsonb[],
		ARRAY['web', 'web', NULL],
		ARRAY['2026-01-01 10:30:00+00', '2026-01-01 11:15:00+00', '2026-01-01 11:59:59.999999+00']::timestamptz[]) AS appended;
SELECT key, payload, ts, source, origin, seq, rid, tier FROM tieredlog.read('app');

-- ranges are [from_ts, to_ts)
SELECT key, ts FROM tieredlog.read('app', '2026-01-01 10:30:00+00', '2026-01-01 11:15:00+00');
SELECT key, ts FROM tieredlog.read('app', '2026-01-01 11:00:00+00');
SELECT count(*) FROM tieredlog.read('app', '2026-01-01 12:00:00+00', '2026-01-01 11:00:00+00');
SELECT count(*) FROM tieredlog.read('app', NULL, NULL);
-- by key
SELECT key, payload, seq FROM tieredlog.read('app', key => 'user-1');
SELECT count(*) FROM tieredlog.read('app', key => 'nobody');

-- same ts, ties broken by origin then seq
SELECT tieredlog.append('app', 'tie', '{"n": 1}', NULL, '2026-01-01 10:45:00+00') AS seq;
SELECT tieredlog.append('app', 'tie', '{"n": 2}', NULL, '2026-01-01 10:45:00+00') AS seq;
SELECT payload, seq FROM tieredlog.read('app', key => 'tie');

-- latest: last_writer_wins takes the greatest (ts, origin, seq)
SELECT key, payload, ts FROM tieredlog.latest('app', 'user-1');
SELECT key, payload FROM tieredlog.latest('app', 'tie');
SELECT count(*) FROM tieredlog.latest('app', 'nobody');
-- first_writer_wins decides only between concurrent records of different origins (TAP 009):
-- the records of one origin supersede each other, so its newest is the latest here as well
SELECT tieredlog.create_log('fww', '1 hour', 'first_writer_wins') > 0 AS created;
SELECT tieredlog.append_many('fww', ARRAY['k', 'k', 'k'], ARRAY['{"v": 2}', '{"v": 1}', '{"v": 3}']::jsonb[], NULL,
		ARRAY['2026-01-02 00:00:00+00', '2026-01-01 00:00:00+00', '2026-01-03 00:00:00+00']::timestamptz[]);
SELECT payload FROM tieredlog.latest('fww', 'k');

-- HLC: records without ts get strictly increasing timestamps, never behind the clock
SELECT tieredlog.create_log('hlc', '1 day') > 0 AS created;
SELECT tieredlog.append_many('hlc', array_agg('k' || i), array_agg('{}'::jsonb)) FROM generate_series(1, 500) i;
SELECT count(*) AS records, count(DISTINCT ts) AS distinct_ts,
	   bool_and(ts <= clock_timestamp()) AS not_in_future
  FROM tieredlog.read('hlc');
SELECT bool_and(ts_ok) AS ts_follows_seq FROM (
	SELECT ts > lag(ts) OVER (ORDER BY seq) OR lag(ts) OVER (ORDER BY seq) IS NULL AS ts_ok
	  FROM tieredlog.read('hlc')) s;
SELECT tieredlog.hlc_now() > max(ts) AS hlc_moves_on FROM tieredlog.read('hlc');

-- payloads come back exactly
SELECT tieredlog.append('app', 'types', '{"n": 1.50, "big": 123456789012345678901234567890, "s": "\u00e9\\\"", "a": [1, null, {"x": []}], "b": false}', NULL, '2026-01-01 10:50:00+00') AS seq;
SELECT payload FROM tieredlog.read('app', key => 'types');
SELECT tieredlog.append('app', 'scalar', '"just a string"', NULL, '2026-01-01 10:51:00+00') AS seq;
SELECT tieredlog.append('app', 'jsonnull', 'null', NULL, '2026-01-01 10:52:00+00') AS seq;
SELECT key, payload FROM tieredlog.read('app', '2026-01-01 10:51:00+00', '2026-01-01 10:53:00+00');

-- bad input: each a clear error, nothing written
SELECT tieredlog.append('nope', 'k', '{}');
SELECT tieredlog.append(NULL, 'k', '{}');
SELECT tieredlog.append('app''; DROP TABLE tieredlog.segment; --', 'k', '{}');
SELECT tieredlog.append('app', NULL, '{}');
SELECT tieredlog.append('app', 'k', NULL);
SELECT tieredlog.append('app', repeat('k', 1025), '{}');
SELECT tieredlog.append('app', 'k', '{}', 'bad source');
SELECT tieredlog.append('app', 'k', '{}', NULL, 'infinity');
SELECT tieredlog.append('app', 'k', '{}', NULL, '-infinity');
SELECT tieredlog.append('app', 'k', '{}', NULL, '294276-12-31 23:30:00+00');
SELECT tieredlog.append('app', 'k', jsonb_build_object('blob', repeat('x', 1500000)));
SET tieredlog.max_payload_size = '2kB';
SELECT tieredlog.append('app', 'k', jsonb_build_object('blob', repeat('x', 3000)));
-- numbers are stored in a few bytes and may print 131 089 digits: the text is bounded too (8 x the limit)
SELECT pg_column_size(jsonb_build_array(10::numeric ^ 131071)) AS stored, length((10::numeric ^ 131071)::text) AS printed;
SELECT tieredlog.append('app', 'k', jsonb_build_array(10::numeric ^ 131071));
SELECT tieredlog.append_many('app', ARRAY['k1', 'k2'], ARRAY['{"n": 1}', jsonb_build_array('1e-16383'::numeric, '1e-16383'::numeric)]);
SELECT count(*) AS nothing_stored FROM tieredlog.read('app', key => 'k1');
RESET tieredlog.max_payload_size;
-- under the default limit: 60 such numbers (7.9 MB of text) go in, 70 (9.2 MB) do not
SELECT tieredlog.append('app', 'wide-numbers', (SELECT jsonb_agg(10::numeric ^ 131071) FROM generate_series(1, 60)), NULL, '2026-01-01 10:56:00+00') AS seq;
SELECT tieredlog.append('app', 'k', (SELECT jsonb_agg(10::numeric ^ 131071) FROM generate_series(1, 70)));
SELECT jsonb_array_length(payload) AS numbers, length(payload::text) AS printed FROM tieredlog.read('app', key => 'wide-numbers');
-- a large payload under the limit goes in and comes back whole
SELECT tieredlog.append('app', 'big', jsonb_build_object('blob', repeat('y', 500000)), NULL, '2026-01-01 10:55:00+00') AS seq;
SELECT length(payload->>'blob') FROM tieredlog.read('app', key => 'big');

-- append_many: NULL arrays and elements, length mismatches, multi-dimensional arrays
SELECT tieredlog.append_many('app', NULL, ARRAY['{}']::jsonb[]);
SELECT tieredlog.append_many('app', ARRAY['a'], NULL);
SELECT tieredlog.append_many('app', ARRAY['a', 'b'], ARRAY['{}']::jsonb[]);
SELECT tieredlog.append_many('app', ARRAY['a'], ARRAY['{}']::jsonb[], ARRAY['s1', 's2']);
SELECT tieredlog.append_many('app', ARRAY['a'], ARRAY['{}']::jsonb[], NULL, ARRAY[now(), now()]);
SELECT tieredlog.append_many('app', ARRAY['a', NULL], ARRAY['{}', '{}']::jsonb[]);
SELECT tieredlog.append_many('app', ARRAY['a', 'b'], ARRAY['{}', NULL]::jsonb[]);
SELECT tieredlog.append_many('app', ARRAY[['a'], ['b']], ARRAY['{}', '{}']::jsonb[]);
SELECT tieredlog.append_many('app', ARRAY['a', 'b'], ARRAY['{}', '{}']::jsonb[], NULL,
		ARRAY['2026-01-01 00:00:00+00', 'infinity']::timestamptz[]);
SELECT tieredlog.append_many('app', '{}'::text[], '{}'::jsonb[]) AS appended_nothing;
-- a batch that fails in its last element writes nothing
SELECT count(*) AS app_records FROM tieredlog.read('app');

-- latest: NULL key
SELECT * FROM tieredlog.latest('app', NULL);

SELECT segment_id, ok FROM tieredlog.check_digests('app');

-- The rid hashes the payload's text form, which the append path prints itself (jsonb_text.c): it
-- must be byte for byte jsonb's own text form. The leaf hash is SHA-256(0x00 || the encoding), so
-- the encoding is rebuilt here from payload::text and compared, for payloads of every shape.
CREATE TEMP TABLE jt (j jsonb);
INSERT INTO jt VALUES ('{}'), ('[]'), ('null'), ('true'), ('false'), ('0'), ('-0.0'), ('1e-7'),
	('123456789012345678901234567890.000000000000000000001'), ('"plain"'), ('""'),
	('"quote \" backslash \\ slash / tab \t nl \n cr \r ff \f bs \b"'),
	('"ctl \u0001 \u001f \u007f del, é ü 日本 😀"'), ('[[], {}, [[]], {"": {}}]'),
	('{"a": 1, "aa": [1, 2.50, "x", null, true, false, {"k": "v"}], "b": {"c": {"d": []}}}'),
	(('{"key with \"quotes\"": "v", "\u0002": 1, "long": "' || repeat('abc\"', 300) || '"}')::jsonb),
	(('[' || repeat('{"n": 1.0, "s": "t\tt"}, ', 200) || '0]')::jsonb);
-- and a few thousand generated ones: nested objects and arrays, numbers, escapes
INSERT INTO jt
SELECT jsonb_build_object('i', i, 'f', i / 7.0, 'neg', -i, 's', 'r' || chr(1 + i % 40) || md5(i::text),
		'a', jsonb_build_array(i % 3 = 0, NULL, 'x' || repeat('\', i % 4), jsonb_build_object('deep', i::text)),
		'e', CASE WHEN i % 5 = 0 THEN '{}'::jsonb ELSE '[]'::jsonb END, md5(i::text), i % 2 = 0)
  FROM generate_series(1, 3000) i;
SELECT count(*) AS payloads,
	   count(*) FILTER (WHERE tieredlog.record_leaf_hash('jt', 'k', j, '2026-01-01 00:00:00+00', NULL, 'n1', 7)
		   = encode(sha256('\x0001'::bytea || int4send(2) || '\x6a74'::bytea || int4send(1) || '\x6b'::bytea
						   || int4send(octet_length(j::text)) || convert_to(j::text, 'UTF8')
						   || int8send((extract(epoch FROM timestamptz '2026-01-01 00:00:00+00') * 1000000)::bigint)
						   || '\x00'::bytea || int4send(2) || '\x6e31'::bytea || int8send(7)), 'hex')) AS matching
  FROM jt;
-- with a source
SELECT tieredlog.record_leaf_hash('jt', 'k', '{"x": "\u0003"}', '2026-01-01 00:00:00+00', 'src', 'n1', 7)
	 = encode(sha256('\x0001'::bytea || int4send(2) || '\x6a74'::bytea || int4send(1) || '\x6b'::bytea
					 || int4send(octet_length('{"x": "\u0003"}'::jsonb::text)) || convert_to('{"x": "\u0003"}'::jsonb::text, 'UTF8')
					 || int8send((extract(epoch FROM timestamptz '2026-01-01 00:00:00+00') * 1000000)::bigint)
					 || '\x01'::bytea || int4send(3) || '\x737263'::bytea
					 || int4send(2) || '\x6e31'::bytea || int8send(7)), 'hex') AS with_source;
DROP TABLE jt;
