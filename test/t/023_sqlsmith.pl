# SQLsmith (issue 19): random SQL from the whole catalog against a database with tieredlog loaded
# and logs in every tier, run by an unprivileged role with the grants a writer gets (the README's
# log_writer and log_reader). sqlsmith's own query errors are expected; what may never happen is a
# backend crash: the server log must not show a process terminated by a signal or an exception,
# a PANIC or a failed assertion (TRAP), and the postmaster must never have restarted.
#
# Tiers 0, 1 and 2 are each mapped to a tablespace of their own; segments are sealed and moved with
# tieredlog.move_segment() so that every tier and every segment state (open, sealed, reopened)
# holds some. The set-up then appends a late record to an archived segment (reopened in tier 2).
#
# sqlsmith reads the catalog as that role and sends each statement in a transaction it rolls back,
# with statement_timeout = 1s. Its seed is fixed and printed; the run is deterministic for a given
# catalog, though timeouts make the error counts vary slightly.
#   TL_SQLSMITH_QUERIES   queries to send (default 20000: about 2.5 minutes on 2 idle cores)
#   TL_SQLSMITH_SEED      the seed (default 19)
# A longer run, e.g.:
#   TL_SQLSMITH_QUERIES=100000 TL_SQLSMITH_SEED=7 TL_PG_ROOT=/opt/pg-h4 scripts/test.sh tap t/023_sqlsmith.pl
# sqlsmith's progress and its report of errors by count go to sqlsmith.out in the node's folder
# (kept when the test fails); each crash is printed with the query the backend was running.
# The test is skipped (with a message) only when sqlsmith is not installed (apt-get install sqlsmith;
# scripts/common.sh's install_deps installs it).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);
use TlCluster;

