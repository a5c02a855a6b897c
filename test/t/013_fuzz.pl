# Fuzzing the decoders of outside bytes: archive frames (tl_frame_decode, through
# tieredlog._frame_decode), record batches (tieredlog._ae_store) and stream messages
# (tl_wire_get_record, through tieredlog._wire_decode), with a deterministic mutator that runs
# inside the server.
#
# The corpus is real: a populated log's records fetched as reconciliation batches
# (tieredlog._ae_ids + _ae_fetch), their frames uncompressed (_frame_raw), and the messages the
# output plugin streams for the same appends (pg_logical_slot_peek_binary_changes). Mutated
# frames are decoded directly and, packed into a batch again (_batch_pack), through _ae_store;
# batches are also mutated as they are (their headers). Each input is
# a corpus entry with 1 to 4 stacked mutations (bit flip, random byte, insertion, deletion,
# boundary integer, copy of a region, splice with another entry), seeded with setseed() so that a
# run is reproducible; every input is decoded inside an exception block. The run is cut into
# chunks of about 10 seconds, one transaction each; after every chunk the server must be the
# same (same postmaster start time, no backend terminated by a signal, a working connection).
#
# TL_FUZZ_SECONDS sets the length of the run (default 120). A longer run, e.g. 10 minutes:
#   TL_FUZZ_SECONDS=600 TL_PG_ROOT=/opt/pg-h2 scripts/test.sh tap t/013_fuzz.pl
# TL_FUZZ_SEED changes the seeds (default 1). A chunk that crashed is replayed with
# SELECT fz.run(<seed>, <seconds>, true), which logs every input (hex) before decoding it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use TlCluster;

my $seconds = $ENV{TL_FUZZ_SECONDS} // 120;
my $seed0 = $ENV{TL_FUZZ_SEED} // 1;
my $chunk = 10;
my $trace = $ENV{TL_FUZZ_TRACE} ? 'true' : 'false';	# log every input (replaying a crash)

my $node = tl_node('fz1');
$node->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
SELECT 'init' FROM pg_create_logical_replication_slot('fz', 'tieredlog');
SELECT tieredlog.create_log('fz', '1 hour');
-- payloads of every shape the frame writer knows: integers, numbers, strings, hex, uuids,
-- nested objects, arrays, scalars at the root, sparse keys, sources, unicode
SELECT tieredlog.append_many('fz',
		array_agg('k' || (i % 13) || CASE WHEN i % 7 = 0 THEN '/é' ELSE '' END),
		array_agg(CASE i % 10
			WHEN 0 THEN to_jsonb(i)
			WHEN 1 THEN jsonb_build_array(i, 'x', NULL, jsonb_build_object('a', i))
			WHEN 2 THEN to_jsonb('text ' || i || ' "q" \ é ü')
			ELSE jsonb_build_object('i', i, 'neg', -i, 'f', i / 7.0, 'big', 12345678901234567890 + i,
				'hex', md5(i::text), 'uuid', ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0')),
				'txt', 'row ' || i, 'b', i % 2 = 0, 'n', NULL,
				'nested', jsonb_build_object('a', i % 3, 'deep', jsonb_build_object('x', ARRAY[i, i + 1])),
				'k' || (i % 5), i, 'scaled', 1.50, 'e', 1e-20)
			END),
		array_agg(CASE WHEN i % 3 = 0 THEN 'src' || (i % 4) END),
		array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '7 seconds'))
  FROM generate_series(1, 600) i;
SELECT tieredlog.append('fz', 'deep', (repeat('{"a": ', 300) || '1' || repeat('}', 300))::jsonb, NULL,
						'2024-01-01 00:30:00+00');

CREATE SCHEMA fz;
CREATE TABLE fz.corpus (id serial, kind text, data bytea);
INSERT INTO fz.corpus (kind, data)
  SELECT 'wire', data FROM pg_logical_slot_peek_binary_changes('fz', NULL, NULL, 'proto_version', '1')
  UNION ALL	-- version 2: payloads as jsonb's binary container
  SELECT 'wire', data FROM pg_logical_slot_peek_binary_changes('fz', NULL, NULL, 'proto_version', '2');
