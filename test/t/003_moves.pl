# Moves between tiers, online and interrupted.
#
# Part 1, online: while two clients append (one to the current segment, one back-dated records into
# the segment being moved) and two clients read (read() over the moving segment's window, latest()
# of a key in it), that segment (20000 records) is moved 0 -> 1 -> 0 -> 1, sealed, -> 2, -> 0, three
# times, with sweep() after each move; tiers 1 and 2 are separate (in-place) tablespaces. psql's
# \timing measures every client statement; none may take longer during a move than the bound
# (100 ms, or on a slow machine twice the client's slowest statement while no move runs), and no
# lock wait reaches 100 ms (a limit, not a figure: bench/move measures the late writers' waits; at
# 50 ms this failed by 0.2-3 ms on a machine at load 7 and more). Readers always see every record once. Afterwards every acknowledged
# append is there exactly once, the digests verify and the old copies are gone.
#
# Part 2, interrupted: kill -9 of the moving backend, of the whole server (postmaster and mover), or
# of the postmaster alone (the orphaned mover runs on), during the copy (after delays spread over a
# timed move), while the move is parked at its write barrier, and after its commit but before
# sweep(), for moves 0 -> 1 and -> 2 (and 2 -> 0 after the commit). After the restart
# every record is visible exactly once, the digests verify, the catalog points at storage that
# exists and nothing else is left; a move interrupted before its commit left the segment untouched
# (and it moves again), one interrupted after its commit is completed by sweep().
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);
use List::Util qw(max);

my $node = PostgreSQL::Test::Cluster->new('moves');
$node->init;
# naptime: the background sweeper must not complete moves behind the test's back during the online
# part; it still runs one cycle when the server starts, which the crash part relies on
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tieredlog'
tieredlog.node_name = 'mv'
tieredlog.naptime = 3600
tieredlog.seal_grace = '10000d'
tieredlog.adaptive_tiering = off
restart_after_crash = on
log_statement = none
max_connections = 40
log_lock_waits = on
deadlock_timeout = '100ms'
});
$node->start;
my $dir = PostgreSQL::Test::Utils::tempdir();

$node->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE warm LOCATION '';
CREATE TABLESPACE cold LOCATION '';
SELECT tieredlog.set_tier(1, 'warm');
SELECT tieredlog.set_tier(2, 'cold');
-- the clients' switchboard: phase tags every client statement, stop ends the clients
CREATE TABLE ctl (phase text NOT NULL, stop boolean NOT NULL);
INSERT INTO ctl VALUES ('base', false);
-- sweep, then report whether any move still has an old copy
CREATE FUNCTION sweep_all() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM tieredlog.sweep();
	RETURN NOT EXISTS (SELECT 1 FROM tieredlog.move WHERE state <> 'done');
END $$;
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }
sub few { my @a = grep { defined } @_[ 0 .. 9 ]; return "@a"; }

sub sweep_all
{
	my ($label) = @_;
	ok($node->poll_query_until('postgres', 'SELECT sweep_all()'), "$label: sweep() removes the old copy");
}

# ==================================================================================================
# Part 1: online moves under two appenders and two readers
# ==================================================================================================
my $W0 = '2026-03-01 00:00:00+00';
my $W1 = '2026-03-01 01:00:00+00';
q1("SELECT tieredlog.create_log('mv', '1 hour')");
# 20000 records over the window; every 100th has key 'hot' (latest() finds the last of them)
q1(qq{SELECT tieredlog.append_many('mv',
		array_agg(CASE WHEN i % 100 = 0 THEN 'hot' ELSE 'k' || (i % 500) END),
		array_agg(jsonb_build_object('i', i, 'pad', md5(i::text))), NULL,
		array_agg(timestamptz '$W0' + i * interval '150 ms'))
	FROM generate_series(1, 20000) i});
my $seg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'mv' AND range_start = '$W0'");
my $lid = q1("SELECT log_id FROM tieredlog.logs WHERE log_name = 'mv'");
my $hot = q1("SELECT seq || ' ' || (payload->>'i') FROM tieredlog.latest('mv', 'hot')");
like($hot, qr/^\d+ 20000$/, 'latest() of the hot key is the seeded record with the greatest ts');
($hot) = $hot =~ /^(\d+)/;

