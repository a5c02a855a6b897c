# read() of a tier 2 segment rebuilds only the columns the query uses (issue 21 item 2): a query
# that reads neither the payload nor the rid (count(*), keys and timestamps) gets rows decoded
# without their payloads, and no rid is hashed; every other query gets every column.
#
# Which columns a query uses is read from its plan (src/log/read_cols.c). A mistake there would
# return NULL where a query reads a value, so the same battery of queries (aggregates, filters,
# sorts, joins, subqueries, CTEs, window functions, grouping sets, whole-row references,
# ORDINALITY, ROWS FROM, LATERAL, plpgsql loops, CREATE TABLE AS, cursors) is run with the segment
# in tier 0 and in tier 2 and must give the same answers. That the payloads really are skipped is
# seen in the access statistics: read() counts the bytes of the rows it returns (_stat_live), and a
# count(*) of the tier 2 segment returns rows without payloads, a count(payload) with them. A
# damaged frame is data_corrupted on the slim path too, and as an unprivileged reader. The payloads
# hold md5 hex strings and uuids (rebuilt without an escape scan) and strings with a character to
# escape at every position of an eight-byte word (scanned a word at a time), so the rids of tier 2,
# recomputed from the rebuilt text, are checked against tier 0's too. Last, the whole read's arena
# (memory mapped outside palloc): 40 reads failing on a damaged frame leave the backend's address
# space as it was, and a mapping refused under a capped address space is out of memory (53200).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $node = tl_node('a1');
sub q1 { return $node->safe_psql('postgres', $_[0]); }

q1('CREATE EXTENSION tieredlog');
q1(q{
SELECT tieredlog.create_log('ev', '1 hour');
SELECT tieredlog.append_many('ev',
	array_agg(CASE WHEN i % 1000 = 7 THEN 'solo-' || i ELSE 'k' || (i % 997) END ORDER BY i),
	array_agg(jsonb_build_object('i', i, 'txt', 'row "' || i || '" é', 'hex', md5(i::text),
		'nested', jsonb_build_object('a', i % 3, 'arr', ARRAY[i, i + 1]), 'f', i / 8.0,
		'u', '00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'),
		'esc', repeat('a', i % 19) || CASE i % 4 WHEN 0 THEN '\\' WHEN 1 THEN E'\t' WHEN 2 THEN '"' ELSE 'z' END
			|| repeat('é', i % 6)) ORDER BY i),
	array_agg(CASE WHEN i % 4 = 0 THEN 'src' || (i % 3) END ORDER BY i),
	array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '250 milliseconds' ORDER BY i))
  FROM generate_series(1, 12000) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'ev';
CREATE FUNCTION loop_payloads() RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record; n bigint := 0; h text := ''; BEGIN
	FOR r IN SELECT * FROM tieredlog.read('ev') LOOP
		IF r.payload IS NOT NULL THEN n := n + 1; END IF;
		h := md5(h || r.rid);
	END LOOP;
	RETURN n || ' ' || h;
END $$;
CREATE FUNCTION loop_keys() RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record; n bigint := 0; BEGIN
	FOR r IN SELECT key, ts FROM tieredlog.read('ev') LOOP n := n + length(r.key); END LOOP;
	RETURN n::text;
END $$;
CREATE FUNCTION inlined() RETURNS TABLE(k text, p jsonb) LANGUAGE sql STABLE AS
	$$ SELECT key, payload FROM tieredlog.read('ev') $$;
CREATE ROLE reader LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO reader;
GRANT EXECUTE ON FUNCTION tieredlog.read(text, timestamptz, timestamptz, text) TO reader;
});
my $seg = q1("SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev'");
my $log_id = q1("SELECT log_id FROM tieredlog.logs WHERE log_name = 'ev'");
my $all = "key || payload::text || ts || COALESCE(source, '-') || origin || seq || rid || segment_id";

