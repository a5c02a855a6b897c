# A key's origins from peers are bounded (tieredlog.max_key_origins).
#
# A peer streams only its own records, but reconciliation brings records of any origin (it
# repairs what a node missed from nodes it may not stream from). Every stored record is compared
# with the newest record of each other origin of its key, and every two origins can hold an
# episode: a peer that sends one record of a key under each of N invented origins would have
# this node read N heads per record and store up to N^2/2 conflict rows. n1 plays that peer: its
# rows of key 'hot' under 10 made-up origins are written by hand (under a replication origin, so
# that they are not streamed, as a hostile peer's reconciliation answers need not be). On n2,
# where tieredlog.max_key_origins = 4:
#  1. reconcile() from n1 is refused with 54000, naming the key and the setting; nothing of the
#     key is stored, and no conflict row;
#  2. with the bound at 16 (reload) the same reconcile() stores the 10 records once each, and the
#     conflict rows stay within the pairs of those origins; each pair finds its episode through
#     the key's rows (conflict_key_recent), among 50 000 rows of other keys, and the segments
#     view counts a segment's conflicts through conflict_log_time;
#  3. with conflict detection off (conflict_window = 0) the bound holds all the same;
#  4. records of a peer's own origin (streaming) are not affected: n1's appends of one key keep
#     arriving while the bound is at its lowest.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $n1 = tl_node('n1');
my $n2 = tl_node('n2', "tieredlog.max_key_origins = 4\nlog_error_verbosity = verbose\n");
for my $n ($n1, $n2)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
}
tl_full_mesh($n1, $n2);

$n1->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'start', '{}')});
ok($n2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev', key => 'start')"),
	'n2 streams from n1');
# n2 reconciles by hand from here on
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false)");

