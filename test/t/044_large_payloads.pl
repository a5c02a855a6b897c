# Large payloads through every path, end to end, on two nodes that stream from each other.
#
# append_many() once left TOASTed rows (payloads of about 2 kB and up) without a usable index
# entry: heap_multi_insert wrote a new tuple and the index got the stale TID. This sweep looks
# for other bugs of that class. Payloads: small ones mixed with 3 kB compressible (compressed in
# line), 9 kB incompressible (out of line), 300 kB, and ones of exactly tieredlog.max_payload_size
# (1 MB in jsonb form); one byte more is refused (54000) by append() and append_many().
#
# Paths: append() and append_many() on n1 (checked on n1, then on n2 after streaming); records
# written on n2 while n1's apply is paused, and written on both sides while the peers were dropped,
# brought over by reconcile() (and the paused stream replayed afterwards, nothing twice); a
# conflict between large payloads of one key from both nodes (lww and manual; the conflicts view
# shows both payloads, resolve_conflict() decides); seals (verify(), compare_seals()); a segment
# to tier 2 and back, with a late append into its window while it is in tier 2 and a re-archive
# with its late rows (after a reseal); large records restored by reconcile(include_archive) from
# the peer's frames; inclusion proofs of the 1 MB records; scrub() of everything at the end.
#
# After each: every record is found by read(key => ...) with the content the whole read() has,
# latest() finds each key's newest record, every payload is the one appended, the whole read() is
# identical on both nodes (key, payload, ts, source, origin, seq, rid), check_digests() is ok, and
# amcheck passes: bt_index_check(index, true) on every btree index of every relation in
# tieredlog_data and tieredlog (and of their TOAST tables), verify_heapam(check_toast) on the
# tables themselves.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $n1 = tl_node('n1');
my $n2 = tl_node('n2');
my @nodes = ($n1, $n2);
my ($rc, $out, $err);

# mk(i, salt): the payload of record i; its class is i % 10: 0-4 small, 5-6 about 3 kB of
# repeated text (compresses in line), 7-8 about 9 kB of hex digits (pglz gives up: out of line),
# 9 300 kB of hex. mk_max(i, salt, extra): exactly tieredlog.max_payload_size + extra bytes in
# jsonb form (strings only, so no alignment padding moves the size).
for my $n (@nodes)
{
	$n->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
CREATE EXTENSION amcheck;
SELECT tieredlog.create_log('big', '1 hour');
SELECT tieredlog.create_log('bigman', '1 hour', 'manual');
CREATE FUNCTION mk(i int, salt text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
	WHEN i % 10 < 5 THEN jsonb_build_object('i', i::text, 's', salt, 'c', 'small', 'v', md5(salt || i))
	WHEN i % 10 < 7 THEN jsonb_build_object('i', i::text, 's', salt, 'c', 'zip',
		'b', repeat('compressible ' || salt || i || ' ', 3000 / (length(salt || i) + 15)))
	WHEN i % 10 < 9 THEN jsonb_build_object('i', i::text, 's', salt, 'c', 'ext',
		'b', (SELECT string_agg(md5(salt || i || '.' || j), '') FROM generate_series(1, 288) j))
	ELSE jsonb_build_object('i', i::text, 's', salt, 'c', 'huge',
		'b', (SELECT string_agg(md5(salt || i || '.' || j), '') FROM generate_series(1, 9600) j))
END $$;
CREATE FUNCTION mk_max(i int, salt text, extra int) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('i', i::text, 's', salt, 'c', 'max', 'e', extra::text,
	'b', left((SELECT string_agg(md5(salt || i || '.' || j), '') FROM generate_series(1, 32768) j),
			  (SELECT setting::int FROM pg_settings WHERE name = 'tieredlog.max_payload_size') + extra
			  - pg_column_size(jsonb_build_object('i', i::text, 's', salt, 'c', 'max', 'e', extra::text, 'b', ''))))
$$;
-- the payload a record should have, from what it says it is
CREATE FUNCTION expected(p jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT CASE WHEN p->>'c' = 'max' THEN mk_max((p->>'i')::int, p->>'s', (p->>'e')::int)
	ELSE mk((p->>'i')::int, p->>'s') END $$;
-- amcheck over every index (and heap, with its TOAST) of tieredlog's relations: one line per failure
CREATE FUNCTION amcheck_all(OUT checked int, OUT failures text) LANGUAGE plpgsql AS $$
DECLARE
	r record;
	msg text;
BEGIN
	checked := 0;
	failures := '';
	FOR r IN SELECT c.oid::regclass AS idx, t.oid::regclass AS tab FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
		JOIN pg_class t ON t.oid = i.indrelid
		WHERE am.amname = 'btree' AND c.relkind = 'i'
		  AND (t.relnamespace IN ('tieredlog'::regnamespace, 'tieredlog_data'::regnamespace)
			   OR t.oid IN (SELECT reltoastrelid FROM pg_class
							WHERE relnamespace IN ('tieredlog'::regnamespace, 'tieredlog_data'::regnamespace)))
		ORDER BY 1
	LOOP
		BEGIN
			PERFORM bt_index_check(r.idx, true);
			checked := checked + 1;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
			failures := failures || r.idx || ' (of ' || r.tab || '): ' || msg || E'\n';
		END;
	END LOOP;
	FOR r IN SELECT c.oid::regclass AS tab FROM pg_class c
		WHERE c.relkind = 'r' AND c.relnamespace IN ('tieredlog'::regnamespace, 'tieredlog_data'::regnamespace)
		ORDER BY 1
	LOOP
		BEGIN
			SELECT failures || coalesce(string_agg(r.tab || ' block ' || blkno || ' offset ' || offnum || ': ' || v.msg, E'\n') || E'\n', '')
			  INTO failures FROM verify_heapam(r.tab, check_toast => true) v;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
			failures := failures || 'verify_heapam(' || r.tab || '): ' || msg || E'\n';
		END;
	END LOOP;
END $$;
});
}
tl_full_mesh(@nodes);