my @queries = (
	"SELECT count(*) FROM tieredlog.read('ev')",
	"SELECT count(payload), count(rid), count(source), count(key), count(origin), count(ts), count(seq) FROM tieredlog.read('ev')",
	"SELECT md5(string_agg($all, ',')) FROM tieredlog.read('ev')",
	"SELECT md5(string_agg(key || ts || origin || seq || COALESCE(source, '-'), ',')) FROM tieredlog.read('ev')",
	"SELECT md5(string_agg(key || ts, ',')) FROM tieredlog.read('ev', '2024-01-01 00:10:00+00', '2024-01-01 00:20:00+00')",
	"SELECT count(*), sum(length(payload::text)) FROM tieredlog.read('ev', key => 'k1')",
	"SELECT count(*), md5(string_agg(ts::text, ',')) FROM tieredlog.read('ev', key => 'k1')",
	"SELECT count(*) FROM tieredlog.read('ev', key => 'solo-6007')",
	"SELECT count(*) FROM tieredlog.read('ev') WHERE payload IS NOT NULL",
	"SELECT count(*) FROM tieredlog.read('ev') WHERE payload->>'i' = '77'",
	"SELECT count(*) FROM tieredlog.read('ev') WHERE rid IS NULL",
	"SELECT count(*) FROM tieredlog.read('ev') r WHERE r IS NOT NULL",
	"SELECT count(*) FROM tieredlog.read('ev') r WHERE (r).payload IS NOT NULL",
	"SELECT md5(string_agg(regexp_replace(r::text, ',[02]\\)\$', ')'), ',')) FROM tieredlog.read('ev') r",
	"SELECT md5(string_agg((to_jsonb(r) - 'tier')::text, ',')) FROM tieredlog.read('ev') r",
	"SELECT count(*) FILTER (WHERE payload ? 'hex'), count(*) FILTER (WHERE rid > '8') FROM tieredlog.read('ev')",
	"SELECT count(*) FROM (SELECT payload FROM tieredlog.read('ev') OFFSET 0) s WHERE payload IS NOT NULL",
	"SELECT count(*) FROM (SELECT payload FROM tieredlog.read('ev') OFFSET 0) s",
	"WITH c AS MATERIALIZED (SELECT * FROM tieredlog.read('ev')) SELECT count(payload) FROM c",
	"WITH c AS MATERIALIZED (SELECT * FROM tieredlog.read('ev')) SELECT count(*) FROM c",
	"SELECT count(payload) OVER (), rid FROM tieredlog.read('ev') ORDER BY rid LIMIT 1",
	"SELECT payload->>'v' IS NULL, count(*) FROM tieredlog.read('ev') GROUP BY 1",
	"SELECT payload IS NULL, rid IS NULL, count(*) FROM tieredlog.read('ev') GROUP BY ROLLUP (1, 2) ORDER BY 1, 2",
	"SELECT (SELECT count(payload) FROM tieredlog.read('ev'))",
	"SELECT count(x.payload), count(x.rid) FROM (VALUES (1), (2)) v, LATERAL tieredlog.read('ev', key => 'k' || v.column1) x",
	"SELECT count(payload) FROM (SELECT payload FROM tieredlog.read('ev') UNION ALL SELECT payload FROM tieredlog.read('ev')) u",
	"SELECT count(*) FROM (SELECT payload FROM tieredlog.read('ev') UNION SELECT payload FROM tieredlog.read('ev')) u",
	"SELECT count(*) FROM (SELECT DISTINCT payload FROM tieredlog.read('ev')) d",
	"SELECT count(*) FROM (SELECT DISTINCT rid FROM tieredlog.read('ev')) d",
	"SELECT count(*) FROM tieredlog.read('ev') a JOIN tieredlog.read('ev') b USING (rid)",
	"SELECT count(*) FROM tieredlog.read('ev') a JOIN tieredlog.read('ev') b ON a.origin = b.origin AND a.seq = b.seq WHERE a.payload = b.payload",
	"SELECT count(b.payload) FROM tieredlog.read('ev') a JOIN tieredlog.read('ev') b ON a.origin = b.origin AND a.seq = b.seq",
	"SELECT /* nested loop */ count(b.payload) FROM (SELECT * FROM tieredlog.read('ev') LIMIT 3) a, LATERAL (SELECT * FROM tieredlog.read('ev', key => a.key)) b",
	"SELECT count(*) FROM tieredlog.read('ev') a WHERE EXISTS (SELECT 1 FROM tieredlog.read('ev', key => 'k1') b WHERE b.payload = a.payload)",
	"SELECT payload::text FROM tieredlog.read('ev') ORDER BY payload::text LIMIT 1",
	"SELECT rid FROM tieredlog.read('ev') ORDER BY ts DESC, origin, seq LIMIT 1",
	"SELECT md5(string_agg(payload::text, ',' ORDER BY o)) FROM tieredlog.read('ev') WITH ORDINALITY AS r(key, payload, ts, source, origin, seq, rid, segment_id, tier, o)",
	"SELECT count(payload), count(g) FROM ROWS FROM (tieredlog.read('ev'), generate_series(1, 3)) AS r(key, payload, ts, source, origin, seq, rid, segment_id, tier, g)",
	"SELECT count(p), md5(string_agg(p::text, ',')) FROM inlined()",
	"SELECT count(*) FROM inlined()",
	"SELECT loop_payloads()",
	"SELECT loop_keys()",
	"SELECT count(*) FROM tieredlog.read('ev') WHERE key = 'k1' AND payload->>'i' = '1'",
	"SELECT max(ts), min(seq) FROM tieredlog.read('ev')",
	"SELECT count(*) FROM (SELECT * FROM tieredlog.read('ev') LIMIT 10) s WHERE payload IS NOT NULL",
	"CREATE TEMP TABLE t AS SELECT * FROM tieredlog.read('ev'); SELECT count(payload), count(rid) FROM t",
	"BEGIN; DECLARE c CURSOR FOR SELECT payload, rid FROM tieredlog.read('ev'); FETCH 2 FROM c; COMMIT",
);
# Plan shapes whose nodes name the columns they compare by position (read_cols.c): a Group and a
# Unique over a sort of the payload, a MergeAppend of two sorted reads. Each is checked to get that
# plan (the EXPLAIN) and, in the battery, to answer as tier 0 did.
my %shaped = (
	'Group' => "SET enable_hashagg = off; SELECT md5(string_agg(k || ':' || n, ',')) FROM (SELECT payload->>'i' AS k, count(*)::text AS n FROM tieredlog.read('ev') GROUP BY 1) g",
	'Unique' => "SET enable_hashagg = off; SELECT count(*), md5(string_agg(p::text, ',')) FROM (SELECT DISTINCT payload AS p FROM tieredlog.read('ev')) d",
	'Merge Append' => "SET enable_hashagg = off; SELECT md5(string_agg(p, ',')) FROM ((SELECT payload::text AS p FROM tieredlog.read('ev') ORDER BY 1) UNION ALL (SELECT payload::text FROM tieredlog.read('ev', key => 'k1') ORDER BY 1) ORDER BY 1 LIMIT 50) u",
);
push @queries, sort values %shaped;
sub battery
{
	my %r;
	$r{$_} = q1($_) for @queries;
	return \%r;
}
my $tier0 = battery();
is($tier0->{"SELECT count(*) FROM tieredlog.read('ev')"}, '12000', 'tier 0: the log has its records');
for my $node_name (sort keys %shaped)
{
	(my $explain = $shaped{$node_name}) =~ s/; SELECT /; EXPLAIN (COSTS OFF) SELECT /;
	like(q1($explain), qr/\b$node_name\b/, "the plan has a $node_name node: $shaped{$node_name}");
}

