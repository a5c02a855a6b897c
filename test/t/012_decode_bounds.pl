# Crafted bytes from a peer: every decoder of outside input is bounded, and each of these gives
# an ERROR, never a crash, a hang or an allocation the message cannot justify. The batches are
# built here (pack), wrapped into record batches by tieredlog._batch_pack (zstd, checksum), and
# given to tieredlog._ae_store by a role that holds only EXECUTE on it, as a peer would; stream
# messages go to tieredlog._wire_decode, which reads them as the apply worker does.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $node = tl_node('d1');
$node->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
CREATE ROLE tl_peer LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO tl_peer;
GRANT EXECUTE ON FUNCTION tieredlog._ae_store(bytea, text) TO tl_peer;
GRANT EXECUTE ON FUNCTION tieredlog._ae_iblt(text, timestamptz, integer[], integer[], bigint) TO tl_peer;
-- tl_peer is the role of peer "x" (disabled: nothing connects to it), so what it sends as "x"
-- gets past the sender's authentication and reaches the decoders
INSERT INTO tieredlog.peer (peer_id, peer_name, conninfo, slot_name, origin_name, node_name, peer_role, owner, enabled)
VALUES (1, 'x', 'host=127.0.0.1 port=1', 'none', 'tieredlog:x', 'x', 'tl_peer', 10, false);
});
my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

# ---- raw frame encoding (archive.c) -------------------------------------------------------------
use constant {
	TAG_ABSENT => 0, TAG_NULL => 1, TAG_TRUE => 2, TAG_FALSE => 3, TAG_INT => 4, TAG_NUM => 5,
	TAG_STR => 6, TAG_HEX => 7, TAG_UUID => 8, TAG_JSON => 9, TAG_OBJECT => 10,
};
my $TS0 = 757382400000000;	# 2024-01-01 00:00:00+00, microseconds since 2000-01-01

sub varint
{
	my ($v) = @_;
	my $s = '';
	while ($v >= 0x80) { $s .= chr(($v & 0x7f) | 0x80); $v >>= 7; }
	return $s . chr($v);
}
sub zz { my ($v) = @_; return $v >= 0 ? 2 * $v : -2 * $v - 1; }
sub vbytes { return varint(length $_[0]) . $_[0]; }
sub hex_of { return unpack('H*', $_[0]); }