# n1's rows of key $key under origins fake01..fake$n (records a hostile peer holds), $dt apart
sub forge
{
	my ($key, $n) = @_;
	my $rel = $n1->safe_psql('postgres',
		"SELECT relation FROM tieredlog.segments WHERE log_name = 'ev' AND relation IS NOT NULL
		 ORDER BY range_start DESC LIMIT 1");
	$n1->safe_psql('postgres', qq{
		SELECT pg_replication_origin_session_setup('forger');
		INSERT INTO tieredlog_data.$rel (ts, key, payload, source, origin, seq, rid)
		SELECT t, '$key', p, NULL, o, 1, tieredlog.record_rid('ev', '$key', p, t, NULL, o, 1)
		  FROM (SELECT now() - i * interval '1 ms' AS t, jsonb_build_object('i', i) AS p,
		               'fake' || lpad(i::text, 2, '0') AS o
		          FROM generate_series(1, $n) i) f;});
	return;
}
$n1->safe_psql('postgres', "SELECT pg_replication_origin_create('forger')");
forge('hot', 10);
is($n1->safe_psql('postgres', "SELECT count(DISTINCT origin) FROM tieredlog.read('ev', key => 'hot')"), '10',
	'n1 holds key hot under 10 origins');

my $count_hot = "SELECT count(*) FROM tieredlog.read('ev', key => 'hot')";
my $conflicts_hot = "SELECT count(*) FROM tieredlog.conflicts WHERE key = 'hot'";

# 1. Over the bound: refused.
my ($rc, $out, $err) = $n2->psql('postgres', "SELECT * FROM tieredlog.reconcile('ev', 'n1')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/54000: key "hot" of log "ev" has records of more than 4 origins in segment \d+/,
	'reconciliation over the bound: refused with 54000, naming the key') or diag("rc $rc, $out, $err");
like($err, qr/tieredlog\.max_key_origins/, 'and the setting');
is($n2->safe_psql('postgres', $count_hot), '0', 'nothing of the key stored');
is($n2->safe_psql('postgres', $conflicts_hot), '0', 'no conflict row');
is($n2->safe_psql('postgres', 'SELECT 1'), '1', 'n2 is up');

# 2. The bound raised: stored once each; conflicts only between those origins. n2's conflict table
# first gets 50 000 old rows of other keys: an episode is looked up by its key, newest first
# (conflict_key_recent), not by walking the table backward through its primary key (65 ms a pair
# at 300 000 rows before the index; bench/RESULTS.md).
$n2->safe_psql('postgres', q{
	INSERT INTO tieredlog.conflict (log_name, key, rid_a, origin_a, seq_a, ts_a, payload_a, rid_b, origin_b,
		seq_b, ts_b, payload_b, arrived, via, rule, status, winner, reason, updated_at)
	SELECT 'ev', 'old' || (i % 1000), least(a, b), 'x', i, '2026-01-01', '{}', greatest(a, b), 'y', i,
		   '2026-01-01', '{}', 'a', 'streaming', 'last_writer_wins', 'resolved', 'a', 'filler', '2026-01-01'
	  FROM (SELECT i, gen_random_uuid() a, gen_random_uuid() b FROM generate_series(1, 50000) i) g;
	ANALYZE tieredlog.conflict;});
$n2->safe_psql('postgres', "ALTER SYSTEM SET tieredlog.max_key_origins = 16; SELECT pg_reload_conf();");
$n2->poll_query_until('postgres', "SELECT current_setting('tieredlog.max_key_origins') = '16'")
  or die 'the setting did not change';
$n2->safe_psql('postgres', "SELECT * FROM tieredlog.reconcile('ev', 'n1')");
is($n2->safe_psql('postgres', "SELECT count(*) || '/' || count(DISTINCT origin) FROM tieredlog.read('ev', key => 'hot')"),
	'10/10', 'with the bound at 16: the 10 records stored once each');
cmp_ok($n2->safe_psql('postgres', $conflicts_hot), '<=', 45, 'at most one episode per pair of the 10 origins');
ok($n2->poll_query_until('postgres',
		"SELECT idx_scan >= 45 FROM pg_stat_all_indexes WHERE indexrelname = 'conflict_key_recent'"),
	'each pair looked up its episode through the key (conflict_key_recent)');
like($n2->safe_psql('postgres', 'EXPLAIN SELECT * FROM tieredlog.segments'), qr/conflict_log_time/,
	"the segments view counts a segment's conflicts through conflict_log_time, not a whole-table scan per segment");
is($n2->safe_psql('postgres', "SELECT sum(conflicts) FROM tieredlog.segments WHERE log_name = 'ev'"),
	$n2->safe_psql('postgres', $conflicts_hot), "and counts the key's conflicts in its segment");

# 3. Without conflict detection the bound holds too.
forge('cold', 20);
$n2->safe_psql('postgres', "ALTER SYSTEM SET tieredlog.conflict_window = 0; SELECT pg_reload_conf();");
$n2->poll_query_until('postgres', "SELECT current_setting('tieredlog.conflict_window') = '0'")
  or die 'the setting did not change';
($rc, $out, $err) = $n2->psql('postgres', "SELECT * FROM tieredlog.reconcile('ev', 'n1')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/54000: key "cold" of log "ev" has records of more than 16 origins/,
	'conflict detection off: 20 origins over a bound of 16 refused all the same') or diag("rc $rc, $out, $err");
is($n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev', key => 'cold')"), '0', 'nothing of it stored');
$n2->safe_psql('postgres', "ALTER SYSTEM SET tieredlog.max_key_origins = 32; SELECT pg_reload_conf();");
$n2->poll_query_until('postgres', "SELECT current_setting('tieredlog.max_key_origins') = '32'")
  or die 'the setting did not change';
$n2->safe_psql('postgres', "SELECT * FROM tieredlog.reconcile('ev', 'n1')");
is($n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev', key => 'cold')"), '20',
	'at 32: the 20 records stored');

# 4. A peer's own records (streaming) are not bounded by it: at the lowest bound, n1's 30 records of
# one key arrive (one origin), with the forged rows already here.
$n2->safe_psql('postgres', "ALTER SYSTEM SET tieredlog.max_key_origins = 2; ALTER SYSTEM RESET tieredlog.conflict_window; SELECT pg_reload_conf();");
$n2->poll_query_until('postgres', "SELECT current_setting('tieredlog.max_key_origins') = '2'")
  or die 'the setting did not change';
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', true)");
$n1->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'hot', jsonb_build_object('n', i)) FROM generate_series(1, 30) i});
ok($n2->poll_query_until('postgres', "SELECT count(*) = 40 FROM tieredlog.read('ev', key => 'hot')"),
	'n1 streams 30 records of key hot (its own origin) while the bound is 2');
is($n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.peers WHERE peer_name = 'n1' AND last_error IS NOT NULL"),
	'0', 'without an error');

done_testing();
