-- Part of the demo (scripts/demo.sh): node1's records reach node2 and node3.
\pset footer off
\set QUIET on
\echo '--- node1 appends 100 records to log chat; its decoder streams them to node2 and node3'
SELECT count(*) AS appended
  FROM (SELECT tieredlog.append('chat', 'from-node1-' || g, jsonb_build_object('n', g)) FROM generate_series(1, 100) g) a;