# the fixed columns of a one-row frame: ts, origin, seq, key, no source
sub head
{
	my (%o) = @_;
	my $origin = $o{origin} // 'x';
	return 'TLF1' . varint(1) . varint(zz($o{ts} // $TS0))
	  . varint(1) . vbytes($origin) . varint(zz($o{seq} // 1))
	  . varint(1) . varint(0) . vbytes($o{key} // 'k') . varint(0)
	  . varint(0) . varint(0);
}

# a one-row frame whose payload is {"n": <value>}, the value given as (tag, ints, strs)
sub frame_n
{
	my ($tag, $ints, $strs, %o) = @_;
	return head(%o) . varint(2) . varint(0) . vbytes($o{name} // 'n')
	  . chr(TAG_OBJECT) . vbytes('') . vbytes('')
	  . chr($tag) . vbytes($ints) . vbytes($strs);
}

# Run $sql (psql variables :'b' hold the batch) and expect an ERROR matching $re, and the server
# still up: no backend terminated by a signal, the same postmaster, a working connection.
sub refused
{
	my ($sql, $re, $name, %o) = @_;
	my ($out, $err) = ('', '');
	my $t0 = time;
	my $rc = eval {
		$node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
			timeout => $o{timeout} // 120, on_error_stop => 1);
	};
	$err = "no answer: $@" if !defined $rc;
	like($err, $re, "$name: refused") or diag("rc=$rc out=$out");
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $start_time,
		"$name: the server did not restart");
	unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated by exception/,
		"$name: no backend crashed");
	return;
}

# A batch for _ae_store from raw frame bytes given as an SQL bytea expression, stored in :b.
sub batch_sql
{
	my ($raw_expr, %o) = @_;
	my $log = $o{log} // 'x';
	my $interval = $o{interval} // 3600000000;
	my $rids = $o{rids} // 'NULL';
	return "SELECT tieredlog._batch_pack('$log', $interval, $raw_expr, $rids) AS b \\gset\n"
	  . "SET ROLE tl_peer;\n";
}

# the writer keeps objects deeper than it shreds as JSON text: deep payloads come back from tier 2
{
	$node->safe_psql('postgres', q{
SELECT tieredlog.create_log('deep', '1 hour');
SELECT tieredlog.append('deep', 'd' || n, (repeat('{"a": ', n) || '1' || repeat('}', n))::jsonb, NULL,
						'2024-01-01 00:00:00+00'::timestamptz + n * interval '1 second')
  FROM unnest(ARRAY[1, 255, 256, 257, 300, 2000]) n;
CREATE TABLE deep_want AS SELECT * FROM tieredlog.read('deep');
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'deep';
SELECT tieredlog.move_segment(segment_id, 2) FROM tieredlog.segments WHERE log_name = 'deep';
});
	is($node->safe_psql('postgres', q{
SELECT tier || ' ' || (SELECT count(*) FROM tieredlog.read('deep') r JOIN deep_want w USING (origin, seq)
						 WHERE r.payload = w.payload AND r.payload::text = w.payload::text AND r.rid = w.rid)
  FROM tieredlog.segments WHERE log_name = 'deep'}), '2 6', 'payloads nested up to 2000 deep survive tier 2');
}

# ---- crash 1: deeply nested payload paths --------------------------------------------------------
{
	my $n = 400000;
	my $raw = head() . varint($n + 1);
	$raw .= varint($_ - 1) . vbytes('a') for 1 .. $n;
	$raw .= chr($_ < $n ? TAG_OBJECT : TAG_NULL) . varint(0) . varint(0) for 0 .. $n;
	refused(batch_sql("'\\x" . hex_of($raw) . "'::bytea")
		  . "SELECT tieredlog._ae_store(:'b', 'x');",
		qr/corrupted.*\n.*DETAIL:.*nest/i, 'payload paths nested 400000 deep');

	# under the depth cap, but deeper than the stack allows: check_stack_depth, not SIGSEGV
	$n = 9000;
	$raw = head() . varint($n + 1);
	$raw .= varint($_ - 1) . vbytes('a') for 1 .. $n;
	$raw .= chr($_ < $n ? TAG_OBJECT : TAG_NULL) . varint(0) . varint(0) for 0 .. $n;
	refused("SET max_stack_depth = '200kB';\n"
		  . "SELECT tieredlog._frame_decode('\\x" . hex_of($raw) . "'::bytea);",
		qr/stack depth limit exceeded/, 'payload paths nested 9000 deep, small stack');
}


# ---- crash 2: a NUL inside a number --------------------------------------------------------------
{
	my $len = 48 << 20;	# "1", a NUL, then zeros: the rid used to be computed over all of it
	my $prefix = head() . varint(2) . varint(0) . vbytes('n')
	  . chr(TAG_OBJECT) . vbytes('') . vbytes('')
	  . chr(TAG_NUM) . vbytes('') . varint(length(varint($len)) + $len) . varint($len) . '1';
	refused(batch_sql("'\\x" . hex_of($prefix) . "'::bytea || decode(repeat('00', $len - 1), 'hex')")
		  . "SELECT tieredlog._ae_store(:'b', 'x');",
		qr/corrupted.*\n.*DETAIL:.*NUL/i, 'a NUL inside a 48 MB number');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_NUM, '', vbytes("1\0" . 'x' x 100))) . "');",
		qr/corrupted.*\n.*DETAIL:.*NUL/i, 'a NUL inside a short number');

	# the same in a stream message: a NUL inside the payload's text
	my $rid = "\0" x 16;
	my $pre = 'R' . pack('N', 1) . 'x' . pack('Q>', 3600000000) . pack('N', 1) . 'k'
	  . pack('N', 9 + $len) . '{"n": 1}' . "\0";
	my $post = pack('Q>', $TS0) . chr(0) . pack('N', 1) . 'x' . pack('Q>', 1) . $rid;
	refused("SELECT tieredlog._wire_decode('\\x" . hex_of($pre) . "'::bytea || decode(repeat('00', $len), 'hex') || '\\x"
		  . hex_of($post) . "'::bytea);",
		qr/malformed message from peer: .*NUL/i, 'a stream message with a NUL inside its payload');
	# text the rid is computed over must be the text the stored jsonb prints
	my $msg = 'R' . pack('N', 1) . 'x' . pack('Q>', 3600000000) . pack('N', 1) . 'k'
	  . pack('N', 9) . '{"n":  1}' . $post;
	refused("SELECT tieredlog._wire_decode('\\x" . hex_of($msg) . "');",
		qr/malformed message from peer: payload is not in jsonb's text form/, 'a stream payload in another text form');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_NUM, '', vbytes('1.0e1'))) . "');",
		qr/DETAIL:.*canonical/, 'a number in another text form');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_NUM, '', vbytes('NaN'))) . "');",
		qr/DETAIL:.*not finite/, 'NaN as a number');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_STR, '', vbytes("a\0b"))) . "');",
		qr/DETAIL:.*NUL byte inside a string/, 'a NUL inside a string');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_STR, '', vbytes("a\xff\xfe"))) . "');",
		qr/DETAIL:.*encoding/, 'a string in another encoding');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_NULL, '', '', name => "n\0x")) . "');",
		qr/DETAIL:.*NUL byte inside an object key/, 'a NUL inside an object key');
	# the encoding is checked per string (only strings with bytes above 0x7f) and per key, once a
	# frame: the same refusals whatever the string's length or where its bad byte is
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_STR, '', vbytes("abcdefghij\xff"))) . "');",
		qr/DETAIL:.*encoding/, 'a long string with a bad last byte');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_STR, '', vbytes("\xc3\"abc"))) . "');",
		qr/DETAIL:.*encoding/, 'a string to escape in another encoding');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_STR, '', vbytes("abcdefgh\tij\0"))) . "');",
		qr/DETAIL:.*NUL byte inside a string/, 'a NUL after a character to escape');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_NULL, '', '', name => "n\xff")) . "');",
		qr/DETAIL:.*encoding/, 'an object key in another encoding');
	is($node->safe_psql('postgres', "SELECT tieredlog._frame_decode('\\x"
		  . hex_of(frame_n(TAG_STR, '', vbytes("h\xc3\xa9llo w\xc3\xb6rld, \"quoted\"\t\xe2\x82\xac"), name => "n\xc3\xa9")) . "')"),
		'1', 'valid UTF-8 in a string to escape and in a key: decoded');
}