my %want = (big => 0, bigman => 0);	# records each log should hold on every node
# a record's columns, the payload by its md5
my $row = "key || ' ' || md5(payload::text) || ' ' || ts || ' ' || COALESCE(source, '-') || ' ' || origin || ' ' || seq || ' ' || rid";

sub whole
{
	my ($n, $log) = @_;
	return $n->safe_psql('postgres', "SELECT count(*) || ' ' || COALESCE(md5(string_agg($row, E'\\n' ORDER BY key, ts, origin, seq)), '-')
		FROM tieredlog.read('$log')");
}

# Every check of one log on both nodes; $what names the moment.
sub check_all
{
	my ($what, $log) = @_;
	my $w = $want{$log};
	for my $n (@nodes)
	{
		my $nm = $n->name;
		ok($n->poll_query_until('postgres', "SELECT count(*) = $w FROM tieredlog.read('$log')"),
			"$nm has the $w records of $log ($what)")
		  or diag('it has ' . $n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('$log')"));
		is($n->safe_psql('postgres', "SELECT count(*) - count(DISTINCT (origin, seq)) FROM tieredlog.read('$log')"), '0',
			"$nm: no record of $log twice ($what)");
		is($n->safe_psql('postgres', "SELECT count(*) || ' ' || COALESCE(md5(string_agg($row, E'\\n' ORDER BY key, ts, origin, seq)), '-')
			FROM (SELECT r.* FROM (SELECT DISTINCT key AS k FROM tieredlog.read('$log')) d,
				  LATERAL tieredlog.read('$log', key => d.k) r) x"), whole($n, $log),
			"$nm: read(key => ...) of every key of $log finds every record, as the whole read() has it ($what)");
		is($n->safe_psql('postgres', "SELECT count(*) FILTER (WHERE l.rid IS DISTINCT FROM w.rid::text OR l.n <> 1)
			FROM (SELECT DISTINCT ON (key) key, rid FROM tieredlog.read('$log') WHERE key NOT LIKE 'clash%'
				  ORDER BY key, ts DESC, seq DESC) w
			LEFT JOIN LATERAL (SELECT min(rid::text) AS rid, count(*) AS n FROM tieredlog.latest('$log', w.key)) l ON true"),
			'0', "$nm: latest() of every key of $log is its newest record ($what)");
		is($n->safe_psql('postgres', "SELECT count(*) FILTER (WHERE payload IS DISTINCT FROM expected(payload)) FROM tieredlog.read('$log')"),
			'0', "$nm: every payload of $log is the one appended ($what)");
		is($n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.check_digests('$log') WHERE NOT ok"), '0',
			"$nm: check_digests('$log') ok ($what)");
		my ($checked, $failures) = split /\|/, $n->safe_psql('postgres', 'SELECT checked, failures FROM amcheck_all()'), 2;
		$failures //= '';
		is($failures, '', "$nm: amcheck: every index (bt_index_check heapallindexed) and heap (verify_heapam) of tieredlog's relations ($what; $checked indexes)");
	}
	is(whole($n2, $log), whole($n1, $log), "n2's read('$log') is identical to n1's ($what)");
}

# ---- the payloads are what the test means them to be --------------------------------------------------
is($n1->safe_psql('postgres', "SELECT pg_column_size(mk_max(1, 'z', 0)) || ' ' || pg_column_size(mk_max(1, 'z', 1))"),
	'1048576 1048577', 'mk_max makes payloads of exactly the limit and one byte more');
is($n1->safe_psql('postgres', "SELECT string_agg(round(pg_column_size(mk(i, 'z')) / 1024.0) || '', ' ' ORDER BY i) FROM generate_series(4, 9) i"),
	'0 3 3 9 9 300', 'mk makes small, 3 kB, 9 kB and 300 kB payloads');

# ---- just over the limit: refused with 54000, nothing written -----------------------------------------
($rc, $out, $err) = $n1->psql('postgres', "SELECT tieredlog.append('big', 'over', mk_max(1, 'over', 1), NULL, '2026-03-01 10:00:00+00')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/54000.*record payload is 1048577 bytes, more than the limit of 1048576/s, 'append() of a payload one byte over the limit: 54000');
($rc, $out, $err) = $n1->psql('postgres', "SELECT tieredlog.append_many('big', ARRAY['ok1', 'over', 'ok2'],
	ARRAY[mk(9, 'ok'), mk_max(2, 'over', 1), mk(7, 'ok')], NULL,
	ARRAY[timestamptz '2026-03-01 10:00:00+00', '2026-03-01 10:00:01+00', '2026-03-01 10:00:02+00'])",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/54000.*record payload is 1048577 bytes, more than the limit of 1048576/s,
	'append_many() with one payload one byte over the limit among large ones: 54000');
is($n1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('big')"), '0', 'nothing of either call was written');

# ---- append_many() on n1: one batch, two segments (10:00 and 12:00), every size mixed ---------------
$n1->safe_psql('postgres', q{
SELECT tieredlog.append_many('big',
	array_agg(k ORDER BY o), array_agg(p ORDER BY o), array_agg(s ORDER BY o), array_agg(t ORDER BY o))
FROM (SELECT i AS o, 'm' || (i % 37) AS k, mk(i, 'A') AS p, CASE WHEN i % 4 = 0 THEN 'src' END AS s,
			 timestamptz '2026-03-01 10:00:00+00' + (i % 2) * interval '2 hours' + i * interval '20 s' AS t
	  FROM generate_series(1, 150) i
	  UNION ALL
	  SELECT 150 + i, 'max-a' || i, mk_max(i, 'A', -(i - 1) * 100), NULL,
			 timestamptz '2026-03-01 10:55:00+00' + (i - 1) * interval '2 hours' FROM generate_series(1, 2) i) b
});
$want{big} = 152;
my $rel_a = $n1->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'big' AND range_start = '2026-03-01 10:00:00+00'");
is($n1->safe_psql('postgres', "SELECT count(*) FILTER (WHERE payload->>'c' = 'zip' AND pg_column_size(payload) < 1024)
	|| ' ' || count(*) FILTER (WHERE payload->>'c' = 'zip') FROM tieredlog_data.$rel_a"), '15 15',
	'the 3 kB payloads are stored compressed');
ok($n1->safe_psql('postgres', "SELECT count(DISTINCT chunk_id) FROM pg_toast.pg_toast_" .
	$n1->safe_psql('postgres', "SELECT 'tieredlog_data.$rel_a'::regclass::oid")) >= 15 + 1,
	'the 9 kB, 300 kB and 1 MB payloads are stored out of line');
check_all('append_many on n1', 'big');

# ---- append() on n1: one record per call, the 11:00 segment ----------------------------------------
$n1->safe_psql('postgres', q{
SELECT tieredlog.append('big', 'a' || (i % 23), mk(i, 'B'), CASE WHEN i % 3 = 0 THEN 'src' END,
	timestamptz '2026-03-01 11:00:00+00' + i * interval '30 s') FROM generate_series(1, 100) i;
SELECT tieredlog.append('big', 'max-b', mk_max(1, 'B', 0), NULL, '2026-03-01 11:59:00+00');
SELECT tieredlog.append('big', 'a1', mk(9, 'B2'), NULL, '2026-03-01 11:59:30+00');
});
$want{big} += 102;
check_all('append on n1', 'big');

# ---- written on n2 while n1 does not apply it; reconcile() brings it; the stream replays it ------------
$n1->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n2', false)");
$n2->safe_psql('postgres', q{
SELECT tieredlog.append_many('big', array_agg('c' || (i % 11) ORDER BY i), array_agg(mk(i, 'C') ORDER BY i), NULL,
	array_agg(timestamptz '2026-03-01 13:00:00+00' + i * interval '40 s' ORDER BY i)) FROM generate_series(1, 60) i;
SELECT tieredlog.append('big', 'c-single' || (i % 5), mk(i, 'C1'), NULL,
	timestamptz '2026-03-01 13:45:00+00' + i * interval '10 s') FROM generate_series(1, 20) i;
SELECT tieredlog.append('big', 'max-c', mk_max(1, 'C', 0), NULL, '2026-03-01 13:59:00+00');
});
$want{big} += 81;
is($n1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('big', '2026-03-01 13:00:00+00', '2026-03-01 14:00:00+00')"), '0',
	'n1, not applying n2, has none of the 81 records written there');
($rc, $out, $err) = $n1->psql('postgres', "SELECT sum(records_received) || ' ' || sum(records_sent) FROM tieredlog.reconcile('big', 'n2')");
is($out, '81 0', 'reconcile() on n1 receives exactly the 81 records from n2') or diag($err);
check_all('received by reconcile', 'big');
$n1->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n2', true)");
$n2->safe_psql('postgres', "SELECT tieredlog.append('big', 'marker-c', mk(1, 'M'), NULL, '2026-03-01 13:59:59+00')");
$want{big} += 1;
ok($n1->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('big', key => 'marker-c')"),
	'n1 streams from n2 again, past the records it had by reconciliation');
check_all('the stream replayed what reconcile() brought', 'big');

# ---- written on both sides while the peers were dropped; one reconcile() both ways -----------------------
$n1->safe_psql('postgres', "SELECT tieredlog.drop_peer('n2')");
$n2->safe_psql('postgres', "SELECT tieredlog.drop_peer('n1')");
$n1->safe_psql('postgres', q{
SELECT tieredlog.append_many('big', array_agg('d' || (i % 7) ORDER BY i), array_agg(mk(i, 'D') ORDER BY i), NULL,
	array_agg(timestamptz '2026-03-01 14:00:00+00' + i * interval '60 s' ORDER BY i)) FROM generate_series(1, 40) i;
SELECT tieredlog.append('big', 'max-d', mk_max(1, 'D', 0), NULL, '2026-03-01 14:50:00+00');
});
$n2->safe_psql('postgres', q{
SELECT tieredlog.append_many('big', array_agg('e' || (i % 7) ORDER BY i), array_agg(mk(i, 'E') ORDER BY i), NULL,
	array_agg(timestamptz '2026-03-01 14:00:30+00' + i * interval '60 s' ORDER BY i)) FROM generate_series(1, 30) i;
SELECT tieredlog.append('big', 'max-e', mk_max(1, 'E', 0), NULL, '2026-03-01 14:51:00+00');
});
$want{big} += 72;
tl_add_peer($n1, $n2);
tl_add_peer($n2, $n1);
($rc, $out, $err) = $n1->psql('postgres', "SELECT sum(records_sent) || ' ' || sum(records_received) FROM tieredlog.reconcile('big', 'n2')");
is($out, '41 31', 'reconcile() on n1 sends its 41 records and receives n2\'s 31') or diag($err);
check_all('exchanged by reconcile after the peers were dropped', 'big');
for my $n (@nodes)
{
	ok($n->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"),
		$n->name . ' streams from its peer again');
}

# ---- a conflict between large payloads of one key, written on both sides of a cut -----------------------
$n1->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n2', false)");
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false)");
$n1->safe_psql('postgres', "SELECT tieredlog.append('big', 'clash', mk(9, 'X1')); SELECT tieredlog.append('bigman', 'clash', mk(7, 'Y1'));");
$n2->safe_psql('postgres', "SELECT tieredlog.append('big', 'clash', mk(8, 'X2')); SELECT tieredlog.append('bigman', 'clash', mk_max(1, 'Y2', 0));");
$n1->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n2', true)");
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', true)");
$want{big} += 2;
$want{bigman} += 2;
my $conflict = "SELECT string_agg(status || '|' || rule || '|' || winner || '|' || loser || '|' ||
	(winner_payload = %s) || '|' || (loser_payload = %s), ';') FROM tieredlog.conflicts WHERE log_name = '%s' AND key = 'clash'";
for my $n (@nodes)
{
	ok($n->poll_query_until('postgres', "SELECT count(*) = 2 FROM tieredlog.read('bigman') WHERE key = 'clash'")
		&& $n->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.conflicts WHERE log_name = 'bigman'"),
		$n->name . ' has both sides and detected the conflicts');
	like($n->safe_psql('postgres', sprintf($conflict, "mk(8, 'X2')", "mk(9, 'X1')", 'big')),
		qr/^resolved_by_rule\|last_writer_wins\|n2:\d+\|n1:\d+\|true\|true$/,
		$n->name . ': conflicts shows the lww conflict, the 9 kB winner and the 300 kB loser with their payloads');
	like($n->safe_psql('postgres', sprintf($conflict, "mk_max(1, 'Y2', 0)", "mk(7, 'Y1')", 'bigman')),
		qr/^pending\|manual\|n2:\d+\|n1:\d+\|true\|true$/,
		$n->name . ': conflicts shows the manual conflict, the 1 MB provisional winner and the 9 kB loser with their payloads');
	is($n->safe_psql('postgres', "SELECT payload = mk(8, 'X2') FROM tieredlog.latest('big', 'clash')"), 't',
		$n->name . ': latest() of the lww key is the later record');
}
is($n1->safe_psql('postgres', sprintf($conflict, "mk(8, 'X2')", "mk(9, 'X1')", 'big')),
	$n2->safe_psql('postgres', sprintf($conflict, "mk(8, 'X2')", "mk(9, 'X1')", 'big')), 'both nodes agree on the lww conflict');
my $man = $n1->safe_psql('postgres', "SELECT conflict_id || ' ' || loser FROM tieredlog.conflicts WHERE log_name = 'bigman'");
my ($man_id, $man_loser) = split / /, $man;
($rc, $out, $err) = $n1->psql('postgres', "SELECT tieredlog.resolve_conflict($man_id, '$man_loser')");
like($out, qr/^n1:\d+$/, 'resolve_conflict() on n1 decides for n1\'s 9 kB record') or diag($err);
$want{bigman} += 1;
for my $n (@nodes)
{
	ok($n->poll_query_until('postgres', "SELECT payload = mk(7, 'Y1') FROM tieredlog.latest('bigman', 'clash')"),
		$n->name . ': latest() of the manual key is the decided payload');
	ok($n->poll_query_until('postgres', "SELECT conflicts_pending = 0 FROM tieredlog.status()"), $n->name . ': no conflict waits');
}
check_all('conflict', 'big');
check_all('conflict decided', 'bigman');

# ---- seals -------------------------------------------------------------------------------------------
for my $n (@nodes)
{
	($rc, $out, $err) = $n->psql('postgres', "SELECT count(tieredlog.seal(segment_id)) FROM tieredlog.segments
		WHERE log_name IN ('big', 'bigman') AND state <> 'sealed'");
	like($out, qr/^[1-9]\d*$/, $n->name . ": every segment of big and bigman sealed ($out)") or diag($err);
	is($n->safe_psql('postgres', "SELECT string_agg(check_name || ' ' || object, ', ') FROM tieredlog.verify() WHERE NOT ok"), '',
		$n->name . ': verify() finds nothing wrong after the seals');
}
for my $log ('big', 'bigman')
{
	is($n1->safe_psql('postgres', "SELECT string_agg(DISTINCT status, ',') FROM tieredlog.compare_seals('n2', '$log')"), 'equal',
		"compare_seals(n2, $log) on n1: every seal equal");
	is($n2->safe_psql('postgres', "SELECT string_agg(DISTINCT status, ',') FROM tieredlog.compare_seals('n1', '$log')"), 'equal',
		"compare_seals(n1, $log) on n2: every seal equal");
}

for my $n (@nodes)
{
	is($n->safe_psql('postgres', "SELECT string_agg(r.key || ' ' || tieredlog.check_inclusion(p, s.seal_root)
			|| ' ' || (p->>'leaf_hash' = tieredlog.record_leaf_hash('big', r.key, r.payload, r.ts, r.source, r.origin, r.seq)), ', ' ORDER BY r.key)
		FROM tieredlog.read('big') r JOIN tieredlog.segments s USING (segment_id),
			 LATERAL tieredlog.inclusion_proof(r.segment_id, r.rid::text) p
		WHERE r.payload->>'c' = 'max'"),
		'max-a1 true true, max-a2 true true, max-b true true, max-c true true, max-d true true, max-e true true',
		$n->name . ': every 1 MB record has an inclusion proof to its segment\'s seal root, about its own leaf hash');
}

# ---- the 10:00 segment (append_many's, 1 MB record included) to tier 2 on n1 ------------------------------
my $seg_a = $n1->safe_psql('postgres', "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'big' AND range_start = '2026-03-01 10:00:00+00'");
sub move
{
	my ($n, $seg, $tier) = @_;
	my ($rc, $out, $err) = $n->psql('postgres', "SELECT count(*) FROM tieredlog.move_segment($seg, $tier); SELECT tieredlog.sweep();");
	is($rc, 0, $n->name . ": move_segment($seg, $tier)") or diag($err);
	is($n->safe_psql('postgres', "SELECT tier FROM tieredlog.segments WHERE segment_id = $seg"), $tier, $n->name . ": segment $seg is in tier $tier");
}
move($n1, $seg_a, 2);
check_all('n1\'s 10:00 segment in tier 2', 'big');
is($n1->safe_psql('postgres', "SELECT string_agg(check_name || ' ' || object, ', ') FROM tieredlog.verify() WHERE NOT ok"), '',
	'n1: verify() ok with the segment in tier 2');

# ---- a late append into the tier 2 segment's window ------------------------------------------------------
$n1->safe_psql('postgres', q{
SELECT tieredlog.append('big', 'late' || i, mk(i, 'L'), NULL, timestamptz '2026-03-01 10:30:00.5+00' + i * interval '1 s')
	FROM generate_series(5, 9) i;
SELECT tieredlog.append('big', 'max-late', mk_max(1, 'L', 0), NULL, '2026-03-01 10:31:00+00');
SELECT tieredlog.append_many('big', array_agg('m' || (i % 37) ORDER BY i), array_agg(mk(i, 'L2') ORDER BY i), NULL,
	array_agg(timestamptz '2026-03-01 10:40:00.5+00' + i * interval '1 s' ORDER BY i)) FROM generate_series(1, 20) i;
});
$want{big} += 26;
is($n1->safe_psql('postgres', "SELECT state || ' ' || tier FROM tieredlog.segments WHERE segment_id = $seg_a"), 'reopened 2',
	'the late records reopen the tier 2 segment on n1');
check_all('late records in n1\'s tier 2 segment', 'big');
# a reopened tier 2 segment is re-archived once sealed again (as the worker's rearchive task does)
($rc, $out, $err) = $n1->psql('postgres', "SELECT tieredlog.seal($seg_a)");
is($rc, 0, 'n1: the reopened tier 2 segment seals with its late rows') or diag($err);
move($n1, $seg_a, 2);
is($n1->safe_psql('postgres', "SELECT state || ' ' || (relation IS NULL) FROM tieredlog.segments WHERE segment_id = $seg_a"), 'sealed true',
	'n1: re-archived, the segment has no relation for late rows any more');
check_all('n1\'s segment re-archived with its late rows', 'big');
move($n1, $seg_a, 0);
check_all('n1\'s segment back in tier 0', 'big');
for my $n (@nodes)
{
	($rc, $out, $err) = $n->psql('postgres', "SELECT count(tieredlog.seal(segment_id)) FROM tieredlog.segments
		WHERE log_name = 'big' AND state <> 'sealed'");
	is($rc, 0, $n->name . ': the reopened segment sealed again') or diag($err);
	is($n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.segments WHERE log_name = 'big' AND state <> 'sealed'"), '0',
		$n->name . ': every segment of big is sealed');
	is($n->safe_psql('postgres', "SELECT string_agg(check_name || ' ' || object, ', ') FROM tieredlog.verify() WHERE NOT ok"), '',
		$n->name . ': verify() ok after the late records and the reseal');
}
is($n1->safe_psql('postgres', "SELECT string_agg(DISTINCT status, ',') FROM tieredlog.compare_seals('n2', 'big')"), 'equal',
	'compare_seals(n2, big) on n1: every seal equal after the reseal');

# ---- a record restored from the peer's tier 2 frames -------------------------------------------------------
my $seg_c = $n2->safe_psql('postgres', "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'big' AND range_start = '2026-03-01 12:00:00+00'");
move($n2, $seg_c, 2);
my $rel_c = $n1->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'big' AND range_start = '2026-03-01 12:00:00+00'");
$n1->safe_psql('postgres', "DELETE FROM tieredlog_data.$rel_c WHERE payload->>'c' IN ('huge', 'max', 'ext')");
my $deleted = $want{big} - $n1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('big')");
($rc, $out, $err) = $n1->psql('postgres', "SELECT status || ' ' || records_received FROM tieredlog.reconcile('big', 'n2', include_archive => true)
	WHERE range_start = '2026-03-01 12:00:00+00'");
is($out, "repaired $deleted", "reconcile(include_archive) brings the $deleted large records deleted on n1 back from n2's frames") or diag($err);
check_all('restored from the peer\'s frames', 'big');
move($n2, $seg_c, 0);
check_all('n2\'s segment back in tier 0', 'big');

for my $n (@nodes)
{
	($rc, $out, $err) = $n->psql('postgres', "SELECT sum(records_checked) || ' ' || sum(damaged) FROM tieredlog.scrub()");
	is($out, ($want{big} + $want{bigman} + $n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('_seen')")) . ' 0',
		$n->name . ': scrub() re-hashes every record, large ones included, and finds none damaged') or diag($err);
}

$_->stop for @nodes;
done_testing();
