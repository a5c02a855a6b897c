-- ---- sql/install/85_ledger.sql: the integrity ledger, verify(), seals and proofs
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
-- a peer's witness of a block (_ae_witness, per digest a peer gives) and verify()'s look for a
-- later quarantine or a dropped log (ledger_store.c): without reading the whole ledger
CREATE INDEX ledger_entry_witness ON tieredlog.ledger_entry ((body->>'node'), (body->>'block_id')) WHERE kind = 'WITNESS';
CREATE INDEX ledger_entry_log_kind ON tieredlog.ledger_entry (log_name, kind, entry_id) WHERE kind IN ('QUARANTINE', 'CONFIG');

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
-- (SECURITY DEFINER: EXECUTE on it is what a reader is granted, not on _merkle_verify; it only
-- computes)
CREATE FUNCTION tieredlog.check_inclusion(proof jsonb, root text DEFAULT NULL) RETURNS boolean
LANGUAGE sql IMMUTABLE SECURITY DEFINER
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

-- Seal roots, for a peer's compare_seals() (SECURITY DEFINER: a peer's role has EXECUTE on it,
-- not the tables).
CREATE FUNCTION tieredlog._ae_seals(log_name text)
	RETURNS TABLE(log_name text, range_start timestamptz, segment_id bigint, state text, seal_root text,
				  seal_records bigint)
LANGUAGE sql STABLE SECURITY DEFINER
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

