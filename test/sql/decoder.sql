-- The output plugin (text format: no LSNs, xids or times) and the peers' bad input.
\set VERBOSITY default
SELECT 'init' FROM pg_create_logical_replication_slot('tl_regress', 'tieredlog');
SELECT tieredlog.create_log('dec', '1 hour');
SELECT tieredlog.append('dec', 'k1', '{"a": 1}', 'app', '2026-05-01 00:00:00+00') > 0 AS appended;
SELECT tieredlog.append_many('dec', ARRAY['k2', 'k3'], ARRAY['{}', '[1, "x"]']::jsonb[], NULL,
							 ARRAY['2026-05-01 00:10:00+00', '2026-05-01 00:20:00+00']::timestamptz[]);
BEGIN;
SELECT tieredlog.append('dec', 'rolled-back', '{}', NULL, '2026-05-01 00:30:00+00') > 0 AS appended;
ROLLBACK;
-- a forged move message does not hide an append (only a move's copies are skipped)
BEGIN;
SELECT pg_logical_emit_message(true, 'tieredlog.move', '') IS NOT NULL AS forged;
SELECT tieredlog.append('dec', 'k4', '{"b": 2}', NULL, '2026-05-01 00:40:00+00') > 0 AS appended;
COMMIT;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'dec';
SELECT count(*) AS moved FROM tieredlog.segments s, tieredlog.move_segment(s.segment_id, 1) m
 WHERE s.log_name = 'dec';
-- each committed record once; rolled-back appends, seals and moves send nothing
SELECT regexp_replace(data, 'origin=\S+ seq=\d+', 'origin=* seq=*') AS data
  FROM pg_logical_slot_get_changes('tl_regress', NULL, NULL, 'format', 'text');
-- options
SELECT data FROM pg_logical_slot_peek_changes('tl_regress', NULL, NULL, 'format', 'xml');
SELECT data FROM pg_logical_slot_peek_changes('tl_regress', NULL, NULL, 'proto_version', '3');
SELECT data FROM pg_logical_slot_peek_changes('tl_regress', NULL, NULL, 'bogus', '1');
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('tl_regress', NULL, NULL);
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('tl_regress', NULL, NULL, 'proto_version', '1');
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('tl_regress', NULL, NULL, 'proto_version', '2');
SELECT pg_drop_replication_slot('tl_regress');

-- peers: bad input is refused before anything is created
SELECT tieredlog.add_peer(NULL, 'host=localhost');
SELECT tieredlog.add_peer('p1', NULL);
SELECT tieredlog.add_peer('bad name''; DROP TABLE tieredlog.peer; --', 'host=localhost');
SELECT tieredlog.add_peer('p1', 'this is not a conninfo');
SELECT tieredlog.add_peer('p1', 'host=127.0.0.1 port=1 connect_timeout=2');
SELECT tieredlog.drop_peer('nope');
SELECT tieredlog.drop_peer(NULL);
SELECT count(*) AS peers FROM tieredlog.peers;
SELECT tieredlog._mask_conninfo('host=h port=5 password=secret user=u') AS masked;
SELECT tieredlog._mask_conninfo('host=h password=p1 sslpassword=p2 sslkey=/k passfile=/f sslcert=/c sslmode=require') AS masked;
-- a peer added by a non-superuser: a password, over the network, no files of this server
CREATE ROLE tl_adder;
GRANT USAGE ON SCHEMA tieredlog TO tl_adder;
GRANT EXECUTE ON FUNCTION tieredlog.add_peer(text, text) TO tl_adder;
SET ROLE tl_adder;
SELECT tieredlog.add_peer('p1', 'host=127.0.0.1 port=1');
SELECT tieredlog.add_peer('p1', 'host=/tmp port=1 password=x');
SELECT tieredlog.add_peer('p1', 'host=127.0.0.1,@abstract port=1 password=x');
SELECT tieredlog.add_peer('p1', 'port=1 password=x');
SELECT tieredlog.add_peer('p1', 'host=127.0.0.1 port=1 password=x sslkey=/etc/ssl/private/k');
SELECT tieredlog.add_peer('p1', 'host=127.0.0.1 port=1 password=x passfile=/var/lib/postgresql/.pgpass');
SELECT tieredlog.add_peer('p1', 'hostaddr=127.0.0.1 port=1 password=x');
RESET ROLE;
DROP OWNED BY tl_adder;
DROP ROLE tl_adder;
SELECT tieredlog.drop_log('dec');
