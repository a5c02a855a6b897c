# tieredlog.check_log, the scheduler's checks and the model's training data, is pruned by the
# worker to tieredlog.check_retention (default 90 days): finished checks older than that go, the
# newest check of each segment and peer stays whatever its age (a pair's time since its last check
# is read from it), and unfinished checks are not touched. A backlog goes 10 000 rows per flush.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $node = tl_node('ret', "tieredlog.stats_flush_interval = 1\n");
sub sq { return $node->safe_psql('postgres', $_[0]); }
sq(q{CREATE EXTENSION tieredlog});
sq(q{SELECT tieredlog.create_log('ev', '1 hour')});	# the worker runs its cycles once there is a log
is(sq(q{SHOW tieredlog.check_retention}), '90d', 'check_retention defaults to 90 days');

# check(segment, peer, days ago, finished?): a check row, its decided_at that long ago
sub check_row
{
	my ($seg, $peer, $days, $finished) = @_;
	my $fin = $finished ? "now() - interval '$days days' + interval '1 minute'" : 'NULL';
	return "($seg, 'ev', '2026-01-01', 0, '$peer', '{}', 0.5, 1, 'threshold', now() - interval '$days days', $fin,"
	  . ($finished ? 'false' : 'NULL') . ")";
}
my @rows = (
	# pair 1/p1: three old checks and a recent one: the old ones go
	check_row(1, 'p1', 100, 1), check_row(1, 'p1', 95, 1), check_row(1, 'p1', 91, 1), check_row(1, 'p1', 1, 1),
	# pair 2/p1: only old checks: the newest of them stays
	check_row(2, 'p1', 120, 1), check_row(2, 'p1', 100, 1),
	# pair 3/p2: an old finished check, then an old unfinished one: the finished one goes, the other stays
	check_row(3, 'p2', 110, 1), check_row(3, 'p2', 100, 0),
	# pair 1/p2: the same segment with another peer, one old check: it stays (the pair's newest)
	check_row(1, 'p2', 200, 1),
	# pair 5/p1: two checks decided in the same instant: the later check_id stays
	check_row(5, 'p1', 150, 1), check_row(5, 'p1', 150, 1),
	# pair 6/p1: checks within the retention stay
	check_row(6, 'p1', 80, 1), check_row(6, 'p1', 10, 1),
);
sq(q{INSERT INTO tieredlog.check_log (segment_id, log_name, range_start, tier, peer_name, features, score, cost,
	reason, decided_at, finished_at, diverged) VALUES } . join(",\n", @rows));
my $tie = sq(q{SELECT max(check_id) FROM tieredlog.check_log WHERE segment_id = 5});

my $want = join("\n", '1|p1|1|1', '1|p2|200|200', '2|p1|100|100', '3|p2|100|100', '5|p1|150|150', '6|p1|10|80');
my $state = q{SELECT segment_id || '|' || peer_name || '|' || min(round(extract(epoch FROM now() - decided_at) / 86400))
	|| '|' || max(round(extract(epoch FROM now() - decided_at) / 86400))
	FROM tieredlog.check_log GROUP BY segment_id, peer_name ORDER BY segment_id, peer_name};
ok($node->poll_query_until('postgres', "SELECT string_agg(s, E'\\n') FROM ($state) q(s)", $want),
	'the worker prunes checks older than 90 days but the newest of each segment and peer')
  or diag(sq($state));
is(sq(q{SELECT count(*) FROM tieredlog.check_log}), '7', 'seven checks are left');
is(sq(q{SELECT check_id FROM tieredlog.check_log WHERE segment_id = 5}), $tie,
	'of two checks decided in the same instant, the later one stays');
is(sq(q{SELECT count(*) FROM tieredlog.check_log WHERE segment_id = 3 AND finished_at IS NULL}), '1',
	'an unfinished check is not touched, whatever its age');

# A backlog (as after lowering the setting): 25 000 old checks of one pair go over several flushes.
sq(q{INSERT INTO tieredlog.check_log (segment_id, log_name, range_start, tier, peer_name, features, score, cost,
	reason, decided_at, finished_at, diverged)
	SELECT 9, 'ev', '2026-01-01', 0, 'p1', '{}', 0.5, 1, 'threshold', now() - interval '100 days' - i * interval '1 s',
		   now() - interval '100 days', i % 7 = 0 FROM generate_series(1, 25000) i});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM tieredlog.check_log WHERE segment_id = 9}, '1'),
	'a backlog of 25 000 old checks is pruned down to the newest');
my $log = slurp_file($node->logfile);
unlike($log, qr/could not|ERROR/, 'no error in the server log');

# Lowered to 0: every finished check but the newest of each pair goes; unfinished ones stay.
$node->append_conf('postgresql.conf', "tieredlog.check_retention = 0\n");
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM tieredlog.check_log}, '7'),
	'with check_retention = 0 one check per pair is left');
is(sq(q{SELECT string_agg(segment_id || '/' || peer_name, ',' ORDER BY segment_id, peer_name) FROM tieredlog.check_log
		 WHERE segment_id <> 3}), '1/p1,1/p2,2/p1,5/p1,6/p1,9/p1', 'the newest check of each pair');
is(sq(q{SELECT count(*) FROM tieredlog.check_log WHERE segment_id = 6 AND decided_at > now() - interval '11 days'}), '1',
	'and it is the newest one');

# The setting is the server's: a role cannot change it for its session, a bad value is refused.
sq(q{CREATE ROLE app LOGIN});
my ($rc, $out, $err) = $node->psql('postgres', q{SET tieredlog.check_retention = '1d'}, extra_params => ['-U', 'app']);
like($err, qr/cannot be changed now/, 'a role cannot SET check_retention');
($rc, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET tieredlog.check_retention = -1});
like($err, qr/-1 s is outside the valid range/, 'a negative retention is refused');

done_testing();
