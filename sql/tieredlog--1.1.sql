-- tieredlog 1.1: append-only keyed logs with time-window segments and digests.
-- Everything lives in the fixed schema "tieredlog"; segment relations live in "tieredlog_data".
-- Only the functions in this file read or write the tables below: they are the extension's catalog.

\echo Use "CREATE EXTENSION tieredlog" to load this file. \quit

-- Refuse a schema someone else prepared. CREATE EXTENSION uses an existing schema "tieredlog"
-- as it finds it: a role that created it first would own tieredlog's catalog, and objects it
-- put there could be picked up by the statements below. So the schema must belong to the role
-- installing the extension, hold nothing yet, and grant nothing to anyone else. This runs before
-- anything is created in it, with every name qualified.
DO $check$
DECLARE
	nsp pg_catalog.oid;
	owner pg_catalog.name;
	objects pg_catalog.int8;
BEGIN
	SELECT n.oid, pg_catalog.pg_get_userbyid(n.nspowner) INTO nsp, owner
	  FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'tieredlog';
	IF owner OPERATOR(pg_catalog.<>) CURRENT_USER THEN
		RAISE EXCEPTION 'schema "tieredlog" already exists and belongs to role "%"', owner
			USING ERRCODE = 'duplicate_schema',
				  HINT = 'tieredlog installs into a schema of its own. Drop that schema, or check its contents and make the installing role its owner.';
	END IF;
	SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_opclass WHERE opcnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_statistic_ext WHERE stxnamespace OPERATOR(pg_catalog.=) nsp)
	  INTO objects;
	IF objects OPERATOR(pg_catalog.>) 0 THEN
		RAISE EXCEPTION 'schema "tieredlog" already holds % objects', objects
			USING ERRCODE = 'duplicate_schema',
				  HINT = 'tieredlog installs into an empty schema of its own.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
				WHERE n.oid OPERATOR(pg_catalog.=) nsp AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner) THEN
		RAISE EXCEPTION 'schema "tieredlog" grants privileges to other roles'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'REVOKE them before installing: tieredlog grants what each role needs itself.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) 'tieredlog_data') THEN
		RAISE EXCEPTION 'schema "tieredlog_data" already exists'
			USING ERRCODE = 'duplicate_schema',
				  HINT = 'tieredlog keeps its segment relations in a schema of its own; drop that one first.';
	END IF;
END
$check$;

-- Refuse to install where the library is not preloaded: the digests rely on its commit hooks.
CREATE FUNCTION tieredlog._require_preload() RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_require_preload' LANGUAGE C STRICT;
SELECT tieredlog._require_preload();

CREATE SCHEMA tieredlog_data;
COMMENT ON SCHEMA tieredlog_data IS 'relations holding the rows of tieredlog segments (one per tier 0/1 segment)';
REVOKE ALL ON SCHEMA tieredlog_data FROM PUBLIC;

-- Per-node record numbering: every record this node originates gets the next value.
CREATE SEQUENCE tieredlog.local_seq AS bigint NO CYCLE;

CREATE SEQUENCE tieredlog.log_id_seq AS integer NO CYCLE;
CREATE TABLE tieredlog.log (
	log_id				integer PRIMARY KEY,
	log_name			text COLLATE "C" NOT NULL UNIQUE,
	segment_interval	interval NOT NULL,
	conflict_rule		text NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT now(),
	resolver			regprocedure		-- the custom rule's function (set_conflict_rule)
) WITH (user_catalog_table = true);	-- the output plugin reads it (decoder.c)

CREATE SEQUENCE tieredlog.segment_id_seq AS bigint NO CYCLE;
CREATE TABLE tieredlog.segment (
	segment_id			bigint PRIMARY KEY,
	log_id				integer NOT NULL,
	range_start			timestamptz NOT NULL,
	range_end			timestamptz NOT NULL,
	state				text NOT NULL,
	tier				integer NOT NULL,
	relname				name,		-- row relation in tieredlog_data (tier 0/1; late rows of tier 2)
	archive_attempt		bigint,		-- frames of this attempt in the log's archive relation (tier 2)
	created_at			timestamptz NOT NULL DEFAULT now(),
	sealed_at			timestamptz,
	moved_at			timestamptz,
	scrubbed_at			timestamptz,	-- last time scrub() re-hashed its rows
	seal_root			bytea,		-- RFC 9162 Merkle root at the last seal (the ledger holds it too)
	seal_records		bigint,		-- records the last seal covered
	UNIQUE (log_id, range_start)
) WITH (user_catalog_table = true);	-- the output plugin reads it (decoder.c)

-- Moves between tiers. A move copies, verifies and flips the catalog in one transaction (so a
-- crash before its commit leaves the source as the only copy); the old copy is removed afterwards,
-- once no snapshot from before the flip remains and its lock can be taken without waiting.
CREATE SEQUENCE tieredlog.move_id_seq AS bigint NO CYCLE;
CREATE TABLE tieredlog.move (
	move_id				bigint PRIMARY KEY,
	segment_id			bigint NOT NULL,
	from_tier			integer NOT NULL,
	to_tier				integer NOT NULL,
	state				text NOT NULL CHECK (state IN ('flipped', 'done')),
	old_relname			name,		-- row relation to drop once unused
	old_attempt			bigint,		-- archive frames to delete once unused
	log_id				integer NOT NULL,
	rows_copied			bigint NOT NULL,
	bytes_before		bigint,
	bytes_after			bigint,
	started_at			timestamptz NOT NULL,
	flipped_at			timestamptz NOT NULL,
	move_xid			xid8 NOT NULL,	-- snapshots that cannot see this commit may read the old copy
	finished_at			timestamptz
);
CREATE INDEX move_pending ON tieredlog.move (state) WHERE state <> 'done';

-- Digest cells: the digest of a segment leaf is the sum of its cells. Appending transactions only
-- ever insert cells (one per touched leaf, at commit); compaction folds cells into one.
CREATE TABLE tieredlog.digest_cell (
	segment_id			bigint NOT NULL,
	leaf				smallint NOT NULL,
	n					bigint NOT NULL,
	sum_hi				bigint NOT NULL,
	sum_lo				bigint NOT NULL,
	bytes				bigint NOT NULL
);
CREATE INDEX digest_cell_segment_leaf ON tieredlog.digest_cell (segment_id, leaf);

