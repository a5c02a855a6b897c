# Moves and vacuum (issue 21 item 5).
#
# 1. A real autovacuum, slowed down (cost delay 100 ms, cost limit 1 on the segment relation), holds
#    the segment's relation when a move with the default tieredlog.move_lock_timeout (100 ms)
#    starts: the move cancels it (as PostgreSQL's lock manager does for a waiter, logged "sending
#    cancel to blocking autovacuum") and succeeds, 0 -> 1 and back 1 -> 0; every record is there
#    once and the digests verify.
# 2. A manual VACUUM (not autovacuum) is never cancelled: the move gives up with 55P03 "is being
#    vacuumed" and changes nothing; after the VACUUM it moves.
# 3. Late writers during a move: while a client appends into the moving segment, the move takes
#    every acknowledged record along (catch-up before the barrier, late pages under it).
# 4. Crash safety of the catch-up and barrier steps: kill -9 of the mover while it waits for an
#    open writer in the catch-up, and while it is parked at the barrier; after the restart the
#    segment is untouched, no copy is left behind, every committed record is there once, the
#    digests verify, and the move then succeeds.
# 5. A late writer during a move to tier 2: the segment was sealed when the move began; a record
#    committed while it is being archived reopens it and is kept in a late relation (tier 0's
#    tablespace) next to the frames, instead of failing the move; a reseal and another move to
#    tier 2 then archive it with the rest.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('movevac');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tieredlog'
tieredlog.node_name = 'mvac'
tieredlog.naptime = 3600
tieredlog.seal_grace = '10000d'
tieredlog.adaptive_tiering = off
restart_after_crash = on
autovacuum = on
autovacuum_naptime = 1
log_autovacuum_min_duration = 0
log_statement = none
});
$node->start;

sub q1 { return $node->safe_psql('postgres', $_[0]); }

q1(q{
CREATE EXTENSION tieredlog;
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE warm LOCATION '';
SELECT tieredlog.set_tier(1, 'warm');
SELECT tieredlog.create_log('vac', '1 hour');
SELECT tieredlog.append_many('vac', array_agg('k' || (i % 500)),
	   array_agg(jsonb_build_object('i', i, 'pad', repeat('p', 200))), NULL,
	   array_agg('2026-06-01 00:00:00+00'::timestamptz + i * interval '100 ms'))
  FROM generate_series(1, 30000) i;
});
my $seg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'vac'");
my $expect = 30000;

sub state
{
	return q1("SELECT tier || ' ' || records || ' ' || (SELECT count(*) FROM tieredlog.read('vac')) || ' '"
		  . " || (SELECT bool_and(ok) FROM tieredlog.check_digests('vac'))"
		  . " || ' ' || (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
		  . "            WHERE n.nspname = 'tieredlog_data' AND c.relname LIKE 'seg\\_$seg\\_%' AND c.relkind = 'r')"
		  . " FROM tieredlog.segments WHERE segment_id = $seg");
}

sub sweep_all
{
	for (1 .. 200)
	{
		q1("SELECT tieredlog.sweep()");
		return 1 if q1("SELECT count(*) FROM tieredlog.moves WHERE segment_id = $seg AND state <> 'done'") eq '0';
		usleep(50_000);
	}
	return 0;
}

# A slow autovacuum on the segment's current relation: returns its pid once it works on it.
sub slow_autovacuum
{
	my $rel = q1("SELECT relation FROM tieredlog.segments WHERE segment_id = $seg");
	# new dead rows and inserts since the last vacuum make it due at once, and it crawls
	q1("ALTER TABLE tieredlog_data.$rel SET (autovacuum_enabled = on, autovacuum_vacuum_threshold = 0,"
		  . " autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_insert_threshold = 0,"
		  . " autovacuum_vacuum_insert_scale_factor = 0, autovacuum_analyze_threshold = 1000000000,"
		  . " autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1,"
		  # aggressive (every page not yet frozen is read), so a vacuum that ran before has not
		  # left it nothing to do; not a vacuum for wraparound, which nothing may cancel
		  . " autovacuum_freeze_table_age = 0)");
	q1("SELECT tieredlog.append('vac', 'nudge', '{}', NULL, '2026-06-01 00:59:59+00')");
	$expect++;
	my $pid;
	for (1 .. 1200)
	{
		$pid = q1("SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND query LIKE '%$rel%'");
		last if $pid ne '';
		usleep(50_000);
	}
	return ($pid, $rel);
}

