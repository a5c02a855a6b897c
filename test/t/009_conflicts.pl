# Conflicts among three nodes: the same keys written on both sides of a cut (apply workers
# stopped) under every rule, delivered in both orders; a key written after its writer had seen
# the other side's record (no conflict); a custom resolver and a failing one; manual decisions
# that reach every node; a conflict whose second record arrives through reconciliation.
# Afterwards every node's latest() agrees for every key, and replication never stopped.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my @nodes;
for my $i (1 .. 3)
{
	my $n = tl_node("c$i");
	$n->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
CREATE FUNCTION prefer_c1(a jsonb, b jsonb) RETURNS text LANGUAGE sql AS
  $$ SELECT CASE WHEN a->>'origin' = 'c1' THEN a ELSE b END ->> 'origin' || ':' ||
            (CASE WHEN a->>'origin' = 'c1' THEN a ELSE b END ->> 'seq') $$;
CREATE FUNCTION broken(a jsonb, b jsonb) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'boom'; END $$;
SELECT tieredlog.create_log('lww', '1 hour');
SELECT tieredlog.create_log('fww', '1 hour', 'first_writer_wins');
SELECT tieredlog.create_log('prio', '1 hour', 'source_priority');
SELECT tieredlog.create_log('cust', '1 hour');
SELECT tieredlog.set_conflict_rule('cust', 'custom', 'prefer_c1(jsonb, jsonb)');
SELECT tieredlog.create_log('bad', '1 hour');
SELECT tieredlog.set_conflict_rule('bad', 'custom', 'broken(jsonb, jsonb)');
SELECT tieredlog.create_log('man', '1 hour', 'manual');
SELECT tieredlog.set_source_priority('billing', 10);
SELECT tieredlog.set_source_priority('crm', 5);
});
	push @nodes, $n;
}
my ($c1, $c2, $c3) = @nodes;
my @logs = qw(lww fww prio cust bad man);

tl_full_mesh(@nodes);

sub set_enabled
{
	my ($n, $peer, $on) = @_;
	$n->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('$peer', $on)");
}

sub count_everywhere
{
	my ($log, $want, $what) = @_;
	for my $n (@nodes)
	{
		ok($n->poll_query_until('postgres', "SELECT count(*) = $want FROM tieredlog.read('$log')"),
			$n->name . " has the $want records of $log ($what)");
	}
}

sub latest { return $_[0]->safe_psql('postgres', "SELECT payload FROM tieredlog.latest('$_[1]', '$_[2]')"); }

