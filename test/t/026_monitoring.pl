# Monitoring: Debian's prometheus-postgres-exporter runs monitoring/queries.yaml against a node of a
# two-node mesh, as the least-privilege role monitoring/monitor-role.sql creates (pg_monitor and
# read-only grants, no superuser), and serves /metrics on loopback only. Checks:
#  - every metric the queries file defines is scraped, and no query of the file fails;
#  - the metrics move when the system does: an append (tier and log records), a move to tier 1
#    (moves counter, tier 1 segments, stored bytes), a reconciliation (reconcile outcome and
#    bytes), the scheduler's checks, the peer's lag (bytes and seconds, while this node's apply
#    worker is blocked) and a slot holding WAL (retained bytes, inactive) while a peer is paused;
#  - the tieredlog.health view, as that role, turns WARN for the paused peer and OK again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use IPC::Run;
use TlCluster;

my $exporter = '/usr/bin/prometheus-postgres-exporter';
plan skip_all => "$exporter is not installed (apt-get install prometheus-postgres-exporter)" unless -x $exporter;
my $queries_file = 'monitoring/queries.yaml';	# test.sh copies monitoring/ next to t/
die "no $queries_file in " . `pwd` unless -f $queries_file;

# the metric names the queries file defines: <namespace>_<column> for each GAUGE or COUNTER column
my (@expected, $ns);
open my $fh, '<', $queries_file or die "$queries_file: $!";
while (<$fh>)
{
	$ns = $1 if /^([a-z_]+):\s*$/;
	push @expected, "${ns}_$1" if /^\s+- ([a-z_0-9]+): \{usage: "(?:GAUGE|COUNTER)"/;
}
close $fh;
cmp_ok(scalar(@expected), '>=', 60, 'the queries file defines ' . scalar(@expected) . ' metrics');

my $n1 = tl_node('m1', "tieredlog.ledger_interval = '1s'\n");
my $n2 = tl_node('m2', "tieredlog.ledger_interval = '1s'\n");
for my $n ($n1, $n2)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog;
SELECT tieredlog.create_log('ev', '1 hour');
SELECT tieredlog.create_log('old', '1 hour');});
}
# records m1 never streamed (written before the peers existed): reconciliation brings them
$n2->safe_psql('postgres', q{SELECT count(tieredlog.append('old', 'o' || g, jsonb_build_object('i', g), NULL,
	now() - interval '3 hours')) FROM generate_series(1, 200) g});
tl_full_mesh($n1, $n2);

# the monitoring role, as README Monitoring sets it up
my ($rc, $out, $err) = $n1->psql('postgres', slurp_file('monitoring/monitor-role.sql'), extra_params => ['-v', 'role=tl_monitor']);
is($rc, 0, 'monitor-role.sql ran') or diag($err);
is($n1->safe_psql('postgres', q{SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls
	FROM pg_roles WHERE rolname = 'tl_monitor'}), 'f', 'the monitoring role has no special attribute');
($rc, $out, $err) = $n1->psql('postgres', "SET ROLE tl_monitor; SELECT tieredlog.append('ev', 'x', '{}')");
like($err, qr/permission denied/, 'the monitoring role cannot append');
($rc, $out, $err) = $n1->psql('postgres', "SET ROLE tl_monitor; SELECT count(*) FROM tieredlog.read('ev')");
like($err, qr/permission denied/, 'the monitoring role cannot read records');

# a free loopback port in 59300-59399
my $port;
for my $p (map { 59300 + ($_ + $$) % 100 } 0 .. 99)
{
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Proto => 'tcp', Listen => 1, ReuseAddr => 1);
	if ($s) { close $s; $port = $p; last; }
}
die 'no free port in 59300-59399' unless defined $port;