# --- 1. autovacuum holds the relation: the move cancels it and succeeds ----------------------------
for my $to (1, 0)
{
	my ($av, $rel) = slow_autovacuum();
	isnt($av, '', "to tier $to: an autovacuum worker vacuums $rel");
	is(q1("SELECT count(*) FROM pg_locks WHERE relation = 'tieredlog_data.$rel'::regclass AND pid = $av AND granted"
		  . " AND mode = 'ShareUpdateExclusiveLock'"), '1', "to tier $to: it holds the relation");
	my $off = -s $node->logfile;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET tieredlog.move_lock_timeout = 100; SELECT from_tier || ' ' || to_tier || ' ' || records FROM tieredlog.move_segment($seg, $to)");
	is($err, '', "to tier $to: no error");
	is($out, (1 - $to) . " $to $expect", "to tier $to: the move succeeded");
	ok($node->log_contains(qr/sending cancel to blocking autovacuum PID $av/, $off), "to tier $to: the autovacuum was cancelled");
	# the old copy is still due for a vacuum: keep autovacuum off it so that sweep() can drop it (the
	# ALTER waits for a running worker only until PostgreSQL's deadlock checker cancels it)
	q1("ALTER TABLE tieredlog_data.$rel SET (autovacuum_enabled = off)");
	ok(sweep_all(), "to tier $to: the old copy is swept");
	is(state(), "$to $expect $expect true 1", "to tier $to: every record once, digests verify, one relation");
}

# --- 2. a manual VACUUM is not cancelled -------------------------------------------------------------
{
	my $rel = q1("SELECT relation FROM tieredlog.segments WHERE segment_id = $seg");
	my $vac = $node->background_psql('postgres');
	$vac->query_safe("SET vacuum_cost_delay = 100; SET vacuum_cost_limit = 1");
	$vac->{stdin} .= "VACUUM (DISABLE_PAGE_SKIPPING) tieredlog_data.$rel;\n";
	$vac->{run}->pump_nb();
	ok($node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'client backend' AND query LIKE 'VACUUM%$rel%'"),
		'a manual VACUUM runs on the segment');
	my $before = state();
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT * FROM tieredlog.move_segment($seg, 1)");
	like($err, qr/55P03: segment $seg is being vacuumed; it was not moved/, 'the move gives up with 55P03');
	is(q1("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'VACUUM%$rel%' AND backend_type = 'client backend'"), '1',
		'the manual VACUUM was not cancelled');
	is(state(), $before, 'the refused move changed nothing');
	$node->safe_psql('postgres', "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'VACUUM%$rel%' AND backend_type = 'client backend'");
	eval { $vac->quit; };
}

# --- 3. late writers during a move ---------------------------------------------------------------------
{
	my $n = 3000;
	my $sql = join('', map { "SELECT tieredlog.append('vac', 'late$_', '{\"l\": $_}', NULL, '2026-06-01 00:30:00+00');\n" } 1 .. $n);
	my ($wout, $werr) = ('', '');
	my $w = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$sql, '>', \$wout, '2>', \$werr);
	usleep(200_000);
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET tieredlog.move_lock_timeout = 5000; SELECT from_tier || ' ' || to_tier FROM tieredlog.move_segment($seg, 1)");
	$w->finish;
	is($err, '', 'late writers: the move succeeded');
	is($werr, '', 'late writers: every append succeeded');
	$expect += $n;
	ok(sweep_all(), 'late writers: swept');
	is(state(), "1 $expect $expect true 1", 'late writers: every acknowledged record was moved, digests verify');
}

# --- 4. kill -9 during the catch-up and at the barrier ----------------------------------------------------
sub start_move
{
	my ($to) = @_;
	my %m = (in => "SELECT pg_backend_pid();\nSET tieredlog.move_lock_timeout = 60000;\n"
		  . "SELECT 'moved ' || from_tier || ' ' || to_tier FROM tieredlog.move_segment($seg, $to);\n",
		out => '', err => '');
	$m{h} = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$m{in}, '>', \$m{out}, '2>', \$m{err});
	pump_until($m{h}, IPC::Run::timeout(60), \$m{out}, qr/^\d+\n/) or die 'mover did not start';
	($m{pid}) = $m{out} =~ /^(\d+)/;
	return \%m;
}

