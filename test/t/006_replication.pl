# Replication among three nodes (full mesh, loopback):
#  - concurrent appends on all three converge: every segment digest equal everywhere, every record
#    exactly once (no loops, no duplicates);
#  - a node stopped for a while catches up after restart;
#  - kill -9 of an apply worker in the middle of a backlog loses and duplicates nothing;
#  - a dropped slot, or one invalidated by max_slot_wal_keep_size, is recreated and the missed time
#    range recorded as a gap, which the worker reconciles and closes;
#  - a peer with a wrong password or an unreachable host shows a clear last_error and retries
#    without log spam; passwords are masked for non-superusers;
#  - drop_peer removes the slot on the peer and the origin here, and says so when the peer is gone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;
use IPC::Run;

my @nodes;
for my $i (1 .. 3)
{
	my $n = tl_node("n$i", "restart_after_crash = on\n");
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
	push @nodes, $n;
}
my ($n1, $n2, $n3) = @nodes;

tl_full_mesh(@nodes);

# Run a psql script on a node in the background; returns the handle.
sub start_script
{
	my ($node, $script) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres')],
		'<', \$script, '>', \$out, '2>', \$err);
	return [$h, \$out, \$err];
}

sub appends
{
	my ($prefix, $n, $batch) = @_;
	my $s = '';
	for my $i (1 .. $n)
	{
		$s .= $batch
		  ? "SELECT tieredlog.append_many('ev', array_agg('$prefix-$i-' || j), array_agg(jsonb_build_object('j', j))) FROM generate_series(1, $batch) j;\n"
		  : "SELECT tieredlog.append('ev', '$prefix-' || $i, '{\"i\": $i}');\n";
	}
	return $s;
}

sub digests
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(log_name || ':' || range_start || '=' || digest, ',' ORDER BY log_name, range_start)
		 FROM tieredlog.segments WHERE log_name <> '_seen'");	# tieredlog's own log streams on its own time
}

sub converged
{
	my ($total, $what) = @_;
	for my $n (@nodes)
	{
		ok($n->poll_query_until('postgres', "SELECT count(*) = $total FROM tieredlog.read('ev')"),
			$n->name . ": all $total records ($what)");
	}
	my $d1 = digests($n1);
	is(digests($n2), $d1, "n2's segment digests equal n1's ($what)");
	is(digests($n3), $d1, "n3's segment digests equal n1's ($what)");
	for my $n (@nodes)
	{
		is($n->safe_psql('postgres', "SELECT count(*) - count(DISTINCT (origin, seq)) FROM tieredlog.read('ev')"),
			'0', $n->name . ": no record twice ($what)");
	}
}

# ---- concurrent appends on all three nodes ------------------------------------------------------------
my @jobs = map { start_script($nodes[$_], appends("c$_", 300)) } 0 .. 2;
ok($_->[0]->finish, 'the appending client ran to its end') for @jobs;
converged(900, 'concurrent appends');
# the counters are updated just after each batch commits
ok($n1->poll_query_until('postgres', "SELECT sum(records_applied) = 600 AND sum(records_skipped) = 0 FROM tieredlog.peers"),
	'n1 applied exactly the 600 records the others originated, none twice (no loop)');

# ---- a node stopped for a while catches up --------------------------------------------------------------
$n3->stop;
@jobs = (start_script($n1, appends('s1', 100)), start_script($n2, appends('s2', 100)));
ok($_->[0]->finish, 'the appending client ran to its end') for @jobs;
$n3->start;
converged(1100, 'n3 was stopped');

# ---- kill -9 of an apply worker during a backlog -----------------------------------------------------------
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false)");
# (large enough that the apply worker is still at it when it is killed: it applies 60 000-80 000
# records a second, and 40 000 were sometimes all in before the kill)
my $job = start_script($n1, appends('k', 200, 1000));
ok($job->[0]->finish, 'the backlog was appended');
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', true)");
ok($n2->poll_query_until('postgres',
	"SELECT count(*) > 1100 FROM tieredlog.read('ev')"), 'n2 is applying the 200 000-record backlog');
my $apid = $n2->safe_psql('postgres', "SELECT pid FROM tieredlog.peers WHERE peer_name = 'n1'");
my $before_kill = $n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')");
ok($apid =~ /^\d+$/ && $before_kill < 201100, "killing apply worker $apid with $before_kill of 201100 records in");
kill 'KILL', $apid;
converged(201100, 'apply worker killed mid-backlog');

