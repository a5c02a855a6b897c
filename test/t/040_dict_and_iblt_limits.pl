# Two limits that guard against what the data (or a peer) makes of a step: a segment that gets no
# archive dictionary because too few samples fit the training budget, and a peer's invertible Bloom
# lookup table built to peel as slowly as it can.
#
# 1. Archive dictionary (store/archive_dict.c, archive_writer.c). ZDICT_trainFromBuffer (zstd
#    1.5.4, fastCover) fails only on input shapes the writer never passes it (fewer than 5
#    training samples, no test sample, under 8 bytes of samples): train_dictionary asks for a
#    dictionary only from 16 frames and 16 x 112 kB on, and tl_archive_dict_train only from 8
#    samples. What a segment can reach is the last guard before zstd: frames of one record of about
#    700 kB each, 20 of them (14 MB), sampled every 4th frame into a budget of 40 x 112 kB, give 5
#    samples; the move writes the frames without a dictionary (no DEBUG1 about zstd or about a
#    dictionary that does not pay), the segment reads as in tier 0, verify() is clean and it moves
#    back to tier 0. Run by an operator role (the move) and a reader role (read, verify).
#
# 2. IBLT peeling (core/iblt.c, IBLT_MAX_PASSES = 64). A peer's tables reach tl_iblt_peel only
#    through reconciliation: the coordinator calls the peer's tieredlog._ae_iblt() over libpq and
#    peels its own table minus the peer's (repl/reconcile.c, table_round). Here the peer p1 is
#    hostile: its _ae_iblt is replaced by one answering, for the log 'hostile', tables computed
#    below (the cell positions and check hash of iblt.c, XXH3_64 reimplemented in Perl and checked
#    against p1's real tables) whose difference is a chain of ids: one pure cell, and peeling each id
#    makes the next one pure, in a cell the scan has already passed when it can (partitions 2, 1, 0
#    in turn), so the table needs more than 64 passes yet would decode completely given enough.
#    The coordinator c1 must count both rounds (the table, then one four times larger) as not
#    decoding and exchange the leaf's ids instead (_ae_ids): every record arrives, nothing crashes.
#    The log 'plain', of the same size, still decodes from the first table: no _ae_ids call.
#    reconcile() runs as a superuser (TAP 015 runs it as the README's operator role).
#    The peel cannot be made to take one pass per cell: the id a peel frees lies in another
#    partition than the cell it was found in, and the scan has passed it only when that partition
#    is lower, so at best two of every three peels start a pass (105 ids: 69 passes).
use strict;
use warnings;
no warnings 'portable';    # 64-bit hex constants
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $c1 = tl_node('c1');
my $p1 = tl_node('p1');
my $start_c1 = $c1->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $start_p1 = $p1->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
sub q1 { return $c1->safe_psql('postgres', $_[0]); }

q1(q{
CREATE EXTENSION tieredlog;
CREATE ROLE tl_op LOGIN;
CREATE ROLE tl_reader LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO tl_op, tl_reader;
GRANT EXECUTE ON FUNCTION tieredlog.move_segment(bigint, integer) TO tl_op;
GRANT EXECUTE ON FUNCTION tieredlog.read(text, timestamptz, timestamptz, text),
	tieredlog.verify(text, jsonb) TO tl_reader;
});
sub as_op { return $c1->psql('postgres', $_[0], extra_params => ['-U', 'tl_op', '-v', 'VERBOSITY=verbose']); }
sub as_reader { return $c1->safe_psql('postgres', $_[0], extra_params => ['-U', 'tl_reader']); }

