# Two races nothing else tests.
#
# A. The apply worker's kept indexes (log/append.c: apply_indexes, open_indexes_xact,
#    open_indexes_subxact). Only the apply worker keeps a segment relation's indexes and a
#    bulk-insert state open across records (tl_append_keep_indexes); a session's append(),
#    SAVEPOINT, PL/pgSQL exception block or PREPARE TRANSACTION never reaches that code (their own
#    paths are in test/sql/subxact.sql). n2 streams from n1 (n1 does not stream from n2); n1
#    appends as a role with only the README's writer grants. On n2:
#     1. one peer transaction whose records alternate between two segments, then a run in one
#        and one record in a third: every switch closes the kept indexes and opens the others';
#     2. the catalog generation moves while the worker holds the kept indexes in the middle of a
#        batch (it waits on a row a session holds with the identity of the batch's first record;
#        meanwhile a rule change commits), then the next record of the same segment reopens them;
#     3. internal subtransactions of the batch while it holds the kept indexes, at its commit: a
#        custom resolver that raises (a subtransaction rolled back) and the move of an episode (one
#        released); the indexes opened by the parent are closed once, at the commit;
#     4. a batch that fails after a record went through the kept indexes (the log's interval differs
#        on n2): the transaction aborts, the worker retries, and once the log is fixed everything
#        arrives once;
#     5. n1 appends in a prepared transaction (with a released savepoint): COMMIT PREPARED keeps
#        the records (with their digests: XACT_EVENT_PRE_PREPARE writes the digest cells),
#        ROLLBACK PREPARED keeps none, and n2 gets exactly the committed ones.
#    After each: the records once each, as n1 has them (count, content, identities), digests
#    (check_digests) and verify() ok on both nodes.
# After each step (A1-A5, B): no WARNING (leaked relcache references, buffer pins, resource
# owners), no backend terminated by a signal, no PANIC or failed assertion in either server log.
# B. An episode moved to a pair that another row took meanwhile (store/conflict_store.c,
#    move_episode): n2 reconciles records of key k of two forged origins fx, fy from n1 (written
#    there by hand under a replication origin, as in 038_key_origins.pl), which opens episode E1
#    (fx:1, fy:1). fx:2 arrives next by reconciliation: E1 moves to (fx:2, fy:1), but a concurrent
#    writer holds a row of that pair, uncommitted; the move's UPDATE waits for it on the unique
#    index, it commits, and the 23505 is taken as "leave it": reconcile() returns without error, E1
#    stays at (fx:1, fy:1), the pair is held once (by the concurrent row), and reconcile() again
#    changes nothing. reconcile() runs as a superuser here (TAP 015 runs it as the README's
#    operator role).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $conf = "max_prepared_transactions = 4\nlog_min_messages = warning\n";
my $n1 = tl_node('n1', $conf);
my $n2 = tl_node('n2', $conf);

my $roles = "CREATE EXTENSION tieredlog;\n" . tl_readme_roles() . q{
	CREATE ROLE app LOGIN IN ROLE log_reader, log_writer;
};
$_->safe_psql('postgres', $roles) for ($n1, $n2);
for my $log ('ev', 'cs', 'cf')
{
	$_->safe_psql('postgres', "SELECT tieredlog.create_log('$log', '1 day')") for ($n1, $n2);
}
$n1->safe_psql('postgres', "SELECT tieredlog.create_log('mis', '1 day')");
$n2->safe_psql('postgres', "SELECT tieredlog.create_log('mis', '1 hour'), tieredlog.create_log('scratch', '1 day')");
tl_add_peer($n2, $n1);
ok($n2->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"),
	'n2 streams from n1');

sub as_app
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => ['-U', 'app']);
}

# A log's records of origin n1 as n1 stored them: count, distinct identities, and a hash of
# everything (key, payload, ts, origin, seq, rid).
sub records
{
	my ($node, $log) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) || ' records, ' || count(DISTINCT (origin, seq)) || ' identities, '
		       || md5(COALESCE(string_agg(concat_ws('|', key, payload, ts, origin, seq, rid), ',' ORDER BY origin, seq), ''))
		  FROM tieredlog.read('$log') WHERE origin = 'n1'}, extra_params => ['-U', 'app']);
}

