-- ---- sql/install/60_scheduler.sql: the scheduler: checks, eligible pairs, scores, cycles, evaluation and training
-- One row per check the scheduler chose (or that was forced): the pair's features and score when
-- it was chosen, why, and what the check found. The training data of train_model().
CREATE TABLE tieredlog.check_log (
	check_id			bigserial PRIMARY KEY,
	decided_at			timestamptz NOT NULL DEFAULT now(),
	segment_id			bigint NOT NULL,
	log_name			text COLLATE "C" NOT NULL,
	range_start			timestamptz NOT NULL,
	tier				integer NOT NULL,
	peer_name			text COLLATE "C" NOT NULL,
	features			float8[] NOT NULL,
	model_id			bigint,
	score				float8 NOT NULL,
	cost				float8 NOT NULL,
	reason				text NOT NULL CHECK (reason IN ('floor', 'threshold', 'explore', 'exploit')),
	propensity			float8,			-- explore: the chance this pair had to be drawn
	finished_at			timestamptz,
	status				text,			-- reconcile status, or 'error'
	diverged			boolean,		-- the label: did the digests differ
	records_moved		bigint,
	bytes				bigint,
	error				text
);
CREATE INDEX check_log_pair ON tieredlog.check_log (segment_id, peer_name, decided_at DESC);
-- a segment's past divergences (_pair_features, per segment and peer every check cycle) and the
-- checks left unfinished (_log_checks): without reading every check ever logged
CREATE INDEX check_log_diverged ON tieredlog.check_log (segment_id, decided_at) WHERE diverged;
CREATE INDEX check_log_unfinished ON tieredlog.check_log (decided_at) WHERE finished_at IS NULL;
-- the worker's pruning to tieredlog.check_retention finds the oldest finished checks first
CREATE INDEX check_log_finished ON tieredlog.check_log (decided_at) WHERE finished_at IS NOT NULL;

CREATE VIEW tieredlog.models AS
SELECT model_id, created_at, state, algo, lambda, n_rows, n_pos, metrics, feature_names, coef, note
  FROM tieredlog.model ORDER BY model_id;

