-- Prediction benchmark (bench/predict): a simulator of (segment, peer) pairs whose digests
-- diverge, and the policies that choose which pairs to check each cycle within a budget of 10%
-- of the full-check cost. Every policy runs on the same pre-drawn events of a seed. Uses
-- tieredlog.logistic_fit / logistic_predict, the same solver and scoring as the extension.
-- Regimes:
--   features  divergence is a chance event whose odds grow with concurrent writes from several
--             origins and with an outage of the peer (a logistic hazard);
--   events    divergence comes from explicit events, as research/prediction.md (d) prescribes:
--             a partition that outlasts the slot's WAL loses the writes made meanwhile (the node
--             records a gap, and the peer's access statistics show the writes), concurrent writes
--             from several origins diverge with a small chance each, out-of-band damage (writes
--             streaming skips, rows changed behind tieredlog's back) shows in the statistics four
--             times in five, and bit rot strikes at random, 15 times as often on one peer's disk;
--   random    the control: every pair has the same average hazard, so nothing is predictable.
SET client_min_messages = warning;

-- pairs: cost (bytes a check reads), tier, number of writing origins, write rate, peer
CREATE OR REPLACE FUNCTION sim_setup(p_seed float8, p_pairs int, p_cycles int, p_regime text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM setseed(p_seed);
	DROP TABLE IF EXISTS sim_pair, sim_ev;
	CREATE TABLE sim_pair AS
	SELECT i AS pair_id,
		   round(exp(9 + random() * 4))::float8 AS cost,					-- 8 kB .. 440 kB
		   (random() < 0.3)::int AS tier,
		   1 + floor(random() * random() * 3)::int AS origins,				-- mostly 1
		   exp(random() * 5) / 10 AS rate,									-- Zipf-like: 0.1 .. 15 writes per cycle
		   1 + (i % 4) AS peer
	  FROM generate_series(1, p_pairs) i;
	ALTER TABLE sim_pair ADD PRIMARY KEY (pair_id);
	-- per cycle and pair: writes (Poisson-ish), an outage of the pair's peer, and a uniform draw
	CREATE TABLE sim_ev AS
	WITH outage AS (
		SELECT c AS cycle, peer, random() < 0.03 AS down, random() < 0.3 AS lossy
		  FROM generate_series(1, p_cycles) c, generate_series(1, 4) peer
	)
	SELECT c.cycle, p.pair_id,
		   floor(-ln(1 - random()) * p.rate)::int AS writes,
		   o.down AS gap,
		   o.down AND o.lossy AS lossy,
		   random() < 0.001 * 0.8 AS sig,	-- out-of-band damage that shows in the statistics
		   random() AS u
	  FROM generate_series(1, p_cycles) c(cycle)
	  CROSS JOIN sim_pair p
	  JOIN outage o ON o.cycle = c.cycle AND o.peer = p.peer;
	CREATE INDEX ON sim_ev (cycle);
	-- the divergence hazard of the cycle: driven by concurrent writes from several origins and by
	-- outages ('features'), or the same average rate for everyone ('random', the control)
	ALTER TABLE sim_ev ADD COLUMN hazard float8;
	IF p_regime = 'events' THEN
		-- the chance of divergence given what a node observes: certain after a lossy partition with
		-- writes (the gap is recorded: gap = lossy here) or visible damage; otherwise concurrent
		-- writes, damage that did not show (1 in 5 of 0.001) and bit rot
		UPDATE sim_ev SET gap = lossy AND writes > 0;
		UPDATE sim_ev e SET sig = e.sig AND NOT e.gap,
			   hazard = CASE WHEN e.gap OR e.sig THEN 1
							 ELSE 1 - (1 - 0.001 * 0.2 / (1 - 0.001 * 0.8))
									* (CASE WHEN p.origins > 1 THEN power(1 - 0.003, e.writes) ELSE 1 END)
									* (1 - 0.0002 * CASE WHEN p.peer = 4 THEN 15 ELSE 1 END) END
		  FROM sim_pair p WHERE p.pair_id = e.pair_id;
	ELSE
		UPDATE sim_ev SET sig = false;
		UPDATE sim_ev e SET hazard = 1 / (1 + exp(-(-7.5 + 1.2 * ln(1 + e.writes) * (p.origins - 1) + 4.5 * e.gap::int
													 + 0.4 * (p.origins - 1))))
		  FROM sim_pair p WHERE p.pair_id = e.pair_id;
	END IF;
	IF p_regime = 'random' THEN
		UPDATE sim_ev SET hazard = (SELECT avg(hazard) FROM sim_ev), sig = false;
	END IF;
	ANALYZE sim_pair;
	ANALYZE sim_ev;
END $$;

-- The features the model sees, as the extension's: log writes since the last check, a gap since
-- (an outage; in 'events' a recorded gap with writes meanwhile), origins - 1, log cycles since the
-- last check, tier, log cost, log past divergences, log writes from several origins (the
-- extension's cross-origin conflicts), and a direct sign of damage since (unstreamed writes or
-- row changes in the statistics; only in 'events').
CREATE OR REPLACE FUNCTION sim_features(writes_since int, gap_since bool, origins int, age int, tier int,
										cost float8, past int, sig_since bool) RETURNS float8[]
LANGUAGE sql IMMUTABLE AS $$
SELECT ARRAY[ln(1 + writes_since), gap_since::int, origins - 1, ln(1 + age), tier, ln(cost), ln(1 + past),
			 ln(1 + writes_since) * (origins > 1)::int, sig_since::int]::float8[]
$$;

-- Run one policy over the cycles; returns recall (mean over cycles after a warm-up of the share
-- of diverged pairs the cycle checked) and time to detect (median, p95, in cycles).
CREATE OR REPLACE FUNCTION sim_run(p_policy text, p_cycles int, p_budget_frac float8, p_seed float8,
								   OUT recall float8, OUT ttd_median float8, OUT ttd_p95 float8,
								   OUT checks bigint, OUT detected bigint)
LANGUAGE plpgsql AS $$
DECLARE
	budget float8 := p_budget_frac * (SELECT sum(cost) FROM sim_pair);
	prior float8[] := ARRAY[-6.0, 0.25, 3.0, 0.8, 0.5, -0.3, 0.05, 1.0, 0.8, 3.0];	-- the hand-set prior
	coef float8[] := prior;
	t int;
	warm int := 20;
	rsum float8 := 0;
	rn int := 0;
	nlog bigint;
BEGIN
	PERFORM setseed(p_seed / 2);
	DROP TABLE IF EXISTS sim_st, sim_log, sim_ttd;
	CREATE TEMP TABLE sim_st AS
	SELECT pair_id, NULL::int AS diverged_since, 0 AS last_check, 0 AS writes_since, false AS gap_since, 0 AS past,
		   0::float8 AS log_survival, false AS sig_since
	  FROM sim_pair;
	ALTER TABLE sim_st ADD PRIMARY KEY (pair_id);
	CREATE TEMP TABLE sim_log (cycle int, features float8[], y boolean);
	CREATE TEMP TABLE sim_ttd (ttd int);
	FOR t IN 1 .. p_cycles LOOP
		-- the cycle's writes, outages and new divergences
		UPDATE sim_st s SET writes_since = s.writes_since + e.writes, gap_since = s.gap_since OR e.gap,
			   sig_since = s.sig_since OR e.sig,
			   log_survival = s.log_survival + CASE WHEN e.hazard >= 1 THEN -700 ELSE ln(1 - e.hazard) END,
			   diverged_since = CASE WHEN s.diverged_since IS NULL AND e.u < e.hazard THEN t ELSE s.diverged_since END
		  FROM sim_ev e WHERE e.cycle = t AND e.pair_id = s.pair_id;
		-- the model is refitted every 10 cycles on what it logged (recent checks, shrunk to the prior)
		IF p_policy = 'model' AND t % 10 = 0 THEN
			SELECT count(*) INTO nlog FROM sim_log;
			IF nlog >= 200 AND (SELECT count(*) FROM sim_log WHERE y) >= 10 THEN
				SELECT tieredlog.logistic_fit(features, y, 1.0, power(0.5, (t - cycle) / 50.0), prior)
				  INTO coef FROM sim_log WHERE cycle > t - 150;
			END IF;
		END IF;
		-- choose within the budget: order the pairs by the policy, take them while the budget lasts
		DROP TABLE IF EXISTS sim_pick;
		CREATE TEMP TABLE sim_pick AS
		WITH scored AS (
			SELECT s.pair_id, p.cost, s.diverged_since,
				   sim_features(s.writes_since, s.gap_since, p.origins, t - s.last_check, p.tier, p.cost, s.past,
								s.sig_since) AS f,
				   CASE p_policy
					   WHEN 'random' THEN random()
					   WHEN 'oldest_first' THEN (t - s.last_check) + random() * 1e-3
					   WHEN 'dirty' THEN (s.writes_since > 0)::int * 1e6 + (t - s.last_check) + random() * 1e-3
					   WHEN 'hand_rule' THEN s.gap_since::int * 1e6 + (1 + s.writes_since) * p.origins * (t - s.last_check)
										   + random() * 1e-3
					   WHEN 'signals_rule' THEN s.sig_since::int * 1e7 + s.gap_since::int * 1e6
										   + (1 + s.writes_since) * p.origins * (t - s.last_check) + random() * 1e-3
					   -- references, not baselines: the true chance that the pair has diverged since its
					   -- check (the simulator's own hazards: the best any policy can know), and the truth
					   WHEN 'bayes' THEN (1 - exp(greatest(s.log_survival, -700))) / p.cost
					   WHEN 'oracle' THEN (s.diverged_since IS NOT NULL)::int / p.cost
					   ELSE 0 END AS prio
			  FROM sim_st s JOIN sim_pair p USING (pair_id)
		), ranked AS (
			SELECT sc.*, CASE WHEN p_policy = 'model'
							  THEN tieredlog.logistic_predict(coef, sc.f) / sc.cost ELSE sc.prio END AS key,
				   CASE WHEN p_policy = 'model' THEN random() < 0.05 * p_budget_frac
						ELSE false END AS explore
			  FROM scored sc
		)
		SELECT pair_id, diverged_since, f
		  FROM (SELECT r.*, sum(r.cost) OVER (ORDER BY r.explore DESC, r.key DESC, r.pair_id) AS spent FROM ranked r) x
		 WHERE x.spent <= budget;
		-- recall of this cycle; what the checks found
		IF t > warm THEN
			SELECT rsum + COALESCE((SELECT count(*) FILTER (WHERE k.diverged_since IS NOT NULL) FROM sim_pick k)::float8
								   / NULLIF((SELECT count(*) FROM sim_st WHERE diverged_since IS NOT NULL), 0), 1)
			  INTO rsum;
			rn := rn + 1;
		END IF;
		INSERT INTO sim_ttd SELECT t - k.diverged_since FROM sim_pick k WHERE k.diverged_since IS NOT NULL AND t > warm;
		INSERT INTO sim_log SELECT t, k.f, k.diverged_since IS NOT NULL FROM sim_pick k;
		UPDATE sim_st s SET past = s.past + (s.diverged_since IS NOT NULL)::int, diverged_since = NULL,
			   last_check = t, writes_since = 0, gap_since = false, sig_since = false, log_survival = 0
		  FROM sim_pick k WHERE k.pair_id = s.pair_id;
	END LOOP;
	recall := rsum / greatest(rn, 1);
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ttd), percentile_cont(0.95) WITHIN GROUP (ORDER BY ttd)
	  INTO ttd_median, ttd_p95 FROM sim_ttd;
	SELECT count(*), count(*) FILTER (WHERE y) INTO checks, detected FROM sim_log;
END $$;
