# The per-database workers and adaptive tiering, with short settings:
#  - a segment whose window + seal_grace has passed is sealed, demoted step by step to tier 2
#    after inactivity, and promoted after repeated reads (task_history shows each step);
#  - live access statistics survive a clean restart, and restart from zero after a crash (the
#    flushed access_history keeps what was flushed);
#  - kill -9 of the worker in the middle of a move: the server restarts, the worker finds the
#    interrupted task and redoes it; every record is there once and digests verify;
#  - one segment whose move fails (held by a lock) is recorded and backed off; others move on;
#  - a database created after the server started gets its worker at CREATE EXTENSION; DROP
#    EXTENSION stops it; DROP DATABASE is not held up by it;
#  - with no background worker slot left, one clear message with a hint, no crash loop;
#  - a standby runs no tieredlog worker.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('adaptive');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tieredlog'
tieredlog.node_name = 'a1'
tieredlog.naptime = 1
tieredlog.seal_grace = 1
tieredlog.demote_after = 2
tieredlog.min_residency = 1
tieredlog.promote_reads = 3
tieredlog.promote_window = 600
tieredlog.stats_flush_interval = 1
tieredlog.move_rate_limit = 0
restart_after_crash = on
});
$node->start;

sub sql { my ($query, $db) = @_; return $node->safe_psql($db // 'postgres', $query); }

sql(q{CREATE EXTENSION tieredlog;
	SELECT tieredlog.create_log('hot', '1 minute');
	SELECT tieredlog.append('hot', 'k' || i, jsonb_build_object('i', i), NULL, now() - interval '1 hour')
	  FROM generate_series(1, 500) i;});
my $seg = sql("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'hot'");

# ---- sealed, then demoted 0 -> 1 -> 2 ---------------------------------------------------------------
ok($node->poll_query_until('postgres', "SELECT state = 'sealed' FROM tieredlog.segment WHERE segment_id = $seg"),
	'the worker seals a segment whose window + seal_grace has passed');
ok($node->poll_query_until('postgres', "SELECT tier = 2 FROM tieredlog.segment WHERE segment_id = $seg"),
	'after inactivity the segment is demoted to tier 2');
is(sql("SELECT string_agg(task || coalesce(':' || to_tier, '') || '/' || reason || '/' || status, ', ' ORDER BY run_id)
	   FROM tieredlog.task_history WHERE segment_id = $seg"),
	'seal/seal_grace passed/done, move:1/demote/done, move:2/demote/done',
	'step by step: seal, tier 1, tier 2');
is(sql("SELECT count(*) FROM tieredlog.read('hot')"), '500', 'every record readable from tier 2');
is(sql("SELECT count(*) FROM tieredlog.check_digests('hot') WHERE NOT ok"), '0', 'digests verify');

# ---- promoted after repeated reads ------------------------------------------------------------------
sql("SELECT count(*) FROM tieredlog.read('hot')") for 1 .. 3;
is(sql("SELECT reads_in_window >= 3 FROM tieredlog.stat_segments WHERE segment_id = $seg"), 't',
	'stat_segments counts the reads');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM tieredlog.task_history WHERE segment_id = $seg AND reason = 'promote' AND status = 'done'"),
	'three reads within the window promote the segment one tier up');
# it will be demoted again after inactivity (hysteresis: reads in a new window are needed to climb again)
my $reads = sql("SELECT reads FROM tieredlog.stat_segments WHERE segment_id = $seg");
cmp_ok($reads, '>=', 4, 'live reads counted (4 reads, plus any from the promoted copy)');

# ---- statistics: flushed, survive a clean restart, approximate after a crash --------------------------
ok($node->poll_query_until('postgres',
	"SELECT sum(reads) >= 4 AND sum(local_writes) = 500 FROM tieredlog.access_history WHERE segment_id = $seg"),
	'access_history holds the flushed counts (reads and local writes)');
sql("ALTER SYSTEM SET tieredlog.adaptive_tiering = off; SELECT pg_reload_conf();");
sleep 2;
my $before = sql("SELECT reads || '/' || local_writes || '/' || bytes_read FROM tieredlog.stat_segments WHERE segment_id = $seg");
$node->restart;
is(sql("SELECT reads || '/' || local_writes || '/' || bytes_read FROM tieredlog.stat_segments WHERE segment_id = $seg"),
	$before, 'live statistics survive a clean restart');
my $hist_before = sql("SELECT sum(reads) FROM tieredlog.access_history WHERE segment_id = $seg");
# kill -9 of a backend: the postmaster reinitialises shared memory (restart_after_crash)
my $victim = $node->background_psql('postgres', on_error_stop => 0);
my $vpid = $victim->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $vpid;
eval { $victim->quit };
ok($node->poll_query_until('postgres', "SELECT reads = 0 FROM tieredlog.stat_segments WHERE segment_id = $seg"),
	'the server restarted after the crash');
is(sql("SELECT reads FROM tieredlog.stat_segments WHERE segment_id = $seg"), '0',
	'after a crash the live counters start from zero');
is(sql("SELECT sum(reads) FROM tieredlog.access_history WHERE segment_id = $seg"), $hist_before,
	'what was flushed before the crash is still in access_history');
sql("SELECT count(*) FROM tieredlog.read('hot')");
is(sql("SELECT tieredlog.stat_reset() >= 1"), 't', 'stat_reset() forgets the live counters it had');
is(sql("SELECT count(*) FROM tieredlog._stat_live()"), '0', 'none are left afterwards');

# ---- kill -9 of the worker during a move -------------------------------------------------------------
sql(q{SELECT tieredlog.create_log('big', '1 hour');
	SELECT tieredlog.append_many('big', array_agg('k' || (i % 1000)), array_agg(jsonb_build_object('i', i, 'pad', repeat('x', 200))),
		NULL, array_agg(date_trunc('hour', now()) - interval '3 hours' + i * interval '10 ms'))
	  FROM generate_series(1, 200000) i;});
my $big = sql("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'big'");
my $want = sql("SELECT tieredlog.segment_digest($big)");
sql("ALTER SYSTEM SET tieredlog.adaptive_tiering = on; SELECT pg_reload_conf();");
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM tieredlog.progress WHERE segment_id = $big AND operation = 'move'", 't'),
	'the worker starts moving the big segment');
my $wpid = sql("SELECT pid FROM tieredlog.progress WHERE segment_id = $big");
is(sql("SELECT pid FROM tieredlog.workers WHERE database = 'postgres'"), $wpid, 'the move runs in the worker');
kill 'KILL', $wpid;
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM tieredlog.task_history WHERE segment_id = $big AND status = 'interrupted'"),
	'after the crash restart the worker finds the interrupted move');
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM tieredlog.task_history WHERE segment_id = $big AND reason = 'redo' AND status = 'done'"),
	'and redoes it');
