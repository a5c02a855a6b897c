-- ---- sql/install/40_peers.sql: peers, gaps, slots, who a peer session speaks for, quarantine, the anti-entropy protocol, scrub
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
	   s.confirmed_flush_lsn,
	   pg_catalog.pg_size_pretty(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)) AS retained_size
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
-- The peer's log names, for a reconcile() of every log (SECURITY DEFINER, as _ae_access).
CREATE FUNCTION tieredlog._ae_logs() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
SELECT log_name::text FROM tieredlog.log ORDER BY log_name
$$;
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
CREATE FUNCTION tieredlog._archive_frame_raw(segment_id bigint, frame_no integer) RETURNS bytea
	AS 'MODULE_PATHNAME', 'tieredlog_archive_frame_raw' LANGUAGE C STRICT STABLE;
CREATE FUNCTION tieredlog._frame_decode(raw bytea) RETURNS bigint
	AS 'MODULE_PATHNAME', 'tieredlog_frame_decode' LANGUAGE C STRICT IMMUTABLE;
CREATE FUNCTION tieredlog._frame_decode_key(raw bytea, key text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'tieredlog_frame_decode_key' LANGUAGE C STRICT IMMUTABLE;
CREATE FUNCTION tieredlog._key_filter_probe(filter bytea, key text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tieredlog_key_filter_probe' LANGUAGE C STRICT IMMUTABLE;
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

