# Conflict episodes among three nodes (conflict.c): a remote record is compared only with the
# heads of its key (each other origin's newest record), and a conflict row is an episode that
# moves to the newer pair while two origins keep writing without seeing each other.
#  - the same records delivered in three different orders by streaming, and by reconciliation,
#    leave every node with the same episodes (same pairs, winner, status) and the same latest();
#  - a hot key written 200 times on each side of a cut makes three episodes per node, not the
#    40 000 pairs a comparison with every record in the window would make; rows never exceed
#    the remote records;
#  - a record written after its writer saw the others ends the episodes: no new row;
#  - manual rule: the episode waits at its newest pair; a person's decision reaches every node.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes;
use TlCluster;

my @nodes;
for my $i (1 .. 3)
{
	my $n = tl_node("e$i");
	$n->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('ev', '1 hour');
SELECT tieredlog.create_log('hot', '1 hour');
SELECT tieredlog.create_log('rec', '1 hour');
SELECT tieredlog.create_log('man', '1 hour', 'manual');
});
	push @nodes, $n;
}
my ($e1, $e2, $e3) = @nodes;
tl_full_mesh(@nodes);

sub set_enabled
{
	my ($n, $peer, $on) = @_;
	$n->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('$peer', $on)");
}

sub cut_all
{
	for my $n (@nodes)
	{
		set_enabled($n, $_->name, 'false') for grep { $_ != $n } @nodes;
	}
}

sub has_count
{
	my ($n, $log, $want, $what) = @_;
	ok($n->poll_query_until('postgres', "SELECT count(*) = $want FROM tieredlog.read('$log')"),
		$n->name . " holds the $want records of $log ($what)");
}

sub append_n
{
	my ($n, $log, $key, $count) = @_;
	$n->safe_psql('postgres', "SELECT tieredlog.append('$log', '$key', jsonb_build_object('by', '" . $n->name
		  . "', 'i', i)) FROM generate_series(1, $count) i");
}

# The episodes of a log, as every node should hold them: key, winner, loser, status.
sub episodes
{
	my ($n, $log) = @_;
	return $n->safe_psql('postgres', "SELECT string_agg(key || ' ' || winner || '>' || loser || ' ' || status, E'\\n'
		ORDER BY key, winner, loser) FROM tieredlog.conflicts WHERE log_name = '$log'");
}

sub latest_all
{
	my ($n, $log) = @_;
	return $n->safe_psql('postgres', "SELECT string_agg(k || '=' || (SELECT origin || ':' || seq FROM tieredlog.latest('$log', k)), ','
		ORDER BY k) FROM (SELECT DISTINCT key AS k FROM tieredlog.read('$log')) keys");
}

