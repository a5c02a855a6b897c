# The scrub finds records of one segment that share an identity (origin, seq) with different
# content. Each copy matches its own rid, and the segment's one index (key, origin, ts, seq) does
# not refuse the second when its key differs, so only the scrub sees them: it reports them with a
# WARNING (data_corrupted), names them, counts all of them, and takes neither copy out.
#
# Node a1 streams node b1's records, so a1's segment holds two origins whose seqs overlap (1, 2,
# ...): no false alarm for equal seqs of different origins. Then a1's sequence is set back by hand
# and twelve more records are appended: twelve identities held twice, found in tier 0, again
# from the frames in tier 2, and in tier 1.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my ($a1, $b1) = (tl_node('a1'), tl_node('b1'));
for my $n ($a1, $b1)
{
	$n->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('ev', '1 day');
});
}
tl_add_peer($a1, $b1);
ok($a1->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"),
	'a1 streams from b1');

sub append_keys
{
	my ($node, $prefix, $n) = @_;
	$node->safe_psql('postgres', qq{
SELECT tieredlog.append_many('ev', array_agg('$prefix-' || i ORDER BY i),
	array_agg(jsonb_build_object('i', i, 'from', '$prefix') ORDER BY i), NULL,
	array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' ORDER BY i))
  FROM generate_series(1, $n) i;
});
}
append_keys($a1, 'a', 20);
append_keys($b1, 'b', 20);
ok($a1->poll_query_until('postgres', "SELECT count(*) = 40 FROM tieredlog.read('ev')"), "b1's records reach a1");
is($a1->safe_psql('postgres', "SELECT count(*) FROM (SELECT seq FROM tieredlog.read('ev') GROUP BY seq HAVING count(*) = 2) s"),
	'20', 'the two origins use the same seqs');
my $seg = $a1->safe_psql('postgres', "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev'");

sub scrub
{
	my ($node) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT records_checked || '|' || damaged FROM tieredlog.scrub('ev')",
		extra_params => ['-v', 'VERBOSITY=verbose']);
	is($rc, 0, 'the scrub runs');
	return ($out, $err);
}

my ($out, $err) = scrub($a1);
is($out, '40|0', 'scrub: 40 records checked, none damaged');
unlike($err, qr/identity/, 'equal seqs of two origins are no duplicates');

# ---- one name for two records ---------------------------------------------------------------------
$a1->safe_psql('postgres', "SELECT setval('tieredlog.local_seq',
	(SELECT max(seq) FROM tieredlog.read('ev') WHERE origin = 'a1') - 12)");
append_keys($a1, 'x', 12);
is($a1->safe_psql('postgres', "SELECT count(*) FROM (SELECT 1 FROM tieredlog.read('ev') GROUP BY origin, seq HAVING count(*) > 1) d"),
	'12', 'the sequence set back gives twelve identities to two records each');

($out, $err) = scrub($a1);
is($out, '52|0', 'scrub: 52 records checked, none taken out');
like($err, qr/WARNING:  XX001: segment $seg of log "ev" holds 12 record\(s\) with the identity \(origin, seq\) of another of its records/,
	'the scrub reports the twelve duplicates with data_corrupted');
like($err, qr/DETAIL:  Identities held more than once: a1:9, a1:10, .*a1:18, \.\.\.\./s,
	'it names the first ten (in seq order) and says there are more');
