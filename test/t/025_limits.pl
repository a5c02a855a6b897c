# Limits that fail gracefully (issue 19 item 3): each one gives a clear error or log line, with its
# SQLSTATE and a hint naming the setting, shows in a view, and never makes a worker crash-loop.
#  1. max_worker_processes used up: the launcher (CREATE EXTENSION warns, workers/status() say
#     'no launcher'), then the database worker, then an apply worker cannot start; each is logged
#     once (53400, hint max_worker_processes), shown in workers/status()/peers, retried with
#     backoff; a restart with more slots brings them up.
#  2. a peer's max_replication_slots or max_wal_senders used up: add_peer() fails with 53400 and
#     the setting in its hint; an apply worker refused a wal sender, or a slot it must recreate,
#     shows state 'peer limit' (warned once) and recovers by itself when one frees.
#  3. the access statistics table full: one log line (hint tieredlog.stats_max_segments), the
#     evictions counted in status(), counting goes on for the segments it tracks.
#  4. a tablespace's disk full during a move (a loop-mounted 32 MB ext4 from scripts/test.sh,
#     TL_SMALL_FS): move_segment() fails with 53100, the source stays complete, nothing is left in
#     the tablespace; the worker's move fails, is logged once with a hint, retried, and succeeds
#     once there is room.
#  5. WAL kept for a dead peer nears max_slot_wal_keep_size: the peers view (wal_retained_bytes,
#     wal_keep_fraction, wal_state) and status().last_error say so before the slot is lost; the
#     loss becomes a gap on the peer, as before.
# Unprivileged roles: a monitoring role reads the peers view, a writer and a reader count access
# statistics, an operator's move meets the full disk.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;
use IPC::Run;

