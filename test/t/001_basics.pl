# tieredlog basics on a real server: the preload requirement, records and digests surviving
# restarts (clean and crash recovery), and digests under concurrent appenders with rollbacks.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

# --- without shared_preload_libraries the extension refuses to install ---------------------------
my $bare = PostgreSQL::Test::Cluster->new('bare');
$bare->init;
$bare->start;
my ($rc, $out, $err) = $bare->psql('postgres', 'CREATE EXTENSION tieredlog');
isnt($rc, 0, 'CREATE EXTENSION fails without preload');
like($err, qr/tieredlog must be loaded via "shared_preload_libraries"/, 'the error names the setting');
like($err, qr/HINT:.*shared_preload_libraries/, 'with a hint');
$bare->stop;

# --- a preloaded node ------------------------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tieredlog'
tieredlog.node_name = 'n1'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION tieredlog;
	SELECT tieredlog.create_log('r', '10 minutes');
	SELECT tieredlog.append_many('r', array_agg('k' || (i % 97)), array_agg(jsonb_build_object('i', i)), NULL,
		array_agg(timestamptz '2026-05-01 00:00:00+00' + i * interval '1 second'))
	  FROM generate_series(1, 5000) i;
});
$node->safe_psql('postgres', "SELECT tieredlog.append('r', 'single' || i, '{}') FROM generate_series(1, 50) i");

my $state_sql = q{
	SELECT count(*) || '/' || (SELECT string_agg(digest, ',' ORDER BY segment_id) FROM tieredlog.segments)
	  FROM tieredlog.read('r')};
my $before = $node->safe_psql('postgres', $state_sql);
like($before, qr{^5050/}, '5050 records before restart');

$node->restart;
is($node->safe_psql('postgres', $state_sql), $before, 'records and digests intact after a clean restart');

$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $state_sql), $before, 'records and digests intact after crash recovery');
is($node->safe_psql('postgres', 'SELECT bool_and(ok) FROM tieredlog.check_digests()'), 't',
	'every digest equals its recomputation after recovery');
is($node->safe_psql('postgres', "SELECT tieredlog.node_name()"), 'n1', 'node name from the setting');
my $seq_after = $node->safe_psql('postgres', "SELECT tieredlog.append('r', 'after', '{}')");
cmp_ok($seq_after, '>', 5050, 'seq keeps increasing after restart');

# --- concurrency: no appender waits for another, rollbacks leave no trace ----------------------------
$node->safe_psql('postgres', "SELECT tieredlog.create_log('c', '1 hour')");
my $s1 = $node->background_psql('postgres');
my $s2 = $node->background_psql('postgres');
my $ts = "'2026-06-01 00:30:00+00'";
$s1->query_safe("SELECT tieredlog.append('c', 'seed', '{}', NULL, $ts)");    # creates the segment
$s1->query_safe("BEGIN");
$s1->query_safe("SELECT tieredlog.append('c', 'a' || i, '{}', NULL, $ts) FROM generate_series(1, 100) i");
$s2->query_safe("SET statement_timeout = '5s'");
$s2->query_safe("BEGIN");
$s2->query_safe("SELECT tieredlog.append('c', 'b' || i, '{}', NULL, $ts) FROM generate_series(1, 100) i");
pass('a second appender to the same segment and leaf is not blocked by an open transaction');
$s1->query_safe("ROLLBACK");
$s2->query_safe("COMMIT");
is($node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('c')"), '101',
	'the rolled-back appends are gone, the committed ones are there');
is($node->safe_psql('postgres', "SELECT bool_and(ok) FROM tieredlog.check_digests('c')"), 't',
	'digest equals the recomputation after concurrent commit and rollback');

# two sessions needing the same new segment: the second waits for the first and then uses the
# segment it created, or creates it itself when the first rolls back
$s1->query_safe("BEGIN");
$s1->query_safe("SELECT tieredlog.append('c', 'first', '{}', NULL, '2026-07-01 00:00:00+00')");
my $sql_file = PostgreSQL::Test::Utils::tempdir() . '/second.sql';
PostgreSQL::Test::Utils::append_to_file($sql_file,
	"SELECT tieredlog.append('c', 'second', '{}', NULL, '2026-07-01 00:00:01+00');\n");
my ($o, $e) = ('', '');
my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $sql_file ],
	'>', \$o, '2>', \$e);
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
  or die 'second appender never waited';
$s1->query_safe("ROLLBACK");
$h->finish;
is($e, '', 'the waiting appender succeeded after the creator rolled back');
is($node->safe_psql('postgres',
	"SELECT string_agg(key, ',') FROM tieredlog.read('c', '2026-07-01', '2026-07-02')"),
	'second', 'only the committed record is in the new segment');

# many clients, half of the transactions rolled back
$node->safe_psql('postgres', "SELECT tieredlog.create_log('p', '1 minute')");
$node->pgbench('--no-vacuum --client=4 --transactions=300', 0, [qr{processed: 1200/1200}], [qr{^$}],
	'4 clients appending, half rolling back',
	{ '001_mixed' => q{
BEGIN;
SELECT tieredlog.append('p', 'k' || (random() * 20)::int, '{"x": 1}');
SELECT tieredlog.append_many('p', ARRAY['m1', 'm2'], ARRAY['{}', '{}']::jsonb[]);
\set r random(0, 1)
\if :r
ROLLBACK;
\else
COMMIT;
\endif
} });
is($node->safe_psql('postgres', "SELECT bool_and(ok) FROM tieredlog.check_digests('p')"), 't',
	'all digests verify after 1200 concurrent transactions');
is($node->safe_psql('postgres', "SELECT (SELECT count(*) FROM tieredlog.read('p')) % 3"), '0',
	'records came and went in whole transactions');

# invalidations processed in the middle of a lookup (a lock taken while the caches are in use)
# must not pull the caches out from under it: a relation of a cached segment changes while a
# session is inside a transaction, then that session looks up a log and a segment it has not
# cached yet
$s1->query_safe("SELECT tieredlog.append('c', 'warm', '{}', NULL, $ts)");
my $rel = $node->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'c' AND range_start = '2026-06-01 00:00:00+00'");
$node->safe_psql('postgres', "SELECT tieredlog.create_log('c2', '1 hour')");
$s1->query_safe("BEGIN");
$s1->query_safe("SELECT 1");
$node->safe_psql('postgres', "ALTER TABLE tieredlog_data.$rel SET (fillfactor = 90)");
$s1->query_safe("SELECT tieredlog.append('c2', 'k', '{}')");
$node->safe_psql('postgres', "ALTER TABLE tieredlog_data.$rel SET (fillfactor = 100)");
$s1->query_safe("SELECT tieredlog.append('c', 'k', '{}', NULL, '2026-08-01 00:00:00+00')");
$s1->query_safe("SELECT tieredlog.append('c', 'k2', '{}', NULL, $ts)");
$s1->query_safe("COMMIT");
is($node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('c2')") . '/'
	  . $node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('c', key => 'k2')"),
	'1/1', 'lookups survive invalidations that arrive while they run');

$s1->quit;
$s2->quit;
$node->stop;
done_testing();
