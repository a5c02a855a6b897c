# tieredlog's own tables grow with history (witnesses, conflicts, access samples, checks, the
# ledger), and the worker queries them every cycle, per segment or per peer. Each query below is
# written as its code writes it (file named), run against 40 000 rows of made-up history, and must
# be served by an index, not a scan of the whole table: before these indexes each of these read
# the whole table, 64–310 ms a run at a few hundred thousand rows (bench/RESULTS.md, 2026-12-06).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $node = tl_node('plans');
sub sq { return $node->safe_psql('postgres', $_[0]); }
sq(q{CREATE EXTENSION tieredlog});

# 40 000 rows of history in each table (the worker is idle: nothing here is a real segment or peer)
sq(q{
SET session_replication_role = replica;
INSERT INTO tieredlog.seen (writer, writer_seq, about, seen_seq, stored_at)
SELECT 'w' || (i % 10), i, 'a' || (i % 7), i, now() - (i % 60) * interval '1 day' FROM generate_series(1, 40000) i;
INSERT INTO tieredlog.conflict (log_name, key, rid_a, origin_a, seq_a, ts_a, payload_a, rid_b, origin_b, seq_b, ts_b,
	payload_b, arrived, via, rule, status, winner, reason, resolved_at)
SELECT 'ev', 'k' || (i % 1000), least(a, b), 'x', i, now(), '{}', greatest(a, b), 'y', i, now(), '{}', 'a',
	   'streaming', 'last_writer_wins', 'resolved_by_rule', 'a', 'filler', now() - (i % 60) * interval '1 day'
  FROM (SELECT i, gen_random_uuid() a, gen_random_uuid() b FROM generate_series(1, 40000) i) g;
INSERT INTO tieredlog.access_history (segment_id, node_name, sampled_at, reads, local_writes, remote_writes,
	bytes_read, last_access)
SELECT i % 500, 'plans', now() - i * interval '1 s', 1, 1, 0, 100, now() - i * interval '1 s' FROM generate_series(1, 40000) i;
INSERT INTO tieredlog.peer_access (peer_name, log_name, range_start, local_writes, remote_writes, reads, sampled_at)
SELECT 'p' || (i % 2), 'ev', '2026-01-01'::timestamptz + (i % 100) * interval '1 hour', 1, 1, 1,
	   now() - i * interval '1 s' FROM generate_series(1, 40000) i;
INSERT INTO tieredlog.check_log (segment_id, log_name, range_start, tier, peer_name, features, score, cost,
	reason, decided_at, finished_at, diverged)
SELECT i % 1000, 'ev', '2026-01-01', 0, 'p' || (i % 2), '{}', 0.5, 1, 'threshold', now() - i * interval '1 s',
	   now() - i * interval '1 s', i % 30 = 0
  FROM generate_series(1, 40000) i;
INSERT INTO tieredlog.ledger_entry (kind, log_name, segment_id, body)
SELECT CASE i % 4 WHEN 0 THEN 'WITNESS' WHEN 1 THEN 'REPAIR' WHEN 2 THEN 'SEAL' ELSE 'QUARANTINE' END,
	   'ev', i % 1000, jsonb_build_object('node', 'n' || (i % 5), 'block_id', (i / 5)::text, 'rids', '[]'::jsonb)
  FROM generate_series(1, 40000) i;
ANALYZE tieredlog.seen, tieredlog.conflict, tieredlog.access_history, tieredlog.peer_access, tieredlog.check_log,
	tieredlog.ledger_entry;
});