# 'ok' when every digest matches its segment's rows and verify() finds nothing wrong (and both
# looked at something); else what they said.
sub sound
{
	my ($node, $log) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT CASE WHEN d.n > 0 AND d.bad = 0 AND v.n > 0 AND v.bad = 0 THEN 'ok'
		            ELSE format('digests %s/%s bad, verify %s/%s bad: %s', d.bad, d.n, v.bad, v.n, v.what) END
		  FROM (SELECT count(*) n, count(*) FILTER (WHERE NOT ok) bad FROM tieredlog.check_digests('$log')) d,
		       (SELECT count(*) n, count(*) FILTER (WHERE NOT ok) bad,
		               string_agg(check_name || ' ' || object, '; ') FILTER (WHERE NOT ok) what
		          FROM tieredlog.verify('$log')) v}, extra_params => ['-U', 'app']);
}

# n2 has the records of $log that n1 has ($expect: their count) and both are sound.
sub same_on_both
{
	my ($log, $expect, $what) = @_;
	my $want = records($n1, $log);

	like($want, qr/^$expect records, $expect identities, /, "$what: n1 holds the $expect records once each");
	ok($n2->poll_query_until('postgres', "SELECT count(*) >= $expect FROM tieredlog.read('$log') WHERE origin = 'n1'"),
		"$what: n2 received them");
	is(records($n2, $log), $want, "$what: n2 holds exactly n1's records (count, identities, content)");
	is(sound($n1, $log) . ' / ' . sound($n2, $log), 'ok / ok', "$what: digests and verify() ok on both nodes");
	return;
}

