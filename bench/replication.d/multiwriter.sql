-- replication benchmark, case multiwriter (bench/replication.d/multiwriter.sh), on every node: the
-- appender, and on mw1 (with dblink) the procedure that waits for convergence. Unlogged tables:
-- nothing the measurement writes reaches the WAL or a peer.
SET client_min_messages = warning;

-- p_records records in transactions of p_batch (one append_many each); record j of this node goes
-- to key 'k<j mod p_keys>'. The payload names the node and j.
CREATE PROCEDURE mw_append(p_log text, p_node text, p_records integer, p_batch integer, p_keys integer)
LANGUAGE plpgsql AS $$
DECLARE
	b integer;
BEGIN
	FOR b IN 0 .. p_records / p_batch - 1 LOOP
		PERFORM tieredlog.append_many(p_log,
			ARRAY(SELECT 'k' || ((b * p_batch + g) % p_keys) FROM generate_series(0, p_batch - 1) g ORDER BY g),
			ARRAY(SELECT jsonb_build_object('node', p_node, 'j', b * p_batch + g)
					FROM generate_series(0, p_batch - 1) g ORDER BY g));
		COMMIT;
	END LOOP;
END $$;

-- The query every node answers at each poll: the records of the log, and once they are p_target,
-- an md5 of every key's latest() winner (origin:seq), '-' for a key without one.
CREATE FUNCTION mw_state_sql(p_log text, p_target bigint, p_keys integer) RETURNS text
LANGUAGE sql STABLE AS $$
SELECT format($q$
SELECT c.n, CASE WHEN c.n = %2$s THEN (
		SELECT md5(string_agg(k.key || '=' || COALESCE(l.origin || ':' || l.seq, '-'), ',' ORDER BY k.key))
		  FROM (SELECT 'k' || g AS key FROM generate_series(0, %3$s - 1) g) k
		  LEFT JOIN LATERAL tieredlog.latest(%1$L, k.key) l ON true) END
  FROM (SELECT COALESCE(sum(records), 0)::bigint AS n FROM tieredlog.segments WHERE log_name = %1$L) c
$q$, p_log, p_target, p_keys)
$$;

CREATE UNLOGGED TABLE mw_wait (
	run			text PRIMARY KEY,
	target		bigint NOT NULL,
	held_s		float8,		-- seconds after p_t0 when every node held target records (NULL: never)
	done_s		float8,		-- ... when, besides, the latest() fingerprints were equal (NULL: timed out)
	got			text,		-- the records on each node at the last poll
	fingerprints integer,	-- distinct fingerprints at the last poll (NULL: not every node had them all)
	polls		integer,
	trace		text		-- "seconds n1/n2/n3 distinct_fingerprints" of every poll
);

-- Poll this node and the nodes of p_conninfos (through dblink) every poll_s (or as fast as the
-- queries return) until every node holds p_target records of p_log and their latest()
-- fingerprints are equal, or timeout_s passed. Times are seconds since the epoch p_t0 (the last
-- append's commit), taken when a poll's queries had all returned.
CREATE PROCEDURE mw_wait_converged(p_run text, p_log text, p_target bigint, p_keys integer,
								   p_conninfos text[], p_t0 float8, timeout_s float8, poll_s float8 DEFAULT 0.1)
LANGUAGE plpgsql AS $$
DECLARE
	q text := mw_state_sql(p_log, p_target, p_keys);
	el float8;
	t_start float8 := extract(epoch FROM clock_timestamp());
	t_poll timestamptz;
	pause float8;
	n bigint;
	fp text;
	ns bigint[];
	fps text[];
	all_held boolean;
	distinct_fps integer;
	v_held float8;
	v_done float8;
	npolls integer := 0;
	tr text[] := '{}';
	i integer;
BEGIN
	FOR i IN 1 .. coalesce(array_length(p_conninfos, 1), 0) LOOP
		PERFORM dblink_connect('mw_peer' || i, p_conninfos[i]);
	END LOOP;
	LOOP
		t_poll := clock_timestamp();
		EXECUTE q INTO n, fp;
		ns := ARRAY[n];
		fps := ARRAY[fp];
		FOR i IN 1 .. coalesce(array_length(p_conninfos, 1), 0) LOOP
			SELECT r.n, r.fp INTO n, fp FROM dblink('mw_peer' || i, q) AS r(n bigint, fp text);
			ns := ns || n;
			fps := fps || fp;
		END LOOP;
		el := extract(epoch FROM clock_timestamp()) - p_t0;
		npolls := npolls + 1;
		all_held := (SELECT bool_and(x = p_target) FROM unnest(ns) x);
		distinct_fps := CASE WHEN all_held THEN (SELECT count(DISTINCT x) FROM unnest(fps) x) END;
		tr := tr || (round(el::numeric, 3) || ' ' || array_to_string(ns, '/') || ' ' || coalesce(distinct_fps::text, '-'));
		IF all_held AND v_held IS NULL THEN
			v_held := el;
		END IF;
		IF all_held AND distinct_fps = 1 THEN
			v_done := el;
			EXIT;
		END IF;
		EXIT WHEN extract(epoch FROM clock_timestamp()) - t_start > timeout_s;
		COMMIT;
		pause := poll_s - extract(epoch FROM clock_timestamp() - t_poll);
		IF pause > 0 THEN
			PERFORM pg_sleep(pause);
		END IF;
	END LOOP;
	FOR i IN 1 .. coalesce(array_length(p_conninfos, 1), 0) LOOP
		PERFORM dblink_disconnect('mw_peer' || i);
	END LOOP;
	INSERT INTO mw_wait VALUES (p_run, p_target, v_held, v_done, array_to_string(ns, '/'), distinct_fps, npolls,
								array_to_string(tr, ','));
	COMMIT;
END $$;
