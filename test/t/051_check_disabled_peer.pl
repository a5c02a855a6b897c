# A scheduled check planned for a peer that set_peer_enabled(false) pauses (or drop_peer removes)
# before the check runs is not run: the paused peer is not contacted, and check_log says why.
# (The demo's partition pauses the peers between two cycles' plan and run: a check planned before
# it still reconciled across it, and the conflict the partition was to make did not happen on
# every node.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my ($a, $b) = (tl_node('a'), tl_node('b'));
for my $n ($a, $b)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
}
tl_add_peer($a, $b);
ok($a->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"), 'a streams from b');
$b->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'k' || i, '{}', NULL,
	date_trunc('hour', now()) - interval '3 hours' + i * interval '1 s') FROM generate_series(1, 10) i});
ok($a->poll_query_until('postgres', "SELECT count(*) = 10 FROM tieredlog.read('ev')"), 'a has b\'s records');

my $ids = $a->safe_psql('postgres', "SELECT array_to_string(tieredlog._log_checks(), ',')");
isnt($ids, '', "a's scheduler plans checks with b ($ids)");
$a->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('b', false)");
for my $id (split /,/, $ids)
{
	is($a->safe_psql('postgres', "SELECT tieredlog._run_check($id) IS NULL"), 't', "check $id, planned before the pause, is not run");
}
is($a->safe_psql('postgres', "SELECT string_agg(DISTINCT status || ': ' || error, '; ') FROM tieredlog.check_log WHERE check_id IN ($ids)"),
	'abandoned: the peer was disabled or dropped after the check was planned', 'check_log says why');

$a->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('b', true)");
cmp_ok($a->safe_psql('postgres', "SELECT tieredlog._run_checks()"), '>', 0, 'resumed: the next plan checks b again');
is($a->safe_psql('postgres', "SELECT count(*) FROM tieredlog.check_log WHERE status = 'in_sync'"),
	$a->safe_psql('postgres', "SELECT count(*) FROM tieredlog.check_log WHERE status <> 'abandoned'"), 'and those checks run');

done_testing();