sub q1 { my ($n, $sql, $db) = @_; return $n->safe_psql($db // 'postgres', $sql); }

# Lines of a node's server log matching $re (from byte $from on).
sub log_count
{
	my ($n, $re, $from) = @_;
	my $log = slurp_file($n->logfile, $from // 0);
	my @m = ($log =~ /$re/g);
	return scalar @m;
}

# psql's stderr (and exit status) for $sql, with SQLSTATEs shown.
sub psql_err
{
	my ($n, $sql) = @_;
	my ($rc, $out, $err) = $n->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return ($rc, $err);
}

sub no_crash
{
	my ($n, $what) = @_;
	my $log = slurp_file($n->logfile);
	unlike($log, qr/terminated by signal|was terminated|PANIC|TRAP:|server process .* exited with exit code [^0]/,
		$n->name . ": no backend or worker crashed ($what)");
}

my $monitor_sql = q{
CREATE ROLE monitor LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO monitor;
GRANT SELECT ON tieredlog.peers, tieredlog.workers TO monitor;
GRANT EXECUTE ON FUNCTION tieredlog._mask_conninfo(text), tieredlog._apply_status(), tieredlog._workers() TO monitor;
};

# ==== 1. max_worker_processes ========================================================================
my $p = tl_node('p', "max_replication_slots = 2\nmax_wal_senders = 2\nlog_error_verbosity = verbose\n");
$p->safe_psql('postgres', 'CREATE EXTENSION tieredlog');
# 0: not even tieredlog's launcher could be registered at start
my $lw = tl_node('lw', "max_worker_processes = 0\nlog_error_verbosity = verbose\n");
my ($lrc, $lerr) = psql_err($lw, 'CREATE EXTENSION tieredlog;' . $monitor_sql);
is($lrc, 0, 'CREATE EXTENSION works without a launcher');
like($lerr, qr/WARNING:  53400: tieredlog's launcher is not running: max_worker_processes \(0\) was used up when the server started/,
	'... and warns (53400) that no launcher runs');
like($lerr, qr/HINT:  Raise max_worker_processes and restart the server/, '... with a hint naming max_worker_processes');
like(slurp_file($lw->logfile), qr/too many background workers/, 'PostgreSQL logged the refused registration at start');
is(q1($lw, "SELECT state FROM tieredlog.workers WHERE database = 'postgres'"), 'no launcher', 'the workers view says "no launcher"');
is(q1($lw, 'SELECT worker_state FROM tieredlog.status()'), 'no launcher', 'so does status()');

# 2 = the logical replication launcher and tieredlog's launcher: no room for the database worker
$lw->append_conf('postgresql.conf', "max_worker_processes = 2\n");
$lw->restart;
ok($lw->poll_query_until('postgres', "SELECT failures >= 3 AND state = 'no worker slot' FROM tieredlog.workers WHERE database = 'postgres'"),
	'max_worker_processes used up: the database worker shows "no worker slot" and is retried (failures >= 3)');
is(q1($lw, 'SELECT worker_state FROM tieredlog.status()'), 'no worker slot', 'status() shows it');
is(log_count($lw, qr/LOG:  53400: tieredlog: no background worker slot free for the worker of database/), 1,
	'logged once, with SQLSTATE 53400, however often it is retried');
like(slurp_file($lw->logfile), qr/HINT:  Raise max_worker_processes/, 'the hint names max_worker_processes');

# 3: the database worker runs, its peer's apply worker cannot
$lw->append_conf('postgresql.conf', "max_worker_processes = 3\n");
$lw->restart;
my $lw_off = -s $lw->logfile;
ok($lw->poll_query_until('postgres', "SELECT pid IS NOT NULL FROM tieredlog.workers WHERE database = 'postgres'"),
	'with one more slot the database worker runs');
tl_add_peer($lw, $p);
ok($lw->poll_query_until('postgres', "SELECT failures >= 3 FROM tieredlog._apply_status()"),
	'the apply worker is retried with backoff (failures >= 3)');
my $wpid = q1($lw, "SELECT pid FROM tieredlog.workers WHERE database = 'postgres'");
is(q1($lw, "SELECT state || ' | ' || last_error FROM tieredlog.peers"),
	'no worker slot | no background worker slot free for the apply worker (max_worker_processes = 3 is used up)',
	'the peers view shows the state and the setting');
is(q1($lw, "SET ROLE monitor; SELECT state FROM tieredlog.peers"), 'no worker slot', '... also to a monitoring role');
is(log_count($lw, qr/LOG:  53400: tieredlog: no background worker slot free for the apply worker of peer "p"/, $lw_off), 1,
	'the apply worker\'s missing slot is logged once, with SQLSTATE 53400');
like(slurp_file($lw->logfile, $lw_off), qr/apply worker of peer "p"\n(?:.*\n){0,3}.*HINT:  Raise max_worker_processes/,
	'with a hint naming max_worker_processes');
is(q1($lw, "SELECT pid FROM tieredlog.workers WHERE database = 'postgres'"), $wpid,
	'the database worker kept running meanwhile (no crash loop)');
$lw->append_conf('postgresql.conf', "max_worker_processes = 16\n");
$lw->restart;
ok($lw->poll_query_until('postgres', "SELECT state = 'streaming' FROM tieredlog.peers"),
	'with enough slots the apply worker streams');
no_crash($lw, 'max_worker_processes');
$lw->safe_psql('postgres', "SELECT tieredlog.drop_peer('p')");	# frees its slot on p
$lw->stop;

# ==== 2. max_replication_slots and max_wal_senders on a peer ==========================================
my $q = tl_node('q', "log_error_verbosity = verbose\n");
$q->safe_psql('postgres', 'CREATE EXTENSION tieredlog; SELECT tieredlog.create_log(\'ev\');' . $monitor_sql);
$p->safe_psql('postgres', "SELECT tieredlog.create_log('ev'); SELECT pg_create_physical_replication_slot('hog1'), pg_create_physical_replication_slot('hog2')");
my $conn = $p->connstr('postgres');
my ($rc, $err) = psql_err($q, "SELECT tieredlog.add_peer('p', \$\$$conn\$\$)");
isnt($rc, 0, 'add_peer() fails while every replication slot of the peer is in use');
like($err, qr/ERROR:  53400: peer "p": all replication slots are in use/, '... with SQLSTATE 53400 and the peer\'s reason');
like($err, qr/HINT:  On the peer, raise max_replication_slots/, '... and a hint naming max_replication_slots');
is(q1($q, 'SELECT count(*) FROM tieredlog.peers'), '0', 'nothing of the peer is left here');
$p->safe_psql('postgres', "SELECT pg_drop_replication_slot('hog2')");
tl_add_peer($q, $p);
ok($q->poll_query_until('postgres', "SELECT state = 'streaming' FROM tieredlog.peers"), 'with a slot free, add_peer() works and q streams');

# both wal senders of p taken by other replication connections
$q->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('p', false)");
my @hogs;
for my $i (1 .. 2)
{
	my ($o, $e) = ('', '');
	push @hogs, IPC::Run::start(['psql', '-X', '-d', $p->connstr('postgres') . " replication=database application_name=hog$i",
		'-c', 'SELECT pg_sleep(300)'], '>', \$o, '2>', \$e);
}
ok($p->poll_query_until('postgres', "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'walsender'"),
	'two other replication connections hold p\'s max_wal_senders = 2');
my $q_off = -s $q->logfile;
$q->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('p', true)");
ok($q->poll_query_until('postgres', "SELECT state = 'peer limit' AND last_error LIKE '%max_wal_senders%' FROM tieredlog.peers"),
	'the apply worker refused a wal sender shows state "peer limit" and the peer\'s reason');
is(q1($q, "SET ROLE monitor; SELECT state FROM tieredlog.peers"), 'peer limit', '... also to a monitoring role');
ok($q->poll_query_until('postgres', "SELECT failures >= 3 FROM tieredlog._apply_status()"), 'it is retried with backoff');
is(log_count($q, qr/WARNING:  53400: tieredlog apply worker: could not connect to peer "p".*max_wal_senders/, $q_off), 1,
	'warned once, with SQLSTATE 53400');
like(slurp_file($q->logfile, $q_off), qr/HINT:  On the peer, raise max_wal_senders/, 'with a hint naming max_wal_senders');
# a wal sender busy in pg_sleep() does not notice its client gone: end it on p
sub end_hog
{
	my ($i) = @_;
	$hogs[ $i - 1 ]->kill_kill;
	$p->safe_psql('postgres', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hog$i'");
	$p->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'hog$i'");
}
end_hog(1);
ok($q->poll_query_until('postgres', "SELECT state = 'streaming' FROM tieredlog.peers"),
	'once a wal sender frees, the apply worker streams again by itself');
end_hog(2);

# the slot is dropped behind q's back while p has no slot free: recreating it waits for one
my $slot = q1($q, 'SELECT slot_name FROM tieredlog.peers');
$q->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('p', false)");
$p->safe_psql('postgres', "SELECT pg_drop_replication_slot('$slot'); SELECT pg_create_physical_replication_slot('hog2')");
$p->safe_psql('postgres', "SELECT tieredlog.append('ev', 'while-no-slot', '{}')");
$q_off = -s $q->logfile;
$q->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('p', true)");
ok($q->poll_query_until('postgres', "SELECT state = 'peer limit' AND last_error LIKE '%could not recreate slot%all replication slots are in use%' FROM tieredlog.peers"),
	'a slot that cannot be recreated (p\'s slots all in use) shows state "peer limit"');
ok($q->poll_query_until('postgres', "SELECT failures >= 2 FROM tieredlog._apply_status()"), 'it is retried with backoff');
is(log_count($q, qr/WARNING:  53400: tieredlog apply worker: could not recreate slot/, $q_off), 1, 'warned once, with SQLSTATE 53400');
like(slurp_file($q->logfile, $q_off), qr/HINT:  On the peer, raise max_replication_slots/, 'with a hint naming max_replication_slots');
$p->safe_psql('postgres', "SELECT pg_drop_replication_slot('hog2')");
ok($q->poll_query_until('postgres', "SELECT state = 'streaming' FROM tieredlog.peers"),
	'once a slot frees, the slot is recreated and q streams again');
is(q1($q, "SELECT count(*) FROM tieredlog.gaps WHERE peer_name = 'p' AND reason LIKE 'missing%'"), '1',
	'the time without a slot is recorded as a gap');
ok($q->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev', key => 'while-no-slot')"),
	'the record written meanwhile arrives (the gap is repaired)');
no_crash($q, 'peer limits');
$q->safe_psql('postgres', "SELECT tieredlog.drop_peer('p')");	# q serves part 4
$p->stop;

# ==== 3. the access statistics table full =============================================================
# node lw again (stopped after part 1; one initdb less)
my $s = $lw;
$s->append_conf('postgresql.conf', "tieredlog.stats_max_segments = 64\n");
$s->start;
$s->safe_psql('postgres', q{
SELECT tieredlog.create_log('st', '1 hour');
CREATE ROLE writer LOGIN; CREATE ROLE reader LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO writer, reader;
GRANT EXECUTE ON FUNCTION tieredlog.append(text, text, jsonb, text, timestamptz) TO writer;
GRANT EXECUTE ON FUNCTION tieredlog.read(text, timestamptz, timestamptz, text) TO reader;
});
# 80 segments written in one transaction, then 80 more: more than the table holds
$s->safe_psql('postgres', "SET ROLE writer; SELECT count(tieredlog.append('st', 'k' || i, '{}', ts => '2020-01-01'::timestamptz + i * interval '1 hour')) FROM generate_series(1, 80) i");
$s->safe_psql('postgres', "SET ROLE writer; SELECT count(tieredlog.append('st', 'k' || i, '{}', ts => '2020-01-01'::timestamptz + i * interval '1 hour')) FROM generate_series(81, 160) i");
is(q1($s, 'SELECT stats_capacity || \' \' || stats_entries || \' \' || (stats_evicted >= 96) FROM tieredlog.status()'), '64 64 true',
	'status(): the table holds 64 entries and counts the evictions');
is(log_count($s, qr/LOG:  53400: tieredlog: the access statistics table is full \(64 segments\)/), 1,
	'the full table is logged once, with SQLSTATE 53400');
like(slurp_file($s->logfile), qr/HINT:  Raise tieredlog.stats_max_segments/, 'with a hint naming tieredlog.stats_max_segments');
my $seg = q1($s, "SELECT segment_id FROM tieredlog.read('st', key => 'k160')");
my $before = q1($s, "SELECT reads FROM tieredlog.stat_segments WHERE segment_id = $seg");
$s->safe_psql('postgres', "SET ROLE reader; SELECT count(*) FROM tieredlog.read('st', key => 'k160')") for 1 .. 3;
is(q1($s, "SELECT reads - $before FROM tieredlog.stat_segments WHERE segment_id = $seg"), '3',
	'a tracked segment goes on counting (3 reads by an unprivileged reader)');
is(q1($s, 'SELECT count(*) FROM tieredlog.read(\'st\')'), '160', 'every record is there');
no_crash($s, 'statistics table full');
$s->stop;

# ==== 4. a tablespace's disk full during a move =======================================================
SKIP:
{
	my $fs = $ENV{TL_SMALL_FS} // '';
	if ($fs eq '' || !-d $fs)
	{
		$q->stop;
		skip 'no small file system (TL_SMALL_FS: scripts/test.sh mounts one where loop devices work)', 17;
	}

	my $d = $q;	# node q again (one initdb less)
	mkdir "$fs/ts" or die "mkdir $fs/ts: $!";
	$d->safe_psql('postgres', qq{
ALTER SYSTEM SET tieredlog.move_rate_limit = 0;
SELECT pg_reload_conf();
CREATE TABLESPACE small LOCATION '$fs/ts';
SELECT tieredlog.set_tier(1, 'small');
SELECT tieredlog.create_log('big', '1 day');
CREATE ROLE operator LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO operator;
GRANT EXECUTE ON FUNCTION tieredlog.move_segment(bigint, integer) TO operator;
});
	# about 8 MB of rows in one segment of 2020
	for my $b (0 .. 7)
	{
		$d->safe_psql('postgres', "SELECT tieredlog.append_many('big', array_agg('k' || i), array_agg(jsonb_build_object('pad', repeat('x', 900), 'i', i)),
			NULL, array_agg('2020-01-01'::timestamptz + i * interval '1 second')) FROM generate_series($b * 1000 + 1, $b * 1000 + 1000) i");
	}
	my $seg = q1($d, "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'big'");
	my $digest = q1($d, "SELECT digest FROM tieredlog.segments WHERE segment_id = $seg");
	# leave about 2 MB free
	my $avail = (split /\s+/, `df --output=avail -B1 $fs | tail -1`)[-1];
	$avail =~ s/\D//g;
	open(my $fh, '>', "$fs/filler") or die "filler: $!";
	my $chunk = "\0" x (1024 * 1024);
	print $fh $chunk for 1 .. int($avail / (1024 * 1024)) - 2;
	close $fh or die "filler: $!";

	my ($rc, $err) = psql_err($d, "SET ROLE operator; SELECT * FROM tieredlog.move_segment($seg, 1)");
	isnt($rc, 0, 'a move into a full tablespace fails');
	like($err, qr/ERROR:  53100: could not extend file .*No space left on device/, '... with SQLSTATE 53100 (disk_full)');
	is(q1($d, "SELECT tier || ' ' || records || ' ' || digest FROM tieredlog.segments WHERE segment_id = $seg"), "0 8000 $digest",
		'the segment stays in tier 0 with all its records and its digest');
	is(q1($d, "SELECT bool_and(ok) FROM tieredlog.check_digests('big')"), 't', 'its digests verify');
	cmp_ok(q1($d, "SELECT pg_tablespace_size('small')"), '<', 1024 * 1024, 'nothing of the failed copy is left in the tablespace');

	# the worker demotes the segment to tier 1: its move fails the same way, is logged once, retried
	my $d_off = -s $d->logfile;
	$d->safe_psql('postgres', q{
ALTER SYSTEM SET tieredlog.adaptive_tiering = on;
ALTER SYSTEM SET tieredlog.seal_grace = '1s';
ALTER SYSTEM SET tieredlog.demote_after = '1s';
ALTER SYSTEM SET tieredlog.min_residency = 0;
SELECT pg_reload_conf();
});
	ok($d->poll_query_until('postgres', "SELECT count(*) >= 3 FROM tieredlog.task_history WHERE task = 'move' AND status = 'failed' AND detail LIKE '%No space left on device%'"),
		'the worker\'s move fails and is retried with backoff (3 failures)');
	my $log = slurp_file($d->logfile, $d_off);
	is(log_count($d, qr/LOG:  53100: tieredlog: move segment $seg to tier 1 \(demote\) failed: could not extend file/, $d_off), 1,
		'the failed move is logged once, with SQLSTATE 53100');
	like($log, qr/HINT:  The tablespace of tier 1 \(see tieredlog.tiers\) is full; the segment stays complete in its tier/,
		'with a hint naming the tier and set_tier()');
	my $dpid = q1($d, "SELECT pid FROM tieredlog.workers WHERE database = 'postgres'");
	is(q1($d, "SELECT tier || ' ' || records || ' ' || digest FROM tieredlog.segments WHERE segment_id = $seg"), "0 8000 $digest",
		'the segment is still complete in tier 0');
	unlink "$fs/filler" or die "unlink: $!";
	ok($d->poll_query_until('postgres', "SELECT tier = 1 FROM tieredlog.segments WHERE segment_id = $seg"),
		'with room again, the retried move succeeds');
	is(q1($d, "SELECT pid FROM tieredlog.workers WHERE database = 'postgres'"), $dpid, 'the same worker did it (no crash loop)');
	is(q1($d, "SELECT records || ' ' || digest FROM tieredlog.segments WHERE segment_id = $seg"), "8000 $digest",
		'all records moved, digest unchanged');
	is(q1($d, "SELECT count(DISTINCT key) FROM tieredlog.read('big')"), '8000', 'every record reads back');
	is(q1($d, "SELECT bool_and(ok) FROM tieredlog.check_digests('big')"), 't', 'its digests verify');
	is(q1($d, "SELECT count(*) FROM tieredlog.verify('big') WHERE NOT ok"), '0', 'verify() is clean');
	no_crash($d, 'disk full');
	# leave the file system empty for scripts/test.sh to unmount
	$d->safe_psql('postgres', "SELECT tieredlog.drop_log('big'); SELECT tieredlog.sweep();");
	$d->stop;
	is(scalar(() = glob("$fs/ts/*/*/*")), 0, 'the tablespace is empty after drop_log()');
}

# ==== 5. WAL kept for a dead peer =====================================================================
# w1 has 1 MB WAL segments, so a few pg_switch_wal() fill its max_slot_wal_keep_size of 8 MB
my $w1 = PostgreSQL::Test::Cluster->new('w1');
$w1->init(allows_streaming => 'logical', extra => ['--wal-segsize=1']);
$w1->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tieredlog'
tieredlog.node_name = 'w1'
tieredlog.naptime = 1
tieredlog.seal_grace = '10000d'
tieredlog.adaptive_tiering = off
tieredlog.check_interval = 0
tieredlog.train_interval = 0
max_worker_processes = 16
max_replication_slots = 10
max_wal_senders = 10
min_wal_size = 4MB
max_wal_size = 32MB
max_slot_wal_keep_size = 8MB
log_error_verbosity = verbose
} . tl_plugin_conf());
$w1->start;
my $w2 = tl_node('w2');
for my $n ($w1, $w2)
{
	$n->safe_psql('postgres', "CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev');");
}
$w1->safe_psql('postgres', $monitor_sql . q{
CREATE ROLE reader LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO reader;
GRANT EXECUTE ON FUNCTION tieredlog.status() TO reader;
});
tl_full_mesh($w1, $w2);
is(q1($w1, "SELECT wal_state FROM tieredlog.peers WHERE peer_name = 'w2'"), 'ok', 'w2 streaming: w1 keeps little WAL for it (ok)');
$w2->stop;
my $w1_off = -s $w1->logfile;
my $fraction = 0;
for my $i (1 .. 20)
{
	$w1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'fill-$i', '{}'); SELECT pg_switch_wal();");
	$fraction = q1($w1, "SELECT wal_keep_fraction FROM tieredlog.peers WHERE peer_name = 'w2'");
	last if $fraction >= 0.8;
}
cmp_ok($fraction, '>=', 0.8, 'w2 dead: the WAL w1 keeps for it grows to 80 % of max_slot_wal_keep_size');
is(q1($w1, "SELECT wal_state || ' ' || (wal_retained_bytes >= 0.8 * 8 * 1024 * 1024) FROM tieredlog.peers WHERE peer_name = 'w2'"),
	'warning true', 'the peers view shows wal_state "warning" and the retained bytes');
is(q1($w1, "SELECT wal_status <> 'lost' FROM pg_replication_slots WHERE slot_name LIKE '%\\_w2'"), 't', 'the slot is not lost yet');
like(q1($w1, 'SELECT last_error FROM tieredlog.status()'),
	qr/^WAL kept for peer "w2": \d+ kB, \d+% of max_slot_wal_keep_size \(8MB\); bring the peer back, drop_peer\(\) on it, or raise max_slot_wal_keep_size$/,
	'status().last_error says so, with the setting');
is(q1($w1, "SET ROLE monitor; SELECT wal_state FROM tieredlog.peers WHERE peer_name = 'w2'"), 'warning',
	'a monitoring role sees it in the peers view');
like(q1($w1, 'SET ROLE reader; SELECT last_error FROM tieredlog.status()'), qr/^WAL kept for peer "w2"/,
	'a reader with EXECUTE on status() only (README, Privileges) sees it in status()');
$w1->wait_for_log(qr/WARNING:  53400: tieredlog: this node keeps \d+ kB of WAL for peer "w2", \d+% of max_slot_wal_keep_size/, $w1_off);
like(slurp_file($w1->logfile, $w1_off), qr/HINT:  Bring the peer back, drop_peer\(\) it on this node if it is gone for good, or raise max_slot_wal_keep_size/,
	'the worker warns in the server log (53400), with a hint naming max_slot_wal_keep_size');
$w1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'during-loss', '{}')");
my $lost = 0;
for my $i (1 .. 30)
{
	$w1->safe_psql('postgres', "SELECT tieredlog.append('ev', 'more-$i', '{}'); SELECT pg_switch_wal(); CHECKPOINT;");
	$lost = q1($w1, "SELECT wal_state = 'lost' FROM tieredlog.peers WHERE peer_name = 'w2'") eq 't';
	last if $lost;
}
ok($lost, 'past max_slot_wal_keep_size the slot is lost: wal_state "lost"');
$w1->wait_for_log(qr/WARNING:  53400: tieredlog: the slot of peer "w2" on this node was invalidated \(max_slot_wal_keep_size\)/, $w1_off);
pass('the worker logs the loss');
like(q1($w1, 'SELECT last_error FROM tieredlog.status()'), qr/^the slot of peer "w2" here was lost \(max_slot_wal_keep_size\)/,
	'status().last_error says the slot was lost');
$w2->start;
ok($w2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.gaps WHERE peer_name = 'w1' AND reason LIKE 'invalidated%'"),
	'when w2 returns, the loss becomes a gap');
ok($w2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev', key => 'during-loss')"),
	'and the record written meanwhile arrives');
ok($w1->poll_query_until('postgres', "SELECT wal_state = 'ok' FROM tieredlog.peers WHERE peer_name = 'w2'"),
	'w1 keeps little WAL for w2 again (ok)');
is(log_count($w1, qr/WARNING:  53400: tieredlog: the slot of peer "w2" on this node was invalidated/, $w1_off), 1,
	'the loss was logged once');
cmp_ok(log_count($w1, qr/WARNING:  53400: tieredlog: this node keeps .* of WAL for peer "w2"/, $w1_off), '<=', 2,
	'the WAL kept was warned about once per state (warning, critical), not every cycle');
no_crash($w1, 'WAL retention');
no_crash($w2, 'WAL retention');

done_testing();