sub conflict_row
{
	my ($n, $log, $key) = @_;
	return $n->safe_psql('postgres', "SELECT string_agg(status || '|' || rule || '|' || winner || '|' || loser, ';' ORDER BY conflict_id)
		FROM tieredlog.conflicts WHERE log_name = '$log' AND key = '$key'");
}

# ---- a key written after its writer had seen the other side: no conflict ----------------------------
$c1->safe_psql('postgres', "SELECT tieredlog.append('fww', 'seen', '{\"v\": 1}')");
ok($c2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('fww', key => 'seen')"), 'c2 has c1\'s record');
my $v1 = $c1->safe_psql('postgres', "SELECT seq FROM tieredlog.read('fww', key => 'seen')");
# c2's witness that it stored c1's record reaches c1 before the cut
ok($c1->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.read('_seen', key => 'c1') r
	WHERE r.origin = 'c2' AND (r.payload->>'seq')::bigint >= $v1"), 'c1 knows what c2 has seen of it');

# ---- the cut: c1 and c2 stop applying each other; c3 takes c1's first, c2's later --------------------
set_enabled($c1, 'c2', 'false');
set_enabled($c2, 'c1', 'false');
set_enabled($c3, 'c2', 'false');
$c2->safe_psql('postgres', "SELECT tieredlog.append('fww', 'seen', '{\"v\": 2}')");
for my $log (@logs)
{
	$c1->safe_psql('postgres', "SELECT tieredlog.append('$log', 'k', '{\"by\": \"c1\"}', 'billing')");
}
for my $log (@logs)
{
	$c2->safe_psql('postgres', "SELECT tieredlog.append('$log', 'k', '{\"by\": \"c2\"}', 'crm')");
}
ok($c3->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('man')"), 'c3 has c1\'s records first');

set_enabled($c1, 'c2', 'true');
set_enabled($c2, 'c1', 'true');
set_enabled($c3, 'c2', 'true');
count_everywhere($_, 2, 'after the cut') for qw(lww prio cust bad man);
count_everywhere('fww', 4, 'after the cut');

my %want = (
	lww  => ['resolved_by_rule', '{"by": "c2"}'],		# the later timestamp
	fww  => ['resolved_by_rule', '{"by": "c1"}'],		# the earlier
	prio => ['resolved_by_rule', '{"by": "c1"}'],		# billing (10) beats crm (5), though c2's is later
	cust => ['resolved_by_rule', '{"by": "c1"}'],		# the resolver prefers c1
	bad  => ['pending', '{"by": "c2"}'],				# the resolver fails: provisional, the later
	man  => ['pending', '{"by": "c2"}'],				# manual: provisional, the later
);
for my $log (@logs)
{
	my $row1 = conflict_row($c1, $log, 'k');
	like($row1, qr/^$want{$log}[0]\|/, "$log: one conflict, $want{$log}[0]");
	for my $n ($c2, $c3)
	{
		ok($n->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.conflicts WHERE log_name = '$log' AND key = 'k'"),
			"$log: " . $n->name . ' detected it too');
		is(conflict_row($n, $log, 'k'), $row1, "$log: " . $n->name . ' picked the same winner (records arrived in another order)');
	}
	for my $n (@nodes)
	{
		is(latest($n, $log, 'k'), $want{$log}[1], "$log: latest() on " . $n->name . " returns $want{$log}[1]");
	}
}
is(conflict_row($c1, 'fww', 'seen'), '', 'a record written after its writer saw the other is no conflict');
is(latest($_, 'fww', 'seen'), '{"v": 2}', 'and supersedes it under first_writer_wins too (' . $_->name . ')') for @nodes;
like($c1->safe_psql('postgres', "SELECT reason FROM tieredlog.conflicts WHERE log_name = 'bad'"), qr/resolver (?:public\.)?broken\(jsonb,jsonb\) failed: boom/,
	'the failing resolver\'s error is the reason it waits');
like($c1->safe_psql('postgres', "SELECT reason FROM tieredlog.conflicts WHERE log_name = 'prio'"), qr/source priority 10 beats 5/,
	'source_priority says why');
is($c2->safe_psql('postgres', "SELECT conflicts_pending FROM tieredlog.status()"), '2', 'status() counts the two pending conflicts');
is($c1->safe_psql('postgres', "SELECT sum(conflicts) FROM tieredlog.segments WHERE log_name = 'lww'"), '1',
	'segments.conflicts counts it');
ok($c1->safe_psql('postgres', "SELECT max(conflict_score) FROM tieredlog.segments WHERE log_name = 'lww'") > 0,
	'and conflict_score shows it');
for my $n (@nodes)
{
	is($n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.peers WHERE state = 'streaming'"), '2',
		$n->name . ': replication never stopped');
}

# ---- a person decides; the decision reaches every node ------------------------------------------
my ($man_id) = $c1->safe_psql('postgres', "SELECT conflict_id FROM tieredlog.conflicts WHERE log_name = 'man'");
my $c1_name = $c1->safe_psql('postgres', "SELECT loser FROM tieredlog.conflicts WHERE log_name = 'man'");
my ($rc, $out, $err) = $c1->psql('postgres', "SELECT tieredlog.resolve_conflict($man_id, 'nobody:1')");
like($err, qr/is not a side of conflict/, 'a winner that is neither side is refused');
my $decision = $c1->safe_psql('postgres', "SELECT tieredlog.resolve_conflict($man_id, '$c1_name')");
like($decision, qr/^c1:\d+$/, 'resolve_conflict appends the decision as a new record');
($rc, $out, $err) = $c1->psql('postgres', "SELECT tieredlog.resolve_conflict($man_id, 'local')");
like($err, qr/already resolved/, 'a conflict is resolved once');
my ($bad_id) = $c2->safe_psql('postgres', "SELECT conflict_id FROM tieredlog.conflicts WHERE log_name = 'bad'");
like($c2->safe_psql('postgres', "SELECT tieredlog.resolve_conflict($bad_id, 'local')"), qr/^c2:\d+$/,
	'c2 decides the failing resolver\'s conflict for its own record');
count_everywhere('man', 3, 'the decision');
count_everywhere('bad', 3, 'the decision');
for my $n (@nodes)
{
	is(latest($n, 'man', 'k'), '{"by": "c1"}', 'man: every node returns the decided winner (' . $n->name . ')');
	is(latest($n, 'bad', 'k'), '{"by": "c2"}', 'bad: every node returns the decided winner (' . $n->name . ')');
	ok($n->poll_query_until('postgres', "SELECT conflicts_pending = 0 FROM tieredlog.status()"),
		$n->name . ': no conflict waits any more');
}
like($c3->safe_psql('postgres', "SELECT reason || ' ' || decision_record FROM tieredlog.conflicts WHERE log_name = 'man'"),
	qr/superseded by record \Q$decision\E, which saw both/, 'c3 resolved it by the decision record');
is($c1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.conflicts WHERE log_name = 'man' AND key = 'k'"), '1',
	'the decision raised no new conflict');

# ---- the second record arrives through reconciliation -------------------------------------------
set_enabled($c1, 'c2', 'false');
set_enabled($c2, 'c1', 'false');
set_enabled($c3, 'c2', 'false');
$c1->safe_psql('postgres', "SELECT tieredlog.append('lww', 'r', '{\"by\": \"c1\"}')");
$c2->safe_psql('postgres', "SELECT tieredlog.append('lww', 'r', '{\"by\": \"c2\"}')");
is($c1->safe_psql('postgres', "SELECT status || '|' || records_received || '|' || records_sent FROM tieredlog.reconcile('lww', 'c2')"),
	'repaired|1|1', 'c1 and c2 exchange their records by reconciliation');
is($c1->safe_psql('postgres', "SELECT via || '|' || status FROM tieredlog.conflicts WHERE log_name = 'lww' AND key = 'r'"),
	'reconciliation|resolved_by_rule', 'c1 detects the conflict there');
is($c2->safe_psql('postgres', "SELECT via || '|' || status FROM tieredlog.conflicts WHERE log_name = 'lww' AND key = 'r'"),
	'reconciliation|resolved_by_rule', 'and so does c2, given c1\'s record');

# c2 writes r2 after it saw c1's r2; c1 gets c2's record by reconciliation before c2's witness
$c1->safe_psql('postgres', "SELECT tieredlog.append('lww', 'r2', '{\"by\": \"c1\"}')");
set_enabled($c2, 'c1', 'true');
ok($c2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('lww', key => 'r2')"), 'c2 streamed c1\'s r2');
$c2->safe_psql('postgres', "SELECT tieredlog.append('lww', 'r2', '{\"by\": \"c2\"}')");
is($c1->safe_psql('postgres', "SELECT status || '|' || records_received FROM tieredlog.reconcile('lww', 'c2')"), 'repaired|1',
	'c1 receives c2\'s r2 by reconciliation, without the witness that orders it');
is($c1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.conflicts WHERE log_name = 'lww' AND key = 'r2'"), '1',
	'so c1 takes it for a conflict for now');
is($c2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.conflicts WHERE log_name = 'lww' AND key = 'r2'"), '0',
	'c2, which wrote after seeing c1\'s, does not');
set_enabled($c1, 'c2', 'true');
set_enabled($c3, 'c2', 'true');
ok($c1->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.conflicts WHERE log_name = 'lww' AND key = 'r2'"),
	'once c2\'s witness streams in, c1 forgets the conflict that was none');
count_everywhere('lww', 6, 'streaming resumed');

# ---- every node agrees on every key -------------------------------------------------------------
for my $log (@logs)
{
	my $want = $c1->safe_psql('postgres', "SELECT string_agg(k || '=' || (SELECT payload::text FROM tieredlog.latest('$log', k)), ',' ORDER BY k)
		FROM (SELECT DISTINCT key AS k FROM tieredlog.read('$log')) keys");
	for my $n ($c2, $c3)
	{
		is($n->safe_psql('postgres', "SELECT string_agg(k || '=' || (SELECT payload::text FROM tieredlog.latest('$log', k)), ',' ORDER BY k)
			FROM (SELECT DISTINCT key AS k FROM tieredlog.read('$log')) keys"), $want, "$log: " . $n->name . "'s latest() agrees with c1's for every key");
	}
}

# ---- retention: settled conflicts go, after tieredlog.conflict_retention ---------------------------
ok($c1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.conflicts") > 0, 'c1 keeps its settled conflicts');
$c1->append_conf('postgresql.conf', "tieredlog.conflict_retention = 1");
$c1->reload;
ok($c1->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.conflicts"),
	'with conflict_retention = 1s the worker removes them');
ok($c1->poll_query_until('postgres', "SELECT count(*) = count(DISTINCT (writer, about)) FROM tieredlog.seen"),
	'and the witnesses in tieredlog.seen, but the newest of each writer about each origin');
is(latest($c1, 'man', 'k'), '{"by": "c1"}', 'the decision stands without its conflict row (it is a record)');
is(latest($c1, $_, 'k'), $want{$_}[1], "$_: latest() is unchanged without the conflict row (the rule decides again)")
	for qw(lww fww prio cust);

done_testing();
