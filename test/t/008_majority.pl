# Damage among four nodes while the record's origin is down: two copies that both hash to their
# rids, so neither is self-evidently damaged. The nodes that answer vote, and the copy more than
# half of them hold wins — in both directions of one reconciliation: the node that coordinates
# keeps its copy when the majority holds it, and the peer's forged copy is replaced. Both
# versions stay in quarantine with the vote that decided. Three versions among three nodes: no
# majority, nothing changes until the origin is back. (A majority of forged copies would win: the
# vote protects against damage on a minority of nodes, not against a majority of them.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my @nodes;
for my $i (1 .. 4)
{
	my $n = tl_node("m$i");
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
	push @nodes, $n;
}
my ($m1, $m2, $m3, $m4) = @nodes;
tl_full_mesh(@nodes);

sub contents
{
	return $_[0]->safe_psql('postgres',
		"SELECT count(*) || ':' || md5(string_agg(origin || ':' || seq || '=' || payload::text || '=' || rid, ','
		 ORDER BY origin, seq)) FROM tieredlog.read('ev')");
}

# forge a copy that hashes to its own rid: not detectable as damage on its own
sub forge
{
	my ($n, $key, $payload) = @_;
	my $rel = $n->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'ev'");
	$n->safe_psql('postgres', "UPDATE tieredlog_data.$rel SET payload = '$payload',
		rid = tieredlog.record_rid('ev', key, '$payload', ts, source, origin, seq) WHERE key = '$key'");
}

$m1->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'k' || i, jsonb_build_object('i', i), NULL,
	'2026-04-01 10:00:00+00'::timestamptz + i * interval '10 s') FROM generate_series(1, 50) i});
for my $n ($m2, $m3, $m4)
{
	ok($n->poll_query_until('postgres', "SELECT count(*) = 50 FROM tieredlog.read('ev')"), $n->name . ' has the 50 records');
}
my $want = contents($m1);

$m1->stop;
forge($m2, 'k5', '{"forged": 2}');
forge($m4, 'k7', '{"forged": 4}');
is(contents($m2) eq $want, '', 'm2 holds a forged copy of k5');

# m2 coordinates with m4: each receives the other's copy of k5 and k7 and asks the peers it can
# reach. It runs as an operator with the README's grants (no superuser): the vote reads the peers
# as the extension's owner.
$m2->safe_psql('postgres', tl_readme_roles() . "CREATE ROLE ops LOGIN IN ROLE log_operator;");
my ($rc, $out, $err) = $m2->psql('postgres', "SELECT status || '|' || records_sent || '|' || records_received
	FROM tieredlog.reconcile('ev', 'm4')", extra_params => ['-U', 'ops']);
is($rc, 0, 'the reconciliation runs with the origin m1 down, as an operator') or diag("stderr: $err");
like($err, qr/replaced by the peer's copy: 2 of the 3 nodes that answered hold it/,
	'm2 takes the majority\'s copy of k5 from m4');
like($err, qr/kept this node's copy: 2 of the 3 nodes that answered hold it/,
	'and keeps its own copy of k7, which the majority holds');
is($m2->safe_psql('postgres', "SELECT payload FROM tieredlog.read('ev', key => 'k5')"), '{"i": 5}', 'm2 has the original k5 again');
is($m4->safe_psql('postgres', "SELECT payload FROM tieredlog.read('ev', key => 'k7')"), '{"i": 7}', 'm4 has the original k7 again');
is($m2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.quarantine WHERE key IN ('k5', 'k7') AND resolved_at IS NOT NULL"),
	'2', 'm2 keeps both disagreements in quarantine, resolved');
is($m2->safe_psql('postgres', "SELECT local_payload::text || ' / ' || other_payload::text FROM tieredlog.quarantine WHERE key = 'k5'"),
	'{"forged": 2} / {"i": 5}', 'with both versions of k5');
like($m4->safe_psql('postgres', "SELECT resolution FROM tieredlog.quarantine WHERE key = 'k7'"),
	qr/2 of the 3 nodes that answered hold it/, 'm4 says which vote replaced its k7');

# three versions among the three nodes that answer: no majority, nothing changes, the record
# waits in quarantine for the origin (or a person)
forge($m3, 'k9', '{"forged": 3}');
forge($m4, 'k9', '{"forged": 4}');
($rc, $out, $err) = $m2->psql('postgres', "SELECT status FROM tieredlog.reconcile('ev', 'm3')",
	extra_params => ['-U', 'ops']);
is($out, 'damaged', 'three versions, one each: the segment is reported damaged');
like($err, qr/stays quarantined: no majority among the 3 nodes that answered/, 'saying there is no majority');
is($m3->safe_psql('postgres', "SELECT payload FROM tieredlog.read('ev', key => 'k9')"), '{"forged": 3}', 'm3 keeps its copy too');
is($m2->safe_psql('postgres', "SELECT payload FROM tieredlog.read('ev', key => 'k9')"), '{"i": 9}', 'm2 keeps its copy meanwhile');

# the origin comes back and decides for everyone
$m1->start;
for my $n ($m3, $m4)
{
	$m1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.reconcile('ev', '" . $n->name . "')");
}
for my $n ($m2, $m3, $m4)
{
	is(contents($n), $want, $n->name . ' has exactly the origin\'s records and contents');
	is($n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.check_digests('ev') WHERE NOT ok"), '0',
		$n->name . ': stored digests equal the rows');
}
is($m3->safe_psql('postgres', "SELECT count(*) FROM tieredlog.quarantine WHERE key = 'k9' AND resolved_at IS NULL"), '0',
	'm3\'s k9 is resolved by the origin');

done_testing();
