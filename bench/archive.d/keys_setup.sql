-- key lookup benchmark setup (database "keys"): one log whose single segment (1 day) holds every
-- reference row, sealed; the keys to look up: present ones drawn at random from the distinct keys,
-- absent ones that no record has. Run after reference_logs.sql (with -v rows=...).
SET client_min_messages = warning;
CREATE EXTENSION tieredlog;
CREATE EXTENSION pg_prewarm;
SELECT tieredlog.create_log('keys', '1 day');
SELECT tieredlog.append_many('keys', array_agg(key ORDER BY ts), array_agg(payload ORDER BY ts),
							 array_agg(source ORDER BY ts), array_agg(ts ORDER BY ts))
  FROM reference_logs;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'keys';
SELECT setseed(0.17);
CREATE TABLE lookup_keys AS
SELECT row_number() OVER () AS i, k AS key, true AS present
  FROM (SELECT k FROM (SELECT DISTINCT key AS k FROM reference_logs) d ORDER BY random() LIMIT :nkeys) s;
INSERT INTO lookup_keys
SELECT :nkeys + i, 'absent/' || md5(i::text), false FROM generate_series(1, :nkeys) i;
CREATE TABLE lookup_times (state text, fn text, present boolean, key text, ms float8, n bigint);
-- one lookup per key, timed inside the server (no client round trip): fn 'read' or 'latest'
CREATE FUNCTION time_lookups(state text, fn text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r record;
	t0 timestamptz;
	n bigint;
	len bigint;
BEGIN
	FOR r IN SELECT * FROM lookup_keys ORDER BY i LOOP
		t0 := clock_timestamp();
		IF fn = 'read' THEN
			SELECT count(*), sum(length(payload::text)) INTO n, len FROM tieredlog.read('keys', key => r.key);
		ELSE
			SELECT count(*), sum(length(payload::text)) INTO n, len FROM tieredlog.latest('keys', r.key);
		END IF;
		INSERT INTO lookup_times VALUES (state, fn, r.present,
			r.key, extract(epoch FROM clock_timestamp() - t0) * 1000, n);
	END LOOP;
END $$;
VACUUM ANALYZE;
CHECKPOINT;