CREATE TABLE tieredlog.tier (
	tier				integer PRIMARY KEY CHECK (tier BETWEEN 0 AND 2),
	tablespace			name NOT NULL
);
-- (a tier set_tier() never mapped has no row: its segments are in pg_default)

-- What pg_dump saves (README, Backup and restore). The install script leaves no row in these
-- tables that a restore would bring again: the internal log "_seen" is the only one it adds, and
-- it is left out of the dump.
SELECT pg_catalog.pg_extension_config_dump('tieredlog.log', 'WHERE log_name <> ''_seen''');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.segment', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.digest_cell', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.tier', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.move', 'WHERE state = ''done''');	-- a pending drop's snapshot horizon is this system's
SELECT pg_catalog.pg_extension_config_dump('tieredlog.move_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.local_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.segment_id_seq', '');

-- logs -------------------------------------------------------------------------------------------

CREATE FUNCTION tieredlog.create_log(log_name text, segment_interval interval DEFAULT '1 hour',
									 conflict_rule text DEFAULT 'last_writer_wins')
	RETURNS integer AS 'MODULE_PATHNAME', 'tieredlog_create_log' LANGUAGE C CALLED ON NULL INPUT;

CREATE FUNCTION tieredlog.drop_log(log_name text)
	RETURNS void AS 'MODULE_PATHNAME', 'tieredlog_drop_log' LANGUAGE C CALLED ON NULL INPUT;

-- writing and reading ----------------------------------------------------------------------------

CREATE FUNCTION tieredlog.append(log_name text, key text, payload jsonb, source text DEFAULT NULL,
								 ts timestamptz DEFAULT NULL)
	RETURNS bigint AS 'MODULE_PATHNAME', 'tieredlog_append' LANGUAGE C CALLED ON NULL INPUT
	VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION tieredlog.append_many(log_name text, keys text[], payloads jsonb[],
									  sources text[] DEFAULT NULL, ts timestamptz[] DEFAULT NULL)
	RETURNS bigint AS 'MODULE_PATHNAME', 'tieredlog_append_many' LANGUAGE C CALLED ON NULL INPUT
	VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION tieredlog.read(log_name text, from_ts timestamptz DEFAULT '-infinity',
							   to_ts timestamptz DEFAULT 'infinity', key text DEFAULT NULL)
	RETURNS TABLE(key text, payload jsonb, ts timestamptz, source text, origin text, seq bigint,
				  rid text, segment_id bigint, tier integer)
	AS 'MODULE_PATHNAME', 'tieredlog_read' LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL UNSAFE ROWS 1000;

CREATE FUNCTION tieredlog.latest(log_name text, key text)
	RETURNS TABLE(key text, payload jsonb, ts timestamptz, source text, origin text, seq bigint,
				  rid text, segment_id bigint, tier integer)
	AS 'MODULE_PATHNAME', 'tieredlog_latest' LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL UNSAFE ROWS 1;

-- digests and segments ---------------------------------------------------------------------------

-- The stored digest of a segment, as 'count:sum' (sum is 32 hex digits, mod 2^128).
CREATE FUNCTION tieredlog.segment_digest(segment_id bigint)
	RETURNS text AS 'MODULE_PATHNAME', 'tieredlog_segment_digest' LANGUAGE C STRICT STABLE;

-- The 256 leaves of a segment's stored digest (only non-empty leaves are returned).
CREATE FUNCTION tieredlog.segment_leaves(segment_id bigint)
	RETURNS TABLE(leaf integer, records bigint, digest text)
	AS 'MODULE_PATHNAME', 'tieredlog_segment_leaves' LANGUAGE C STRICT STABLE;

CREATE FUNCTION tieredlog.check_digests(log_name text DEFAULT NULL)
	RETURNS TABLE(segment_id bigint, ok boolean, stored text, recomputed text)
	AS 'MODULE_PATHNAME', 'tieredlog_check_digests' LANGUAGE C CALLED ON NULL INPUT STABLE;

-- Fold a segment's digest cells into one per leaf (the background worker also does this).
CREATE FUNCTION tieredlog.compact_digest(segment_id bigint)
	RETURNS bigint AS 'MODULE_PATHNAME', 'tieredlog_compact_digest' LANGUAGE C STRICT;

-- This node's identity and hybrid logical clock.
CREATE FUNCTION tieredlog.node_name()
	RETURNS text AS 'MODULE_PATHNAME', 'tieredlog_node_name' LANGUAGE C STABLE;
CREATE FUNCTION tieredlog.hlc_now()
	RETURNS timestamptz AS 'MODULE_PATHNAME', 'tieredlog_hlc_now' LANGUAGE C VOLATILE;

-- tiers, sealing, moves -------------------------------------------------------------------------

CREATE FUNCTION tieredlog.set_tier(tier integer, tablespace name)
	RETURNS void AS 'MODULE_PATHNAME', 'tieredlog_set_tier' LANGUAGE C CALLED ON NULL INPUT;

CREATE FUNCTION tieredlog.seal(segment_id bigint)
	RETURNS text AS 'MODULE_PATHNAME', 'tieredlog_seal' LANGUAGE C CALLED ON NULL INPUT;