-- Every eligible (segment, peer) pair with its features: segments in tier 0 and 1 (tier 2 only
-- on request) and every enabled peer.
CREATE FUNCTION tieredlog._pair_features()
	RETURNS TABLE(segment_id bigint, log_name text, range_start timestamptz, tier integer,
				  peer_name text, cost float8, last_check timestamptz, features float8[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH seg AS (
	SELECT s.segment_id, l.log_name::text AS log_name, s.range_start, s.range_end, s.tier, s.created_at,
		   (tieredlog.segment_totals(s.segment_id)).records,
		   tieredlog.segment_stored_bytes(s.segment_id) AS stored_bytes
	  FROM tieredlog.segment s JOIN tieredlog.log l USING (log_id)
	 WHERE s.tier < 2 AND l.log_name <> '_seen'
), pr AS (
	SELECT p.peer_name::text AS peer_name, COALESCE(v.lag_seconds, 0) AS lag_seconds,
		   v.last_error_at, current_setting('tieredlog.stats_flush_interval')::interval AS flush_interval
	  FROM tieredlog.peer p LEFT JOIN tieredlog.peers v USING (peer_name)
	 WHERE p.enabled
)
SELECT seg.segment_id, seg.log_name, seg.range_start, seg.tier, pr.peer_name,
	   -- cost units: bytes the check may read; a tier 1 segment costs a little more (colder storage)
	   greatest(seg.stored_bytes, 8192)::float8 * CASE seg.tier WHEN 0 THEN 1.0 ELSE 1.5 END,
	   lc.decided_at,
	   ARRAY[
		   ln(1 + COALESCE(acc.local_writes, 0)),
		   ln(1 + COALESCE(acc.remote_writes, 0)),
		   ln(1 + (SELECT count(*) FROM tieredlog.conflict k
					WHERE k.log_name = seg.log_name AND greatest(k.ts_a, k.ts_b) >= seg.range_start
					  AND greatest(k.ts_a, k.ts_b) < seg.range_end)),
		   ln(1 + greatest(pr.lag_seconds, 0)),
		   -- an open gap in the peer's stream that may hold records of the segment: its window
		   -- overlaps the gap's commit times, or the peer's access statistics show it wrote to the
		   -- segment meanwhile (records with older timestamps). Closing a gap reconciles every
		   -- segment with the peer, so a closed gap is no risk any more.
		   CASE WHEN EXISTS (SELECT 1 FROM tieredlog.gap g
							  WHERE g.peer_name = pr.peer_name AND g.closed_at IS NULL
								AND ((g.from_ts < seg.range_end AND g.to_ts > seg.range_start)
									 OR EXISTS (SELECT 1 FROM tieredlog.peer_access a
												 WHERE a.peer_name = g.peer_name AND a.log_name = seg.log_name
												   AND a.range_start = seg.range_start AND a.local_writes > 0
												   AND a.sampled_at > g.from_ts
												   AND a.sampled_at <= g.to_ts + 2 * pr.flush_interval)))
				THEN 1.0 ELSE 0.0 END,
		   ln(1 + extract(epoch FROM now() - COALESCE(lc.decided_at, seg.created_at)) / 3600.0),
		   ln(1 + (SELECT count(*) FROM tieredlog.check_log d WHERE d.segment_id = seg.segment_id AND d.diverged)),
		   CASE WHEN seg.tier = 1 THEN 1.0 ELSE 0.0 END,
		   CASE WHEN seg.tier = 2 THEN 1.0 ELSE 0.0 END,
		   ln(1 + greatest(extract(epoch FROM now() - seg.range_start), 0) / 3600.0),
		   ln(1 + seg.records),
		   CASE WHEN pr.last_error_at IS NOT NULL
					 AND (lc.decided_at IS NULL OR pr.last_error_at > lc.decided_at) THEN 1.0 ELSE 0.0 END,
		   -- the peer's own writes to the segment since the check (its access statistics)
		   ln(1 + COALESCE(pacc.local_writes, 0)),
		   ln(1 + COALESCE(acc.unstreamed_writes, 0)),
		   ln(1 + COALESCE(pacc.unstreamed_writes, 0)),
		   ln(1 + COALESCE(acc.row_changes, 0)),
		   ln(1 + COALESCE(pacc.row_changes, 0)),
		   -- since this pair's last check, a check with another peer found the segment diverged, or
		   -- a repair brought records from another peer (the ledger's REPAIR entries: repairs are
		   -- not streamed on, so the other peers may lack them)
		   CASE WHEN EXISTS (SELECT 1 FROM tieredlog.check_log d
							  WHERE d.segment_id = seg.segment_id AND d.peer_name <> pr.peer_name AND d.diverged
								AND d.decided_at > COALESCE(lc.decided_at, '-infinity'))
					 OR EXISTS (SELECT 1 FROM tieredlog.ledger_entry e
								 WHERE e.segment_id = seg.segment_id AND e.kind = 'REPAIR'
								   AND e.body->>'peer' <> pr.peer_name
								   AND e.created_at > COALESCE(lc.decided_at, '-infinity'))
				THEN 1.0 ELSE 0.0 END
	   ]::float8[]
  FROM seg CROSS JOIN pr
  LEFT JOIN LATERAL (SELECT c.decided_at FROM tieredlog.check_log c
					  WHERE c.segment_id = seg.segment_id AND c.peer_name = pr.peer_name AND c.finished_at IS NOT NULL
					  ORDER BY c.decided_at DESC LIMIT 1) lc ON true
  LEFT JOIN LATERAL (SELECT sum(h.local_writes) AS local_writes, sum(h.remote_writes) AS remote_writes,
							sum(h.unstreamed_writes) AS unstreamed_writes, sum(h.row_changes) AS row_changes
					   FROM tieredlog.access_history h
					  WHERE h.segment_id = seg.segment_id AND h.sampled_at > COALESCE(lc.decided_at, '-infinity')) acc ON true
  LEFT JOIN LATERAL (SELECT sum(a.local_writes) AS local_writes, sum(a.unstreamed_writes) AS unstreamed_writes,
							sum(a.row_changes) AS row_changes
					   FROM tieredlog.peer_access a
					  WHERE a.peer_name = pr.peer_name AND a.log_name = seg.log_name
						AND a.range_start = seg.range_start
						AND a.sampled_at > COALESCE(lc.decided_at, '-infinity')) pacc ON true
$$;

CREATE FUNCTION tieredlog._active_model(OUT model_id bigint, OUT coef float8[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT model_id, coef FROM tieredlog.model WHERE state IN ('active', 'prior')
 ORDER BY state = 'active' DESC, model_id LIMIT 1
$$;

-- The probability that the digests of a segment and a peer differ now, by the active model.
CREATE FUNCTION tieredlog.predict(segment_id bigint, peer_name text DEFAULT NULL) RETURNS float8
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f float8[];
	p text := predict.peer_name;
BEGIN
	IF predict.segment_id IS NULL THEN
		RAISE EXCEPTION 'segment_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM tieredlog.segment s WHERE s.segment_id = predict.segment_id) THEN
		RAISE EXCEPTION 'segment % does not exist', predict.segment_id USING ERRCODE = 'undefined_object';
	END IF;
	IF p IS NULL THEN
		SELECT min(x.peer_name) INTO p FROM tieredlog.peer x WHERE x.enabled;
		IF p IS NULL THEN
			RAISE EXCEPTION 'this node has no enabled peer' USING ERRCODE = 'undefined_object';
		END IF;
	ELSIF NOT EXISTS (SELECT 1 FROM tieredlog.peer x WHERE x.peer_name = p) THEN
		RAISE EXCEPTION 'peer "%" does not exist', p USING ERRCODE = 'undefined_object';
	END IF;
	SELECT pf.features INTO f FROM tieredlog._pair_features() pf
	 WHERE pf.segment_id = predict.segment_id AND pf.peer_name = p;
	IF f IS NULL THEN
		RETURN NULL;		-- a tier 2 segment, or a disabled peer: not scored
	END IF;
	RETURN tieredlog.logistic_predict((SELECT m.coef FROM tieredlog._active_model() m), f);
END $$;

-- What the scheduler would check now, in order: pairs past the staleness floor (oldest first),
-- tier 0 pairs above the threshold and tier 1 pairs above it whose interval has passed, then an
-- exploration share drawn at random, then the highest probability per unit of cost, within the
-- budget. due_at: when a pair above the threshold becomes due (tier 1: its interval).
-- a scored pair, inside _plan_checks()
CREATE TYPE tieredlog._scored_pair AS (segment_id bigint, log_name text, range_start timestamptz,
	tier integer, peer_name text, cost float8, last_check timestamptz, features float8[], score float8);

CREATE FUNCTION tieredlog._plan_checks()
	RETURNS TABLE(segment_id bigint, log_name text, range_start timestamptz, tier integer,
				  peer_name text, score float8, cost float8, reason text, propensity float8,
				  due_at timestamptz, features float8[], model_id bigint)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	budget float8 := pg_size_bytes(current_setting('tieredlog.reconcile_budget'))::float8;
	explore float8 := current_setting('tieredlog.explore_fraction')::float8;
	threshold float8 := current_setting('tieredlog.conflict_threshold')::float8;
	tier1_every interval := current_setting('tieredlog.tier1_reconcile_interval')::interval;
	staleness interval := current_setting('tieredlog.check_max_staleness')::interval;
	m record;
	trained boolean;
	pairs tieredlog._scored_pair[];
	picked text[];
	prop float8[];
	due timestamptz[];
	spent float8 := 0;
	n integer;
	i integer;
BEGIN
	SELECT * INTO m FROM tieredlog._active_model();
	trained := EXISTS (SELECT 1 FROM tieredlog.model t WHERE t.model_id = m.model_id AND t.algo <> 'prior');
	SELECT array_agg(ROW(f.segment_id, f.log_name, f.range_start, f.tier, f.peer_name, f.cost, f.last_check,
						 f.features, tieredlog.logistic_predict(m.coef, f.features))::tieredlog._scored_pair
					 ORDER BY f.segment_id, f.peer_name)
	  INTO pairs FROM tieredlog._pair_features() f;
	n := COALESCE(cardinality(pairs), 0);
	IF n = 0 THEN
		RETURN;
	END IF;
	picked := array_fill(NULL::text, ARRAY[n]);
	prop := array_fill(NULL::float8, ARRAY[n]);
	due := array_fill(NULL::timestamptz, ARRAY[n]);
	-- 1. the floor: never checked, or not for check_max_staleness; oldest first
	FOR i IN SELECT o.i FROM generate_subscripts(pairs, 1) o(i)
			  WHERE COALESCE((pairs[o.i]).last_check, '-infinity') < now() - staleness
			  ORDER BY (pairs[o.i]).last_check NULLS FIRST, o.i LOOP
		EXIT WHEN spent > 0 AND spent + (pairs[i]).cost > budget;
		picked[i] := 'floor';
		spent := spent + (pairs[i]).cost;
	END LOOP;
	-- 2. the tier policy: tier 0 above the threshold at once, tier 1 once its interval passed. Only
	--    a trained model's scores are probabilities to compare with a threshold: the hand-set prior
	--    only ranks (bench/predict, live: with it the threshold spent the budget on busy segments)
	FOR i IN 1 .. n LOOP
		IF trained AND (pairs[i]).score > threshold THEN
			due[i] := CASE WHEN (pairs[i]).tier = 0 THEN now()
						   ELSE COALESCE((pairs[i]).last_check + tier1_every, now()) END;
		END IF;
	END LOOP;
	FOR i IN SELECT o.i FROM generate_subscripts(pairs, 1) o(i)
			  WHERE picked[o.i] IS NULL AND due[o.i] <= now() ORDER BY (pairs[o.i]).score / (pairs[o.i]).cost DESC, o.i LOOP
		EXIT WHEN spent > 0 AND spent + (pairs[i]).cost > budget;
		picked[i] := 'threshold';
		spent := spent + (pairs[i]).cost;
	END LOOP;
	-- 3. exploration: a share of the budget on pairs drawn at random (keeps the labels unbiased)
	FOR i IN SELECT o.i FROM generate_subscripts(pairs, 1) o(i) WHERE picked[o.i] IS NULL ORDER BY random() LOOP
		EXIT WHEN spent + (pairs[i]).cost > budget * explore;
		picked[i] := 'explore';
		prop[i] := least(1.0, budget * explore / greatest((pairs[i]).cost, 1) / n);
		spent := spent + (pairs[i]).cost;
	END LOOP;
	-- 4. exploitation: the highest probability per unit of cost while the budget lasts
	FOR i IN SELECT o.i FROM generate_subscripts(pairs, 1) o(i)
			  WHERE picked[o.i] IS NULL ORDER BY (pairs[o.i]).score / (pairs[o.i]).cost DESC, o.i LOOP
		CONTINUE WHEN spent + (pairs[i]).cost > budget;
		picked[i] := 'exploit';
		spent := spent + (pairs[i]).cost;
	END LOOP;
	RETURN QUERY
		SELECT (pairs[o.i]).segment_id, (pairs[o.i]).log_name, (pairs[o.i]).range_start, (pairs[o.i]).tier,
			   (pairs[o.i]).peer_name, (pairs[o.i]).score, (pairs[o.i]).cost, picked[o.i], prop[o.i],
			   COALESCE(due[o.i], now()), (pairs[o.i]).features, m.model_id
		  FROM generate_subscripts(pairs, 1) o(i) WHERE picked[o.i] IS NOT NULL
		 ORDER BY array_position(ARRAY['floor', 'threshold', 'explore', 'exploit'], picked[o.i]),
				  (pairs[o.i]).score DESC, o.i;
END $$;

-- What the scheduler would check now, with score, cost, reason and due time (a fresh draw on
-- every read: the exploration share is random). _schedule() runs _plan_checks() as the owner, for a
-- role that may read the view.
CREATE FUNCTION tieredlog._schedule()
	RETURNS TABLE(segment_id bigint, log_name text, range_start timestamptz, tier integer, peer_name text,
				  score float8, cost float8, reason text, due_at timestamptz)
	AS 'MODULE_PATHNAME', 'tieredlog_schedule' LANGUAGE C VOLATILE;
CREATE VIEW tieredlog.schedule AS
SELECT segment_id, log_name, range_start, tier, peer_name, score, cost, reason, due_at
  FROM tieredlog._schedule();

-- One scheduler cycle, in two steps so that each check can commit on its own (the worker runs
-- every check in its own transaction): _log_checks() plans and logs each decision and returns the
-- check ids; _run_check() reconciles one logged pair and logs the outcome. A check that fails is
-- logged as an error and the others go on; one left unfinished by a crash is marked 'abandoned'.
CREATE FUNCTION tieredlog._log_checks() RETURNS bigint[]
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ids bigint[];
BEGIN
	UPDATE tieredlog.check_log SET status = 'abandoned', finished_at = clock_timestamp()
	 WHERE finished_at IS NULL AND decided_at < now() - interval '10 minutes';
	WITH plan AS (
		SELECT p.*, row_number() OVER () AS ord FROM tieredlog._plan_checks() p
	), logged AS (
		INSERT INTO tieredlog.check_log (segment_id, log_name, range_start, tier, peer_name, features, model_id,
										 score, cost, reason, propensity)
		SELECT c.segment_id, c.log_name, c.range_start, c.tier, c.peer_name, c.features, c.model_id,
			   c.score, c.cost, c.reason, c.propensity
		  FROM plan c ORDER BY c.ord
		RETURNING check_id
	)
	SELECT COALESCE(array_agg(check_id ORDER BY check_id), '{}') INTO ids FROM logged;
	RETURN ids;
END $$;

CREATE FUNCTION tieredlog._run_check(p_check_id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c record;
	res record;
BEGIN
	SELECT * INTO c FROM tieredlog.check_log l WHERE l.check_id = p_check_id AND l.finished_at IS NULL;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	-- a peer disabled (set_peer_enabled) or dropped since the plan is not contacted
	IF NOT EXISTS (SELECT 1 FROM tieredlog.peer p WHERE p.peer_name = c.peer_name AND p.enabled) THEN
		UPDATE tieredlog.check_log l SET finished_at = clock_timestamp(), status = 'abandoned',
			   error = 'the peer was disabled or dropped after the check was planned'
		 WHERE l.check_id = p_check_id;
		RETURN NULL;
	END IF;
	BEGIN
		SELECT r.status, r.records_sent + r.records_received AS moved, r.bytes INTO res
		  FROM tieredlog.reconcile_segment(c.segment_id, c.peer_name) r;
		UPDATE tieredlog.check_log l SET finished_at = clock_timestamp(), status = res.status,
			   diverged = res.status IS DISTINCT FROM 'in_sync', records_moved = res.moved, bytes = res.bytes
		 WHERE l.check_id = p_check_id;
		RETURN res.status IS DISTINCT FROM 'in_sync';
	EXCEPTION WHEN OTHERS THEN
		UPDATE tieredlog.check_log l SET finished_at = clock_timestamp(), status = 'error', error = SQLERRM
		 WHERE l.check_id = p_check_id;
		RETURN NULL;
	END;
END $$;

-- Both steps in the caller's transaction (for running a cycle by hand); returns the checks run.
CREATE FUNCTION tieredlog._run_checks() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id bigint;
	n integer := 0;
BEGIN
	FOREACH id IN ARRAY tieredlog._log_checks() LOOP
		PERFORM tieredlog._run_check(id);
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;

-- Held-out metrics of coefficients on labelled checks: log-loss, Brier score, average precision
-- (AUC-PR), and recall when the highest-scored checks are taken until 10% of their cost is spent.
CREATE FUNCTION tieredlog._model_metrics(coef float8[], check_ids bigint[]) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
WITH s AS (
	SELECT c.diverged AS y, c.cost,
		   least(greatest(tieredlog.logistic_predict(coef, c.features), 1e-12), 1 - 1e-12) AS p
	  FROM tieredlog.check_log c WHERE c.check_id = ANY (check_ids)
), ranked AS (
	SELECT y, p, cost, row_number() OVER (ORDER BY p DESC) AS rnk,
		   sum(y::int) OVER (ORDER BY p DESC ROWS UNBOUNDED PRECEDING) AS tp,
		   sum(cost) OVER (ORDER BY p / cost DESC ROWS UNBOUNDED PRECEDING) AS spent
	  FROM s
)
SELECT jsonb_build_object(
	'n', count(*),
	'positives', count(*) FILTER (WHERE y),
	'log_loss', round((-avg(CASE WHEN y THEN ln(p) ELSE ln(1 - p) END))::numeric, 6),
	'brier', round(avg((p - y::int) ^ 2)::numeric, 6),
	'auc_pr', round((sum(tp::float8 / rnk) FILTER (WHERE y) / greatest(count(*) FILTER (WHERE y), 1))::numeric, 6),
	'recall_at_10pct_cost', round((count(*) FILTER (WHERE y AND spent <= 0.1 * (SELECT sum(cost) FROM s))::float8
								   / greatest(count(*) FILTER (WHERE y), 1))::numeric, 6))
  FROM ranked
$$;

-- Fit a model on the labelled checks of the last 30 days (weight halves every 7 days of age),
-- shrunk towards the hand-set prior; compare it with the active model on the newest 20% of the
-- checks, held out; make it active only if it is not worse there (lower or equal log-loss, recall
-- at 10% of the cost not lower by more than 0.01). Returns the new model's id, or NULL when there
-- are too few labels. (SECURITY DEFINER: EXECUTE on it is what an operator is granted.)
CREATE FUNCTION tieredlog.train_model(lambda float8 DEFAULT 1.0, min_examples integer DEFAULT 50,
									  min_positives integer DEFAULT 5) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ids bigint[];
	n integer;
	npos integer;
	train_ids bigint[];
	hold_ids bigint[];
	coef float8[];
	prior float8[];
	act record;
	m_new jsonb;
	m_act jsonb;
	new_id bigint;
	wins boolean;
	train_pos integer;
	hold_pos integer;
	why text;
BEGIN
	IF lambda IS NULL OR NOT (lambda >= 0 AND lambda < 'Infinity') THEN	-- NaN sorts above every number
		RAISE EXCEPTION 'lambda must be a finite number >= 0' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT array_agg(c.check_id ORDER BY c.decided_at, c.check_id), count(*), count(*) FILTER (WHERE c.diverged)
	  INTO ids, n, npos
	  FROM tieredlog.check_log c
	 WHERE c.diverged IS NOT NULL AND c.decided_at > now() - interval '30 days'
	   AND cardinality(c.features) = cardinality(tieredlog.feature_names());
	IF n < min_examples OR npos < min_positives THEN
		RAISE NOTICE 'not enough labelled checks to train: % (% diverged); % and % are needed',
			n, npos, min_examples, min_positives;
		RETURN NULL;
	END IF;
	train_ids := ids[1:n - n / 5];
	hold_ids := ids[n - n / 5 + 1:n];
	SELECT count(*) FILTER (WHERE c.check_id = ANY (train_ids)), count(*) FILTER (WHERE c.check_id = ANY (hold_ids))
	  INTO train_pos, hold_pos FROM tieredlog.check_log c WHERE c.check_id = ANY (ids) AND c.diverged;
	IF train_pos < min_positives THEN
		RAISE NOTICE 'not enough diverged checks in the training part: % of the % needed (% held out)',
			train_pos, min_positives, hold_pos;
		RETURN NULL;
	END IF;
	SELECT m.coef INTO prior FROM tieredlog.model m WHERE m.algo = 'prior' ORDER BY m.model_id LIMIT 1;
	SELECT tieredlog.logistic_fit(c.features, c.diverged, lambda,
								  power(0.5, extract(epoch FROM now() - c.decided_at) / (7 * 86400.0)), prior)
	  INTO coef
	  FROM tieredlog.check_log c WHERE c.check_id = ANY (train_ids);
	SELECT a.model_id, a.coef INTO act FROM tieredlog._active_model() a;
	m_new := tieredlog._model_metrics(coef, hold_ids);
	m_act := tieredlog._model_metrics(act.coef, hold_ids);
	-- held-out checks without divergence can only reward a model that predicts none: no comparison
	wins := hold_pos >= 2
			AND (m_new->>'log_loss')::float8 <= (m_act->>'log_loss')::float8
			AND (m_new->>'recall_at_10pct_cost')::float8 >= (m_act->>'recall_at_10pct_cost')::float8 - 0.01;
	why := CASE WHEN wins THEN 'not worse than model ' || act.model_id || ' on the held-out checks: active'
				WHEN hold_pos < 2 THEN 'only ' || hold_pos || ' diverged check(s) held out, too few to compare with model '
									   || act.model_id || ': kept as a candidate'
				ELSE 'worse than model ' || act.model_id || ' on the held-out checks: kept as a candidate' END;
	INSERT INTO tieredlog.model (state, algo, feature_names, coef, lambda, n_rows, n_pos, metrics, note)
	VALUES ('candidate', 'irls', tieredlog.feature_names(), coef, lambda, cardinality(train_ids), train_pos,
			jsonb_build_object('holdout', m_new, 'active_on_holdout', m_act, 'active_model', act.model_id),
			why)
	RETURNING model_id INTO new_id;
	IF wins THEN
		UPDATE tieredlog.model SET state = 'retired' WHERE state = 'active';
		UPDATE tieredlog.model SET state = 'active' WHERE model_id = new_id;
	END IF;
	RETURN new_id;
END $$;

-- restores and recovery ---------------------------------------------------------------------------

