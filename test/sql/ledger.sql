-- The integrity ledger: RFC 9162 Merkle trees, seal roots, the hash-chained ledger, verify(),
-- inclusion proofs and witnesses. Every tamper happens inside a transaction that is rolled back,
-- so each one is seen alone. Hashes that depend on time are not printed.
\set VERBOSITY default

-- An independent implementation of the documented encodings, in SQL, to hold the C code to them.
CREATE FUNCTION pg_temp.str(t text) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT int4send(octet_length(convert_to(t, 'UTF8'))) || convert_to(t, 'UTF8') $$;
CREATE FUNCTION pg_temp.us(t timestamptz) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT int8send((extract(epoch FROM t) * 1000000)::bigint) $$;
CREATE FUNCTION pg_temp.mth(h bytea[]) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	n int := coalesce(array_length(h, 1), 0);
	k int := 1;
BEGIN
	IF n = 0 THEN RETURN sha256(''); END IF;
	IF n = 1 THEN RETURN h[1]; END IF;
	WHILE k * 2 < n LOOP k := k * 2; END LOOP;
	RETURN sha256('\x01'::bytea || pg_temp.mth(h[1:k]) || pg_temp.mth(h[k + 1:n]));
END $$;
CREATE FUNCTION pg_temp.record_leaf(log text, key text, payload jsonb, ts timestamptz, source text,
									origin text, seq bigint) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
SELECT sha256('\x0001'::bytea || pg_temp.str(log) || pg_temp.str(key) || pg_temp.str(payload::text)
			  || pg_temp.us(ts) || CASE WHEN source IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || pg_temp.str(source) END
			  || pg_temp.str(origin) || int8send(seq))
$$;
CREATE FUNCTION pg_temp.entry_leaf(e tieredlog.ledger_entry) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
SELECT sha256('\x00544c4c4501'::bytea || int8send(e.entry_id) || pg_temp.str(e.kind)
			  || CASE WHEN e.log_name IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || pg_temp.str(e.log_name) END
			  || int8send(coalesce(e.segment_id, 0)) || pg_temp.us(e.created_at) || pg_temp.str(e.body::text))
$$;
CREATE FUNCTION pg_temp.block_hash(b tieredlog.ledger_block) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
SELECT sha256('\x544c4c4201'::bytea || int8send(b.block_id) || int8send(b.first_entry) || int8send(b.last_entry)
			  || int8send(b.entries) || b.entries_root || b.previous_block_hash || pg_temp.us(b.closed_at))
$$;
-- What a careful attacker does after editing an entry: recompute every root, link and entry hash.
CREATE FUNCTION pg_temp.rewrite_chain() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	b tieredlog.ledger_block;
	prev bytea := decode(repeat('00', 32), 'hex');
BEGIN
	FOR b IN SELECT * FROM tieredlog.ledger_block ORDER BY block_id LOOP
		UPDATE tieredlog.ledger_entry e SET entry_hash = pg_temp.entry_leaf(e) WHERE e.block_id = b.block_id;
		b.entries_root := (SELECT pg_temp.mth(array_agg(pg_temp.entry_leaf(e) ORDER BY e.entry_id))
							 FROM tieredlog.ledger_entry e WHERE e.block_id = b.block_id);
		b.previous_block_hash := prev;
		UPDATE tieredlog.ledger_block SET entries_root = b.entries_root, previous_block_hash = prev
		 WHERE block_id = b.block_id;
		prev := pg_temp.block_hash(b);
	END LOOP;
END $$;

-- RFC 9162 / RFC 6962 reference vectors: tree heads for 0..8 leaves, and two audit paths
CREATE TEMP TABLE ct(i int, leaf bytea);
INSERT INTO ct VALUES (1, '\x'), (2, '\x00'), (3, '\x10'), (4, '\x2021'), (5, '\x3031'), (6, '\x40414243'),
	(7, '\x5051525354555657'), (8, '\x606162636465666768696a6b6c6d6e6f');
SELECT n, tieredlog.merkle_root(ARRAY(SELECT leaf FROM ct WHERE i <= n ORDER BY i)) AS root
  FROM generate_series(0, 8) n;