# What the servers logged since the last call: no WARNING (a leaked relcache reference, buffer pin
# or resource owner is one), no backend terminated by a signal, no PANIC or failed assertion.
my %log_pos = ();
sub logs_clean
{
	my ($what) = @_;
	my @bad;

	for my $n ($n1, $n2)
	{
		my $log = slurp_file($n->logfile, $log_pos{ $n->name } // 0);
		$log_pos{ $n->name } = ($log_pos{ $n->name } // 0) + length($log);
		push @bad, map { $n->name . ": $_" } grep { /WARNING|leak|terminated by signal|PANIC|TRAP/ } split /\n/, $log;
	}
	is(scalar(@bad), 0, "$what: no WARNING, leak, crash or assertion failure in the server logs")
	  or diag(join("\n", @bad[0 .. ($#bad < 20 ? $#bad : 19)]));
	return;
}

# ---- A1. one batch across segments -----------------------------------------------------------
as_app($n1, q{
	BEGIN;
	SELECT tieredlog.append_many('ev', array_agg('alt' || i), array_agg(jsonb_build_object('i', i)), NULL,
		array_agg(CASE WHEN i % 2 = 0 THEN timestamptz '2026-03-01 10:00:00+00' ELSE timestamptz '2026-03-02 10:00:00+00' END
		          + i * interval '1 second'))
	  FROM generate_series(1, 40) i;
	SELECT tieredlog.append('ev', 'run' || i, jsonb_build_object('i', i), NULL,
		timestamptz '2026-03-01 11:00:00+00' + i * interval '1 second') FROM generate_series(1, 200) i;
	SELECT tieredlog.append('ev', 'third', '{}', NULL, '2026-03-03 10:00:00+00');
	SELECT tieredlog.append('ev', 'back', '{}', NULL, '2026-03-01 12:00:00+00');
	COMMIT;});
same_on_both('ev', 242, 'A1 one batch across three segments');
is($n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.segments WHERE log_name = 'ev' AND records > 0"), '3',
	'A1: n2 has the three segments');

logs_clean('A1');

# ---- A2. the catalog generation moves while the worker holds the kept indexes --------------------
my $w1 = $n1->background_psql('postgres', extra_params => ['-U', 'app']);
$w1->query_safe('BEGIN');
my $s1 = $w1->query_safe("SELECT tieredlog.append('ev', 'g1', '{\"g\": 1}', NULL, '2026-03-01 13:00:00+00')");
$w1->query_safe("SELECT tieredlog.append('ev', 'g2', '{\"g\": 2}', NULL, '2026-03-01 13:00:01+00')");
$w1->query_safe("SELECT tieredlog.append('ev', 'g3', '{\"g\": 3}', NULL, '2026-03-02 13:00:02+00')");
$w1->query_safe("SELECT tieredlog.append('ev', 'g4', '{\"g\": 4}', NULL, '2026-03-01 13:00:03+00')");
my $rel_a = $n2->safe_psql('postgres',
	"SELECT relation FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '2026-03-01 00:00:00+00'");
# a session on n2 holds a row with g1's identity, uncommitted: the worker's insert of g1 waits for it
my $holder = $n2->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe(qq{INSERT INTO tieredlog_data.$rel_a (ts, key, payload, source, origin, seq, rid)
	VALUES ('2026-03-01 13:00:00+00', 'g1', '{"holder": true}', NULL, 'n1', $s1,
	        tieredlog.record_rid('ev', 'g1', '{"holder": true}', '2026-03-01 13:00:00+00', NULL, 'n1', $s1))});
$w1->query_safe('COMMIT');
my $apply_waits = "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'tieredlog apply'
	AND wait_event_type = 'Lock' AND wait_event = 'transactionid'";
ok($n2->poll_query_until('postgres', $apply_waits), 'A2: the apply worker waits in the batch, on the holder');
$n2->safe_psql('postgres', "SELECT tieredlog.set_conflict_rule('scratch', 'first_writer_wins')");
ok($n2->poll_query_until('postgres', $apply_waits), 'A2: a catalog change committed while it waits');
$holder->query_safe('ROLLBACK');
$holder->quit;
$w1->quit;
same_on_both('ev', 246, 'A2 generation moved within the batch');
is($n2->safe_psql('postgres', "SELECT payload FROM tieredlog.read('ev', key => 'g1')"), '{"g": 1}',
	"A2: g1 is n1's record, not the holder's rolled-back row");

logs_clean('A2');

# ---- A3. subtransactions of the batch (resolver, episode move) while the indexes are kept ------------
$n2->safe_psql('postgres', q{
	CREATE FUNCTION public.broken(a jsonb, b jsonb) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN RAISE EXCEPTION 'boom'; END $$;
	SELECT tieredlog.set_conflict_rule('cs', 'custom', 'public.broken(jsonb, jsonb)');});
# n2's own head of key hot; n1 does not stream from n2, so its records of hot are concurrent with it
as_app($n2, "SELECT tieredlog.append('cs', 'hot', '{\"by\": \"n2\"}', NULL, '2026-03-01 10:00:00+00')");
as_app($n1, q{BEGIN;
	SELECT tieredlog.append('cs', 'hot', '{"by": "n1", "n": 1}', NULL, '2026-03-01 10:00:01+00');
	SELECT tieredlog.append('cs', 'cold' || i, '{}', NULL, '2026-03-01 10:01:00+00'::timestamptz + i * interval '1 s')
	  FROM generate_series(1, 5) i;
	COMMIT;});
ok($n2->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM tieredlog.conflicts WHERE log_name = 'cs' AND key = 'hot' AND status = 'pending'"),
	'A3: the first batch opened the episode; the failing resolver left it pending');
my $seq_n1_first = $n2->safe_psql('postgres',
	"SELECT CASE WHEN origin_a = 'n1' THEN seq_a ELSE seq_b END FROM tieredlog.conflict WHERE log_name = 'cs' AND key = 'hot'");
sleep 2;	# the episode's row is older than a second: the next batch's commit writes its move at once
my $seq_n1_second = as_app($n1, q{
	SELECT max(s) FROM (SELECT tieredlog.append('cs', 'cold' || i, '{}', NULL, '2026-03-01 10:02:00+00'::timestamptz + i * interval '1 s') s
	                      FROM generate_series(1, 5) i
	                    UNION ALL SELECT tieredlog.append('cs', 'hot', '{"by": "n1", "n": 2}', NULL, '2026-03-01 10:00:02+00')) x});
ok($n2->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM tieredlog.conflict WHERE log_name = 'cs' AND key = 'hot'
	AND (CASE WHEN origin_a = 'n1' THEN seq_a ELSE seq_b END) = $seq_n1_second AND status = 'pending'}),
	"A3: the second batch moved the episode to n1's newer record (n1 seq $seq_n1_first, then $seq_n1_second)")
  or diag($n2->safe_psql('postgres', "SELECT * FROM tieredlog.conflicts WHERE log_name = 'cs'"));
like($n2->safe_psql('postgres', "SELECT reason FROM tieredlog.conflicts WHERE log_name = 'cs' AND key = 'hot'"),
	qr/boom/, "A3: the resolver's subtransaction ran (and failed) in that batch");
same_on_both('cs', 12, 'A3 batches with subtransactions');

logs_clean('A3');

# ---- A4. a batch that fails after a record went in through the kept indexes ----------------------------
as_app($n1, q{BEGIN;
	SELECT tieredlog.append('ev', 'm1', '{}', NULL, '2026-03-01 14:00:00+00');
	SELECT tieredlog.append('ev', 'm2', '{}', NULL, '2026-03-01 14:00:01+00');
	SELECT tieredlog.append('mis', 'm3', '{}', NULL, '2026-03-01 14:00:02+00');
	COMMIT;});
ok($n2->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM tieredlog.peers WHERE last_error LIKE '%log \"mis\" has segments of 3600 s here but of 86400 s on the peer%'"),
	'A4: the batch fails on the log whose interval differs');
is($n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('ev', key => 'm1')"), '0',
	'A4: nothing of the failed batch is stored');
$n2->safe_psql('postgres', "SELECT tieredlog.drop_log('mis')");
same_on_both('mis', 1, 'A4 after the log is fixed');
same_on_both('ev', 248, 'A4 after the log is fixed');

logs_clean('A4');

# ---- A5. PREPARE TRANSACTION ----------------------------------------------------------------
as_app($n1, q{BEGIN;
	SELECT tieredlog.append('ev', 'p1', '{}', NULL, '2026-03-01 15:00:00+00');
	SAVEPOINT s;
	SELECT tieredlog.append_many('ev', ARRAY['p2', 'p3'], ARRAY['{}', '{}']::jsonb[], NULL,
		ARRAY['2026-03-01 15:00:01+00', '2026-03-02 15:00:02+00']::timestamptz[]);
	RELEASE SAVEPOINT s;
	PREPARE TRANSACTION 'keep';
	BEGIN;
	SELECT tieredlog.append('ev', 'gone1', '{}', NULL, '2026-03-01 15:00:03+00');
	SELECT tieredlog.append('ev', 'gone2', '{}', NULL, '2026-03-04 15:00:04+00');
	PREPARE TRANSACTION 'drop';
	SELECT tieredlog.append('ev', 'p4', '{}', NULL, '2026-03-01 15:00:05+00');
	COMMIT PREPARED 'keep';
	ROLLBACK PREPARED 'drop';});
is($n1->safe_psql('postgres', "SELECT string_agg(key, ' ' ORDER BY key) FROM tieredlog.read('ev') WHERE key ~ '^(p|gone)'"),
	'p1 p2 p3 p4', 'A5: n1 keeps the committed prepared records, not the rolled-back ones');
same_on_both('ev', 252, 'A5 prepared transactions');

logs_clean('A5');

# ---- B. an episode's move meets a concurrent writer of the same pair -------------------------------
$n1->safe_psql('postgres', "SELECT pg_replication_origin_create('forger')");
as_app($n1, "SELECT tieredlog.append('cf', 'seed', '{}', NULL, '2026-03-05 12:00:00+00')");
my $rel_cf = $n1->safe_psql('postgres',
	"SELECT relation FROM tieredlog.segments WHERE log_name = 'cf' AND range_start = '2026-03-05 00:00:00+00'");
sub forge
{
	my ($origin, $seq, $ts) = @_;
	$n1->safe_psql('postgres', qq{
		SELECT pg_replication_origin_session_setup('forger');
		INSERT INTO tieredlog_data.$rel_cf (ts, key, payload, source, origin, seq, rid)
		SELECT t, 'k', p, NULL, '$origin', $seq, tieredlog.record_rid('cf', 'k', p, t, NULL, '$origin', $seq)
		  FROM (SELECT timestamptz '$ts' AS t, jsonb_build_object('o', '$origin', 's', $seq) AS p) f;});
	return;
}
forge('fx', 1, '2026-03-05 12:00:01+00');
forge('fy', 1, '2026-03-05 12:00:02+00');
$n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.reconcile('cf', 'n1')");
my $episodes = "SELECT string_agg(format('%s %s:%s %s:%s %s pairs=%s updated=%s', conflict_id, origin_a, seq_a, origin_b, seq_b, status, pairs, updated_at),
	' / ' ORDER BY conflict_id) FROM tieredlog.conflict WHERE log_name = 'cf' AND key = 'k'";
my $e1_state = $n2->safe_psql('postgres', $episodes);
like($e1_state, qr/^\d+ f[xy]:1 f[xy]:1 resolved_by_rule pairs=1 /, 'B: reconciliation opened episode E1 (fx:1, fy:1)');
my ($e1) = $e1_state =~ /^(\d+) /;

forge('fx', 2, '2026-03-05 12:00:03+00');
my %side;
for my $r (split /\n/, $n1->safe_psql('postgres',
		"SELECT origin || ':' || seq, rid, ts, payload FROM tieredlog.read('cf', key => 'k') WHERE (origin, seq) IN (('fx', 2), ('fy', 1))"))
{
	my ($id, $rid, $ts, $payload) = split /\|/, $r;
	$side{$id} = "('$rid'::uuid, '" . (split /:/, $id)[0] . "', " . (split /:/, $id)[1] . ", '$ts'::timestamptz, '$payload'::jsonb)";
}
is(scalar(keys %side), 2, 'B: n1 holds fx:2 and fy:1');
# the concurrent writer: a row of the pair (fx:2, fy:1), uncommitted
my $writer = $n2->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe(qq{
	WITH s(rid, origin, seq, ts, payload) AS (VALUES $side{'fx:2'}, $side{'fy:1'}),
	     a AS (SELECT * FROM s ORDER BY rid LIMIT 1), b AS (SELECT * FROM s ORDER BY rid DESC LIMIT 1)
	INSERT INTO tieredlog.conflict (log_name, key, rid_a, origin_a, seq_a, ts_a, payload_a, rid_b, origin_b, seq_b,
		ts_b, payload_b, arrived, via, rule, status, winner, reason, resolved_at)
	SELECT 'cf', 'k', a.rid, a.origin, a.seq, a.ts, a.payload, b.rid, b.origin, b.seq, b.ts, b.payload,
	       CASE WHEN a.origin = 'fx' THEN 'a' ELSE 'b' END, 'reconciliation', 'last_writer_wins', 'resolved_by_rule',
	       CASE WHEN a.ts > b.ts THEN 'a' ELSE 'b' END, 'the concurrent writer', now()
	  FROM a, b});
my $rec = $n2->background_psql('postgres', on_error_stop => 0);
$rec->query_safe("SET client_min_messages = warning; SET application_name = 'reconciler'");
$rec->query_until(qr/started/, "\\echo started\nSELECT 'reconciled ' || sum(records_received) FROM tieredlog.reconcile('cf', 'n1');\n");
ok($n2->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'reconciler'
	AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"),
	'B: the reconciliation waits for the concurrent writer');
is($n2->safe_psql('postgres', "SELECT xmax <> '0' FROM tieredlog.conflict WHERE conflict_id = $e1"), 't',
	"B: it waits in the UPDATE that moves E1 (E1's row carries the mover's xmax)");
$writer->query_safe('COMMIT');
$writer->quit;
my ($out) = $rec->query("SELECT 'after'");
my $err = $rec->{stderr};
$rec->quit;
like($out, qr/^reconciled 1\nafter$/, 'B: reconcile() returned, fx:2 received') or diag("stdout: $out");
is($err, '', 'B: and no error reached the caller');
my $after = $n2->safe_psql('postgres', $episodes);
like($after, qr/^\Q$e1_state\E \/ \d+ f[xy]:[12] f[xy]:[12] resolved_by_rule pairs=1 /,
	'B: E1 stays as it was (pair, status, pairs, updated_at), the pair (fx:2, fy:1) is held by the writer\'s row only');
is($n2->safe_psql('postgres', "SELECT count(*) || ' ' || count(DISTINCT (rid_a, rid_b)) FROM tieredlog.conflict WHERE log_name = 'cf' AND key = 'k'"),
	'2 2', 'B: two rows, no pair twice');
is($n2->safe_psql('postgres', "SELECT string_agg(origin || ':' || seq, ' ' ORDER BY origin, seq) FROM tieredlog.read('cf', key => 'k')"),
	'fx:1 fx:2 fy:1', 'B: the records of k once each');
is($n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.reconcile('cf', 'n1') WHERE records_received > 0 OR conflicts > 0"), '0', 'B: reconcile() again receives nothing and records no conflict');
is($n2->safe_psql('postgres', $episodes), $after, 'B: and leaves the conflict rows as they were');
is(sound($n2, 'cf'), 'ok', 'B: digests and verify() ok');

logs_clean('B');

done_testing();
