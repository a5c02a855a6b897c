# Key reads in the archive (issue 21): per-frame key filters in the frame directory, frames pruned
# by them, only the rows of the key rebuilt; and archives written before key filters existed.
#
# Part 1: a segment of 12 000 records (several frames) is read by key and with latest() in tier 0,
# then archived: every frame has a key filter, every key read and latest() returns what tier 0
# returned (rids included), absent keys return nothing. That frames really are skipped is shown by
# damaging one frame's compressed bytes: a read of a key that frame does not hold still works (its
# filter excludes the frame, which is never fetched), a read of a key it holds and a whole read fail
# with data_corrupted. A filter that is not a filter is reported as corruption, never trusted.
#
# Part 2: an archive written by tieredlog 1.0 (tree ba7df9b, before key filters): its frames, as
# that code wrote them for 5 000 records on a node named "a1", are stored in
# 024_archive_v1_frames.txt (frame directory and compressed bytes, hex). They replace the frames
# of the same records archived here, in an archive relation without the key_filter column (as 1.0
# created it). read(), read(key => ...) and latest() return exactly what 1.0 returned (an md5 of
# every column that 1.0 computed), check_digests() agrees; moving the segment back and to tier 2
# again gives the relation its key_filter column and the frames their filters.
#
# Part 1 also covers frames clustered by key (each frame a narrow key range, frames overlapping in
# time, reads merged or sorted back into record order). Part 3: frames as tieredlog 1.1 wrote them
# before that (tree aa9fdcf: in time order, with key filters; 024_archive_v11_frames.txt, the same
# 5 000 records) read exactly as tier 0.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use TlCluster;

my $node = tl_node('a1');
sub q1 { return $node->safe_psql('postgres', $_[0]); }

# the records of part 2 come first: their seqs (1 to 5000) must be those the 1.0 node gave them
q1('CREATE EXTENSION tieredlog');
q1(q{
SELECT tieredlog.create_log('old', '1 hour');
SELECT tieredlog.append_many('old',
	array_agg('k' || (i % 211) || CASE WHEN i % 5 = 0 THEN '/é' ELSE '' END ORDER BY i),
	array_agg(jsonb_build_object('i', i, 'v', 'v' || (i % 7), 'h', md5(i::text), 'f', i / 4.0) ORDER BY i),
	array_agg(CASE WHEN i % 3 = 0 THEN 'src' || (i % 2) END ORDER BY i),
	array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '300 milliseconds' ORDER BY i))
  FROM generate_series(1, 5000) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'old';
});
q1(q{
SELECT tieredlog.create_log('ev', '1 hour');
SELECT tieredlog.append_many('ev',
	array_agg(CASE WHEN i % 1000 = 7 THEN 'solo-' || i ELSE 'k' || (i % 997) END ORDER BY i),
	array_agg(jsonb_build_object('i', i, 'txt', 'row "' || i || '" é', 'hex', md5(i::text),
		'nested', jsonb_build_object('a', i % 3, 'arr', ARRAY[i, i + 1]), 'f', i / 8.0) ORDER BY i),
	array_agg(CASE WHEN i % 4 = 0 THEN 'src' || (i % 3) END ORDER BY i),
	array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '250 milliseconds' ORDER BY i))
  FROM generate_series(1, 12000) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'ev';
});
my $seg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev'");
my $log_id = q1("SELECT log_id FROM tieredlog.logs WHERE log_name = 'ev'");

