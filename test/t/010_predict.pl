# The prediction model and the scheduler between two nodes: every pair is checked once (the
# staleness floor); with a budget for one check, the pair the model rates riskiest (its window
# overlaps a gap) is the one checked, and the damage behind it is repaired; each decision and its
# outcome is logged; the worker runs checks on its own; train_model() fits on labelled checks and
# activates the model only when it is not worse than the prior on held-out checks.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my @nodes;
for my $i (1 .. 2)
{
	my $n = tl_node("p$i", "tieredlog.stats_flush_interval = 1\n");
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
	push @nodes, $n;
}
my ($p1, $p2) = @nodes;
tl_full_mesh(@nodes);

# three segments of 100 records each, two to four hours old
$p1->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'k' || i, jsonb_build_object('i', i), NULL,
	date_trunc('hour', now()) - interval '4 hours' + (i / 100) * interval '1 hour' + (i % 100) * interval '10 s')
	FROM generate_series(0, 299) i});
ok($p2->poll_query_until('postgres', "SELECT count(*) = 300 FROM tieredlog.read('ev')"), 'p2 has the 300 records');
my @segs = split /\n/, $p2->safe_psql('postgres', "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev' ORDER BY range_start");
is(scalar @segs, 3, 'three segments');

# each node gathers its peer's access statistics: p2 learns that p1 wrote the 300 records itself
ok($p2->poll_query_until('postgres', "SELECT sum(local_writes) = 300 FROM tieredlog.peer_access WHERE peer_name = 'p1' AND log_name = 'ev'"),
	'p2 holds p1\'s access statistics for the log');
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog._pair_features() WHERE features[13] = ln(101)"), '3',
	'the peer\'s own writes since the last check are a feature of every pair');

sub setting
{
	my ($n, $name, $value) = @_;
	$n->safe_psql('postgres', "ALTER SYSTEM SET $name = '$value'");
	$n->reload;
	$n->safe_psql('postgres', "SELECT pg_sleep(0.5)");	# the postmaster rereads it; new sessions see it
}

# The worker sleeps for an hour after the cycle it may be in, until the next reload (tests set
# naptime back to 1 s).
sub worker_asleep
{
	my ($n) = @_;
	setting($n, 'tieredlog.naptime', '3600');
	$n->safe_psql('postgres', "SELECT pg_sleep(2)");
}

# ---- the first cycle: nothing was ever checked, so the floor takes every pair ----------------------
is($p2->safe_psql('postgres', "SELECT tieredlog._run_checks()"), '3', 'the first cycle checks the three pairs');
is($p2->safe_psql('postgres', "SELECT string_agg(reason || '/' || status || '/' || diverged, ',') FROM tieredlog.check_log"),
	'floor/in_sync/false,floor/in_sync/false,floor/in_sync/false', 'all by the staleness floor, all in sync');
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.check_log WHERE cardinality(features) = cardinality(tieredlog.feature_names())
	AND model_id IS NOT NULL AND score > 0 AND score < 1 AND cost > 0"), '3', 'each decision logs features, model, score and cost');