my $sqlsmith;
for my $dir (split /:/, $ENV{PATH} // '')
{
	if (-x "$dir/sqlsmith")
	{
		$sqlsmith = "$dir/sqlsmith";
		last;
	}
}
plan skip_all => 'sqlsmith is not installed (apt-get install sqlsmith; scripts/common.sh install_deps does it)'
  unless defined $sqlsmith;

my $queries = $ENV{TL_SQLSMITH_QUERIES} // 20000;
my $seed = $ENV{TL_SQLSMITH_SEED} // 19;

# Whole statements in the crash report (the query a crashed backend was running); no statement
# logged otherwise, and errors without their statement (sqlsmith's statements are long and most of
# them fail: logging them all would write gigabytes).
my $node = tl_node('ss', q{
track_activity_query_size = 16384
log_statement = none
log_min_error_statement = fatal
restart_after_crash = on
});

$node->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE tl_hot LOCATION '';
CREATE TABLESPACE tl_warm LOCATION '';
CREATE TABLESPACE tl_cold LOCATION '';
SELECT tieredlog.set_tier(0, 'tl_hot'), tieredlog.set_tier(1, 'tl_warm'), tieredlog.set_tier(2, 'tl_cold');

SELECT tieredlog.create_log('events', '1 hour');
SELECT tieredlog.create_log('metrics', '1 day', 'source_priority');
SELECT tieredlog.create_log('audit', '10 minutes', 'first_writer_wins');
SELECT tieredlog.set_source_priority('src1', 10);
-- payloads of several shapes: objects, nested, arrays, scalars, unicode; sources on some
SELECT tieredlog.append_many('events',
		array_agg('k' || (i % 17)),
		array_agg(CASE i % 5
			WHEN 0 THEN to_jsonb(i)
			WHEN 1 THEN jsonb_build_array(i, 'x', NULL, jsonb_build_object('a', i))
			WHEN 2 THEN to_jsonb('text ' || i || ' é "q"')
			ELSE jsonb_build_object('i', i, 'f', i / 7.0, 'hex', md5(i::text), 'b', i % 2 = 0,
				'nested', jsonb_build_object('deep', jsonb_build_array(i, i + 1)))
			END),
		array_agg(CASE WHEN i % 3 = 0 THEN 'src' || (i % 4) END),
		array_agg(timestamptz '2026-01-01 00:00:00+00' + i * interval '9 seconds'))
  FROM generate_series(1, 4000) i;
SELECT tieredlog.append_many('metrics',
		array_agg('m' || (i % 5)),
		array_agg(jsonb_build_object('v', i * 1.5, 'unit', 'ms')),
		array_agg('src' || (i % 2)),
		array_agg(timestamptz '2026-01-01 00:00:00+00' + i * interval '7 minutes'))
  FROM generate_series(1, 1000) i;
SELECT tieredlog.append_many('audit',
		array_agg('user' || (i % 9)),
		array_agg(jsonb_build_object('action', 'login', 'n', i)),
		NULL,
		array_agg(timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute'))
  FROM generate_series(1, 300) i;
SELECT tieredlog.append('events', 'now', '{"at": "now"}');
});

# Every segment is sealed but the last of each log; of the sealed ones, the first of every four
# stays in tier 0, the second goes to tier 1, the other two to tier 2 (through tier 1 for one of
# them); the last segments stay open in tier 0, and the second open one moves to tier 1.
$node->safe_psql('postgres', q{
SELECT count(tieredlog.seal(segment_id))
  FROM (SELECT segment_id, row_number() OVER (PARTITION BY log_name ORDER BY range_start DESC) AS r
		  FROM tieredlog.segments WHERE log_name IN ('events', 'metrics', 'audit')) s
 WHERE r > 1;
});
$node->safe_psql('postgres', q{
CREATE TEMP TABLE plan AS
SELECT segment_id, state, row_number() OVER (ORDER BY segment_id) AS n
  FROM tieredlog.segments WHERE log_name IN ('events', 'metrics', 'audit');
SELECT count(*) FROM plan p, tieredlog.move_segment(p.segment_id, 1) m WHERE p.state = 'sealed' AND p.n % 4 IN (1, 3);
SELECT count(*) FROM plan p, tieredlog.move_segment(p.segment_id, 2) m WHERE p.state = 'sealed' AND p.n % 4 IN (2, 3);
SELECT count(*) FROM plan p, tieredlog.move_segment(p.segment_id, 1) m
 WHERE p.state = 'open' AND p.segment_id = (SELECT min(segment_id) FROM plan WHERE state = 'open');
});
# a late record for an archived segment: it reopens in tier 2
$node->safe_psql('postgres', q{
SELECT tieredlog.append('events', 'late', '{"late": true}', NULL, range_start + interval '1 second')
  FROM tieredlog.segments WHERE log_name = 'events' AND tier = 2 ORDER BY segment_id LIMIT 1;
SELECT tieredlog.sweep();
});
my $layout = $node->safe_psql('postgres', q{
SELECT string_agg(tier || '/' || tablespace || '/' || state || ': ' || n, ', ' ORDER BY tier, state)
  FROM (SELECT tier, tablespace, state, count(*) AS n FROM tieredlog.segments GROUP BY 1, 2, 3) s});
note("segments (tier/tablespace/state: count): $layout");
like($layout, qr{0/tl_hot/open: \d+.*0/tl_hot/sealed: \d+.*1/tl_warm/open: \d+.*1/tl_warm/sealed: \d+.*2/tl_cold/reopened: \d+.*2/tl_cold/sealed: \d+},
	'segments in every tier, each in its own tablespace, open, sealed and reopened');

# The fuzzing role: log_writer and log_reader as the README sets them up (read from README.md),
# and a table of its own with values that name real logs, keys and segments (sqlsmith draws
# constants and columns from what it sees).
$node->safe_psql('postgres', tl_readme_roles() . q{
CREATE ROLE smith LOGIN;
GRANT log_reader, log_writer TO smith;
CREATE SCHEMA smith AUTHORIZATION smith;
});
$node->safe_psql('postgres', q{
SET ROLE smith;
CREATE TABLE smith.samples AS
SELECT r.key, r.payload, r.ts, r.source, r.segment_id, r.rid::text AS rid, 'events'::text AS log_name
  FROM tieredlog.read('events') r WHERE r.seq % 97 = 0
UNION ALL
SELECT r.key, r.payload, r.ts, r.source, r.segment_id, r.rid::text, 'metrics' FROM tieredlog.read('metrics') r WHERE r.seq % 31 = 0;
-- sqlsmith calls no set-returning function: the role's read(), latest(), check_digests() and
-- verify() reach it through functions of the role's own that return one value (they run as the
-- role, so they give it nothing it lacked)
CREATE FUNCTION smith.read_count(log_name text, from_ts timestamptz, to_ts timestamptz, key text) RETURNS bigint
	LANGUAGE sql AS $$ SELECT count(*) FROM tieredlog.read(log_name, from_ts, to_ts, key) $$;
CREATE FUNCTION smith.read_first(log_name text, from_ts timestamptz) RETURNS jsonb
	LANGUAGE sql AS $$ SELECT to_jsonb(r) FROM tieredlog.read(log_name, from_ts) r LIMIT 1 $$;
CREATE FUNCTION smith.latest_payload(log_name text, key text) RETURNS jsonb
	LANGUAGE sql AS $$ SELECT payload FROM tieredlog.latest(log_name, key) $$;
CREATE FUNCTION smith.digests_ok(log_name text) RETURNS boolean
	LANGUAGE sql AS $$ SELECT bool_and(ok) FROM tieredlog.check_digests(log_name) $$;
CREATE FUNCTION smith.verify_failures(log_name text, trusted_digests jsonb) RETURNS bigint
	LANGUAGE sql AS $$ SELECT count(*) FILTER (WHERE NOT ok) FROM tieredlog.verify(log_name, trusted_digests) $$;
});