# bytes_read that read() counted for the segment during one query
sub read_bytes
{
	my ($query) = @_;
	my $before = q1("SELECT COALESCE(sum(bytes_read), 0) FROM tieredlog._stat_live() WHERE segment_id = $seg");
	q1($query);
	return q1("SELECT COALESCE(sum(bytes_read), 0) FROM tieredlog._stat_live() WHERE segment_id = $seg") - $before;
}
my $t0_count = read_bytes("SELECT count(*) FROM tieredlog.read('ev')");
my $t0_payload = read_bytes("SELECT count(payload) FROM tieredlog.read('ev')");
cmp_ok($t0_count, '>', 0, "tier 0: a count(*) counts the bytes it read ($t0_count)");
is($t0_count, $t0_payload, 'tier 0: a count(*) reads whole rows, as a count(payload) does');

q1("SELECT tieredlog.move_segment($seg, 2)");
q1("SELECT tieredlog.sweep()");
is(q1("SELECT tier FROM tieredlog.segments WHERE segment_id = $seg"), '2', 'the segment is in tier 2');
cmp_ok(q1("SELECT count(*) FROM tieredlog.segment_frames($seg)"), '>=', 3, 'in several frames');

my $tier2 = battery();
for my $q (@queries)
{
	is($tier2->{$q}, $tier0->{$q}, "tier 2 answers as tier 0: $q");
}

