# The apply worker's memory is bounded whatever the size of the peer's transaction: one remote
# transaction of 1 000 000 records (TL_BIG_TXN_RECORDS) over 1 000 keys that the receiver also
# wrote, unseen by the sender, so every record is checked against a head and moves a conflict
# episode. The receiver's apply worker is sampled from /proc while it applies: its RSS stays
# under 256 MB (shared_buffers is 128 MB, and the shared pages it touches count in RSS; its
# private memory, RssAnon, is reported too). Afterwards: every record once, one episode per key,
# written as the worker went.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use TlCluster;

my $records = $ENV{TL_BIG_TXN_RECORDS} // 1_000_000;
my $keys = 1000;
my $conf = "shared_buffers = 128MB\nmax_wal_size = 4GB\nlogical_decoding_work_mem = 64MB\n";
my $m1 = tl_node('m1', $conf);
my $m2 = tl_node('m2', $conf);
$_->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('big', '1 day');}) for ($m1, $m2);
tl_full_mesh($m1, $m2);

# m1 never sees m2's records: every record of its big transaction is concurrent with m2's heads
$m1->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('m2', false)");
$m2->safe_psql('postgres', "SELECT count(tieredlog.append('big', 'k' || i, '{\"by\": \"m2\"}')) FROM generate_series(0, $keys - 1) i");

sub apply_pid
{
	return $m2->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'tieredlog apply'");
}
ok($m2->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'tieredlog apply'"),
	'm2 has its apply worker for m1');
my $pid = apply_pid();

my $t0 = time;
$m1->safe_psql('postgres', "SELECT count(tieredlog.append('big', 'k' || (i % $keys), jsonb_build_object('i', i, 'pad', repeat('x', 100))))
	FROM generate_series(1, $records) i", timeout => 1800);
note(sprintf('m1 appended %d records in one transaction in %.1f s', $records, time - $t0));

sub status_kb
{
	my ($field) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return undef;
	while (<$fh>) { return $1 if /^$field:\s+(\d+) kB/; }
	return undef;
}

my ($max_rss, $max_anon, $samples) = (0, 0, 0);
my $want = $records + $keys;
my $deadline = time + 1800;
my $applied = 0;
$t0 = time;
while (time < $deadline)
{
	my $rss = status_kb('VmRSS');
	my $anon = status_kb('RssAnon');
	if (defined $rss)
	{
		$max_rss = $rss if $rss > $max_rss;
		$max_anon = $anon if $anon > $max_anon;
		$samples++;
	}
	$applied = $m2->safe_psql('postgres', "SELECT records_applied FROM tieredlog.peers WHERE peer_name = 'm1'");
	last if $applied >= $records;
	usleep(250_000);
}
my $secs = time - $t0;
note(sprintf('m2 applied %d records in %.1f s (%.0f records/s); apply worker peak VmRSS %.1f MB, RssAnon %.1f MB over %d samples',
	$applied, $secs, $applied / ($secs || 1), $max_rss / 1024, $max_anon / 1024, $samples));
is($applied, $records, 'm2 applied the whole transaction');
is(apply_pid(), $pid, 'with the same apply worker (it never failed or restarted)');
ok($samples > 4, "the worker was sampled while it applied ($samples samples)");
ok($max_rss < 256 * 1024, sprintf('its RSS stayed under 256 MB: peak %.1f MB (private %.1f MB)', $max_rss / 1024, $max_anon / 1024));
is($m2->safe_psql('postgres', "SELECT count(*), count(DISTINCT (origin, seq)) FROM tieredlog.read('big')"), "$want|$want",
	'every record once');
ok($m2->poll_query_until('postgres', "SELECT count(*) = $keys AND count(DISTINCT key) = $keys AND min(pairs) > 1
	AND bool_and(winner LIKE 'm1:%') FROM tieredlog.conflicts WHERE log_name = 'big'"),
	'one episode per key, each moved through many pairs (written within seconds of the last batch)');
is($m2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.conflicts WHERE log_name = 'big' AND winner LIKE 'm1:%'"), $keys,
	'each decided for m1\'s newest record (the later one)');
my ($key_latest) = $m2->safe_psql('postgres', "SELECT origin FROM tieredlog.latest('big', 'k7')");
is($key_latest, 'm1', 'latest() returns m1\'s head');
done_testing();
