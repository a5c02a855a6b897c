-- ---- sql/install/50_model.sql: the logistic model, peers' statistics, models and their features, the prior
-- L2-regularised logistic regression by IRLS: coefficients on the scale of x, intercept first.
-- lambda penalises the standardised coefficients (not the intercept); rows with a NULL or a
-- non-finite value are skipped.
CREATE FUNCTION tieredlog._logistic_accum(internal, float8[], boolean)
	RETURNS internal AS 'MODULE_PATHNAME', 'tieredlog_logistic_accum' LANGUAGE C CALLED ON NULL INPUT;
CREATE FUNCTION tieredlog._logistic_accum(internal, float8[], boolean, float8)
	RETURNS internal AS 'MODULE_PATHNAME', 'tieredlog_logistic_accum' LANGUAGE C CALLED ON NULL INPUT;
CREATE FUNCTION tieredlog._logistic_accum(internal, float8[], boolean, float8, float8, float8[])
	RETURNS internal AS 'MODULE_PATHNAME', 'tieredlog_logistic_accum' LANGUAGE C CALLED ON NULL INPUT;
CREATE FUNCTION tieredlog._logistic_final(internal)
	RETURNS float8[] AS 'MODULE_PATHNAME', 'tieredlog_logistic_final' LANGUAGE C CALLED ON NULL INPUT;
CREATE AGGREGATE tieredlog.logistic_fit(x float8[], y boolean) (
	SFUNC = tieredlog._logistic_accum, STYPE = internal, FINALFUNC = tieredlog._logistic_final);
CREATE AGGREGATE tieredlog.logistic_fit(x float8[], y boolean, lambda float8) (
	SFUNC = tieredlog._logistic_accum, STYPE = internal, FINALFUNC = tieredlog._logistic_final);
-- ... with row weights and a prior to shrink towards (coefficients on the scale of x, intercept first)
CREATE AGGREGATE tieredlog.logistic_fit(x float8[], y boolean, lambda float8, weight float8, prior float8[]) (
	SFUNC = tieredlog._logistic_accum, STYPE = internal, FINALFUNC = tieredlog._logistic_final);
-- The probability a model with these coefficients (intercept first) gives x.
CREATE FUNCTION tieredlog.logistic_predict(coef float8[], x float8[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'tieredlog_logistic_predict' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- Peers' access statistics (their access_history rows, gathered by the worker: peer_stats.c);
-- sampled_at is the peer's clock.
CREATE TABLE tieredlog.peer_access (
	peer_name			text COLLATE "C" NOT NULL,
	log_name			text COLLATE "C" NOT NULL,
	range_start			timestamptz NOT NULL,
	local_writes		bigint NOT NULL,
	remote_writes		bigint NOT NULL,
	reads				bigint NOT NULL,
	sampled_at			timestamptz NOT NULL,
	unstreamed_writes	bigint NOT NULL DEFAULT 0,
	row_changes			bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (peer_name, log_name, range_start, sampled_at)
);
-- each peer's newest sample, and the expiry of old ones, at every statistics flush (peer_store.c)
CREATE INDEX peer_access_peer_sampled_at ON tieredlog.peer_access (peer_name, sampled_at);
CREATE INDEX peer_access_sampled_at ON tieredlog.peer_access (sampled_at);

-- The peer's side: this node's access_history rows newer than `since`, per segment. SECURITY
-- DEFINER: EXECUTE is what a peer's role is granted (README, Privileges), not the tables.
CREATE FUNCTION tieredlog._ae_access(since timestamptz)
	RETURNS TABLE(log_name text, range_start timestamptz, local_writes bigint, remote_writes bigint,
				  reads bigint, sampled_at timestamptz, unstreamed_writes bigint, row_changes bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
SELECT l.log_name::text, s.range_start, sum(h.local_writes)::bigint, sum(h.remote_writes)::bigint,
	   sum(h.reads)::bigint, h.sampled_at, sum(h.unstreamed_writes)::bigint, sum(h.row_changes)::bigint
  FROM tieredlog.access_history h
  JOIN tieredlog.segment s USING (segment_id)
  JOIN tieredlog.log l USING (log_id)
 WHERE h.sampled_at > since AND l.log_name <> '_seen'
 GROUP BY l.log_name, s.range_start, h.sampled_at
$$;

-- Models that score (segment, peer) pairs: the probability their digests differ. Coefficients
-- are on the scale of the features (intercept first). The hand-set prior (state 'prior', model 1)
-- scores while no trained model is active; train_model() activates a model only when it is not
-- worse on held-out checks. pg_dump saves the trained ones (the install script adds the prior).
CREATE TABLE tieredlog.model (
	model_id			bigserial PRIMARY KEY,
	created_at			timestamptz NOT NULL DEFAULT now(),
	state				text NOT NULL CHECK (state IN ('prior', 'active', 'candidate', 'retired')),
	algo				text NOT NULL,
	feature_names		text[] NOT NULL,
	coef				float8[] NOT NULL,
	lambda				float8,
	n_rows				bigint,
	n_pos				bigint,
	metrics				jsonb,
	note				text
);
CREATE UNIQUE INDEX model_one_active ON tieredlog.model ((true)) WHERE state = 'active';

-- The features of a (segment, peer) pair, in this order (README, Prediction).
CREATE FUNCTION tieredlog.feature_names() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT ARRAY['ln_local_writes', 'ln_remote_writes', 'ln_conflicts', 'ln_lag_seconds', 'gap_overlap',
			 'ln_hours_since_check', 'ln_past_divergences', 'tier1', 'tier2', 'ln_age_hours',
			 'ln_records', 'peer_error', 'ln_peer_writes', 'ln_unstreamed_writes', 'ln_peer_unstreamed_writes',
			 'ln_row_changes', 'ln_peer_row_changes', 'diverged_with_other_peer']
$$;

-- The prior: writes, conflicts, lag, gaps, time since the last check and past divergence raise
-- the risk; colder tiers and older segments lower it. Writes streaming skipped, rows deleted or
-- updated in an append-only segment, and a divergence just found with another peer are direct
-- signs of a difference.
INSERT INTO tieredlog.model (state, algo, feature_names, coef, note)
VALUES ('prior', 'prior', tieredlog.feature_names(),
		ARRAY[-5.0, 0.25, 0.25, 0.8, 0.6, 3.0, 0.5, 1.0, -0.3, -0.8, -0.2, 0.05, 1.5, 0.25,
			  1.5, 1.5, 1.5, 1.5, 2.0],
		'hand-set prior: scores until enough checks are labelled');

