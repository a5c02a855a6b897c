# Digest cells are unlogged: after a crash there are none. Until the database worker has rebuilt
# them, a digest comes from the rows; the worker rebuilds them, but not while a transaction
# prepared before the crash may hold rows whose cells were lost; a move refuses meanwhile. A
# segment that cannot be read after a crash (a damaged tier 2 frame) is warned about and left, the
# others rebuilt, and the cells are trusted only once it is repaired and rebuilt too. Every
# digest, record count and byte count must equal what the rows give, before and after.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $node = tl_node('rebuild', "max_prepared_transactions = 5\nrestart_after_crash = on\n");
$node->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('d', '1 hour');
CREATE ROLE app LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO app;
GRANT EXECUTE ON FUNCTION tieredlog.append(text, text, jsonb, text, timestamptz) TO app;
});

sub sq { return $node->safe_psql('postgres', $_[0]); }

# the logical bytes of every record, from its parts (the canonical encoding's length)
my $bytes_sql = q{
SELECT COALESCE(sum(1 + 4 + 1 + 4 + octet_length(key) + 4 + octet_length(payload::text) + 8 + 1
				   + COALESCE(4 + octet_length(source), 0) + 4 + octet_length(origin) + 8), 0)
  FROM tieredlog.read('d')};

sub check_state
{
	my ($what) = @_;
	is(sq("SELECT bool_and(ok) FROM tieredlog.check_digests('d')"), 't',
		"$what: every stored digest equals its recomputation");
	is(sq("SELECT sum(records) FROM tieredlog.segments WHERE log_name = 'd'"),
		sq("SELECT count(*) FROM tieredlog.read('d')"), "$what: segments.records counts every record");
	is(sq("SELECT sum(logical_bytes) FROM tieredlog.segments WHERE log_name = 'd'"), sq($bytes_sql),
		"$what: segments.logical_bytes adds up every record's bytes");
}

sub wait_intact
{
	my ($what) = @_;
	ok($node->poll_query_until('postgres', 'SELECT count(*) = 1 FROM tieredlog.digest_intact'),
		"$what: the worker marks the digest cells intact");
}

# records in three windows, one per transaction and in batches; one segment also archived
sq(q{SELECT tieredlog.append('d', 'k' || i, jsonb_build_object('i', i, 's', repeat('x', i % 50)))
	  FROM generate_series(1, 300) i});
sq(q{SELECT tieredlog.append_many('d', array_agg('b' || i), array_agg(jsonb_build_object('b', i)),
								   ts => array_agg(now() - interval '2 hours'))
	  FROM generate_series(1, 500) i});
sq(q{SELECT tieredlog.append('d', 'old' || i, '{"o": true}', 'src', now() - interval '5 hours')
	  FROM generate_series(1, 200) i});
my $old = sq(q{SELECT segment_id FROM tieredlog.segments WHERE log_name = 'd' ORDER BY range_start LIMIT 1});
sq("SELECT tieredlog.seal($old)");
sq("SELECT to_tier FROM tieredlog.move_segment($old, 2)");
wait_intact('fresh install');
check_state('before the crash');
cmp_ok(sq('SELECT count(*) FROM tieredlog.digest_cell'), '>', 0, 'appends wrote digest cells');

# a transaction prepared before the crash, with records in two windows
sq(q{BEGIN;
SELECT tieredlog.append('d', 'prep' || i, '{"p": 1}') FROM generate_series(1, 40) i;
SELECT tieredlog.append('d', 'prep-old' || i, '{"p": 2}', ts => now() - interval '2 hours') FROM generate_series(1, 10) i;
PREPARE TRANSACTION 'p1'});
sq(q{SELECT tieredlog.append('d', 'late' || i, '{"l": 1}') FROM generate_series(1, 25) i});

