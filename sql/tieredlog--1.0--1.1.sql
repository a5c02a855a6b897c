-- tieredlog 1.0 -> 1.1 (ALTER EXTENSION tieredlog UPDATE TO '1.1'). Every change here is also in
-- tieredlog--1.1.sql; test/t/020_catalogs.pl checks that a fresh 1.1 and an updated 1.0 have the
-- same objects with the same definitions.
\echo Use "ALTER EXTENSION tieredlog UPDATE TO '1.1'" to load this file. \quit


-- Backup and restore (issue 18): the install script no longer leaves rows that a restore brings
-- again, and pg_dump saves everything that is not this server's own bookkeeping.

-- tiers never mapped have no row (their segments are in pg_default)
DELETE FROM tieredlog.tier WHERE tablespace = 'pg_default';
SELECT pg_catalog.pg_extension_config_dump('tieredlog.log', 'WHERE log_name <> ''_seen''');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.move', 'WHERE state = ''done''');	-- a pending drop's snapshot horizon is this system's
-- Issue 17: digest cells are UNLOGGED (an append writes no WAL for them, logical decoding reads
-- none); after a crash the database worker rebuilds them from the rows, and until then a digest is
-- computed from the rows. The views read a segment's totals through segment_totals(), which knows.
-- (an unlogged table cannot be in a publication: say which and what to do, rather than fail on SET UNLOGGED)
DO $$
DECLARE
	pubs text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p.pubname), ', ' ORDER BY p.pubname) INTO pubs
	  FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid
	 WHERE r.prrelid = 'tieredlog.digest_cell'::pg_catalog.regclass;
	IF pubs IS NOT NULL THEN
		RAISE EXCEPTION 'tieredlog.digest_cell is in publication(s) %', pubs
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Version 1.1 makes the digest cells unlogged: they are this node''s own counters, rebuilt from the rows after a crash, and never replicated. An unlogged table cannot be published.',
				  HINT = 'Remove it (ALTER PUBLICATION ... DROP TABLE tieredlog.digest_cell), then run ALTER EXTENSION tieredlog UPDATE again.';
	END IF;
END $$;
ALTER TABLE tieredlog.digest_cell SET UNLOGGED;
CREATE UNLOGGED TABLE tieredlog.digest_intact (intact boolean PRIMARY KEY CHECK (intact));
CREATE UNLOGGED TABLE tieredlog.digest_rebuilt (segment_id bigint PRIMARY KEY);
REVOKE ALL ON TABLE tieredlog.digest_intact, tieredlog.digest_rebuilt FROM PUBLIC;
CREATE FUNCTION tieredlog.segment_totals(segment_id bigint, OUT records bigint, OUT logical_bytes bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_segment_totals' LANGUAGE C STRICT STABLE;
-- answers only a role that may read a view showing it (api/digests.c): the views call it with the
-- reader's rights
GRANT EXECUTE ON FUNCTION tieredlog.segment_totals(bigint) TO PUBLIC;

CREATE OR REPLACE VIEW tieredlog.segments AS
SELECT s.segment_id, l.log_name, s.range_start, s.range_end, s.state, s.tier, t.tablespace,
	   COALESCE(d.records, 0)::bigint AS records,
	   COALESCE(d.logical_bytes, 0)::bigint AS logical_bytes,
	   tieredlog.segment_stored_bytes(s.segment_id) AS stored_bytes,
	   tieredlog.segment_digest(s.segment_id) AS digest,
	   s.relname AS relation,
	   s.sealed_at, s.moved_at, s.scrubbed_at,
	   encode(s.seal_root, 'hex') AS seal_root,
	   COALESCE(k.conflicts, 0)::bigint AS conflicts,
	   -- until the prediction model exists: the observed share of the segment's records in conflict
	   CASE WHEN COALESCE(d.records, 0) = 0 THEN 0
			ELSE least(1.0, 2.0 * COALESCE(k.conflicts, 0) / d.records)::float8 END AS conflict_score,
	   pg_catalog.pg_size_pretty(tieredlog.segment_stored_bytes(s.segment_id)) AS stored_size
  FROM tieredlog.segment s
  JOIN tieredlog.log l USING (log_id)
  JOIN (SELECT g.tier, COALESCE(m.tablespace, 'pg_default'::name) AS tablespace
		  FROM generate_series(0, 2) g(tier) LEFT JOIN tieredlog.tier m ON m.tier = g.tier) t USING (tier)
  CROSS JOIN LATERAL tieredlog.segment_totals(s.segment_id) d
  LEFT JOIN LATERAL (SELECT count(*) AS conflicts FROM tieredlog.conflict c
					  WHERE c.log_name = l.log_name AND greatest(c.ts_a, c.ts_b) >= s.range_start
						AND greatest(c.ts_a, c.ts_b) < s.range_end) k ON true;

CREATE OR REPLACE VIEW tieredlog.tiers AS
SELECT t.tier, t.tablespace,
	   count(s.segment_id)::bigint AS segments,
	   COALESCE(sum(s.records), 0)::bigint AS records,
	   COALESCE(sum(s.logical_bytes), 0)::bigint AS logical_bytes,
	   COALESCE(sum(s.stored_bytes), 0)::bigint AS stored_bytes,
	   pg_catalog.pg_size_pretty(COALESCE(sum(s.logical_bytes), 0)) AS logical_size,
	   pg_catalog.pg_size_pretty(COALESCE(sum(s.stored_bytes), 0)) AS stored_size
  FROM (SELECT g.tier, COALESCE(m.tablespace, 'pg_default'::name) AS tablespace
		  FROM generate_series(0, 2) g(tier) LEFT JOIN tieredlog.tier m ON m.tier = g.tier) t
  LEFT JOIN tieredlog.segments s USING (tier)
 GROUP BY t.tier, t.tablespace;

-- the prior is a state of its own: it scores while no trained model is active, and is not dumped
ALTER TABLE tieredlog.model DROP CONSTRAINT model_state_check,
	ADD CONSTRAINT model_state_check CHECK (state IN ('prior', 'active', 'candidate', 'retired'));
UPDATE tieredlog.model SET state = 'prior' WHERE algo = 'prior';
CREATE OR REPLACE FUNCTION tieredlog._active_model(OUT model_id bigint, OUT coef float8[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
SELECT model_id, coef FROM tieredlog.model WHERE state IN ('active', 'prior')
 ORDER BY state = 'active' DESC, model_id LIMIT 1
$$;

CREATE OR REPLACE FUNCTION tieredlog.train_model(lambda float8 DEFAULT 1.0, min_examples integer DEFAULT 50,
									  min_positives integer DEFAULT 5) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
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

-- a peer's owner by name, so that a dump restores it to the same role (the view that shows it is
-- replaced around the change, not dropped: privileges granted on it stay)
CREATE OR REPLACE VIEW tieredlog.peers AS
SELECT p.peer_name, p.node_name, tieredlog._mask_conninfo(p.conninfo) AS conninfo,
	   COALESCE(a.state, CASE WHEN p.enabled THEN 'starting' ELSE 'disabled' END) AS state,
	   p.slot_name, a.pid,
	   CASE WHEN a.received_lsn IS NULL THEN NULL
			ELSE GREATEST(a.received_lsn - COALESCE(a.applied_lsn, '0/0'::pg_lsn), 0)::bigint END AS lag_bytes,
	   CASE WHEN a.received_lsn IS NULL THEN NULL
			WHEN a.applied_lsn IS NOT NULL AND a.applied_lsn >= a.received_lsn THEN 0
			ELSE extract(epoch FROM now() - COALESCE(a.applied_commit_time, p.created_at)) END AS lag_seconds,
	   a.last_contact, COALESCE(a.records_applied, 0) AS records_applied,
	   COALESCE(a.records_skipped, 0) AS records_skipped, a.last_error, a.last_error_at, p.created_at,
	   NULL::name AS owner, p.peer_role
  FROM tieredlog.peer p
  LEFT JOIN tieredlog._apply_status() a USING (peer_id);
ALTER TABLE tieredlog.peer ALTER COLUMN owner TYPE regrole USING owner::regrole;
-- Peers and how far behind each is: lag_bytes is the peer's WAL not yet applied here (as of the
-- peer's last report), lag_seconds the age of the newest applied remote commit while behind.
-- wal_retained_bytes is the WAL this node keeps for the peer (its slot here, the one named after
-- the peer's node), wal_keep_fraction that as a share of max_slot_wal_keep_size (NULL when
-- unlimited), wal_state 'ok', 'warning' (80 % or more), 'critical' (beyond it: the next
-- checkpoint invalidates the slot), 'lost' (invalidated: the peer records a gap when it returns)
-- or NULL (no slot of the peer here).
CREATE OR REPLACE VIEW tieredlog.peers AS
SELECT p.peer_name, p.node_name, tieredlog._mask_conninfo(p.conninfo) AS conninfo,
	   COALESCE(a.state, CASE WHEN p.enabled THEN 'starting' ELSE 'disabled' END) AS state,
	   p.slot_name, a.pid,
	   CASE WHEN a.received_lsn IS NULL THEN NULL
			ELSE GREATEST(a.received_lsn - COALESCE(a.applied_lsn, '0/0'::pg_lsn), 0)::bigint END AS lag_bytes,
	   CASE WHEN a.received_lsn IS NULL THEN NULL
			WHEN a.applied_lsn IS NOT NULL AND a.applied_lsn >= a.received_lsn THEN 0
			ELSE extract(epoch FROM now() - COALESCE(a.applied_commit_time, p.created_at)) END AS lag_seconds,
	   a.last_contact, COALESCE(a.records_applied, 0) AS records_applied,
	   COALESCE(a.records_skipped, 0) AS records_skipped, a.last_error, a.last_error_at, p.created_at,
	   pg_catalog.pg_get_userbyid(p.owner) AS owner, p.peer_role,
	   w.retained AS wal_retained_bytes,
	   CASE WHEN w.keep > 0 THEN w.retained::float8 / w.keep END AS wal_keep_fraction,
	   CASE WHEN w.slots = 0 THEN NULL
			WHEN w.lost THEN 'lost'
			WHEN w.unreserved THEN 'critical'
			WHEN w.keep > 0 AND w.retained >= 0.8 * w.keep THEN 'warning'
			ELSE 'ok' END AS wal_state
  FROM tieredlog.peer p
  LEFT JOIN tieredlog._apply_status() a USING (peer_id)
  -- the peer's slot here is tieredlog_<12 hex>_<its node name, lower case, other than a-z0-9 as _>
  CROSS JOIN LATERAL (
	SELECT count(*) AS slots,
		   max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn))::bigint AS retained,
		   COALESCE(bool_or(s.wal_status = 'lost'), false) AS lost,
		   COALESCE(bool_or(s.wal_status = 'unreserved'), false) AS unreserved,
		   pg_catalog.pg_size_bytes(pg_catalog.current_setting('max_slot_wal_keep_size')) AS keep
	  FROM pg_catalog.pg_replication_slots s
	 WHERE s.plugin = 'tieredlog' AND s.database = pg_catalog.current_database()
	   AND s.slot_name::text ~ '^tieredlog_[0-9a-f]{12}_'
	   AND pg_catalog.substr(s.slot_name::text, 24) =
		   pg_catalog.left(pg_catalog.regexp_replace(pg_catalog.lower(p.node_name), '[^a-z0-9]', '_', 'g'), 40)) w;

-- Limits (issue 19): status() says when the WAL kept for a peer nears max_slot_wal_keep_size
-- One row: this node, its tiers, its worker, its peers and what waits for attention. Later versions
-- add pending checks and conflicts. last_error is the worker's last error, unless the WAL this
-- node keeps for a peer nears max_slot_wal_keep_size or its slot was lost (peers view: wal_state).
-- SECURITY DEFINER: EXECUTE is what a reader is granted (README, Privileges), not the tables and
-- views it summarises; it shows only this database's worker, no conninfo.
CREATE OR REPLACE FUNCTION tieredlog.status(
	OUT node_name text, OUT logs bigint, OUT segments bigint, OUT open_segments bigint,
	OUT sealed_segments bigint, OUT reopened_segments bigint, OUT tiers jsonb,
	OUT worker_pid integer, OUT worker_state text, OUT worker_task text, OUT tasks_queued integer,
	OUT last_cycle_at timestamptz, OUT tasks_failed bigint, OUT last_error text,
	OUT moves_in_flight bigint, OUT stats_entries bigint, OUT stats_capacity bigint,
	OUT stats_evicted bigint, OUT peers bigint, OUT peers_streaming bigint, OUT max_lag_bytes bigint,
	OUT max_lag_seconds float8, OUT open_gaps bigint, OUT quarantined bigint,
	OUT conflicts_pending bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT tieredlog.node_name(),
	   (SELECT count(*) FROM tieredlog.log),
	   (SELECT count(*) FROM tieredlog.segment),
	   (SELECT count(*) FROM tieredlog.segment WHERE state = 'open'),
	   (SELECT count(*) FROM tieredlog.segment WHERE state = 'sealed'),
	   (SELECT count(*) FROM tieredlog.segment WHERE state = 'reopened'),
	   (SELECT jsonb_agg(jsonb_build_object('tier', t.tier, 'tablespace', t.tablespace,
											'segments', t.segments, 'records', t.records,
											'logical_bytes', t.logical_bytes,
											'stored_bytes', t.stored_bytes) ORDER BY t.tier)
		  FROM tieredlog.tiers t),
	   w.pid, COALESCE(w.state, 'not running'), w.task, w.queued, w.last_cycle_at, w.tasks_failed,
	   COALESCE((SELECT string_agg(CASE p.wal_state
					WHEN 'lost' THEN format('the slot of peer "%s" here was lost (max_slot_wal_keep_size); the peer records a gap when it returns', p.peer_name)
					ELSE format('WAL kept for peer "%s": %s, %s%% of max_slot_wal_keep_size (%s)%s', p.peer_name,
								pg_size_pretty(p.wal_retained_bytes), round(100 * p.wal_keep_fraction),
								current_setting('max_slot_wal_keep_size'),
								CASE p.wal_state WHEN 'critical' THEN '; the next checkpoint invalidates the slot'
									 ELSE '; bring the peer back, drop_peer() on it, or raise max_slot_wal_keep_size' END) END,
					'; ' ORDER BY p.peer_name)
				   FROM tieredlog.peers p WHERE p.wal_state IN ('warning', 'critical', 'lost')),
				w.last_error),
	   (SELECT count(*) FROM tieredlog._progress() p WHERE p.operation = 'move'),
	   u.entries, u.capacity, u.evicted,
	   (SELECT count(*) FROM tieredlog.peers),
	   (SELECT count(*) FROM tieredlog.peers p WHERE p.state = 'streaming'),
	   (SELECT max(p.lag_bytes) FROM tieredlog.peers p),
	   (SELECT max(p.lag_seconds) FROM tieredlog.peers p),
	   (SELECT count(*) FROM tieredlog.gap g WHERE g.closed_at IS NULL),
	   (SELECT count(*) FROM tieredlog.quarantine q WHERE q.resolved_at IS NULL),
	   (SELECT count(*) FROM tieredlog.conflict c WHERE c.status = 'pending')
  FROM tieredlog._stat_usage() u
  LEFT JOIN tieredlog._workers() w ON w.datid = (SELECT oid FROM pg_database WHERE datname = current_database());
$$;

-- restores and recovery ---------------------------------------------------------------------------

-- Where this data last ran as its node (node.c): a restore elsewhere, or from a base backup, or
-- to a point in time, is found by comparing this row with the running server. While `hold` is
-- set, local appends are refused ('recovering': until every enabled peer has been reconciled,
-- which brings this node's own records back) or nothing runs ('restored': until
-- finish_restore()). The first create_log(), add_peer(), set_tier() or append writes the row.
CREATE TABLE tieredlog.node_state (
	node_name			text NOT NULL,
	system_identifier	bigint NOT NULL,	-- pg_control_system()
	database_oid		oid NOT NULL,
	timeline			integer NOT NULL,
	checked_at			timestamptz NOT NULL,	-- the worker's last start that found it unchanged
	hold				text CHECK (hold IN ('recovering')),
	hold_reason			text,
	hold_since			timestamptz,
	reconciled_peers	text[] NOT NULL DEFAULT '{}'	-- while recovering: peers reconciled since
);

-- The operator's word that a restore (pg_restore, psql) is complete: under the same node_name the
-- node recovers its own records from its peers; under another it becomes a new node and forgets
-- the original's peers (their slots are the original's).
CREATE FUNCTION tieredlog.finish_restore() RETURNS text
	AS 'MODULE_PATHNAME', 'tieredlog_finish_restore' LANGUAGE C VOLATILE;
-- 'recovering: why' or 'restored: why' while the node is held, NULL when it acts normally (the
-- worker's state in status() and workers says 'recovering' or 'held' meanwhile).
CREATE FUNCTION tieredlog.node_hold() RETURNS text
	AS 'MODULE_PATHNAME', 'tieredlog_node_hold' LANGUAGE C VOLATILE;

-- an episode's lookup, the newest row of a key between two origins (conflict_store.c): within the
-- key, newest first; without it the plan walks the whole table backward through the primary key
CREATE INDEX conflict_key_recent ON tieredlog.conflict (log_name, key, conflict_id);
-- a log's conflicts by the time of their newer side: counted per segment (the segments view, the
-- scheduler's features); without it every segment read the whole table
CREATE INDEX conflict_log_time ON tieredlog.conflict (log_name, (greatest(ts_a, ts_b)));
-- the worker's retention pass finds settled conflicts past the retention without reading them all
CREATE INDEX conflict_resolved_at ON tieredlog.conflict (resolved_at);
-- the worker's retention pass (conflict_store.c) finds the old witnesses without reading them all
CREATE INDEX seen_stored_at ON tieredlog.seen (stored_at);
-- a segment's last access (upkeep_store.c, every worker cycle): one probe per segment
CREATE INDEX access_history_segment_last_access ON tieredlog.access_history (segment_id, last_access);
-- each peer's newest sample, and the expiry of old ones, at every statistics flush (peer_store.c)
CREATE INDEX peer_access_peer_sampled_at ON tieredlog.peer_access (peer_name, sampled_at);
CREATE INDEX peer_access_sampled_at ON tieredlog.peer_access (sampled_at);
-- a segment's past divergences (_pair_features, per segment and peer every check cycle) and the
-- checks left unfinished (_log_checks): without reading every check ever logged
CREATE INDEX check_log_diverged ON tieredlog.check_log (segment_id, decided_at) WHERE diverged;
CREATE INDEX check_log_unfinished ON tieredlog.check_log (decided_at) WHERE finished_at IS NULL;
-- the worker's pruning to tieredlog.check_retention finds the oldest finished checks first
CREATE INDEX check_log_finished ON tieredlog.check_log (decided_at) WHERE finished_at IS NOT NULL;
-- a peer's witness of a block (_ae_witness, per digest a peer gives) and verify()'s look for a
-- later quarantine or a dropped log (ledger_store.c): without reading the whole ledger
CREATE INDEX ledger_entry_witness ON tieredlog.ledger_entry ((body->>'node'), (body->>'block_id')) WHERE kind = 'WITNESS';
CREATE INDEX ledger_entry_log_kind ON tieredlog.ledger_entry (log_name, kind, entry_id) WHERE kind IN ('QUARANTINE', 'CONFIG');

-- What else pg_dump saves (README, Backup and restore); statistics baselines, task history and
-- the peers' access samples are this server's and start again.
SELECT pg_catalog.pg_extension_config_dump('tieredlog.node_state', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.conflict', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.conflict_conflict_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.seen', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.source_priority', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.gap', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.gap_gap_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.quarantine_quarantine_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.reconcile_log', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.reconcile_log_reconcile_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.model', 'WHERE state <> ''prior''');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.model_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.check_log', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.check_log_check_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.access_history', '');