my $t2_count = read_bytes("SELECT count(*) FROM tieredlog.read('ev')");
my $t2_payload = read_bytes("SELECT count(payload) FROM tieredlog.read('ev')");
my $t2_rid = read_bytes("SELECT count(rid) FROM tieredlog.read('ev')");
my $t2_keys = read_bytes("SELECT count(*) FROM tieredlog.read('ev') WHERE key LIKE 'k1%'");
my $t2_star = read_bytes("SELECT count(*) FROM (SELECT * FROM tieredlog.read('ev') OFFSET 0) s");
cmp_ok($t2_count * 3, '<', $t2_payload,
	"tier 2: a count(*) returns rows without payloads ($t2_count bytes against $t2_payload for count(payload))");
is($t2_rid, $t2_payload, 'a count(rid) gets the payloads too (the rid is hashed over them)');
is($t2_keys, $t2_count, 'a filter on keys needs no payload');
is($t2_star, $t2_count, 'a subquery of every column under a count(*) needs none of them either');
my $t2_cte = read_bytes("WITH c AS MATERIALIZED (SELECT * FROM tieredlog.read('ev')) SELECT count(*) FROM c");
is($t2_cte, $t2_payload, 'a materialized CTE of every column gets them all (its plan is not followed)');
my $t2_key = read_bytes("SELECT count(*) FROM tieredlog.read('ev', key => 'k1')");
my $t2_key_p = read_bytes("SELECT count(payload) FROM tieredlog.read('ev', key => 'k1')");
cmp_ok($t2_key * 3, '<', $t2_key_p, "a key read too ($t2_key against $t2_key_p)");

# as an unprivileged role (read() needs no privilege beyond the schema)
is($node->safe_psql('postgres', "SELECT count(*), count(payload) FROM tieredlog.read('ev') WHERE payload IS NULL",
	extra_params => ['-U', 'reader']), '0|0', 'an unprivileged reader: no row without its payload');
is($node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')", extra_params => ['-U', 'reader']),
	'12000', 'an unprivileged reader: count(*)');