# ---- damage behind a gap; a budget for one check: the model picks the risky pair ------------------
my $victim = $segs[1];
my $rel = $p2->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE segment_id = $victim");
is($p2->safe_psql('postgres', "WITH d AS (DELETE FROM tieredlog_data.$rel WHERE key IN ('k110', 'k120', 'k130') RETURNING 1)
	SELECT count(*) FROM d"), '3', 'three records deleted behind the extension\'s back on p2');
# PostgreSQL's table statistics show the deletes: p2 counts them as row changes of the segment, and p1
# learns them from p2's access statistics
ok($p2->poll_query_until('postgres', "SELECT sum(row_changes) = 3 FROM tieredlog.access_history WHERE segment_id = $victim"),
	'p2\'s access_history counts the three deleted rows (pg_stat) as row changes');
is($p2->safe_psql('postgres', "SELECT string_agg(segment_id::text, ',') FROM tieredlog._pair_features() WHERE features[16] = ln(4)"),
	$victim, 'they are a feature of that pair only');
ok($p1->poll_query_until('postgres', "SELECT sum(row_changes) = 3 FROM tieredlog.peer_access WHERE peer_name = 'p2'"),
	'p1 holds them as p2\'s row changes')
  or diag($p1->safe_psql('postgres', "SELECT * FROM tieredlog.peer_access WHERE row_changes <> 0"));
is($p1->safe_psql('postgres', "SELECT count(*) FROM tieredlog._pair_features() WHERE features[17] = ln(4)"), '1',
	'a feature of p1\'s pair with p2 for that segment');
my $one_cost = $p2->safe_psql('postgres', "SELECT ceil(max(cost) * 1.5 / 1024)::int FROM tieredlog._pair_features()");
setting($p2, 'tieredlog.reconcile_budget', "${one_cost}kB");
setting($p2, 'tieredlog.explore_fraction', '0');
setting($p2, 'tieredlog.conflict_threshold', '0.99');
# an open gap over its window (the worker, which would close it by reconciling, is kept asleep;
# a reload wakes it, so this comes after the settings)
worker_asleep($p2);
$p2->safe_psql('postgres', "INSERT INTO tieredlog.gap (peer_name, from_ts, to_ts, reason)
	SELECT 'p1', range_start + interval '5 minutes', range_start + interval '20 minutes', 'test: a lost slot'
	  FROM tieredlog.segments WHERE segment_id = $victim");
ok($p2->safe_psql('postgres', "SELECT tieredlog.predict($victim, 'p1') > tieredlog.predict($segs[0], 'p1')"),
	'the pair whose window overlaps a gap scores higher');
is($p2->safe_psql('postgres', "SELECT count(*) || '/' || min(segment_id) || '/' || min(reason) FROM tieredlog.schedule"),
	"1/$victim/exploit", 'the schedule holds one check within the budget: that pair, by score per cost');
is($p2->safe_psql('postgres', "SELECT tieredlog._run_checks()"), '1', 'the cycle runs one check');
is($p2->safe_psql('postgres', "SELECT segment_id || '/' || reason || '/' || status || '/' || diverged || '/' || records_moved
	FROM tieredlog.check_log ORDER BY check_id DESC LIMIT 1"), "$victim/exploit/repaired/true/3",
	'it found the divergence and repaired it, and says so');
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev')"), '300', 'p2 has the 300 records again');
$p2->safe_psql('postgres', "DELETE FROM tieredlog.gap WHERE reason = 'test: a lost slot'");
setting($p2, 'tieredlog.naptime', '1');

# ---- a check that fails is logged, and the others go on -------------------------------------------
setting($p2, 'tieredlog.reconcile_budget', '64MB');
$p1->stop;
my $before = $p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.check_log");
$p2->safe_psql('postgres', "SELECT tieredlog._run_checks()");
is($p2->safe_psql('postgres', "SELECT count(*) FILTER (WHERE status = 'error' AND error LIKE '%p1%') || '/' || count(*)
	FROM tieredlog.check_log WHERE check_id > (SELECT max(check_id) - 3 FROM tieredlog.check_log)"), '3/3',
	'with the peer down every check is logged as an error naming it');
$p1->start;

# ---- the worker runs the scheduler on its own ------------------------------------------------------
$before = $p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.check_log");
setting($p2, 'tieredlog.check_interval', '1');
ok($p2->poll_query_until('postgres', "SELECT count(*) > $before FROM tieredlog.check_log WHERE status = 'in_sync'"),
	'with check_interval = 1s the worker checks on its own');
setting($p2, 'tieredlog.check_interval', '0');
like($p2->safe_psql('postgres', "SELECT string_agg(DISTINCT task, ',') FROM tieredlog.task_history"), qr/scheduled checks/,
	'task_history shows the scheduler');

# ---- training ----------------------------------------------------------------------------------------
is($p2->safe_psql('postgres', "SELECT tieredlog.train_model() IS NULL"), 't', 'too few labels: no model, the prior stays');
# 400 labelled checks: divergence follows gaps and writes (deterministic pseudo-random labels)
$p2->safe_psql('postgres', q{
INSERT INTO tieredlog.check_log (decided_at, segment_id, log_name, range_start, tier, peer_name, features, model_id,
								 score, cost, reason, finished_at, status, diverged)
SELECT now() - (400 - g) * interval '1 minute', 0, 'synthetic', now(), 0, 'p1',
	   ARRAY[w, 0, 0, 0, gap, 1, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0]::float8[], 1, 0.5, 8192, 'explore', now(), 'in_sync',
	   (hashint4(g) % 1000 + 1000) % 1000 < 1000 / (1 + exp(-(-3 + 2.5 * gap + 0.6 * w)))
  FROM (SELECT g, (g % 7)::float8 AS w, (g % 5 = 0)::int::float8 AS gap FROM generate_series(1, 400) g) s});
my $model = $p2->safe_psql('postgres', "SELECT tieredlog.train_model(1.0)");
ok($model > 1, "train_model() fits model $model on the labelled checks");
is($p2->safe_psql('postgres', "SELECT metrics->'holdout' ?& ARRAY['log_loss', 'brier', 'auc_pr', 'recall_at_10pct_cost']
	FROM tieredlog.models WHERE model_id = $model"), 't', 'models shows its held-out log-loss, Brier, AUC-PR and recall at budget');
is($p2->safe_psql('postgres', "SELECT state FROM tieredlog.models WHERE model_id = $model"), 'active',
	'it beats the hand-set prior on the held-out checks and becomes active');
ok($p2->safe_psql('postgres', "SELECT coef[6] > 1 AND coef[2] > 0.2 FROM tieredlog.models WHERE model_id = $model"),
	'it learned that gaps and writes predict divergence');
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.models WHERE state = 'active'"), '1', 'one active model');
ok($p2->safe_psql('postgres', "SELECT tieredlog.predict($victim, 'p1') BETWEEN 0 AND 1"), 'predict() uses it');
# a check a crash left unfinished (logged, never run) is marked abandoned by the next cycle's logging
my $stale = $p2->safe_psql('postgres', "INSERT INTO tieredlog.check_log (decided_at, segment_id, log_name, range_start, tier,
	peer_name, features, score, cost, reason)
	SELECT now() - interval '1 hour', segment_id, log_name, range_start, 0, 'p1', array_fill(0::float8, ARRAY[18]), 0.5, 8192, 'exploit'
	  FROM tieredlog.segments WHERE segment_id = $victim RETURNING check_id");
$p2->safe_psql('postgres', "SELECT tieredlog._log_checks()");
is($p2->safe_psql('postgres', "SELECT status || '/' || (finished_at IS NOT NULL) FROM tieredlog.check_log WHERE check_id = $stale"),
	'abandoned/true', 'a check left unfinished an hour ago is marked abandoned');

# the threshold step: a trained model's score above tieredlog.conflict_threshold is checked first
setting($p2, 'tieredlog.conflict_threshold', '0');
setting($p2, 'tieredlog.reconcile_budget', '1GB');
setting($p2, 'tieredlog.check_max_staleness', '100d');
is($p2->safe_psql('postgres', "SELECT string_agg(DISTINCT reason, ',') FROM tieredlog.schedule"), 'threshold',
	'with a trained model, every pair above the threshold is due at once');
$p2->safe_psql('postgres', "UPDATE tieredlog.model SET state = 'retired' WHERE state = 'active';
	UPDATE tieredlog.model SET state = 'active' WHERE model_id = 1");
is($p2->safe_psql('postgres', "SELECT string_agg(DISTINCT reason, ',') FROM tieredlog.schedule"), 'exploit',
	'with the hand-set prior (a ranking, not a probability) the threshold does not apply');
$p2->safe_psql('postgres', "UPDATE tieredlog.model SET state = 'retired' WHERE state = 'active';
	UPDATE tieredlog.model SET state = 'active' WHERE model_id = $model");
my ($rc, $out, $err) = $p2->psql('postgres', "SELECT tieredlog.train_model(-1)");
like($err, qr/lambda must be a finite number >= 0/, 'a negative lambda is refused');
($rc, $out, $err) = $p2->psql('postgres', "SELECT tieredlog.train_model('NaN')");
like($err, qr/lambda must be a finite number >= 0/, 'so is NaN (found by SQLsmith: it sorts above every number)');
($rc, $out, $err) = $p2->psql('postgres', "SELECT tieredlog.predict($victim, 'nobody')");
like($err, qr/peer "nobody" does not exist/, 'an unknown peer is refused');

# ---- writes streaming skips: a session with a replication origin set ---------------------------------
# The output plugin skips transactions that carry a replication origin (they came from a peer, or
# from another replication system), so such a local append reaches peers only by anti-entropy.
$p1->safe_psql('postgres', "SELECT pg_replication_origin_create('elsewhere')");
$p1->safe_psql('postgres', "SELECT pg_replication_origin_session_setup('elsewhere');
	SELECT tieredlog.append('ev', 'unstreamed', '{}', NULL, range_start + interval '1 minute')
	  FROM tieredlog.segments WHERE log_name = 'ev' ORDER BY range_start LIMIT 1");
ok($p1->poll_query_until('postgres', "SELECT sum(unstreamed_writes) = 1 AND sum(local_writes) = 1 FROM tieredlog.access_history
	WHERE sampled_at > now() - interval '1 minute' AND segment_id = (SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev'
	ORDER BY range_start LIMIT 1)"), 'p1 counts the append as a local write streaming skips');
ok($p2->poll_query_until('postgres', "SELECT sum(unstreamed_writes) = 1 FROM tieredlog.peer_access WHERE peer_name = 'p1'"),
	'p2 learns it from p1\'s access statistics');
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev') WHERE key = 'unstreamed'"), '0',
	'streaming did not bring the record to p2');
is($p2->safe_psql('postgres', "SELECT string_agg(segment_id::text, ',') FROM tieredlog._pair_features() WHERE features[15] = ln(2)"),
	$segs[0], 'it is a feature of p2\'s pair with p1 for that segment');
is($p1->safe_psql('postgres', "SELECT count(*) FROM tieredlog._pair_features() WHERE features[14] = ln(2)"), '1',
	'and of p1\'s own pair for it');

# ---- a divergence found with another peer marks the segment's other pairs ---------------------------
$p2->safe_psql('postgres', "INSERT INTO tieredlog.check_log (segment_id, log_name, range_start, tier, peer_name, features,
	score, cost, reason, finished_at, status, diverged)
	SELECT segment_id, log_name, range_start, 0, 'p3', array_fill(0::float8, ARRAY[18]), 0.5, 8192, 'exploit', now(), 'repaired', true
	  FROM tieredlog.segments WHERE segment_id = $segs[2]");
is($p2->safe_psql('postgres', "SELECT string_agg(segment_id::text, ',') FROM tieredlog._pair_features() WHERE features[18] = 1"),
	$segs[2], 'a divergence found with another peer is a feature of the segment\'s pair with p1');
$p2->safe_psql('postgres', "INSERT INTO tieredlog.check_log (decided_at, segment_id, log_name, range_start, tier, peer_name,
	features, score, cost, reason, finished_at, status, diverged)
	SELECT now() + interval '1 second', segment_id, log_name, range_start, 0, 'p1', array_fill(0::float8, ARRAY[18]), 0.5, 8192,
		   'exploit', now(), 'in_sync', false FROM tieredlog.segments WHERE segment_id = $segs[2]");
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog._pair_features() WHERE features[18] = 1"), '0',
	'until that pair is checked itself');
# so does a repair that brought records from another peer (its REPAIR ledger entry): repaired
# records are not streamed on. (The entry is written by hand here: this test has two nodes.)
$p2->safe_psql('postgres', "INSERT INTO tieredlog.ledger_entry (kind, log_name, segment_id, body, created_at)
	VALUES ('REPAIR', 'ev', $segs[0], jsonb_build_object('peer', 'p3', 'records', 1), now() + interval '2 seconds')");
is($p2->safe_psql('postgres', "SELECT string_agg(segment_id::text, ',') FROM tieredlog._pair_features() WHERE features[18] = 1"),
	$segs[0], 'records repaired from another peer mark the segment\'s pair with p1 too');
is($p2->safe_psql('postgres', "SELECT count(*) FILTER (WHERE f.features[18] = 1) || '/' || (count(*) > 0)
	FROM tieredlog.ledger_entry e JOIN tieredlog._pair_features() f ON f.segment_id = e.segment_id
	WHERE e.kind = 'REPAIR' AND e.body->>'peer' = 'p1'"), '0/true',
	'but not for the peer the records came from (the repair of the damaged segment)');

# ---- a gap holds records of the segments the peer wrote to meanwhile, whatever their timestamps ------
# (p1's 300 records are hours old, so no window overlaps a gap's commit times; p1's access statistics,
# sampled when it wrote them, say which segments it wrote to)
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog._pair_features() WHERE features[5] = 1"), '0', 'no gap open');
worker_asleep($p2);
$p2->safe_psql('postgres', "INSERT INTO tieredlog.gap (peer_name, from_ts, to_ts, reason)
	SELECT 'p1', t - interval '1 hour', t - interval '59 minutes', 'test: long before the writes'
	  FROM (SELECT min(sampled_at) AS t FROM tieredlog.peer_access WHERE peer_name = 'p1' AND local_writes > 0) a");
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog._pair_features() WHERE features[5] = 1"), '0',
	'a gap long before the peer wrote is no risk');
$p2->safe_psql('postgres', "INSERT INTO tieredlog.gap (peer_name, from_ts, to_ts, reason)
	SELECT 'p1', t - interval '3 seconds', t - interval '2 seconds', 'test: while p1 wrote'
	  FROM (SELECT min(sampled_at) AS t FROM tieredlog.peer_access WHERE peer_name = 'p1' AND local_writes > 0) a");
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog._pair_features() WHERE features[5] = 1"), '3',
	'a gap while the peer wrote marks the three segments it wrote to');
$p2->safe_psql('postgres', "UPDATE tieredlog.gap SET closed_at = now() WHERE reason = 'test: while p1 wrote'");
is($p2->safe_psql('postgres', "SELECT count(*) FROM tieredlog._pair_features() WHERE features[5] = 1"), '0',
	'once closed (the worker reconciled every segment with the peer), it is no risk any more');
$p2->safe_psql('postgres', "DELETE FROM tieredlog.gap WHERE reason LIKE 'test: %'");
setting($p2, 'tieredlog.naptime', '1');

# ---- kill -9: PostgreSQL's table statistics start from zero, and nothing is counted twice ---------
# (and a check cut short with its worker is marked abandoned when the worker starts again, not ten
# minutes later by a cycle's logging: the soak, test/t/029_soak.pl, found such checks in flight)
my $cut = $p2->safe_psql('postgres', "INSERT INTO tieredlog.check_log (segment_id, log_name, range_start, tier,
	peer_name, features, score, cost, reason)
	SELECT segment_id, log_name, range_start, 0, 'p1', array_fill(0::float8, ARRAY[18]), 0.5, 8192, 'exploit'
	  FROM tieredlog.segments WHERE segment_id = $victim RETURNING check_id");
$p2->stop('immediate');
$p2->start;
ok($p2->poll_query_until('postgres', "SELECT status = 'abandoned' AND finished_at IS NOT NULL FROM tieredlog.check_log WHERE check_id = $cut"),
	'a check left unfinished by the crash is marked abandoned when the worker starts again');
ok($p2->poll_query_until('postgres', "SELECT changes = 0 FROM tieredlog.row_change_baseline WHERE segment_id = $victim"),
	'after a crash the row-change baseline follows the reset counters');
is($p2->safe_psql('postgres', "SELECT sum(row_changes) FROM tieredlog.access_history WHERE segment_id = $victim"), '3',
	'the three deletes are still counted once');
$p2->safe_psql('postgres', "DELETE FROM tieredlog_data.$rel WHERE ctid IN (SELECT ctid FROM tieredlog_data.$rel LIMIT 1)");
ok($p2->poll_query_until('postgres', "SELECT sum(row_changes) = 4 FROM tieredlog.access_history WHERE segment_id = $victim"),
	'a delete after the crash is counted');

done_testing();
