-- logistic_fit: L2-regularised logistic regression by IRLS, checked against a published fit,
-- a closed form, and bad input.
\set VERBOSITY default

-- MADlib's logistic regression example ("patients": a second heart attack within a year, by
-- treatment and trait anxiety). Published IRLS result: coef = [-6.36346994178187,
-- -1.02410605239327, 0.119044916668606], log-likelihood -9.41018298389, 5 iterations.
CREATE TABLE patients (id int, second_attack int, treatment int, trait_anxiety int);
INSERT INTO patients VALUES
	(1, 1, 1, 70), (2, 1, 1, 80), (3, 1, 1, 50), (4, 1, 0, 60), (5, 1, 0, 40),
	(6, 1, 0, 65), (7, 1, 0, 75), (8, 1, 0, 80), (9, 1, 0, 70), (10, 1, 0, 60),
	(11, 0, 1, 65), (12, 0, 1, 50), (13, 0, 1, 45), (14, 0, 1, 35), (15, 0, 1, 40),
	(16, 0, 1, 50), (17, 0, 0, 55), (18, 0, 0, 45), (19, 0, 0, 50), (20, 0, 0, 60);
SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety]::float8[], second_attack = 1) AS coef
  FROM patients \gset
SELECT abs(c[1] - -6.36346994178187) < 1e-6 AS intercept_matches,
	   abs(c[2] - -1.02410605239327) < 1e-6 AS treatment_matches,
	   abs(c[3] - 0.119044916668606) < 1e-6 AS anxiety_matches
  FROM (SELECT :'coef'::float8[] AS c) m;
-- the log-likelihood at the fit, from the predictions
SELECT abs(sum(CASE WHEN second_attack = 1 THEN ln(p) ELSE ln(1 - p) END) - -9.41018298389) < 1e-6 AS loglik_matches
  FROM (SELECT second_attack, tieredlog.logistic_predict(:'coef', ARRAY[treatment, trait_anxiety]::float8[]) AS p
		  FROM patients) q;
-- MADlib's published probabilities for patients 1, 14 and 17
SELECT id, round(tieredlog.logistic_predict(:'coef', ARRAY[treatment, trait_anxiety]::float8[])::numeric, 6) AS p
  FROM patients WHERE id IN (1, 14, 17) ORDER BY id;

-- A single binary feature has a closed form: intercept = log odds when x = 0, slope = log odds ratio.
-- 30 of 40 positive with x = 1, 10 of 50 with x = 0.
CREATE TABLE two_by_two AS
SELECT x::float8, i <= CASE WHEN x = 1 THEN 30 ELSE 10 END AS y
  FROM generate_series(0, 1) x, generate_series(1, 50) i WHERE x = 0 OR i <= 40;
SELECT abs(c[1] - ln(10.0 / 40)) < 1e-9 AS intercept_is_log_odds,
	   abs(c[2] - (ln(30.0 / 10) - ln(10.0 / 40))) < 1e-9 AS slope_is_log_odds_ratio
  FROM (SELECT tieredlog.logistic_fit(ARRAY[x], y) AS c FROM two_by_two) f;

-- lambda shrinks the coefficients towards 0, never the intercept alone
SELECT abs(l.c[3]) < abs(u.c[3]) AS anxiety_shrinks, abs(l.c[2]) < abs(u.c[2]) AS treatment_shrinks
  FROM (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety]::float8[], second_attack = 1, 5.0) AS c FROM patients) l,
	   (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety]::float8[], second_attack = 1) AS c FROM patients) u;
-- a huge lambda leaves only the intercept: the overall log odds (10 of 20)
SELECT abs(c[1]) < 1e-3 AS intercept_is_overall_log_odds, abs(c[2]) < 1e-3 AND abs(c[3]) < 1e-3 AS slopes_vanish
  FROM (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety]::float8[], second_attack = 1, 1e9) AS c FROM patients) f;

-- a constant feature gets 0; scaling a feature scales its coefficient inversely
SELECT c[4] AS constant_feature_coef, abs(c[3] - 0.119044916668606) < 1e-6 AS others_unchanged
  FROM (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety, 7]::float8[], second_attack = 1) AS c FROM patients) f;
-- with a prior, a constant feature keeps the prior's coefficient (the rows say nothing about it),
-- and the intercept absorbs it where the rows have it: the other coefficients are as without it
SELECT c[4] AS constant_keeps_prior, abs(c[1] + 2.5 * 7 - f2.c2[1]) < 1e-6 AS intercept_absorbs_it,
	   abs(c[2] - f2.c2[2]) < 1e-6 AND abs(c[3] - f2.c2[3]) < 1e-6 AS others_as_without_it
  FROM (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety, 7]::float8[], second_attack = 1, 1.0, 1.0,
									   ARRAY[0, 0.1, 0.01, 2.5]) AS c FROM patients) f,
	   (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety]::float8[], second_attack = 1, 1.0, 1.0,
									   ARRAY[0, 0.1, 0.01]) AS c2 FROM patients) f2;
