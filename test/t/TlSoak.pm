# The nemesis soak (issue 19): three nodes in a full mesh, each with three tablespaces (tiers 0, 1
# and 2) and short worker settings; appenders on every node (hot keys included), readers by key and
# by range, and a nemesis drawing faults from a seeded random schedule. Then the nemesis stops, the
# system quiesces, and everything is checked. Driven by test/soak (any duration) and by
# test/t/029_soak.pl (the 3-minute run of the test command). Parameters, from the environment:
#   TL_SOAK_DURATION     seconds of load and faults (180)
#   TL_SOAK_SEED         the schedule's seed (the time when not given; always printed)
#   TL_SOAK_FAULT_EVERY  mean seconds between two faults (7; exponentially distributed)
#   TL_SOAK_WEIGHTS      relative rates of the faults, e.g. "backend=3,worker=2,apply=2,postmaster=1,
#                        restart=1,pause=2,slot=1,bitrot=2" (a kind left out keeps its default; 0
#                        turns it off). Every kind with a rate above 0 happens at least once.
#   TL_SOAK_APPENDERS    appending clients per node (1)
# A failure prints the seed and the schedule (what was drawn, and what each fault did).
package TlSoak;

use strict;
use warnings;
use Exporter 'import';
use POSIX ();
use IPC::Run;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

our @EXPORT = qw(tl_soak);

my @KINDS = qw(backend worker apply postmaster restart pause slot bitrot);
my %DEFAULT_WEIGHT = (backend => 3, worker => 2, apply => 2, postmaster => 1, restart => 1, pause => 2, slot => 1, bitrot => 2);
my $LOG = 'soak';
my $KEYS = 150;		# cold keys k0..k149, besides the hot keys hot0..hot2

# Errors a client may get because of a fault (the connection, a restart): anything else a read or
# an append returns is a failure.
my $FAULT_ERR = join('|', map { quotemeta } 'could not connect', 'server closed the connection', 'terminating connection',
	'connection to server', 'the database system is starting up', 'the database system is shutting down',
	'the database system is in recovery mode', 'the database system is not yet accepting connections',
	'no connection to the server', 'canceling statement due to statement timeout', 'Connection refused',
	'No such file or directory', 'lost synchronization with server', 'could not receive data from server',
	'could not send data to server', 'timeout expired', 'because of crash of another server process');
$FAULT_ERR = qr/$FAULT_ERR/;