# keys: frequent ones, keys of one record (first, middle and last frame), absent ones
my @keys = ('k0', 'k1', 'k500', 'k996', 'solo-7', 'solo-6007', 'solo-11007', 'absent', 'k997', 'k', '', 'zzz');
my $row = "key || ' ' || payload::text || ' ' || ts || ' ' || COALESCE(source, '-') || ' ' || origin || ' ' || seq || ' ' || rid";
sub reads
{
	my %r;
	for my $k (@keys)
	{
		$r{"read $k"} = q1("SELECT count(*) || ' ' || COALESCE(md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)), '-')
			FROM tieredlog.read('ev', key => '$k')");
		$r{"latest $k"} = q1("SELECT string_agg($row, E'\\n') FROM tieredlog.latest('ev', '$k')");
	}
	$r{range} = q1("SELECT count(*) || ' ' || md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq))
		FROM tieredlog.read('ev', '2024-01-01 00:10:00+00', '2024-01-01 00:20:00+00')");
	$r{whole} = q1("SELECT count(*) || ' ' || md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)) FROM tieredlog.read('ev')");
	return \%r;
}
my $tier0 = reads();
like($tier0->{'read k1'}, qr/^1[23] /, 'tier 0: a frequent key has its records');
like($tier0->{'read solo-6007'}, qr/^1 /, 'tier 0: a key of one record');
like($tier0->{'read absent'}, qr/^0 -$/, 'tier 0: an absent key has none');

q1("SELECT tieredlog.move_segment($seg, 2)");
q1("SELECT tieredlog.sweep()");
is(q1("SELECT tier FROM tieredlog.segments WHERE segment_id = $seg"), '2', 'the segment is in tier 2');
my $nframes = q1("SELECT count(*) FROM tieredlog.segment_frames($seg)");
cmp_ok($nframes, '>=', 3, "the segment has several frames ($nframes)");
is(q1("SELECT count(*) FROM tieredlog_data.archive_$log_id WHERE segment_id = $seg AND key_filter IS NULL"), '0',
	'every frame has a key filter');
is(q1("SELECT bool_and(get_byte(key_filter, 0) = 1 AND get_byte(key_filter, 1) = 11 AND (length(key_filter) - 2) % 8 = 0)
	FROM tieredlog_data.archive_$log_id WHERE segment_id = $seg"), 't', 'key filters: version 1, 11 hashes, whole words');

my $tier2 = reads();
is_deeply($tier2, $tier0, 'tier 2: every key read, latest(), a range and the whole log equal tier 0 (rids included)');

# every key of the log, read alone (the frames found by binary search over the key ranges), has as
# many records as the whole read (which never searches by key) gives it; none more, none fewer
is(q1("SELECT count(*) || ' ' || count(*) FILTER (WHERE w.n <> (SELECT count(*) FROM tieredlog.read('ev', key => w.key))
	OR (SELECT count(*) FROM tieredlog.latest('ev', w.key)) <> 1)
	FROM (SELECT key, count(*) AS n FROM tieredlog.read('ev') GROUP BY key) w"), '1009 0',
	'tier 2: every one of the 1 009 keys read alone has the records the whole read has for it, and one latest()');

# frames are clustered by key: consecutive frames' key ranges meet at most in one key, so a key's
# records lie in one frame, or in a few consecutive ones when it has more than a frame's worth
is(q1("SELECT count(*) FROM (SELECT max_key, lead(min_key) OVER (ORDER BY frame_no) AS next_min
	FROM tieredlog_data.archive_$log_id WHERE segment_id = $seg) f WHERE max_key > next_min"), '0',
	'frames clustered by key: each frame\'s keys come after the previous frame\'s');
is(q1("SELECT max(n) FROM (SELECT r.key, count(*) AS n FROM (SELECT DISTINCT key FROM tieredlog.read('ev')) r
	JOIN tieredlog_data.archive_$log_id a ON a.segment_id = $seg AND r.key COLLATE \"C\" BETWEEN a.min_key AND a.max_key
	GROUP BY r.key) k"), '2', 'a key falls in the key range of at most two frames');
# every frame's filter holds every key of the frame (no false negative): a key strictly inside a
# frame's key range is the frame's, and a key is held by one frame at least whose range has it
is(q1("SELECT count(*) FROM (SELECT DISTINCT key FROM tieredlog.read('ev')) r
	JOIN tieredlog_data.archive_$log_id a ON a.segment_id = $seg AND r.key COLLATE \"C\" > a.min_key
		AND r.key COLLATE \"C\" < a.max_key
	WHERE NOT tieredlog._key_filter_probe(a.key_filter, r.key)")
  + q1("SELECT count(*) FROM (SELECT DISTINCT key FROM tieredlog.read('ev')) r WHERE NOT EXISTS (
	SELECT 1 FROM tieredlog_data.archive_$log_id a WHERE a.segment_id = $seg
	   AND r.key COLLATE \"C\" BETWEEN a.min_key AND a.max_key AND tieredlog._key_filter_probe(a.key_filter, r.key))"),
	'0', 'no key of a frame is missing from its filter');

# frames overlap in time, so reads come back in record order by merging them (whole log, a time
# range) or by sorting (a key): every read's rows in (ts, origin, seq) order, as they are returned
my $ordered = sub {
	my ($call) = @_;
	return q1("SELECT count(*) FILTER (WHERE (ts, origin, seq) <= (pts, porigin, pseq)) || ' ' || count(*) FROM (
		SELECT ts, origin COLLATE \"C\" AS origin, seq, lag(ts) OVER w AS pts, lag(origin COLLATE \"C\") OVER w AS porigin,
			   lag(seq) OVER w AS pseq
		  FROM $call WITH ORDINALITY AS r(key, payload, ts, source, origin, seq, rid, segment_id, tier, o)
		WINDOW w AS (ORDER BY o)) x");
};
is($ordered->("tieredlog.read('ev')"), '0 12000', 'tier 2: read() of the whole log returns its records in record order');
like($ordered->("tieredlog.read('ev', '2024-01-01 00:10:00+00', '2024-01-01 00:20:00+00')"), qr/^0 2400$/,
	'a time range too');
my $boundary = q1("SELECT max_key FROM tieredlog_data.archive_$log_id WHERE segment_id = $seg AND frame_no = 0");
like($ordered->("tieredlog.read('ev', key => '$boundary')"), qr/^0 [1-9]\d*$/, "a key at a frame boundary too ($boundary)");
cmp_ok(q1("SELECT count(*) FROM tieredlog.segment_frames($seg) WHERE first_ts < (SELECT max(last_ts) FROM tieredlog.segment_frames($seg))
	AND frame_no > 0"), '>', 0, 'the frames do overlap in time');
my $fp = q1("SELECT count(*) FILTER (WHERE tieredlog._key_filter_probe(key_filter, 'absent-' || i)) || ' ' || count(*)
	FROM tieredlog_data.archive_$log_id, generate_series(1, 2000) i WHERE segment_id = $seg");
my ($hits, $probes) = split / /, $fp;
cmp_ok($hits / $probes, '<', 0.01, "absent keys pass a frame's filter rarely ($hits of $probes probes)");

# ---- frames that cannot hold the key are not fetched ----------------------------------------------
my $last = q1("SELECT max(frame_no) FROM tieredlog.segment_frames($seg)");
# (frames are clustered by key: the last frame alone holds the greatest key, the first the least)
my $solo_last = q1("SELECT max_key FROM tieredlog.segment_frames($seg) WHERE frame_no = $last");
my $solo_first = q1("SELECT min_key FROM tieredlog.segment_frames($seg) WHERE frame_no = 0");
like($solo_last, qr/^solo-/, "the last frame's greatest key is one of one record ($solo_last)");
q1("CREATE TABLE keep AS SELECT * FROM tieredlog_data.archive_$log_id WHERE segment_id = $seg AND frame_no = 0");
# damage the first frame: its compressed bytes no longer match its checksum
q1("UPDATE tieredlog_data.archive_$log_id SET data = overlay(data placing '\\xdeadbeef'::bytea from 100)
	WHERE segment_id = $seg AND frame_no = 0");
is(q1("SELECT count(*) FROM tieredlog.read('ev', key => '$solo_last')"), '1',
	"a key only the last frame holds reads past a damaged first frame ($solo_last)");
is(q1("SELECT count(*) FROM tieredlog.latest('ev', '$solo_last')"), '1', 'so does latest()');
is(q1("SELECT count(*) FROM tieredlog.read('ev', key => 'absent')"), '0', 'an absent key too');
my ($rc, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM tieredlog.read('ev', key => '$solo_first')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/XX001.*archive frame 0 of segment $seg is corrupted/s, 'a key the damaged frame holds: data_corrupted');
($rc, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')", extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/XX001/, 'a whole read: data_corrupted');
q1("UPDATE tieredlog_data.archive_$log_id a SET data = k.data FROM keep k WHERE a.segment_id = $seg AND a.frame_no = 0");
# a directory entry whose row count is out of bounds (it would skew what a merge may hold)
for my $n (-1, 0, 4097)
{
	q1("UPDATE tieredlog_data.archive_$log_id SET nrows = $n WHERE segment_id = $seg AND frame_no = 0");
	($rc, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')", extra_params => ['-v', 'VERBOSITY=verbose']);
	like($err, qr/XX001.*archive frame 0 of segment $seg is corrupted.*row count of $n/s, "a directory row count of $n: a whole read is data_corrupted");
	($rc, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM tieredlog.read('ev', '2024-01-01 00:10:00+00', '2024-01-01 00:20:00+00')",
		extra_params => ['-v', 'VERBOSITY=verbose']);
	like($err, qr/XX001.*row count of $n/s, "... and so is a range read");
}
q1("UPDATE tieredlog_data.archive_$log_id a SET nrows = k.nrows FROM keep k WHERE a.segment_id = $seg AND a.frame_no = 0");
is($ordered->("tieredlog.read('ev')"), '0 12000', 'repaired, the whole log reads again');

# ---- a damaged filter is reported, not trusted ------------------------------------------------------
my %bad = (
	'unknown version' => "'\\x0207' || decode(repeat('ff', 64), 'hex')",
	'no hash function' => "'\\x0100' || decode(repeat('ff', 64), 'hex')",
	'too many hash functions' => "'\\x0121' || decode(repeat('ff', 64), 'hex')",
	'not whole words' => "'\\x010b' || decode(repeat('ff', 63), 'hex')",
	'empty bit array' => "'\\x010b'::bytea",
	'too short' => "'\\x01'::bytea",
	'too large' => "'\\x010b' || decode(repeat('ff', 65544), 'hex')",
);
for my $what (sort keys %bad)
{
	q1("UPDATE tieredlog_data.archive_$log_id SET key_filter = $bad{$what} WHERE segment_id = $seg AND frame_no = $last");
	($rc, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM tieredlog.read('ev', key => '$solo_last')",
		extra_params => ['-v', 'VERBOSITY=verbose']);
	like($err, qr/XX001.*archive frame $last of segment $seg is corrupted.*key filter/s, "a key filter with $what: data_corrupted");
	($rc, $out, $err) = $node->psql('postgres', "SELECT tieredlog._key_filter_probe($bad{$what}, 'k1')");
	like($err, qr/key filter/, "_key_filter_probe: $what refused");
}
# a frame without a filter (NULL) may hold any key
q1("UPDATE tieredlog_data.archive_$log_id SET key_filter = NULL WHERE segment_id = $seg");
is_deeply(reads(), $tier0, 'frames without key filters: every read equals tier 0');

# ---- payloads rebuilt straight into jsonb's binary form: wide objects (offsets every 32 entries),
# nesting, numbers, arrays; equal to what was appended under jsonb's own comparisons
q1(q{
CREATE TABLE wide_ref AS
SELECT i, timestamptz '2024-02-01 00:00:00+00' + i * interval '1 second' AS ts,
	   (SELECT jsonb_object_agg('key' || j, CASE j % 6 WHEN 0 THEN to_jsonb(i * j) WHEN 1 THEN to_jsonb('s' || j)
			WHEN 2 THEN to_jsonb((i + j) / 3.0) WHEN 3 THEN jsonb_build_object('n' || j, ARRAY[i, j], 'z', NULL)
			WHEN 4 THEN to_jsonb(j % 2 = 0) ELSE 'null'::jsonb END)
		  FROM generate_series(1, 30 + i % 50) j) AS payload
  FROM generate_series(1, 300) i;
SELECT tieredlog.create_log('wide', '1 hour');
SELECT tieredlog.append_many('wide', array_agg('w' || (i % 5) ORDER BY i), array_agg(payload ORDER BY i), NULL,
							 array_agg(ts ORDER BY i)) FROM wide_ref;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'wide';
SELECT tieredlog.move_segment(segment_id, 2) FROM tieredlog.segments WHERE log_name = 'wide';
});
is(q1(q{SELECT count(*) FILTER (WHERE r.payload = w.payload AND r.payload @> w.payload AND w.payload @> r.payload
			AND r.payload -> 'key33' IS NOT DISTINCT FROM w.payload -> 'key33'
			AND r.payload -> 'key3' -> 'n3' = w.payload -> 'key3' -> 'n3'
			AND jsonb_hash(r.payload) = jsonb_hash(w.payload)
			AND (SELECT array_agg(k) FROM jsonb_object_keys(r.payload) k) = (SELECT array_agg(k) FROM jsonb_object_keys(w.payload) k))
		  || ' ' || count(*) FROM tieredlog.read('wide') r JOIN wide_ref w USING (ts)}),
	'300 300', 'tier 2: wide and nested payloads equal the appended ones (=, @>, ->, hash, keys)');

# ---- part 2: frames written by tieredlog 1.0 ------------------------------------------------------
my $fixture = dirname(__FILE__) . '/024_archive_v1_frames.txt';
open(my $fh, '<', $fixture) or die "$fixture: $!";
my @frames = map { chomp; [split / /] } <$fh>;
close $fh;
is(scalar @frames, 2, 'the 1.0 fixture has 2 frames');

my $oseg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'old'");
my $olog = q1("SELECT log_id FROM tieredlog.logs WHERE log_name = 'old'");
# what 1.0 returned for read('old') (gen: the fixture's generator on tree ba7df9b)
my $v1_md5 = '7d03d93ce7c8f25830613679184f4ef6';
my $all = "SELECT md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)) FROM tieredlog.read('old')";
is(q1($all), $v1_md5, 'tier 0: the records are those 1.0 archived');
my %old0;
for my $k ('k0', 'k17', 'k210/é', 'k5/é', 'absent')
{
	$old0{$k} = q1("SELECT count(*) || ' ' || COALESCE(md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)), '-')
		FROM tieredlog.read('old', key => '$k')") . ' | ' . q1("SELECT string_agg($row, E'\\n') FROM tieredlog.latest('old', '$k')");
}
q1("SELECT tieredlog.move_segment($oseg, 2)");
q1("SELECT tieredlog.sweep()");
my $attempt = q1("SELECT archive_attempt FROM tieredlog.segment WHERE segment_id = $oseg");
# the archive relation as 1.0 made it (no key_filter column), holding the frames 1.0 wrote
my $values = join(",\n", map {
	my ($no, $n, $first, $lastts, $mink, $maxk, $raw, $comp, $sum, $data) = @$_;
	"($oseg, $attempt, $no, $n, timestamptz 'epoch' + $first * interval '1 microsecond', "
	  . "timestamptz 'epoch' + $lastts * interval '1 microsecond', convert_from('\\x$mink', 'UTF8'), "
	  . "convert_from('\\x$maxk', 'UTF8'), $raw, $comp, $sum, '\\x$data')"
} @frames);
q1("DELETE FROM tieredlog_data.archive_$olog WHERE segment_id = $oseg;
	ALTER TABLE tieredlog_data.archive_$olog DROP COLUMN key_filter;
	INSERT INTO tieredlog_data.archive_$olog VALUES $values;");
is(q1("SELECT count(*) FROM pg_attribute WHERE attrelid = 'tieredlog_data.archive_$olog'::regclass
	AND attname = 'key_filter' AND NOT attisdropped"), '0', 'the archive relation has no key_filter column, as in 1.0');
is(q1($all), $v1_md5, '1.0 frames: read() returns what 1.0 returned');
for my $k (sort keys %old0)
{
	is(q1("SELECT count(*) || ' ' || COALESCE(md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)), '-')
		FROM tieredlog.read('old', key => '$k')") . ' | ' . q1("SELECT string_agg($row, E'\\n') FROM tieredlog.latest('old', '$k')"),
		$old0{$k}, "1.0 frames: read(key => '$k') and latest() equal tier 0");
}
is(q1("SELECT bool_and(ok) FROM tieredlog.check_digests('old')"), 't', '1.0 frames: check_digests() agrees');

# moved back and archived again: the relation gets its key_filter column, the frames their filters
q1("SELECT tieredlog.move_segment($oseg, 0)");
q1("SELECT tieredlog.sweep()");
q1("SELECT tieredlog.move_segment($oseg, 2)");
q1("SELECT tieredlog.sweep()");
like(q1("SELECT count(*) FILTER (WHERE key_filter IS NOT NULL) || ' of ' || count(*) FROM tieredlog_data.archive_$olog
	WHERE segment_id = $oseg AND frame_no >= 0"), qr/^([1-9]\d*) of \1$/, 'archived again: the frames have key filters');
is(q1($all), $v1_md5, 'archived again: read() unchanged');
for my $k (sort keys %old0)
{
	is(q1("SELECT count(*) || ' ' || COALESCE(md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)), '-')
		FROM tieredlog.read('old', key => '$k')") . ' | ' . q1("SELECT string_agg($row, E'\\n') FROM tieredlog.latest('old', '$k')"),
		$old0{$k}, "archived again: read(key => '$k') and latest() equal tier 0");
}

# ---- part 3: frames written by tieredlog 1.1 before frames were clustered by key ---------------------
# 024_archive_v11_frames.txt: the frames tree aa9fdcf wrote for the same 5 000 records on a node named
# "a1" (frames in time order, each with its key filter; the last field). They replace the frames of
# the segment, archived again just above (clustered by key): every read equals tier 0, read frame
# after frame (the frames follow each other in time), and check_digests() agrees.
my $fixture11 = dirname(__FILE__) . '/024_archive_v11_frames.txt';
open($fh, '<', $fixture11) or die "$fixture11: $!";
my @frames11 = map { chomp; [split / /] } <$fh>;
close $fh;
is(scalar @frames11, 2, 'the 1.1 fixture has 2 frames');
$attempt = q1("SELECT archive_attempt FROM tieredlog.segment WHERE segment_id = $oseg");
$values = join(",\n", map {
	my ($no, $n, $first, $lastts, $mink, $maxk, $raw, $comp, $sum, $data, $filter) = @$_;
	"($oseg, $attempt, $no, $n, timestamptz 'epoch' + $first * interval '1 microsecond', "
	  . "timestamptz 'epoch' + $lastts * interval '1 microsecond', convert_from('\\x$mink', 'UTF8'), "
	  . "convert_from('\\x$maxk', 'UTF8'), $raw, $comp, $sum, '\\x$data', '\\x$filter')"
} @frames11);
q1("DELETE FROM tieredlog_data.archive_$olog WHERE segment_id = $oseg;
	INSERT INTO tieredlog_data.archive_$olog (segment_id, attempt, frame_no, nrows, first_ts, last_ts, min_key,
		max_key, raw_len, comp_len, checksum, data, key_filter) VALUES $values;");
is(q1("SELECT count(*) FILTER (WHERE first_ts > prev_last) || ' ' || count(prev_last) FROM (SELECT first_ts,
	lag(last_ts) OVER (ORDER BY frame_no) AS prev_last FROM tieredlog.segment_frames($oseg)) f"), '1 1',
	'1.1 frames: they follow each other in time');
is(q1($all), $v1_md5, '1.1 frames: read() returns what 1.0 and 1.1 returned');
is($ordered->("tieredlog.read('old')"), '0 5000', '1.1 frames: in record order as read() returns them');
for my $k (sort keys %old0)
{
	is(q1("SELECT count(*) || ' ' || COALESCE(md5(string_agg($row, E'\\n' ORDER BY ts, origin, seq)), '-')
		FROM tieredlog.read('old', key => '$k')") . ' | ' . q1("SELECT string_agg($row, E'\\n') FROM tieredlog.latest('old', '$k')"),
		$old0{$k}, "1.1 frames: read(key => '$k') and latest() equal tier 0");
}
is(q1("SELECT ok FROM tieredlog.check_digests('old') WHERE segment_id = $oseg"), 't', '1.1 frames: check_digests() agrees');

unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no backend crashed');
done_testing();