for my $where ('catch-up', 'barrier')
{
	my $holder = $node->background_psql('postgres');
	$holder->query_safe('BEGIN');
	$holder->query_safe("SELECT tieredlog.append('vac', 'open', '{}', NULL, '2026-06-01 00:45:00+00')");
	my $before = state();
	my $off = -s $node->logfile;
	my $m = start_move(0);
	if ($where eq 'catch-up')
	{
		# the catch-up waits for the open writer for up to 1 s: kill the mover inside that second
		ok($node->poll_query_until('postgres',
				"SELECT state = 'active' AND wait_event IS NULL FROM pg_stat_activity WHERE pid = $m->{pid}"
				  . " AND (SELECT phase FROM tieredlog.progress WHERE operation = 'move' AND segment_id = $seg) = 'catching up'"),
			'kill -9 in the catch-up: the move waits there');
	}
	else
	{
		ok($node->poll_query_until('postgres',
				"SELECT phase = 'waiting for writers' FROM tieredlog.progress WHERE operation = 'move' AND segment_id = $seg"),
			'kill -9 at the barrier: the move waits there');
		usleep(300_000);
	}
	kill 'KILL', $m->{pid};
	eval { $m->{h}->finish; };
	$node->wait_for_log(qr/database system is ready to accept connections/, $off);
	eval { $holder->quit; };
	$node->poll_query_until('postgres', 'SELECT true');
	is(state(), $before, "kill -9 in the $where: the segment is untouched, no copy left, digests verify");
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT from_tier || ' ' || to_tier || ' ' || records FROM tieredlog.move_segment($seg, 0)");
	is("$out$err", "1 0 $expect", "kill -9 in the $where: the move then succeeds");
	ok(sweep_all(), "kill -9 in the $where: swept");
	is(state(), "0 $expect $expect true 1", "kill -9 in the $where: every committed record once");
	q1("SELECT tieredlog.move_segment($seg, 1)");
	sweep_all();
}

# --- 5. a late writer during a move to tier 2 -------------------------------------------------------------
{
	q1("SELECT tieredlog.seal($seg)");
	my $holder = $node->background_psql('postgres');
	$holder->query_safe('BEGIN');
	$holder->query_safe("SELECT tieredlog.append('vac', 'late-archive', '{}', NULL, '2026-06-01 00:50:00+00')");
	my $m = start_move(2);
	ok($node->poll_query_until('postgres',
			"SELECT phase = 'waiting for writers' FROM tieredlog.progress WHERE operation = 'move' AND segment_id = $seg"),
		'to tier 2 with a late writer: the move waits for it at the barrier');
	$holder->query_safe('COMMIT');
	$holder->quit;
	$m->{h}->finish;
	is("$m->{out}$m->{err}" =~ s/^\d+\n//r, "moved 1 2\n", 'to tier 2 with a late writer: the move succeeds');
	$expect += 1;
	ok(sweep_all(), 'to tier 2 with a late writer: swept');
	is(state(), "2 $expect $expect true 1", 'to tier 2 with a late writer: every record once, digests verify, one late relation');
	is(q1("SELECT state || ' ' || (relation LIKE 'seg\\_${seg}\\_late\\_%') || ' ' || tablespace_of_relation FROM ("
			  . "SELECT s.state, s.relation::text AS relation, coalesce(t.spcname, 'default') AS tablespace_of_relation"
			  . "  FROM tieredlog.segments s JOIN pg_class c ON c.relname = s.relation::text"
			  . "  LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace WHERE s.segment_id = $seg) x"),
		'reopened true default', 'to tier 2 with a late writer: reopened, its late row in a late relation in tier 0');
	is(q1("SELECT count(*) FROM tieredlog.read('vac') WHERE key = 'late-archive'"), '1',
		'to tier 2 with a late writer: read() returns the late record');
	q1("SELECT tieredlog.seal($seg)");
	is(q1("SELECT from_tier || ' ' || to_tier || ' ' || records FROM tieredlog.move_segment($seg, 2)"), "2 2 $expect",
		'resealed, moved to tier 2 again');
	ok(sweep_all(), 're-archived: swept');
	is(state(), "2 $expect $expect true 0", 're-archived: every record once in the frames, digests verify, no relation');
}

$node->stop;
done_testing();
