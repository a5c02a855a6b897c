-- ---- sql/install/10_logs.sql: logs and segments, moves, digest cells, what pg_dump saves, digests, the node's identity and clock, sweeping
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
	gen_base			bigint,		-- this node's seq when it was created: its relation's generations start there
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
-- The cells are this node's bookkeeping, derived from the rows, so they are UNLOGGED: an append
-- writes no WAL for them and logical decoding reads none. A crash, a base backup or a promoted
-- standby starts with none; until the database worker has rebuilt them from the rows, a digest
-- is computed from the rows (README, Digests after a crash).
CREATE UNLOGGED TABLE tieredlog.digest_cell (
	segment_id			bigint NOT NULL,
	leaf				smallint NOT NULL,
	n					bigint NOT NULL,
	sum_hi				bigint NOT NULL,
	sum_lo				bigint NOT NULL,
	bytes				bigint NOT NULL
);
CREATE INDEX digest_cell_segment_leaf ON tieredlog.digest_cell (segment_id, leaf);
-- A row while every segment's cells add up to its rows (absent after a crash: the worker adds it
-- when it has rebuilt them all); meanwhile, the segments whose cells it has already rebuilt.
CREATE UNLOGGED TABLE tieredlog.digest_intact (intact boolean PRIMARY KEY CHECK (intact));
CREATE UNLOGGED TABLE tieredlog.digest_rebuilt (segment_id bigint PRIMARY KEY);

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
CREATE FUNCTION tieredlog.segment_totals(segment_id bigint, OUT records bigint, OUT logical_bytes bigint)
	AS 'MODULE_PATHNAME', 'tieredlog_segment_totals' LANGUAGE C STRICT STABLE;

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