# Each client runs a generated script: one measured statement per step, whose one output line ends
# with the phase it saw, then (untimed) a 2 ms think time and a look at ctl.stop.
my %clients;
sub client_stmt
{
	my ($c, $i) = @_;
	return "SELECT 'ack A-$i ' || tieredlog.append('mv', 'A-$i', '{\"i\": $i}') || ' ' || phase FROM ctl;"
	  if $c eq 'A';
	if ($c eq 'B')
	{
		my $off = sprintf('%.3f', (($i * 7919) % 3599000) / 1000 + 0.5);
		# pauses (without appending) while the segment is sealed and archived: a late record would
		# reopen it, and a move to tier 2 refuses a segment that is not sealed
		return "SELECT CASE WHEN phase ~ '^(p\\d|[ms]\\dd)\$' THEN 'paused ' || phase "
		  . "ELSE 'ack B-$i ' || tieredlog.append('mv', 'B-$i', '{\"late\": $i}', 'late', "
		  . "timestamptz '$W0' + interval '$off seconds') || ' ' || phase END FROM ctl;";
	}
	return "SELECT 'r ' || count(*) || ' ' || count(DISTINCT seq) || ' ' "
	  . "|| count(*) FILTER (WHERE key NOT LIKE 'B-%') || ' ' || coalesce(string_agg(DISTINCT tier::text, ','), '-') "
	  . "|| ' ' || (SELECT phase FROM ctl) FROM tieredlog.read('mv', '$W0', '$W1');"
	  if $c eq 'R';
	return "SELECT 'l ' || coalesce((SELECT seq || ' ' || tier FROM tieredlog.latest('mv', 'hot')), 'none') "
	  . "|| ' ' || phase FROM ctl;";
}

for my $c ('A', 'B', 'R', 'L')
{
	my $file = "$dir/client_$c.sql";
	open my $fh, '>', $file or die;
	print $fh "\\timing on\n";
	for my $i (1 .. 40000)
	{
		print $fh client_stmt($c, $i), "\n",
		  "\\timing off\nSELECT stop FROM ctl, pg_sleep(0.002) \\gset\n\\if :stop\n\\echo stopped\n\\q\n\\endif\n\\timing on\n";
	}
	print $fh "\\echo ran-out\n";
	close $fh;
	$clients{$c} = { out => "$file.out", err => "$file.err", off => 0, stmts => [], count => {} };
	$clients{$c}{h} = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $file ],
		'>', "$file.out", '2>', "$file.err");
}

# Read what a client printed since the last look: statements { line, kind, phase, ms }.
sub client_poll
{
	my ($c) = @_;
	my $cl = $clients{$c};
	return $cl->{stmts} unless -e $cl->{out};
	my $text = slurp_file($cl->{out}, $cl->{off});
	my $nl = rindex($text, "\n");
	return $cl->{stmts} if $nl < 0;
	$text = substr($text, 0, $nl + 1);
	$cl->{off} += length($text);
	for my $line (split /\n/, $text)
	{
		if ($line =~ /^Time: ([\d.]+) ms/)
		{
			if (my $p = delete $cl->{pending})
			{
				$p->{ms} = $1;
				push @{ $cl->{stmts} }, $p;
				$cl->{count}{"$p->{phase} $p->{kind}"}++;
			}
		}
		elsif ($line =~ /^(ack|paused|r|l) (?:.* )?(\w+)$/)
		{
			$cl->{pending} = { line => $line, kind => $1, phase => $2 };
		}
		elsif ($line eq 'stopped' || $line eq 'ran-out')
		{
			$cl->{end} = $line;
		}
	}
	return $cl->{stmts};
}