$node->stop('immediate');
$node->start;
is(sq('SELECT count(*) FROM tieredlog.digest_cell'), '0', 'after the crash there are no digest cells');
is(sq('SELECT count(*) FROM tieredlog.digest_intact'), '0', 'and the cells are not marked intact');
ok($node->poll_query_until('postgres', q{SELECT true}), 'server is back');
ok($node->wait_for_log(qr/digest cells not rebuilt: 1 prepared transactions may hold rows/),
	'the worker waits for the prepared transaction before rebuilding');
is(sq('SELECT count(*) FROM tieredlog.digest_intact'), '0', 'nothing is marked intact meanwhile');
check_state('after the crash, digests from the rows');
is($node->safe_psql('postgres', 'SELECT count(*) FROM tieredlog.read(\'d\')'), '1025',
	'every committed record is there');

# a move relies on the cells: it refuses while they cannot be rebuilt
my $cur = sq(q{SELECT segment_id FROM tieredlog.segments WHERE log_name = 'd' ORDER BY range_start DESC LIMIT 1});
my ($rc, $out, $err) = $node->psql('postgres', "SELECT to_tier FROM tieredlog.move_segment($cur, 1)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55000: the digest cells of segment $cur are not rebuilt yet after a restart/,
	'a move waits for the rebuild, with SQLSTATE 55000');

# appends after the crash, as an unprivileged role, while the cells are partial
$node->safe_psql('postgres', q{SELECT tieredlog.append('d', 'after' || i, '{"a": 1}') FROM generate_series(1, 30) i},
	extra_params => [ '-U', 'app' ]);
check_state('appends after the crash');

# segment_totals() is callable by everyone but answers only a role that may read a view showing it
sq(q{CREATE ROLE viewer LOGIN; GRANT USAGE ON SCHEMA tieredlog TO viewer;
	GRANT SELECT ON tieredlog.segments TO viewer});
is($node->safe_psql('postgres', q{SELECT sum(records) FROM tieredlog.segments WHERE log_name = 'd'},
	extra_params => [ '-U', 'viewer' ]), sq(q{SELECT count(*) FROM tieredlog.read('d')}),
	'a role granted only SELECT on segments reads its record counts');
($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM tieredlog.segment_totals(1)},
	extra_params => [ '-U', 'app', '-v', 'VERBOSITY=verbose' ]);
like($err, qr/42501: permission denied for function segment_totals/,
	'a role that may read none of the views gets 42501 from segment_totals()');

sq("COMMIT PREPARED 'p1'");
wait_intact('after the prepared transaction committed');
is(sq('SELECT count(*) FROM tieredlog.digest_rebuilt'), '0', 'the list of rebuilt segments is emptied');
is(sq("SELECT count(*) FROM tieredlog.read('d')"), '1105', 'the prepared records are in');
check_state('after the rebuild');
# the cells alone (as they are now trusted) must add up to the rows
is(sq(q{SELECT count(*) FROM tieredlog.segments s
		WHERE s.log_name = 'd' AND s.records <> (SELECT COALESCE(sum(n), 0) FROM tieredlog.digest_cell c
												  WHERE c.segment_id = s.segment_id)}), '0',
	'segments.records is read from the cells again');
is(sq("SELECT to_tier FROM tieredlog.move_segment($cur, 1)"), '1', 'the move goes through once the cells are rebuilt');
check_state('after the move');

# a crash with no prepared transaction: rebuilt at once
sq(q{SELECT tieredlog.append('d', 'again' || i, '{}') FROM generate_series(1, 20) i});
$node->stop('immediate');
$node->start;
wait_intact('second crash');
check_state('after the second rebuild');

