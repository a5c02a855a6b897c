# Updating tieredlog from 1.0 to 1.1 in place, one node of a pair at a time (one library serves
# both catalog versions):
#  - two nodes run CREATE EXTENSION tieredlog VERSION '1.0' and become peers (full mesh); tiers 0,
#    1 and 2 map to three tablespaces (set_tier; u2 leaves tier 0 in pg_default, unmapped); log
#    "ev" gets records from both nodes in several hourly segments: two sealed and moved (move_segment) to tier 1 and to the tier 2 archive, one
#    sealed in tier 0, the current one open, and a late record reopens the archived one; conflicts
#    under last_writer_wins (decided) and manual (pending) in two logs; ledger blocks closed and
#    witnessed by the other node. Then each node's segments (states, tiers, tablespaces, digests,
#    seal roots), read() of whole logs, of the archived window and of a key, latest() of keys in
#    every tier and of the conflicting keys, the conflicts, the ledger so far, check_digests() and
#    verify() are recorded;
#  - ALTER EXTENSION tieredlog UPDATE on u1 only: u1 is at 1.1 and u2 still at 1.0; every recorded
#    result is the same on both nodes (the ledger's history is unchanged: the blocks closed before
#    and their entries, byte for byte), check_digests() and verify() are clean, and u1's ledger
#    verifies against the digests u2 witnessed before the update;
#  - replication with the 1.0 peer, both ways: appends on each node reach the other; a new
#    conflict is found on both with the same decision; the pending manual conflict is decided on
#    one node and the decision reaches the other; records written under a replication origin (not
#    streamed) are repaired by reconcile() in both directions (archive included); compare_seals()
#    finds no different seal; segment digests are equal on both nodes;
#  - the README's role set-up (readers, writers, operators, a peer role) and a monitoring role
#    that reads the peers and workers views, granted at 1.0: every privilege is still there after
#    each update, and each role can still do what it could at 1.0 (read(), latest(),
#    check_digests(), the views logs, segments and conflicts; append(), append_many();
#    create_log(); the views peers and workers). (status(), verify() and reconcile() are left out
#    of what the roles do: at 1.0 already, the README's grants are not enough for them.)
#  - the scheduler (a cycle of checks, all in sync; train_model(), predict(), schedule) on both
#    nodes before the update, and after each (the prior model, 'active' in 1.0, is in its own
#    state 'prior' after the update; check_log and the models are otherwise unchanged);
#  - the updated node's workers: its ledger closes a block over a new entry, and each node
#    witnesses the other's newer block; with short settings its worker seals a segment and demotes
#    it to tier 1 and to the tier 2 archive (task_history); its statistics flush writes
#    access_history and gathers the peer's (peer_access); no worker reports an error;
#  - then u2 is updated too, and all of the above is checked again with both nodes at 1.1; a
#    segment moves back to tier 0 on each node (on u2, tier 0 never mapped);
#  - a second database on u1 stays at 1.0 beside the updated one (appends, reads of its archive,
#    digests, its worker's ledger blocks, verify()), then is updated and checked again;
#  - a pg_dump -Fc of u2's updated database restores (pg_restore) into a new server without an
#    error: the same records, digests and conflicts, check_digests() and verify() clean, held until
#    finish_restore(), then a new node that appends, closes ledger blocks and verifies, with the
#    one genesis entry 1.0 wrote;
#  - after each update and after the restart the node is not held (node_hold());
#  - both nodes restart: streaming resumes, records still flow both ways, verify() is clean, and
#    the ledger still has one genesis entry, the one 1.0 wrote;
#  - no ERROR, FATAL or PANIC in either server's log from the first update on (before the restart)
#    from anything but the test's own sessions (workers, apply workers, walsenders, peers' sessions),
#    but the FATAL of an apply worker stopped by set_peer_enabled(false).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;
use IPC::Run;

my $conf = qq{tieredlog.ledger_interval = 1
tieredlog.stats_flush_interval = 1
allow_in_place_tablespaces = on
};
my $u1 = tl_node('u1', $conf);
my $u2 = tl_node('u2', $conf);
my @nodes = ($u1, $u2);

sub q1 { my ($n, $sql) = @_; return $n->safe_psql('postgres', $sql); }
sub version { return q1($_[0], "SELECT extversion FROM pg_extension WHERE extname = 'tieredlog'"); }
sub other { return $_[0] == $u1 ? $u2 : $u1; }

my $H0 = '2026-11-02 00:00:00+00';
my $H1 = '2026-11-02 01:00:00+00';
my $H2 = '2026-11-02 02:00:00+00';
my $H3 = '2026-11-02 03:00:00+00';

# ---- two 1.0 nodes, tiers in three tablespaces, peers ------------------------------------------------
for my $n (@nodes)
{
	q1($n, q{
CREATE EXTENSION tieredlog VERSION '1.0';
CREATE TABLESPACE hot LOCATION '';
CREATE TABLESPACE warm LOCATION '';
CREATE TABLESPACE cold LOCATION '';
SELECT tieredlog.set_tier(1, 'warm');
SELECT tieredlog.set_tier(2, 'cold');
SELECT tieredlog.create_log('ev', '1 hour');
SELECT tieredlog.create_log('man', '1 hour', 'manual');
SELECT tieredlog.create_log('wk1', '1 minute');
SELECT tieredlog.create_log('wk2', '1 minute');
SELECT tieredlog.set_source_priority('billing', 10);
SELECT pg_replication_origin_create('upgrade-test');
});
	is(version($n), '1.0', $n->name . ' runs tieredlog 1.0');
}
# tier 0 in a tablespace of its own on u1; left in pg_default (never mapped) on u2
q1($u1, "SELECT tieredlog.set_tier(0, 'hot')");
my %tier0 = (u1 => 'hot', u2 => 'pg_default');
tl_full_mesh(@nodes);

