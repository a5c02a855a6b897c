# Access statistics of a prepared transaction: its writes are counted at PREPARE TRANSACTION (as
# if committed), not left pending in the session that prepared it until that session's next commit
# (or lost when it ends), while another session commits it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $n = tl_node('p1', "max_prepared_transactions = 2\n");
$n->safe_psql('postgres', q{
CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('ev', '1 day');
SELECT tieredlog.append('ev', 'k0', '{}', NULL, '2026-03-01 10:00:00+00');
});
my $writes = "SELECT COALESCE(sum(local_writes), 0) FROM tieredlog.stat_segments WHERE log_name = 'ev'";
is($n->safe_psql('postgres', $writes), '1', 'one write counted');

my $s = $n->background_psql('postgres');
$s->query_safe('BEGIN');
$s->query_safe(q{SELECT tieredlog.append('ev', 'k' || i, '{}', NULL, '2026-03-01 11:00:00+00'::timestamptz + i * interval '1 s')
	FROM generate_series(1, 3) i});
$s->query_safe("PREPARE TRANSACTION 'three'");
is($n->safe_psql('postgres', $writes), '4', 'the prepared transaction\'s three writes are counted at PREPARE');
$n->safe_psql('postgres', "COMMIT PREPARED 'three'");
is($n->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')"), '4', 'committed by another session');
$s->query_safe('SELECT 1');			# a commit in the preparing session: nothing more to count
$s->quit;
is($n->safe_psql('postgres', $writes), '4', 'and counted once');

done_testing();
