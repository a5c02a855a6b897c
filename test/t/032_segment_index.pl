# A segment relation has one index: unique on (gen, key, origin, ts, seq). It serves key reads and
# conflict heads and guards record identity (the same record always has the same key and ts, and
# its generation follows from its seq). A relation 1.0 created has no gen and two indexes:
# (key, origin, ts) and a unique (seq, origin); the code finds identity through whichever the
# relation has. For both layouts:
#  - a record already here is not stored again, whether it arrives by streaming or by
#    reconciliation (no record twice, digests equal on both nodes);
#  - a row copied in by hand collides with the identity index (23505);
#  - latest() and read(key) agree with the peer's;
#  - a move rebuilds an earlier layout's segment with the one index.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my ($i1, $i2) = (tl_node('i1'), tl_node('i2'));
for my $n ($i1, $i2)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
}
tl_full_mesh($i1, $i2);

my $H0 = '2026-04-01 10:00:00+00';
my $H1 = '2026-04-01 11:00:00+00';

sub count_of { return $_[0]->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')"); }

sub rel_of
{
	my ($n, $start) = @_;
	return $n->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '$start'");
}

sub indexes_of
{
	my ($n, $rel) = @_;
	return $n->safe_psql('postgres', "SELECT string_agg(regexp_replace(pg_get_indexdef(indexrelid), ' ON .* USING', ' USING'), '; ' ORDER BY 1)
		FROM pg_index WHERE indrelid = 'tieredlog_data.$rel'::regclass");
}

sub all_agree
{
	my ($what) = @_;
	my $want = count_of($i1);
	ok($i2->poll_query_until('postgres', "SELECT count(*) = $want FROM tieredlog.read('ev')"), "i2 has all $want records ($what)");
	for my $n ($i1, $i2)
	{
		is($n->safe_psql('postgres', "SELECT count(*) - count(DISTINCT (origin, seq)) FROM tieredlog.read('ev')"),
			'0', $n->name . ": no record twice ($what)");
		is($n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.check_digests('ev') WHERE NOT ok"), '0',
			$n->name . ": stored digests equal the rows ($what)");
	}
	is($i2->safe_psql('postgres', "SELECT string_agg(range_start || '=' || digest, ',' ORDER BY range_start) FROM tieredlog.segments WHERE log_name = 'ev'"),
		$i1->safe_psql('postgres', "SELECT string_agg(range_start || '=' || digest, ',' ORDER BY range_start) FROM tieredlog.segments WHERE log_name = 'ev'"),
		"i2's digests equal i1's ($what)");
	my $heads = q{SELECT string_agg(k || '=' || (SELECT payload::text FROM tieredlog.latest('ev', k)), ',' ORDER BY k)
		FROM (SELECT DISTINCT key AS k FROM tieredlog.read('ev')) keys};
	is($i2->safe_psql('postgres', $heads), $i1->safe_psql('postgres', $heads), "latest() of every key is the same on both ($what)");
	my $by_key = q{SELECT string_agg(k || ':' || (SELECT count(*) FROM tieredlog.read('ev', key => k)), ',' ORDER BY k)
		FROM (SELECT DISTINCT key AS k FROM tieredlog.read('ev')) keys};
	is($i2->safe_psql('postgres', $by_key), $i1->safe_psql('postgres', $by_key), "read(key) counts are the same on both ($what)");
}

# both nodes write, into two windows, over 20 keys
for my $n ($i1, $i2)
{
	my $name = $n->name;
	$n->safe_psql('postgres', qq{SELECT tieredlog.append('ev', 'k' || (i % 20), jsonb_build_object('n', '$name', 'i', i), NULL,
		'$H0'::timestamptz + i * interval '17 s' + interval '1 ms' * (CASE WHEN '$name' = 'i1' THEN 0 ELSE 1 END))
		FROM generate_series(1, 300) i});
}
all_agree('after streaming');

my $one_index = 'CREATE UNIQUE INDEX %s USING btree (gen, key, origin COLLATE "C", ts, seq)';
for my $n ($i1, $i2)
{
	for my $start ($H0, $H1)
	{
		my $rel = rel_of($n, $start);
		is(indexes_of($n, $rel), sprintf($one_index, "${rel}_key"), $n->name . ": segment $rel has the one unique index");
	}
}

# ---- i2's first segment gets the earlier layout ---------------------------------------------------------
my $old = rel_of($i2, $H0);
my $new = rel_of($i2, $H1);
$i2->safe_psql('postgres', qq{
ALTER TABLE tieredlog_data.$old DROP COLUMN gen;	-- (and its index with it)
CREATE INDEX ${old}_key ON tieredlog_data.$old (key, origin COLLATE "C", ts);
CREATE UNIQUE INDEX ${old}_id ON tieredlog_data.$old (seq, origin);
});
is(indexes_of($i2, $old), qq{CREATE INDEX ${old}_key USING btree (key, origin COLLATE "C", ts); CREATE UNIQUE INDEX ${old}_id USING btree (seq, origin)},
	'i2: one segment has the earlier layout');

is($i2->safe_psql('postgres', "SELECT string_agg(status || '|' || records_received, ',' ORDER BY range_start) FROM tieredlog.reconcile('ev', 'i1')"),
	'in_sync|0,in_sync|0', 'reconcile finds nothing to do in either layout');

# rows deleted by hand in both layouts; reconciliation stores each once
for my $rel ($old, $new)
{
	$i2->safe_psql('postgres', "DELETE FROM tieredlog_data.$rel WHERE seq % 10 = 3");
}
is($i2->safe_psql('postgres', "SELECT string_agg(status || '|' || records_received, ',' ORDER BY range_start) FROM tieredlog.reconcile('ev', 'i1')"),
	$i1->safe_psql('postgres', "SELECT string_agg('repaired|' || count, ',' ORDER BY range_start) FROM (
		SELECT s.range_start, count(*) FROM tieredlog.read('ev') r JOIN tieredlog.segments s ON s.segment_id = r.segment_id
		 WHERE r.seq % 10 = 3 GROUP BY 1) x"),
	'reconcile stores back exactly the rows deleted, in both layouts');
is($i2->safe_psql('postgres', "SELECT string_agg(status || '|' || records_received, ',' ORDER BY range_start) FROM tieredlog.reconcile('ev', 'i1')"),
	'in_sync|0,in_sync|0', 'a second reconcile stores nothing');
all_agree('repaired in both layouts');

# a row copied in by hand collides with the identity index, in both layouts
for my $rel ($old, $new)
{
	my ($rc, $out, $err) = $i2->psql('postgres', "INSERT INTO tieredlog_data.$rel (ts, key, payload, source, origin, seq, rid)
		SELECT ts, key, payload, source, origin, seq, rid FROM tieredlog_data.$rel LIMIT 1",
		extra_params => ['-v', 'VERBOSITY=verbose']);
	like($err, qr/23505: duplicate key value violates unique constraint "${rel}_(key|id)"/, "$rel: a second copy of a row is refused (23505)");
}

# streaming goes on into both layouts, from both nodes; a few records also arrive twice, by reconcile
for my $n ($i1, $i2)
{
	my $name = $n->name;
	$n->safe_psql('postgres', qq{SELECT tieredlog.append('ev', 'k' || (i % 20), jsonb_build_object('n', '$name', 'late', i), NULL,
		'$H0'::timestamptz + i * interval '71 s' + interval '3 ms' * (CASE WHEN '$name' = 'i1' THEN 0 ELSE 1 END))
		FROM generate_series(1, 100) i});
}
$i2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.reconcile('ev', 'i1')");
$i1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.reconcile('ev', 'i2')");
all_agree('streaming and reconciling into both layouts');

# ---- the stream delivers records that reconciliation stored first -----------------------------------------
# i2 stops streaming from i1; i1 appends into both windows; i2 reconciles them in; then the stream
# resumes and delivers every one of them again: each is found here (the new layout's row goes in,
# the unique index reports it, the row is taken out), none stored twice, the apply worker without
# an error, and it goes on streaming what comes after.
$i2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('i1', false)");
$i1->safe_psql('postgres', qq{SELECT tieredlog.append('ev', 'k' || (i % 20), jsonb_build_object('again', i), NULL,
	'$H0'::timestamptz + i * interval '23 s' + interval '5 ms') FROM generate_series(1, 300) i});
my $paused = count_of($i2);
is($i2->safe_psql('postgres', "SELECT sum(records_received) FROM tieredlog.reconcile('ev', 'i1')"), '300',
	'while the stream is paused, reconcile brings in the 300 new records');
$i2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('i1', true)");
$i1->safe_psql('postgres', qq{SELECT tieredlog.append('ev', 'after', '{"after": true}', NULL, '$H1'::timestamptz + interval '59 min')});
ok($i2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev', key => 'after')"),
	'the stream resumes and delivers the record appended after');
is(count_of($i2), $paused + 301, 'the 300 records delivered again are not stored again');
cmp_ok($i2->safe_psql('postgres', "SELECT records_skipped FROM tieredlog.peers WHERE peer_name = 'i1'"), '>=', 300,
	'the apply worker counts them as skipped');
is($i2->safe_psql('postgres', "SELECT last_error IS NULL FROM tieredlog.peers WHERE peer_name = 'i1'"), 't',
	'and has no error');
all_agree('records delivered by the stream after reconciliation');

# ---- a move rebuilds the earlier layout with the one index ---------------------------------------------
my $sid = $i2->safe_psql('postgres', "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '$H0'");
is($i2->safe_psql('postgres', "SELECT to_tier FROM tieredlog.move_segment($sid, 1)"), '1', 'the earlier-layout segment moves to tier 1');
my $moved = rel_of($i2, $H0);
is(indexes_of($i2, $moved), sprintf($one_index, "${moved}_key"), 'and its new relation has the one unique index');
is($i2->safe_psql('postgres', "SELECT string_agg(status, ',' ORDER BY range_start) FROM tieredlog.reconcile('ev', 'i1')"),
	'in_sync,in_sync', 'reconcile after the move finds nothing to do');
all_agree('after the move');

done_testing();
