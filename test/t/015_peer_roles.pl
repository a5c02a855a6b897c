# Peers that log in as roles of their own, set up as the README's Privileges section says (no
# superuser on the peer side): streaming, reconciliation, votes and ledger witnesses all work,
# and such a role cannot speak for another node.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $conf = "tieredlog.ledger_interval = 1\ntieredlog.stats_flush_interval = 1\n";
my @nodes = (tl_node('r1', $conf), tl_node('r2', $conf));
my ($r1, $r2) = @nodes;

# The README's role set-up for the peers (one role here, "peer_in", that every peer uses).
for my $n (@nodes)
{
	$n->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
CREATE ROLE peer_in LOGIN REPLICATION;
GRANT USAGE ON SCHEMA tieredlog TO peer_in;
GRANT EXECUTE ON FUNCTION tieredlog.node_name() TO peer_in;
DO $$ DECLARE f regprocedure; BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'tieredlog'::regnamespace AND p.proname LIKE '\_ae\_%' LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO peer_in', f);
  END LOOP; END $$;
SELECT tieredlog.create_log('ev', '1 hour');
SELECT tieredlog.append('ev', 'before-' || g, jsonb_build_object('g', g), NULL,
                        timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute')
  FROM generate_series(1, 50) g;
});
}
for my $pair ([ $r1, $r2 ], [ $r2, $r1 ])
{
	my ($a, $b) = @$pair;
	my $conn = $b->connstr('postgres') . ' user=peer_in';
	$a->safe_psql('postgres', "SELECT tieredlog.add_peer('" . $b->name . "', \$\$$conn\$\$)");
}
for my $n (@nodes)
{
	ok($n->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"),
		$n->name . ' streams from its peer, which it reaches as peer_in');
	is($n->safe_psql('postgres', 'SELECT peer_role IS NULL FROM tieredlog.peers'), 't',
		$n->name . ": the peer's role defaults to its conninfo's user");
}

$r1->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'live-' || g, '{}') FROM generate_series(1, 20) g});
ok($r2->poll_query_until('postgres', "SELECT count(*) = 20 FROM tieredlog.read('ev') WHERE key LIKE 'live-%'"),
	'streamed records arrive');

# The README's local roles on r2; "ops" is an operator (log_operator's grants, no superuser),
# "nobody" a login without them.
$r2->safe_psql('postgres', tl_readme_roles() . q{
CREATE ROLE ops LOGIN IN ROLE log_operator;
CREATE ROLE nobody LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO nobody;
});
my ($rc, $out, $err) = $r2->psql('postgres', q{SELECT * FROM tieredlog.reconcile('ev', 'r1')},
	extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied for function reconcile/, 'a role without EXECUTE cannot reconcile');
unlike($err, qr/tieredlog\.peer|conninfo/, 'and learns nothing about the peers');

# history written before the peers existed: reconciliation stores it on the other side as peer_in,
# run by the operator role
my $res = $r2->safe_psql('postgres', q{SELECT string_agg(DISTINCT status, ',') FROM tieredlog.reconcile('ev', 'r1')},
	extra_params => [ '-U', 'ops' ]);
unlike($res, qr/failed|error/, "reconcile() by an operator role, through peer_in ($res)");
$res = $r2->safe_psql('postgres', q{SELECT string_agg(DISTINCT status, ',') FROM tieredlog.reconcile(NULL, 'r1')},
	extra_params => [ '-U', 'ops' ]);
is($res, 'in_sync', 'and of every log (the log names read as the owner): in sync now');
($rc, $out, $err) = $r2->psql('postgres', q{SELECT conninfo FROM tieredlog.peer}, extra_params => [ '-U', 'ops' ]);
like($err, qr/permission denied for table peer/, 'the operator still cannot read the peers\' conninfo');
is($r2->safe_psql('postgres', q{SELECT count(*) FROM tieredlog.read('ev') WHERE key LIKE 'before-%'}), '100',
	'r2 holds both nodes\' history');
$res = $r1->safe_psql('postgres', q{SELECT string_agg(DISTINCT status, ',') FROM tieredlog.reconcile('ev', 'r2')});
is($r1->safe_psql('postgres', q{SELECT count(*) FROM tieredlog.read('ev') WHERE key LIKE 'before-%'}), '100',
	"r1 too, pushing and pulling as peer_in ($res)");

# access statistics: each worker gathers the other's (_ae_access), as peer_in
for my $pair ([ $r1, 'r2' ], [ $r2, 'r1' ])
{
	my ($n, $other) = @$pair;
	ok($n->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.peer_access WHERE peer_name = '$other'"),
		$n->name . " gathers $other\'s access statistics, asking as peer_in");
}
for my $n (@nodes)
{
	unlike(slurp_file($n->logfile), qr/tieredlog [a-z ]+ ERROR:  permission denied/,
		$n->name . ': no peer call was refused a table');
}

# witnesses: each worker files its ledger digest with the other, as peer_in
for my $pair ([ $r1, 'r2' ], [ $r2, 'r1' ])
{
	my ($n, $other) = @$pair;
	ok($n->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = '$other'"),
		$n->name . " keeps $other\'s digest, which $other filed as peer_in");
}

# peer_in stands for r2 on r1: it cannot claim to be anyone else
my $hash = 'ab' x 32;
($rc, $out, $err) = $r1->psql('postgres',
	"SELECT tieredlog._ae_witness('{\"node\": \"r3\", \"block_id\": 1, \"block_hash\": \"$hash\"}')",
	extra_params => [ '-U', 'peer_in' ]);
like($err, qr/role "peer_in" may not speak for node "r3"/, 'peer_in cannot witness as another node');
($rc, $out, $err) = $r1->psql('postgres', q{SELECT tieredlog.append('ev', 'x', '{}')}, extra_params => [ '-U', 'peer_in' ]);
like($err, qr/permission denied for function append/, 'nor write records of its own');

for my $n (@nodes)
{
	my $errors = $n->safe_psql('postgres', q{SELECT count(*) FROM tieredlog.peers WHERE last_error IS NOT NULL});
	is($errors, '0', $n->name . ': no peer error');
}
$_->stop for @nodes;
done_testing();