# the README's role set-up (Privileges), and a monitoring role that reads the peers view
for my $n (@nodes)
{
	q1($n, q{
SELECT tieredlog.create_log('priv', '1 hour');
CREATE ROLE log_reader NOLOGIN;
CREATE ROLE log_writer NOLOGIN;
CREATE ROLE log_operator NOLOGIN;
GRANT USAGE ON SCHEMA tieredlog TO log_reader, log_writer, log_operator;
GRANT EXECUTE ON FUNCTION tieredlog.read(text, timestamptz, timestamptz, text),
                          tieredlog.latest(text, text), tieredlog.status(),
                          tieredlog.check_digests(text), tieredlog.verify(text, jsonb) TO log_reader;
GRANT SELECT ON tieredlog.logs, tieredlog.segments, tieredlog.conflicts TO log_reader;
GRANT EXECUTE ON FUNCTION tieredlog.append(text, text, jsonb, text, timestamptz),
                          tieredlog.append_many(text, text[], jsonb[], text[], timestamptz[]) TO log_writer;
GRANT log_reader, log_writer TO log_operator;
GRANT EXECUTE ON FUNCTION tieredlog.create_log(text, interval, text), tieredlog.seal(bigint),
                          tieredlog.resolve_conflict(bigint, text), tieredlog.reconcile(text, text, timestamptz, timestamptz, boolean)
                          TO log_operator;
CREATE ROLE peer_eu LOGIN REPLICATION PASSWORD 'x';
GRANT USAGE ON SCHEMA tieredlog TO peer_eu;
GRANT EXECUTE ON FUNCTION tieredlog.node_name() TO peer_eu;
DO $$ DECLARE f regprocedure; BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'tieredlog'::regnamespace AND p.proname LIKE '\_ae\_%' LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO peer_eu', f);
  END LOOP; END $$;
CREATE ROLE monitor NOLOGIN;
GRANT USAGE ON SCHEMA tieredlog TO monitor;
GRANT SELECT ON tieredlog.peers, tieredlog.workers TO monitor;
GRANT EXECUTE ON FUNCTION tieredlog._mask_conninfo(text), tieredlog._apply_status(), tieredlog._workers() TO monitor;
});
}

# every privilege granted to those roles on tieredlog's objects
my $privileges_sql = q{
SELECT coalesce(string_agg(x, E'\n' ORDER BY x), '') FROM (
	SELECT o.type || ' ' || o.identity || ': ' || a.privilege_type || ' to ' || pg_get_userbyid(a.grantee) AS x
	  FROM (SELECT 'pg_class'::regclass AS c, oid, relacl AS acl FROM pg_class WHERE relnamespace = 'tieredlog'::regnamespace
			UNION ALL SELECT 'pg_proc'::regclass, oid, proacl FROM pg_proc WHERE pronamespace = 'tieredlog'::regnamespace
			UNION ALL SELECT 'pg_namespace'::regclass, oid, nspacl FROM pg_namespace WHERE nspname IN ('tieredlog', 'tieredlog_data')) s
	 CROSS JOIN LATERAL aclexplode(s.acl) a CROSS JOIN LATERAL pg_identify_object(s.c, s.oid, 0) o
	 WHERE a.grantee IN (SELECT oid FROM pg_roles WHERE rolname IN ('log_reader', 'log_writer', 'log_operator', 'peer_eu', 'monitor'))) z};
my %privileges = map { ($_->name => q1($_, $privileges_sql)) } @nodes;

# what each role can do
my $priv_n = 0;
sub roles_round
{
	my ($what) = @_;
	for my $n (@nodes)
	{
		my $name = $n->name;
		my @lost = grep { my $p = $_; !grep { $_ eq $p } split /\n/, q1($n, $privileges_sql) } split /\n/, $privileges{$name};
		is(scalar(@lost), 0, "$name: every privilege granted at 1.0 is still there ($what)")
		  or diag("lost:\n" . join("\n", @lost));
		$priv_n++;
		my $peer = other($n)->name;
		my @can = (
			[ log_reader => 'read()', "SELECT count(*) > 0 FROM tieredlog.read('ev')", 't' ],
			[ log_reader => 'latest()', "SELECT count(*) FROM tieredlog.latest('ev', 'k')", '1' ],
			[ log_reader => 'check_digests()', "SELECT count(*) FROM tieredlog.check_digests('ev') WHERE NOT ok", '0' ],
			[ log_reader => 'the logs view', "SELECT count(*) > 0 FROM tieredlog.logs", 't' ],
			[ log_reader => 'the segments view', "SELECT count(*) > 0 FROM tieredlog.segments", 't' ],
			[ log_reader => 'the conflicts view', "SELECT count(*) > 0 FROM tieredlog.conflicts", 't' ],
			[ log_writer => 'append()', "SELECT tieredlog.append('priv', 'w-$priv_n', '{}') > 0", 't' ],
			[ log_writer => 'append_many()', "SELECT tieredlog.append_many('priv', ARRAY['wm-$priv_n'], ARRAY['{}']::jsonb[])", '1' ],
			[ log_operator => 'create_log()', "SELECT tieredlog.create_log('op-$name-$priv_n') > 0", 't' ],
			[ monitor => 'the peers view', "SELECT peer_name || ' ' || state FROM tieredlog.peers", "$peer streaming" ],
			[ monitor => 'the workers view', "SELECT count(*) FROM tieredlog.workers", '1' ],
		);
		for my $c (@can)
		{
			my ($role, $label, $sql, $want) = @$c;
			my ($rc, $out, $err) = $n->psql('postgres', "SET ROLE $role;\n$sql");
			is("$out$err", $want, "$name: $role can still use $label ($what)");
		}
	}
	for my $n (@nodes)
	{
		ok($n->poll_query_until('postgres', "SELECT count(*) = " . (2 * $priv_n) . " FROM tieredlog.read('priv')"),
			$n->name . " has every record the writers appended ($what)");
	}
}
# a second database on u1 that stays at 1.0 while "postgres" is updated (same server, same library)
$u1->safe_psql('postgres', 'CREATE DATABASE side');
$u1->safe_psql('side', q{
CREATE EXTENSION tieredlog VERSION '1.0';
SELECT tieredlog.create_log('s', '1 hour');
SELECT tieredlog.append_many('s', array_agg('s' || i), array_agg(jsonb_build_object('i', i)), NULL,
	array_agg(timestamptz '2026-11-02 00:00+00' + i * interval '1 min')) FROM generate_series(1, 100) i;
SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 's';
SELECT tieredlog.move_segment(segment_id, 2) FROM tieredlog.segments WHERE log_name = 's';
});
my $side_count = 100;

