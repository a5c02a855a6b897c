-- replication benchmark, node B, every side's database: the measuring procedures. They run inside
-- B, one backend each, so that polling every 100 ms costs one query, not a process per poll, and
-- every time is B's clock (both nodes run on one machine, so it is also A's clock).
-- Unlogged tables: nothing the measurement writes reaches the WAL or any publication.
SET client_min_messages = warning;

CREATE UNLOGGED TABLE bench_wait (
	run		text PRIMARY KEY,
	target	bigint NOT NULL,
	got		bigint,
	first_s	float8,		-- seconds from the start until the first row was there
	done_s	float8,		-- ... until all `target` rows were there (NULL: timed out)
	polls	integer,
	trace	text		-- "seconds rows" of every poll
);
CREATE UNLOGGED TABLE bench_lag_sample (
	run		text NOT NULL,
	t_s		float8 NOT NULL,	-- seconds since the sampler started
	lag_s	float8 NOT NULL,	-- sample time - newest replicated ts
	query_ms float8 NOT NULL	-- what the sampling query itself took
);

-- Optionally run resume_sql (and commit it: that is t = 0), then poll count_sql every poll_s until
-- it returns at least target (or timeout_s passed). The time of a poll is taken before its query,
-- i.e. about when its snapshot is taken.
CREATE PROCEDURE bench_wait_rows(p_run text, resume_sql text, count_sql text, p_target bigint,
								 timeout_s float8, poll_s float8 DEFAULT 0.1)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	el float8;
	n bigint;
	v_first float8;
	v_done float8;
	npolls integer := 0;
	tr text[] := '{}';
BEGIN
	IF resume_sql IS NOT NULL THEN
		EXECUTE resume_sql;
	END IF;
	COMMIT;
	t0 := clock_timestamp();
	LOOP
		el := extract(epoch FROM clock_timestamp() - t0);
		EXECUTE count_sql INTO n;
		npolls := npolls + 1;
		tr := tr || (round(el::numeric, 3) || ' ' || n);
		IF n > 0 AND v_first IS NULL THEN
			v_first := el;
		END IF;
		IF n >= p_target THEN
			v_done := el;
			EXIT;
		END IF;
		EXIT WHEN el > timeout_s;
		COMMIT;
		PERFORM pg_sleep(poll_s);
	END LOOP;
	INSERT INTO bench_wait VALUES (p_run, p_target, n, v_first, v_done, npolls, array_to_string(tr, ','));
	COMMIT;
END $$;

-- For `seconds`, every every_s: lag = now - the newest ts replicated so far. newest_sql gets the
-- newest ts seen so far as $1 and returns the max ts at or after it (NULL if none), so each poll
-- reads only what arrived since the last one (plus the segment scan it takes to find it).
CREATE PROCEDURE bench_sample_lag(p_run text, newest_sql text, seconds float8, every_s float8 DEFAULT 0.1)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	t timestamptz;
	m timestamptz;
	newest timestamptz;
	pause float8;
BEGIN
	LOOP
		t := clock_timestamp();
		EXIT WHEN extract(epoch FROM t - t0) >= seconds;
		EXECUTE newest_sql INTO m USING COALESCE(newest, '-infinity'::timestamptz);
		IF m IS NOT NULL AND (newest IS NULL OR m > newest) THEN
			newest := m;
		END IF;
		IF newest IS NOT NULL THEN
			INSERT INTO bench_lag_sample VALUES (p_run, extract(epoch FROM t - t0), extract(epoch FROM t - newest),
												 1000 * extract(epoch FROM clock_timestamp() - t));
		END IF;
		COMMIT;
		pause := every_s - extract(epoch FROM clock_timestamp() - t);
		IF pause > 0 THEN
			PERFORM pg_sleep(pause);
		END IF;
	END LOOP;
END $$;