# ---- a dropped slot becomes a gap -----------------------------------------------------------------------
$n3->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false)");
my $slot = $n3->safe_psql('postgres', "SELECT slot_name FROM tieredlog.peer WHERE peer_name = 'n1'");
$n1->safe_psql('postgres', "SELECT pg_drop_replication_slot('$slot')");
$n1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'during-gap', '{}')");
$n3->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', true)");
ok($n3->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.gaps WHERE peer_name = 'n1' AND reason LIKE 'missing%'"),
	'the lost slot is recorded as a gap');
ok($n3->poll_query_until('postgres', "SELECT state = 'streaming' FROM tieredlog.peers WHERE peer_name = 'n1'"),
	'and streaming resumes on a recreated slot');
$n1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'after-gap', '{}')");
ok($n3->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev', key => 'after-gap')"),
	'records after the gap arrive');
is($n3->safe_psql('postgres', "SELECT from_ts < to_ts FROM tieredlog.gaps WHERE peer_name = 'n1'"), 't',
	'the gap is a time range');

# ---- a slot invalidated by max_slot_wal_keep_size becomes a gap too, and the worker repairs it ----------
$n3->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false)");
$n1->safe_psql('postgres', "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf()");
$n1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'during-invalidation', '{}')");
my $lost = 0;
for (1 .. 20)
{
	$n1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'wal-filler', '{}'); SELECT pg_switch_wal(); CHECKPOINT");
	$lost = $n1->safe_psql('postgres', "SELECT wal_status = 'lost' FROM pg_replication_slots WHERE slot_name = '$slot'") eq 't';
	last if $lost;
}
ok($lost, 'n3\'s slot on n1 is invalidated (wal_status lost)');
$n1->safe_psql('postgres', "ALTER SYSTEM RESET max_slot_wal_keep_size; SELECT pg_reload_conf()");
$n3->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', true)");
ok($n3->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.gaps WHERE peer_name = 'n1' AND reason LIKE 'invalidated%'"),
	'the invalidated slot is recreated and recorded as a gap');
ok($n3->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev', key => 'during-invalidation')"),
	'the worker closes the gap: the record written meanwhile arrives by reconciliation');
ok($n3->poll_query_until('postgres', "SELECT bool_and(closed_at IS NOT NULL) FROM tieredlog.gap WHERE peer_name = 'n1'"),
	'and the gaps are closed');
# n2's slot on n1 may have been invalidated as well (logical slots keep WAL back to their restart
# point): whatever happened, n2 streams again and has every record
ok($n2->poll_query_until('postgres', "SELECT state = 'streaming' FROM tieredlog.peers WHERE peer_name = 'n1'")
	&& $n2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev', key => 'during-invalidation')"),
	'n2 streams from n1 again and has the record too');
ok($n2->poll_query_until('postgres', "SELECT COALESCE(bool_and(closed_at IS NOT NULL), true) FROM tieredlog.gap"),
	'and no gap of n2 is left open');

# ---- wrong password, unreachable host -----------------------------------------------------------------
$n1->safe_psql('postgres', "CREATE ROLE tl_repl LOGIN REPLICATION SUPERUSER PASSWORD 'right'");
$n1->append_conf('pg_hba.conf', '');
my $hba = slurp_file($n1->data_dir . '/pg_hba.conf');
open(my $fh, '>', $n1->data_dir . '/pg_hba.conf') or die;
print $fh "local all tl_repl scram-sha-256\n" . $hba;
close $fh;
$n1->reload;
my $bad = $n1->connstr('postgres') . " user=tl_repl password=wrong";
$n2->safe_psql('postgres', "UPDATE tieredlog.peer SET conninfo = \$\$$bad\$\$ WHERE peer_name = 'n1'");
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false); SELECT tieredlog.set_peer_enabled('n1', true);");
ok($n2->poll_query_until('postgres',
	"SELECT last_error LIKE '%password authentication failed%' FROM tieredlog.peers WHERE peer_name = 'n1'"),
	'a wrong password shows in last_error');
