# A peer's record over this node's payload limits (what an appender here may not write).
#
# tieredlog.max_payload_size bounds a payload's jsonb form, and 8 times it bounds the payload's
# text form (a jsonb number of 22 bytes prints 131 089 digits; the text is what the rid, a seal,
# a replication message and a tier 2 frame carry). A peer is held to the same limits as a local
# appender: on n2, whose limit is 64 kB,
#  1. a record n1 took (100 kB of payload) is refused by n2's apply worker with 54000, named in
#     peers.last_error; n2 stays up and keeps nothing of it;
#  2. raising the limit (ALTER SYSTEM, reload) lets the apply worker go on: the record arrives;
#  3. at 128 kB, a record of 1.2 kB of jsonb whose text is 7.9 MB (60 numbers of 131 089 digits)
#     is refused the same way (its text over 8 x 128 kB); at 1 MB it arrives: nothing lost or
#     doubled, and the two nodes' digests agree;
#  4. reconciliation refuses the same records the same way (_ae_store), and stores them once the
#     limit allows;
#  5. a peer's list of segment windows out of order is a malformed message (08P01): this node
#     joins it with its own in one pass, which needs the order.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $n1 = tl_node('n1');
my $n2 = tl_node('n2', "tieredlog.max_payload_size = '64kB'\nlog_error_verbosity = verbose\n");
for my $n ($n1, $n2)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
}
tl_full_mesh($n1, $n2);

sub digests
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(range_start || '=' || digest || '/' || records, ',' ORDER BY range_start)
		 FROM tieredlog.segments WHERE log_name = 'ev'");
}
my $count_big = "SELECT count(*) FROM tieredlog.read('ev') WHERE key IN ('big', 'digits')";

# 1. A payload over n2's jsonb limit.
$n1->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'before', '{"n": 1}');
	SELECT tieredlog.append('ev', 'big', jsonb_build_object('blob', repeat('x', 100000)));});
ok($n2->poll_query_until('postgres',
		"SELECT last_error LIKE '%record payload is % bytes, more than the limit of 65536%' FROM tieredlog.peers WHERE peer_name = 'n1'"),
	'n2 refuses the 100 kB payload: peers.last_error says why')
  or diag($n2->safe_psql('postgres', "SELECT last_error FROM tieredlog.peers"));
ok($n2->log_contains(qr/54000/), 'with SQLSTATE 54000 in the server log');
is($n2->safe_psql('postgres', $count_big), '0', 'and keeps nothing of it');

# 2. n2's limit raised to 128 kB: the apply worker goes on with the 100 kB record.
$n2->safe_psql('postgres', "ALTER SYSTEM SET tieredlog.max_payload_size = '128kB'; SELECT pg_reload_conf();");
ok($n2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.read('ev', key => 'big')"),
	'with the limit raised to 128 kB, the 100 kB record arrives');

# 3. A payload of 1.2 kB of jsonb whose text is 7.9 MB: n1 takes it (its text limit is 8 MB), n2
# (1 MB at 128 kB) refuses it as its own appender's, before printing much more.
$n1->safe_psql('postgres',
	"SELECT tieredlog.append('ev', 'digits', (SELECT jsonb_agg(10::numeric ^ 131071) FROM generate_series(1, 60)))");
is($n1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev', key => 'digits')"), '1',
	'n1 took 60 numbers of 131 089 digits (7.9 MB of text)');
ok($n2->poll_query_until('postgres',
		"SELECT last_error LIKE '%record payload''s text form is more than 1048576 bytes%' FROM tieredlog.peers WHERE peer_name = 'n1'"),
	'n2 refuses it: its text is over 8 x 128 kB')
  or diag($n2->safe_psql('postgres', "SELECT last_error FROM tieredlog.peers"));