# a crash while a tier 2 segment cannot be read (a damaged frame): the worker rebuilds the other
# segments' cells, warns about that one (data_corrupted) and leaves the cells untrusted; once the
# frame is repaired, the next cycle rebuilds it and marks the cells intact
my $log_id = sq(q{SELECT log_id FROM tieredlog.logs WHERE log_name = 'd'});
is(sq("SELECT tier FROM tieredlog.segments WHERE segment_id = $old"), '2', 'the old segment is in tier 2');
sq("CREATE TABLE keep_frame AS SELECT * FROM tieredlog_data.archive_$log_id WHERE segment_id = $old AND frame_no = 0");
sq("UPDATE tieredlog_data.archive_$log_id SET data = overlay(data placing '\\xdeadbeef'::bytea from 20)
	WHERE segment_id = $old AND frame_no = 0");
sq(q{SELECT tieredlog.append('d', 'third' || i, '{}') FROM generate_series(1, 20) i});
my $segments = sq(q{SELECT count(*) FROM tieredlog.segments WHERE log_name = 'd'});
my $log_at = -s $node->logfile;
$node->stop('immediate');
$node->start;
ok($node->wait_for_log(qr/WARNING:  digest cells of segment $old could not be rebuilt: archive frame 0 of segment $old is corrupted/, $log_at),
	'a segment whose frame is damaged: the rebuild warns about it');
ok($node->wait_for_log(qr/digest cells of \d+ segments rebuilt, 1 left/, $log_at),
	'and rebuilds the others, leaving that one');
is(sq("SELECT count(*) FROM tieredlog.digest_rebuilt WHERE segment_id <> $old"), $segments - 1,
	'every other segment is rebuilt');
is(sq('SELECT count(*) FROM tieredlog.digest_intact'), '0', 'the cells are not marked intact');
is(sq(q{SELECT count(*) FROM tieredlog.read('d', now() - interval '1 hour', now() + interval '1 hour') WHERE key LIKE 'third%'}),
	'20', 'the other segments read as before');
sq("UPDATE tieredlog_data.archive_$log_id a SET data = k.data FROM keep_frame k WHERE a.segment_id = $old AND a.frame_no = 0");
wait_intact('after the frame was repaired');
check_state('after the repaired segment was rebuilt');
is(() = slurp_file($node->logfile) =~ /terminated by signal/g, 0, 'no backend crashed');

# A physical standby has no digest cells (unlogged) and cannot read unlogged tables: its views and
# digests come from the rows. Promoted, its worker rebuilds the cells.
$node->backup('b1');
my $standby = PostgreSQL::Test::Cluster->new('rebuild_standby');
$standby->init_from_backup($node, 'b1', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
my $records = sq(q{SELECT count(*) FROM tieredlog.read('d')});
is($standby->safe_psql('postgres', q{SELECT sum(records) FROM tieredlog.segments WHERE log_name = 'd'}),
	$records, 'standby: segments.records counts every record (from the rows)');
is($standby->safe_psql('postgres', q{SELECT sum(logical_bytes) FROM tieredlog.segments WHERE log_name = 'd'}),
	sq(q{SELECT sum(logical_bytes) FROM tieredlog.segments WHERE log_name = 'd'}),
	'standby: segments.logical_bytes equals the primary\'s');
is($standby->safe_psql('postgres', q{SELECT string_agg(digest, ',' ORDER BY segment_id) FROM tieredlog.segments}),
	sq(q{SELECT string_agg(digest, ',' ORDER BY segment_id) FROM tieredlog.segments}),
	'standby: every segment digest equals the primary\'s');
is($standby->safe_psql('postgres', q{SELECT bool_and(ok) FROM tieredlog.check_digests('d')}), 't',
	'standby: check_digests works');
$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT count(*) = 1 FROM tieredlog.digest_intact'),
	'promoted: the worker rebuilds the digest cells');
is($standby->safe_psql('postgres', q{SELECT string_agg(digest, ',' ORDER BY segment_id) FROM tieredlog.segments}),
	sq(q{SELECT string_agg(digest, ',' ORDER BY segment_id) FROM tieredlog.segments}),
	'promoted: every segment digest, now from the cells, equals the primary\'s');
$standby->stop;

$node->stop;
done_testing();