$n2->safe_psql('postgres', "CREATE ROLE tl_watcher; GRANT USAGE ON SCHEMA tieredlog TO tl_watcher;
	GRANT SELECT ON tieredlog.peers TO tl_watcher; GRANT SELECT ON tieredlog.peer TO tl_watcher;
	GRANT EXECUTE ON FUNCTION tieredlog._mask_conninfo(text), tieredlog._apply_status() TO tl_watcher;");
my $seen = $n2->safe_psql('postgres', "SET ROLE tl_watcher; SELECT conninfo FROM tieredlog.peers WHERE peer_name = 'n1'");
unlike($seen, qr/wrong/, 'a non-superuser does not see the password');
like($seen, qr/password=\*{8}/, 'it is masked');
# an open gap with n1 meanwhile: the worker's attempts to close it fail the same way each time
$n2->safe_psql('postgres', "INSERT INTO tieredlog.gap (peer_name, from_ts, to_ts, reason)
	VALUES ('n1', now() - interval '1 minute', now(), 'test: a gap while the password is wrong')");
sleep 6;	# several retries (backoff 1 s, 2 s, 4 s)
my $n2log = slurp_file($n2->logfile);
my @said = ($n2log =~ /tieredlog apply worker: (?:peer "n1": |could not connect to peer "n1").*password authentication failed/g);
cmp_ok(scalar(@said), '<=', 1, 'the same error is logged once, not at every retry (' . scalar(@said) . ')');
my @gap_said = ($n2log =~ /close gaps with peer n1 failed: .*password authentication failed/g);
is(scalar(@gap_said), 1, 'so is the worker\'s failure to close the gap');
cmp_ok($n2->safe_psql('postgres', "SELECT failures FROM tieredlog._apply_status() a JOIN tieredlog.peer USING (peer_id) WHERE peer_name = 'n1'"),
	'>=', 2, 'while it keeps retrying');

my $unreachable = 'host=127.0.0.1 port=1 dbname=postgres';
$n2->safe_psql('postgres', "UPDATE tieredlog.peer SET conninfo = '$unreachable' WHERE peer_name = 'n3'");
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n3', false); SELECT tieredlog.set_peer_enabled('n3', true);");
ok($n2->poll_query_until('postgres',
	"SELECT last_error LIKE '%could not connect to peer \"n3\"%' FROM tieredlog.peers WHERE peer_name = 'n3'"),
	'an unreachable host shows in last_error');

# ---- drop_peer --------------------------------------------------------------------------------------------
my $slot31 = $n3->safe_psql('postgres', "SELECT slot_name FROM tieredlog.peer WHERE peer_name = 'n1'");
$n3->safe_psql('postgres', "SELECT tieredlog.drop_peer('n1')");
is($n1->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot31'"), '0',
	'drop_peer dropped the slot on the peer');
is($n3->safe_psql('postgres', "SELECT count(*) FROM pg_replication_origin WHERE roname = 'tieredlog:n1'"), '0',
	'and the origin here');
my ($rc, $out, $err) = $n2->psql('postgres', "SELECT tieredlog.drop_peer('n3')");
is($rc, 0, 'drop_peer of an unreachable peer succeeds');
like($err, qr/peer "n3" is unreachable; its slot .* was not dropped there/, 'and says what is left on the peer');

# ---- a peer that does not allow tieredlog's output plugin ---------------------------------------------------
SKIP:
{
	skip 'this server has no output_plugin_libraries (before 15.19): every plugin is allowed', 4
	  unless tl_server_has_setting('output_plugin_libraries');
	$n1->safe_psql('postgres', "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, test_decoding'; SELECT pg_reload_conf();");
	sleep 1;
	my $c1 = $n1->connstr('postgres');
	($rc, $out, $err) = $n3->psql('postgres', "SELECT tieredlog.add_peer('n1', \$\$$c1\$\$)");
	like($err, qr/may not be used as an output plugin/, 'add_peer: the peer refuses the plugin');
	like($err, qr/HINT:  On the peer, add tieredlog to output_plugin_libraries/, 'with a hint naming the setting');
	$n2->safe_psql('postgres', "UPDATE tieredlog.peer SET conninfo = \$\$$c1\$\$ WHERE peer_name = 'n1'");
	$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false); SELECT tieredlog.set_peer_enabled('n1', true);");
	ok($n2->poll_query_until('postgres',
		"SELECT last_error LIKE '%may not be used as an output plugin%output_plugin_libraries%' FROM tieredlog.peers WHERE peer_name = 'n1'"),
		'the apply worker says the same in last_error');
	$n1->safe_psql('postgres', "ALTER SYSTEM RESET output_plugin_libraries; SELECT pg_reload_conf();");
	$n1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'plugin-allowed-again', '{}')");
	ok($n2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev', key => 'plugin-allowed-again')"),
		'once allowed, streaming resumes by itself');
}

$_->stop for @nodes;
done_testing();