is($n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev', key => 'digits')"), '0', 'and keeps nothing of it');
is($n2->safe_psql('postgres', 'SELECT 1'), '1', 'n2 is up');

# n2's limit raised to n1's: the apply worker goes on.
$n2->safe_psql('postgres', "ALTER SYSTEM SET tieredlog.max_payload_size = '1MB'; SELECT pg_reload_conf();");
ok($n2->poll_query_until('postgres', "SELECT ($count_big) = 2"), 'with the limit at 1 MB, the digits arrive too');
ok($n2->poll_query_until('postgres', "SELECT count(*) = 3 FROM tieredlog.read('ev')"), 'every record once');
is($n2->safe_psql('postgres',
		"SELECT length(payload::text) FROM tieredlog.read('ev', key => 'digits')"), '7865460', 'the digits whole');
ok($n2->poll_query_until('postgres', "SELECT state = 'streaming' FROM tieredlog.peers WHERE peer_name = 'n1'"),
	'the peer streams again (last_error keeps the refusal, with its time)');
is(digests($n2), digests($n1), 'the digests agree');

# 4. Reconciliation: n2 with the limit lowered again, its copies of both records deleted behind
# tieredlog's back (as damage would), then reconciled from n1: refused with 54000; raised: stored.
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false)");
$n2->safe_psql('postgres', "ALTER SYSTEM SET tieredlog.max_payload_size = '64kB'; SELECT pg_reload_conf();");
my $rel = $n2->safe_psql('postgres',
	"SELECT relation FROM tieredlog.segments WHERE log_name = 'ev' AND relation IS NOT NULL LIMIT 1");
$n2->safe_psql('postgres', "DELETE FROM tieredlog_data.$rel WHERE key IN ('big', 'digits')");
my ($rc, $out, $err) = $n2->psql('postgres',
	"SET tieredlog.max_payload_size = '64kB'; SELECT * FROM tieredlog.reconcile('ev', 'n1')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/54000/, 'reconciliation under the lower limit: refused with 54000') or diag("rc $rc, $out, $err");
is($n2->safe_psql('postgres', $count_big), '0', 'nothing of them stored');
$n2->safe_psql('postgres', "ALTER SYSTEM SET tieredlog.max_payload_size = '1MB'; SELECT pg_reload_conf();");
$n2->poll_query_until('postgres', "SELECT current_setting('tieredlog.max_payload_size') = '1MB'");
$n2->safe_psql('postgres', "SELECT * FROM tieredlog.reconcile('ev', 'n1')");
is($n2->safe_psql('postgres', $count_big), '2', 'under a 1 MB limit again: both stored');
is(digests($n2), digests($n1), 'the digests agree again');

# 5. A peer whose list of segment windows is out of order (or repeats one): a malformed message,
# refused before the windows are joined with this node's (in one pass, which needs the order).
# n1's _ae_roots is replaced, as a hostile peer could answer, by two windows in falling order.
my $root = sub { my ($us) = @_; return sprintf('%016x', $us) . '00' . ('00' x 24); };
my $fake = '\\x00000002' . $root->(800000000000000) . $root->(700000000000000);
$n1->safe_psql('postgres', qq{
ALTER FUNCTION tieredlog._ae_roots(text, timestamptz, timestamptz, boolean) RENAME TO _ae_roots_real;
CREATE FUNCTION tieredlog._ae_roots(text, timestamptz, timestamptz, boolean) RETURNS bytea
	LANGUAGE sql AS \$\$SELECT '$fake'::bytea\$\$;
GRANT EXECUTE ON FUNCTION tieredlog._ae_roots(text, timestamptz, timestamptz, boolean) TO PUBLIC;
});
($rc, $out, $err) = $n2->psql('postgres', "SELECT * FROM tieredlog.reconcile('ev', 'n1')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/08P01.*segment windows out of order/s, 'windows out of order from a peer: 08P01, refused')
  or diag("rc $rc, $out, $err");
$n1->safe_psql('postgres', q{
DROP FUNCTION tieredlog._ae_roots(text, timestamptz, timestamptz, boolean);
ALTER FUNCTION tieredlog._ae_roots_real(text, timestamptz, timestamptz, boolean) RENAME TO _ae_roots;
});
is($n2->safe_psql('postgres', "SELECT count(*) FILTER (WHERE status NOT IN ('in_sync', 'repaired')) FROM tieredlog.reconcile('ev', 'n1')"),
	'0', 'with the real answer back, reconciliation finds every segment in sync');

$n1->stop('immediate');
$n2->stop('immediate');
done_testing();
