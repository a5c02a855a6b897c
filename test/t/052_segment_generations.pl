# Segment relations of this build lead their unique index with a generation of the row's seq,
# (gen, key, origin, ts, seq) (src/store/segrows.h), so that appends go into the newest part of
# the index only. Every reader must look into every generation present: key reads, latest(), the
# conflict heads (newest record of each origin by ts, which need not be in the newest
# generation), identity probes of records that come again, and moves, which rewrite the rows.
# local_seq is moved forward by hand to put records into generations 0, 1 and 3 without
# appending millions of them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my ($a, $b) = (tl_node('a'), tl_node('b'));
for my $n ($a, $b)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('gens', '1 day');});
}
tl_full_mesh($a, $b);
ok($a->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"), 'a streams from b');
ok($b->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"), 'b streams from a');

my $day = '2026-05-01';
sub jump { my ($n, $gens) = @_; $n->safe_psql('postgres', "SELECT setval('tieredlog.local_seq', (SELECT last_value FROM tieredlog.local_seq) + $gens * 1048576)"); }
sub app { my ($n, $key, $t, $i, $log) = @_; $log //= 'gens'; $n->safe_psql('postgres', "SELECT tieredlog.append('$log', '$key', '{\"i\": $i}', NULL, '$day $t+00')"); }

# the partition: the conflict on key c is made while neither node applies the other's records
$a->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('b', false)");
$b->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('a', false)");

app($a, 'k', '10:00:00', 1);
app($a, 'k', '10:00:01', 2);
app($a, 'other', '10:00:02', 3);
app($a, 'c', '10:40:00', 4);		# a's newest c, in generation 0
jump($a, 1);
app($a, 'k', '09:00:00', 5);		# generation 1, older than generation 0's rows
app($a, 'k', '11:00:00', 6);		# k's newest
jump($a, 2);
app($a, 'k', '10:30:00', 7);		# generation 3
app($a, 'c', '10:20:00', 8);		# generation 3, older than a's c in generation 0
app($b, 'c', '10:45:00', 9);		# b's c: concurrent with both of a's

my $rel = $a->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'gens'");
is($a->safe_psql('postgres', "SELECT string_agg(gen || ':' || n, ',' ORDER BY gen) FROM (SELECT gen, count(*) AS n FROM tieredlog_data.$rel GROUP BY gen) g"),
	'0:4,1:2,3:2', 'a\'s rows are in generations 0, 1 and 3');
is($a->safe_psql('postgres', qq{
	SELECT count(*) FROM tieredlog_data.$rel r, tieredlog.segment s
	 WHERE s.relname = '$rel' AND r.gen <> CASE WHEN r.seq <= s.gen_base THEN 0 ELSE least((r.seq - s.gen_base) >> 20, 31) END}),
	'0', 'each row\'s stored generation is the one its seq and the segment\'s gen_base give');

# key reads and latest() look into every generation
is($a->safe_psql('postgres', "SELECT string_agg(payload->>'i', ',') FROM tieredlog.read('gens', key => 'k')"),
	'5,1,2,7,6', 'read(key) finds the key in every generation, in ts order');
is($a->safe_psql('postgres', "SELECT payload->>'i' FROM tieredlog.latest('gens', 'k')"), '6',
	'latest() is the newest by ts (generation 1), not the newest generation\'s');
is($a->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('gens', key => 'absent')"), '0', 'an absent key: no rows');

# the partition ends: the conflict on c is between b's record and a's newest c by ts
$a->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('b', true)");
$b->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('a', true)");
ok($b->poll_query_until('postgres', "SELECT count(*) = 9 FROM tieredlog.read('gens')"), 'b has all nine records');
ok($a->poll_query_until('postgres', "SELECT count(*) = 9 FROM tieredlog.read('gens')"), 'a has all nine records');
my $a_c = $a->safe_psql('postgres', "SELECT seq FROM tieredlog.read('gens', key => 'c') WHERE origin = 'a' AND payload->>'i' = '4'");
ok($a->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.conflicts WHERE log_name = 'gens' AND key = 'c'"),
	'a records the conflict on c');
is($a->safe_psql('postgres', "SELECT string_agg(local, ',') FROM tieredlog.conflicts WHERE log_name = 'gens' AND key = 'c'"),
	"a:$a_c", 'its local side is a\'s newest c by ts (generation 0), not the one in generation 3');
is($b->safe_psql('postgres', "SELECT string_agg(payload->>'i', ',') FROM tieredlog.read('gens', key => 'k')"),
	'5,1,2,7,6', 'b reads k the same');

# records that come again (reconciliation) are found by their identity: nothing is doubled
for my $n ($a, $b)
{
	$n->safe_psql('postgres', "SELECT * FROM tieredlog.reconcile('gens')");
	is($n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('gens')"), '9', $n->name . ': reconcile() doubles nothing');
	is($n->safe_psql('postgres', "SELECT bool_and(ok) FROM tieredlog.check_digests('gens')"), 't', $n->name . ': digests agree');
}

# a row inserted by hand gets its generation from the column's expression; a second copy of a
# record in another generation's part of the index is refused all the same
my $base = $a->safe_psql('postgres', "SELECT gen_base FROM tieredlog.segment WHERE relname = '$rel'");
my ($rc, $out, $err) = $a->psql('postgres', qq{
	INSERT INTO tieredlog_data.$rel (ts, key, payload, source, origin, seq, rid)
	SELECT ts, key, payload, source, origin, seq, rid FROM tieredlog_data.$rel WHERE payload->>'i' = '7'},
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/23505/, 'a copy of a generation 3 row inserted by hand is a unique violation');

# moves rewrite the rows: tier 1, tier 2 (frames) and back to tier 0
my $seg = $a->safe_psql('postgres', "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'gens'");
for my $to (1, 2, 0)
{
	$a->safe_psql('postgres', "SELECT tieredlog.seal($seg)") if $to == 2;
	$a->safe_psql('postgres', "SELECT tieredlog.move_segment($seg, $to)");
	is($a->safe_psql('postgres', "SELECT string_agg(payload->>'i', ',') FROM tieredlog.read('gens', key => 'k')"),
		'5,1,2,7,6', "after the move to tier $to, read(key) finds every row");
	is($a->safe_psql('postgres', "SELECT payload->>'i' FROM tieredlog.latest('gens', 'k')"), '6', "after the move to tier $to, latest() too");
	next if $to == 2;
	my $r = $a->safe_psql('postgres', "SELECT relname FROM tieredlog.segment WHERE segment_id = $seg");
	is($a->safe_psql('postgres', "SELECT string_agg(DISTINCT gen::text, ',' ORDER BY gen::text) FROM tieredlog_data.$r WHERE origin = 'a'"),
		'0,1,3', "after the move to tier $to, a's rows keep their generations");
}
is($a->safe_psql('postgres', "SELECT bool_and(ok) FROM tieredlog.check_digests('gens')"), 't', 'a: digests agree after the moves');

# a segment relation of an earlier 1.1 build (no gen, unique (key, origin, ts, seq)) is read and
# applied to as before: b's relation of log old11 is swapped for one of that shape while its apply
# worker is stopped
for my $n ($a, $b)
{
	$n->safe_psql('postgres', "SELECT tieredlog.create_log('old11', '1 day')");
}
app($a, 'k', '10:00:00', 1, 'old11');
app($a, 'k', '10:00:01', 2, 'old11');
ok($b->poll_query_until('postgres', "SELECT count(*) = 2 FROM tieredlog.read('old11')"), 'b has old11\'s first two records');
$b->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('a', false)");
my $new_rel = $b->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'old11'");
$b->safe_psql('postgres', qq{
	CREATE TABLE tieredlog_data.old_shape (ts timestamptz NOT NULL, key text COLLATE "C" NOT NULL,
		payload jsonb NOT NULL, source text, origin text NOT NULL, seq bigint NOT NULL, rid uuid NOT NULL);
	CREATE UNIQUE INDEX old_shape_key ON tieredlog_data.old_shape (key, origin COLLATE "C", ts, seq);
	INSERT INTO tieredlog_data.old_shape SELECT ts, key, payload, source, origin, seq, rid FROM tieredlog_data.$new_rel;
	UPDATE tieredlog.segment SET relname = 'old_shape' WHERE relname = '$new_rel';});
$b->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('a', true)");
app($a, 'k', '09:00:00', 3, 'old11');
app($a, 'k', '11:00:00', 4, 'old11');
ok($b->poll_query_until('postgres', "SELECT count(*) = 4 FROM tieredlog_data.old_shape"), 'b\'s apply worker stores into the old-shaped relation');
app($b, 'k', '08:00:00', 5, 'old11');
is($b->safe_psql('postgres', "SELECT string_agg(payload->>'i', ',') FROM tieredlog.read('old11', key => 'k')"),
	'5,3,1,2,4', 'read(key) in the old-shaped relation');
is($b->safe_psql('postgres', "SELECT payload->>'i' FROM tieredlog.latest('old11', 'k')"), '4', 'latest() in it');
$b->safe_psql('postgres', "SELECT * FROM tieredlog.reconcile('old11')");
is($b->safe_psql('postgres', "SELECT count(*) || ' ' || bool_and(ok) FROM tieredlog.read('old11'), tieredlog.check_digests('old11')"),
	'5 true', 'reconcile() finds every record by its identity there: none doubled, digests agree');

# a column added to a segment relation by hand is refused with an error, not read past its end
$rel = $a->safe_psql('postgres', "SELECT relname FROM tieredlog.segment WHERE segment_id = $seg");
$a->safe_psql('postgres', "ALTER TABLE tieredlog_data.$rel ADD COLUMN extra int");
($rc, $out, $err) = $a->psql('postgres', "SELECT count(*) FROM tieredlog.read('gens')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/XX001: a tieredlog segment relation has 9 columns/, 'a segment relation with a column added is refused (XX001)');
($rc, $out, $err) = $a->psql('postgres', "SELECT count(*) FROM tieredlog.read('gens', key => 'k')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/XX001: segment relation "\w+" has no index on key/, 'and so is a key read in it (XX001)');
is($a->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');
# dropped again (it stays in the relation's descriptor, dropped), the segment is read and written
# as before, and its new rows replicate
$a->safe_psql('postgres', "ALTER TABLE tieredlog_data.$rel DROP COLUMN extra");
app($a, 'k', '12:00:00', 10);
is($a->safe_psql('postgres', "SELECT string_agg(payload->>'i', ',') FROM tieredlog.read('gens', key => 'k')"),
	'5,1,2,7,6,10', 'with the added column dropped again, the segment is read and appended to');
ok($b->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('gens', key => 'k') WHERE payload->>'i' = '10'"),
	'and the record appended to it replicates');

done_testing();