like($err, qr/HINT:  Each copy matches its own rid/, 'with a hint');
is($a1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')"), '52', 'both copies are kept');
is($a1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.quarantine"), '0', 'nothing is quarantined');

# ---- the same from the frames of tier 2 ----------------------------------------------------------
$a1->safe_psql('postgres', "SELECT tieredlog.seal($seg)");
$a1->safe_psql('postgres', "SELECT tieredlog.move_segment($seg, 2)");
$a1->safe_psql('postgres', "SELECT tieredlog.sweep()");
is($a1->safe_psql('postgres', "SELECT tier FROM tieredlog.segments WHERE segment_id = $seg"), '2', 'the segment is in tier 2');
($out, $err) = scrub($a1);
is($out, '52|0', 'tier 2: 52 records checked');
like($err, qr/XX001: segment $seg of log "ev" holds 12 record\(s\) with the identity/, 'tier 2: the same twelve reported');

# and from tier 1's relation, moved out of the frames again
$a1->safe_psql('postgres', "SELECT tieredlog.move_segment($seg, 1)");
$a1->safe_psql('postgres', "SELECT tieredlog.sweep()");
is($a1->safe_psql('postgres', "SELECT tier FROM tieredlog.segments WHERE segment_id = $seg"), '1', 'the segment is in tier 1');
($out, $err) = scrub($a1);
is($out, '52|0', 'tier 1: 52 records checked, none taken out');
like($err, qr/XX001: segment $seg of log "ev" holds 12 record\(s\) with the identity/, 'tier 1: the same twelve reported');

# seqs from 2^48 up are sorted apart from the others (as (origin, seq) tuples, not packed into
# one integer): duplicates are found on both sides of that line
$a1->safe_psql('postgres', "SELECT tieredlog.create_log('big', '1 day')");
my $big_seq = 281474976710653;	# 2^48 - 3: the next seqs are 2^48 - 2, 2^48 - 1, 2^48, ...
for my $prefix ('y', 'z')
{
	$a1->safe_psql('postgres', "SELECT setval('tieredlog.local_seq', $big_seq)");
	$a1->safe_psql('postgres', qq{
SELECT tieredlog.append_many('big', array_agg('$prefix-' || i ORDER BY i), array_agg(jsonb_build_object('i', i) ORDER BY i),
	NULL, array_agg(timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' ORDER BY i))
  FROM generate_series(1, 6) i;
});
}
my ($rc, $bout, $berr) = $a1->psql('postgres', "SELECT records_checked || '|' || damaged FROM tieredlog.scrub('big')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
is($bout, '12|0', 'seqs around 2^48: 12 records checked');
like($berr, qr/holds 6 record\(s\) with the identity.*DETAIL:  Identities held more than once: a1:281474976710654, a1:281474976710655, a1:281474976710656, a1:281474976710657, a1:281474976710658, a1:281474976710659\./s,
	'the six duplicates are found, below 2^48 and from 2^48 up');

# Many origins: identities are numbered by origin through a hash table, and origins past the
# 32 768th are sorted apart (as (origin, seq) tuples). 40 000 records of 40 000 origins written
# straight into a segment's relation with their right rids (as a damaged or hostile store could
# hold them), two of them given an identity twice: one below that line, one above it.
$a1->safe_psql('postgres', q{
SELECT tieredlog.create_log('many', '1 day');
SELECT tieredlog.append('many', 'first', '{}', NULL, timestamptz '2024-01-01 00:00:00+00');
});
my $many_rel = $a1->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'many'");
$a1->safe_psql('postgres', qq{
INSERT INTO tieredlog_data.$many_rel (ts, key, payload, source, origin, seq, rid)
SELECT ts, key, payload, NULL, origin, 1, tieredlog.record_rid('many', key, payload, ts, NULL, origin, 1)
  FROM (SELECT 'k' || i AS key, jsonb_build_object('i', i) AS payload, 'o' || i AS origin,
			   timestamptz '2024-01-01 00:00:00+00' + i * interval '1 ms' AS ts
		  FROM generate_series(1, 40000) i
		UNION ALL
		SELECT 'again-' || i, jsonb_build_object('again', i), 'o' || i, timestamptz '2024-01-01 01:00:00+00' + i * interval '1 ms'
		  FROM unnest(ARRAY[5, 39999]) i) r;
});
my ($mrc, $mout, $merr) = $a1->psql('postgres', "SELECT records_checked || '|' || damaged FROM tieredlog.scrub('many')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
is($mout, '40003|0', '40 000 origins: every record checked, none damaged');
like($merr, qr/holds 2 record\(s\) with the identity/, 'the two identities held twice are reported');
like($merr, qr/DETAIL:  Identities held more than once: (?:o5:1, o39999:1|o39999:1, o5:1)\./,
	'both are named: the 5th origin and the 39 999th');

# b1's segment has one origin and no duplicates
($out, $err) = scrub($b1);
is($out, '20|0', 'b1: 20 records checked');
unlike($err, qr/identity/, 'b1: nothing reported');

for my $n ($a1, $b1)
{
	is(() = slurp_file($n->logfile) =~ /terminated by signal/g, 0, $n->name . ': no backend crashed');
}
done_testing();