# the side database works: appends, reads (its archived segment too), digests, its worker's
# ledger blocks, verify()
sub side_round
{
	my ($version, $what) = @_;
	is($u1->safe_psql('side', "SELECT extversion FROM pg_extension WHERE extname = 'tieredlog'"), $version,
		"side database at $version ($what)");
	$u1->safe_psql('side', "SELECT tieredlog.append('s', 'side-' || i, '{}') FROM generate_series(1, 10) i");
	$side_count += 10;
	is($u1->safe_psql('side', "SELECT count(*) || ' ' || count(*) FILTER (WHERE tier = 2) FROM tieredlog.read('s')"),
		"$side_count 100", "side database: every record reads back, the archived ones too ($what)");
	is($u1->safe_psql('side', "SELECT count(*) FROM tieredlog.check_digests() WHERE NOT ok"), '0',
		"side database: check_digests() is clean ($what)");
	$u1->safe_psql('side', "SELECT tieredlog.set_source_priority('side-$side_count', 1)");
	ok($u1->poll_query_until('side', "SELECT count(*) = 0 FROM tieredlog.ledger_entry WHERE block_id IS NULL"),
		"side database: its worker closes ledger blocks ($what)");
	is($u1->safe_psql('side', "SELECT count(*) FROM tieredlog.verify() WHERE NOT ok"), '0',
		"side database: verify() is clean ($what)");
}
side_round('1.0', 'every database at 1.0');

# ---- records in four hourly segments (both origins), and some now ----------------------------------------
for my $h (0 .. 3)
{
	q1($u1, qq{SELECT tieredlog.append_many('ev', array_agg('h$h-' || i), array_agg(jsonb_build_object('h', $h, 'i', i)),
		array_fill('app'::text, ARRAY[200]), array_agg(timestamptz '$H0' + interval '$h hours' + i * interval '15 s'))
		FROM generate_series(1, 200) i});
	q1($u2, qq{SELECT tieredlog.append_many('ev', array_agg('u2-h$h-' || i), array_agg(jsonb_build_object('u2', $h, 'i', i)),
		NULL, array_agg(timestamptz '$H0' + interval '$h hours' + i * interval '31 s'))
		FROM generate_series(1, 100) i});
}
for my $n (@nodes)
{
	my $name = $n->name;
	q1($n, "SELECT tieredlog.append('ev', 'now-$name-' || i, jsonb_build_object('i', i), 'billing') FROM generate_series(1, 10) i");
}

