# Two scrubs of one segment at once, both finding the same damaged row. The first takes it out
# (quarantine, delete, digest); the second waits on that delete and, once the first commits,
# leaves the row alone: no error (it used to be an internal error, "tuple concurrently deleted",
# XX000), no second quarantine entry, no second WARNING, and the digest loses the rid once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $n = tl_node('s1');
$n->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('ev', '1 day');
SELECT tieredlog.append_many('ev', array_agg('k' || i ORDER BY i), array_agg(jsonb_build_object('i', i) ORDER BY i),
	NULL, array_agg(timestamptz '2026-03-01 10:00:00+00' + i * interval '1 second' ORDER BY i))
  FROM generate_series(1, 50) i;
});
my $rel = $n->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'ev'");
$n->safe_psql('postgres', "UPDATE tieredlog_data.$rel SET payload = '{\"bitrot\": 1}' WHERE key = 'k7'");

# first scrub: takes k7 out, transaction left open
my $first = $n->background_psql('postgres', on_error_stop => 0);
$first->query_safe("SET application_name = 'first scrub'");
$first->query_safe('BEGIN');
my $out1 = $first->query("SELECT records_checked || '|' || damaged FROM tieredlog.scrub('ev')");
is($out1, '50|1', 'the first scrub checks 50 records and takes one out');
like($first->{stderr}, qr/record s1:7 of log "ev" no longer matches its rid/, 'with its WARNING');

# second scrub: reads k7 (the first has not committed) and waits on the first's delete
my $second = $n->background_psql('postgres', on_error_stop => 0);
$second->query_safe("SET application_name = 'second scrub'");
$second->query_until(qr/started/, "\\echo started\nSELECT 'second ' || records_checked || '|' || damaged FROM tieredlog.scrub('ev');\n");
ok($n->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'second scrub'
	AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"),
	'the second scrub waits for the first one\'s delete');
$first->query('COMMIT');
$first->quit;
my ($out2) = $second->query("SELECT 'after'");
my $err2 = $second->{stderr};
$second->quit;
like($out2, qr/^second 50\|0\nafter$/, 'the second scrub returns: the row was taken out by the first, not twice')
	or diag("stdout: $out2");
unlike($err2, qr/ERROR|concurrently/, 'no error reaches the second caller') or diag("stderr: $err2");
unlike($err2, qr/no longer matches its rid/, 'and no second WARNING for the same row');

is($n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.quarantine WHERE via = 'scrub' AND key = 'k7'"), '1',
	'one quarantine entry for the damaged row');
is($n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')"), '49', 'the segment holds the 49 intact records');
is($n->safe_psql('postgres', "SELECT bool_and(ok) FROM tieredlog.check_digests('ev')"), 't',
	'the digest lost the rid once: it matches the rows');
is($n->safe_psql('postgres', "SELECT records_checked || '|' || damaged FROM tieredlog.scrub('ev')"), '49|0',
	'a third scrub finds nothing');

done_testing();