sql("ALTER SYSTEM SET tieredlog.adaptive_tiering = off; SELECT pg_reload_conf();");
is(sql("SELECT count(*) FROM tieredlog.read('big')"), '200000', 'every record once after the redone move');
is(sql("SELECT tieredlog.segment_digest($big)"), $want, 'the digest is unchanged');
is(sql("SELECT count(*) FROM tieredlog.check_digests('big') WHERE NOT ok"), '0', 'digests verify');
like(slurp_file($node->logfile), qr/move of segment $big was interrupted; redoing it/, 'the redo is logged');

# ---- one failing segment does not stop the others ----------------------------------------------------
sql(q{SELECT tieredlog.create_log('two', '1 minute');
	SELECT tieredlog.append('two', 'k', '{}', NULL, now() - interval '2 hours');
	SELECT tieredlog.append('two', 'k', '{}', NULL, now() - interval '3 hours');});
ok($node->poll_query_until('postgres',
	"SELECT bool_and(state = 'sealed') FROM tieredlog.segments WHERE log_name = 'two'"), 'both segments sealed');
my ($s1, $s2) = split /\n/, sql("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'two' ORDER BY segment_id");
my $rel1 = sql("SELECT relation FROM tieredlog.segments WHERE segment_id = $s1");
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe("LOCK TABLE tieredlog_data.$rel1 IN SHARE UPDATE EXCLUSIVE MODE");
sql("ALTER SYSTEM SET tieredlog.adaptive_tiering = on; SELECT pg_reload_conf();");
ok($node->poll_query_until('postgres', "SELECT tier >= 1 FROM tieredlog.segment WHERE segment_id = $s2"),
	'the other segment is demoted');
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM tieredlog.task_history WHERE segment_id = $s1 AND status = 'failed' AND detail LIKE '%being vacuumed%'"),
	'the held segment\'s move failed, recorded with its error');