SELECT tieredlog.merkle_proof(ARRAY(SELECT leaf FROM ct ORDER BY i), 0)->'path' AS path_0_of_8;
SELECT tieredlog.merkle_proof(ARRAY(SELECT leaf FROM ct ORDER BY i), 5)->'path' AS path_5_of_8;
-- the SQL implementation agrees with the C one on every size, and every proof of every size checks
SELECT bool_and(tieredlog.merkle_root(ARRAY(SELECT int4send(j)::bytea FROM generate_series(1, n) j))
				= encode(pg_temp.mth(ARRAY(SELECT sha256('\x00'::bytea || int4send(j)) FROM generate_series(1, n) j)), 'hex'))
	   AS roots_agree
  FROM generate_series(0, 70) n;
SELECT bool_and(tieredlog.check_inclusion(tieredlog.merkle_proof(ARRAY(SELECT int4send(j)::bytea FROM generate_series(1, n) j), i)))
	   AS every_proof_checks
  FROM generate_series(1, 40) n, generate_series(0, n - 1) i;
-- a published path checks; a wrong index, size, sibling or root does not
SELECT tieredlog.check_inclusion(jsonb_build_object('leaf_index', 5, 'tree_size', 8,
		'leaf_hash', encode(sha256('\x0040414243'), 'hex'),
		'path', jsonb_build_array('bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
								  'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
								  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'),
		'root', '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328')) AS published;
WITH p AS (SELECT tieredlog.merkle_proof(ARRAY(SELECT leaf FROM ct ORDER BY i), 5) AS p)
SELECT tieredlog.check_inclusion(jsonb_set(p, '{leaf_index}', '4')) AS wrong_index,
	   tieredlog.check_inclusion(jsonb_set(p, '{tree_size}', '7')) AS wrong_size,
	   tieredlog.check_inclusion(jsonb_set(p, '{path,1}', to_jsonb(repeat('ab', 32)))) AS wrong_sibling,
	   tieredlog.check_inclusion(p, repeat('0', 64)) AS wrong_root,
	   tieredlog.check_inclusion(jsonb_set(p, '{path}', '[]')) AS no_path
  FROM p;

-- seals: three hourly segments of a log, sealed
SELECT tieredlog.create_log('ledger_a', '1 hour') > 0 AS created;
SELECT tieredlog.append_many('ledger_a', array_agg('k' || (i % 7)),
		array_agg(jsonb_build_object('i', i, 'text', repeat('x', i % 50), 'n', i * 1.5)),
		array_agg(CASE WHEN i % 3 = 0 THEN 'app' END),
		array_agg('2026-03-01 00:00+00'::timestamptz + i * interval '1 minute'))
  FROM generate_series(0, 179) i;
SELECT count(*) AS sealed FROM (SELECT tieredlog.seal(segment_id) FROM tieredlog.segments
								 WHERE log_name = 'ledger_a' ORDER BY segment_id) s;
SELECT min(segment_id) AS seg_a, max(segment_id) AS seg_c, min(segment_id) + 1 AS seg_b,
	   min(relation) AS rel_a FROM tieredlog.segments WHERE log_name = 'ledger_a' \gset
SELECT relation AS rel_b FROM tieredlog.segments WHERE segment_id = :seg_b \gset
SELECT relation AS rel_c FROM tieredlog.segments WHERE segment_id = :seg_c \gset
SELECT kind, segment_id - :seg_a AS seg, body->>'records' AS records, length(body->>'root') AS root_hex_len
  FROM tieredlog.ledger WHERE log_name = 'ledger_a' AND kind = 'SEAL' ORDER BY segment_id;
-- the seal root is the RFC 9162 tree over the records' leaves in (ts, rid) order, as documented
SELECT s.segment_id - :seg_a AS seg,
	   s.seal_root = encode(pg_temp.mth(ARRAY(
			SELECT pg_temp.record_leaf('ledger_a', r.key, r.payload, r.ts, r.source, r.origin, r.seq)
			  FROM tieredlog.read('ledger_a') r WHERE r.segment_id = s.segment_id
			 ORDER BY r.ts, r.rid COLLATE "C")), 'hex') AS root_as_documented
  FROM tieredlog.segments s WHERE s.log_name = 'ledger_a' ORDER BY s.segment_id;
SELECT bool_and(tieredlog.record_leaf_hash('ledger_a', key, payload, ts, source, origin, seq)
				= encode(pg_temp.record_leaf('ledger_a', key, payload, ts, source, origin, seq), 'hex'))
	   AS leaf_hash_as_documented
  FROM tieredlog.read('ledger_a');

-- a clean database verifies clean: the chain, and every check of every segment of the log
SELECT tieredlog.ledger_digest() AS digest \gset
SELECT check_name, count(*) AS checks, bool_and(ok) AS ok
  FROM tieredlog.verify('ledger_a') GROUP BY check_name ORDER BY check_name;
SELECT count(*) AS failures FROM tieredlog.verify(NULL, :'digest') WHERE NOT ok;

-- editing a record of a sealed segment
BEGIN;
UPDATE tieredlog_data.:"rel_a" SET payload = payload || '{"i": -1}' WHERE ts = '2026-03-01 00:10+00';
SELECT check_name, object = 'segment ' || :seg_a AS right_segment FROM tieredlog.verify('ledger_a') WHERE NOT ok ORDER BY 1;
ROLLBACK;
-- deleting one
BEGIN;
DELETE FROM tieredlog_data.:"rel_b" WHERE ts = '2026-03-01 01:10+00';
SELECT check_name, object = 'segment ' || :seg_b AS right_segment FROM tieredlog.verify('ledger_a') WHERE NOT ok ORDER BY 1;
ROLLBACK;
-- inserting one (a copy of a record with another seq, its rid left as it was)
BEGIN;
INSERT INTO tieredlog_data.:"rel_c" SELECT ts, key, payload, source, origin, seq + 100000, rid
  FROM tieredlog_data.:"rel_c" WHERE ts = '2026-03-01 02:10+00';
SELECT check_name, object = 'segment ' || :seg_c AS right_segment FROM tieredlog.verify('ledger_a') WHERE NOT ok ORDER BY 1;
ROLLBACK;
-- hiding a segment from the seal checks by flipping its state
BEGIN;
UPDATE tieredlog.segment SET state = 'reopened' WHERE segment_id = :seg_a;
SELECT check_name, expected, actual FROM tieredlog.verify('ledger_a') WHERE NOT ok ORDER BY 1;
ROLLBACK;
-- deleting a sealed segment's catalog row (its log was not dropped)
BEGIN;
DELETE FROM tieredlog.segment WHERE segment_id = :seg_c;
SELECT check_name, object = 'segment ' || :seg_c AS right_segment, actual FROM tieredlog.verify('ledger_a') WHERE NOT ok ORDER BY 1;
ROLLBACK;
-- a REPAIR entry whose record is gone
BEGIN;
INSERT INTO tieredlog.ledger_entry (kind, log_name, segment_id, body)
VALUES ('REPAIR', 'ledger_a', :seg_b, jsonb_build_object('peer', 'p', 'records', 1, 'rids', jsonb_build_array(repeat('0', 32))));
SELECT check_name, object = 'segment ' || :seg_b AS right_segment, actual FROM tieredlog.verify('ledger_a') WHERE NOT ok ORDER BY 1;
ROLLBACK;
-- editing a ledger entry: the block's root, the entry, and the seal that trusted it
BEGIN;
UPDATE tieredlog.ledger_entry SET body = jsonb_set(body, '{records}', '"61"')
 WHERE kind = 'SEAL' AND segment_id = :seg_b;
SELECT DISTINCT check_name FROM tieredlog.verify('ledger_a', :'digest') WHERE NOT ok ORDER BY 1;
ROLLBACK;
-- removing a ledger block
SELECT block_id AS head FROM tieredlog.ledger_blocks ORDER BY block_id DESC LIMIT 1 \gset
BEGIN;
DELETE FROM tieredlog.ledger_block WHERE block_id = :head - 1;
SELECT DISTINCT check_name FROM tieredlog.verify(NULL, :'digest') WHERE NOT ok ORDER BY 1;
ROLLBACK;
-- swapping two blocks, entries and all
BEGIN;
UPDATE tieredlog.ledger_block SET block_id = -1 WHERE block_id = :head - 1;
UPDATE tieredlog.ledger_block SET block_id = :head - 1 WHERE block_id = :head;
UPDATE tieredlog.ledger_block SET block_id = :head WHERE block_id = -1;
UPDATE tieredlog.ledger_entry SET block_id = CASE block_id WHEN :head THEN :head - 1 ELSE :head END
 WHERE block_id IN (:head - 1, :head);
SELECT DISTINCT check_name FROM tieredlog.verify(NULL) WHERE NOT ok ORDER BY 1;
ROLLBACK;
-- a careful rewrite (entry edited, every hash recomputed) passes the chain checks (which shows the
-- SQL encodings above are the C ones); only a digest exported before it catches it
BEGIN;
UPDATE tieredlog.ledger_entry SET body = jsonb_set(body, '{records}', '"61"')
 WHERE kind = 'SEAL' AND segment_id = :seg_b;
SELECT pg_temp.rewrite_chain();
SELECT DISTINCT check_name FROM tieredlog.verify(NULL) WHERE NOT ok AND check_name NOT LIKE 'seal%' ORDER BY 1;
SELECT check_name, object FROM tieredlog.verify(NULL, :'digest') WHERE NOT ok AND check_name NOT LIKE 'seal%' ORDER BY 1;
ROLLBACK;
SELECT count(*) AS failures_after_rollbacks FROM tieredlog.verify(NULL, :'digest') WHERE NOT ok;

-- inclusion proofs: every record of a sealed segment proves against its seal root
SELECT count(*) AS records, bool_and(tieredlog.check_inclusion(p, s.seal_root)) AS all_prove,
	   bool_and(p->>'leaf_hash' = tieredlog.record_leaf_hash('ledger_a', r.key, r.payload, r.ts, r.source, r.origin, r.seq))
	   AS leaf_is_the_record
  FROM tieredlog.read('ledger_a') r
  JOIN tieredlog.segments s USING (segment_id),
	   LATERAL tieredlog.inclusion_proof(r.segment_id, r.rid) p;
-- a proof of a record whose segment changed is refused
BEGIN;
UPDATE tieredlog_data.:"rel_a" SET payload = payload || '{"i": -1}' WHERE ts = '2026-03-01 00:10+00';
\set VERBOSITY terse
SELECT tieredlog.inclusion_proof(:seg_a, (SELECT rid FROM tieredlog.read('ledger_a') LIMIT 1));
\set VERBOSITY default
ROLLBACK;

-- a late record reopens a sealed segment (REOPEN), a seal closes it again (RESEAL); both verify
SELECT tieredlog.append('ledger_a', 'late', '{"late": true}', NULL, '2026-03-01 00:30:30+00') > 0 AS appended;
SELECT kind FROM tieredlog.ledger WHERE segment_id = :seg_a ORDER BY entry_id;
SELECT count(*) AS failures_while_reopened FROM tieredlog.verify('ledger_a') WHERE NOT ok;
SELECT tieredlog.inclusion_proof(:seg_a, (SELECT rid FROM tieredlog.read('ledger_a') LIMIT 1));
SELECT tieredlog.seal(:seg_a);
SELECT kind, body->>'records' AS records FROM tieredlog.ledger WHERE segment_id = :seg_a ORDER BY entry_id;
SELECT count(*) AS failures_after_reseal FROM tieredlog.verify('ledger_a') WHERE NOT ok;
-- sealing needs READ COMMITTED: an older snapshot could miss committed records
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT tieredlog.append('ledger_a', 'late', '{"late": 2}', NULL, '2026-03-01 00:30:31+00') > 0 AS appended;
SELECT tieredlog.seal(:seg_a);
ROLLBACK;

-- configuration changes are ledger entries
SELECT tieredlog.set_conflict_rule('ledger_a', 'source_priority');
SELECT tieredlog.set_source_priority('app', 5);
SELECT body->>'action' AS action, log_name FROM tieredlog.ledger
 WHERE kind = 'CONFIG' AND (log_name = 'ledger_a' OR body->'detail'->>'source' = 'app') ORDER BY entry_id;

-- witnesses: a peer's digest is kept once; a different hash for the same block is kept with a warning
SELECT tieredlog._ae_witness(('{"node": "peer_x", "block_id": 7, "block_hash": "' || repeat('ab', 32) || '"}')::jsonb);
SELECT tieredlog._ae_witness(('{"node": "peer_x", "block_id": 7, "block_hash": "' || repeat('ab', 32) || '"}')::jsonb);
SELECT tieredlog._ae_witness(('{"node": "peer_x", "block_id": 7, "block_hash": "' || repeat('cd', 32) || '"}')::jsonb);
SELECT body->>'node' AS node, body->>'block_id' AS block_id, left(body->>'block_hash', 8) AS hash
  FROM tieredlog.ledger WHERE kind = 'WITNESS' ORDER BY entry_id;
-- ... and verify checks digests against this node only
SELECT check_name, ok, expected, actual FROM tieredlog.verify(NULL,
	('[{"node": "peer_x", "block_id": 1, "block_hash": "' || repeat('ab', 32) || '"}, {"block_id": "x"}]')::jsonb)
 WHERE check_name = 'trusted_digest' ORDER BY actual;
SELECT check_name, ok, actual FROM tieredlog.verify(NULL,
	jsonb_build_object('node', 'regress', 'block_id', 999999, 'block_hash', repeat('ab', 32)))
 WHERE check_name = 'trusted_digest';

-- hostile input: clear errors, nothing written
SELECT tieredlog.inclusion_proof(NULL, 'x');
SELECT tieredlog.inclusion_proof(:seg_a, 'x''); DROP TABLE tieredlog.ledger_entry; --');
SELECT tieredlog.inclusion_proof(:seg_a, repeat('0', 32));
SELECT tieredlog.inclusion_proof(-5, repeat('0', 32));
SELECT tieredlog.check_inclusion('{"leaf_index": 0}');
SELECT tieredlog.check_inclusion('{"leaf_index": 0, "tree_size": 1, "leaf_hash": "zz", "path": [], "root": "zz"}');
SELECT tieredlog.check_inclusion('{"leaf_index": "x", "tree_size": 1}');
SELECT tieredlog.merkle_proof(ARRAY['\x01'::bytea], 3);
SELECT tieredlog.merkle_root(ARRAY['\x01'::bytea, NULL]);
SELECT tieredlog._ae_witness(NULL);
SELECT tieredlog._ae_witness('{"node": "peer_x"}');
SELECT tieredlog._ae_witness(('{"node": "x''; DROP TABLE t; --", "block_id": 1, "block_hash": "' || repeat('ab', 32) || '"}')::jsonb);
SELECT tieredlog._ae_witness(('{"node": "regress", "block_id": 1, "block_hash": "' || repeat('ab', 32) || '"}')::jsonb);
SELECT tieredlog._ae_witness('[1, 2]');
SELECT * FROM tieredlog.verify('no_such_log');
SELECT * FROM tieredlog.verify('bad name!');
SELECT * FROM tieredlog.verify(NULL, '"just a string"') WHERE NOT ok;
SELECT count(*) > 40 AS ledger_still_there FROM tieredlog.ledger_entry;

-- dropping a log is a ledger entry; its seals are then no longer expected to exist
SELECT tieredlog.drop_log('ledger_a');
SELECT count(*) AS failures_after_drop FROM tieredlog.verify(NULL) WHERE NOT ok;
SELECT body->>'action' AS action FROM tieredlog.ledger WHERE kind = 'CONFIG' AND log_name = 'ledger_a'
 ORDER BY entry_id DESC LIMIT 1;

-- the seal writes each payload's text form itself (jsonb_text.c): it must be exactly jsonb's own
-- (payload::text), for every kind of value, or old seals would stop verifying
SELECT tieredlog.create_log('ledger_t', '1 hour') > 0 AS created;
WITH p(i, v) AS (VALUES
	(0, '{}'::jsonb), (1, '[]'), (2, '"raw string"'), (3, '42'), (4, 'true'), (5, 'null'), (6, '-0.50'),
	(7, '{"a": {"b": [1, 2.50, {"c": null}], "d": {}}, "e": [], "f": false}'),
	(8, jsonb_build_object('ctl', E'\x01\x1f\b\f\n\r\t"\\/ end', 'uni', 'é 😀 ☃', E'k\ney', 'v')),
	(9, jsonb_build_object('long', repeat('ab"c\', 1500) || repeat(E'x\n', 3000))),
	(10, (SELECT jsonb_agg(j * 1.25) FROM generate_series(1, 100) j)),
	(11, (SELECT jsonb_object_agg('key' || j, repeat('v', j)) FROM generate_series(1, 70) j)),
	(12, '[1e30, -1.000001, 0, 123456789012345678901234567890.123]'),
	(13, (SELECT jsonb_agg(jsonb_build_array(j, jsonb_build_object('x', repeat('y', j)))) FROM generate_series(1, 40) j)),
	(14, jsonb_build_object('tail', repeat('z', 4095) || E'\t', 'seven', 'abcdefg"')),
	-- numbers in numeric's short and long stored forms (weight beyond +-63 or scale past 63 is long)
	(15, '[0.0001, 0.00000001, -0.000123, 10000, 99990000, 1.0000, 100000000000000000000, -0, 0.0, 1e-20,
		   12345.678900, 9999.9999, 10000.00001, 1e100, -1e-100, 1e300, -2.5e-200, 7e1000]'),
	(16, (SELECT jsonb_agg((j * 7919 % 100003)::numeric * 1234.5678 / (10::numeric ^ (j % 19))) FROM generate_series(1, 60) j)),
	(17, (SELECT jsonb_build_array(('0.' || repeat('0', 70) || '1')::numeric, -('1' || repeat('0', 90) || '.5')::numeric))),
	-- strings of every length up to 17 with a byte to escape at every place, and none
	(18, (SELECT jsonb_agg(jsonb_build_array(repeat('a', j), repeat('b', j) || E'\x02', repeat('c', j) || '"' || repeat('d', j % 9),
											 '\' || repeat('e', j), repeat('f', j) || E'\n'))
			FROM generate_series(0, 17) j)),
	-- every byte escaped (six bytes of text each), past the writer's 4096-byte chunks
	(19, jsonb_build_object('ctl', repeat(E'\x01', 5000), 'quotes', repeat('"', 4097), 'mixed', repeat(E'a\x1f\\', 3000)))
)
SELECT tieredlog.append_many('ledger_t', array_agg('k' || i ORDER BY i), array_agg(v ORDER BY i),
		array_agg(CASE WHEN i % 2 = 0 THEN 'src-' || i END ORDER BY i),
		array_agg('2026-03-01 00:00+00'::timestamptz + i * interval '1 minute' ORDER BY i)) AS appended
  FROM p;
SELECT count(*) AS sealed FROM (SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'ledger_t') s;
SELECT s.seal_root = encode(pg_temp.mth(ARRAY(
			SELECT pg_temp.record_leaf('ledger_t', r.key, r.payload, r.ts, r.source, r.origin, r.seq)
			  FROM tieredlog.read('ledger_t') r ORDER BY r.ts, r.rid COLLATE "C")), 'hex') AS root_as_documented,
	   s.records
  FROM tieredlog.segments s WHERE s.log_name = 'ledger_t';
SELECT count(*) AS failures FROM tieredlog.verify('ledger_t') WHERE NOT ok;
-- a fixed input has a fixed root (the leaf and node definitions never change)
SELECT encode(pg_temp.mth(ARRAY(
		SELECT decode(tieredlog.record_leaf_hash('fixed', 'k' || j, jsonb_build_object('j', j, 's', repeat('é', j)),
												  '2026-01-01 00:00+00'::timestamptz + j * interval '1 second',
												  CASE WHEN j % 2 = 0 THEN 'src' END, 'node-a', j), 'hex')
		  FROM generate_series(1, 11) j ORDER BY j)), 'hex') AS fixed_root;
SELECT tieredlog.drop_log('ledger_t');
