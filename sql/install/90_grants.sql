-- ---- sql/install/90_grants.sql: privileges: nothing is open to PUBLIC
-- privileges -------------------------------------------------------------------------------------
-- Nothing is open to PUBLIC: grant what a role needs, e.g.
--   GRANT USAGE ON SCHEMA tieredlog TO app;  GRANT EXECUTE ON FUNCTION tieredlog.append(...) TO app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tieredlog FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA tieredlog FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA tieredlog FROM PUBLIC;
-- segment_totals() answers only a role that may read a view showing it (api/digests.c): the views
-- call it with the reader's rights
GRANT EXECUTE ON FUNCTION tieredlog.segment_totals(bigint) TO PUBLIC;
-- and so do _stat_live() (for tieredlog.stat_segments) and _schedule() (tieredlog.schedule)
GRANT EXECUTE ON FUNCTION tieredlog._stat_live(), tieredlog._schedule() TO PUBLIC;