my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $log_offset = -s $node->logfile;
my $target = $node->connstr('postgres') . ' user=smith';
my $out_file = $node->basedir . '/sqlsmith.out';
note("sqlsmith: seed $seed, $queries queries, as role smith (log_writer, log_reader)");
my @cmd = ($sqlsmith, "--target=$target", "--seed=$seed", "--max-queries=$queries", '--verbose');
note('command: ' . join(' ', map { /[\s']/ ? "\"$_\"" : $_ } @cmd));
my $t0 = time;
my ($stdout, $stderr) = ('', '');
my $ok = IPC::Run::run(\@cmd, '>', \$stdout, '2>', $out_file,
	IPC::Run::timeout(3 * 3600));
my $elapsed = time - $t0;
my $report = slurp_file($out_file);

# The last report: "queries: N", the errors by count, "error rate: x".
my $last = rindex($report, "\nqueries: ");
my $final = $last >= 0 ? substr($report, $last) : '';
my ($sent) = $final =~ /^queries: (\d+)$/m;
my ($rate) = $final =~ /^error rate: ([\d.e+-]+)$/m;
my $errors = 0;
my $broken = 0;
while ($final =~ /^(\d+)\t(.*)$/mg)
{
	$errors += $1;
	$broken += $1 if $2 =~ /server closed the connection|terminating connection|connection to server/;
}
# A lost connection alone is no crash: the role may terminate its own backend
# (pg_terminate_backend(pg_backend_pid()) is a query sqlsmith can write); the server log says which.
my $summary = sprintf('seed %d: %d queries in %.0f s (%.0f/s), %d errors (rate %s), %d lost connections',
	$seed, $sent // 0, $elapsed, ($sent // 0) / ($elapsed || 1), $errors, $rate // '?', $broken);
diag("sqlsmith $summary");
diag("most frequent errors:\n" . join("\n", (grep { /^\d+\t/ } split /\n/, $final)[0 .. 14]))
  if $final =~ /^\d+\t/m;

ok($ok, 'sqlsmith ran to its query limit') or diag("sqlsmith exited with status $?: " . substr($report, -2000));
is($sent, $queries, "sqlsmith sent $queries queries");

# Crashes: what the postmaster logged about each (a log line and the lines that continue it),
# with the query the backend was running (the DETAIL that follows).
my $log = slurp_file($node->logfile, $log_offset);
my $entry = qr/.*(?:\n(?!\d{4}-\d\d-\d\d ).*)*/;
my @crashes;
while ($log =~ /^((?:TRAP:|.*(?:terminated by signal|terminated by (?:an )?exception|PANIC:  |server process .* was terminated|server process \(PID \d+\) exited with exit code|terminating any other active server processes))$entry)/mg)
{
	push @crashes, $1;
}
my @running = $log =~ /^.*(Failed process was running: $entry)/mg;
diag("crash:\n$_") for @crashes, @running;
is(scalar @crashes, 0, 'no backend crashed: no signal, exception, abnormal exit, PANIC or TRAP in the server log');
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $start_time, 'the server never restarted');

# The data is intact afterwards: every statement was rolled back, the digests still verify.
is($node->safe_psql('postgres', 'SELECT bool_and(ok) FROM tieredlog.check_digests()'), 't',
	'the digests of every segment still verify');

$node->stop;
done_testing();