like(sql("SELECT last_error FROM tieredlog.workers WHERE database = 'postgres'"), qr/move segment $s1 .*being vacuumed/,
	'workers.last_error names the segment and the cause');
is(sql("SELECT tier FROM tieredlog.segment WHERE segment_id = $s1"), '0', 'the held segment stays where it was');
$locker->query_safe('COMMIT');
$locker->quit;
ok($node->poll_query_until('postgres', "SELECT tier >= 1 FROM tieredlog.segment WHERE segment_id = $s1"),
	'after its backoff the segment is moved too');
sql("ALTER SYSTEM SET tieredlog.adaptive_tiering = off; SELECT pg_reload_conf();");
is(sql("SELECT count(*) FROM tieredlog.check_digests('two') WHERE NOT ok"), '0', 'digests verify');

# ---- a database created after start; DROP EXTENSION; DROP DATABASE -------------------------------------
sql("CREATE DATABASE late");
sql(q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('l', '1 minute');
	SELECT tieredlog.append('l', 'k', '{}', NULL, now() - interval '1 hour');}, 'late');
ok($node->poll_query_until('postgres', "SELECT pid IS NOT NULL AND state <> 'no extension' FROM tieredlog.workers WHERE database = 'late'"),
	'a database created after the server started gets a worker at CREATE EXTENSION');
ok($node->poll_query_until('late', "SELECT state = 'sealed' FROM tieredlog.segment"), 'and it does its work');
sql("DROP EXTENSION tieredlog CASCADE", 'late');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.workers WHERE database = 'late' AND pid IS NOT NULL"),
	'DROP EXTENSION stops the worker');
like(slurp_file($node->logfile), qr/tieredlog worker for database "late" stops: the extension was dropped/,
	'and says why');
sql("CREATE EXTENSION tieredlog", 'late');
ok($node->poll_query_until('postgres', "SELECT pid IS NOT NULL FROM tieredlog.workers WHERE database = 'late'"),
	'CREATE EXTENSION again starts it again');
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE late');
is($rc, 0, 'DROP DATABASE is not held up by the worker') or diag($err);
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.workers WHERE database IS NULL OR database = 'late'"),
	'the dropped database leaves the workers view');

# ---- a standby runs no worker --------------------------------------------------------------------------
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
sleep 2;
is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'tieredlog%'"), '0',
	'a standby runs neither launcher nor worker');
is($standby->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('hot')"), '500', 'and reads work on it');
$standby->stop;

# ---- no background worker slot left -----------------------------------------------------------------------
$node->append_conf('postgresql.conf', "max_worker_processes = 2\n");
$node->restart;
sleep 5;
my $log = slurp_file($node->logfile);
my @said = ($log =~ /no background worker slot free for the worker of database/g);
ok(@said >= 1, 'out of worker slots: a message');
like($log, qr/HINT:  Raise max_worker_processes/, 'with a hint');
ok(@said <= 3, 'said once per database, not in a loop (' . scalar(@said) . ')');
is(sql('SELECT 1'), '1', 'the server runs on');

$node->stop;
done_testing();