-- a database in use runs here: claim it (its worker goes on working after the update); one that
-- holds nothing yet is claimed by its first use, as after a fresh CREATE EXTENSION
INSERT INTO tieredlog.node_state (node_name, system_identifier, database_oid, timeline, checked_at)
SELECT tieredlog.node_name(), c.system_identifier,
	   (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()),
	   k.timeline_id, pg_catalog.now()
  FROM pg_catalog.pg_control_system() c, pg_catalog.pg_control_checkpoint() k
 WHERE EXISTS (SELECT FROM tieredlog.log l WHERE l.log_name OPERATOR(pg_catalog.<>) '_seen')
	OR EXISTS (SELECT FROM tieredlog.peer) OR EXISTS (SELECT FROM tieredlog.tier);

REVOKE ALL ON TABLE tieredlog.node_state FROM PUBLIC;
REVOKE ALL ON FUNCTION tieredlog.finish_restore(), tieredlog.node_hold() FROM PUBLIC;

-- Operator experience (issue 22): human sizes next to raw bytes (segments, tiers above, slots),
-- status() as the extension's owner (a reader granted it needs no grant on tieredlog's tables),
-- and the health view.
CREATE OR REPLACE VIEW tieredlog.slots AS
SELECT s.slot_name, s.active, s.active_pid, s.wal_status, s.safe_wal_size,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint AS retained_bytes,
	   s.confirmed_flush_lsn,
	   pg_catalog.pg_size_pretty(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)) AS retained_size
  FROM pg_catalog.pg_replication_slots s
 WHERE s.plugin = 'tieredlog' AND s.database = current_database();