-- record batches: all leaves of each segment, and single leaves (small batches)
INSERT INTO fz.corpus (kind, data)
  SELECT 'batch', tieredlog._ae_fetch('fz', s.range_start, l.leaves, 7,
									  tieredlog._ae_ids('fz', s.range_start, l.leaves, 7))
	FROM tieredlog.segments s,
		 (SELECT array_agg(g) AS leaves FROM generate_series(0, 255) g
		  UNION ALL SELECT ARRAY[g] FROM generate_series(0, 255, 37) g) l
   WHERE s.log_name = 'fz';
DELETE FROM fz.corpus WHERE kind = 'batch' AND length(data) < 40;
INSERT INTO fz.corpus (kind, data)
  SELECT 'frame', f FROM fz.corpus c, unnest(tieredlog._frame_raw(c.data)) f WHERE c.kind = 'batch';
-- key filters (frame directory entries of an archived segment)
SELECT tieredlog.create_log('fzk', '1 hour');
SELECT tieredlog.append_many('fzk', array_agg('key' || (i % 1500) ORDER BY i), array_agg(jsonb_build_object('i', i) ORDER BY i),
		NULL, array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' ORDER BY i))
  FROM generate_series(1, 9000) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'fzk';
SELECT tieredlog.move_segment(segment_id, 2) FROM tieredlog.segments WHERE log_name = 'fzk';
-- (frames hold key ranges: each filter is checked below against its frame's least key)
CREATE TABLE fz.filter_key (data bytea, key text);
DO $$ BEGIN
	EXECUTE format('INSERT INTO fz.filter_key SELECT key_filter, min_key FROM tieredlog_data.archive_%s WHERE frame_no >= 0',
				   (SELECT log_id FROM tieredlog.logs WHERE log_name = 'fzk'));
END $$;
INSERT INTO fz.corpus (kind, data) SELECT 'filter', data FROM fz.filter_key;
-- archive frames as tier 2 stores them (TLF2, the time column predicted from the seq), uncompressed
DO $$ BEGIN
	EXECUTE format('INSERT INTO fz.corpus (kind, data) SELECT %L, tieredlog._archive_frame_raw(segment_id, frame_no)
		FROM tieredlog_data.archive_%s WHERE frame_no >= 0 AND frame_no %% 8 = 0',
				   'frame', (SELECT log_id FROM tieredlog.logs WHERE log_name = 'fzk'));
END $$;

CREATE FUNCTION fz.rand_bytes(n int) RETURNS bytea LANGUAGE sql AS
$$ SELECT coalesce(string_agg(set_byte('\x00'::bytea, 0, floor(random() * 256)::int), ''), '') FROM generate_series(1, n) $$;

-- one mutation of b (other: another corpus entry, for splices)
CREATE FUNCTION fz.mutate(b bytea, other bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	n int := length(b);
	pos int;
	len int;
	src int;
	boundary bytea[] := ARRAY['\x00', '\x01', '\x7f', '\x80', '\xff', '\xff7f', '\x808080808001',
		'\xffffffffffffffffff01', '\xffffffffffffffffffffff', '\x7fffffff', '\x80000000', '\xffffffff',
		'\x00000000', '\x7fffffffffffffff', '\x8000000000000000', '\xffffffffffffffff', '\x0000000000000000',
		'\x3fffffff', '\x00100000', '\x0a', '\x09', '\x05']::bytea[];
BEGIN
	IF n = 0 THEN
		RETURN fz.rand_bytes(1 + floor(random() * 8)::int);
	END IF;
	pos := floor(random() * n)::int;
	CASE floor(random() * 7)::int
		WHEN 0 THEN
			RETURN set_byte(b, pos, get_byte(b, pos) # (1 << floor(random() * 8)::int));
		WHEN 1 THEN
			RETURN set_byte(b, pos, floor(random() * 256)::int);
		WHEN 2 THEN
			RETURN substring(b FROM 1 FOR pos) || fz.rand_bytes(1 + floor(random() * 8)::int)
				|| substring(b FROM pos + 1);
		WHEN 3 THEN
			len := 1 + floor(random() * least(32, n - pos))::int;
			RETURN substring(b FROM 1 FOR pos) || substring(b FROM pos + 1 + len);
		WHEN 4 THEN
			src := 1 + floor(random() * array_length(boundary, 1))::int;
			RETURN substring(b FROM 1 FOR pos) || boundary[src]
				|| substring(b FROM pos + 1 + CASE WHEN random() < 0.5 THEN length(boundary[src]) ELSE 0 END);
		WHEN 5 THEN
			src := floor(random() * n)::int;
			len := 1 + floor(random() * least(64, n - src))::int;
			RETURN substring(b FROM 1 FOR pos) || substring(b FROM src + 1 FOR len) || substring(b FROM pos + 1);
		ELSE
			IF other IS NULL OR length(other) = 0 THEN
				RETURN b;
			END IF;
			src := floor(random() * length(other))::int;
			RETURN substring(b FROM 1 FOR pos) || substring(other FROM src + 1)
				|| CASE WHEN random() < 0.5 THEN substring(b FROM pos + 1 + floor(random() * (n - pos))::int) ELSE '' END;
	END CASE;
END $$;

-- Fuzz for about `seconds`, seeded; returns execs, errors (refused inputs) and inputs accepted.
CREATE FUNCTION fz.run(seed float8, seconds float8, trace boolean DEFAULT false,
					   OUT execs bigint, OUT refused bigint, OUT accepted bigint)
LANGUAGE plpgsql AS $$
DECLARE
	frames bytea[] := ARRAY(SELECT data FROM fz.corpus WHERE kind = 'frame' ORDER BY id);
	wires bytea[] := ARRAY(SELECT data FROM fz.corpus WHERE kind = 'wire' ORDER BY id);
	batches bytea[] := ARRAY(SELECT data FROM fz.corpus WHERE kind = 'batch' ORDER BY id);
	filters bytea[] := ARRAY(SELECT data FROM fz.corpus WHERE kind = 'filter' ORDER BY id);
	keys text[] := ARRAY['k0', 'k7/é', 'k12', 'deep', 'key7', 'key1499', 'absent', ''];
	stop timestamptz := clock_timestamp() + seconds * interval '1 second';
	pick float8;
	kind text;
	pool bytea[];
	input bytea;
	other bytea;
BEGIN
	execs := 0; refused := 0; accepted := 0;
	PERFORM setseed(seed);
	WHILE clock_timestamp() < stop LOOP
		pick := random();
		IF pick < 0.25 THEN kind := 'frame'; pool := frames;
		ELSIF pick < 0.40 THEN kind := 'frame_key'; pool := frames;
		ELSIF pick < 0.45 THEN kind := 'filter'; pool := filters;
		ELSIF pick < 0.55 THEN kind := 'packed'; pool := frames;
		ELSIF pick < 0.85 THEN kind := 'wire'; pool := wires;
		ELSE kind := 'batch'; pool := batches;
		END IF;
		input := pool[1 + floor(random() * array_length(pool, 1))::int];
		other := pool[1 + floor(random() * array_length(pool, 1))::int];
		FOR m IN 1 .. 1 + floor(random() * 4)::int LOOP
			input := fz.mutate(input, other);
		END LOOP;
		IF trace THEN
			RAISE LOG 'fuzz % input %: %', kind, execs, input;
		END IF;
		execs := execs + 1;
		BEGIN
			IF kind = 'frame' THEN
				PERFORM tieredlog._frame_decode(input);
			ELSIF kind = 'frame_key' THEN
				PERFORM tieredlog._frame_decode_key(input, keys[1 + floor(random() * array_length(keys, 1))::int]);
			ELSIF kind = 'filter' THEN
				PERFORM tieredlog._key_filter_probe(input, keys[1 + floor(random() * array_length(keys, 1))::int]);
			ELSIF kind = 'packed' THEN
				PERFORM tieredlog._ae_store(tieredlog._batch_pack('fz', 3600000000, input), 'fz1');
			ELSIF kind = 'wire' THEN
				PERFORM tieredlog._wire_decode(input);
			ELSE
				PERFORM tieredlog._ae_store(input, 'fz1');
			END IF;
			accepted := accepted + 1;
		EXCEPTION WHEN OTHERS THEN
			refused := refused + 1;
		END;
	END LOOP;
END $$;
});

my $corpus = $node->safe_psql('postgres',
	"SELECT string_agg(kind || ' ' || n || ' (' || bytes || ' bytes)', ', ' ORDER BY kind) FROM"
	  . " (SELECT kind, count(*) n, sum(length(data)) bytes FROM fz.corpus GROUP BY kind) c");
note("corpus: $corpus");
like($corpus, qr/batch \d+.*filter \d+.*frame \d+.*wire \d+/, 'a corpus of real batches, key filters, frames and stream messages');
# record batches carry TLF1 frames, which builds before TLF2 read (a rolling upgrade)
is($node->safe_psql('postgres', "SELECT count(*) FILTER (WHERE substr(data, 1, 4) = 'TLF1'::bytea) > 0
	AND count(*) FILTER (WHERE substr(data, 1, 4) = 'TLF2'::bytea) > 0
	AND count(*) FILTER (WHERE substr(data, 1, 4) NOT IN ('TLF1'::bytea, 'TLF2'::bytea)) = 0 FROM fz.corpus WHERE kind = 'frame'"), 't',
	'frames of record batches (TLF1, which builds before TLF2 read) and of the archive (TLF2)');

# the corpus itself decodes without error
is($node->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE kind = 'frame' AND tieredlog._frame_decode(data) > 0)
	 + count(*) FILTER (WHERE kind = 'wire' AND tieredlog._wire_decode(data) IS NOT NULL)
	 + count(*) FILTER (WHERE kind = 'frame' AND tieredlog._frame_decode_key(data, 'k12') >= 0)
	 + (SELECT count(*) FROM fz.filter_key WHERE tieredlog._key_filter_probe(data, key))
	 = count(*) FILTER (WHERE kind IN ('frame', 'wire', 'filter')) + count(*) FILTER (WHERE kind = 'frame')
  FROM fz.corpus}), 't', 'every corpus frame, key filter and message decodes (a filter holds its keys)');

