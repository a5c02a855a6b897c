# A move into tier 2 whose temporary file is refused (issue 21; the archive writer's spool).
#
# The archive writer encodes a segment's frames into a temporary file (a BufFile) before it trains
# the segment's dictionary and stores them. temp_file_limit is how an administrator caps those
# files, per role or for the server; a move that meets the cap must fail as the cap says
# (53400, configuration_limit_exceeded) and leave the segment as it was: in its tier with every
# record and its digest, no archive rows, no temporary file left in the session, the server up.
#  1. an operator (an ordinary role granted move_segment) under a per-role cap the superuser set
#     with ALTER ROLE: refused, and it cannot lift the cap (temp_file_limit is a superuser setting);
#  2. the database worker's demotion from tier 1 under a server-wide cap: logged once, recorded as
#     failed, retried after its backoff; a superuser's move is refused the same way;
#  3. the cap lifted: the worker's next try moves the segment, which reads as tier 0 did.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $node = tl_node('s1', "log_error_verbosity = verbose\n");
sub q1 { return $node->safe_psql('postgres', $_[0]); }
my $start_time = q1('SELECT pg_postmaster_start_time()');

q1(q{
CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('big', '1 day');
SELECT setseed(0.5);
SELECT tieredlog.append_many('big',
	array_agg('entity-' || (i % 3001) ORDER BY i),
	array_agg(jsonb_build_object('level', (ARRAY['INFO','WARN','ERROR'])[1 + i % 3], 'request_id', md5(i::text),
		'route', '/api/v2/' || (i % 97), 'latency_ms', round((i % 1000) / 7.0, 2)) ORDER BY i),
	NULL,
	array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '7 milliseconds' ORDER BY i))
  FROM generate_series(1, 30000) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'big';
CREATE ROLE operator LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO operator;
GRANT EXECUTE ON FUNCTION tieredlog.move_segment(bigint, int) TO operator;
GRANT pg_monitor TO operator;
ALTER ROLE operator SET temp_file_limit = '256kB';
});
my $seg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'big'");
my $log_id = q1("SELECT log_id FROM tieredlog.logs WHERE log_name = 'big'");
my $state = "SELECT tier || ' ' || records || ' ' || digest FROM tieredlog.segments WHERE segment_id = $seg";
my $before = q1($state);
like($before, qr/^0 30000 /, 'a sealed segment of 30 000 records in tier 0');
# (the checks sort 30 000 rows: they lift the cap for their own session)
my $whole = "SET temp_file_limit = -1; SELECT count(*) || ' ' || md5(string_agg(key || payload::text || ts || origin || seq || rid, ',' ORDER BY ts, origin, seq)) FROM tieredlog.read('big')";
my $tier0 = q1($whole);
my $key_read = "SELECT count(*) || ' ' || md5(string_agg(payload::text, ',' ORDER BY ts, seq)) FROM tieredlog.read('big', key => 'entity-7')";
my $tier0_key = q1($key_read);

# The archive relation of the log, if a move ever made it, holds nothing of this segment.
sub archive_rows
{
	return '0' if q1("SELECT to_regclass('tieredlog_data.archive_$log_id') IS NULL") eq 't';
	return q1("SELECT count(*) FROM tieredlog_data.archive_$log_id WHERE segment_id = $seg");
}

# The move, then (in the same session, which a temporary file would outlive the transaction in)
# the files in the temporary directory; the operator is granted pg_monitor to list them.
sub refused_move
{
	my ($name, @params) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT * FROM tieredlog.move_segment($seg, 2);\nSELECT 'tmp ' || count(*) FROM pg_ls_tmpdir();",
		extra_params => \@params, on_error_stop => 0);
	like($err, qr/ERROR:  53400: temporary file size exceeds temp_file_limit \(256kB\)/,
		"$name: the move fails with SQLSTATE 53400 (configuration_limit_exceeded), the cap named");
	like($out, qr/^tmp 0$/m, "$name: the session has no temporary file left after the failure");
	is(q1($state), $before, "$name: the segment stays in its tier with its records and digest");
	is(archive_rows(), '0', "$name: no archive row of the segment is left");
	is(q1($whole), $tier0, "$name: the segment reads as before");
	is(q1('SELECT pg_postmaster_start_time()'), $start_time, "$name: the server did not restart");
	return;
}

refused_move('operator with a per-role cap', '-U', 'operator');
my ($rc, $out, $err) = $node->psql('postgres', "SET temp_file_limit = -1", extra_params => ['-U', 'operator']);
like($err, qr/permission denied to set parameter "temp_file_limit"/, 'the operator cannot lift the cap');

# The same cap for the whole server, met by the database worker's demotion from tier 1 to tier 2:
# logged once with its SQLSTATE, recorded as failed in task_history, retried after its backoff
# (the segment left in tier 1 complete meanwhile), and done once the cap is lifted.
is($node->safe_psql('postgres', "SELECT to_tier FROM tieredlog.move_segment($seg, 1)"), '1', 'moved to tier 1 (no temporary file needed)');
$before = q1($state);
like($before, qr/^1 30000 /, 'in tier 1 with its records');
my $log_off = -s $node->logfile;
q1(q{
ALTER SYSTEM SET temp_file_limit = '256kB';
ALTER SYSTEM SET tieredlog.adaptive_tiering = on;
ALTER SYSTEM SET tieredlog.demote_after = '1s';
ALTER SYSTEM SET tieredlog.min_residency = 0;
SELECT pg_reload_conf();
});
ok($node->poll_query_until('postgres', "SELECT count(*) >= 2 FROM tieredlog.task_history WHERE task = 'move' AND segment_id = $seg
	AND status = 'failed' AND detail LIKE 'temporary file size exceeds temp_file_limit%'"),
	'the worker\'s move into tier 2 fails and is retried (2 failures recorded)');
my $wlog = slurp_file($node->logfile, $log_off);
my @logged = ($wlog =~ /LOG:  53400: tieredlog: move segment $seg to tier 2 \(demote\) failed: temporary file size exceeds temp_file_limit/g);
is(scalar @logged, 1, 'the failure is logged once, with SQLSTATE 53400');
refused_move('superuser under the server-wide cap');
is(q1("SELECT bool_and(ok) FROM tieredlog.check_digests('big')"), 't', 'check_digests() agrees after the failures');

# lifted: the worker's next try succeeds and the segment reads as tier 0 did
my $wpid = q1("SELECT pid FROM tieredlog.workers WHERE database = 'postgres'");
q1('ALTER SYSTEM RESET temp_file_limit');
q1('ALTER ROLE operator RESET temp_file_limit');
q1('SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', "SELECT tier = 2 FROM tieredlog.segments WHERE segment_id = $seg"),
	'with the cap lifted, the worker\'s retried move succeeds');
is(q1("SELECT pid FROM tieredlog.workers WHERE database = 'postgres'"), $wpid, 'the same worker did it (no restart)');
q1('SELECT tieredlog.sweep()');
is(q1($state) =~ s/^2/1/r, $before, 'the segment is in tier 2 with its records and digest');
cmp_ok(archive_rows(), '>', 0, 'its frames are stored');
is(q1($whole), $tier0, 'the whole segment reads as tier 0 did');
is(q1($key_read), $tier0_key, 'a key read too');
is(q1('SELECT count(*) FROM pg_ls_tmpdir()'), '0', 'no temporary file is left');
is(q1('SELECT pg_postmaster_start_time()'), $start_time, 'the server did not restart');
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated by exception|PANIC|TRAP:/, 'no backend crashed');

done_testing();
