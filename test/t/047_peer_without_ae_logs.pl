# reconcile() of every log with a peer that has no tieredlog._ae_logs() (its extension predates
# it, as 1.0's does): the peer's log names come from its tieredlog.log instead, which a peer role
# that may read it (a superuser here) answers. Without the fallback the whole call failed with the
# peer's 42883.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my ($a, $b) = (tl_node('a'), tl_node('b'));
for my $n ($a, $b)
{
	$n->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('ev', '1 day'), tieredlog.create_log('audit', '1 day');
});
}
# records on b before a peers with it: streaming never sends them, only reconciliation does
$b->safe_psql('postgres', q{
SELECT tieredlog.append_many('ev', array_agg('k' || i), array_agg(jsonb_build_object('i', i)), NULL,
	array_agg(timestamptz '2026-03-01 10:00:00+00' + i * interval '1 second'))
  FROM generate_series(1, 30) i;
SELECT tieredlog.append('audit', 'who', '{"did": "it"}', NULL, '2026-03-01 11:00:00+00');
});
tl_add_peer($a, $b);
ok($a->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"),
	'a streams from b');

# b loses _ae_logs, as a peer on an older version never had it
$b->safe_psql('postgres', q{
ALTER EXTENSION tieredlog DROP FUNCTION tieredlog._ae_logs();
DROP FUNCTION tieredlog._ae_logs();
});
my ($rc, $out, $err) = $b->psql('postgres', 'SELECT tieredlog._ae_logs()');
like($err, qr/function tieredlog\._ae_logs\(\) does not exist/, 'b has no _ae_logs()');

($rc, $out, $err) = $a->psql('postgres',
	"SELECT log_name || ':' || sum(records_received) FROM tieredlog.reconcile() GROUP BY log_name ORDER BY log_name");
is($rc, 0, 'reconcile() of every log with that peer succeeds') or diag("stderr: $err");
is($out, "audit:1\nev:30", 'and brings both logs\' records') or diag("stderr: $err");
is($a->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')") . ' ' .
   $a->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('audit')"), '30 1', 'a holds them');
is($a->safe_psql('postgres', "SELECT sum(records_received) FROM tieredlog.reconcile()"), '0',
	'a second reconcile() receives nothing');

done_testing();