SELECT abs(c[3] * 1000 - 0.119044916668606) < 1e-6 AS scale_invariant
  FROM (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety * 1000]::float8[], second_attack = 1) AS c FROM patients) f;

-- rows with NULL or non-finite values are skipped; no rows: NULL
SELECT abs(c[3] - 0.119044916668606) < 1e-6 AS skips_bad_rows
  FROM (SELECT tieredlog.logistic_fit(x, y) AS c FROM (
		SELECT ARRAY[treatment, trait_anxiety]::float8[] AS x, second_attack = 1 AS y FROM patients
		UNION ALL SELECT NULL, true UNION ALL SELECT ARRAY[1, 'NaN']::float8[], false
		UNION ALL SELECT ARRAY[1, 'Infinity']::float8[], true UNION ALL SELECT ARRAY[1, NULL]::float8[], true
		UNION ALL SELECT ARRAY[1, 2]::float8[], NULL) r) f;
SELECT tieredlog.logistic_fit(ARRAY[1.0]::float8[], true) FILTER (WHERE false) AS no_rows;

-- separable classes: no finite fit without lambda (a warning), a finite one with it
SELECT c[2] > 5 AS slope_runs_away FROM (SELECT tieredlog.logistic_fit(ARRAY[x::float8], x > 5) AS c FROM generate_series(1, 10) x) f;
SELECT abs(c[2]) < 5 AS finite_with_lambda FROM (SELECT tieredlog.logistic_fit(ARRAY[x::float8], x > 5, 1.0) AS c FROM generate_series(1, 10) x) f;

-- bad input
SELECT tieredlog.logistic_fit(x, true) FROM (VALUES (ARRAY[1.0, 2.0]::float8[]), (ARRAY[1.0]::float8[])) v(x);
SELECT tieredlog.logistic_fit(ARRAY[1.0]::float8[], true, -1);
SELECT tieredlog.logistic_fit(ARRAY[1.0]::float8[], true, 'NaN');
SELECT tieredlog.logistic_fit(ARRAY[[1.0, 2.0]]::float8[], true);
SELECT tieredlog.logistic_fit(ARRAY[1.0]::float8[], true, l) FROM (VALUES (1.0), (2.0)) v(l);
SELECT tieredlog.logistic_predict(ARRAY[1.0, 2.0], ARRAY[1.0, 2.0]);
SELECT tieredlog.logistic_predict(ARRAY[0.0, 1.0], ARRAY[NULL]::float8[]) IS NULL AS null_in_null_out;
SELECT round(tieredlog.logistic_predict(ARRAY[0.0, 1.0], ARRAY[800.0])::numeric, 6) AS no_overflow_high,
	   round(tieredlog.logistic_predict(ARRAY[0.0, 1.0], ARRAY[-800.0])::numeric, 6) AS no_overflow_low;

-- weights: a row of weight 3 counts as the same row three times
SELECT abs(w.c[1] - d.c[1]) < 1e-8 AND abs(w.c[2] - d.c[2]) < 1e-8 AND abs(w.c[3] - d.c[3]) < 1e-8 AS weight_is_repetition
  FROM (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety]::float8[], second_attack = 1, 0,
									  CASE WHEN id <= 3 THEN 3 ELSE 1 END, NULL) AS c FROM patients) w,
	   (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety]::float8[], second_attack = 1) AS c
		  FROM patients, generate_series(1, 3) k WHERE k = 1 OR id <= 3) d;
-- a prior: a huge lambda pins the slopes to it (the intercept stays free); lambda 0 ignores it
SELECT abs(c[2] - 0.5) < 1e-4 AND abs(c[3] - -0.01) < 1e-4 AS slopes_pinned_to_prior
  FROM (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety]::float8[], second_attack = 1, 1e9, 1,
									  ARRAY[0, 0.5, -0.01]) AS c FROM patients) f;
SELECT abs(c[3] - 0.119044916668606) < 1e-6 AS prior_ignored_without_lambda
  FROM (SELECT tieredlog.logistic_fit(ARRAY[treatment, trait_anxiety]::float8[], second_attack = 1, 0, 1,
									  ARRAY[0, 0.5, -0.01]) AS c FROM patients) f;
SELECT tieredlog.logistic_fit(ARRAY[1.0]::float8[], true, 0, -1, NULL);
SELECT tieredlog.logistic_fit(ARRAY[1.0]::float8[], true, 0, 1, ARRAY[1.0]);

-- the prediction model: the hand-set prior scores (no trained model is active); a single node has no pair to score
SELECT model_id, state, algo, cardinality(coef) = cardinality(feature_names) + 1 AS coef_fits_features
  FROM tieredlog.models;
SELECT count(*) AS pairs FROM tieredlog.schedule;
SELECT tieredlog.train_model();
SELECT tieredlog.predict(NULL);
SELECT tieredlog.predict(-1);
