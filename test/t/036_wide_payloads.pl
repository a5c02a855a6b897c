# Payloads with very many keys, from an unprivileged appender, through tier 2.
#
# A payload is any JSON object up to tieredlog.max_payload_size; an object of 40 000 short keys is
# one. Tier 2 shreds payloads into one column per path, so such records make frames of tens of
# thousands of paths. Both ends must stay linear and bounded:
#  1. the move into tier 2 (the worker's or an operator's, as the extension's owner): finding a
#     key's path was a search of its parent's children, O(keys^2) per frame; 100 such records took
#     more than six minutes of one core (241 took more than fourteen), now seconds. The move runs
#     under a statement_timeout of 120 s: a benchmark's figure is not asserted, only that the move
#     is nowhere near quadratic;
#  2. a whole read() merges the frames into record order with every frame open at once; the
#     merge's memory was estimated from the frames' sizes and did not see their path tables (many
#     times the frame for these: 241 such records took the backend to 1.8 GB, by hand). Now
#     the open frames are counted and a merge that takes more than 256 MB is given up before any
#     row is out, and the rows sorted instead: the backend's peak stays under 400 MB;
#  3. every answer is tier 0's: the rows, their order, their digests; the callers that need no
#     order (check_digests(), the move back) read frame by frame and never merge;
#  4. latest() over many large records of one key in tier 2 holds one head per origin at a time;
#  5. a merge whose rows are larger than a batch (16 kB) hands each out from the row builder,
#     uncopied, and still answers as tier 0.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $node = tl_node('w1');
sub q1 { return $node->safe_psql('postgres', $_[0]); }

q1(q{
CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('wide', '1 day');
CREATE ROLE log_writer LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO log_writer;
GRANT EXECUTE ON FUNCTION tieredlog.append(text, text, jsonb, text, timestamptz) TO log_writer;
});
# 100 records, each an object of 40 000 keys ('k<i>' .. 'k<i + 39999>': each frame's records
# share most of their keys, and the segment holds 40 099 distinct ones), about 600 kB each
my $appends = join('', map {
	"SELECT tieredlog.append('wide', 'key-$_', (SELECT jsonb_object_agg('k' || j, j % 7) FROM generate_series($_, $_ + 39999) j), NULL, timestamptz '2024-01-01 00:00:00+00' + $_ * interval '1 second');\n"
} 0 .. 99);
$node->safe_psql('postgres', "SET ROLE log_writer;\n$appends");
my $seg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'wide'");
is(q1("SELECT records || ' ' || tier FROM tieredlog.segments WHERE segment_id = $seg"), '100 0',
	'an unprivileged role appended 100 records of 40 000 keys each');

my $whole = "SELECT count(*) || ' ' || md5(string_agg(key || payload::text || ts || origin || seq || rid, ',')) FROM tieredlog.read('wide')";
my $sorted = "SELECT count(*) || ' ' || md5(string_agg(key || payload::text || ts || origin || seq || rid, ',' ORDER BY ts, origin, seq)) FROM tieredlog.read('wide')";
my $tier0 = q1($sorted);
is(q1($whole), $tier0, 'tier 0 reads them in record order');
my $digest0 = q1("SELECT digest FROM tieredlog.segments WHERE segment_id = $seg");