sub digests
{
	my ($n, $log) = @_;
	return q1($n, "SELECT coalesce(string_agg(range_start || '=' || digest, ',' ORDER BY range_start), '')
		FROM tieredlog.segments WHERE log_name = '$log'");
}

# wait until both nodes hold the same segments of $log with the same digests (and $count records)
sub converged
{
	my ($log, $count, $what) = @_;
	for my $n (@nodes)
	{
		ok($n->poll_query_until('postgres', "SELECT count(*) = $count FROM tieredlog.read('$log')"),
			$n->name . " has the $count records of $log ($what)");
	}
	my $same = 0;
	for (1 .. 60)
	{
		$same = 1, last if digests($u1, $log) eq digests($u2, $log);
		sleep 1;
	}
	ok($same, "$log: the segment digests are the same on both nodes ($what)")
	  or diag("u1: " . digests($u1, $log) . "\nu2: " . digests($u2, $log));
}
my $ev_count = 4 * 300 + 20;
converged('ev', $ev_count, 'both at 1.0');

# ---- conflicts: the same keys written on both sides of a cut ---------------------------------------------
sub set_enabled
{
	my ($on) = @_;
	q1($u1, "SELECT tieredlog.set_peer_enabled('u2', $on)");
	q1($u2, "SELECT tieredlog.set_peer_enabled('u1', $on)");
}

sub conflict_rows
{
	my ($n, $key) = @_;
	return q1($n, "SELECT string_agg(log_name || '|' || status || '|' || rule || '|' || winner || '|' || loser, ';' ORDER BY log_name)
		FROM tieredlog.conflicts WHERE key = '$key'");
}

# both nodes write $key in ev (last_writer_wins) and man (manual) while cut off; then each finds
# the two conflicts, with the same decisions
sub make_conflicts
{
	my ($key, $what) = @_;
	set_enabled('false');
	for my $n (@nodes)
	{
		my $name = $n->name;
		q1($n, "SELECT tieredlog.append(l, '$key', '{\"by\": \"$name\"}') FROM unnest(ARRAY['ev', 'man']) l");
	}
	set_enabled('true');
	for my $n (@nodes)
	{
		ok($n->poll_query_until('postgres', "SELECT count(*) = 2 FROM tieredlog.conflicts WHERE key = '$key'")
			  && $n->poll_query_until('postgres', "SELECT count(*) = 2 FROM tieredlog.read('man', key => '$key')"),
			$n->name . " found the conflicts on $key ($what)");
	}
	my $rows = conflict_rows($u1, $key);
	like($rows, qr/^ev\|resolved_by_rule\|last_writer_wins\|[^;]*;man\|pending\|manual\|/,
		"$key: decided by last_writer_wins in ev, waiting for a person in man ($what)");
	is(conflict_rows($u2, $key), $rows, "$key: both nodes record the same conflicts and winners ($what)");
	is(q1($u2, "SELECT payload FROM tieredlog.latest('ev', '$key')"), q1($u1, "SELECT payload FROM tieredlog.latest('ev', '$key')"),
		"$key: latest() is the same on both nodes ($what)");
}
make_conflicts('k', 'both at 1.0');
$ev_count += 2;

# ---- seals and moves, the same on both nodes: H0 to the archive, H1 to tier 1, H2 sealed in tier 0 ----------
for my $n (@nodes)
{
	my %seg = map { my ($s, $r) = split /\|/; ($r => $s) } split /\n/,
	  q1($n, "SELECT segment_id, range_start FROM tieredlog.segments WHERE log_name = 'ev' AND range_start < '$H3'");
	is(q1($n, "SELECT string_agg(tieredlog.seal(s), ',') FROM unnest(ARRAY[$seg{$H0}, $seg{$H1}, $seg{$H2}]::bigint[]) s"),
		'sealed,sealed,sealed', $n->name . ': three segments sealed');
	is(q1($n, "SELECT from_tier || '>' || to_tier FROM tieredlog.move_segment($seg{$H0}, 2)"), '0>2',
		$n->name . ': the first moves to the tier 2 archive');
	is(q1($n, "SELECT from_tier || '>' || to_tier FROM tieredlog.move_segment($seg{$H1}, 1)"), '0>1',
		$n->name . ': the second moves to tier 1');
	ok($n->poll_query_until('postgres', "SELECT tieredlog.sweep() >= 0 AND NOT EXISTS (SELECT FROM tieredlog.move WHERE state <> 'done')"),
		$n->name . ': the old copies are swept');
	is(q1($n, "SELECT string_agg(state || ' ' || tier || ' ' || tablespace, ', ' ORDER BY range_start) FROM tieredlog.segments WHERE log_name = 'ev'"),
		"sealed 2 cold, sealed 1 warm, sealed 0 $tier0{$n->name}, open 0 $tier0{$n->name}, open 0 $tier0{$n->name}",
		$n->name . ': segments in every tier');
}
# a late record for the archived hour reopens it on both nodes
q1($u1, "SELECT tieredlog.append('ev', 'late', '{\"late\": true}', NULL, timestamptz '$H0' + interval '30 min')");
$ev_count++;
converged('ev', $ev_count, 'a late record in the archive');
for my $n (@nodes)
{
	is(q1($n, "SELECT state || ' ' || tier || ' ' || (relation IS NOT NULL) FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '$H0'"),
		'reopened 2 true', $n->name . ': the archived segment is reopened with a relation for its late row');
}

# ---- the scheduler: one cycle of checks on each node (check_log), the model still the prior --------------------
sub scheduler_round
{
	my ($n, $what) = @_;
	my $last = q1($n, 'SELECT coalesce(max(check_id), 0) FROM tieredlog.check_log');
	cmp_ok(q1($n, 'SELECT tieredlog._run_checks()'), '>', 0, $n->name . ": a scheduler cycle runs checks ($what)");
	is(q1($n, "SELECT string_agg(DISTINCT coalesce(status, 'unfinished') || coalesce(' ' || error, ''), ', ')
		FROM tieredlog.check_log WHERE check_id > $last"), 'in_sync', $n->name . ": every check found its pair in sync ($what)");
	is(q1($n, 'SELECT tieredlog.train_model() IS NULL'), 't', $n->name . ": train_model() has too few labels ($what)");
	like(q1($n, "SELECT tieredlog.predict(segment_id, '" . other($n)->name . "') FROM tieredlog.segments
		WHERE log_name = 'ev' AND tier = 0 ORDER BY range_start LIMIT 1"), qr/^0\.\d+|^\d(?:\.\d+)?e-\d+$/,
		$n->name . ": predict() scores a pair ($what)");
	cmp_ok(q1($n, 'SELECT count(*) FROM tieredlog.schedule'), '>', 0, $n->name . ": the schedule plans checks ($what)");
}
scheduler_round($_, 'both at 1.0') for @nodes;
roles_round('both at 1.0');
is(q1($_, "SELECT string_agg(model_id || ' ' || state || ' ' || algo, ',') FROM tieredlog.model"), '1 active prior',
	$_->name . ': 1.0 keeps the prior as the active model') for @nodes;

# ---- the ledger at rest: every entry in a block, each node's head witnessed by the other ----------------------
sub ledger_at_rest
{
	my ($what) = @_;
	for my $n (@nodes)
	{
		my $o = other($n);
		ok($n->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.ledger_entry WHERE block_id IS NULL"),
			$n->name . ": every ledger entry is in a closed block ($what)");
		my $last = q1($n, "SELECT max(block_id) FROM tieredlog.ledger_entry WHERE kind <> 'WITNESS'");
		ok($o->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS'
				AND body->>'node' = '" . $n->name . "' AND (body->>'block_id')::bigint >= $last"),
			$o->name . ' witnessed ' . $n->name . "'s ledger up to its block $last ($what)");
	}
}
ledger_at_rest('both at 1.0');

# ---- what each node answers, recorded -----------------------------------------------------------------------
my @latest_keys = (['ev', 'k'], ['man', 'k'], ['ev', 'h0-7'], ['ev', 'late'], ['ev', 'h1-7'], ['ev', 'u2-h2-7'],
	['ev', 'h3-7'], ['ev', 'now-u1-3'], ['ev', 'now-u2-3'], ['ev', 'nobody']);
my $row = "concat_ws(' ', key, payload, ts, source, origin, seq, rid, segment_id, tier)";
my %answers = (
	segments => "SELECT string_agg(concat_ws(' ', segment_id, log_name, range_start, range_end, state, tier, tablespace, records,
		logical_bytes, digest, relation IS NOT NULL, seal_root, sealed_at, moved_at), E'\\n' ORDER BY log_name, range_start) FROM tieredlog.segments
		WHERE log_name <> '_seen'",
	tiers => "SELECT string_agg(concat_ws(' ', tier, tablespace, segments, records, logical_bytes), E'\\n' ORDER BY tier) FROM tieredlog.tiers",
	logs => "SELECT string_agg(concat_ws(' ', log_id, log_name, segment_interval, conflict_rule, resolver, created_at), E'\\n' ORDER BY log_id) FROM tieredlog.logs",
	read_ev => "SELECT string_agg($row, E'\\n' ORDER BY o) FROM tieredlog.read('ev') WITH ORDINALITY AS r(key, payload, ts, source, origin, seq, rid, segment_id, tier, o)",
	read_man => "SELECT string_agg($row, E'\\n' ORDER BY o) FROM tieredlog.read('man') WITH ORDINALITY AS r(key, payload, ts, source, origin, seq, rid, segment_id, tier, o)",
	read_archive => "SELECT string_agg($row, E'\\n' ORDER BY o) FROM tieredlog.read('ev', '$H0', '$H1') WITH ORDINALITY AS r(key, payload, ts, source, origin, seq, rid, segment_id, tier, o)",
	read_key => "SELECT string_agg($row, E'\\n' ORDER BY o) FROM tieredlog.read('ev', key => 'k') WITH ORDINALITY AS r(key, payload, ts, source, origin, seq, rid, segment_id, tier, o)",
	latest => join("\nUNION ALL ", map { "SELECT '$_->[0]/$_->[1]: ' || coalesce((SELECT $row FROM tieredlog.latest('$_->[0]', '$_->[1]')), 'none')" } @latest_keys),
	conflicts => "SELECT string_agg(concat_ws(' ', conflict_id, log_name, key, status, rule, winner, loser, local, remote, reason, via,
		created_at, resolved_at, resolved_by, decision_record), E'\\n' ORDER BY conflict_id) FROM tieredlog.conflicts",
	check_digests => "SELECT count(*) || ' segments, failed: ' || coalesce(string_agg(segment_id::text, ',') FILTER (WHERE NOT ok), 'none')
		FROM tieredlog.check_digests()",
	checks => "SELECT string_agg(concat_ws(' ', check_id, decided_at, segment_id, log_name, range_start, tier, peer_name, features,
		model_id, score, cost, reason, propensity, finished_at, status, diverged, records_moved, bytes, error), E'\\n' ORDER BY check_id)
		FROM tieredlog.check_log",
	# (the prior's state is 'active' in 1.0, 'prior' in 1.1: checked apart)
	models => "SELECT string_agg(concat_ws(' ', model_id, created_at, algo, feature_names, coef, lambda, n_rows, n_pos, metrics, note),
		E'\\n' ORDER BY model_id) FROM tieredlog.model",
	verify_failures => "SELECT coalesce(string_agg(check_name || ' ' || object, ', ' ORDER BY check_name, object), 'none') FROM tieredlog.verify() WHERE NOT ok",
);
# the ledger up to a block: [the entries in blocks up to it, the blocks] as text (entries pending
# then, witnesses arriving, are closed into later blocks)
sub ledger_upto
{
	my ($n, $block) = @_;
	return (q1($n, "SELECT string_agg(concat_ws(' ', entry_id, block_id, kind, log_name, segment_id, body, created_at, encode(entry_hash, 'hex')),
			E'\\n' ORDER BY entry_id) FROM tieredlog.ledger_entry WHERE block_id <= $block"),
		q1($n, "SELECT string_agg(concat_ws(' ', block_id, first_entry, last_entry, entries, encode(entries_root, 'hex'),
			encode(previous_block_hash, 'hex'), closed_at), E'\\n' ORDER BY block_id) FROM tieredlog.ledger_block WHERE block_id <= $block"));
}