my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my ($execs, $refused, $accepted, $crashes) = (0, 0, 0, 0);
my $t0 = time;
my $n = 0;
while (time - $t0 < $seconds)
{
	my $len = $seconds - (time - $t0);
	$len = $chunk if $len > $chunk;
	my $seed = (($seed0 * 7919 + $n) % 100000) / 100000.0;
	my ($out, $err) = ('', '');
	my $rc = eval {
		$node->psql('postgres', "SELECT execs || ' ' || refused || ' ' || accepted FROM fz.run($seed, $len, $trace)",
			stdout => \$out, stderr => \$err, timeout => $len + 120);
	};
	if (!defined $rc || $rc != 0 || $out !~ /^(\d+) (\d+) (\d+)$/)
	{
		$crashes++;
		diag("chunk $n (seed $seed) failed: rc=" . ($rc // 'none') . " $err $@");
		last;
	}
	$execs += $1;
	$refused += $2;
	$accepted += $3;
	$n++;
}
my $elapsed = time - $t0;
my $rate = $elapsed > 0 ? $execs / $elapsed : 0;
my $summary = sprintf('%d execs in %.0f s (%.0f/s), %d refused, %d accepted, %d crashes, %d chunks',
	$execs, $elapsed, $rate, $refused, $accepted, $crashes, $n);
diag("fuzz: $summary");

is($crashes, 0, 'no chunk lost its connection or hung');
ok($execs > 0 && $refused > 0, "inputs were decoded and refused ($summary)");
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $start_time, 'the server never restarted');
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated by exception|PANIC/,
	'no backend crashed');

done_testing();