# ---- interval and time fields ---------------------------------------------------------------------
{
	# a well-formed record {"n": 1} with its true rid, so that only the interval is wrong
	my $raw = "'\\x" . hex_of(frame_n(TAG_INT, varint(zz(1)), '')) . "'::bytea";
	for my $iv (-7000000, 0, 1500000, 367 * 86400 * 1000000)
	{
		my $rid = "uuid_send(tieredlog.record_rid('ival', 'k', '{\"n\": 1}', '2024-01-01 00:00:00+00', NULL, 'x', 1))";
		refused(batch_sql($raw, log => 'ival', interval => $iv, rids => $rid)
			  . "SELECT tieredlog._ae_store(:'b', 'x');",
			qr/malformed message from peer: segment interval/, "a record batch with interval $iv us",
			timeout => 60);
	}
	is($node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.logs WHERE log_name = 'ival'"), '0',
		'no log was created with a bad interval');
	my $post = pack('Q>', $TS0) . chr(0) . pack('N', 1) . 'x' . pack('Q>', 1) . ("\0" x 16);
	my $msg = 'R' . pack('N', 1) . 'x' . pack('q>', -7000000) . pack('N', 1) . 'k'
	  . pack('N', 8) . '{"n": 1}' . $post;
	refused("SELECT tieredlog._wire_decode('\\x" . hex_of($msg) . "');",
		qr/malformed message from peer: segment interval/, 'a stream record with a negative interval');
	$msg = 'R' . pack('N', 1) . 'x' . pack('q>', 3600000000) . pack('N', 1) . 'k'
	  . pack('N', 8) . '{"n": 1}' . pack('q>', 9223372036854775000) . substr($post, 8);
	refused("SELECT tieredlog._wire_decode('\\x" . hex_of($msg) . "');",
		qr/malformed message from peer: .*timestamp/, 'a stream record with a timestamp out of range');

	# two rows: the second ts delta overflows int64
	my $two = 'TLF1' . varint(2) . varint(zz($TS0)) . varint(9223372036854775000)
	  . varint(1) . vbytes('x') . varint(zz(1)) . varint(zz(1))
	  . varint(1) . varint(0) . vbytes('k') . varint(0) . varint(0)
	  . varint(0) . varint(0) . varint(0)
	  . varint(1) . chr(TAG_NULL) x 2 . vbytes('') . vbytes('');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of($two) . "');",
		qr/DETAIL:.*timestamp/, 'a ts delta that overflows');
	$two = 'TLF1' . varint(2) . varint(zz($TS0)) . varint(0)
	  . varint(1) . vbytes('x') . varint(zz(9223372036854775000)) . varint(zz(9223372036854775000))
	  . varint(1) . varint(0) . vbytes('k') . varint(0) . varint(0)
	  . varint(0) . varint(0) . varint(0)
	  . varint(1) . chr(TAG_NULL) x 2 . vbytes('') . vbytes('');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of($two) . "');",
		qr/DETAIL:.*seq/, 'a seq delta that overflows');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_NULL, '', '', ts => 9223372036854775000)) . "');",
		qr/DETAIL:.*timestamp/, 'a ts out of range');

	# TLF2 (what this build writes): origins and seqs first, then the time column, whose mode 1
	# predicts each ts from the previous row of its origin and the seq step; two rows, seqs 1 and
	# $seq2, payloads {}
	my $tlf2 = sub {
		my ($ts_column, $seq2) = @_;
		return 'TLF2' . varint(2) . varint(1) . vbytes('x') . varint(zz(1)) . varint(zz(($seq2 // 2) - 1))
		  . $ts_column
		  . varint(1) . varint(0) . vbytes('k') . varint(0) . varint(0)
		  . varint(0) . varint(0) . varint(0)
		  . varint(1) . chr(TAG_OBJECT) x 2 . vbytes('') . vbytes('');
	};
	is($node->safe_psql('postgres', "SELECT tieredlog._frame_decode('\\x"
		  . hex_of($tlf2->(varint(1) . varint(zz(7000)) . varint(zz($TS0)) . varint(zz(0)))) . "') || ' '
		  || tieredlog._frame_decode('\\x" . hex_of($tlf2->(varint(0) . varint(zz($TS0)) . varint(7000))) . "')"),
		'2 2', 'TLF2: a predicted time column and a plain one decode');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of($tlf2->(varint(2) . varint(zz(7000)) . varint(zz($TS0)) . varint(0))) . "');",
		qr/DETAIL:.*unknown time column mode/, 'TLF2: an unknown time column mode');
	refused("SELECT tieredlog._frame_decode('\\x"
		  . hex_of($tlf2->(varint(1) . varint(zz(4611686018427387904)) . varint(zz($TS0)) . varint(0), 4)) . "');",
		qr/DETAIL:.*timestamp prediction overflows/, 'TLF2: a rate times the seq step that overflows');
	refused("SELECT tieredlog._frame_decode('\\x"
		  . hex_of($tlf2->(varint(1) . varint(zz(7000)) . varint(zz($TS0)) . varint(zz(9223372036854775000)))) . "');",
		qr/DETAIL:.*timestamp prediction overflows|DETAIL:.*timestamp out of range/, 'TLF2: a difference that overflows');
	refused("SELECT tieredlog._frame_decode('\\x"
		  . hex_of($tlf2->(varint(1) . varint(zz(7000)) . varint(zz($TS0)) . varint(zz(-100000)))) . "');",
		qr/DETAIL:.*timestamps out of order/, 'TLF2: a difference that puts the rows out of order');
	refused("SELECT tieredlog._frame_decode('\\x"
		  . hex_of($tlf2->(varint(1) . varint(zz(7000)) . varint(zz($TS0)) . varint(zz(-($TS0 + 300000000000000000))))) . "');",
		qr/DETAIL:.*timestamp out of range/, 'TLF2: a predicted ts out of range (before 4714 BC)');
	# rows of one ts must be in record order (ts, origin, seq): a whole read merges frames on it
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of($tlf2->(varint(0) . varint(zz($TS0)) . varint(0), 0)) . "');",
		qr/DETAIL:.*rows out of record order/, 'two rows of one ts, the second with a lower seq');
	is($node->safe_psql('postgres', "SELECT tieredlog._frame_decode('\\x"
		  . hex_of($tlf2->(varint(0) . varint(zz($TS0)) . varint(0), 1)) . "')"),
		'2', 'two rows of one ts and one (origin, seq) decode (a duplicate is not out of order)');
}

# ---- allocations a frame asks for ----------------------------------------------------------------
{
	# a key dictionary bomb: each entry repeats the previous 100 kB and adds nothing
	my $bomb = 'TLF1' . varint(1) . varint(zz($TS0)) . varint(1) . vbytes('x') . varint(zz(1))
	  . varint(2000) . varint(0) . vbytes('k' x 100000);
	$bomb .= varint(100000) . vbytes('') for 2 .. 2000;
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of($bomb) . "');",
		qr/DETAIL:.*dictionary has more entries than the frame has rows/, 'a key dictionary bomb');
	my $long = 'TLF1' . varint(1) . varint(zz($TS0)) . varint(1) . vbytes('x') . varint(zz(1))
	  . varint(1) . varint(0) . vbytes('k' x 2000) . varint(0) . varint(0) . varint(0)
	  . varint(1) . chr(TAG_NULL) . vbytes('') . vbytes('');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of($long) . "');",
		qr/DETAIL:.*key longer than any record key/, 'a key of 2000 bytes');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of(frame_n(TAG_NULL, '', '', origin => 'no such/name')) . "');",
		qr/DETAIL:.*invalid origin or source name/, 'an invalid origin name');

	# found by the fuzzer (013_fuzz.pl): an empty key dictionary, then a key index
	my $nokey = 'TLF1' . varint(1) . varint(zz($TS0)) . varint(1) . vbytes('x') . varint(zz(1))
	  . varint(0) . varint(1000000) . varint(0) . varint(0)
	  . varint(1) . chr(TAG_NULL) . vbytes('') . vbytes('');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of($nokey) . "');",
		qr/DETAIL:.*no key/, 'an empty key dictionary');

	# two children with the same key: jsonb keeps one, the text (and so the rid) both
	my $dup = head() . varint(3) . varint(0) . vbytes('n') . varint(0) . vbytes('n')
	  . chr(TAG_OBJECT) . vbytes('') . vbytes('')
	  . chr(TAG_INT) . vbytes(varint(zz(1))) . vbytes('')
	  . chr(TAG_INT) . vbytes(varint(zz(2))) . vbytes('');
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of($dup) . "');",
		qr/DETAIL:.*same parent and key/, 'duplicate object keys');

	# more paths than the bytes can describe
	my $paths = head() . varint(1000000) . ("\0" x 1000);
	refused("SELECT tieredlog._frame_decode('\\x" . hex_of($paths) . "');",
		qr/DETAIL:.*more payload paths than the frame can hold/, 'a path count the frame cannot hold');

	# an uncompressed size above the cap (64 MB by default), however well it compresses
	my $len = 80 << 20;
	my $prefix = head() . varint(2) . varint(0) . vbytes('n') . chr(TAG_OBJECT) . vbytes('') . vbytes('')
	  . chr(TAG_STR) . vbytes('') . varint($len + 4) . varint($len);
	refused(batch_sql("'\\x" . hex_of($prefix) . "'::bytea || decode(repeat('61', $len), 'hex')")
		  . "SELECT tieredlog._ae_store(:'b', 'x');",
		qr/DETAIL:.*uncompressed size of \d+ bytes is outside 1 to 67108864/, 'an 80 MB frame');
}