# ==== 1. a segment whose frames are too few and too large for 8 dictionary samples ==============
my $TL_ARCHIVE_DICT_BYTES = 112 * 1024;
my $budget_max = 40 * $TL_ARCHIVE_DICT_BYTES;    # TL_DICT_SAMPLE_BYTES
my $min_raw = 16 * $TL_ARCHIVE_DICT_BYTES;       # TL_DICT_MIN_RAW
q1(q{
SELECT tieredlog.create_log('wide', '1 day');
SELECT tieredlog.append('wide', 'w' || i,
	jsonb_build_object('i', i, 'blob', (SELECT string_agg(translate(md5(i || '/' || j), '0123456789abcdef', 'ghijklmnopqrstuv'), '') FROM generate_series(1, 22000) j)),
	NULL, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second')
  FROM generate_series(1, 20) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'wide';
});
my $wseg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'wide'");
my $warch = 'tieredlog_data.archive_' . q1("SELECT log_id FROM tieredlog.logs WHERE log_name = 'wide'");
my $wall = "SELECT count(*) || ' ' || md5(string_agg(key || ' ' || payload::text || ' ' || ts || ' ' || origin || ' ' || seq || ' ' || rid, E'\\n' ORDER BY ts, origin, seq)) FROM tieredlog.read('wide')";
my $wkey = "SELECT count(*) || ' ' || md5(string_agg(payload::text, ',')) FROM tieredlog.read('wide', key => 'w7')";
my $wtier0 = as_reader($wall);
my $wtier0_key = as_reader($wkey);
like($wtier0, qr/^20 [0-9a-f]{32}$/, 'wide: 20 records of about 700 kB in tier 0 (read by the reader role)');
like($wtier0_key, qr/^1 [0-9a-f]{32}$/, 'wide: a key read finds its record in tier 0');

my ($rc, $out, $err) = as_op("SET client_min_messages = debug1; SELECT to_tier FROM tieredlog.move_segment($wseg, 2)");
is($rc . ' ' . $out, '0 2', 'wide: the operator moves the segment to tier 2') or diag($err);
like($err, qr/move of segment $wseg: copied 20 rows/, "wide: the move's DEBUG1 messages reach the operator's session");
unlike($err, qr/no archive dictionary|does not pay/, 'wide: zstd was not asked for a dictionary (no DEBUG1 about one)');

# the samples train_dictionary takes, from the frames' raw sizes (the spooled frames)
my @raw = split /\n/, q1("SELECT raw_bytes FROM tieredlog.segment_frames($wseg) ORDER BY frame_no");
my $spooled_raw = 0;
$spooled_raw += $_ for @raw;
my $budget = $spooled_raw < $budget_max ? $spooled_raw : $budget_max;
my $stride = int(($spooled_raw + $budget - 1) / $budget);
my ($nsamples, $sampled) = (0, 0);
for (my $f = 0; $f < @raw; $f += $stride)
{
	last if $sampled + $raw[$f] > $budget;
	$sampled += $raw[$f];
	$nsamples++;
}
ok(@raw >= 16 && $spooled_raw >= $min_raw && $nsamples >= 1 && $nsamples < 8,
	'wide: past the writer\'s guards (' . scalar(@raw) . " frames, $spooled_raw bytes), $nsamples samples fit the budget (fewer than 8)");
is(q1("SELECT count(*) FILTER (WHERE frame_no < 0) || ' ' || count(*) FILTER (WHERE frame_no >= 0 AND substr(data, 1, 4) = '\\x28b52ffd'::bytea AND get_byte(data, 4) & 3 = 0)
	FROM $warch WHERE segment_id = $wseg"), '0 ' . scalar(@raw),
	'wide: no dictionary row, and every frame is a zstd frame naming no dictionary');
is(as_reader($wall), $wtier0, 'wide: tier 2 reads the same records as tier 0 (reader role)');
is(as_reader($wkey), $wtier0_key, 'wide: and the same key read');
is(as_reader("SELECT count(*) > 0 AND bool_and(ok) FROM tieredlog.verify('wide')"), 't',
	'wide: verify() checks and finds nothing wrong (reader role)');
($rc, $out, $err) = as_op("SELECT to_tier FROM tieredlog.move_segment($wseg, 0)");
is($rc . ' ' . $out, '0 0', 'wide: the operator moves it back to tier 0') or diag($err);
is(as_reader($wall), $wtier0, 'wide: back in tier 0, the same records');

# ==== 2. a peer's table that peels too slowly ===================================================
# --- XXH3_64bits_withSeed of one 8-byte id (xxhash 0.8: XXH3_len_4to8_64b), and its inverse ---
my $MASK = 0xFFFFFFFFFFFFFFFF;
my $PRIME_MX2 = 0x9FB21C651E98DF25;
my $SECRET = 0x1cad21f72c81017c ^ 0xdb979083e96dd4de;    # kSecret[8..16) ^ kSecret[16..24), LE
sub mul64 { use integer; return ($_[0] * $_[1]) & $MASK; }
sub add64 { use integer; return ($_[0] + $_[1]) & $MASK; }
sub sub64 { use integer; return ($_[0] - $_[1]) & $MASK; }
sub rotl64 { my ($x, $r) = @_; return (($x << $r) | ($x >> (64 - $r))) & $MASK; }
sub bitflip
{
	my ($seed) = @_;
	my $sw = unpack('N', pack('V', $seed & 0xFFFFFFFF));
	return sub64($SECRET, ($seed ^ ($sw << 32)) & $MASK);
}
sub xxh3_8
{
	my ($id, $seed) = @_;
	my $h = (((($id & 0xFFFFFFFF) << 32) | ($id >> 32)) ^ bitflip($seed)) & $MASK;
	$h = $h ^ rotl64($h, 49) ^ rotl64($h, 24);
	$h = mul64($h, $PRIME_MX2);
	$h ^= add64($h >> 35, 8);
	$h = mul64($h, $PRIME_MX2);
	return $h ^ ($h >> 28);
}
my $MX2_INV = $PRIME_MX2;
$MX2_INV = mul64($MX2_INV, sub64(2, mul64($PRIME_MX2, $MX2_INV))) for 1 .. 6;
die 'no inverse' unless mul64($MX2_INV, $PRIME_MX2) == 1;
# the id whose hash under $seed is $y (every step of XXH3_len_4to8_64b is a bijection; the
# rotate-xor h ^ rotl 49 ^ rotl 24 is 1 + e with e nilpotent over GF(2)[x]/(x^64 + 1), so its
# inverse is itself applied 63 times)
sub xxh3_8_inverse
{
	my ($y, $seed) = @_;
	my $h = $y ^ ($y >> 28) ^ ($y >> 56);
	$h = mul64($h, $MX2_INV);
	$h ^= add64($h >> 35, 8);
	$h = mul64($h, $MX2_INV);
	$h = $h ^ rotl64($h, 49) ^ rotl64($h, 24) for 1 .. 63;
	my $in = $h ^ bitflip($seed);
	my $id = ((($in & 0xFFFFFFFF) << 32) | ($in >> 32)) & $MASK;
	die "inverse of $y" unless xxh3_8($id, $seed) == $y;
	return $id;
}

# --- the tables of iblt.c: 3 partitions of m / 3 cells, cell k*part + XXH3(id, k + 1) % part ---
my $CHECK_SEED = 0x74696c7442;
sub iblt_check { return xxh3_8($_[0], $CHECK_SEED) & 0xFFFFFFFF; }
sub iblt_pos { my ($id, $k, $part) = @_; return $k * $part + xxh3_8($id, $k + 1) % $part; }
sub iblt_add
{
	my ($t, $part, $id, $sign) = @_;
	my $chk = iblt_check($id);
	for my $k (0 .. 2)
	{
		my $c = $t->[ iblt_pos($id, $k, $part) ];
		$c->[0] += $sign;
		$c->[1] ^= $id;
		$c->[2] ^= $chk;
	}
	return;
}
sub iblt_new { return [ map { [ 0, 0, 0 ] } 1 .. $_[0] ]; }
sub iblt_bytes { return join '', map { pack('N', $_->[0] & 0xFFFFFFFF) . pack('Q>', $_->[1]) . pack('N', $_->[2]) } @{ $_[0] }; }
sub iblt_from_bytes
{
	my ($bytes) = @_;
	my @t;
	for (my $i = 0; $i < length($bytes); $i += 16)
	{
		my ($count, $key, $check) = unpack('N Q> N', substr($bytes, $i, 16));
		push @t, [ $count >= 2**31 ? $count - 2**32 : $count, $key, $check ];
	}
	return \@t;
}
# tl_iblt_peel, step for step; $max_passes undef: as many as it takes.
# Returns (decoded, passes, number of ids peeled).
sub iblt_peel
{
	my ($t, $max_passes) = @_;
	my $m = @$t;
	my $part = $m / 3;
	my ($passes, $n, $progress) = (0, 0, 1);
	while ($progress)
	{
		return (0, $passes, $n) if defined $max_passes && ++$passes > $max_passes;
		$passes++ unless defined $max_passes;
		$progress = 0;
		for my $i (0 .. $m - 1)
		{
			my $c = $t->[$i];
			next unless ($c->[0] == 1 || $c->[0] == -1) && $c->[2] == iblt_check($c->[1]);
			return (0, $passes, $n) if ++$n > $m;
			iblt_add($t, $part, $c->[1], -$c->[0]);
			$progress = 1;
		}
	}
	return ((grep { $_->[0] || $_->[1] || $_->[2] } @$t) ? 0 : 1, $passes, $n);
}

# The hostile chain of $len ids for partitions of $part cells. Id j (from 1) is found pure in
# partition a(j) = 2, 1, 0, 2, ... : in the cell it shares with id j - 1 (id 1: alone), which
# peeling id j - 1 leaves to it alone; its cell in partition a(j + 1) is shared with id j + 1 only
# (so peeling it frees id j + 1, at a lower index whenever a(j + 1) < a(j): a new pass); its third
# cell is its partition's sink, shared with a third of the chain (never pure before its turn but
# near the end). The last id has two sink cells. Each id is found by inverting the hash of the
# cell it must share.
sub hostile_chain
{
	my ($part, $len) = @_;
	my @sink = ($part - 1) x 3;
	my @used = map { +{ $part - 1 => 1 } } 0 .. 2;
	my $a = sub { return (3 - $_[0] % 3) % 3; };
	my ($release, @ids);
	for my $j (1 .. $len)
	{
		my %want = ($a->($j - 1) => $sink[ $a->($j - 1) ]);    # undef: a fresh cell
		$want{ $a->($j) } = $j == 1 ? undef : $release;
		$want{ $a->($j + 1) } = $j == $len ? $sink[ $a->($j + 1) ] : undef;
		my ($pin) = grep { defined $want{$_} } ($a->($j), $a->($j - 1));
		my $id;
		for (my $t = 1;; $t++)
		{
			die "no id for step $j" if $t > 1_000_000;
			$id = xxh3_8_inverse($want{$pin} + $part * $t, $pin + 1);
			last unless grep {
				my $p = xxh3_8($id, $_ + 1) % $part;
				defined $want{$_} ? $p != $want{$_} : $used[$_]{$p}
			} 0 .. 2;
		}
		for my $k (0 .. 2)
		{
			$used[$k]{ xxh3_8($id, $k + 1) % $part } = 1 unless defined $want{$k};
		}
		$release = xxh3_8($id, $a->($j + 1) + 1) % $part;
		push @ids, $id;
	}
	return @ids;
}

# --- the two nodes: p1 holds 39 records of 'hostile' and 39 of 'plain' in one leaf each; c1 has
# neither log's segment, so its table of that leaf is empty and the difference is minus p1's ---
my $N = 39;
for my $n ($c1, $p1)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION IF NOT EXISTS tieredlog;
		SELECT tieredlog.create_log('hostile', '1 hour'); SELECT tieredlog.create_log('plain', '1 hour');});
}
for my $log (qw(hostile plain))
{
	$p1->safe_psql('postgres', "SELECT tieredlog.append_many('$log', array_agg('k' || i ORDER BY i),
		array_agg(jsonb_build_object('i', i, 'log', '$log') ORDER BY i), NULL,
		array_agg(timestamptz '2024-01-01 00:10:00+00' + i * interval '1 millisecond' ORDER BY i))
	  FROM generate_series(1, $N) i");
}
tl_add_peer($c1, $p1);
q1("SELECT tieredlog.set_peer_enabled('p1', false)");
my $range_start = $p1->safe_psql('postgres', "SELECT range_start FROM tieredlog.segments WHERE log_name = 'plain'");
my $leaf = $p1->safe_psql('postgres', "SELECT floor(extract(epoch FROM timestamptz '2024-01-01 00:10:00.039+00' - range_start) * 256 / 3600)
	|| ' ' || floor(extract(epoch FROM timestamptz '2024-01-01 00:10:00.001+00' - range_start) * 256 / 3600)
	FROM tieredlog.segments WHERE log_name = 'plain'");
like($leaf, qr/^(\d+) \1$/, "p1's records of each log are in one leaf ($leaf)");
$leaf =~ s/ .*//;
my $cells = 3 * ($N + 1);    # tl_iblt_cells_for(39)

# the Perl model against p1's real table of the leaf (salt 12345)
my $real = $p1->safe_psql('postgres', "SELECT encode(tieredlog._ae_iblt('plain', '$range_start', ARRAY[$leaf], ARRAY[$cells], 12345), 'hex')
	|| ' ' || encode(tieredlog._ae_ids('plain', '$range_start', ARRAY[$leaf], 12345), 'hex')");
my ($real_table, $real_ids) = map { pack('H*', $_) } split / /, $real;
my $model = iblt_new($cells);
iblt_add($model, $cells / 3, $_, 1) for unpack('Q>*', $real_ids);
ok(length($real_ids) == 8 * $N && iblt_bytes($model) eq $real_table,
	"the Perl model of iblt.c gives p1's real table of the leaf ($N ids, $cells cells)");
my $minus_real = iblt_from_bytes($real_table);
$_->[0] = -$_->[0] for @$minus_real;
my ($real_ok, $real_passes, $real_n) = iblt_peel($minus_real, 64);
ok($real_ok && $real_n == $N, "and the model decodes it ($real_passes passes)");

# the hostile tables: 105 ids in the first round's table, and in the second round's (4 x larger)
my %hostile;
for my $m ($cells, 4 * $cells)
{
	my @ids = hostile_chain($m / 3, 105);
	my $t = iblt_new($m);
	iblt_add($t, $m / 3, $_, 1) for @ids;    # p1 claims to hold them
	$hostile{$m} = iblt_bytes($t);
	my @free = map { [ -$_->[0], $_->[1], $_->[2] ] } @$t;    # c1's view: its empty table minus p1's
	my ($ok, $passes, $n) = iblt_peel([ map { [@$_] } @free ], undef);
	ok($ok && $n == 105 && $passes > 65,
		"$m cells: the chain decodes completely given enough passes ($passes passes for $n ids)");
	is(join(' ', (iblt_peel(\@free, 64))[0, 1]), '0 65', "$m cells: past 64 passes it counts as not decoding");
}

# p1 turns hostile: its _ae_iblt answers the tables above for 'hostile'; both that and _ae_ids
# (the real ones otherwise) say in p1's log that they were called
$p1->safe_psql('postgres', "CREATE TABLE public.hostile_tables (cells integer PRIMARY KEY, data bytea NOT NULL);
	INSERT INTO public.hostile_tables VALUES "
	  . join(', ', map { "($_, '\\x" . unpack('H*', $hostile{$_}) . "')" } sort keys %hostile));
$p1->safe_psql('postgres', q{
ALTER FUNCTION tieredlog._ae_iblt(text, timestamptz, integer[], integer[], bigint) RENAME TO _ae_iblt_real;
ALTER FUNCTION tieredlog._ae_ids(text, timestamptz, integer[], bigint) RENAME TO _ae_ids_real;
CREATE FUNCTION tieredlog._ae_iblt(log_name text, range_start timestamptz, leaves integer[], cells integer[], salt bigint)
	RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
	RAISE LOG 'fake peer: _ae_iblt(%, leaves %, cells %)', log_name, leaves, cells;
	IF log_name = 'hostile' THEN
		RETURN (SELECT h.data FROM public.hostile_tables h WHERE h.cells = _ae_iblt.cells[1] AND cardinality(_ae_iblt.cells) = 1);
	END IF;
	RETURN tieredlog._ae_iblt_real(log_name, range_start, leaves, cells, salt);
END $$;
CREATE FUNCTION tieredlog._ae_ids(log_name text, range_start timestamptz, leaves integer[], salt bigint)
	RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
	RAISE LOG 'fake peer: _ae_ids(%, leaves %)', log_name, leaves;
	RETURN tieredlog._ae_ids_real(log_name, range_start, leaves, salt);
END $$;
});

my $contents = "SELECT count(*) || ' ' || md5(string_agg(key || ' ' || payload::text || ' ' || ts || ' ' || origin || ' ' || seq || ' ' || rid, E'\\n' ORDER BY ts, origin, seq)) FROM tieredlog.read('%s')";
my $outcome = "SELECT string_agg(status || ' ' || records_received || ' ' || records_sent || ' ' || leaves_differing, ',') FROM tieredlog.reconcile('%s', 'p1')";

my $offset = -s $p1->logfile;
($rc, $out, $err) = $c1->psql('postgres', sprintf($outcome, 'hostile'), extra_params => ['-v', 'VERBOSITY=verbose']);
is("$rc $out", "0 repaired $N 0 1", "hostile: reconcile() repairs the leaf: $N records received") or diag($err);
my $plog = slurp_file($p1->logfile, $offset);
my @calls = $plog =~ /fake peer: (_ae_\w+\(hostile, leaves \{\d+\}(?:, cells \{\d+\})?\))/g;
is(join(' ', @calls), "_ae_iblt(hostile, leaves {$leaf}, cells {$cells}) _ae_iblt(hostile, leaves {$leaf}, cells {" . (4 * $cells)
	  . "}) _ae_ids(hostile, leaves {$leaf})",
	'hostile: c1 refused the table, then the one four times larger, and fell back to the ids');
is(q1(sprintf($contents, 'hostile')), $p1->safe_psql('postgres', sprintf($contents, 'hostile')),
	"hostile: c1 now holds p1's records, every one once");

$offset = -s $p1->logfile;
($rc, $out, $err) = $c1->psql('postgres', sprintf($outcome, 'plain'), extra_params => ['-v', 'VERBOSITY=verbose']);
is("$rc $out", "0 repaired $N 0 1", "plain: reconcile() repairs the leaf: $N records received") or diag($err);
$plog = slurp_file($p1->logfile, $offset);
@calls = $plog =~ /fake peer: (_ae_\w+\(plain, leaves \{\d+\}(?:, cells \{\d+\})?\))/g;
is(join(' ', @calls), "_ae_iblt(plain, leaves {$leaf}, cells {$cells})",
	'plain: a real table of the same size decodes from the first round (no larger one, no ids)');
is(q1(sprintf($contents, 'plain')), $p1->safe_psql('postgres', sprintf($contents, 'plain')),
	"plain: c1 now holds p1's records, every one once");

is(q1("SELECT string_agg(DISTINCT status, ',') FROM unnest(ARRAY['hostile', 'plain']) l, tieredlog.reconcile(l, 'p1')"), 'in_sync',
	'afterwards every segment of both logs is in sync');
is(q1('SELECT pg_postmaster_start_time()') . ' ' . $p1->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	"$start_c1 $start_p1", 'neither server restarted');
for my $n ($c1, $p1)
{
	unlike(slurp_file($n->logfile), qr/terminated by signal|was terminated by exception|TRAP:/, $n->name . ': no backend crashed');
}

$c1->stop;
$p1->stop;
done_testing();