ALTER FUNCTION tieredlog.status() SECURITY DEFINER;

-- health ------------------------------------------------------------------------------------------
-- An operator's first query: one row per check (and per peer, slot), OK / WARN / CRIT with the
-- reason and what to look at next (README, Troubleshooting). Runs as the extension's owner (it
-- reads tieredlog's tables, the workers' shared memory and pg_replication_slots), shows counts,
-- ages, names and sizes only, and never connects to a peer nor recomputes a digest: verify() is
-- the integrity check to run on a schedule.
CREATE FUNCTION tieredlog.health_checks()
	RETURNS TABLE(check_name text, object text, status text, severity integer, reason text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET intervalstyle = 'postgres'		-- the reasons read the same in every session
SET datestyle = 'ISO, YMD'
AS $$
WITH w AS (
	SELECT w.* FROM tieredlog._workers() w
	 WHERE w.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
), settings AS (
	SELECT current_setting('tieredlog.naptime')::interval AS naptime,
		   current_setting('tieredlog.seal_grace')::interval AS seal_grace,
		   current_setting('tieredlog.ledger_interval')::interval AS ledger_interval,
		   pg_size_bytes(current_setting('max_slot_wal_keep_size')) AS max_keep
), checks AS (
	-- the worker of this database
	SELECT 'worker' AS check_name, current_database()::text AS object,
		   CASE WHEN w.pid IS NULL OR w.state IN ('failed', 'stopped', 'no worker slot', 'no extension') THEN 2
				WHEN w.state IN ('backoff', 'held', 'recovering') OR w.failures > 0
					 OR w.last_cycle_at < now() - greatest(10 * s.naptime, interval '1 minute') THEN 1
				ELSE 0 END AS severity,
		   CASE WHEN w.pid IS NULL THEN 'no worker runs for this database (is tieredlog in shared_preload_libraries? see SELECT * FROM tieredlog.workers)'
				WHEN w.state IN ('held', 'recovering') THEN 'worker ' || w.state || ': ' || COALESCE(tieredlog.node_hold(), 'held after a restore') || ' (README, Backup and restore)'
				WHEN w.state IN ('failed', 'stopped', 'no worker slot', 'no extension', 'backoff') OR w.failures > 0
					 THEN 'worker ' || w.state || COALESCE(', ' || w.failures || ' failed run(s) in a row', '')
						  || COALESCE(': ' || w.last_error, '')
						  || CASE WHEN w.state = 'no worker slot' THEN ' (raise max_worker_processes)' ELSE '' END
				WHEN w.last_cycle_at < now() - greatest(10 * s.naptime, interval '1 minute')
					 THEN 'worker ' || w.state || ', last cycle ' || date_trunc('second', now() - w.last_cycle_at) || ' ago'
				ELSE 'worker ' || w.state || COALESCE(', last cycle ' || date_trunc('second', now() - w.last_cycle_at) || ' ago', '') END AS reason
	  FROM settings s LEFT JOIN w ON true
	UNION ALL
	-- seals and moves that failed in the last hour
	SELECT 'tasks', NULL,
		   CASE WHEN count(*) > 0 THEN 1 ELSE 0 END,
		   CASE WHEN count(*) = 0 THEN 'no seal or move failed in the last hour'
				ELSE count(*) || ' seal(s)/move(s) failed in the last hour, last: '
					 || (array_agg(h.task || ' of ' || COALESCE(l.log_name || ' segment ' || h.segment_id, 'segment ' || h.segment_id)
								   || ': ' || COALESCE(h.detail, '?') ORDER BY h.finished_at DESC))[1]
					 || ' (SELECT * FROM tieredlog.task_history WHERE status = ''failed'')' END
	  FROM tieredlog.task_history h
	  LEFT JOIN tieredlog.segment sg ON sg.segment_id = h.segment_id
	  LEFT JOIN tieredlog.log l ON l.log_id = sg.log_id
	 WHERE h.status = 'failed' AND h.finished_at > now() - interval '1 hour'
	UNION ALL
	-- segments whose window and seal_grace have passed and that are still open
	SELECT 'sealing', NULL,
		   CASE WHEN count(sg.segment_id) FILTER (WHERE sg.range_end + s.seal_grace < now() - greatest(10 * s.naptime, interval '5 minutes')) > 0 THEN 1 ELSE 0 END,
		   CASE WHEN count(sg.segment_id) = 0 THEN 'no segment waits to be sealed'
				ELSE count(sg.segment_id) || ' segment(s) past their window and tieredlog.seal_grace not sealed yet, oldest '
					 || (array_agg(l.log_name || ' ' || sg.range_start ORDER BY sg.range_end))[1] END
	  FROM settings s
	  LEFT JOIN tieredlog.segment sg ON sg.state IN ('open', 'reopened') AND sg.range_end + s.seal_grace < now()
	  LEFT JOIN tieredlog.log l ON l.log_id = sg.log_id
	 GROUP BY s.seal_grace, s.naptime
	UNION ALL
	-- each peer: its stream and its lag
	SELECT 'peer', p.peer_name,
		   CASE WHEN p.state = 'failed' OR p.lag_seconds > 3600 THEN 2
				WHEN p.state <> 'streaming' OR p.lag_seconds > 60 THEN 1 ELSE 0 END,
		   CASE WHEN NOT pe.enabled THEN 'paused, ' ELSE '' END || p.state
				  || CASE WHEN p.lag_bytes IS NOT NULL AND pe.enabled
						   THEN ', ' || pg_size_pretty(p.lag_bytes) || ' and ' || round(p.lag_seconds::numeric, 1) || ' s behind'
						   ELSE '' END
				  || CASE WHEN p.state <> 'streaming' AND p.last_error IS NOT NULL
						  THEN ': ' || p.last_error || ' (at ' || date_trunc('second', p.last_error_at) || ')' ELSE '' END
				  || CASE WHEN NOT pe.enabled THEN ' (set_peer_enabled(''' || p.peer_name || ''', true) resumes it)' ELSE '' END
	  FROM tieredlog.peers p JOIN tieredlog.peer pe ON pe.peer_name = p.peer_name
	UNION ALL
	-- slots peers stream from: WAL they hold back here
	SELECT 'slot', sl.slot_name,
		   CASE WHEN sl.wal_status IN ('unreserved', 'lost') THEN 2
				WHEN s.max_keep > 0 AND sl.retained_bytes > 0.8 * s.max_keep THEN 1
				WHEN NOT sl.active AND sl.retained_bytes > 1073741824 THEN 1 ELSE 0 END,
		   CASE WHEN sl.active THEN 'streaming' ELSE 'no peer streams from it' END
			   || ', holds ' || pg_size_pretty(sl.retained_bytes) || ' of WAL'
			   || CASE WHEN s.max_keep > 0 THEN ' (max_slot_wal_keep_size ' || pg_size_pretty(s.max_keep) || ')' ELSE '' END
			   || ', wal_status ' || COALESCE(sl.wal_status, '?')
			   || CASE WHEN sl.wal_status = 'lost' THEN ': the peer will be recorded as a gap and must be reconciled' ELSE '' END
	  FROM tieredlog.slots sl CROSS JOIN settings s
	UNION ALL
	-- records this node may have missed
	SELECT 'gaps', NULL,
		   CASE WHEN count(*) = 0 THEN 0 WHEN min(g.detected_at) < now() - interval '1 day' THEN 2 ELSE 1 END,
		   CASE WHEN count(*) = 0 THEN 'no open gap'
				ELSE count(*) || ' open gap(s) with ' || string_agg(DISTINCT g.peer_name, ', ')
					 || ', oldest detected ' || date_trunc('second', now() - min(g.detected_at)) || ' ago'
					 || ' (SELECT * FROM tieredlog.reconcile(peer_name => ...) closes them)' END
	  FROM tieredlog.gap g WHERE g.closed_at IS NULL
	UNION ALL
	-- conflicts waiting for a person
	SELECT 'conflicts', NULL,
		   CASE WHEN count(*) = 0 THEN 0 WHEN min(c.detected_at) < now() - interval '1 day' THEN 2 ELSE 1 END,
		   CASE WHEN count(*) = 0 THEN 'no conflict waits for a person'
				ELSE count(*) || ' conflict(s) wait for a person (' || string_agg(DISTINCT c.log_name, ', ')
					 || '), oldest ' || date_trunc('second', now() - min(c.detected_at)) || ' old'
					 || ' (SELECT * FROM tieredlog.conflicts WHERE status = ''pending''; resolve_conflict())' END
	  FROM tieredlog.conflict c WHERE c.status = 'pending'
	UNION ALL
	-- two contents for one record identity
	SELECT 'quarantine', NULL,
		   CASE WHEN count(*) = 0 THEN 0 ELSE 2 END,
		   CASE WHEN count(*) = 0 THEN 'no damaged or disputed record'
				ELSE count(*) || ' record(s) in quarantine (' || string_agg(DISTINCT q.log_name || ' via ' || q.via, ', ')
					 || ') (SELECT * FROM tieredlog.quarantine WHERE resolved_at IS NULL)' END
	  FROM tieredlog.quarantine q WHERE q.resolved_at IS NULL
	UNION ALL
	-- the ledger closes blocks
	SELECT 'ledger', NULL,
		   CASE WHEN min(e.created_at) < now() - greatest(10 * s.ledger_interval, interval '10 minutes') THEN 1 ELSE 0 END,
		   CASE WHEN count(e.entry_id) = 0 THEN 'every entry is in a block'
				ELSE count(e.entry_id) || ' ledger entries wait for a block, oldest '
					 || date_trunc('second', now() - min(e.created_at)) || ' old (tieredlog.ledger_interval '
					 || current_setting('tieredlog.ledger_interval') || ')' END
			  || COALESCE(', last block ' || (SELECT max(b.block_id) || ' closed ' || date_trunc('second', now() - max(b.closed_at)) || ' ago'
												FROM tieredlog.ledger_block b), '')
	  FROM settings s LEFT JOIN tieredlog.ledger_entry e ON e.block_id IS NULL
	 GROUP BY s.ledger_interval
	UNION ALL
	-- access statistics that did not fit
	SELECT 'statistics', NULL,
		   CASE WHEN u.evicted > 0 THEN 1 ELSE 0 END,
		   u.entries || ' of ' || u.capacity || ' access-statistics entries used'
			   || CASE WHEN u.evicted > 0 THEN ', ' || u.evicted || ' evicted (raise tieredlog.stats_max_segments)' ELSE '' END
	  FROM tieredlog._stat_usage() u
)
SELECT c.check_name, c.object, (ARRAY['OK', 'WARN', 'CRIT'])[c.severity + 1], c.severity, c.reason
  FROM checks c
$$;

-- The checks, the worst first.
CREATE VIEW tieredlog.health AS
SELECT h.check_name, h.object, h.status, h.reason, h.severity
  FROM tieredlog.health_checks() h
 ORDER BY h.severity DESC, h.check_name, h.object;

REVOKE ALL ON FUNCTION tieredlog.health_checks() FROM PUBLIC;
REVOKE ALL ON TABLE tieredlog.health FROM PUBLIC;

-- issue 21: per-frame key filters of the archive, driven directly (tests and fuzzing; fuzz.c)
CREATE FUNCTION tieredlog._frame_decode_key(raw bytea, key text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'tieredlog_frame_decode_key' LANGUAGE C STRICT IMMUTABLE;
CREATE FUNCTION tieredlog._key_filter_probe(filter bytea, key text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tieredlog_key_filter_probe' LANGUAGE C STRICT IMMUTABLE;
REVOKE ALL ON FUNCTION tieredlog._frame_decode_key(bytea, text), tieredlog._key_filter_probe(bytea, text) FROM PUBLIC;
-- issue 21: an archive frame's uncompressed bytes (TLF2, with the segment's dictionary), for fuzzing
CREATE FUNCTION tieredlog._archive_frame_raw(segment_id bigint, frame_no integer) RETURNS bytea
	AS 'MODULE_PATHNAME', 'tieredlog_archive_frame_raw' LANGUAGE C STRICT STABLE;
REVOKE ALL ON FUNCTION tieredlog._archive_frame_raw(bigint, integer) FROM PUBLIC;

-- issue 17: a segment's record count through segment_totals() (digest cells may be rebuilding)
CREATE OR REPLACE FUNCTION tieredlog._pair_features()
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

-- a peer's role reads this node's access statistics through _ae_access, not the tables
ALTER FUNCTION tieredlog._ae_access(timestamptz) SECURITY DEFINER;

-- The peer's log names, for a reconcile() of every log (SECURITY DEFINER, as _ae_access).
CREATE FUNCTION tieredlog._ae_logs() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
SELECT log_name::text FROM tieredlog.log ORDER BY log_name
$$;
REVOKE ALL ON FUNCTION tieredlog._ae_logs() FROM PUBLIC;

-- what the README grants readers, operators and peers works without grants on tieredlog's tables
-- or its own functions
ALTER FUNCTION tieredlog.train_model(float8, integer, integer) SECURITY DEFINER;
ALTER FUNCTION tieredlog.check_inclusion(jsonb, text) SECURITY DEFINER;
ALTER FUNCTION tieredlog._ae_seals(text) SECURITY DEFINER;
-- the views stat_segments and schedule work for their readers (the functions check who reads)
CREATE FUNCTION tieredlog._schedule()
	RETURNS TABLE(segment_id bigint, log_name text, range_start timestamptz, tier integer, peer_name text,
				  score float8, cost float8, reason text, due_at timestamptz)
	AS 'MODULE_PATHNAME', 'tieredlog_schedule' LANGUAGE C VOLATILE;
CREATE OR REPLACE VIEW tieredlog.schedule AS
SELECT segment_id, log_name, range_start, tier, peer_name, score, cost, reason, due_at
  FROM tieredlog._schedule();
GRANT EXECUTE ON FUNCTION tieredlog._stat_live(), tieredlog._schedule() TO PUBLIC;

-- A scheduled check skips a peer disabled or dropped after the plan (set_peer_enabled pauses a peer).
CREATE OR REPLACE FUNCTION tieredlog._run_check(p_check_id bigint) RETURNS boolean
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

-- Issue 21: the relation of a segment created from now on has a generation column and its index
-- is led by it (src/store/segrows.h); gen_base is where that segment's generations start.
-- Segments created before keep their relations (their gen_base stays NULL) until a move
-- rewrites them.
ALTER TABLE tieredlog.segment ADD COLUMN gen_base bigint;
