# Physical backup and recovery of a node in a mesh of three: pg_basebackup of a running n1 with
# three tablespaces, more records written on n1 after the backup (its peers receive them), n1
# destroyed and restored from the backup:
#  - the restored node starts, its segment relations in the restored tablespaces;
#  - it finds that it started from a base backup and refuses local appends (SQLSTATE 55000) from
#    the first statement on, with status() saying why;
#  - it waits for every enabled peer (n3 is down for a while): the hold lifts only once each has
#    been reconciled, which brings n1's lost records back from its peers;
#  - then its appends get seqs past every record it wrote before, and after new appends on all
#    three nodes every node holds every record exactly once, no (origin, seq) names two contents
#    (nothing quarantined), and the segment digests are equal everywhere.
use strict;
use warnings;
use File::Path qw(rmtree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my @nodes = map { tl_node("n$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;

my $ts = PostgreSQL::Test::Utils::tempdir();
for my $t (qw(hot warm cold))
{
	mkdir "$ts/$t" or die "mkdir: $!";
	$n1->safe_psql('postgres', "CREATE TABLESPACE $t LOCATION '$ts/$t'");
}
for my $n (@nodes)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
}
$n1->safe_psql('postgres', q{SELECT tieredlog.set_tier(0, 'hot'), tieredlog.set_tier(1, 'warm'), tieredlog.set_tier(2, 'cold')});
tl_full_mesh(@nodes);

sub append_on
{
	my ($node, $prefix, $count, $hour) = @_;
	$node->safe_psql('postgres', "SELECT count(tieredlog.append('ev', '$prefix' || i, jsonb_build_object('i', i), NULL,
		'2026-05-01 00:00+00'::timestamptz + interval '$hour hours' + i * interval '1 s')) FROM generate_series(1, $count) i");
}

sub all_hold
{
	my ($total, $what) = @_;
	for my $n (@nodes)
	{
		ok($n->poll_query_until('postgres', "SELECT count(*) = $total FROM tieredlog.read('ev')"), $n->name . ": $total records ($what)");
	}
}

sub digests
{
	return $_[0]->safe_psql('postgres', "SELECT string_agg(range_start || '=' || digest, ',' ORDER BY range_start)
		FROM tieredlog.segments WHERE log_name = 'ev'");
}

append_on($_->[0], $_->[1], 100, 0) for ([$n1, 'a'], [$n2, 'b'], [$n3, 'c']);
all_hold(300, 'before the backup');
# a sealed segment in tier 1 and one in tier 2, so the backup holds all three tablespaces
append_on($n1, 'old', 50, -3);
append_on($n1, 'older', 50, -2);
all_hold(400, 'two more segments');
$n1->safe_psql('postgres', q{SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'ev' AND range_start < '2026-05-01'});
$n1->safe_psql('postgres', q{SELECT tieredlog.move_segment(segment_id, 1) FROM tieredlog.segments
	WHERE log_name = 'ev' AND range_start = '2026-04-30 21:00+00'});
$n1->safe_psql('postgres', q{SELECT tieredlog.move_segment(segment_id, 2) FROM tieredlog.segments
	WHERE log_name = 'ev' AND range_start = '2026-04-30 22:00+00'; SELECT tieredlog.sweep();});
is($n1->safe_psql('postgres', "SELECT string_agg(DISTINCT tablespace, ',' ORDER BY tablespace) FROM tieredlog.segments WHERE log_name = 'ev'"),
	'cold,hot,warm', 'n1 has segments in all three tablespaces');

# ---- the backup, then records only the peers keep --------------------------------------------------------
my $bk = PostgreSQL::Test::Utils::tempdir();
$n1->backup('bk', backup_options => [ map { ('-T', "$ts/$_=$bk/$_") } qw(hot warm cold) ]);
my $seq_at_backup = $n1->safe_psql('postgres', 'SELECT last_value FROM tieredlog.local_seq');
append_on($n1, 'lost', 60, 1);
all_hold(460, 'n1 wrote 60 more after the backup');
my $lost_max = $n2->safe_psql('postgres', "SELECT max(seq) FROM tieredlog.read('ev') WHERE origin = 'n1'");
cmp_ok($lost_max, '>', $seq_at_backup, "the peers hold n1's records up to seq $lost_max; the backup has local_seq at $seq_at_backup");

# ---- n1 destroyed and restored from the backup; n3 is down meanwhile ---------------------------------------
$n1->stop('immediate');
$n3->stop;
rmtree($n1->data_dir);
rmtree("$ts/$_") for qw(hot warm cold);
system('cp', '-a', $n1->backup_dir . '/bk', $n1->data_dir) == 0 or die "cp failed";
$n1->start;
my ($rc, $out, $err) = $n1->psql('postgres', "\\set VERBOSITY verbose\nSELECT tieredlog.append('ev', 'too-early', '{}')");
like($err, qr/ERROR:  55000: appending to a tieredlog log is not possible: this node is recovering its own records/,
	'the restored n1 refuses appends from its first statement (55000)');
# the worker finds backup_label.old; the apply worker may find first that a peer's "_seen" record
# knows more of n1's records than its local_seq handed out
like($err, qr/started from a base backup|holds this node's records up to seq \d+, but local_seq is at $seq_at_backup/,
	'and says why: it started from a base backup, or a peer holds more of its records');
like($n1->safe_psql('postgres', 'SELECT tieredlog.node_hold()'), qr/^recovering: /, 'node_hold() says why');
is($n1->safe_psql('postgres', "SELECT string_agg(DISTINCT tablespace, ',' ORDER BY tablespace) FROM tieredlog.segments WHERE log_name = 'ev'"),
	'cold,hot,warm', 'the restored n1 has its segments in its three tablespaces');
cmp_ok($n1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')"), '>=', 400, 'it has what the backup had');
sleep 3;	# the worker reconciles with n2, and cannot with n3
like($n1->safe_psql('postgres', 'SELECT tieredlog.node_hold()'), qr/^recovering: /,
	'while n3 is down the hold stays (every enabled peer must be reconciled)');
($rc, $out, $err) = $n1->psql('postgres', "SELECT tieredlog.append('ev', 'too-early', '{}')");
like($err, qr/this node is recovering its own records/, 'appends are still refused');
ok($n1->poll_query_until('postgres', "SELECT worker_state = 'recovering' FROM tieredlog.status()"),
	'status() shows the worker recovering');

$n3->start;
ok($n1->poll_query_until('postgres', 'SELECT tieredlog.node_hold() IS NULL'), 'with n3 back the hold lifts');
is($n1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev') WHERE key LIKE 'lost%'"), '60',
	'n1 has its 60 lost records back from its peers');
my $seq = $n1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'fresh', '{}')");
cmp_ok($seq, '>', $lost_max, "n1's next record gets seq $seq, past every seq the peers hold of it ($lost_max)");
like($n1->safe_psql('postgres', "SELECT body::text FROM tieredlog.ledger WHERE body->>'action' = 'recovered'"),
	qr/"reconciled_peers": "\{n2,n3\}"/, 'the ledger records the recovery and the peers it waited for');

# ---- everyone writes again --------------------------------------------------------------------------------
append_on($_->[0], $_->[1], 30, 2) for ([$n1, 'a2-'], [$n2, 'b2-'], [$n3, 'c2-']);
all_hold(551, 'new appends everywhere');
for my $n (@nodes)
{
	is($n->safe_psql('postgres', "SELECT count(*) - count(DISTINCT (origin, seq)) FROM tieredlog.read('ev')"), '0',
		$n->name . ': no (origin, seq) twice');
	is($n->safe_psql('postgres', 'SELECT count(*) FROM tieredlog.quarantine'), '0', $n->name . ': nothing quarantined');
}
my %fp = map { $_->name => $_->safe_psql('postgres', "SELECT md5(string_agg(origin || ':' || seq || ':' || rid, ',' ORDER BY origin, seq))
	FROM tieredlog.read('ev')") } @nodes;
is($fp{n2}, $fp{n1}, 'n2 holds the same records as n1');
is($fp{n3}, $fp{n1}, 'n3 holds the same records as n1');
ok($n1->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.check_digests() WHERE NOT ok"), 'n1 digests check clean');
my $d1 = digests($n1);
ok($n2->poll_query_until('postgres', "SELECT string_agg(range_start || '=' || digest, ',' ORDER BY range_start)
	FROM tieredlog.segments WHERE log_name = 'ev'", $d1), 'n2 has the same segment digests as n1');
ok($n3->poll_query_until('postgres', "SELECT string_agg(range_start || '=' || digest, ',' ORDER BY range_start)
	FROM tieredlog.segments WHERE log_name = 'ev'", $d1), 'n3 has the same segment digests as n1');

# ---- a node without peers restored from a base backup: found from backup_label.old alone ------------------
my $s1 = tl_node('s1');
$s1->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');
	SELECT tieredlog.append('ev', 'k', '{}');});
$s1->backup('bk');
$s1->stop('immediate');
rmtree($s1->data_dir);
system('cp', '-a', $s1->backup_dir . '/bk', $s1->data_dir) == 0 or die "cp failed";
$s1->start;
ok($s1->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.ledger WHERE body->>'action' = 'recovered'"),
	's1 recovered: with no enabled peer there is nothing to wait for');
like($s1->safe_psql('postgres', "SELECT body->'detail'->>'reason' FROM tieredlog.ledger WHERE body->>'action' = 'recovered'"),
	qr/the server started from a base backup at /, 'found from backup_label.old');
is($s1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'k', '{}')"), '2', 's1 appends again');
$s1->restart;
is($s1->safe_psql('postgres', "SELECT tieredlog.node_hold() IS NULL"), 't',
	'a plain restart afterwards is not mistaken for a restore');
is($s1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'k', '{}')"), '3', 'and appends go on');

# ---- a standby of s1 promoted: a new timeline, found from the control data ---------------------------------
$s1->backup('bk2');
my $sb = PostgreSQL::Test::Cluster->new('s1_standby');
$sb->init_from_backup($s1, 'bk2', has_streaming => 1);
$sb->start;
$s1->wait_for_catchup($sb);
$sb->promote;
ok($sb->poll_query_until('postgres', "SELECT count(*) = 2 FROM tieredlog.ledger WHERE body->>'action' = 'recovered'"),
	'the promoted standby recovered before appending');
like($sb->safe_psql('postgres', "SELECT body->'detail'->>'reason' FROM tieredlog.ledger WHERE body->>'action' = 'recovered'
	ORDER BY entry_id DESC LIMIT 1"), qr/the timeline changed from 1 to 2/, 'found from its new timeline');
cmp_ok($sb->safe_psql('postgres', "SELECT tieredlog.append('ev', 'k', '{}')"), '>', 3, 'and then appends');

done_testing();