sub same_everywhere
{
	my ($log, $what) = @_;
	# an apply worker writes moved episodes within a second or two of its last batch
	for (my $i = 0; $i < 60; $i++)
	{
		my %seen = map { (episodes($_, $log) // '') => 1 } @nodes;
		last if keys %seen == 1;
		Time::HiRes::usleep(500_000);
	}
	my $want = episodes($e1, $log);
	my $latest = latest_all($e1, $log);
	for my $n ($e2, $e3)
	{
		is(episodes($n, $log), $want, "$log: " . $n->name . " holds the same episodes as e1 ($what)");
		is(latest_all($n, $log), $latest, "$log: " . $n->name . "'s latest() agrees with e1's ($what)");
	}
	return $want;
}

# ---- one key, three origins, three delivery orders by streaming -------------------------------
cut_all();
append_n($e1, 'ev', 'k', 3);
append_n($e2, 'ev', 'k', 2);
append_n($e3, 'ev', 'k', 1);
# e1 gets e2's records, then e3's; e2 gets e3's, then e1's; e3 gets e1's, then e2's
set_enabled($e1, 'e2', 'true');
set_enabled($e2, 'e3', 'true');
set_enabled($e3, 'e1', 'true');
has_count($e1, 'ev', 5, 'e2\'s first');
has_count($e2, 'ev', 3, 'e3\'s first');
has_count($e3, 'ev', 4, 'e1\'s first');
set_enabled($e1, 'e3', 'true');
set_enabled($e2, 'e1', 'true');
set_enabled($e3, 'e2', 'true');
has_count($_, 'ev', 6, 'all') for @nodes;
my $ev = same_everywhere('ev', 'three delivery orders');
is(scalar(split /\n/, $ev), 3, 'three episodes: one per pair of origins');
like($ev, qr/^k e2:2>e1:3 resolved_by_rule\nk e3:1>e1:3 resolved_by_rule\nk e3:1>e2:2 resolved_by_rule$/,
	'each between the heads, the later one winning') or diag($ev);
is($e1->safe_psql('postgres', "SELECT max(pairs) FROM tieredlog.conflicts WHERE log_name = 'ev'"), '2',
	'on e1 the e1/e2 episode moved from e2\'s first record to its second (one row, two pairs)');
is($e2->safe_psql('postgres', "SELECT max(pairs) FROM tieredlog.conflicts WHERE log_name = 'ev'"), '3',
	'on e2 the e1 side moved through e1\'s three records');

# ---- a writer that has seen the others ends the episodes ---------------------------------------
for my $n (@nodes)
{
	for my $o (grep { $_ != $n } @nodes)
	{
		ok($n->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.read('_seen', key => '" . $o->name . "') r
			WHERE r.origin = '" . $n->name . "' AND (r.payload->>'seq')::bigint >= (SELECT max(seq) FROM tieredlog.read('ev') WHERE origin = '" . $o->name . "')"),
			$n->name . ' has told the others what it has seen of ' . $o->name);
	}
}
sleep 1;
append_n($e2, 'ev', 'k', 1);
has_count($_, 'ev', 7, 'after e2 wrote again') for @nodes;
is(episodes($_, 'ev'), $ev, 'a record written after seeing every head opens no episode (' . $_->name . ')') for @nodes;
like(latest_all($_, 'ev'), qr/^k=e2:/, 'and wins everywhere (' . $_->name . ')') for @nodes;

# ---- a new episode after one that ended: e1 and e3 write again, each having seen the heads ------
for my $n ($e1, $e3)
{
	ok($n->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.read('_seen', key => 'e2') r
		WHERE r.origin = '" . $n->name . "' AND (r.payload->>'seq')::bigint >= (SELECT max(seq) FROM tieredlog.read('ev') WHERE origin = 'e2')"),
		$n->name . ' has told the others it has e2\'s newest record');
}
set_enabled($e1, 'e3', 'false');
set_enabled($e3, 'e1', 'false');
append_n($e1, 'ev', 'k', 1);
append_n($e3, 'ev', 'k', 1);
set_enabled($e1, 'e3', 'true');
set_enabled($e3, 'e1', 'true');
has_count($_, 'ev', 9, 'e1 and e3 wrote again') for @nodes;
my $ev2 = same_everywhere('ev', 'a second episode between e1 and e3');
is(scalar(split /\n/, $ev2), 4, 'the e1/e3 episode that ended stays as it was; the new pair opens another');

# ---- a hot key: 200 records on each side of a cut ----------------------------------------------
cut_all();
append_n($_, 'hot', 'h', 200) for @nodes;
for my $n (@nodes)
{
	set_enabled($n, $_->name, 'true') for grep { $_ != $n } @nodes;
}
has_count($_, 'hot', 600, 'the hot key') for @nodes;
my $hot = same_everywhere('hot', 'a hot key');
is(scalar(split /\n/, $hot), 3, 'three episodes for 600 records of one key');
for my $n (@nodes)
{
	my ($rows, $pairs) = split /\|/, $n->safe_psql('postgres',
		"SELECT count(*), sum(pairs) FROM tieredlog.conflicts WHERE log_name = 'hot'");
	ok($rows <= 400, $n->name . ": $rows conflict rows for 400 remote records");
	ok($pairs > 3, $n->name . ": the episodes moved $pairs times in all");
}

# ---- reconciliation delivers, in two orders ----------------------------------------------------
cut_all();
append_n($e1, 'rec', 'r', 2);
append_n($e2, 'rec', 'r', 2);
append_n($e3, 'rec', 'r', 1);
is($e1->safe_psql('postgres', "SELECT status FROM tieredlog.reconcile('rec', 'e2')"), 'repaired', 'e1 and e2 reconcile');
is($e3->safe_psql('postgres', "SELECT status FROM tieredlog.reconcile('rec', 'e1')"), 'repaired',
	'e3 reconciles with e1, which holds e1\'s and e2\'s records (and takes e3\'s)');
is($e2->safe_psql('postgres', "SELECT status FROM tieredlog.reconcile('rec', 'e3')"), 'repaired', 'e2 gets e3\'s by reconciliation');
has_count($_, 'rec', 5, 'after reconciliation') for @nodes;
my $rec = same_everywhere('rec', 'by reconciliation');
is(scalar(split /\n/, $rec), 3, 'three episodes, whatever the order records came in');
is($e1->safe_psql('postgres', "SELECT DISTINCT via FROM tieredlog.conflicts WHERE log_name = 'rec'"), 'reconciliation',
	'found by reconciliation');

# ---- manual: the episode waits at its newest pair; a decision reaches every node ---------------
append_n($e1, 'man', 'm', 3);
append_n($e2, 'man', 'm', 3);
for my $n (@nodes)
{
	set_enabled($n, $_->name, 'true') for grep { $_ != $n } @nodes;
}
has_count($_, 'man', 6, 'manual log') for @nodes;
has_count($_, 'rec', 5, 'streaming resumed') for @nodes;
my $man = same_everywhere('man', 'manual');
like($man, qr/^m e2:\d+>e1:\d+ pending$/, 'one episode waits, between the two heads') or diag($man);
my $id = $e3->safe_psql('postgres', "SELECT conflict_id FROM tieredlog.conflicts WHERE log_name = 'man'");
my $loser = $e3->safe_psql('postgres', "SELECT loser FROM tieredlog.conflicts WHERE log_name = 'man'");
like($e3->safe_psql('postgres', "SELECT tieredlog.resolve_conflict($id, '$loser')"), qr/^e3:\d+$/, 'e3 decides for e1\'s head');
has_count($_, 'man', 7, 'the decision') for @nodes;
for my $n (@nodes)
{
	ok($n->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.conflicts WHERE status = 'pending'"),
		$n->name . ': nothing waits any more');
	like(latest_all($n, 'man'), qr/^m=e3:/, $n->name . ': the decision is the latest');
}
done_testing();
