# Payloads nested deeper than a peer's decoder takes were accepted by append(), and then stopped
# replication from that node for good: every apply worker failed on the record ("binary payload
# nested too deeply"), retried, and failed again. append() and append_many() now refuse more than
# TL_PAYLOAD_MAX_DEPTH (10 000) levels with 54000; a payload at the limit replicates. The node's
# clock is also checked against a back-dated record: a ts before 2000-01-01 (a negative
# timestamp) set every node's hybrid logical clock back to that date (an unsigned comparison).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my ($a, $b) = (tl_node('a'), tl_node('b'));
for my $n ($a, $b)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('deep', '1 day');});
}
tl_full_mesh($a, $b);

sub nested { my ($levels) = @_; return "(repeat('[', $levels) || repeat(']', $levels))::jsonb"; }

my ($rc, $out, $err) = $a->psql('postgres', "SELECT tieredlog.append('deep', 'over', " . nested(10001) . ", NULL, '2026-03-01 10:00:00+00')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/54000: record payload is nested more than 10000 levels deep/, 'append() refuses 10 001 levels with 54000');
($rc, $out, $err) = $a->psql('postgres', "SELECT tieredlog.append_many('deep', ARRAY['ok', 'over'], ARRAY['{}'::jsonb, " . nested(12000) . "])",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/54000: record payload is nested more than 10000 levels deep/, 'append_many() refuses 12 000 levels, the whole batch');

$a->safe_psql('postgres', "SELECT tieredlog.append('deep', 'limit', " . nested(10000) . ", NULL, '2026-03-01 10:00:01+00')");
$a->safe_psql('postgres', "SELECT tieredlog.append('deep', 'after', '{\"i\": 1}', NULL, '2026-03-01 10:00:02+00')");
ok($b->poll_query_until('postgres', "SELECT count(*) = 2 FROM tieredlog.read('deep')"),
	'b receives the payload at the limit (10 000 levels) and the record after it');
is($b->safe_psql('postgres', "SELECT jsonb_array_length(payload) FROM tieredlog.read('deep', key => 'limit')"), '1',
	'the deep payload arrives intact');
is($b->safe_psql('postgres', "SELECT count(*) FROM tieredlog.peers WHERE state = 'streaming' AND last_error IS NULL"), '1',
	'b still streams from a, without an error');

# a record dated 1999 and one dated 4713 BC: the clocks stay in the present
$a->safe_psql('postgres', q{
SELECT tieredlog.append('deep', 'old', '{}', NULL, '1999-12-31 23:00:00+00');
SELECT tieredlog.append('deep', 'older', '{}', NULL, '4713-11-25 00:10:00+00 BC');
});
ok($b->poll_query_until('postgres', "SELECT count(*) = 4 FROM tieredlog.read('deep')"), 'b receives the back-dated records');
for my $n ($a, $b)
{
	is($n->safe_psql('postgres', "SELECT tieredlog.hlc_now() > now() - interval '1 minute'"), 't',
		$n->name . "'s clock stays in the present");
}
$a->safe_psql('postgres', "SELECT tieredlog.append('deep', 'now', '{}')");
ok($b->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('deep', key => 'now') WHERE ts > now() - interval '1 minute'"),
	'a record appended without ts is stamped with the present on both nodes');

done_testing();
