-- The live half of bench/predict (bench/predict.d/live.sh), installed on node n1, the node whose
-- (segment, peer) pairs are evaluated. Every policy logs its picks in tieredlog.check_log and runs
-- them through tieredlog._run_check(), as the scheduler does, so "since the last check" means the
-- same for all of them and their checks repair what they find.
SET client_min_messages = warning;

-- the baselines' checks are logged with their own reason (this bench database only)
ALTER TABLE tieredlog.check_log DROP CONSTRAINT IF EXISTS check_log_reason_check;

CREATE TABLE IF NOT EXISTS live_truth (cycle int, range_start timestamptz, peer_name text);
CREATE TABLE IF NOT EXISTS live_pick (cycle int, range_start timestamptz, peer_name text, reason text);
CREATE TABLE IF NOT EXISTS live_digest (node text, range_start timestamptz, digest text);
CREATE TABLE IF NOT EXISTS live_seen (cycle int, range_start timestamptz, peer_name text, features float8[]);

-- Every pair's features before the cycle's checks (to tell afterwards which diverged pairs showed a
-- direct sign: a gap, unstreamed writes, row changes, a divergence with another peer).
CREATE OR REPLACE FUNCTION live_record_features(p_cycle int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO live_seen SELECT p_cycle, range_start, peer_name, features
	  FROM tieredlog._pair_features() WHERE log_name = 'ev';
$$;

-- The pairs of log 'ev' whose records differ (digests recomputed from the rows on every node,
-- loaded into live_digest by the harness), recorded for the cycle.
CREATE OR REPLACE FUNCTION live_record_truth(p_cycle int) RETURNS bigint LANGUAGE sql AS $$
	INSERT INTO live_truth
	SELECT p_cycle, a.range_start, b.node
	  FROM live_digest a JOIN live_digest b ON b.range_start = a.range_start AND b.node <> 'n1'
	 WHERE a.node = 'n1' AND a.digest IS DISTINCT FROM b.digest;
	DELETE FROM live_digest;
	SELECT count(*) FROM live_truth WHERE cycle = p_cycle;
$$;

-- A baseline's picks within the budget, logged as checks; returns their ids.
--   random        at random
--   oldest_first  never checked first, then the longest unchecked (round robin)
--   dirty         written (here or on the peer) since its check first, then oldest
--   hand_rule     a gap overlapping the window first, then writes x origins x hours since the check
--   signals_rule  the hand rule, after the pairs with any direct sign of a difference (unstreamed
--                 writes or row changes here or on the peer, a divergence found with another peer):
--                 what an operator would write by hand from the newer features
CREATE OR REPLACE FUNCTION live_pick_baseline(p_policy text, p_budget float8) RETURNS bigint[]
LANGUAGE sql AS $$
WITH f AS (
	SELECT p.*, exp(p.features[1]) - 1 AS local_w, exp(p.features[2]) - 1 AS remote_w,
		   exp(p.features[13]) - 1 AS peer_w, exp(p.features[6]) - 1 AS hours, p.features[5] AS gap,
		   (p.features[14] + p.features[15] + p.features[16] + p.features[17] + p.features[18] > 0)::int AS signal
	  FROM tieredlog._pair_features() p WHERE p.log_name = 'ev'
), h AS (
	SELECT f.*, f.gap * 1e12
				+ (1 + f.local_w + f.remote_w + f.peer_w)
				  * greatest((f.local_w > 0)::int + (f.remote_w > 0)::int + (f.peer_w > 0)::int, 1)
				  * (1 + f.hours * 3600) AS hand
	  FROM f
), r AS (
	SELECT f.*, CASE p_policy
		WHEN 'random' THEN random()
		WHEN 'oldest_first' THEN CASE WHEN f.last_check IS NULL THEN 1e12 ELSE extract(epoch FROM now() - f.last_check) END
		WHEN 'dirty' THEN (f.local_w + f.remote_w + f.peer_w > 0)::int * 1e12
						  + COALESCE(extract(epoch FROM now() - f.last_check), 1e9)
		WHEN 'hand_rule' THEN f.hand
		WHEN 'signals_rule' THEN f.signal * 1e15 + f.hand
		END + random() * 1e-6 AS prio
	  FROM h f
), chosen AS (
	SELECT * FROM (SELECT r.*, sum(r.cost) OVER (ORDER BY r.prio DESC, r.segment_id, r.peer_name) AS spent FROM r) x
	 WHERE x.spent <= p_budget
), logged AS (
	INSERT INTO tieredlog.check_log (segment_id, log_name, range_start, tier, peer_name, features, score, cost, reason)
	SELECT segment_id, log_name, range_start, tier, peer_name, features, 0, cost, 'baseline ' || p_policy FROM chosen
	RETURNING check_id
)
SELECT COALESCE(array_agg(check_id), '{}') FROM logged;
$$;

-- The full-check cost of log 'ev' (every pair), in the scheduler's cost units.
CREATE OR REPLACE FUNCTION live_full_cost() RETURNS float8 LANGUAGE sql AS $$
	SELECT sum(cost) FROM tieredlog._pair_features() WHERE log_name = 'ev';
$$;

-- Run logged checks and remember which pairs the cycle picked.
CREATE OR REPLACE FUNCTION live_run(p_cycle int, p_ids bigint[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	id bigint;
BEGIN
	INSERT INTO live_pick SELECT p_cycle, c.range_start, c.peer_name, c.reason
	  FROM tieredlog.check_log c WHERE c.check_id = ANY (p_ids) AND c.log_name = 'ev';
	FOREACH id IN ARRAY p_ids LOOP
		PERFORM tieredlog._run_check(id);
	END LOOP;
	RETURN cardinality(p_ids);
END $$;

-- Recall per cycle after the warm-up (cycles where something had diverged), and time to detect:
-- from the first cycle of a pair's divergence to the cycle that checked it.
CREATE OR REPLACE FUNCTION live_result(p_warm int, OUT recall float8, OUT cycles bigint, OUT diverged_pairs bigint,
									   OUT ttd_median float8, OUT ttd_p95 float8, OUT episodes bigint,
									   OUT undetected bigint, OUT checks bigint, OUT with_sign float8)
LANGUAGE sql AS $$
WITH per_cycle AS (
	SELECT t.cycle, count(*) AS diverged,
		   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM live_pick p WHERE p.cycle = t.cycle
											AND p.range_start = t.range_start AND p.peer_name = t.peer_name)) AS found
	  FROM live_truth t WHERE t.cycle > p_warm GROUP BY t.cycle
), runs AS (
	-- a run: consecutive cycles in which the pair stayed diverged
	SELECT t.*, t.cycle - row_number() OVER (PARTITION BY t.range_start, t.peer_name ORDER BY t.cycle) AS run
	  FROM live_truth t
), episodes AS (
	SELECT r.range_start, r.peer_name, min(r.cycle) AS since, max(r.cycle) AS last
	  FROM runs r GROUP BY r.range_start, r.peer_name, r.run
), detected AS (
	SELECT e.*, (SELECT min(p.cycle) FROM live_pick p WHERE p.range_start = e.range_start
				   AND p.peer_name = e.peer_name AND p.cycle BETWEEN e.since AND e.last) AS found_at
	  FROM episodes e WHERE e.last > p_warm
)
SELECT (SELECT avg(found::float8 / diverged) FROM per_cycle),
	   (SELECT count(*) FROM per_cycle),
	   (SELECT sum(diverged) FROM per_cycle),
	   (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY found_at - since) FROM detected WHERE found_at IS NOT NULL),
	   (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY found_at - since) FROM detected WHERE found_at IS NOT NULL),
	   (SELECT count(*) FROM detected),
	   (SELECT count(*) FROM detected WHERE found_at IS NULL),
	   (SELECT count(*) FROM live_pick WHERE cycle > p_warm),
	   (SELECT avg((s.features[5] + s.features[14] + s.features[15] + s.features[16] + s.features[17]
					+ s.features[18] > 0)::int)
		  FROM live_truth t JOIN live_seen s USING (cycle, range_start, peer_name) WHERE t.cycle > p_warm);
$$;
