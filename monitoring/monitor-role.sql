-- A least-privilege role for prometheus-postgres-exporter and monitoring/queries.yaml (README,
-- Monitoring). Run as a superuser in the database that holds tieredlog:
--   psql -d <db> -v role=tieredlog_monitor -f monitoring/monitor-role.sql
-- then give the role a password (or a pg_hba.conf line) and put it in the exporter's
-- DATA_SOURCE_NAME. It reads; it can change nothing: no append, move, seal, reconcile or peer
-- function, no tieredlog table but the ones below, no segment relation.
\set ON_ERROR_STOP on
\if :{?role}
\else
\set role tieredlog_monitor
\endif
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') AS create_role \gset
\if :create_role
CREATE ROLE :"role" LOGIN;
\endif
-- PostgreSQL's own statistics (the exporter's default metrics, pg_replication_slots, every
-- database's worker in tieredlog.workers)
GRANT pg_monitor TO :"role";
GRANT USAGE ON SCHEMA tieredlog TO :"role";
GRANT SELECT ON tieredlog.health, tieredlog.tiers, tieredlog.segments, tieredlog.logs, tieredlog.moves,
                tieredlog.task_history, tieredlog.workers, tieredlog.peers, tieredlog.slots, tieredlog.gaps,
                tieredlog.reconcile_history, tieredlog.check_log, tieredlog.models, tieredlog.conflicts,
                tieredlog.ledger, tieredlog.ledger_blocks
   TO :"role";
-- the number of unresolved quarantine entries, without their contents (column privilege)
GRANT SELECT (quarantine_id, resolved_at) ON tieredlog.quarantine TO :"role";
-- what those views and status() call (a view's functions are checked against its reader); all
-- of them only read
GRANT EXECUTE ON FUNCTION tieredlog.health_checks(), tieredlog.status(), tieredlog.node_hold(), tieredlog.node_name(),
                          tieredlog.verify(text, jsonb), tieredlog.segment_stored_bytes(bigint),
                          tieredlog.segment_digest(bigint), tieredlog._workers(), tieredlog._apply_status(),
                          tieredlog._mask_conninfo(text), tieredlog._progress(), tieredlog._stat_usage()
   TO :"role";