# 1. The move: sealed first (tier 2 takes sealed segments), then moved under a timeout.
q1("SELECT tieredlog.seal($seg)");
my ($rc, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '120s'; SELECT tieredlog.move_segment($seg, 2); SELECT tieredlog.sweep();");
is($rc, 0, 'the move into tier 2 ends well within 120 s') or diag($err);
is(q1("SELECT tier FROM tieredlog.segments WHERE segment_id = $seg"), '2', 'the segment is in tier 2');
my $paths = q1("SELECT sum(records) || ' ' || (count(*) >= 40) FROM tieredlog.segment_frames($seg)");
is($paths, '100 true', 'in frames of a few records each');

# 2. A whole read of it in one session: its peak resident memory (VmHWM) from /proc.
my ($rc2, $out2, $err2) = $node->psql('postgres', join("\n",
	'SELECT pg_backend_pid() AS pid \gset', '\setenv TL_PID :pid',
	q{\! awk '/^VmHWM/ {print "hwm", $2}' /proc/$TL_PID/status},
	"SELECT 'whole', ($whole);",
	q{\! awk '/^VmHWM/ {print "hwm", $2}' /proc/$TL_PID/status},
	"SELECT 'slim', count(*) || ' ' || md5(string_agg(key || ts || origin || seq, ',')) FROM tieredlog.read('wide');"),
	on_error_stop => 1);
is($rc2, 0, 'the whole read runs') or diag($err2);
my @hwm = $out2 =~ /^hwm (\d+)$/mg;
ok(@hwm == 2 && $hwm[1] < 400 * 1024,
	'its backend peaks under 400 MB (VmHWM kB: ' . join(' -> ', @hwm) . ')');
# 3. The same answers.
like($out2, qr/^whole\|\Q$tier0\E$/m, 'and reads every row as tier 0 did, in record order');
my $slim0 = q1("SELECT count(*) || ' ' || md5(string_agg(key || ts || origin || seq, ',' ORDER BY ts, origin, seq)) FROM tieredlog.read('wide')");
like($out2, qr/^slim\|\Q$slim0\E$/m, 'so does a read that takes no payloads');
is(q1("SELECT count(*) || ' ' || min(payload->>'k50') FROM tieredlog.read('wide', key => 'key-50')"), '1 1',
	'a key read finds its record');
is(q1("SELECT bool_and(ok) FROM tieredlog.check_digests('wide')"), 't', 'check_digests() agrees');
is(q1("SELECT digest FROM tieredlog.segments WHERE segment_id = $seg"), $digest0, 'the digest is unchanged');
is(q1("SELECT count(*) FILTER (WHERE NOT ok) || ' ' || (count(*) > 0) FROM tieredlog.verify('wide')"), '0 true',
	'verify() finds the sealed history intact');

# Back to tier 0 (the move reads the frames one by one), and the same rows.
q1("SELECT tieredlog.move_segment($seg, 0); SELECT tieredlog.sweep();");
is(q1("SELECT tier FROM tieredlog.segments WHERE segment_id = $seg"), '0', 'moved back to tier 0');
is(q1($whole), $tier0, 'with every row as before');
ok($node->safe_psql('postgres', 'SELECT 1') eq '1', 'the server is up');

# 4. latest() of a key with many large records in tier 2: the rows come in ts order through the
# frames (no head index there), each replacing its origin's head; the replaced head's copies were
# kept to the end of the statement (1 000 records of 100 kB: 413 MB, by hand), now freed at once.
q1(q{
SELECT tieredlog.create_log('hot', '1 hour');
SELECT tieredlog.append_many('hot', array_agg('hot'::text ORDER BY i),
	array_agg(jsonb_build_object('i', i, 'blob', md5(i::text) || repeat('x', 100000)) ORDER BY i), NULL,
	array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' ORDER BY i))
  FROM generate_series(1, 500) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'hot';
SELECT tieredlog.move_segment(segment_id, 2) FROM tieredlog.segments WHERE log_name = 'hot';
SELECT tieredlog.sweep();
});
is(q1("SELECT tier FROM tieredlog.segments WHERE log_name = 'hot'"), '2', '500 records of 100 kB of one key, in tier 2');
my ($rc4, $out4, $err4) = $node->psql('postgres', join("\n",
	'SELECT pg_backend_pid() AS pid \gset', '\setenv TL_PID :pid',
	q{\! awk '/^VmHWM/ {print "hwm", $2}' /proc/$TL_PID/status},
	"SELECT 'latest', payload->>'i' FROM tieredlog.latest('hot', 'hot');",
	q{\! awk '/^VmHWM/ {print "hwm", $2}' /proc/$TL_PID/status}), on_error_stop => 1);
like($out4, qr/^latest\|500$/m, 'latest() finds the newest') or diag($err4);
my @hwm4 = $out4 =~ /^hwm (\d+)$/mg;
ok(@hwm4 == 2 && $hwm4[1] - $hwm4[0] < 100 * 1024,
	'holding one head at a time: the backend grows by less than 100 MB (VmHWM kB: ' . join(' -> ', @hwm4) . ')');

# 5. Two keys written in turn, 20 kB payloads: each key's frames span the whole segment, so a
# whole read merges them, and every row is larger than a batch.
q1(q{
SELECT tieredlog.create_log('big_rows', '1 hour');
SELECT tieredlog.append_many('big_rows', array_agg('k' || (i % 2) ORDER BY i),
	array_agg(jsonb_build_object('i', i, 'blob', md5(i::text) || repeat('y', 20000)) ORDER BY i), NULL,
	array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' ORDER BY i))
  FROM generate_series(1, 400) i;
});
my $big_whole = "SELECT count(*) || ' ' || md5(string_agg(key || payload::text || ts || origin || seq || rid, ',')) FROM tieredlog.read('big_rows')";
my $big0 = q1($big_whole);
q1(q{SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'big_rows';
SELECT tieredlog.move_segment(segment_id, 2) FROM tieredlog.segments WHERE log_name = 'big_rows';
SELECT tieredlog.sweep();});
is(q1("SELECT count(*) > 4 FROM tieredlog.segments s, tieredlog.segment_frames(s.segment_id) f WHERE log_name = 'big_rows'"),
	't', '400 records of 20 kB in tier 2, in several frames per key');
is(q1($big_whole), $big0, 'a whole read merges them into tier 0\'s answer, in order');

$node->stop('immediate');
done_testing();
