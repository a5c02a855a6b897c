-- ---- sql/install/95_start.sql: tieredlog's own logs, and this database's worker
-- start this database's worker now (it runs as soon as this transaction commits)
-- What each node had received of every other origin when it wrote (conflict detection, conflict.c)
SELECT tieredlog._create_internal_logs();
SELECT tieredlog._register_database();