# a damaged frame is found on the slim path too
q1("CREATE TABLE keep AS SELECT * FROM tieredlog_data.archive_$log_id WHERE segment_id = $seg AND frame_no = 1");
q1("UPDATE tieredlog_data.archive_$log_id SET data = overlay(data placing '\\xdeadbeef'::bytea from 100)
	WHERE segment_id = $seg AND frame_no = 1");
for my $q ("SELECT count(*) FROM tieredlog.read('ev')", "SELECT count(payload) FROM tieredlog.read('ev')",
	"SELECT max(ts) FROM tieredlog.read('ev', '2024-01-01 00:10:00+00', '2024-01-01 00:20:00+00')")
{
	my ($rc, $out, $err) = $node->psql('postgres', $q, extra_params => ['-v', 'VERBOSITY=verbose']);
	like($err, qr/XX001.*archive frame 1 of segment $seg is corrupted/s, "a damaged frame: data_corrupted ($q)");
}
q1("UPDATE tieredlog_data.archive_$log_id SET raw_len = raw_len + 1 WHERE segment_id = $seg AND frame_no = 0");
my ($rc, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/XX001.*archive frame . of segment $seg is corrupted/s, 'a wrong raw_len: data_corrupted on the slim path');
q1("UPDATE tieredlog_data.archive_$log_id SET raw_len = raw_len - 1 WHERE segment_id = $seg AND frame_no = 0");
q1("UPDATE tieredlog_data.archive_$log_id a SET data = k.data FROM keep k WHERE a.segment_id = $seg AND a.frame_no = 1");
is(q1("SELECT count(*) FROM tieredlog.read('ev')"), '12000', 'repaired, the log reads again');
is_deeply(battery(), $tier0, 'and the whole battery answers as tier 0 again');

# ---- the merge's arena (src/core/arena.c): given back after an error; a refused mapping is an error
# One session; its backend's address space (VmSize) is read from /proc between statements. The
# whole read's merge maps its memory (a few MB for these 12 000 records) outside palloc, so only the
# arena's reset callback unmaps it: 40 reads that fail on a damaged frame after the merge began must
# leave the address space where it was, give or take allocator noise (a leak would be 40 mappings).
sub session_script
{
	my ($body) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT pg_backend_pid() AS pid \\gset\n\\setenv TL_PID :pid\n$body",
		on_error_stop => 0, extra_params => ['-v', 'VERBOSITY=verbose']);
	return ($out, $err);
}
my $vmsize = q{\! awk '/^VmSize/ {print "vmsize", $2}' /proc/$TL_PID/status};
my $whole = "SELECT count(payload) FROM tieredlog.read('ev');";
q1("CREATE TABLE keep5 AS SELECT * FROM tieredlog_data.archive_$log_id WHERE segment_id = $seg AND frame_no = 5");
q1("UPDATE tieredlog_data.archive_$log_id SET data = overlay(data placing '\\xdeadbeef'::bytea from 100)
	WHERE segment_id = $seg AND frame_no = 5");
my ($out2, $err2) = session_script(join("\n", "SELECT count(*) FROM tieredlog.read('ev', key => 'k1');", $vmsize,
	($whole) x 40, $vmsize));
my @vm = $out2 =~ /^vmsize (\d+)$/mg;
is(scalar(() = $err2 =~ /XX001.*?archive frame 5 of segment $seg is corrupted/sg), 40,
	'40 whole reads of the damaged segment fail');
ok(@vm == 2 && $vm[1] - $vm[0] < 16 * 1024,
	'and leave the backend\'s address space as it was (VmSize kB: ' . join(' -> ', @vm) . ')');

# A caller that catches each segment's error and goes on (check_digests(), as the digest rebuild
# after a crash) must not keep each failed scan's memory until it ends: one check_digests() over
# 20 tier 2 segments, each with a damaged frame, peaks (VmPeak) no higher than one scan's memory
# and 16 MB more, where keeping them would be 20 times 4 MB or more. (check_digests() needs no
# order: it reads frame by frame, each scan with a 4 MB frame context; a read() that merges holds
# an arena's mapping instead, the 40 reads above.)
q1(q{
SELECT tieredlog.create_log('many', '1 minute');
SELECT tieredlog.append_many('many', array_agg('k' || (i % 101) ORDER BY i),
	array_agg(jsonb_build_object('i', i, 'hex', md5(i::text), 'pad', repeat('x', 200)) ORDER BY i), NULL,
	array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '150 milliseconds' ORDER BY i))
  FROM generate_series(0, 7999) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'many';
SELECT tieredlog.move_segment(segment_id, 2) FROM tieredlog.segments WHERE log_name = 'many';
SELECT tieredlog.sweep();
});
my $many_id = q1("SELECT log_id FROM tieredlog.logs WHERE log_name = 'many'");
is(q1("SELECT count(*) || ' ' || min(tier) || ' ' || (min(n) >= 3) FROM tieredlog.segments s,
	LATERAL (SELECT count(*) AS n FROM tieredlog.segment_frames(s.segment_id)) f WHERE log_name = 'many'"), '20 2 true',
	'20 tier 2 segments of several frames each');
q1("CREATE TABLE keep_many AS SELECT * FROM tieredlog_data.archive_$many_id WHERE frame_no = 1");
q1("UPDATE tieredlog_data.archive_$many_id SET data = overlay(data placing '\\xdeadbeef'::bytea from 100) WHERE frame_no = 1");
my $vmpeak = q{\! awk '/^VmPeak/ {print "vmpeak", $2}' /proc/$TL_PID/status};
my ($out4, $err4) = session_script(join("\n", "SELECT count(*) FROM tieredlog.read('ev', key => 'k1');", $vmpeak,
	"SELECT 'damaged', count(*) FILTER (WHERE NOT ok AND recomputed LIKE 'error: %is corrupted%') FROM tieredlog.check_digests('many');",
	$vmpeak));
like($out4, qr/^damaged\|20$/m, 'check_digests() reports each of the 20 damaged segments');
my @p = $out4 =~ /^vmpeak (\d+)$/mg;
ok(@p == 2 && $p[1] - $p[0] < 16 * 1024,
	'and its 20 failed scans held no more than one at a time (VmPeak kB: ' . join(' -> ', @p) . ')');
q1("UPDATE tieredlog_data.archive_$many_id a SET data = k.data FROM keep_many k
	WHERE a.segment_id = k.segment_id AND a.attempt = k.attempt AND a.frame_no = 1");
is(q1("SELECT bool_and(ok) FROM tieredlog.check_digests('many')"), 't', 'repaired, every segment checks');
q1("UPDATE tieredlog_data.archive_$log_id a SET data = k.data FROM keep5 k WHERE a.segment_id = $seg AND a.frame_no = 5");

# The same session with its address space capped (a soft RLIMIT_AS a little above what it uses,
# set with prlimit): the merge's mapping is refused, which is "out of memory" (53200), not a crash;
# with the cap lifted the same session reads the segment.
SKIP:
{
	skip 'prlimit (util-linux) is not installed', 4 unless system('prlimit --version >/dev/null 2>&1') == 0;
	my ($out3, $err3) = session_script(join("\n",
		"SELECT count(*) FROM tieredlog.read('ev', key => 'k1');",
		q{\! prlimit --pid $TL_PID --as=$(awk '/^VmSize/ {print ($2 + 512) * 1024}' /proc/$TL_PID/status):unlimited && echo capped},
		$whole,
		q{\! prlimit --pid $TL_PID --as=unlimited:unlimited && echo uncapped},
		$whole));
	like($out3, qr/^capped$/m, 'the session\'s address space was capped');
	like($err3, qr/ERROR:\s+53200: out of memory\s+DETAIL:\s+Failed on a request of \d+ bytes: .*LOCATION:\s+arena_add_region/s,
		'a whole read whose arena cannot be mapped: out of memory (53200)');
	like($out3, qr/^uncapped\n12000$/m, 'with the cap lifted, the same session reads every record');
	is($node->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')"), '12000', 'and the server did not restart');
}

done_testing();