my @cases = (
	[ 'seen_stored_at', 'the retention pass over witnesses (store/conflict_store.c)',
	  q{DELETE FROM tieredlog.seen s WHERE s.stored_at < now() - make_interval(secs => 2592000)
		AND EXISTS (SELECT 1 FROM tieredlog.seen n WHERE n.writer = s.writer AND n.about = s.about
					AND n.writer_seq > s.writer_seq)} ],
	[ 'conflict_resolved_at', 'the retention pass over settled conflicts (store/conflict_store.c)',
	  q{DELETE FROM tieredlog.conflict WHERE status <> 'pending' AND resolved_at < now() - make_interval(secs => 2592000)} ],
	[ 'access_history_segment_last_access', "a segment's last access (store/upkeep_store.c)",
	  q{SELECT (SELECT max(a.last_access) FROM tieredlog.access_history a WHERE a.segment_id = s.segment_id)
		  FROM (VALUES (7::bigint)) s(segment_id)} ],
	[ 'peer_access_peer_sampled_at', "a new peer's newest sample, none yet (store/peer_store.c)",
	  q{SELECT COALESCE((SELECT max(a.sampled_at) FROM tieredlog.peer_access a WHERE a.peer_name = p.peer_name), '-infinity')
		  FROM (VALUES ('p9'::text)) p(peer_name)} ],
	[ 'peer_access_sampled_at', 'the expiry of peer samples (store/peer_store.c)',
	  q{DELETE FROM tieredlog.peer_access WHERE sampled_at < now() - make_interval(secs => 604800)} ],
	[ 'check_log_diverged', "a segment's past divergences (_pair_features)",
	  q{SELECT (SELECT count(*) FROM tieredlog.check_log d WHERE d.segment_id = seg.segment_id AND d.diverged)
		  FROM (VALUES (7::bigint)) seg(segment_id)} ],
	[ 'check_log_unfinished', 'the checks left unfinished (_log_checks)',
	  q{UPDATE tieredlog.check_log SET status = 'abandoned', finished_at = clock_timestamp()
		 WHERE finished_at IS NULL AND decided_at < now() - interval '10 minutes'} ],
	[ 'check_log_finished', 'the pruning of old checks (store/task_store.c)',
	  q{DELETE FROM tieredlog.check_log d WHERE d.check_id IN
		(SELECT o.check_id FROM tieredlog.check_log o
		  WHERE o.decided_at < now() - make_interval(secs => 7776000) AND o.finished_at IS NOT NULL
			AND EXISTS (SELECT 1 FROM tieredlog.check_log n
						 WHERE n.segment_id = o.segment_id AND n.peer_name = o.peer_name
						   AND (n.decided_at, n.check_id) > (o.decided_at, o.check_id))
		  ORDER BY o.decided_at LIMIT 10000)} ],
	[ 'ledger_entry_witness', "a peer's witness of a block (store/ledger_store.c)",
	  q{SELECT count(*) FILTER (WHERE body->>'block_hash' = 'h'), count(*) FROM tieredlog.ledger_entry
		 WHERE kind = 'WITNESS' AND body->>'node' = 'n1' AND body->>'block_id' = '17'} ],
	[ 'ledger_entry_log_kind', "verify()'s look for a dropped log (store/ledger_store.c)",
	  q{SELECT 1 FROM tieredlog.ledger_entry WHERE kind = 'CONFIG' AND log_name = 'ev' AND entry_id > 5
		   AND body->>'action' = 'drop_log' LIMIT 1} ],
	[ 'ledger_entry_log_kind', "verify()'s later quarantines (store/ledger_store.c)",
	  q{SELECT r.rid FROM tieredlog.ledger_entry l, jsonb_array_elements_text(l.body->'rids') r(rid)
		 WHERE l.kind = 'REPAIR' AND l.segment_id = 7
		   AND NOT EXISTS (SELECT 1 FROM tieredlog.ledger_entry q WHERE q.kind = 'QUARANTINE'
			 AND q.log_name = 'ev' AND q.entry_id > l.entry_id
			 AND r.rid IN (q.body->>'local_rid', q.body->>'other_rid'))} ],
);
for my $c (@cases)
{
	my ($index, $what, $sql) = @$c;
	my $plan = sq("EXPLAIN (COSTS OFF) $sql");
	like($plan, qr/\b\Q$index\E\b/, "$what: through $index") or diag($plan);
}

# The worker's fold, each cycle: only segments that are not sealed, their cells counted through
# the index (store/upkeep_store.c). 2 000 segments (20 open), 256 cells each; rolled back.
my $fold_plan = sq(q{
BEGIN;
INSERT INTO tieredlog.segment (segment_id, log_id, range_start, range_end, state, tier)
SELECT 1000000 + i, 1, '2026-01-01'::timestamptz + i * interval '1 hour', '2026-01-01'::timestamptz + (i + 1) * interval '1 hour',
	   CASE WHEN i % 100 = 0 THEN 'open' ELSE 'sealed' END, 0 FROM generate_series(1, 2000) i;
INSERT INTO tieredlog.digest_cell (segment_id, leaf, n, sum_hi, sum_lo, bytes)
SELECT 1000000 + i / 256, i % 256, 0, 0, 0, 0 FROM generate_series(256, 2001 * 256 - 1) i;
ANALYZE tieredlog.segment, tieredlog.digest_cell;
EXPLAIN (COSTS OFF) SELECT c.segment_id FROM tieredlog.segment s JOIN tieredlog.digest_cell c ON c.segment_id = s.segment_id
 WHERE s.state <> 'sealed' GROUP BY c.segment_id HAVING count(*) > 512;
ROLLBACK;
});
like($fold_plan, qr/\bdigest_cell_segment_leaf\b/, "the fold's look at unsealed segments: through digest_cell_segment_leaf")
	or diag($fold_plan);
unlike($fold_plan, qr/Seq Scan on digest_cell/, 'not a read of every cell') or diag($fold_plan);

# The worker's planning queries with the history's last access as a subquery still plan and run.
is(sq(q{SELECT count(*) FROM tieredlog.segments}), '0', 'the segments view runs');

done_testing();
