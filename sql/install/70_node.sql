-- ---- sql/install/70_node.sql: the node's state across restores, finish_restore(), the rest of what pg_dump saves
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

