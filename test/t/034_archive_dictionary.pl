# Tier 2 frames of 128 records compressed with a dictionary trained per segment (issue 21, item 3).
#
# A segment large enough gets a dictionary when it is archived: the attempt's row -1 of the archive
# relation, not listed by segment_frames(); every frame names it in its zstd header. Reads by key,
# latest(), a range and the whole log return what tier 0 returned, also as an unprivileged role.
# A segment too small for a dictionary to pay gets none.
#
# The dictionary comes from storage and is not trusted: damaged bytes, a dictionary that is not
# the one the frames name (taken from another segment), a missing one, a stray negative row and
# an oversized one are each data_corrupted (XX001) naming the segment, never a crash; put back,
# the segment reads again. The time column predicted from the seq (TLF2) is exercised by every
# read here; its hostile forms are in 012_decode_bounds.pl.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $node = tl_node('a1');
sub q1 { return $node->safe_psql('postgres', $_[0]); }
my $start_time = q1('SELECT pg_postmaster_start_time()');

q1('CREATE EXTENSION tieredlog');
# records shaped like the reference data: a log-uniform key, a few fields, a request id
for my $log (['big', 30000], ['small', 2000], ['other', 30000])
{
	my ($name, $n) = @$log;
	my $seed = $name eq 'other' ? 0.25 : 0.5;
	q1(qq{
SELECT tieredlog.create_log('$name', '1 day');
SELECT setseed($seed);
SELECT tieredlog.append_many('$name',
	array_agg('entity-' || e ORDER BY i),
	array_agg(jsonb_build_object('level', (ARRAY['INFO','WARN','ERROR'])[1 + i % 3], 'entity_id', e,
		'request_id', md5(i::text), 'route', '/api/v2/' || (i % 97), 'status', (ARRAY[200, 404, 500])[1 + i % 3],
		'latency_ms', round((i % 1000) / 7.0, 2), 'msg', 'request handled') ORDER BY i),
	array_agg(CASE WHEN i % 4 = 0 THEN 'svc' || (i % 3) END ORDER BY i),
	array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '7 milliseconds' ORDER BY i))
  FROM (SELECT i, floor(exp(random() * ln(5000)))::int AS e FROM generate_series(1, $n) i) g;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = '$name';
});
}
my %seg = map { $_ => q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = '$_'") } qw(big small);
my %log_id = map { $_ => q1("SELECT log_id FROM tieredlog.logs WHERE log_name = '$_'") } qw(big small);
is($log_id{big}, $log_id{small} - 1, 'two logs');

my $row = "key || ' ' || payload::text || ' ' || ts || ' ' || COALESCE(source, '-') || ' ' || origin || ' ' || seq || ' ' || rid";
my @keys = ('entity-1', 'entity-2', 'entity-77', 'entity-4999', 'absent');
sub reads
{
	my ($log) = @_;
	my %r;
	for my $k (@keys)
	{
		$r{"read $k"} = q1("SELECT count(*) || ' ' || COALESCE(md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)), '-')
			FROM tieredlog.read('$log', key => '$k')");
		$r{"latest $k"} = q1("SELECT string_agg($row, E'\\n') FROM tieredlog.latest('$log', '$k')");
	}
	$r{range} = q1("SELECT count(*) || ' ' || md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq))
		FROM tieredlog.read('$log', '2024-01-01 00:01:00+00', '2024-01-01 00:02:00+00')");
	$r{whole} = q1("SELECT count(*) || ' ' || md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)) FROM tieredlog.read('$log')");
	return \%r;
}
my %tier0 = map { $_ => reads($_) } qw(big small);
like($tier0{big}{whole}, qr/^30000 /, 'tier 0: the big log has its records');

for my $log (qw(big small))
{
	q1("SELECT tieredlog.move_segment($seg{$log}, 2)");
}
q1('SELECT tieredlog.sweep()');
my $arch = "tieredlog_data.archive_$log_id{big}";
my $dicts = "SELECT count(*) FROM $arch WHERE segment_id = $seg{big} AND frame_no = -1";
is(q1($dicts), '1', 'the big segment has a dictionary (row -1)');
is(q1("SELECT count(*) FROM tieredlog_data.archive_$log_id{small} WHERE segment_id = $seg{small} AND frame_no < 0"), '0',
	'the small segment has none (it would not pay)');
is(q1("SELECT count(*) = (SELECT count(*) FROM $arch WHERE segment_id = $seg{big} AND frame_no >= 0)
	AND min(frame_no) = 0 FROM tieredlog.segment_frames($seg{big})"), 't', 'segment_frames() lists the frames, not the dictionary');
is(q1("SELECT max(records) FROM tieredlog.segment_frames($seg{big})"), '128', 'frames of 128 records');
# zstd frame header: magic, then the descriptor, whose two low bits say how long the dictionary id is
is(q1("SELECT bool_and(substr(data, 1, 4) = '\\x28b52ffd'::bytea AND get_byte(data, 4) & 3 <> 0)
	FROM $arch WHERE segment_id = $seg{big} AND frame_no >= 0"), 't', 'every frame of the big segment names a dictionary');
is(q1("SELECT bool_or(get_byte(data, 4) & 3 <> 0) FROM tieredlog_data.archive_$log_id{small} WHERE segment_id = $seg{small}"),
	'f', 'no frame of the small segment does');
cmp_ok(q1("SELECT tieredlog.segment_stored_bytes($seg{big})"), '<', q1("SELECT sum(raw_bytes) / 2 FROM tieredlog.segment_frames($seg{big})"),
	'the big segment is stored in less than half its encoded size');

for my $log (qw(big small))
{
	is_deeply(reads($log), $tier0{$log}, "$log: every key read, latest(), a range and the whole log equal tier 0");
}

q1(q{
CREATE ROLE reader LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO reader;
GRANT EXECUTE ON FUNCTION tieredlog.read(text, timestamptz, timestamptz, text) TO reader;
});
is($node->safe_psql('postgres', "SELECT count(*) || ' ' || md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)) FROM tieredlog.read('big')",
	extra_params => ['-U', 'reader']), $tier0{big}{whole}, 'an unprivileged reader gets the same records');
is($node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('big', key => 'entity-1')", extra_params => ['-U', 'reader']),
	(split / /, $tier0{big}{'read entity-1'})[0], 'and the same key read');

# ---- a dictionary from storage is not trusted -----------------------------------------------
q1("CREATE TABLE keep AS SELECT * FROM $arch WHERE segment_id = $seg{big} AND frame_no = -1");
sub refused
{
	my ($sql_setup, $re, $name) = @_;
	q1($sql_setup);
	for my $read ("SELECT count(*) FROM tieredlog.read('big')", "SELECT count(*) FROM tieredlog.read('big', key => 'entity-1')",
		"SELECT count(*) FROM tieredlog.latest('big', 'entity-2')")
	{
		my ($rc, $out, $err) = $node->psql('postgres', $read, extra_params => ['-v', 'VERBOSITY=verbose']);
		like($err, $re, "$name: $read");
	}
	is(q1('SELECT pg_postmaster_start_time()'), $start_time, "$name: the server did not restart");
	# put it back
	q1("DELETE FROM $arch WHERE segment_id = $seg{big} AND frame_no < 0");
	q1("INSERT INTO $arch SELECT * FROM keep");
	is(q1("SELECT count(*) FROM tieredlog.read('big')"), '30000', "$name: put back, the segment reads again");
	return;
}
refused("UPDATE $arch SET data = overlay(data placing '\\xdeadbeef'::bytea from 200) WHERE segment_id = $seg{big} AND frame_no = -1",
	qr/XX001.*archive dictionary of segment $seg{big} is corrupted.*checksum/s, 'damaged dictionary bytes');
refused("DELETE FROM $arch WHERE segment_id = $seg{big} AND frame_no = -1",
	qr/XX001.*archive frame \d+ of segment $seg{big} is corrupted.*compressed with dictionary \d+, which the segment does not have/s,
	'no dictionary');
refused("UPDATE $arch SET frame_no = -2 WHERE segment_id = $seg{big} AND frame_no = -1",
	qr/XX001.*archive of segment $seg{big} has a row numbered -2/s, 'a row numbered -2');
refused("UPDATE $arch SET data = decode(repeat('ab', 2 * 1024 * 1024), 'hex') WHERE segment_id = $seg{big} AND frame_no = -1",
	qr/XX001.*archive dictionary of segment $seg{big} is corrupted.*more than 1048576/s, 'a 2 MB dictionary');
refused("UPDATE $arch SET data = '\\x0102'::bytea WHERE segment_id = $seg{big} AND frame_no = -1",
	qr/XX001.*archive dictionary of segment $seg{big} is corrupted.*outside 8 to/s, 'a 2-byte dictionary');

# another segment's dictionary (log 'other', made like 'big'), intact (its checksum matches), is
# not the one the frames name
q1("SELECT tieredlog.move_segment(segment_id, 2) FROM tieredlog.segments WHERE log_name = 'other'");
my $oseg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'other'");
my $oarch = 'tieredlog_data.archive_' . q1("SELECT log_id FROM tieredlog.logs WHERE log_name = 'other'");
is(q1("SELECT count(*) FROM $oarch WHERE segment_id = $oseg AND frame_no = -1"), '1', 'another segment with a dictionary');
refused("UPDATE $arch a SET data = o.data, checksum = o.checksum, raw_len = o.raw_len, comp_len = o.comp_len
	FROM $oarch o WHERE a.segment_id = $seg{big} AND a.frame_no = -1 AND o.segment_id = $oseg AND o.frame_no = -1",
	qr/XX001.*archive frame \d+ of segment $seg{big} is corrupted.*compressed with dictionary \d+, which the segment does not have/s,
	"another segment's dictionary");

# moved back to tier 0 and archived again: a new attempt with its own dictionary, same records
q1("SELECT tieredlog.move_segment($seg{big}, 0)");
q1('SELECT tieredlog.sweep()');
is(q1("SELECT count(*) FROM $arch WHERE segment_id = $seg{big}"), '0', 'in tier 0, the archive rows are swept');
q1("SELECT tieredlog.move_segment($seg{big}, 2)");
q1('SELECT tieredlog.sweep()');
is(q1($dicts), '1', 'archived again: one dictionary');
is_deeply(reads('big'), $tier0{big}, 'archived again: every read equals tier 0');
is(q1("SELECT bool_and(ok) FROM tieredlog.check_digests('big')"), 't', 'check_digests() agrees');

# a segment large enough for a dictionary, of payloads no dictionary can help (100 kB of random
# hex each, about 5 to a frame): one is trained, does not pay for its size, and is not kept
q1(q{
SELECT tieredlog.create_log('noise', '1 day');
SELECT setseed(0.125);
SELECT tieredlog.append_many('noise', array_agg('n' || i ORDER BY i),
	array_agg(jsonb_build_object('blob', (SELECT string_agg(md5(random()::text || i || j), '') FROM generate_series(1, 3200) j)) ORDER BY i),
	NULL, array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' ORDER BY i))
  FROM generate_series(1, 120) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'noise';
CREATE TABLE noise0 AS SELECT key, payload, ts, source, origin, seq, rid FROM tieredlog.read('noise');
});
my $nseg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'noise'");
my ($nrc, $nout, $nerr) = $node->psql('postgres', "SET client_min_messages = debug1; SELECT tieredlog.move_segment($nseg, 2)");
like($nerr, qr/the dictionary of segment $nseg does not pay/, 'random payloads: a dictionary was trained and judged');
cmp_ok(q1("SELECT count(*) FROM tieredlog.segment_frames($nseg)"), '>=', 16, 'random payloads: enough frames to train on');
is(q1("SELECT count(*) FROM tieredlog_data.archive_" . q1("SELECT log_id FROM tieredlog.logs WHERE log_name = 'noise'")
	. " WHERE segment_id = $nseg AND frame_no < 0"), '0', 'a dictionary that does not pay is not kept');
is(q1("SELECT count(*) FROM (SELECT key, payload, ts, source, origin, seq, rid FROM tieredlog.read('noise') EXCEPT SELECT * FROM noise0) d")
	. ' ' . q1("SELECT count(*) FROM tieredlog.read('noise')"), '0 120', 'and the segment reads as in tier 0');

# frames of another size (tieredlog.archive_frame_records, superuser): 1024 records each
q1("SELECT tieredlog.move_segment($seg{big}, 0)");
q1('SELECT tieredlog.sweep()');
q1("SET tieredlog.archive_frame_records = 1024; SELECT tieredlog.move_segment($seg{big}, 2)");
q1('SELECT tieredlog.sweep()');
is(q1("SELECT max(records) || ' ' || count(*) FROM tieredlog.segment_frames($seg{big})"), '1024 30',
	'archive_frame_records = 1024: 30 frames of up to 1024 records');
is_deeply(reads('big'), $tier0{big}, 'frames of 1024 records: every read equals tier 0');
my ($rc, $out, $err) = $node->psql('postgres', 'SET tieredlog.archive_frame_records = 8', extra_params => ['-U', 'reader']);
like($err, qr/permission denied to set parameter|invalid value for parameter/, 'an ordinary role cannot set it');
($rc, $out, $err) = $node->psql('postgres', 'SET tieredlog.archive_frame_records = 8');
like($err, qr/8 is outside the valid range/, 'fewer than 16 records per frame is refused');
# _archive_frame_raw (the fuzzer's corpus of TLF2 frames): superuser only, tier 2 segments only
like(q1("SELECT substr(tieredlog._archive_frame_raw($seg{big}, 0), 1, 4)"), qr/^\\x544c4632$/, '_archive_frame_raw: a TLF2 frame');
($rc, $out, $err) = $node->psql('postgres', "SELECT tieredlog._archive_frame_raw($seg{big}, 100000)");
like($err, qr/segment $seg{big} has no archive frame 100000/, '_archive_frame_raw: a frame that does not exist');
q1("SELECT tieredlog.move_segment($seg{small}, 0)");
($rc, $out, $err) = $node->psql('postgres', "SELECT tieredlog._archive_frame_raw($seg{small}, 0)");
like($err, qr/segment $seg{small} is not in tier 2/, '_archive_frame_raw: a segment in tier 0');
($rc, $out, $err) = $node->psql('postgres', "SELECT tieredlog._archive_frame_raw($seg{big}, 0)", extra_params => ['-U', 'reader']);
like($err, qr/permission denied/, '_archive_frame_raw: not for an ordinary role');
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated by exception/, 'no backend crashed');

done_testing();