my $log = "$PostgreSQL::Test::Utils::tmp_check/exporter.log";
$ENV{DATA_SOURCE_NAME} = 'host=' . $n1->host . ' port=' . $n1->port . ' user=tl_monitor dbname=postgres sslmode=disable';
our $h = IPC::Run::start([ $exporter, "--web.listen-address=127.0.0.1:$port", "--extend.query-path=$queries_file",
	'--disable-settings-metrics', '--log.level=info' ], '<', \undef, '>', $log, '2>&1');
# the exporter must not outlive the test, whatever happens to it
END { $h->kill_kill if $h; }
my $http = HTTP::Tiny->new(timeout => 10);
my $url = "http://127.0.0.1:$port/metrics";

# Scrape: { name => [ [ {labels}, value ], ... ] }
sub scrape
{
	my $r = $http->get($url);
	die "GET $url: $r->{status} $r->{reason}" unless $r->{success};
	my %m;
	for my $line (split /\n/, $r->{content})
	{
		next if $line =~ /^#/ || $line !~ /\S/;
		my ($name, $labels, $value) = $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/ or next;
		my %l;
		$l{$1} = $2 while defined $labels && $labels =~ /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
		push @{ $m{$name} }, [ \%l, $value ];
	}
	return \%m;
}

# the value of one series (labels given must match), undef when absent
sub value
{
	my ($m, $name, %want) = @_;
	for my $s (@{ $m->{$name} // [] })
	{
		return $s->[1] unless grep { ($s->[0]{$_} // "\0") ne $want{$_} } keys %want;
	}
	return undef;
}

# scrape until $cond->($metrics) holds (the exporter caches nothing but verify(); the worker and
# the apply workers move on their own)
sub scrape_until
{
	my ($cond) = @_;
	my $m;
	for (1 .. 90)
	{
		$m = eval { scrape() };
		return $m if $m && $cond->($m);
		sleep 1;
	}
	return $m;
}

my $m = scrape_until(sub { defined value($_[0], 'tieredlog_tier_records', tier => '0') });
ok(defined value($m, 'tieredlog_tier_records', tier => '0'), 'the exporter serves tieredlog metrics on loopback');

# what exists only once the system did something: a move, a reconciliation, scheduler checks, a
# witnessed ledger digest
$n1->safe_psql('postgres', q{SELECT count(tieredlog.append('ev', 'k' || g, jsonb_build_object('i', g), NULL,
	now() - interval '5 hours')) FROM generate_series(1, 300) g});
my $before = scrape();
my $records0 = value($before, 'tieredlog_tier_records', tier => '0');
my $t1_segments = value($before, 'tieredlog_tier_segments', tier => '1');
my $moves = value($before, 'tieredlog_moves_total', from_tier => '0', to_tier => '1') // 0;
$n1->safe_psql('postgres', q{SELECT tieredlog.seal(segment_id) FROM tieredlog.segments
	WHERE log_name = 'ev' AND range_end < now() - interval '4 hours'});
$n1->safe_psql('postgres', q{SELECT count(*) FROM tieredlog.segments s, tieredlog.move_segment(s.segment_id, 1) m
	WHERE s.log_name = 'ev' AND s.state = 'sealed'});
$n1->safe_psql('postgres', q{SELECT count(*) FROM tieredlog.reconcile('old', 'm2')});
$n1->safe_psql('postgres', q{ALTER SYSTEM SET tieredlog.check_interval = '1s'; SELECT pg_reload_conf()});

$m = scrape_until(sub {
	my $m = shift;
	return !grep { !exists $m->{$_} } @expected;
});
my @missing = grep { !exists $m->{$_} } @expected;
is(join(' ', @missing), '', 'every metric of the queries file is scraped');
is(value($m, 'pg_up'), '1', 'the exporter reaches the node as tl_monitor');
my $errors = value($m, 'pg_exporter_last_scrape_error');
is($errors, '0', 'the last scrape had no error');
my $exlog = slurp_file($log);
my @qerr = grep { /error/i && /tieredlog/ } split /\n/, $exlog;
is(scalar(@qerr), 0, 'the exporter logged no error about a tieredlog query') or diag(join("\n", @qerr[0 .. ($#qerr > 9 ? 9 : $#qerr)]));

# Prometheus conventions: counters end in _total, units come before it
is(join(' ', grep { /_total_/ } @expected), '', 'no metric name has anything after _total');

# append
cmp_ok(value($m, 'tieredlog_tier_records', tier => '0') + value($m, 'tieredlog_tier_records', tier => '1'), '>=',
	$records0, 'tier records are there after the append');
$n1->safe_psql('postgres', q{SELECT count(tieredlog.append('ev', 'n' || g, jsonb_build_object('i', g))) FROM generate_series(1, 500) g});
$m = scrape_until(sub { (value($_[0], 'tieredlog_log_records', log => 'ev', tier => '0', state => 'open') // 0) >= 500 });
cmp_ok(value($m, 'tieredlog_log_records', log => 'ev', tier => '0', state => 'open') // 0, '>=', 500,
	'an append of 500 records shows in tieredlog_log_records');
cmp_ok(value($m, 'tieredlog_tier_records', tier => '0'), '>', $records0, 'and in tieredlog_tier_records of tier 0');

# move
is(value($m, 'tieredlog_moves_total', from_tier => '0', to_tier => '1'), $moves + 1, 'the move counts in tieredlog_moves_total');
is(value($m, 'tieredlog_tier_segments', tier => '1'), $t1_segments + 1, 'tier 1 holds one more segment');
cmp_ok(value($m, 'tieredlog_tier_stored_bytes', tier => '1'), '>', 0, 'tier 1 stored bytes grew');
cmp_ok(value($m, 'tieredlog_moves_target_bytes_total', from_tier => '0', to_tier => '1'), '>', 0, 'the moved bytes are counted');

# reconciliation and the scheduler
is(value($m, 'tieredlog_reconcile_records_received_total', peer => 'm2', status => 'repaired'), '200',
	'the reconciliation that brought 200 records counts them');
cmp_ok(value($m, 'tieredlog_reconcile_bytes_total', peer => 'm2', status => 'repaired'), '>', 0, 'and its bytes');
$m = scrape_until(sub { (value($_[0], 'tieredlog_scheduler_last_cycle_checks') // 0) > 0 });
cmp_ok(value($m, 'tieredlog_scheduler_last_cycle_checks'), '>', 0, 'the scheduler\'s last cycle shows its checks');
cmp_ok(value($m, 'tieredlog_scheduler_last_cycle_budget_used_ratio'), '>', 0, 'and the share of the budget they used');
my $checks = 0;
$checks += $_->[1] for @{ $m->{tieredlog_checks_total} // [] };
cmp_ok($checks, '>', 0, 'tieredlog_checks_total counts them');
ok($n1->poll_query_until('postgres', q{SELECT count(*) >= 10 FROM tieredlog.check_log WHERE diverged IS NOT NULL}),
	'the scheduler labelled 10 checks');
$n1->safe_psql('postgres', q{ALTER SYSTEM SET tieredlog.check_interval = 0; SELECT pg_reload_conf()});

# the model's last evaluation: NaN until train_model() evaluates one, then its held-out scores
is(value($m, 'tieredlog_model_last_evaluation_timestamp_seconds', state => 'prior'), '0', 'no model evaluated yet');
is(lc(value($m, 'tieredlog_model_candidate_log_loss') // ''), 'nan', 'so its log-loss is NaN');
my $trained = $n1->safe_psql('postgres', q{SELECT tieredlog.train_model(1.0, 2, 0)});
ok($trained ne '', "train_model() evaluated model $trained on the checks so far");
$m = scrape_until(sub { (value($_[0], 'tieredlog_model_last_evaluation_timestamp_seconds') // 0) > 0 });
cmp_ok(value($m, 'tieredlog_model_last_evaluation_timestamp_seconds'), '>', 0, 'the evaluation shows in the metrics');
my $ll = value($m, 'tieredlog_model_candidate_log_loss');
ok(defined $ll && $ll =~ /^[0-9.e+-]+$/i && $ll >= 0, "with the new model's held-out log-loss ($ll)");
cmp_ok(value($m, 'tieredlog_model_evaluation_checks'), '>', 0, 'and how many checks it was evaluated on');

# integrity
is(value($m, 'tieredlog_verify_failed_checks'), '0', 'verify() as the monitoring role finds nothing wrong');
cmp_ok(value($m, 'tieredlog_verify_checks'), '>', 0, 'after ' . value($m, 'tieredlog_verify_checks') . ' checks');
cmp_ok(value($m, 'tieredlog_ledger_witness_last_timestamp_seconds', node => 'm2') // 0, '>', 0, 'm2\'s ledger digest is witnessed');
$m = scrape_until(sub { (value($_[0], 'tieredlog_ledger_blocks_total') // 0) > 1 });
cmp_ok(value($m, 'tieredlog_ledger_blocks_total'), '>', 1, 'ledger blocks are counted');

# worker
is(value($m, 'tieredlog_worker_up', database => 'postgres'), '1', 'the worker is up');
is(value($m, 'tieredlog_worker_state', database => 'postgres', state => 'failed'), '0', 'and not failed');
my $cycles = value($m, 'tieredlog_worker_cycles_total', database => 'postgres');
$m = scrape_until(sub { value($_[0], 'tieredlog_worker_cycles_total', database => 'postgres') > $cycles });
cmp_ok(value($m, 'tieredlog_worker_cycles_total', database => 'postgres'), '>', $cycles, 'its cycles counter moves');

# lag: m2's apply worker blocked on the segment m1 appends into, seen from m1's slot
is(value($m, 'tieredlog_peer_up', peer => 'm2'), '1', 'm2 is up');
my $lag0 = value($m, 'tieredlog_peer_lag_bytes', peer => 'm2');
cmp_ok($lag0, '<', 65536, "m1 is not behind m2 ($lag0 bytes)");
$n1->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'first', '{}')});
ok($n2->poll_query_until('postgres', q{SELECT count(*) > 0 FROM tieredlog.read('ev', key => 'first')}), 'm2 applies m1\'s record');
$m = scrape_until(sub { value($_[0], 'tieredlog_slot_unconfirmed_bytes', peer => 'm2') < 65536 });
my $unconfirmed0 = value($m, 'tieredlog_slot_unconfirmed_bytes', peer => 'm2');
cmp_ok($unconfirmed0, '<', 65536, "m2 has confirmed m1's WAL ($unconfirmed0 bytes left)");
my $applied = $n2->safe_psql('postgres', q{SELECT records_applied FROM tieredlog.peers WHERE peer_name = 'm1'});
my $rel = $n2->safe_psql('postgres', q{SELECT relation FROM tieredlog.segments WHERE log_name = 'ev' AND now() >= range_start AND now() < range_end});
my $bg = $n2->background_psql('postgres');
# SHARE: the apply worker's inserts wait, reads do not
$bg->query_safe("BEGIN; LOCK TABLE tieredlog_data.$rel IN SHARE MODE;");
$n1->safe_psql('postgres', q{SELECT count(tieredlog.append('ev', 'late' || g, jsonb_build_object('pad', repeat('y', 200)))) FROM generate_series(1, 2000) g});
$m = scrape_until(sub { value($_[0], 'tieredlog_slot_unconfirmed_bytes', peer => 'm2') > 100000
		&& value($_[0], 'tieredlog_slot_reply_age_seconds', peer => 'm2') > 2 });
cmp_ok(value($m, 'tieredlog_slot_unconfirmed_bytes', peer => 'm2'), '>', 100000, 'a blocked apply on m2 shows on m1 as unconfirmed bytes');
cmp_ok(value($m, 'tieredlog_slot_reply_age_seconds', peer => 'm2'), '>', 2, 'and as seconds since m2 last confirmed');
$bg->query_safe('COMMIT');
$bg->quit;
$m = scrape_until(sub { value($_[0], 'tieredlog_slot_unconfirmed_bytes', peer => 'm2') < 65536
		&& value($_[0], 'tieredlog_slot_reply_age_seconds', peer => 'm2') < 2 });
cmp_ok(value($m, 'tieredlog_slot_unconfirmed_bytes', peer => 'm2'), '<', 65536, 'the lag goes away once m2\'s apply worker goes on');
cmp_ok(value($m, 'tieredlog_slot_reply_age_seconds', peer => 'm2'), '<', 2, 'and m2 confirms again');
ok($n2->poll_query_until('postgres', "SELECT records_applied >= $applied + 2000 FROM tieredlog.peers WHERE peer_name = 'm1'"),
	'm2 applied the 2000 records');

# a paused peer: the slot m2 streams from on m1 keeps WAL
my $retained = value($m, 'tieredlog_slot_retained_bytes', peer => 'm2');
is(value($m, 'tieredlog_slot_active', peer => 'm2'), '1', 'm1\'s slot for m2 is active');
$n2->safe_psql('postgres', q{SELECT tieredlog.set_peer_enabled('m1', false)});
$n1->safe_psql('postgres', q{SELECT count(tieredlog.append('ev', 'p' || g, jsonb_build_object('pad', repeat('x', 500)))) FROM generate_series(1, 2000) g});
$m = scrape_until(sub { value($_[0], 'tieredlog_slot_active', peer => 'm2') == 0
		&& value($_[0], 'tieredlog_slot_retained_bytes', peer => 'm2') > $retained + 1000000 });
is(value($m, 'tieredlog_slot_active', peer => 'm2'), '0', 'paused, m2 no longer streams from its slot on m1');
cmp_ok(value($m, 'tieredlog_slot_retained_bytes', peer => 'm2'), '>', $retained + 1000000, 'and the slot holds the WAL written since');
is($n1->safe_psql('postgres', q{SET ROLE tl_monitor; SELECT status FROM tieredlog.health WHERE check_name = 'slot'}), 'OK',
	'health, as the monitoring role: a paused slot under 1 GB is OK');
is($n2->safe_psql('postgres', q{SELECT status || ' ' || reason FROM tieredlog.health WHERE check_name = 'peer'}),
	"WARN paused, stopped (set_peer_enabled('m1', true) resumes it)", 'health on m2: the paused peer is a WARN that says what resumes it');
$n2->safe_psql('postgres', q{SELECT tieredlog.set_peer_enabled('m1', true)});
$m = scrape_until(sub { value($_[0], 'tieredlog_slot_active', peer => 'm2') == 1
		&& value($_[0], 'tieredlog_slot_retained_bytes', peer => 'm2') < $retained + 1000000 });
is(value($m, 'tieredlog_slot_active', peer => 'm2'), '1', 'resumed, m2 streams again');
ok($n2->poll_query_until('postgres', q{SELECT status = 'OK' FROM tieredlog.health WHERE check_name = 'peer'}), 'and m2\'s health is OK again');
is(value($m, 'tieredlog_health_status', check => 'worker', object => 'postgres'), '0', 'tieredlog_health_status of the worker is OK');

# loopback only
my $other = `hostname -I 2>/dev/null` // '';
my ($addr) = grep { $_ ne '127.0.0.1' } split ' ', $other;
SKIP:
{
	skip 'no non-loopback address', 1 unless $addr && $addr =~ /^[0-9.]+$/;
	ok(!IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port, Proto => 'tcp', Timeout => 3),
		"the exporter does not answer on $addr");
}

$h->kill_kill;
done_testing();
