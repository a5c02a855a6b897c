# The background worker and the progress view: a move parked at its write barrier shows in
# tieredlog.progress; a move interrupted after its commit (old copy still pending) is completed by
# the worker on its own after a kill -9 restart, with no call to sweep(); a failing database does
# not stop the worker from serving the others.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tieredlog'
tieredlog.node_name = 'w1'
tieredlog.naptime = 1
tieredlog.seal_grace = '10000d'
tieredlog.adaptive_tiering = off
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION tieredlog;
	SELECT tieredlog.create_log('w', '1 hour');
	SELECT tieredlog.append_many('w', array_agg('k' || (i % 50)), array_agg(jsonb_build_object('i', i)), NULL,
		array_agg(timestamptz '2026-04-01 00:00:00+00' + i * interval '100 ms'))
	  FROM generate_series(1, 20000) i;
});
my $seg = $node->safe_psql('postgres', "SELECT min(segment_id) FROM tieredlog.segments WHERE log_name = 'w'");
my $rel = $node->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE segment_id = $seg");
is($node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.progress WHERE operation = 'move'"), '0', 'no move in flight');

# a writer holds the segment; the move copies, verifies, then waits at its barrier
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe("SELECT tieredlog.append('w', 'held', '{}', NULL, '2026-04-01 00:59:00+00')");
my $mover = $node->background_psql('postgres', on_error_stop => 0);
$mover->query_safe("SET tieredlog.move_lock_timeout = '60s'");
$mover->query_until(qr/started/, "\\echo started\nSELECT * FROM tieredlog.move_segment($seg, 1);\n");
ok($node->poll_query_until('postgres',
	"SELECT phase = 'waiting for writers' AND rows_done = rows_total AND rows_total = 20000 "
	  . "FROM tieredlog.progress WHERE segment_id = $seg"),
	'progress shows the move, copied and verified, waiting for writers');
$writer->query_safe('COMMIT');
ok($node->poll_query_until('postgres', "SELECT tier = 1 FROM tieredlog.segments WHERE segment_id = $seg"),
	'the move finished once the writer committed');
is($node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.progress WHERE operation = 'move'"), '0', 'progress is empty again');
is($node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('w')"), '20001',
	'the record appended during the move is in the new copy');
$mover->quit;
$writer->quit;

# a move blocked by a vacuum (not a writer) says so
my $vac = $node->background_psql('postgres');
my $vrel = $node->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE segment_id = $seg");
$vac->query_safe('BEGIN');
$vac->query_safe("LOCK TABLE tieredlog_data.$vrel IN SHARE UPDATE EXCLUSIVE MODE");
my ($vrc, $vout, $verr) = $node->psql('postgres', "SELECT * FROM tieredlog.move_segment($seg, 0)");
like($verr, qr/segment $seg is being vacuumed; it was not moved/, 'a move held off by a vacuum names it');
$vac->query_safe('COMMIT');
$vac->quit;

# the worker sweeps by itself
ok($node->poll_query_until('postgres', "SELECT bool_and(state = 'done') FROM tieredlog.moves"),
	'the worker removed the old copy without a call to sweep()');
is($node->safe_psql('postgres', "SELECT to_regclass('tieredlog_data.$rel') IS NULL"), 't',
	'the old relation is gone');

# a move interrupted after its commit: an old transaction keeps the sweeper away, then the whole
# server is killed; after the restart the worker completes the move on its own
my $old = $node->background_psql('postgres');
$old->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$old->query_safe('SELECT count(*) FROM tieredlog.logs');
$rel = $node->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE segment_id = $seg");
$node->safe_psql('postgres', "SELECT * FROM tieredlog.move_segment($seg, 0)");
sleep(3);    # three worker cycles, each of which must leave the old copy alone
is($node->safe_psql('postgres', "SELECT state FROM tieredlog.moves WHERE segment_id = $seg ORDER BY move_id DESC LIMIT 1"),
	'flipped', 'the old copy waits while an older transaction could still read it');
my $pid = $node->{_pid};
$node->kill9;
eval { $old->quit; };
for (1 .. 300)
{
	last if !kill(0, $pid) && $node->start(fail_ok => 1);
	usleep(200_000);
}
ok($node->poll_query_until('postgres', "SELECT bool_and(state = 'done') FROM tieredlog.moves"),
	'after kill -9 and restart the worker completed the interrupted move');
is($node->safe_psql('postgres', "SELECT to_regclass('tieredlog_data.$rel') IS NULL"), 't',
	'and dropped the old copy');
is($node->safe_psql('postgres', "SELECT count(*) || '/' || bool_and(ok) FROM tieredlog.read('w'), tieredlog.check_digests('w')"),
	'20001/true', 'every record once, digests verify');

# a database whose tieredlog is broken does not stop the worker elsewhere
$node->safe_psql('postgres', 'CREATE DATABASE broken');
# (a log, so that the data is claimed and its worker works: node.c)
$node->safe_psql('broken', "CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('x'); ALTER TABLE tieredlog.move RENAME TO move_gone");
$rel = $node->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE segment_id = $seg");
$node->safe_psql('postgres', "SELECT * FROM tieredlog.move_segment($seg, 1)");
ok($node->poll_query_until('postgres', "SELECT to_regclass('tieredlog_data.$rel') IS NULL"),
	'the worker still sweeps postgres while another database fails');
ok($node->log_contains('tieredlog catalog relation "move" is missing|relation "tieredlog.move" does not exist'),
	'the broken database is reported in the server log');

$node->stop;
done_testing();