sub params
{
	my %p = (
		duration => $ENV{TL_SOAK_DURATION} // 180,
		seed => $ENV{TL_SOAK_SEED} // (time() % 1_000_000),
		fault_every => $ENV{TL_SOAK_FAULT_EVERY} // 7,
		appenders => $ENV{TL_SOAK_APPENDERS} // 1,
		weights => {%DEFAULT_WEIGHT});
	for my $w (split /,/, $ENV{TL_SOAK_WEIGHTS} // '')
	{
		my ($k, $v) = split /=/, $w;
		die "TL_SOAK_WEIGHTS: unknown fault kind \"$k\" (kinds: @KINDS)" unless exists $DEFAULT_WEIGHT{$k};
		$p{weights}{$k} = $v;
	}
	return \%p;
}

# The schedule: [at (seconds from the start), kind, node index, a number in [0,1) that picks the
# victim among what is there then, a duration (pauses, restarts)]. One fault of every enabled kind
# first, in a random order, then draws by weight; all from the seed alone.
sub draw_schedule
{
	my ($p) = @_;
	srand($p->{seed});
	my @enabled = grep { $p->{weights}{$_} > 0 } @KINDS;
	my $total = 0;
	$total += $p->{weights}{$_} for @enabled;
	my @first = @enabled;
	for (my $i = $#first; $i > 0; $i--)
	{
		my $j = int(rand($i + 1));
		@first[ $i, $j ] = @first[ $j, $i ];
	}
	my @s;
	my $t = 5;
	while (@enabled)
	{
		$t += -log(1 - rand()) * $p->{fault_every};
		last if $t > $p->{duration} - 3;
		my $kind = shift @first;
		if (!defined $kind)
		{
			my $r = rand($total);
			for (@enabled)
			{
				$kind = $_;
				last if ($r -= $p->{weights}{$_}) < 0;
			}
		}
		push @s, { at => sprintf('%.1f', $t), kind => $kind, node => int(rand(3)), pick => rand(), secs => 1 + int(rand(5)) };
	}
	return \@s;
}

sub schedule_text
{
	my ($s) = @_;
	return join '', map { sprintf("  t=%6.1fs %-10s s%d pick=%.3f secs=%d%s\n", $_->{at}, $_->{kind}, $_->{node} + 1,
		$_->{pick}, $_->{secs}, defined $_->{result} ? "  -> $_->{result}" : '') } @$s;
}

# psql as a client would run it: exit status, output, errors.
sub client_psql
{
	my ($node, $sql, $timeout) = @_;
	my ($out, $err) = ('', '');
	local $ENV{PGCONNECT_TIMEOUT} = 5;
	local $ENV{PGOPTIONS} = '-c statement_timeout=' . ($timeout // 60) . 's';
	my $ok = eval {
		IPC::Run::run([ 'psql', '-X', '-At', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $node->host, '-p', $node->port, '-d', 'postgres',
			'-c', $sql ], '<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(($timeout // 60) + 30));
	};
	$err .= $@ if $@;
	chomp $out;
	return ($ok ? 0 : 1, $out, $err);
}

# ---- the clients (forked; they leave through POSIX::_exit, so no END block of the test runs) --------

sub appender
{
	my ($p, $dir, $node, $client, $until) = @_;
	srand($p->{seed} * 100 + $client);
	open(my $ack, '>>', "$dir/ack.$client") or die "ack file: $!";
	open(my $bad, '>>', "$dir/errors.$client") or die "errors file: $!";
	$ack->autoflush(1);
	$bad->autoflush(1);
	my $i = 0;
	while (time() < $until)
	{
		my (@keys, @pl, @uids);
		for (1 .. 4)
		{
			my $key = rand() < 0.4 ? 'hot' . int(rand(3)) : 'k' . int(rand($KEYS));
			my $uid = "c$client-" . $i++;
			push @keys, "'$key'";
			push @pl, "'{\"u\": \"$uid\", \"n\": \"" . $node->name . "\"}'";
			push @uids, $uid;
		}
		my ($rc, $out, $err) = client_psql($node, "SELECT tieredlog.append_many('$LOG', ARRAY[" . join(',', @keys) . "], ARRAY["
			  . join(',', @pl) . "]::jsonb[])");
		if ($rc == 0 && $out eq '4')
		{
			print $ack "$_\n" for @uids;    # acknowledged: the commit returned
		}
		elsif ($err !~ $FAULT_ERR)
		{
			$err =~ s/\n/ | /g;
			printf $bad "%.1f %s append: rc %d out [%s] err [%s]\n", time(), $node->name, $rc, $out, $err;
		}
		usleep(100_000 + int(rand(150_000)));
	}
	POSIX::_exit(0);
}

sub reader
{
	my ($p, $dir, $nodes, $client, $until) = @_;
	srand($p->{seed} * 100 + $client);
	open(my $bad, '>>', "$dir/errors.$client") or die "errors file: $!";
	$bad->autoflush(1);
	my $reads = 0;
	while (time() < $until)
	{
		my $node = $nodes->[ int(rand(3)) ];
		my $r = rand();
		my $sql = $r < 0.3 ? "SELECT count(*) FROM tieredlog.read('$LOG', key => 'hot" . int(rand(3)) . "')"
		  : $r < 0.5 ? "SELECT count(*) FROM tieredlog.latest('$LOG', 'k" . int(rand($KEYS)) . "')"
		  : $r < 0.8 ? "SELECT count(*) FROM tieredlog.read('$LOG', now() - interval '15 s', now())"
		  # an older window, so that demoted segments are read (and promoted again)
		  # one older 10-second window at a time: reading every older segment each second kept them all
		  # from going untouched for tieredlog.demote_after (on an idle machine nothing moved)
		  : do { my $age = 20 + int(rand(200)); "SELECT count(*) FROM tieredlog.read('$LOG', now() - interval '$age s', now() - interval '" . ($age - 10) . " s')" };
		my ($rc, $out, $err) = client_psql($node, $sql);
		if ($rc == 0 && $out =~ /^\d+$/)
		{
			$reads++;
		}
		elsif ($err !~ $FAULT_ERR)
		{
			$err =~ s/\n/ | /g;
			printf $bad "%.1f %s read: %s: rc %d out [%s] err [%s]\n", time(), $node->name, $sql, $rc, $out, $err;
		}
		usleep(50_000 + int(rand(100_000)));
	}
	open(my $f, '>', "$dir/reads.$client") or die;
	print $f "$reads\n";
	close $f;
	POSIX::_exit(0);
}

# ---- the nemesis -----------------------------------------------------------------------------------

sub pm_pid { return $_[0]->{_pid}; }

sub children_of
{
	my ($pid) = @_;
	my @c;
	for my $st (glob '/proc/[0-9]*/stat')
	{
		open(my $f, '<', $st) or next;
		my $line = <$f>;
		close $f;
		next unless defined $line && $line =~ /^(\d+) \(.*\) \S+ (\d+)/;
		push @c, $1 if $2 == $pid;
	}
	return @c;
}

# A started node; after a kill of its postmaster, once the old processes are gone.
sub start_node
{
	my ($n) = @_;
	for (1 .. 120)
	{
		if (defined $n->{_pid})	# pg_ctl gave up waiting, but the server came up (or a stop failed)
		{
			return 1 if kill 0, $n->{_pid};
			$n->{_pid} = undef;
		}
		return 1 if $n->start(fail_ok => 1);
		sleep 1;
	}
	return 0;
}

sub pick { my ($list, $x) = @_; return @$list ? $list->[ int($x * @$list) ] : undef; }

# Runs one fault; returns what it did. $st: the injected state (killed pids per node, edits).
sub inject
{
	my ($st, $f, $nodes) = @_;
	my $n = $nodes->[ $f->{node} ];
	my $name = $n->name;
	my $k = $f->{kind};
	if ($k eq 'backend' || $k eq 'worker' || $k eq 'apply')
	{
		my $type = { backend => 'client backend', worker => 'tieredlog worker', apply => 'tieredlog apply' }->{$k};
		my $extra = $k eq 'backend' ? "'walsender'" : 'NULL';	# clients connect briefly: walsenders are backends too
		my ($rc, $out) = client_psql($n, "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity
			WHERE backend_type IN ('$type', $extra) AND pid <> pg_backend_pid()", 20);
		my $pid = $rc == 0 ? pick([ split / /, $out ], $f->{pick}) : undef;
		return "no $type on $name" unless $pid;
		$st->{killed}{$name}{$pid} = 1;
		kill 'KILL', $pid;
		return "kill -9 $type $pid on $name";
	}
	if ($k eq 'postmaster')
	{
		my $pm = pm_pid($n);
		my @kids = children_of($pm);
		$st->{killed}{$name}{$pm} = 1;
		$n->kill9;
		# the postmaster's children notice its death; wait until they are gone before starting
		for (1 .. 100) { last unless grep { kill 0, $_ } ($pm, @kids); usleep(100_000); }
		sleep $f->{secs};
		return "kill -9 postmaster $pm of $name, down ${\ $f->{secs}}s, " . (start_node($n) ? 'restarted' : 'DID NOT RESTART');
	}
	if ($k eq 'restart')
	{
		if (!$n->stop('fast', fail_ok => 1))
		{
			# a fast shutdown that does not finish is a defect: keep what each process was doing
			my $pm = pm_pid($n) // 0;
			my $ps = join('', map { my $p = $_; "    $p " . (eval { slurp_file("/proc/$p/cmdline") =~ s/\0/ /gr } // '?')
				. ' wchan ' . (eval { slurp_file("/proc/$p/wchan") } // '?') . ' state ' . ((eval { slurp_file("/proc/$p/stat") } // '') =~ /\) (\S)/ ? $1 : '?') . "\n" }
				($pm, children_of($pm)));
			push @{ $st->{hangs} }, "fast stop of $name did not finish; its processes:\n$ps";
			$st->{killed}{$name}{$_} = 1 for ($pm, children_of($pm));
			kill 'KILL', $_ for (children_of($pm), $pm);
			$n->{_pid} = undef;
			sleep 2;
			return "stop of $name DID NOT FINISH (processes killed), " . (start_node($n) ? 'started' : 'DID NOT START');
		}
		sleep $f->{secs};
		return "stop of $name, down ${\ $f->{secs}}s, " . (start_node($n) ? 'started' : 'DID NOT START');
	}
	if ($k eq 'pause')
	{
		my $pm = pm_pid($n);
		my @procs = ($pm, children_of($pm));
		kill 'STOP', @procs;
		sleep $f->{secs};
		kill 'CONT', @procs;
		return "SIGSTOP of $name (" . scalar(@procs) . " processes) for ${\ $f->{secs}}s, then SIGCONT";
	}
	if ($k eq 'slot')
	{
		my ($rc, $out) = client_psql($n, "SELECT string_agg(slot_name, ' ' ORDER BY slot_name) FROM pg_replication_slots
			WHERE slot_name LIKE 'tieredlog%'", 20);
		my $slot = $rc == 0 ? pick([ split / /, $out ], $f->{pick}) : undef;
		return "no slot on $name" unless $slot;
		for my $try (1 .. 20)
		{
			my ($rc2, $out2, $err2) = client_psql($n, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
				WHERE slot_name = '$slot' AND active_pid IS NOT NULL; SELECT pg_drop_replication_slot('$slot')", 20);
			return "slot $slot dropped on $name (try $try)" if $rc2 == 0;
			return "slot $slot on $name: $err2" unless $err2 =~ /is active for PID|does not exist/;
			return "slot $slot on $name already gone" if $err2 =~ /does not exist/;
			usleep(50_000);
		}
		return "slot $slot on $name stayed active";
	}
	if ($k eq 'bitrot')
	{
		my ($rc, $out) = client_psql($n, "SELECT string_agg(relation, ' ' ORDER BY segment_id) FROM tieredlog.segments
			WHERE log_name = '$LOG' AND relation IS NOT NULL AND records > 0", 20);
		my $rel = $rc == 0 ? pick([ split / /, $out ], $f->{pick}) : undef;
		return "no segment relation on $name" unless $rel;
		my $off = int($f->{pick} * 1000) % 50;
		my $taken = join(',', map { "'$_'" } keys %{ $st->{edited} }) || "''";
		my ($rc2, $out2, $err2) = client_psql($n, "WITH r AS (SELECT origin, seq, payload FROM tieredlog_data.$rel
				WHERE origin || ':' || seq NOT IN ($taken) ORDER BY seq, origin OFFSET $off % greatest(1, (SELECT count(*) FROM tieredlog_data.$rel)) LIMIT 1)
			UPDATE tieredlog_data.$rel t SET payload = t.payload || '{\"rot\": true}' FROM r
			WHERE t.origin = r.origin AND t.seq = r.seq RETURNING r.origin || ':' || r.seq || '|' || r.payload::text", 20);
		return "bitrot on $name: $rel: " . ($err2 =~ s/\n/ /gr) if $rc2 != 0;
		return "bitrot on $name: $rel: no row" unless $out2 =~ /^(\S+?:\d+)\|(.*)$/;
		$st->{edited}{$1} = { node => $name, payload => $2, rel => $rel };
		return "payload of $1 edited in $rel on $name";
	}
	die "unknown fault $k";
}

# ---- checks -----------------------------------------------------------------------------------------

sub q1 { my ($n, $sql) = @_; return $n->safe_psql('postgres', $sql); }

sub wait_for
{
	my ($secs, $cond) = @_;
	my $end = time() + $secs;
	while (1)
	{
		my $r = eval { $cond->() };
		return 1 if $r;
		return 0 if time() > $end;
		usleep(500_000);
	}
}

sub digests
{
	my ($n) = @_;
	return q1($n, "SELECT string_agg(log_name || '\@' || range_start || '=' || digest, E'\\n' ORDER BY log_name, range_start)
		FROM tieredlog.segments");
}

sub latest_all
{
	my ($n) = @_;
	return q1($n, "SELECT string_agg(k || '=' || coalesce((SELECT origin || ':' || seq FROM tieredlog.latest('$LOG', k)), '-'), ','
		ORDER BY k) FROM (SELECT DISTINCT key AS k FROM tieredlog.read('$LOG')) keys");
}

sub tl_soak
{
	my $p = params();
	my $sched = draw_schedule($p);
	my $t_setup = time();
	diag("soak: seed $p->{seed}, $p->{duration}s, a fault every $p->{fault_every}s on average, weights "
		  . join(',', map { "$_=$p->{weights}{$_}" } @KINDS));

	my $conf = q{
tieredlog.seal_grace = '2s'
tieredlog.adaptive_tiering = on
tieredlog.demote_after = '8s'
tieredlog.min_residency = '4s'
tieredlog.promote_reads = 3
tieredlog.promote_window = '20s'
tieredlog.max_moves_per_cycle = 4
tieredlog.move_rate_limit = 0
tieredlog.scrub_interval = '10s'
tieredlog.check_interval = '5s'
tieredlog.check_max_staleness = '30s'
tieredlog.train_interval = '20s'
tieredlog.ledger_interval = '5s'
tieredlog.stats_flush_interval = '5s'
log_min_messages = warning
log_statement = none
log_line_prefix = '%m [%p] %b '
restart_after_crash = on
};
	my @nodes = map { tl_node("s$_", $conf) } 1 .. 3;
	my $tsdir = PostgreSQL::Test::Utils::tempdir();
	for my $n (@nodes)
	{
		my $d = "$tsdir/" . $n->name;
		mkdir $d or die;
		for my $t (0 .. 2)
		{
			mkdir "$d/t$t" or die;
			$n->safe_psql('postgres', "CREATE TABLESPACE soak_t$t LOCATION '$d/t$t'");
		}
		$n->safe_psql('postgres', qq{CREATE EXTENSION tieredlog;
SELECT tieredlog.set_tier(0, 'soak_t0'), tieredlog.set_tier(1, 'soak_t1'), tieredlog.set_tier(2, 'soak_t2');
SELECT tieredlog.create_log('$LOG', '10 seconds');});
	}
	tl_full_mesh(@nodes);

	my $dir = "$PostgreSQL::Test::Utils::tmp_check/soak-$p->{seed}-$$";
	mkdir $dir or die "mkdir $dir: $!";
	my $t0 = time();
	my $until = $t0 + $p->{duration};
	my (@kids, $client);
	for my $n (@nodes)
	{
		for (1 .. $p->{appenders})
		{
			$client++;
			my $pid = fork() // die "fork: $!";
			appender($p, $dir, $n, $client, $until) if $pid == 0;
			push @kids, $pid;
		}
	}
	for (1 .. 2)
	{
		$client++;
		my $pid = fork() // die "fork: $!";
		reader($p, $dir, \@nodes, $client, $until) if $pid == 0;
		push @kids, $pid;
	}

	my %st = (killed => {}, edited => {});
	for my $f (@$sched)
	{
		my $wait = $t0 + $f->{at} - time();
		usleep(int($wait * 1_000_000)) if $wait > 0;
		$f->{result} = eval { inject(\%st, $f, \@nodes) } // "error: $@";
		note(sprintf('t=%.1fs %s', time() - $t0, $f->{result}));
	}
	waitpid($_, 0) for @kids;
	my $t_load = time() - $t0;

	# ---- quiesce: every node up, every peer streaming, the scrub and reconciliation forced ----------
	my $fail = 0;
	for my $n (@nodes)
	{
		start_node($n) unless defined pm_pid($n) && kill(0, pm_pid($n));
	}
	for my $n (@nodes)
	{
		$fail++ unless ok(wait_for(120, sub { q1($n, "SELECT count(*) = 2 FROM tieredlog.peers WHERE state = 'streaming'") }),
			$n->name . ' streams from both peers after the nemesis');
	}
	q1($_, "SELECT count(*) FROM tieredlog.scrub()") for @nodes;
	my $rounds = 0;
	my $converged = 0;
	my $same = sub { my $d = digests($nodes[0]); return (grep { digests($_) ne $d } @nodes[ 1, 2 ]) ? 0 : 1; };
	while (!$converged && $rounds < 6)
	{
		$rounds++;
		for my $n (@nodes)
		{
			my ($rc, $out, $err) = $n->psql('postgres', "SELECT string_agg(status || ' ' || n, ', ') FROM
				(SELECT status, count(*) n FROM tieredlog.reconcile(include_archive => true) GROUP BY status) s");
			note($n->name . " reconcile round $rounds: " . ($rc == 0 ? $out : $err));
		}
		# what the last round brought travels on by streaming (the _seen records of the repairs, say)
		$converged = wait_for(30, $same);
	}
	if (!ok($converged, "the segment digests are equal on all nodes after $rounds reconciliation round(s)"))
	{
		$fail++;
		my %by;
		for my $n (@nodes) { $by{$_}{ $n->name } = 1 for split /\n/, digests($n); }
		diag('segments not on every node with the same digest (log@window=digest: nodes):');
		diag("  $_: " . join(' ', sort keys %{ $by{$_} })) for grep { keys %{ $by{$_} } < 3 } sort keys %by;
	}

	# ---- every acknowledged record exactly once on every node; no record twice -------------------------
	my %acked;
	for my $f (glob "$dir/ack.*")
	{
		open(my $fh, '<', $f) or die;
		while (<$fh>) { chomp; $acked{$_} = 1; }
	}
	$fail++ unless cmp_ok(scalar(keys %acked), '>', 100 * $p->{duration} / 180, scalar(keys %acked) . ' records acknowledged');
	my %edits = %{ $st{edited} };
	for my $n (@nodes)
	{
		my %have;
		my $rows = q1($n, "SELECT payload->>'u', count(*) FROM tieredlog.read('$LOG') GROUP BY 1");
		for (split /\n/, $rows)
		{
			my ($u, $c) = split /\|/;
			$have{$u} = $c;
		}
		my @missing = grep { !$have{$_} } keys %acked;
		my @twice = grep { $have{$_} > 1 } keys %have;
		$fail++ unless is(scalar(@missing), 0, $n->name . ': every acknowledged record is there')
		  or diag('missing: ' . join(' ', (sort @missing)[ 0 .. ($#missing < 20 ? $#missing : 19) ]));
		$fail++ unless is(scalar(@twice), 0, $n->name . ': no record (client id) twice') or diag('twice: ' . join(' ', @twice[ 0 .. ($#twice < 20 ? $#twice : 19) ]));
		$fail++ unless is(q1($n, "SELECT count(*) - count(DISTINCT (origin, seq)) FROM tieredlog.read('$LOG')"), '0',
			$n->name . ': no (origin, seq) twice');
		$fail++ unless is(q1($n, "SELECT count(*) FROM tieredlog.check_digests() WHERE NOT ok"), '0',
			$n->name . ': check_digests() is clean');
		my $v = q1($n, "SELECT string_agg(check_name || ' ' || object || ': ' || coalesce(expected, '') || ' / ' || coalesce(actual, ''), E'\\n')
			FROM tieredlog.verify() WHERE NOT ok");
		$fail++ unless is($v, '', $n->name . ': verify() is clean');
	}
	my $same_rows = q1($nodes[0], "SELECT md5(string_agg(origin || ':' || seq || '=' || payload::text, ',' ORDER BY origin, seq)) FROM tieredlog.read('$LOG')");
	for my $n (@nodes[ 1, 2 ])
	{
		$fail++ unless is(q1($n, "SELECT md5(string_agg(origin || ':' || seq || '=' || payload::text, ',' ORDER BY origin, seq)) FROM tieredlog.read('$LOG')"),
			$same_rows, $n->name . ': the same records with the same payloads as s1');
	}

	# ---- the edits: found by the scrub, repaired from a peer -------------------------------------------
	my @lost;
	for my $id (sort keys %edits)
	{
		my $e = $edits{$id};
		my ($n) = grep { $_->name eq $e->{node} } @nodes;
		my ($origin, $seq) = $id =~ /^(.*):(\d+)$/;
		my $found = q1($n, "SELECT count(*) FROM tieredlog.quarantine WHERE via = 'scrub' AND origin = '$origin' AND seq = $seq");
		my $resolved = q1($n, "SELECT count(*) FROM tieredlog.quarantine WHERE via = 'scrub' AND origin = '$origin' AND seq = $seq AND resolved_at IS NOT NULL");
		my $now = q1($n, "SELECT payload::text FROM tieredlog.read('$LOG') WHERE origin = '$origin' AND seq = $seq");
		push @lost, "$id on $e->{node}: found $found, resolved $resolved, payload now [$now], was [$e->{payload}]"
		  unless $found > 0 && $resolved == $found && $now eq $e->{payload};
	}
	$fail++ unless is(scalar(@lost), 0, scalar(keys %edits) . ' payloads edited behind tieredlog\'s back: each found by the scrub and repaired')
	  or diag(join("\n", @lost));

	# ---- latest() agrees on every key; nothing pending, stuck or quarantined -----------------------------
	my $latest = latest_all($nodes[0]);
	for my $n (@nodes[ 1, 2 ])
	{
		$fail++ unless is(latest_all($n), $latest, $n->name . ': latest() agrees with s1 on every key');
	}
	for my $n (@nodes)
	{
		q1($n, 'SELECT tieredlog.sweep()');
		my $stuck = sub {
			q1($n, "SELECT concat_ws(' ',
				(SELECT 'moves not done: ' || count(*) FROM tieredlog.moves WHERE state <> 'done' HAVING count(*) > 0),
				(SELECT 'tasks running without a process: ' || string_agg(task || ' ' || coalesce(segment_id::text, '') || ' pid ' || pid, ', ')
					FROM tieredlog.task_history WHERE status = 'running' AND pid NOT IN (SELECT pid FROM pg_stat_activity) HAVING count(*) > 0),
				(SELECT 'checks unfinished after 2 min: ' || count(*) FROM tieredlog.check_log WHERE finished_at IS NULL
					AND decided_at < now() - interval '2 min' HAVING count(*) > 0),
				(SELECT 'status: ' || s::text FROM tieredlog.status() s WHERE moves_in_flight > 0 OR quarantined > 0 OR open_gaps > 0
					OR conflicts_pending > 0 OR worker_state NOT IN ('idle', 'running', 'planning', 'pacing')))");
		};
		my $why;
		wait_for(60, sub { $why = $stuck->(); $why eq '' });
		$fail++ unless is($why, '', $n->name . ': no task stuck, nothing quarantined, no gap open, the worker well');
	}
	my %did;
	for my $n (@nodes)	# summed over the nodes: a node whose worker was killed often may do little
	{
		$did{$_} += q1($n, "SELECT count(*) FROM tieredlog.task_history WHERE task = '$_' AND status = 'done'") for qw(seal move scrub);
		$did{check} += q1($n, "SELECT count(*) FROM tieredlog.check_log WHERE finished_at IS NOT NULL");
		$did{model} += q1($n, "SELECT count(*) FROM tieredlog.models WHERE algo <> 'prior'");
		$did{block} += q1($n, "SELECT count(*) FROM tieredlog.ledger_blocks");
		$did{tier2} += q1($n, "SELECT count(*) FROM tieredlog.segments WHERE tier = 2");
		$did{conflicts} += q1($n, "SELECT count(*) FROM tieredlog.conflicts");
	}
	diag('on the three nodes: ' . join(', ', map { "$_ $did{$_}" } sort keys %did));
	$fail++ unless ok($did{seal} > 0 && $did{move} > 0 && $did{scrub} > 0 && $did{check} > 0 && $did{block} > 0,
		'the workers sealed, moved, scrubbed, checked and closed ledger blocks during the run');

	# ---- the clients saw no error but those of the faults; the server logs -------------------------------
	my @cerr;
	for my $f (glob "$dir/errors.*")
	{
		open(my $fh, '<', $f) or die;
		push @cerr, <$fh>;
	}
	$fail++ unless is(scalar(@cerr), 0, 'the clients got no error other than a fault\'s') or diag(join('', @cerr[ 0 .. ($#cerr < 30 ? $#cerr : 29) ]));
	$fail++ unless is(scalar(@{ $st{hangs} // [] }), 0, 'every fast stop finished') or diag(join("\n", @{ $st{hangs} }));
	my $reads = 0;
	for my $f (glob "$dir/reads.*") { open(my $fh, '<', $f) or die; $reads += <$fh>; }
	for my $n (@nodes)
	{
		my $log = slurp_file($n->logfile);
		my @bad = grep { /PANIC|TRAP:|[Aa]ssert/ } split /\n/, $log;
		for my $l (split /\n/, $log)
		{
			push @bad, $l if $l =~ /\(PID (\d+)\) was terminated by signal (\d+)/ && !($2 == 9 && $st{killed}{ $n->name }{$1});
			push @bad, $l if $l =~ /terminated by signal/ && $l !~ /\(PID \d+\)/;
		}
		$fail++ unless is(scalar(@bad), 0, $n->name . ': the server log has no PANIC, assertion or signal but the injected ones')
		  or diag(join("\n", @bad[ 0 .. ($#bad < 20 ? $#bad : 19) ]));
	}
	diag(sprintf('soak seed %d: %d faults, %d records acknowledged, %d reads, %d edits; load %.0fs, set-up and checks %.0fs',
		$p->{seed}, scalar(@$sched), scalar(keys %acked), $reads, scalar(keys %edits), $t_load, time() - $t_setup - $t_load));
	if ($fail)
	{
		diag("SOAK FAILED: replay with TL_SOAK_SEED=$p->{seed} TL_SOAK_DURATION=$p->{duration} TL_SOAK_FAULT_EVERY=$p->{fault_every}"
			  . " TL_SOAK_APPENDERS=$p->{appenders} TL_SOAK_WEIGHTS=" . join(',', map { "$_=$p->{weights}{$_}" } @KINDS)
			  . "\nclient files and server logs: $dir, " . join(', ', map { $_->logfile } @nodes) . "\nthe schedule:\n" . schedule_text($sched));
	}
	else
	{
		note("the schedule:\n" . schedule_text($sched));
	}
	$_->stop('immediate', fail_ok => 1) for @nodes;	# everything is checked: a fast stop only costs time
	return !$fail;
}

1;