# ---- key reads (issue 21): rows skipped by a key read are bounded too; key filters ----------------
{
	# two rows, keys "b" (row 0, skipped by a read of key "a") and "a" (row 1); payload {"n": ...}
	my $two_keys = sub {
		my ($tag, $strs) = @_;
		return 'TLF1' . varint(2) . varint(zz($TS0)) . varint(1)
		  . varint(1) . vbytes('x') . varint(zz(1)) . varint(zz(1))
		  . varint(2) . varint(0) . vbytes('a') . varint(0) . vbytes('b') . varint(1) . varint(0)
		  . varint(0) . varint(0) . varint(0)
		  . varint(2) . varint(0) . vbytes('n')
		  . chr(TAG_OBJECT) x 2 . vbytes('') . vbytes('')
		  . chr($tag) . chr(TAG_NULL) . vbytes('') . vbytes($strs);
	};
	is($node->safe_psql('postgres', "SELECT tieredlog._frame_decode_key('\\x" . hex_of($two_keys->(TAG_STR, vbytes('s'))) . "', 'a')
		|| ' ' || tieredlog._frame_decode_key('\\x" . hex_of($two_keys->(TAG_STR, vbytes('s'))) . "', 'b')
		|| ' ' || tieredlog._frame_decode_key('\\x" . hex_of($two_keys->(TAG_STR, vbytes('s'))) . "', 'c')"),
		'1 1 0', 'a well-formed two-key frame: one row per key, none for another key');
	refused("SELECT tieredlog._frame_decode_key('\\x" . hex_of($two_keys->(TAG_STR, varint(1000) . 'xx')) . "', 'a');",
		qr/DETAIL:.*string runs past the end of the frame/, 'a skipped row whose string runs past the end');
	refused("SELECT tieredlog._frame_decode_key('\\x" . hex_of($two_keys->(TAG_HEX, varint(1 << 40))) . "', 'a');",
		qr/DETAIL:.*hex length/, 'a skipped row with a huge hex length');
	refused("SELECT tieredlog._frame_decode_key('\\x" . hex_of($two_keys->(TAG_HEX, varint(100) . 'xx')) . "', 'a');",
		qr/DETAIL:.*hex value runs past the end/, 'a skipped row whose hex value runs past the end');
	refused("SELECT tieredlog._frame_decode_key('\\x" . hex_of($two_keys->(TAG_UUID, 'x' x 15)) . "', 'a');",
		qr/DETAIL:.*runs past the end/, 'a skipped row with a short uuid');

	my %bad = (
		'an unknown version' => "'\\x0207' || decode(repeat('ff', 64), 'hex')",
		'no hash function' => "'\\x0100' || decode(repeat('ff', 64), 'hex')",
		'33 hash functions' => "'\\x0121' || decode(repeat('ff', 64), 'hex')",
		'a bit array of 63 bytes' => "'\\x010b' || decode(repeat('ff', 63), 'hex')",
		'no bit array' => "'\\x010b'::bytea",
		'one byte' => "'\\x01'::bytea",
		'no byte' => "''::bytea",
		'a bit array of 64 kB + 8 bytes' => "'\\x010b' || decode(repeat('ff', 65544), 'hex')",
	);
	for my $what (sort keys %bad)
	{
		refused("SELECT tieredlog._key_filter_probe($bad{$what}, 'k');",
			qr/corrupted.*\n.*DETAIL:.*key filter/i, "a key filter with $what");
	}
	is($node->safe_psql('postgres', "SELECT tieredlog._key_filter_probe('\\x010b' || decode(repeat('00', 8), 'hex'), 'k')
		|| ' ' || tieredlog._key_filter_probe('\\x010b' || decode(repeat('ff', 8), 'hex'), 'k')"),
		'false true', 'an empty filter holds nothing, a full one everything');
}

# ---- reconciliation requests: table sizes ----------------------------------------------------------
{
	my $call = "SET ROLE tl_peer;\nSELECT length(tieredlog._ae_iblt('x', '2024-01-01', ARRAY[%s], ARRAY[%s], 1));";
	refused(sprintf($call, '0,1,2,3', '3000000,3000000,3000000,3000000'),
		qr/tables of more than 3145728 cells in all/, 'tables of 12 million cells');
	refused(sprintf($call, join(',', 0 .. 255), join(',', (3000000) x 256)),
		qr/tables of more than 3145728 cells in all/, 'tables of 3 million cells for each of 256 leaves');
	refused(sprintf($call, '0', '3145731'), qr/invalid leaf 0 or table size 3145731/, 'one table over the limit');
	refused(sprintf($call, '0', '-3'), qr/invalid leaf 0 or table size -3/, 'a negative table size');
	refused(sprintf($call, '256', '3'), qr/invalid leaf 256/, 'a leaf out of range');
	is($node->safe_psql('postgres', sprintf("SELECT length(tieredlog._ae_iblt('x', '2024-01-01', ARRAY[%s], ARRAY[%s], 1))",
		'0,1', '3000000,145728')), 16 * 3145728, 'tables of 3145728 cells in all are answered');
}

done_testing();