# wait (polling the clients' output) until each client in @cs printed n statements of a kind
# (undef: any) tagged with phase
sub wait_clients
{
	my ($phase, $n, $kind, @cs) = @_;
	for (1 .. 1800)
	{
		return 1
		  unless grep {
			client_poll($_);
			my $cnt = $clients{$_}{count};
			my $got = 0;
			$got += $cnt->{$_} // 0 for grep { /^$phase / && (!defined $kind || / $kind$/) } keys %$cnt;
			$got < $n
		  } @cs;
		usleep(100_000);
	}
	die "clients did not reach phase $phase: "
	  . join(', ', map { "$_ " . ($clients{$_}{end} // 'running') } @cs);
}

sub set_phase { q1("UPDATE ctl SET phase = '$_[0]'"); }

# Move, retrying while a writer holds the segment (55P03, the move gives up after
# tieredlog.move_lock_timeout); returns "from to records" or undef.
my @move_log;
sub move_online
{
	my ($to, $label) = @_;
	for my $try (1 .. 50)
	{
		my $t0 = time;
		my ($rc, $out, $err) = $node->psql('postgres',
			"\\set VERBOSITY verbose\nSELECT from_tier || ' ' || to_tier || ' ' || records FROM tieredlog.move_segment($seg, $to);");
		my $ms = (time - $t0) * 1000;
		if ($rc == 0)
		{
			push @move_log, sprintf('%s: %s in %.0f ms, %d retries', $label, $out, $ms, $try - 1);
			return $out;
		}
		next if $err =~ /ERROR:\s+55P03:.*is being written to/;
		diag("$label failed: $err");
		return undef;
	}
	diag("$label: still being written to after 50 tries");
	return undef;
}

sub warm_size { return q1("SELECT pg_tablespace_size('warm')"); }

# --- the moves, three rounds ----------------------------------------------------------------------
# Phases: 'base' before any move; per round r and move x, 'm<r><x>' while the move and its sweep
# run, then 's<r><x>' at rest; 'p<r>' (late writer paused, seal) and 'l<r>' (late writer back,
# reopening the archived segment) are at rest too. Statements at rest calibrate each client's bound.
my @all = ('A', 'B', 'R', 'L');
my $log_offset = -s $node->logfile;
wait_clients('base', 100, undef, @all);

# one move under the clients: the move (retried on 55P03) and the sweep, then a rest
sub step
{
	my ($phase, $to, $label) = @_;
	set_phase("m$phase");
	wait_clients("m$phase", 1, undef, @all);    # no statement from before the switch still runs
	my $res = move_online($to, $label);
	sweep_all($label);
	set_phase("s$phase");
	wait_clients("s$phase", 3, undef, @all);
	return $res // '';
}

for my $r (1 .. 3)
{
	my $rel0 = q1("SELECT relation FROM tieredlog.segments WHERE segment_id = $seg");
	like(step("${r}a", 1, "round $r 0->1"), qr/^0 1 \d+$/, "round $r: online move 0 -> 1");
	is(q1("SELECT to_regclass('tieredlog_data.$rel0') IS NULL"), 't', "round $r 0->1: the tier 0 relation is dropped");

	my $warm_full = warm_size();
	like(step("${r}b", 0, "round $r 1->0"), qr/^1 0 \d+$/, "round $r: online move 1 -> 0");
	my $warm_empty = warm_size();
	cmp_ok($warm_full - $warm_empty, '>', 1_000_000, "round $r 1->0: the warm tablespace gave its space back")
	  or diag("warm tablespace: $warm_full bytes before the sweep, $warm_empty after");

	like(step("${r}c", 1, "round $r 0->1 again"), qr/^0 1 \d+$/, "round $r: online move 0 -> 1 again");
	cmp_ok(warm_size(), '>', $warm_empty + 1_000_000, "round $r: the segment is in the warm tablespace");

	# the late writer pauses while the segment is sealed and archived
	set_phase("p$r");
	wait_clients("p$r", 2, 'paused', 'B');
	is(q1("SELECT tieredlog.seal($seg)"), 'sealed', "round $r: seal");
	$warm_full = warm_size();
	like(step("${r}d", 2, "round $r 1->2"), qr/^1 2 \d+$/, "round $r: online move 1 -> 2 of the sealed segment");
	cmp_ok($warm_full - warm_size(), '>', 1_000_000, "round $r 1->2: the warm tablespace gave its space back");
	is(q1("SELECT tier || ' ' || (relation IS NULL) || ' ' || tablespace FROM tieredlog.segments WHERE segment_id = $seg"),
		'2 true cold', "round $r: the segment is only frames, in the cold tablespace");

	# late records again: the archived segment reopens with a relation for them, and moves with them
	set_phase("l$r");
	wait_clients("l$r", 20, 'ack', 'B');
	is(q1("SELECT state || ' ' || tier || ' ' || (relation IS NOT NULL) FROM tieredlog.segments WHERE segment_id = $seg"),
		'reopened 2 true', "round $r: late records reopened the archived segment into a relation of late rows");
	like(step("${r}e", 0, "round $r 2->0"), qr/^2 0 \d+$/, "round $r: online move 2 -> 0 (frames and late rows)");
	is(q1("SELECT count(*) FROM tieredlog_data.archive_$lid WHERE segment_id = $seg"), '0',
		"round $r 2->0: the frames are deleted");
}

set_phase('after');
wait_clients('after', 1, undef, 'A', 'B', 'R', 'L');
q1('UPDATE ctl SET stop = true');
$_->{h}->finish for values %clients;
client_poll($_) for keys %clients;
note($_) for @move_log;
my @lock_waits = slurp_file($node->logfile, $log_offset) =~ /^(.*still waiting for.*)$/mg;
is(scalar(@lock_waits), 0, 'no statement waited 100 ms or more for a lock (log_lock_waits)')
  or diag(few(@lock_waits));

# --- what the clients saw ---------------------------------------------------------------------------
my %st = map { ($_ => $clients{$_}{stmts}) } qw(A B R L);
for my $c (qw(A B R L))
{
	is(slurp_file($clients{$c}{err}), '', "client $c: no errors");
	is($clients{$c}{end}, 'stopped', "client $c ran until told to stop");
}

# readers: always exactly the 20000 seeded records, no record twice, the right winner
my @r = grep { $_->{phase} ne 'base' } @{ $st{R} };
my @bad_r = grep { !/^r (\d+) \1 20000 / } map { $_->{line} } @{ $st{R} };
is(scalar(@bad_r), 0, 'read(): every result had each record once and all 20000 seeded records')
  or diag("bad reads: " . few(@bad_r));
my %tiers_seen;
for (@r) { $tiers_seen{$_} = 1 for split /,/, ($_->{line} =~ /^r \d+ \d+ \d+ (\S+)/)[0]; }
is(join(',', sort keys %tiers_seen), '0,1,2', 'read() ran while the segment was in each tier');
my @bad_l = grep { !/^l $hot \d / } map { $_->{line} } @{ $st{L} };
is(scalar(@bad_l), 0, 'latest(): always the same winning record') or diag("bad: " . few(@bad_l));
my %ltiers = map { (($_->{line} =~ /^l \d+ (\d)/)[0] => 1) } grep { $_->{phase} ne 'base' } @{ $st{L} };
is(join(',', sort keys %ltiers), '0,1,2', 'latest() ran while the segment was in each tier');

# latency: each client's slowest statement while moves ran, against 100 ms or, on a slow or noisy
# machine, twice its slowest statement while no move ran (reading archived frames costs more CPU, and
# a mover competes for it)
for my $c (@all)
{
	my @ok = grep { $_->{kind} ne 'paused' } @{ $st{$c} };
	my @rest = grep { $_->{phase} !~ /^m/ } @ok;
	my @mv = sort { $b->{ms} <=> $a->{ms} } grep { $_->{phase} =~ /^m/ } @ok;
	my $rest_max = max(map { $_->{ms} } @rest);
	my $bound = max(100, 2 * $rest_max);
	my $slow_rest = (sort { $b->{ms} <=> $a->{ms} } @rest)[0];
	diag(sprintf("client %s: at rest %d statements, max %.1f ms (%s); during moves %d statements, max %.1f ms, "
		  . "p99 %.1f ms (slowest: %s); bound %.0f ms", $c, scalar(@rest), $rest_max, $slow_rest->{phase},
		scalar(@mv), $mv[0]{ms}, $mv[ int(0.01 * $#mv) ]{ms},
		join(', ', map { "$_->{ms} in $_->{phase}" } grep { defined } @mv[ 0 .. 2 ]), $bound));
	cmp_ok(scalar(@mv), '>', 20, "client $c ran during the moves");
	cmp_ok($mv[0]{ms}, '<=', $bound, "client $c: no statement waited longer than the bound during the moves");
}

# every acknowledged append is there exactly once, and nothing else
my %acked;
for my $c ('A', 'B')
{
	for (@{ $st{$c} })
	{
		$acked{$1}++ if $_->{line} =~ /^ack (\S+) \d+ /;
	}
}
my %present = map { my ($k, $n) = split /\|/; ($k => $n) } split /\n/,
  q1("SELECT key, count(*) FROM tieredlog.read('mv') WHERE key ~ '^[AB]-' GROUP BY key");
my @missing = grep { !exists $present{$_} } keys %acked;
my @twice = grep { $present{$_} != 1 } keys %present;
my @unacked = grep { !exists $acked{$_} } keys %present;
cmp_ok(scalar(grep { /^B-/ } keys %acked), '>', 100, 'the late writer was acknowledged many times');
is(scalar(@missing), 0, 'every acknowledged append is present') or diag("missing: " . few(@missing));
is(scalar(@twice), 0, 'each exactly once') or diag("twice: " . few(@twice));
is(scalar(@unacked), 0, 'and no append that was not acknowledged') or diag("unacknowledged: " . few(@unacked));
is(q1("SELECT count(*) || ' ' || count(DISTINCT (origin, seq)) || ' ' || count(*) FILTER (WHERE key !~ '^[AB]-') FROM tieredlog.read('mv')"),
	(20000 + scalar(keys %acked)) . ' ' . (20000 + scalar(keys %acked)) . ' 20000',
	'the log holds the seeds and the acknowledged appends, no (origin, seq) twice');
is(q1("SELECT count(*) FROM tieredlog.read('mv', '$W0', '$W1') WHERE key LIKE 'B-%'"),
	scalar(grep { /^B-/ } keys %acked), 'the late records are all in the moved segment');
is(q1("SELECT bool_and(ok) FROM tieredlog.check_digests('mv')"), 't', 'every digest verifies');
is(q1("SELECT count(*) FROM tieredlog.moves WHERE state <> 'done'"), '0', 'no move is pending');
is(q1("SELECT string_agg(c.relname, ',') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'tieredlog_data' AND c.relkind = 'r' AND c.relname ~ '^seg_${seg}(_|\$)'"),
	q1("SELECT relation FROM tieredlog.segments WHERE segment_id = $seg"),
	'the segment has one relation left, the one the catalog names');
is(q1("SELECT count(*) FROM tieredlog_data.archive_$lid WHERE segment_id = $seg"), '0',
	'no archive frames of the segment are left');

# A reader whose snapshot was taken after the move flipped the catalog but before the move
# committed (here: a repeatable-read transaction, with the move in an explicit transaction) still
# resolves the segment to its old relation. sweep() must leave that relation alone until the reader
# is done.
# (Found by this test: sweep() used to wait only for transactions that started before the flip's
# clock time, and dropped the relation under this reader.)
my $count_w = q1("SELECT count(*) FROM tieredlog.read('mv', '$W0', '$W1')");
my $mover = $node->background_psql('postgres');
my $rr = $node->background_psql('postgres', on_error_stop => 0);
$mover->query_safe('BEGIN');
$mover->query_safe("SELECT tieredlog.move_segment($seg, 1)");
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$rr->query_safe('SELECT 1');
$mover->query_safe('COMMIT');
q1('SELECT tieredlog.sweep()');
my ($rr_out) = $rr->query("SELECT count(*) FROM tieredlog.read('mv', '$W0', '$W1')");
is($rr_out . $rr->{stderr}, $count_w,
	'a repeatable-read reader whose snapshot predates the move\'s commit reads the segment after sweep()');
$rr->{stderr} = '';
$rr->query('ROLLBACK');
$rr->quit;
$mover->quit;
sweep_all('after the repeatable-read reader');

# ==================================================================================================
# Part 2: kill -9 during moves
# ==================================================================================================
q1("SELECT tieredlog.create_log('big', '1 hour')");
q1(q{SELECT tieredlog.append_many('big', array_agg('k' || (i % 5000)),
		array_agg(jsonb_build_object('i', i, 'h', md5(i::text))), NULL,
		array_agg(timestamptz '2026-04-01 00:00:00+00' + i * interval '8 ms'))
	FROM generate_series(1, 400000) i});
my $big = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'big'");
q1("SELECT tieredlog.seal($big)");    # sealed: it may go to any tier
q1("SELECT tieredlog.create_log('park', '1 hour')");
q1(q{SELECT tieredlog.append_many('park', array_agg('k' || (i % 100)), array_agg(jsonb_build_object('i', i)), NULL,
		array_agg(timestamptz '2026-05-01 00:00:00+00' + i * interval '100 ms'))
	FROM generate_series(1, 20000) i});
my $park = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'park'");
my %log_of = ($big => 'big', $park => 'park');

sub timed_move
{
	my ($s, $to) = @_;
	my $t0 = time;
	my $out = q1("SELECT records FROM tieredlog.move_segment($s, $to)");
	return time - $t0;
}

# durations of undisturbed moves, to spread the kills over
my $t_big1 = timed_move($big, 1);
sweep_all('timed 0->1');
timed_move($big, 0);
sweep_all('timed 1->0');
my $t_big2 = timed_move($big, 2);
sweep_all('timed 0->2');
timed_move($big, 0);
sweep_all('timed 2->0');
my $t_park = timed_move($park, 1);
timed_move($park, 0);
sweep_all('timed park moves');
diag(sprintf('undisturbed moves of 400000 records: 0->1 %.0f ms, 0->2 %.0f ms; of 20000: %.0f ms',
	$t_big1 * 1000, $t_big2 * 1000, $t_park * 1000));

# everything about a segment that a crash must not change, or must change consistently
sub seg_state
{
	my ($s) = @_;
	my $log = $log_of{$s};
	my ($tier, $state, $rel, $att, $digest) = split /\|/, q1(
		"SELECT tier, state, coalesce(relname::text, ''), coalesce(archive_attempt::text, ''), tieredlog.segment_digest(segment_id)
		   FROM tieredlog.segment WHERE segment_id = $s");
	my ($n, $distinct) = split /\|/, q1("SELECT count(*), count(DISTINCT (origin, seq)) FROM tieredlog.read('$log')");
	my @pending = map { [ split /\|/, $_, -1 ] } split /\n/, q1(
		"SELECT move_id, state, coalesce(old_relname::text, ''), coalesce(old_attempt::text, '')
		   FROM tieredlog.move WHERE segment_id = $s AND state <> 'done' ORDER BY move_id");
	my $rels = q1("SELECT coalesce(string_agg(c.relname, ',' ORDER BY c.relname), '') FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'tieredlog_data' AND c.relkind = 'r' AND c.relname ~ '^seg_${s}(_|\$)'");
	my $lid = q1("SELECT log_id FROM tieredlog.logs WHERE log_name = '$log'");
	my $atts = '';
	$atts = q1("SELECT coalesce(string_agg(DISTINCT attempt::text, ',' ORDER BY attempt::text), '') FROM tieredlog_data.archive_$lid WHERE segment_id = $s")
	  if q1("SELECT to_regclass('tieredlog_data.archive_$lid') IS NOT NULL") eq 't';
	return { tier => $tier, state => $state, rel => $rel, att => $att, digest => $digest, n => $n,
		distinct => $distinct, pending => \@pending, rels => $rels, atts => $atts };
}

# after a crash: one copy of every record, digests, storage; then the outcome's own promises
my %outcomes;
sub check_after_crash
{
	my ($label, $s, $before, $to) = @_;
	my $log = $log_of{$s};
	my $a = seg_state($s);
	is("$a->{n} $a->{distinct}", "$before->{n} $before->{n}", "$label: every record visible exactly once");
	is($a->{digest}, $before->{digest}, "$label: the stored digest is unchanged");
	is(q1("SELECT bool_and(ok) FROM tieredlog.check_digests('$log')"), 't', "$label: digests verify");
	# the catalog names storage that exists, and nothing else of the segment is left
	my %want_rels = map { ($_ => 1) } grep { $_ ne '' } ($a->{rel}, map { $_->[2] } @{ $a->{pending} });
	my %want_atts = map { ($_ => 1) } grep { $_ ne '' } ($a->{att}, map { $_->[3] } @{ $a->{pending} });
	ok($a->{rel} ne '' || $a->{att} ne '', "$label: the catalog names a relation or frames");
	is($a->{rels}, join(',', sort keys %want_rels), "$label: the relations that exist are exactly the ones named");
	is($a->{atts}, join(',', sort keys %want_atts), "$label: the frames that exist are exactly the ones named");
	if ($a->{tier} == $before->{tier})
	{
		$outcomes{before_commit}++;
		note("$label: interrupted before its commit");
		is("$a->{rel}|$a->{att}|$a->{state}|" . scalar(@{ $a->{pending} }),
			"$before->{rel}|$before->{att}|$before->{state}|0",
			"$label: interrupted before the commit, the segment is untouched in tier $before->{tier}");
		is(q1("SELECT from_tier || ' ' || to_tier || ' ' || records FROM tieredlog.move_segment($s, $to)"),
			"$before->{tier} $to $before->{n}", "$label: the segment moves again");
		sweep_all($label);
		my $m = seg_state($s);
		is("$m->{tier} $m->{n} $m->{distinct} $m->{digest}", "$to $before->{n} $before->{n} $before->{digest}",
			"$label: after the new move, the same records in tier $to");
	}
	else
	{
		$outcomes{after_commit}++;
		note("$label: interrupted after its commit");
		is($a->{tier}, $to, "$label: committed, the segment is in tier $to");
		# the background worker runs a cycle as soon as the server is up: the move is completed
		# on its own, without a call to sweep()
		ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.moves WHERE state <> 'done'"),
			"$label: the worker completed the move on its own after the restart");
		my $m = seg_state($s);
		is(scalar(@{ $m->{pending} }), 0, "$label: no move pending");
		is($m->{rels}, $m->{rel}, "$label: the old relation is gone");
		is($m->{atts}, $m->{att}, "$label: the old frames are gone");
		is("$m->{n} $m->{distinct} $m->{digest}", "$before->{n} $before->{n} $before->{digest}",
			"$label: the same records");
	}
}

# start a move in its own psql; returns once its backend pid is known (the move is sent with it)
sub start_move
{
	my ($s, $to, $pre) = @_;
	my %m = (in => "SELECT pg_backend_pid();\n" . ($pre // '')
		  . "SELECT 'moved ' || from_tier || ' ' || to_tier || ' ' || records FROM tieredlog.move_segment($s, $to);\n",
		out => '', err => '');
	$m{h} = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$m{in}, '>', \$m{out}, '2>', \$m{err});
	pump_until($m{h}, IPC::Run::timeout(60), \$m{out}, qr/^\d+\n/) or die 'mover did not start';
	($m{pid}) = $m{out} =~ /^(\d+)/;
	return \%m;
}

# kill -9 the mover ('backend': the postmaster reinitialises), the postmaster and the mover at once
# ('server'), or the postmaster alone ('postmaster': the orphaned mover runs on, and may commit,
# until it notices), and wait until the server accepts connections again
sub crash
{
	my ($m, $how) = @_;
	if ($how eq 'backend')
	{
		my $off = -s $node->logfile;
		kill 'KILL', $m->{pid};
		eval { $m->{h}->finish; };
		$node->wait_for_log(qr/reinitializing.*database system is ready to accept connections/s, $off);
	}
	else
	{
		my @pids = grep { /^\d+$/ } split /\n/, q1('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()');
		my $pm = $node->{_pid};
		$node->kill9;
		kill 'KILL', $m->{pid} if $how eq 'server';
		# the postmaster and its children must be gone before a new postmaster can start
		for (1 .. 1200)
		{
			last unless grep { kill 0, $_ } ($pm, @pids);
			usleep(50_000);
		}
		eval { $m->{h}->finish; };
		for (1 .. 100)
		{
			last if $node->start(fail_ok => 1);
			usleep(200_000);
		}
	}
	$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
}

# --- (a) kills after delays spread over the move -------------------------------------------------
my @kills = ([ 1, 0.1, 'backend' ], [ 1, 0.3, 'server' ], [ 1, 0.5, 'backend' ], [ 1, 0.7, 'server' ],
	[ 1, 0.9, 'backend' ], [ 1, 0.5, 'postmaster' ], [ 2, 0.2, 'server' ], [ 2, 0.5, 'backend' ],
	[ 2, 0.8, 'server' ], [ 2, 0.5, 'postmaster' ]);
for my $k (@kills)
{
	my ($to, $frac, $how) = @$k;
	my $label = sprintf('0->%d, %s killed at %.0f%% of the move', $to, $how, $frac * 100);
	q1('CHECKPOINT');
	my $before = seg_state($big);
	my $m = start_move($big, $to);
	usleep(int(($to == 1 ? $t_big1 : $t_big2) * $frac * 1_000_000));    # deliberately: the kill point
	crash($m, $how);
	check_after_crash($label, $big, $before, $to);
	timed_move($big, 0);
	sweep_all("$label: back to tier 0");
}

# --- (b) parked at the write barrier --------------------------------------------------------------
# A transaction appending a late record holds the segment relation; a mover allowed to wait 60 s
# copies and verifies, then waits for it at the barrier. First without a kill: when the appender
# commits, the move takes its record along.
my $park_rel = q1("SELECT relation FROM tieredlog.segments WHERE segment_id = $park");
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe("SELECT tieredlog.append('park', 'late', '{}', NULL, '2026-05-01 00:59:00+00')");
# with the default tieredlog.move_lock_timeout the move gives up instead (55P03) and changes nothing
my $park_before = q1("SELECT tier || ' ' || relation || ' ' || digest FROM tieredlog.segments WHERE segment_id = $park");
my $t0 = time;
my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT * FROM tieredlog.move_segment($park, 1)");
my $t_refused = time - $t0;
like($err, qr/ERROR:\s+55P03: segment $park is being written to; it was not moved/,
	'a move refused by an open appender fails with 55P03');
cmp_ok($t_refused, '<', 3, 'after a bounded wait');
is(q1("SELECT tier || ' ' || relation || ' ' || digest FROM tieredlog.segments WHERE segment_id = $park")
	  . ' ' . q1("SELECT count(*) FROM tieredlog.moves WHERE segment_id = $park AND state <> 'done'"),
	"$park_before 0", 'the refused move changed nothing');
note(sprintf('refused move took %.0f ms', $t_refused * 1000));
my $parked_sql = sub {
	my ($pid) = @_;
	return "SELECT state = 'active' AND wait_event IS NULL AND clock_timestamp() - query_start > interval '"
	  . max(1, 20 * $t_park) . " seconds' FROM pg_stat_activity WHERE pid = $pid";
};
my $m = start_move($park, 1, "SET tieredlog.move_lock_timeout = 60000;\n");
ok($node->poll_query_until('postgres', $parked_sql->($m->{pid})), 'park: the move waits at the barrier');
$holder->query_safe('COMMIT');
pump_until($m->{h}, IPC::Run::timeout(60), \$m->{out}, qr/^moved/m);
$m->{h}->finish;
like($m->{out}, qr/^moved 0 1 20001$/m, 'park: once the appender committed, the move finished with its record');
is($m->{err}, '', 'park: without an error');
sweep_all('park');
is(q1("SELECT count(*) || ' ' || bool_and(ok) FROM tieredlog.read('park'), tieredlog.check_digests('park')"),
	'20001 true', 'park: 20001 records, digest verifies');

# parked 1 -> 0, kill the mover: the appender's transaction dies with the server's other backends
$holder->query_safe('BEGIN');
$holder->query_safe("SELECT tieredlog.append('park', 'late2', '{}', NULL, '2026-05-01 00:59:01+00')");
my $before = seg_state($park);    # without the holder's uncommitted record
$m = start_move($park, 0, "SET tieredlog.move_lock_timeout = 60000;\n");
ok($node->poll_query_until('postgres', $parked_sql->($m->{pid})), 'park 1->0: parked at the barrier');
crash($m, 'backend');
eval { $holder->quit; };
check_after_crash('1->0 parked at the barrier, backend killed', $park, $before, 0);

# sealed, parked on its way to tier 2 behind a ROW EXCLUSIVE lock; kill the whole server
q1("SELECT tieredlog.seal($park)");
$park_rel = q1("SELECT relation FROM tieredlog.segments WHERE segment_id = $park");
$holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe("LOCK TABLE tieredlog_data.$park_rel IN ROW EXCLUSIVE MODE");
$before = seg_state($park);
$m = start_move($park, 2, "SET tieredlog.move_lock_timeout = 60000;\n");
ok($node->poll_query_until('postgres', $parked_sql->($m->{pid})), 'park 0->2: parked at the barrier');
crash($m, 'server');
eval { $holder->quit; };
check_after_crash('0->2 parked at the barrier, server killed', $park, $before, 2);

# --- (c) after the commit, before the sweep --------------------------------------------------------
for my $c ([ 1, 'backend' ], [ 2, 'server' ], [ 0, 'backend' ])
{
	my ($to, $how) = @$c;
	my $label = "to tier $to, $how killed after the commit";
	$before = seg_state($big);
	$m = start_move($big, $to);
	pump_until($m->{h}, IPC::Run::timeout(60), \$m->{out}, qr/^moved/m) or die "$label: move failed: $m->{err}";
	crash($m, $how);
	check_after_crash($label, $big, $before, $to);
}

is($outcomes{before_commit} > 0 && $outcomes{after_commit} > 0 ? 'both' : 'not both', 'both',
	'crashes hit moves both before and after their commit');
note("outcomes: before commit $outcomes{before_commit}, after commit $outcomes{after_commit}");

$node->stop;
done_testing();