CREATE FUNCTION tieredlog.move_segment(segment_id bigint, tier integer)
	RETURNS TABLE(segment_id bigint, from_tier integer, to_tier integer, records bigint,
				  bytes_before bigint, bytes_after bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_move_segment' LANGUAGE C CALLED ON NULL INPUT;

-- Remove old copies left by moves (and by moves interrupted after their commit); returns how many.
CREATE FUNCTION tieredlog.sweep()
	RETURNS bigint AS 'MODULE_PATHNAME', 'tieredlog_sweep' LANGUAGE C;

-- Bytes a segment takes where it is stored (row relation with indexes, or archive frames).
CREATE FUNCTION tieredlog.segment_stored_bytes(segment_id bigint)
	RETURNS bigint AS 'MODULE_PATHNAME', 'tieredlog_segment_stored_bytes' LANGUAGE C STRICT STABLE;

-- The frame directory of an archived segment.
CREATE FUNCTION tieredlog.segment_frames(segment_id bigint)
	RETURNS TABLE(frame_no integer, records integer, first_ts timestamptz, last_ts timestamptz,
				  min_key text, max_key text, raw_bytes integer, stored_bytes integer, checksum text)
	AS 'MODULE_PATHNAME', 'tieredlog_segment_frames' LANGUAGE C STRICT STABLE;

-- views ------------------------------------------------------------------------------------------

-- Conflict episodes: the heads (newest records) of two origins for one (log, key), neither of
-- which had seen the other. While both origins keep writing without seeing each other the
-- episode moves to the newer pair (its row is updated); a record that saw the other side ends
-- it. Sides a and b are the episode's current pair, a the record with the smaller rid. Local to
-- this node: every node records the same pair of current heads, with the same decision (conflict.c).
CREATE TABLE tieredlog.conflict (
	conflict_id			bigserial PRIMARY KEY,
	log_name			text COLLATE "C" NOT NULL,
	key					text COLLATE "C" NOT NULL,
	rid_a				uuid NOT NULL,
	origin_a			text NOT NULL,
	seq_a				bigint NOT NULL,
	ts_a				timestamptz NOT NULL,
	source_a			text,
	payload_a			jsonb NOT NULL,
	rid_b				uuid NOT NULL,
	origin_b			text NOT NULL,
	seq_b				bigint NOT NULL,
	ts_b				timestamptz NOT NULL,
	source_b			text,
	payload_b			jsonb NOT NULL,
	arrived				char(1) NOT NULL CHECK (arrived IN ('a', 'b')),	-- the side whose arrival raised it
	via					text NOT NULL CHECK (via IN ('streaming', 'reconciliation')),
	rule				text NOT NULL,
	status				text NOT NULL CHECK (status IN ('resolved_by_rule', 'pending', 'resolved')),
	winner				char(1) NOT NULL CHECK (winner IN ('a', 'b')),	-- provisional while pending
	reason				text NOT NULL,
	detected_at			timestamptz NOT NULL DEFAULT now(),
	resolved_at			timestamptz,
	resolved_by			text,		-- the role that decided, or the later record that superseded both
	decision_record		text,		-- 'origin:seq' of the record resolve_conflict() appended
	pairs				integer NOT NULL DEFAULT 1,	-- concurrent head pairs the episode went through here
	updated_at			timestamptz NOT NULL DEFAULT now(),	-- when it last moved to a newer pair here
	UNIQUE (log_name, key, rid_a, rid_b),
	CHECK (rid_a < rid_b)
);
CREATE INDEX conflict_pending ON tieredlog.conflict (log_name, key) WHERE status = 'pending';
-- the worker's settle pass: episodes written since its last pass (conflict.c)
CREATE INDEX conflict_updated ON tieredlog.conflict (updated_at);

-- Every record of the internal log _seen stored here, indexed: `writer` had stored the records
-- of `about` up to seen_seq before it wrote its record writer_seq (causal.c).
CREATE TABLE tieredlog.seen (
	writer				text COLLATE "C" NOT NULL,
	writer_seq			bigint NOT NULL,
	about				text COLLATE "C" NOT NULL,
	seen_seq			bigint NOT NULL,
	stored_at			timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (writer, about, writer_seq)
);

-- Priorities of source applications for the source_priority rule (higher wins; unlisted: 0).
CREATE TABLE tieredlog.source_priority (
	source				text PRIMARY KEY,
	priority			integer NOT NULL
);


CREATE VIEW tieredlog.segments AS
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
			ELSE least(1.0, 2.0 * COALESCE(k.conflicts, 0) / d.records)::float8 END AS conflict_score
  FROM tieredlog.segment s
  JOIN tieredlog.log l USING (log_id)
  JOIN (SELECT g.tier, COALESCE(m.tablespace, 'pg_default'::name) AS tablespace
		  FROM generate_series(0, 2) g(tier) LEFT JOIN tieredlog.tier m ON m.tier = g.tier) t USING (tier)
  LEFT JOIN (SELECT c.segment_id, sum(c.n) AS records, sum(c.bytes) AS logical_bytes
			   FROM tieredlog.digest_cell c GROUP BY c.segment_id) d USING (segment_id)
  LEFT JOIN LATERAL (SELECT count(*) AS conflicts FROM tieredlog.conflict c
					  WHERE c.log_name = l.log_name AND greatest(c.ts_a, c.ts_b) >= s.range_start
						AND greatest(c.ts_a, c.ts_b) < s.range_end) k ON true;

CREATE VIEW tieredlog.tiers AS
SELECT t.tier, t.tablespace,
	   count(s.segment_id)::bigint AS segments,
	   COALESCE(sum(s.records), 0)::bigint AS records,
	   COALESCE(sum(s.logical_bytes), 0)::bigint AS logical_bytes,
	   COALESCE(sum(s.stored_bytes), 0)::bigint AS stored_bytes
  FROM (SELECT g.tier, COALESCE(m.tablespace, 'pg_default'::name) AS tablespace
		  FROM generate_series(0, 2) g(tier) LEFT JOIN tieredlog.tier m ON m.tier = g.tier) t
  LEFT JOIN tieredlog.segments s USING (tier)
 GROUP BY t.tier, t.tablespace;

CREATE VIEW tieredlog.moves AS
SELECT m.move_id, m.segment_id, l.log_name, m.from_tier, m.to_tier, m.state, m.rows_copied,
	   m.bytes_before, m.bytes_after, m.started_at, m.flipped_at, m.finished_at,
	   m.old_relname AS pending_relation, m.old_attempt AS pending_frames
  FROM tieredlog.move m LEFT JOIN tieredlog.log l USING (log_id);

CREATE FUNCTION tieredlog._progress()
	RETURNS TABLE(pid integer, operation text, segment_id bigint, from_tier integer, to_tier integer,
				  phase text, rows_done bigint, rows_total bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_progress' LANGUAGE C VOLATILE;


CREATE VIEW tieredlog.logs AS
SELECT l.log_id, l.log_name, l.segment_interval, l.conflict_rule, l.resolver, l.created_at,
	   count(s.segment_id)::bigint AS segments,
	   COALESCE(sum(s.records), 0)::bigint AS records,
	   COALESCE(sum(s.logical_bytes), 0)::bigint AS logical_bytes,
	   min(s.range_start) AS first_segment_start,
	   max(s.range_end) AS last_segment_end
  FROM tieredlog.log l
  LEFT JOIN tieredlog.segments s USING (log_name)
 GROUP BY l.log_id, l.log_name, l.segment_interval, l.conflict_rule, l.resolver, l.created_at;

-- background workers, access statistics, status -------------------------------------------------

-- Access statistics flushed by the worker every tieredlog.stats_flush_interval: the counts of
-- one segment on one node since the previous row (pg_stat style deltas), kept for
-- tieredlog.stats_retention. The prediction model trains from it.
--   unstreamed_writes: local writes made while the session had a replication origin set; the
--	   output plugin skips those transactions, so only anti-entropy brings them to peers.
--   row_changes: rows deleted or updated in the segment's relation (pg_stat_get_tuples_deleted
--	   + _updated): tieredlog's own conflict replacements and scrub quarantines, and anything
--	   done behind its back. An append-only segment otherwise has none.
CREATE TABLE tieredlog.access_history (
	segment_id			bigint NOT NULL,
	node_name			text NOT NULL,
	sampled_at			timestamptz NOT NULL,
	reads				bigint NOT NULL,
	local_writes		bigint NOT NULL,
	remote_writes		bigint NOT NULL,
	bytes_read			bigint NOT NULL,
	last_access			timestamptz,
	unstreamed_writes	bigint NOT NULL DEFAULT 0,
	row_changes			bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (segment_id, node_name, sampled_at)
);
CREATE INDEX access_history_sampled_at ON tieredlog.access_history (sampled_at);

-- PostgreSQL's cumulative count of deleted and updated rows of each segment relation, as of the
-- last flush: the baseline the next flush's row_changes are counted from. A moved segment has a
-- new relation (counted from zero); counters that went backwards (statistics reset, a crash)
-- count from zero too.
CREATE TABLE tieredlog.row_change_baseline (
	segment_id			bigint PRIMARY KEY,
	relid				oid NOT NULL,
	changes				bigint NOT NULL
);

-- Called by the worker's statistics flush, in its transaction: row changes since the baseline
-- into access_history (merged into the row of this flush), then the new baseline.
CREATE FUNCTION tieredlog._flush_row_changes(node text) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
WITH cur AS (
	SELECT s.segment_id, c.oid AS relid,
		   pg_stat_get_tuples_deleted(c.oid) + pg_stat_get_tuples_updated(c.oid) AS changes
	  FROM tieredlog.segment s
	  JOIN pg_class c ON c.relname = s.relname AND c.relnamespace = 'tieredlog_data'::regnamespace
), delta AS (
	SELECT cur.segment_id, cur.relid, cur.changes,
		   CASE WHEN b.relid IS DISTINCT FROM cur.relid OR cur.changes < b.changes THEN cur.changes
				ELSE cur.changes - b.changes END AS d,
		   b.segment_id IS NOT NULL AND b.relid = cur.relid AND b.changes = cur.changes AS same
	  FROM cur LEFT JOIN tieredlog.row_change_baseline b USING (segment_id)
), hist AS (
	INSERT INTO tieredlog.access_history AS h (segment_id, node_name, sampled_at, reads, local_writes,
											  remote_writes, bytes_read, row_changes)
	SELECT segment_id, node, now(), 0, 0, 0, 0, d FROM delta WHERE d > 0
	ON CONFLICT (segment_id, node_name, sampled_at) DO UPDATE SET row_changes = EXCLUDED.row_changes
	RETURNING 1
), base AS (
	INSERT INTO tieredlog.row_change_baseline AS b (segment_id, relid, changes)
	SELECT segment_id, relid, changes FROM delta WHERE NOT same
	ON CONFLICT (segment_id) DO UPDATE SET relid = EXCLUDED.relid, changes = EXCLUDED.changes
), gone AS (
	DELETE FROM tieredlog.row_change_baseline b
	 WHERE NOT EXISTS (SELECT 1 FROM tieredlog.segment s WHERE s.segment_id = b.segment_id)
)
SELECT count(*) FROM hist
$$;

-- Seals and moves the worker ran: 'running' is committed before a task starts, so a task a
-- crash cut short is found ('interrupted') and redone when the worker starts again.
CREATE TABLE tieredlog.task_history (
	run_id				bigserial PRIMARY KEY,
	task				text NOT NULL,
	segment_id			bigint,
	to_tier				integer,
	reason				text,
	status				text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
	detail				text,
	pid					integer,
	started_at			timestamptz NOT NULL DEFAULT now(),
	finished_at			timestamptz
);
CREATE INDEX task_history_running ON tieredlog.task_history (status) WHERE status = 'running';

CREATE FUNCTION tieredlog._create_internal_logs() RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_create_internal_logs' LANGUAGE C STRICT;
CREATE FUNCTION tieredlog._register_database() RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_register_database' LANGUAGE C STRICT;

CREATE FUNCTION tieredlog._workers()
	RETURNS TABLE(datid oid, pid integer, state text, task text, queued integer, cycles bigint,
				  tasks_done bigint, tasks_failed bigint, started_at timestamptz,
				  last_cycle_at timestamptz, last_error text, last_error_at timestamptz,
				  failures integer)
	AS 'MODULE_PATHNAME', 'tieredlog_workers' LANGUAGE C VOLATILE;

CREATE FUNCTION tieredlog._stat_live()
	RETURNS TABLE(segment_id bigint, reads bigint, local_writes bigint, remote_writes bigint,
				  bytes_read bigint, last_access timestamptz, reads_in_window bigint,
				  unstreamed_writes bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_stat_live' LANGUAGE C VOLATILE;

CREATE FUNCTION tieredlog._stat_usage(OUT entries bigint, OUT capacity bigint, OUT evicted bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_stat_usage' LANGUAGE C VOLATILE;

-- Forget this database's live access counters (access_history is kept).
CREATE FUNCTION tieredlog.stat_reset() RETURNS bigint
	AS 'MODULE_PATHNAME', 'tieredlog_stat_reset' LANGUAGE C VOLATILE;

-- The workers of every database (the launcher's slots).
CREATE VIEW tieredlog.workers AS
SELECT d.datname AS database, w.pid, w.state, w.task, w.queued, w.cycles, w.tasks_done,
	   w.tasks_failed, w.failures, w.started_at, w.last_cycle_at, w.last_error, w.last_error_at
  FROM tieredlog._workers() w LEFT JOIN pg_catalog.pg_database d ON d.oid = w.datid
 -- other databases' workers (and their errors) only for superusers and pg_read_all_stats
 WHERE w.datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
	OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE');

-- Live counters of this node, per segment (since the counters were last reset, or since startup
-- after a crash). reads_in_window counts reads in the current tieredlog.promote_window;
-- unstreamed_writes the local writes made under a replication origin (not streamed).
CREATE VIEW tieredlog.stat_segments AS
SELECT s.segment_id, l.log_name, s.tier, s.state, tieredlog.node_name() AS node_name,
	   COALESCE(c.reads, 0) AS reads, COALESCE(c.local_writes, 0) AS local_writes,
	   COALESCE(c.remote_writes, 0) AS remote_writes, COALESCE(c.bytes_read, 0) AS bytes_read,
	   c.last_access, COALESCE(c.reads_in_window, 0) AS reads_in_window,
	   COALESCE(c.unstreamed_writes, 0) AS unstreamed_writes
  FROM tieredlog.segment s
  JOIN tieredlog.log l USING (log_id)
  LEFT JOIN tieredlog._stat_live() c USING (segment_id);


-- Moves in flight (reconciliations will appear here too), and what each database's worker is
-- doing when it is not moving (sealing, sweeping, flushing statistics...).
CREATE VIEW tieredlog.progress AS
SELECT p.pid, p.operation, p.segment_id, l.log_name, p.from_tier, p.to_tier, p.phase, p.rows_done,
	   p.rows_total, a.query_start AS started_at
  FROM tieredlog._progress() p
  LEFT JOIN tieredlog.segment s USING (segment_id)
  LEFT JOIN tieredlog.log l USING (log_id)
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = p.pid
UNION ALL
SELECT w.pid, 'worker', NULL, NULL, NULL, NULL, w.task, NULL, NULL, a.query_start
  FROM tieredlog._workers() w
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid
 WHERE w.task IS NOT NULL AND w.task <> 'planning'
   AND NOT EXISTS (SELECT 1 FROM tieredlog._progress() p WHERE p.pid = w.pid);

-- peers and replication ---------------------------------------------------------------------------

-- A peer streams this node the records it originates, through a logical replication slot named
-- after this node (on the peer) and decoded by tieredlog's output plugin; the apply worker tags
-- what it stores with the replication origin origin_name (here). owner is the role that called
-- add_peer(): unless it is a superuser, every connection to the peer must authenticate with the
-- conninfo's password (peer_conn.c). The conninfo may hold secrets: only the masked form is shown.
CREATE SEQUENCE tieredlog.peer_id_seq AS integer NO CYCLE;
CREATE TABLE tieredlog.peer (
	peer_id				integer PRIMARY KEY,
	peer_name			text COLLATE "C" NOT NULL UNIQUE,
	conninfo			text NOT NULL,
	slot_name			name NOT NULL,		-- on the peer
	origin_name			text NOT NULL,		-- here
	node_name			text NOT NULL,		-- the peer's tieredlog.node_name
	peer_role			name,				-- the role the peer logs in as here (NULL: its conninfo's user)
	owner				regrole NOT NULL,	-- the role that added it (by name in a dump)
	enabled				boolean NOT NULL DEFAULT true,
	applied_until		timestamptz,		-- peer commit time applied up to (saved every 10 s)
	created_at			timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('tieredlog.peer', '');

-- Time ranges (commit time on the peer) whose records this node may have missed from a peer:
-- its slot vanished or was invalidated and was recreated. Reconciliation closes them.
CREATE TABLE tieredlog.gap (
	gap_id				bigserial PRIMARY KEY,
	peer_name			text COLLATE "C" NOT NULL,
	from_ts				timestamptz NOT NULL,
	to_ts				timestamptz NOT NULL,
	reason				text NOT NULL,
	detected_at			timestamptz NOT NULL DEFAULT now(),
	closed_at			timestamptz
);
CREATE VIEW tieredlog.gaps AS
SELECT gap_id, peer_name, from_ts, to_ts, reason, detected_at, closed_at
  FROM tieredlog.gap ORDER BY gap_id;

-- This node's slots that peers stream from, with the WAL each holds back.
CREATE VIEW tieredlog.slots AS
SELECT s.slot_name, s.active, s.active_pid, s.wal_status, s.safe_wal_size,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint AS retained_bytes,
	   s.confirmed_flush_lsn
  FROM pg_catalog.pg_replication_slots s
 WHERE s.plugin = 'tieredlog' AND s.database = current_database();
SELECT pg_catalog.pg_extension_config_dump('tieredlog.peer_id_seq', '');

CREATE FUNCTION tieredlog.add_peer(peer_name text, conninfo text) RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_add_peer' LANGUAGE C CALLED ON NULL INPUT VOLATILE;
CREATE FUNCTION tieredlog.drop_peer(peer_name text) RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_drop_peer' LANGUAGE C CALLED ON NULL INPUT VOLATILE;
CREATE FUNCTION tieredlog.set_peer_enabled(peer_name text, enabled boolean) RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_set_peer_enabled' LANGUAGE C CALLED ON NULL INPUT VOLATILE;
-- What the peer sends this node in its own sessions (_ae_store, _ae_witness) is accepted only
-- from the role it logs in as here (peer_auth.c).
CREATE FUNCTION tieredlog.set_peer_role(peer_name text, peer_role name) RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_set_peer_role' LANGUAGE C CALLED ON NULL INPUT VOLATILE;
CREATE FUNCTION tieredlog._apply_status()
	RETURNS TABLE(peer_id integer, pid integer, state text, received_lsn pg_lsn, applied_lsn pg_lsn,
				  applied_commit_time timestamptz, last_contact timestamptz, records_applied bigint,
				  records_skipped bigint, last_error text, last_error_at timestamptz, failures integer)
	AS 'MODULE_PATHNAME', 'tieredlog_apply_status' LANGUAGE C VOLATILE;
CREATE FUNCTION tieredlog._mask_conninfo(conninfo text) RETURNS text
	AS 'MODULE_PATHNAME', 'tieredlog_mask_conninfo' LANGUAGE C STRICT IMMUTABLE;

-- Peers and how far behind each is: lag_bytes is the peer's WAL not yet applied here (as of the
-- peer's last report), lag_seconds the age of the newest applied remote commit while behind.
-- wal_retained_bytes is the WAL this node keeps for the peer (its slot here, the one named after
-- the peer's node), wal_keep_fraction that as a share of max_slot_wal_keep_size (NULL when
-- unlimited), wal_state 'ok', 'warning' (80 % or more), 'critical' (beyond it: the next
-- checkpoint invalidates the slot), 'lost' (invalidated: the peer records a gap when it returns)
-- or NULL (no slot of the peer here).
CREATE VIEW tieredlog.peers AS
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

-- Records whose identity (origin, seq) was found with two contents: this node's copy and a peer's
-- (damage: bit rot, a hand edit), or a row here whose content no longer hashes to its stored rid
-- (found by scrub()). Both versions are kept; nothing is merged.
CREATE TABLE tieredlog.quarantine (
	quarantine_id		bigserial PRIMARY KEY,
	log_name			text COLLATE "C" NOT NULL,
	origin				text NOT NULL,
	seq					bigint NOT NULL,
	ts					timestamptz NOT NULL,
	key					text NOT NULL,
	local_rid			uuid NOT NULL,		-- the rid stored with this node's copy
	local_payload		jsonb,				-- this node's copy when it was found
	other_rid			uuid NOT NULL,		-- the peer's copy's rid; for 'scrub' the rid the content hashes to
	other_payload		jsonb NOT NULL,		-- the peer's copy; for 'scrub' the damaged content found here
	via					text NOT NULL CHECK (via IN ('streaming', 'reconciliation', 'scrub')),
	peer_name			text,
	detected_at			timestamptz NOT NULL DEFAULT now(),
	resolved_at			timestamptz,
	resolution			text,
	UNIQUE (log_name, origin, seq, other_rid)
);

-- reconciliation -----------------------------------------------------------------------------------

-- The protocol's functions on the peer's side (called by a coordinating node over libpq).
CREATE FUNCTION tieredlog._ae_roots(log_name text, from_ts timestamptz, to_ts timestamptz,
									include_archive boolean) RETURNS bytea
	AS 'MODULE_PATHNAME', 'tieredlog_ae_roots' LANGUAGE C STRICT STABLE;
CREATE FUNCTION tieredlog._ae_leaves(log_name text, range_start timestamptz) RETURNS bytea
	AS 'MODULE_PATHNAME', 'tieredlog_ae_leaves' LANGUAGE C STRICT STABLE;
CREATE FUNCTION tieredlog._ae_iblt(log_name text, range_start timestamptz, leaves integer[], cells integer[],
									salt bigint) RETURNS bytea
	AS 'MODULE_PATHNAME', 'tieredlog_ae_iblt' LANGUAGE C STRICT STABLE;
CREATE FUNCTION tieredlog._ae_rid(log_name text, origin text, seq bigint, ts timestamptz, key text)
	RETURNS uuid
	AS 'MODULE_PATHNAME', 'tieredlog_ae_rid' LANGUAGE C STRICT STABLE;
-- The rid of a record with these fields (for checking a copy by hand).
CREATE FUNCTION tieredlog.record_rid(log_name text, key text, payload jsonb, ts timestamptz, source text,
									 origin text, seq bigint) RETURNS uuid
	AS 'MODULE_PATHNAME', 'tieredlog_record_rid' LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
CREATE FUNCTION tieredlog._ae_ids(log_name text, range_start timestamptz, leaves integer[], salt bigint)
	RETURNS bytea
	AS 'MODULE_PATHNAME', 'tieredlog_ae_ids' LANGUAGE C STRICT STABLE;
CREATE FUNCTION tieredlog._ae_fetch(log_name text, range_start timestamptz, leaves integer[], salt bigint,
									ids bytea)
	RETURNS bytea
	AS 'MODULE_PATHNAME', 'tieredlog_ae_fetch' LANGUAGE C STRICT STABLE;
CREATE FUNCTION tieredlog._ae_store(records bytea, from_node text) RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'tieredlog_ae_store' LANGUAGE C STRICT VOLATILE;

-- The decoders of outside bytes, driven directly (tests and fuzzing; superuser only, fuzz.c).
CREATE FUNCTION tieredlog._frame_raw(batch bytea) RETURNS bytea[]
	AS 'MODULE_PATHNAME', 'tieredlog_frame_raw' LANGUAGE C STRICT IMMUTABLE;
CREATE FUNCTION tieredlog._frame_decode(raw bytea) RETURNS bigint
	AS 'MODULE_PATHNAME', 'tieredlog_frame_decode' LANGUAGE C STRICT IMMUTABLE;
CREATE FUNCTION tieredlog._batch_pack(log_name text, interval_us bigint, raw bytea, rids bytea DEFAULT NULL)
	RETURNS bytea
	AS 'MODULE_PATHNAME', 'tieredlog_batch_pack' LANGUAGE C IMMUTABLE;
CREATE FUNCTION tieredlog._wire_decode(message bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'tieredlog_wire_decode' LANGUAGE C STRICT IMMUTABLE;

-- Every segment a reconciliation found out of sync, and what it did about it.
CREATE TABLE tieredlog.reconcile_log (
	reconcile_id		bigserial PRIMARY KEY,
	log_name			text COLLATE "C" NOT NULL,
	range_start			timestamptz NOT NULL,
	segment_id			bigint,
	peer_name			text NOT NULL,
	status				text NOT NULL,
	records_sent		bigint NOT NULL,
	records_received	bigint NOT NULL,
	conflicts			bigint NOT NULL,
	leaves_differing	integer NOT NULL,
	bytes				bigint NOT NULL,
	round_trips			integer NOT NULL,
	detect_bytes		bigint NOT NULL,
	localize_bytes		bigint NOT NULL,
	reconcile_bytes		bigint NOT NULL,
	repair_bytes		bigint NOT NULL,
	duration_ms			float8 NOT NULL,
	reconciled_at		timestamptz NOT NULL DEFAULT now()
);
CREATE VIEW tieredlog.reconcile_history AS
SELECT * FROM tieredlog.reconcile_log ORDER BY reconcile_id;

CREATE FUNCTION tieredlog.reconcile(log_name text DEFAULT NULL, peer_name text DEFAULT NULL,
									from_ts timestamptz DEFAULT NULL, to_ts timestamptz DEFAULT NULL,
									include_archive boolean DEFAULT false)
	RETURNS TABLE(log_name text, range_start timestamptz, segment_id bigint, peer_name text, status text,
				  records_sent bigint, records_received bigint, conflicts bigint, leaves_differing integer,
				  bytes bigint, round_trips integer, detect_bytes bigint, localize_bytes bigint,
				  reconcile_bytes bigint, repair_bytes bigint, duration_ms float8)
	AS 'MODULE_PATHNAME', 'tieredlog_reconcile' LANGUAGE C CALLED ON NULL INPUT VOLATILE;
CREATE FUNCTION tieredlog.reconcile_segment(segment_id bigint, peer_name text DEFAULT NULL)
	RETURNS TABLE(log_name text, range_start timestamptz, segment_id bigint, peer_name text, status text,
				  records_sent bigint, records_received bigint, conflicts bigint, leaves_differing integer,
				  bytes bigint, round_trips integer, detect_bytes bigint, localize_bytes bigint,
				  reconcile_bytes bigint, repair_bytes bigint, duration_ms float8)
	AS 'MODULE_PATHNAME', 'tieredlog_reconcile_segment' LANGUAGE C CALLED ON NULL INPUT VOLATILE;

-- The content scrub: every row re-hashed against its stored rid (every frame's checksum checked);
-- a row that no longer matches goes to quarantine and out of its segment, for reconciliation to
-- restore. All segments, those of one log, or one segment.
CREATE FUNCTION tieredlog.scrub(log_name text DEFAULT NULL, segment_id bigint DEFAULT NULL)
	RETURNS TABLE(log_name text, segment_id bigint, range_start timestamptz, tier integer,
				  records_checked bigint, damaged bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_scrub' LANGUAGE C CALLED ON NULL INPUT VOLATILE;

-- conflicts -----------------------------------------------------------------------------------------

CREATE VIEW tieredlog.conflicts AS
SELECT c.conflict_id, c.log_name, c.key, c.status, c.rule,
	   CASE c.winner WHEN 'a' THEN c.origin_a || ':' || c.seq_a ELSE c.origin_b || ':' || c.seq_b END AS winner,
	   CASE c.winner WHEN 'a' THEN c.origin_b || ':' || c.seq_b ELSE c.origin_a || ':' || c.seq_a END AS loser,
	   CASE c.winner WHEN 'a' THEN c.payload_a ELSE c.payload_b END AS winner_payload,
	   CASE c.winner WHEN 'a' THEN c.payload_b ELSE c.payload_a END AS loser_payload,
	   CASE c.arrived WHEN 'a' THEN c.origin_b || ':' || c.seq_b ELSE c.origin_a || ':' || c.seq_a END AS local,
	   CASE c.arrived WHEN 'a' THEN c.origin_a || ':' || c.seq_a ELSE c.origin_b || ':' || c.seq_b END AS remote,
	   c.reason, c.via, c.detected_at AS created_at, c.resolved_at, c.resolved_by, c.decision_record,
	   c.pairs, c.updated_at
  FROM tieredlog.conflict c;

CREATE FUNCTION tieredlog.set_conflict_rule(log_name text, rule text, resolver regprocedure DEFAULT NULL)
	RETURNS void AS 'MODULE_PATHNAME', 'tieredlog_set_conflict_rule' LANGUAGE C CALLED ON NULL INPUT VOLATILE;
CREATE FUNCTION tieredlog.set_source_priority(source text, priority integer)
	RETURNS void AS 'MODULE_PATHNAME', 'tieredlog_set_source_priority' LANGUAGE C CALLED ON NULL INPUT VOLATILE;
-- winner: 'local' (the record that was here first), 'remote' (the one whose arrival raised the
-- conflict) or 'origin:seq'. Appends the winner's payload as a new record that supersedes both.
CREATE FUNCTION tieredlog.resolve_conflict(conflict_id bigint, winner text)
	RETURNS text AS 'MODULE_PATHNAME', 'tieredlog_resolve_conflict' LANGUAGE C CALLED ON NULL INPUT VOLATILE;

-- prediction -------------------------------------------------------------------------------------

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

-- The peer's side: this node's access_history rows newer than `since`, per segment.
CREATE FUNCTION tieredlog._ae_access(since timestamptz)
	RETURNS TABLE(log_name text, range_start timestamptz, local_writes bigint, remote_writes bigint,
				  reads bigint, sampled_at timestamptz, unstreamed_writes bigint, row_changes bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
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
		   COALESCE((SELECT sum(c.n) FROM tieredlog.digest_cell c WHERE c.segment_id = s.segment_id), 0) AS records,
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
-- every read: the exploration share is random).
CREATE VIEW tieredlog.schedule AS
SELECT segment_id, log_name, range_start, tier, peer_name, score, cost, reason, due_at
  FROM tieredlog._plan_checks();

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
-- are too few labels.
CREATE FUNCTION tieredlog.train_model(lambda float8 DEFAULT 1.0, min_examples integer DEFAULT 50,
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

-- One row: this node, its tiers, its worker, its peers and what waits for attention. Later versions
-- add pending checks and conflicts. last_error is the worker's last error, unless the WAL this
-- node keeps for a peer nears max_slot_wal_keep_size or its slot was lost (peers view: wal_state).
-- SECURITY DEFINER: EXECUTE is what a reader is granted (README, Privileges), not the tables and
-- views it summarises; it shows only this database's worker, no conninfo.
CREATE FUNCTION tieredlog.status(
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

-- integrity ledger -------------------------------------------------------------------------------
-- Entries for what changes history, written in the transaction that makes the change; a block
-- closes over pending entries (block_id NULL) with the Merkle root of their hashes and the hash of
-- the block before it (ledger.c gives the encodings). verify() recomputes all of it.
CREATE SEQUENCE tieredlog.ledger_entry_id_seq AS bigint NO CYCLE;
CREATE TABLE tieredlog.ledger_entry (
	entry_id			bigint PRIMARY KEY DEFAULT nextval('tieredlog.ledger_entry_id_seq'),
	block_id			bigint,		-- NULL until a block covers it
	kind				text NOT NULL CHECK (kind IN ('SEAL', 'RESEAL', 'REOPEN', 'REPAIR', 'QUARANTINE',
													  'CONFIG', 'WITNESS')),
	log_name			text COLLATE "C",
	segment_id			bigint,
	body				jsonb NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT now(),
	entry_hash			bytea		-- its leaf hash when the block closed: points verify() at what changed
);
CREATE INDEX ledger_entry_block ON tieredlog.ledger_entry (block_id, entry_id);
CREATE INDEX ledger_entry_pending ON tieredlog.ledger_entry (entry_id) WHERE block_id IS NULL;
CREATE INDEX ledger_entry_segment ON tieredlog.ledger_entry (segment_id, entry_id) WHERE segment_id IS NOT NULL;

CREATE TABLE tieredlog.ledger_block (
	block_id			bigint PRIMARY KEY,
	first_entry			bigint NOT NULL,
	last_entry			bigint NOT NULL,
	entries				bigint NOT NULL,
	entries_root		bytea NOT NULL,	-- RFC 9162 Merkle root over the entries' leaf hashes
	previous_block_hash	bytea NOT NULL,	-- SHA-256 of the previous block; zeros for block 1
	closed_at			timestamptz NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('tieredlog.ledger_entry', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.ledger_block', '');
SELECT pg_catalog.pg_extension_config_dump('tieredlog.ledger_entry_id_seq', '');

CREATE VIEW tieredlog.ledger AS
SELECT e.entry_id, e.block_id, e.kind, e.log_name, e.segment_id, e.body, e.created_at,
	   b.closed_at AS block_closed_at
  FROM tieredlog.ledger_entry e
  LEFT JOIN tieredlog.ledger_block b USING (block_id);

CREATE VIEW tieredlog.ledger_blocks AS
SELECT block_id, first_entry, last_entry, entries, encode(entries_root, 'hex') AS entries_root,
	   encode(previous_block_hash, 'hex') AS previous_block_hash, closed_at
  FROM tieredlog.ledger_block;

-- The head of the ledger as jsonb, for safekeeping elsewhere (closes a block over pending entries).
CREATE FUNCTION tieredlog.ledger_digest() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'tieredlog_ledger_digest' LANGUAGE C VOLATILE;
CREATE FUNCTION tieredlog._ledger_close() RETURNS bigint
	AS 'MODULE_PATHNAME', 'tieredlog_ledger_close' LANGUAGE C VOLATILE;
-- A peer's digest, kept as a WITNESS entry (the worker of each node sends its own).
CREATE FUNCTION tieredlog._ae_witness(digest jsonb) RETURNS bigint
	AS 'MODULE_PATHNAME', 'tieredlog_ae_witness' LANGUAGE C CALLED ON NULL INPUT VOLATILE;

-- Recompute the ledger and the seals from the raw rows; one row per check. trusted_digests: what
-- ledger_digest() returned earlier (an object or an array), or the WITNESS bodies a peer holds.
CREATE FUNCTION tieredlog.verify(log_name text DEFAULT NULL, trusted_digests jsonb DEFAULT NULL)
	RETURNS TABLE(check_name text, object text, ok boolean, expected text, actual text)
	AS 'MODULE_PATHNAME', 'tieredlog_verify' LANGUAGE C CALLED ON NULL INPUT STABLE ROWS 20;

-- Inclusion proofs (RFC 9162 2.1.3) against a sealed segment's root.
CREATE FUNCTION tieredlog.inclusion_proof(segment_id bigint, rid text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'tieredlog_inclusion_proof' LANGUAGE C CALLED ON NULL INPUT STABLE;
CREATE FUNCTION tieredlog._merkle_verify(leaf_hash text, leaf_index bigint, tree_size bigint, path text[],
										 root text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tieredlog_merkle_verify' LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
-- Does the proof's path lead from its leaf to root (default: the root the proof names)?
CREATE FUNCTION tieredlog.check_inclusion(proof jsonb, root text DEFAULT NULL) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT tieredlog._merkle_verify(proof->>'leaf_hash', (proof->>'leaf_index')::bigint,
								(proof->>'tree_size')::bigint,
								ARRAY(SELECT jsonb_array_elements_text(COALESCE(proof->'path', '[]'))),
								COALESCE(root, proof->>'root'))
$$;
-- The leaf hash of a record with these fields (to check a received record against a proof).
CREATE FUNCTION tieredlog.record_leaf_hash(log_name text, key text, payload jsonb, ts timestamptz, source text,
										   origin text, seq bigint) RETURNS text
	AS 'MODULE_PATHNAME', 'tieredlog_record_leaf_hash' LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
-- RFC 9162 over raw leaves: the tree head, and one leaf's proof.
CREATE FUNCTION tieredlog.merkle_root(leaves bytea[]) RETURNS text
	AS 'MODULE_PATHNAME', 'tieredlog_merkle_root' LANGUAGE C STRICT IMMUTABLE;
CREATE FUNCTION tieredlog.merkle_proof(leaves bytea[], leaf_index bigint) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'tieredlog_merkle_proof' LANGUAGE C STRICT IMMUTABLE;

-- Seal roots, for a peer's compare_seals().
CREATE FUNCTION tieredlog._ae_seals(log_name text)
	RETURNS TABLE(log_name text, range_start timestamptz, segment_id bigint, state text, seal_root text,
				  seal_records bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT l.log_name, s.range_start, s.segment_id, s.state, encode(s.seal_root, 'hex'), s.seal_records
  FROM tieredlog.segment s JOIN tieredlog.log l USING (log_id)
 WHERE $1 IS NULL OR l.log_name = $1
$$;
-- This node's seal roots next to a peer's, segment by segment (status: equal, different,
-- not_sealed_here, not_sealed_on_peer, missing_here, missing_on_peer).
CREATE FUNCTION tieredlog.compare_seals(peer_name text, log_name text DEFAULT NULL)
	RETURNS TABLE(log_name text, range_start timestamptz, segment_id bigint, local_root text, peer_root text,
				  status text)
	AS 'MODULE_PATHNAME', 'tieredlog_compare_seals' LANGUAGE C CALLED ON NULL INPUT VOLATILE;

-- Merkle leaf hashes per second through the seal's SHA-256 path (bench/ledger's yardstick).
CREATE FUNCTION tieredlog._sha256_rate(messages bigint, bytes integer) RETURNS float8
	AS 'MODULE_PATHNAME', 'tieredlog_sha256_rate' LANGUAGE C STRICT VOLATILE;

-- (The genesis entry, what this ledger's encodings are, comes with the first entry: ledger.c.)

-- privileges -------------------------------------------------------------------------------------
-- Nothing is open to PUBLIC: grant what a role needs, e.g.
--   GRANT USAGE ON SCHEMA tieredlog TO app;  GRANT EXECUTE ON FUNCTION tieredlog.append(...) TO app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tieredlog FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA tieredlog FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA tieredlog FROM PUBLIC;

-- start this database's worker now (it runs as soon as this transaction commits)
-- What each node had received of every other origin when it wrote (conflict detection, conflict.c)
SELECT tieredlog._create_internal_logs();
SELECT tieredlog._register_database();