sub answers
{
	my ($n) = @_;
	my %a = map { ($_ => q1($n, $answers{$_})) } keys %answers;
	my $b = q1($n, "SELECT max(block_id) FROM tieredlog.ledger_block");
	@a{qw(ledger_entries ledger_blocks)} = ledger_upto($n, $b);
	$a{ledger_upto} = $b;
	return \%a;
}

# compare a node's answers now with recorded ones; $what: the keys to compare (all by default)
sub same_answers
{
	my ($n, $before, $what, @keys) = @_;
	@keys = sort grep { !/^ledger/ } keys %answers unless @keys;
	for my $k (@keys)
	{
		is(q1($n, $answers{$k}), $before->{$k}, $n->name . ": $k as before ($what)");
	}
	my ($e, $b) = ledger_upto($n, $before->{ledger_upto});
	is($e, $before->{ledger_entries}, $n->name . ": the ledger's entries so far unchanged ($what)");
	is($b, $before->{ledger_blocks}, $n->name . ": the ledger's blocks so far unchanged ($what)");
}

sub clean
{
	my ($n, $what) = @_;
	is(q1($n, "SELECT count(*) FROM tieredlog.check_digests() WHERE NOT ok"), '0', $n->name . ": check_digests() is clean ($what)");
	is(q1($n, "SELECT coalesce(string_agg(check_name || ' ' || object || ': expected ' || coalesce(expected, '-') || ', got ' || coalesce(actual, '-'), '; '), 'none')
		FROM tieredlog.verify() WHERE NOT ok"), 'none', $n->name . ": verify() is clean ($what)");
	# the digests of this node's ledger the other node holds
	my $witnessed = q1(other($n), "SELECT jsonb_agg(body) FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = '" . $n->name . "'");
	is(q1($n, "SELECT count(*) FILTER (WHERE check_name = 'trusted_digest' AND ok) > 0 AND count(*) FILTER (WHERE NOT ok) = 0
		FROM tieredlog.verify(NULL, \$\$$witnessed\$\$)"), 't',
		$n->name . ": its ledger verifies against the digests " . other($n)->name . " witnessed ($what)");
}

my %before = map { ($_->name => answers($_)) } @nodes;
for my $n (@nodes)
{
	is($before{ $n->name }{check_digests}, q1($n, "SELECT count(*) FROM tieredlog.check_digests()") . ' segments, failed: none',
		$n->name . ': check_digests() is clean before the update');
	is($before{ $n->name }{verify_failures}, 'none', $n->name . ': verify() is clean before the update');
	like($before{ $n->name }{read_archive}, qr/^h0-1 /, $n->name . ': the archived window reads back');
}
my $strip = sub { return $_[0] =~ s/ \d+ \d+$//mgr; };    # without segment_id and tier, which are each node's own
is($strip->($before{u2}{read_ev}), $strip->($before{u1}{read_ev}), 'both nodes read the same records of ev, in the same order');
is($before{u2}{latest} =~ s/ \d+ \d+$//mgr, $before{u1}{latest} =~ s/ \d+ \d+$//mgr, 'and the same latest() records');

# ---- the checks after an update ---------------------------------------------------------------------------
my %log_offset;

# records written under a replication origin are not streamed: only reconciliation brings them
sub hidden_append
{
	my ($n, $key, $ts) = @_;
	q1($n, "SELECT pg_replication_origin_session_setup('upgrade-test');
		SELECT tieredlog.append('ev', '$key', '{\"hidden\": true}', NULL, '$ts');
		SELECT pg_replication_origin_session_reset();");
}

my $hidden_hour = 0;

# replication between the two nodes, whatever their versions
sub replication_round
{
	my ($tag, $what) = @_;
	# appends both ways
	for my $n (@nodes)
	{
		my $name = $n->name;
		q1($n, "SELECT tieredlog.append_many('ev', array_agg('$tag-$name-' || i), array_agg(jsonb_build_object('i', i)))
			FROM generate_series(1, 50) i");
	}
	$ev_count += 100;
	converged('ev', $ev_count, "$what: appends on each node");

	# a new conflict between the nodes
	make_conflicts("$tag-k", $what);
	$ev_count += 2;

	# the oldest pending manual conflict decided on one node reaches the other
	my $n = $tag =~ /2$/ ? $u2 : $u1;
	my $o = other($n);
	my ($id, $key) = split /\|/, q1($n, "SELECT conflict_id, key FROM tieredlog.conflicts WHERE status = 'pending' ORDER BY conflict_id LIMIT 1");
	my $decision = q1($n, "SELECT tieredlog.resolve_conflict($id, 'local')");
	like($decision, qr/^${\ $n->name}:\d+$/, $n->name . " decides the pending conflict on $key ($what)");
	ok($o->poll_query_until('postgres', "SELECT status = 'resolved' FROM tieredlog.conflicts WHERE log_name = 'man' AND key = '$key'"),
		$o->name . " resolves it when the decision arrives ($what)");
	is(q1($o, "SELECT payload FROM tieredlog.latest('man', '$key')"), q1($n, "SELECT payload FROM tieredlog.latest('man', '$key')"),
		"$key: both nodes return the decided record ($what)");
	converged('man', q1($n, "SELECT count(*) FROM tieredlog.read('man')"), "$what: the decision");

	# records that were not streamed: u1's reconciliation repairs both ways, then u2's (each time
	# in a new segment of a window of its own, which no worker seals or moves meanwhile)
	for my $round ([ $u1, 'a' ], [ $u2, 'b' ])
	{
		my ($r, $x) = @$round;
		my $ts = "2026-11-05 0" . ++$hidden_hour . ":30:00+00";
		hidden_append($u1, "$tag-hidden-$x-u1", $ts);
		hidden_append($u2, "$tag-hidden-$x-u2", $ts);
		$ev_count += 2;
		is(q1($r, "SELECT string_agg(status || ' sent ' || records_sent || ' received ' || records_received, ', ')
			FROM tieredlog.reconcile('ev', '" . other($r)->name . "', include_archive => true) WHERE status <> 'in_sync'"),
			'repaired sent 1 received 1', $r->name . " reconciles with " . other($r)->name . ": one record each way ($what)");
		is(q1($r, "SELECT count(*) FROM tieredlog.reconcile('ev', NULL, include_archive => true) WHERE status <> 'in_sync'"), '0',
			$r->name . ": then ev is in sync with the other node ($what)");
		converged('ev', $ev_count, "$what: reconciled by " . $r->name);
	}
	# reopened segments sealed again (each node's own seal of the same records: the same roots)
	q1($_, "SELECT tieredlog.seal(segment_id) FROM tieredlog.segments WHERE log_name = 'ev' AND state = 'reopened'") for @nodes;
	for my $n (@nodes)
	{
		is(q1($n, "SELECT coalesce(string_agg(DISTINCT status, ','), 'none') FROM tieredlog.compare_seals('" . other($n)->name . "', 'ev')
			WHERE status IN ('different', 'missing_here', 'missing_on_peer')"), 'none',
			$n->name . ": compare_seals() finds no different or missing seal ($what)");
		is(q1($n, "SELECT string_agg(peer_name || ' ' || state, ',') FROM tieredlog.peers"), other($n)->name . ' streaming',
			$n->name . ": still streaming from its peer ($what)");
	}
}

# the background workers of a node just updated: ledger blocks and witnesses, seals and moves,
# statistics (with short settings, for the time of the check)
sub worker_round
{
	my ($n, $log, $what) = @_;
	my $o = other($n);
	my $name = $n->name;
	my $t0 = q1($n, 'SELECT now()');
	my $failed = q1($n, "SELECT tasks_failed FROM tieredlog.workers WHERE database = current_database()");

	# a ledger block closes over a new entry, and the other node witnesses it; and the other way
	for my $x ($n, $o)
	{
		my $y = other($x);
		q1($x, "SELECT tieredlog.set_source_priority('$log-" . $x->name . "', 1)");
		my $entry = q1($x, "SELECT max(entry_id) FROM tieredlog.ledger_entry WHERE kind = 'CONFIG'");
		ok($x->poll_query_until('postgres', "SELECT block_id IS NOT NULL FROM tieredlog.ledger_entry WHERE entry_id = $entry"),
			$x->name . "'s worker closes a ledger block over a new entry ($what)");
		my $block = q1($x, "SELECT block_id FROM tieredlog.ledger_entry WHERE entry_id = $entry");
		ok($y->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS'
				AND body->>'node' = '" . $x->name . "' AND (body->>'block_id')::bigint >= $block"),
			$y->name . ' witnesses ' . $x->name . "'s block $block ($what)");
	}

	# the worker seals a segment whose window has passed and demotes it to tier 1, then to tier 2
	q1($n, "ALTER SYSTEM SET tieredlog.seal_grace = 1; ALTER SYSTEM SET tieredlog.adaptive_tiering = on;
		ALTER SYSTEM SET tieredlog.demote_after = 2; ALTER SYSTEM SET tieredlog.min_residency = 1;
		ALTER SYSTEM SET tieredlog.move_rate_limit = 0; SELECT pg_reload_conf();");
	q1($n, "SELECT tieredlog.append_many('$log', array_agg('w' || i), array_agg(jsonb_build_object('i', i)), NULL,
		array_agg(date_trunc('minute', now()) - interval '2 hours' + i * interval '100 ms')) FROM generate_series(1, 100) i");
	my $seg = q1($n, "SELECT segment_id FROM tieredlog.segments WHERE log_name = '$log'");
	ok($n->poll_query_until('postgres', "SELECT tier = 2 AND state = 'sealed' FROM tieredlog.segments WHERE segment_id = $seg"),
		"$name: the worker seals a segment and demotes it to the archive ($what)");
	is(q1($n, "SELECT string_agg(task || coalesce(':' || to_tier, '') || '/' || status, ', ' ORDER BY run_id)
		FROM tieredlog.task_history WHERE segment_id = $seg"), 'seal/done, move:1/done, move:2/done',
		"$name: task_history shows the seal and both moves ($what)");
	is(q1($n, "SELECT tablespace || ' ' || records FROM tieredlog.segments WHERE segment_id = $seg"), 'cold 100',
		"$name: in the cold tablespace with its 100 records ($what)");
	q1($n, "ALTER SYSTEM RESET tieredlog.seal_grace; ALTER SYSTEM RESET tieredlog.adaptive_tiering;
		ALTER SYSTEM RESET tieredlog.demote_after; ALTER SYSTEM RESET tieredlog.min_residency;
		ALTER SYSTEM RESET tieredlog.move_rate_limit; SELECT pg_reload_conf();");
	is(q1($n, "SELECT count(*) || ' ' || count(DISTINCT key) FROM tieredlog.read('$log')"), '100 100',
		"$name: the archived records read back ($what)");
	ok($o->poll_query_until('postgres', "SELECT count(*) = 100 FROM tieredlog.read('$log')"),
		$o->name . " has them too ($what)");

	# statistics: flushed here, and gathered from the peer
	q1($o, "SELECT count(*) FROM tieredlog.read('$log')");
	ok($n->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.access_history WHERE sampled_at > '$t0'"),
		"$name: the worker flushes access statistics into access_history ($what)");
	ok($n->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.peer_access WHERE peer_name = '" . $o->name . "'
			AND log_name = '$log'"),
		"$name: and gathers the peer's (peer_access) ($what)");
	ok($o->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.peer_access WHERE peer_name = '$name'
			AND log_name = '$log'"),
		$o->name . " gathers ${name}'s ($what)");

	for my $x (@nodes)
	{
		is(q1($x, "SELECT state || ' ' || coalesce(last_error, 'no error') FROM tieredlog.workers WHERE database = current_database()")
			  =~ s/^(idle|running|planning|pacing) /ok /r, 'ok no error',
			$x->name . "'s worker runs without error ($what)");
	}
	is(q1($n, "SELECT tasks_failed FROM tieredlog.workers WHERE database = current_database()"), $failed,
		"$name: no task of its worker failed ($what)");
}

# no ERROR, FATAL or PANIC (nor a crashed process) in the server logs since the first update
sub logs_clean
{
	my ($what) = @_;
	for my $n (@nodes)
	{
		# (set_peer_enabled(false) stops the apply worker with a FATAL: that one is expected)
		# (the test's own sessions, named 019_upgrade.pl, are checked where they run)
		my @bad = grep { /\b(?:ERROR|FATAL|PANIC):|terminated by signal/ && !/\] 019_upgrade\.pl /
			  && !/FATAL:  terminating background worker "tieredlog apply" due to administrator command/ } split /\n/,
		  slurp_file($n->logfile, $log_offset{ $n->name });
		is(scalar(@bad), 0, $n->name . ": no error in the server log ($what)")
		  or diag(join("\n", @bad[ 0 .. ($#bad < 19 ? $#bad : 19) ]));
	}
}

sub update
{
	my ($n) = @_;
	$log_offset{ $_->name } //= -s $_->logfile for @nodes;
	my ($rc, $out, $err) = $n->psql('postgres', 'ALTER EXTENSION tieredlog UPDATE');
	is($rc, 0, $n->name . ': ALTER EXTENSION tieredlog UPDATE succeeds') or diag($err);
	is(version($n), '1.1', $n->name . ' is at 1.1 after ALTER EXTENSION tieredlog UPDATE');
	is(q1($n, 'SELECT coalesce(tieredlog.node_hold(), \'none\')'), 'none', $n->name . ' is not held after the update');
	is(q1($n, "SELECT string_agg(model_id || ' ' || state || ' ' || algo, ',') FROM tieredlog.model"), '1 prior prior',
		$n->name . ': the prior is in its own state after the update');
	# without the update nothing after it would test anything
	if ($rc != 0)
	{
		$_->stop for @nodes;
		done_testing();
		exit 1;
	}
}

# ---- update u1 only ------------------------------------------------------------------------------------------
update($u1);
is(version($u2), '1.0', 'u2 is still at 1.0');
same_answers($_, $before{ $_->name }, 'u1 updated, u2 at 1.0') for @nodes;
roles_round('u1 updated, u2 at 1.0');
clean($_, 'u1 updated, u2 at 1.0') for @nodes;
replication_round('r1', 'u1 at 1.1, u2 at 1.0');
scheduler_round($_, 'u1 at 1.1, u2 at 1.0') for @nodes;
worker_round($u1, 'wk1', 'u1 at 1.1, u2 at 1.0');
clean($_, 'u1 at 1.1, u2 at 1.0, after replication') for @nodes;
side_round('1.0', 'u1\'s "postgres" at 1.1');
logs_clean('u1 at 1.1, u2 at 1.0');

# ---- then u2 -------------------------------------------------------------------------------------------------
ledger_at_rest('before u2\'s update');
%before = map { ($_->name => answers($_)) } @nodes;
update($u2);
same_answers($_, $before{ $_->name }, 'both updated') for @nodes;
roles_round('both updated');
clean($_, 'both updated') for @nodes;
# moves on the updated catalogs: back to tier 0 (u2's tier 0 is unmapped, in pg_default)
for my $n (@nodes)
{
	my $seg = q1($n, "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '$H1'");
	my $n_h1 = q1($n, "SELECT count(*) FROM tieredlog.read('ev', '$H1', '$H2')");
	# (u1's worker may have demoted it to tier 2 meanwhile)
	like(q1($n, "SELECT from_tier || '>' || to_tier FROM tieredlog.move_segment($seg, 0)"), qr/^[12]>0$/,
		$n->name . ': a move from tier 1 (or 2) to tier 0');
	ok($n->poll_query_until('postgres', "SELECT tieredlog.sweep() >= 0 AND NOT EXISTS (SELECT FROM tieredlog.move WHERE state <> 'done')"),
		$n->name . ': its old copy is swept');
	is(q1($n, "SELECT tier || ' ' || tablespace || ' ' || records FROM tieredlog.segments WHERE segment_id = $seg")
		  . ' ' . q1($n, "SELECT count(*) FROM tieredlog.read('ev', '$H1', '$H2')"),
		"0 $tier0{$n->name} $n_h1 $n_h1", $n->name . ": the segment is in tier 0's tablespace with its records");
	is(q1($n, "SELECT count(*) FROM tieredlog.check_digests('ev') WHERE NOT ok"), '0', $n->name . ': its digests check');
}
replication_round('r2', 'both at 1.1');
scheduler_round($_, 'both at 1.1') for @nodes;
worker_round($u2, 'wk2', 'both at 1.1');
clean($_, 'both at 1.1, after replication') for @nodes;
side_round('1.0', 'both nodes\' "postgres" at 1.1');
logs_clean('both at 1.1');
# 1.1 makes the digest cells unlogged, which a table in a publication cannot be: the update says so
$u1->safe_psql('side', 'CREATE PUBLICATION pub_cells FOR TABLE tieredlog.digest_cell');
my ($pub_rc, $pub_out, $pub_err) = $u1->psql('side', 'ALTER EXTENSION tieredlog UPDATE',
	extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($pub_rc, 0, 'the side database with its digest cells in a publication does not update');
like($pub_err, qr/ERROR:  55000: tieredlog\.digest_cell is in publication\(s\) pub_cells\n.*HINT:  Remove it \(ALTER PUBLICATION \.\.\. DROP TABLE tieredlog\.digest_cell\)/s,
	'it names the publication and says what to do (object_not_in_prerequisite_state)');
is($u1->safe_psql('side', "SELECT extversion FROM pg_extension WHERE extname = 'tieredlog'"), '1.0',
	'and still at 1.0, unchanged');
$u1->safe_psql('side', 'ALTER PUBLICATION pub_cells DROP TABLE tieredlog.digest_cell');
my ($side_rc, $side_out, $side_err) = $u1->psql('side', 'ALTER EXTENSION tieredlog UPDATE');
is($side_rc, 0, 'the side database updates too') or diag($side_err);
side_round('1.1', 'side database updated');

# ---- a logical backup of an updated database restores like one of a fresh 1.1 ---------------------------------
# u2's database (updated from 1.0: its genesis is entry 1, it has a peer, conflicts, a model, tiers 1
# and 2 mapped and tier 0 not) dumped and restored into a new server under another node name
my $r3 = tl_node('r3', $conf);
$r3->safe_psql('postgres', "CREATE TABLESPACE $_ LOCATION ''") for qw(hot warm cold);
$r3->safe_psql('postgres', 'CREATE DATABASE restored');
$r3->safe_psql('postgres', "CREATE ROLE $_ NOLOGIN") for qw(log_reader log_writer log_operator peer_eu monitor);
my $dumpdir = PostgreSQL::Test::Utils::tempdir();
my ($dump_out, $dump_err);
my %dumped = map { ($_ => q1($u2, $answers{$_})) } qw(read_ev read_man conflicts);
$dumped{digests} = digests($u2, 'ev');
IPC::Run::run(['pg_dump', '-Fc', '-f', "$dumpdir/u2.dump", '-d', $u2->connstr('postgres')], '>', \$dump_out, '2>', \$dump_err);
is($? >> 8, 0, 'pg_dump -Fc of u2\'s updated database ran');
is($dump_err, '', 'pg_dump said nothing on stderr');
IPC::Run::run(['pg_restore', '-d', $r3->connstr('restored'), "$dumpdir/u2.dump"], '>', \$dump_out, '2>', \$dump_err);
is($? >> 8, 0, 'pg_restore into a new server exits 0');
is($dump_err, '', 'pg_restore reports no error');
is($r3->safe_psql('restored', "SELECT extversion FROM pg_extension WHERE extname = 'tieredlog'"), '1.1', 'the restore runs 1.1');
like($r3->safe_psql('restored', 'SELECT tieredlog.node_hold()'), qr/^restored: restored from node "u2"/,
	'the restored data is held until finish_restore()');
# (segment ids and tiers are each server's own)
is($r3->safe_psql('restored', $answers{$_}) =~ s/ \d+ \d+$//mgr, $dumped{$_} =~ s/ \d+ \d+$//mgr, "the restore has u2's $_")
  for qw(read_ev read_man);
is($r3->safe_psql('restored', $answers{conflicts}), $dumped{conflicts}, "the restore has u2's conflicts");
is($r3->safe_psql('restored', "SELECT coalesce(string_agg(range_start || '=' || digest, ',' ORDER BY range_start), '')
	FROM tieredlog.segments WHERE log_name = 'ev'"), $dumped{digests}, 'and its segment digests');
is($r3->safe_psql('restored', 'SELECT count(*) FROM tieredlog.check_digests() WHERE NOT ok'), '0', 'check_digests() is clean on the restore');
is($r3->safe_psql('restored', 'SELECT count(*) FROM tieredlog.verify() WHERE NOT ok'), '0', 'verify() is clean on the restore');
like($r3->safe_psql('restored', 'SELECT tieredlog.finish_restore()'), qr/^the restored data of node "u2" is now node "r3"/,
	'finish_restore() under another name: a new node');
$r3->safe_psql('restored', "SELECT tieredlog.append('ev', 'r3-new', '{}')");
is($r3->safe_psql('restored', "SELECT origin FROM tieredlog.read('ev', key => 'r3-new')"), 'r3', 'the restore appends as r3');
ok($r3->poll_query_until('restored', 'SELECT count(*) = 0 FROM tieredlog.ledger_entry WHERE block_id IS NULL'),
	'its worker closes ledger blocks');
is($r3->safe_psql('restored', 'SELECT count(*) FROM tieredlog.verify() WHERE NOT ok'), '0', 'and it verifies clean');
is($r3->safe_psql('restored', "SELECT string_agg(entry_id || ' ' || (body->>'version'), ',') FROM tieredlog.ledger_entry
	WHERE kind = 'CONFIG' AND body->>'action' = 'create_extension'"), '1 1.0', 'its ledger keeps one genesis entry, the one 1.0 wrote');
$r3->stop;

# ---- both restart ------------------------------------------------------------------------------------------------
ledger_at_rest('before the restart');
%before = map { ($_->name => answers($_)) } @nodes;
$_->restart for @nodes;
for my $n (@nodes)
{
	ok($n->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"),
		$n->name . ' streams from its peer again after the restart');
	same_answers($n, $before{ $n->name }, 'after the restart', qw(segments read_ev read_man latest conflicts check_digests verify_failures));
}
for my $n (@nodes)
{
	my $name = $n->name;
	q1($n, "SELECT tieredlog.append('ev', 'restart-$name', '{}')");
}
$ev_count += 2;
converged('ev', $ev_count, 'after the restart');
clean($_, 'after the restart') for @nodes;
for my $n (@nodes)
{
	is(q1($n, 'SELECT coalesce(tieredlog.node_hold(), \'none\')'), 'none', $n->name . ' is not held after the restart');
	# the genesis 1.0 wrote stays the only one
	is(q1($n, "SELECT string_agg(entry_id || ' ' || (body->>'version'), ',') FROM tieredlog.ledger_entry
		WHERE kind = 'CONFIG' AND body->>'action' = 'create_extension'"), '1 1.0',
		$n->name . ': one genesis entry in the ledger, the one 1.0 wrote (entry 1)');
}

$_->stop for @nodes;
done_testing();
