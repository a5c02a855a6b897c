# Every role of README "Privileges" and "Monitoring", set up exactly as the README says, on two
# nodes whose peers log in as roles of their own (peer_eu, peer_us: no superuser on the peer side):
# each function and view the README grants a role is called as that role with realistic arguments
# and must work; a few things a role is not granted must be refused; and neither server log may
# hold a "permission denied" from tieredlog's own background processes or peer connections.
#
# Logins: app_reader IN ROLE log_reader, app_writer IN ROLE log_writer, ops IN ROLE log_operator,
# tieredlog_monitor (monitoring/monitor-role.sql). Then the rows of the Privileges table that the
# set-up to copy leaves out, granted exactly as the table says (reader_x: log_reader plus the
# table's other reader functions and views; ops_x: log_operator plus the table's other operator
# functions).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use TlCluster;

my $dir = 'monitoring';	# test.sh copies monitoring/ next to t/
die "no $dir/ in " . `pwd` unless -d $dir;

my $conf = "tieredlog.ledger_interval = 1\ntieredlog.stats_flush_interval = 1\n";
my $n1 = tl_node('n1', $conf);
my $n2 = tl_node('n2', $conf);
my @nodes = ($n1, $n2);
# n1 logs in to n2 as peer_eu, n2 to n1 as peer_us
my %login_as = (n1 => 'peer_eu', n2 => 'peer_us');
my %other = (n1 => $n2, n2 => $n1);

# ---- helpers ----------------------------------------------------------------------------------

# step($node, $role, $sql, $name, [$re]): $sql run as $role must succeed (and its output match $re).
# Returns the output.
sub step
{
	my ($n, $role, $sql, $name, $re) = @_;
	my ($rc, $out, $err) = $n->psql('postgres', $sql, extra_params => [ '-U', $role ]);
	my $ok = $rc == 0 && (!defined $re || $out =~ $re);
	ok($ok, $n->name . " as $role: $name")
	  or diag("rc $rc\nstdout: $out\nstderr: $err" . (defined $re ? "\nwanted: $re" : ''));
	return $out;
}

# denied($node, $role, $sql, $name): refused with "permission denied".
sub denied
{
	my ($n, $role, $sql, $name) = @_;
	my ($rc, $out, $err) = $n->psql('postgres', $sql, extra_params => [ '-U', $role ]);
	ok($rc != 0 && $err =~ /permission denied/, $n->name . " as $role: refused: $name")
	  or diag("rc $rc\nstdout: $out\nstderr: $err");
}

# ---- the README's set-up, on both nodes (as a superuser) ---------------------------------------

# the local roles exactly as the README prints them; its peer roles here with real passwords
my $readme_roles = tl_readme_roles() . q{
-- the peers: REPLICATION to stream from this node, the _ae_ functions to reconcile with it
CREATE ROLE peer_eu LOGIN REPLICATION PASSWORD 'eu-secret';
CREATE ROLE peer_us LOGIN REPLICATION PASSWORD 'us-secret';
GRANT USAGE ON SCHEMA tieredlog TO peer_eu, peer_us;
GRANT EXECUTE ON FUNCTION tieredlog.node_name() TO peer_eu, peer_us;
DO $$ DECLARE f regprocedure; BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'tieredlog'::regnamespace AND p.proname LIKE '\_ae\_%' LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO peer_eu, peer_us', f);
  END LOOP; END $$;

-- the logins of this test
CREATE ROLE app_reader LOGIN IN ROLE log_reader;
CREATE ROLE app_writer LOGIN IN ROLE log_writer;
CREATE ROLE ops LOGIN IN ROLE log_operator;

-- the Privileges table's rows that the set-up to copy leaves out, granted as the table says
CREATE ROLE reader_x LOGIN IN ROLE log_reader;
GRANT EXECUTE ON FUNCTION tieredlog.inclusion_proof(bigint, text), tieredlog.check_inclusion(jsonb, text),
                          tieredlog.merkle_root(bytea[]),
                          tieredlog.record_rid(text, text, jsonb, timestamptz, text, text, bigint),
                          tieredlog.hlc_now(), tieredlog.node_name() TO reader_x;
GRANT SELECT ON tieredlog.stat_segments, tieredlog.schedule TO reader_x;
CREATE ROLE ops_x LOGIN IN ROLE log_operator;
GRANT EXECUTE ON FUNCTION tieredlog.drop_log(text), tieredlog.move_segment(bigint, integer),
                          tieredlog.set_tier(integer, name), tieredlog.sweep(), tieredlog.scrub(text, bigint),
                          tieredlog.stat_reset(), tieredlog.train_model(float8, integer, integer),
                          tieredlog.set_source_priority(text, integer),
                          tieredlog.reconcile_segment(bigint, text), tieredlog.compare_seals(text, text),
                          tieredlog.set_conflict_rule(text, text, regprocedure) TO ops_x;
GRANT CREATE ON TABLESPACE pg_default TO ops_x;   -- set_tier: "also needs CREATE on the tablespace"
};

for my $n (@nodes)
{
	$n->safe_psql('postgres', "CREATE EXTENSION tieredlog;\n$readme_roles");
	my ($rc, $out, $err) = $n->psql('postgres', slurp_file("$dir/monitor-role.sql"),
		extra_params => [ '-v', 'role=tieredlog_monitor' ]);
	is($rc, 0, $n->name . ': monitoring/monitor-role.sql ran') or diag($err);
}

# ---- logs and records written before the peers exist (reconciliation brings them) --------------

for my $n (@nodes)
{
	my $name = $n->name;
	step($n, 'ops', q{SELECT tieredlog.create_log('orders', '1 hour', 'manual')},
		"create_log('orders', manual rule: conflicts wait for a person)", qr/^\d+$/);
	step($n, 'ops', q{SELECT tieredlog.create_log('events', '10 minutes')}, "create_log('events')", qr/^\d+$/);
	step($n, 'app_writer',
		qq{SELECT tieredlog.append('orders', 'hist-$name', '{"status": "imported"}', 'import', '2026-01-01 00:05:00+00')},
		'append (back-filled ts)', qr/^\d+$/);
	step($n, 'app_writer',
		qq{SELECT tieredlog.append_many('orders', ARRAY['many-$name-1', 'many-$name-2', 'many-$name-3'],
			ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[], ARRAY['checkout', 'checkout', 'billing'],
			ARRAY['2026-01-01 00:20:00+00', '2026-01-01 00:21:00+00', '2026-01-01 00:22:00+00']::timestamptz[])},
		'append_many (3 records)', qr/^3$/);
	step($n, 'app_writer',
		qq{SELECT tieredlog.append_many('events', ARRAY['ev-$name-a', 'ev-$name-b'], ARRAY['{}', '{}']::jsonb[])},
		'append_many (no sources, no ts)', qr/^2$/);
	# the same key on both nodes, neither having seen the other: a conflict the manual rule queues
	my $ts = $name eq 'n1' ? '2026-01-01 00:30:00+00' : '2026-01-01 00:30:01+00';
	step($n, 'app_writer',
		qq{SELECT tieredlog.append('orders', 'k-conf', '{"by": "$name"}', 'checkout', '$ts')},
		'append of the key both nodes write concurrently', qr/^\d+$/);
}

# ---- peers, each logging in as its own role (README: set_peer_role) ----------------------------

for my $n (@nodes)
{
	my $b = $other{ $n->name };
	my $conn = $b->connstr('postgres') . ' user=' . $login_as{ $n->name };
	$n->safe_psql('postgres', "SELECT tieredlog.add_peer('" . $b->name . "', \$\$$conn\$\$)");
}
# on each node, the role its peer logs in as stands for that peer
$n2->safe_psql('postgres', q{SELECT tieredlog.set_peer_role('n1', 'peer_eu')});
$n1->safe_psql('postgres', q{SELECT tieredlog.set_peer_role('n2', 'peer_us')});
for my $n (@nodes)
{
	ok($n->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"),
		$n->name . ' streams from its peer, which it reaches as ' . $login_as{ $n->name });
}

# streaming, as the peer roles
step($n1, 'app_writer', q{SELECT tieredlog.append('orders', 'live-1', '{"status": "created"}', 'checkout')},
	'append (HLC ts)', qr/^\d+$/);
ok($n2->poll_query_until('postgres', q{SELECT count(*) = 1 FROM tieredlog.read('orders', key => 'live-1')}),
	'n2: the record streams over (n2 streams from n1 as peer_us)');

# ---- reconcile (operator), through the peer roles' _ae_ functions ------------------------------

step($n1, 'ops', q{SELECT count(*) > 0 AND bool_and(status NOT IN ('failed', 'error'))
	FROM tieredlog.reconcile('orders', 'n2')}, "reconcile('orders', 'n2') of one log", qr/^t$/);
step($n2, 'ops', q{SELECT count(*) > 0 AND bool_and(status NOT IN ('failed', 'error'))
	FROM tieredlog.reconcile(NULL, 'n1')}, "reconcile(NULL, 'n1') of every log", qr/^t$/);
step($n1, 'ops', q{SELECT string_agg(DISTINCT status, ',') FROM tieredlog.reconcile()},
	'reconcile() of every log with every peer: in sync now', qr/^in_sync$/);

for my $n (@nodes)
{
	step($n, 'app_reader', q{SELECT count(*) FROM tieredlog.read('orders', '2026-01-01 00:00+00', '2026-01-01 01:00+00')},
		'read a time range: both nodes\' history (2 + 6 + 2 records)', qr/^10$/);
	step($n, 'app_reader', q{SELECT count(*) FROM tieredlog.read('events')}, 'read a whole log', qr/^4$/);
	step($n, 'app_reader', q{SELECT payload->>'n' FROM tieredlog.read('orders', key => 'many-n2-2')},
		'read by key', qr/^2$/);
	step($n, 'app_reader', q{SELECT source FROM tieredlog.latest('orders', 'many-n1-3')}, 'latest', qr/^billing$/);
}

# ---- a conflict for a person -------------------------------------------------------------------

for my $n (@nodes)
{
	step($n, 'app_reader', q{SELECT count(*) FROM tieredlog.conflicts WHERE status = 'pending' AND key = 'k-conf'},
		'conflicts: the concurrent writes wait for a person', qr/^1$/);
}
my $cid = step($n1, 'app_reader', q{SELECT conflict_id FROM tieredlog.conflicts WHERE status = 'pending' AND key = 'k-conf'},
	'conflicts: its id', qr/^\d+$/);
chomp $cid;
$cid = 0 unless $cid =~ /^\d+$/;
step($n1, 'ops', "SELECT tieredlog.resolve_conflict($cid, 'remote')", 'resolve_conflict(id, \'remote\')',
	qr/^n1:\d+$/);
step($n1, 'app_reader', "SELECT status FROM tieredlog.conflicts WHERE conflict_id = $cid", 'the conflict is resolved',
	qr/^resolved$/);
step($n1, 'app_reader', q{SELECT payload->>'by' FROM tieredlog.latest('orders', 'k-conf')},
	'latest() gives the decision (the remote side, n2\'s payload)', qr/^n2$/);
ok($n2->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM tieredlog.conflicts WHERE key = 'k-conf' AND status = 'pending'}),
	'n2: the decision arrived and resolved the conflict there');
step($n2, 'app_reader', q{SELECT payload->>'by' FROM tieredlog.latest('orders', 'k-conf')},
	'latest() gives the decision', qr/^n2$/);

# ---- seal, verify, digests, status, views -------------------------------------------------------

my %seg;
for my $n (@nodes)
{
	my $s = step($n, 'app_reader', q{SELECT DISTINCT segment_id FROM tieredlog.read('orders', key => 'hist-n1')},
		'the segment of the back-filled records (read\'s segment_id)', qr/^\d+$/);
	chomp $s;
	$seg{ $n->name } = $s =~ /^\d+$/ ? $s : 0;
	step($n, 'ops', "SELECT tieredlog.seal($seg{$n->name})", 'seal(segment_id)', qr/\S/);
	step($n, 'app_reader', q{SELECT count(*) > 0 AND bool_and(ok) FROM tieredlog.check_digests('orders')},
		"check_digests('orders')", qr/^t$/);
	step($n, 'app_reader', q{SELECT count(*) > 0 AND bool_and(ok) FROM tieredlog.check_digests()},
		'check_digests()', qr/^t$/);
	step($n, 'app_reader', q{SELECT count(*) > 0 AND bool_and(ok) FROM tieredlog.verify('orders')},
		"verify('orders')", qr/^t$/);
	step($n, 'app_reader', q{SELECT count(*) FILTER (WHERE NOT ok) FROM tieredlog.verify()}, 'verify(): nothing fails',
		qr/^0$/);
	step($n, 'app_reader', q{SELECT node_name || ' ' || logs || ' ' || peers FROM tieredlog.status()}, 'status()',
		qr/^n[12] \d+ 1$/);
	step($n, 'app_reader', q{SELECT log_name || ':' || records FROM tieredlog.logs WHERE log_name = 'orders'},
		'the logs view', qr/^orders:\d+$/);
	step($n, 'app_reader', qq{SELECT state || ' ' || records FROM tieredlog.segments WHERE segment_id = $seg{$n->name}},
		'the segments view', qr/^sealed \d+$/);
	step($n, 'app_reader', q{SELECT count(*) FROM tieredlog.conflicts}, 'the conflicts view', qr/^\d+$/);
	# every column, as the README's own examples read them ("SELECT * FROM tieredlog.segments")
	for my $view (qw(logs segments conflicts health))
	{
		step($n, 'app_reader', "SELECT * FROM tieredlog.$view", "SELECT * FROM the $view view", qr/\S/);
	}
	step($n, 'app_reader', q{SELECT * FROM tieredlog.status()}, 'SELECT * FROM status()', qr/^n[12]\|/);
	step($n, 'app_reader', q{SELECT count(*) FILTER (WHERE check_name = 'worker') FROM tieredlog.health},
		'the health view', qr/^1$/);
	step($n, 'app_reader', q{SELECT count(*) > 0 FROM tieredlog.health_checks()}, 'health_checks()', qr/^t$/);
	step($n, 'ops', q{SELECT count(*) FROM tieredlog.read('orders')}, 'an operator reads too (log_reader)', qr/^\d+$/);
	step($n, 'ops', q{SELECT tieredlog.append('events', 'op-' || now()::text, '{}')},
		'an operator appends too (log_writer)', qr/^\d+$/);
}
step($n1, 'app_reader', q{SELECT count(*) > 0 FROM tieredlog.verify(NULL, NULL)}, 'verify(NULL, NULL)', qr/^t$/);

# ---- the peer roles: their _ae_ functions, as the README grants them -----------------------------

for my $n (@nodes)
{
	# the role the other node logs in as here
	my $peer_role = $login_as{ $other{ $n->name }->name };
	step($n, $peer_role, q{SELECT tieredlog.node_name()}, 'node_name()', qr/^n[12]$/);
	step($n, $peer_role, q{SELECT string_agg(l, ',' ORDER BY l) FROM tieredlog._ae_logs() l}, '_ae_logs()',
		qr/_seen,events,orders/);
	step($n, $peer_role, q{SELECT length(tieredlog._ae_roots('orders', '-infinity', 'infinity', false)) > 0},
		'_ae_roots', qr/^t$/);
	step($n, $peer_role, q{SELECT length(tieredlog._ae_leaves('orders', '2026-01-01 00:00+00')) > 0}, '_ae_leaves',
		qr/^t$/);
	step($n, $peer_role, q{SELECT count(*) > 0 FROM tieredlog._ae_seals('orders')}, '_ae_seals', qr/^t$/);
	step($n, $peer_role, q{SELECT count(*) >= 0 FROM tieredlog._ae_access(now() - interval '1 day')}, '_ae_access',
		qr/^t$/);
	step($n, $peer_role, q{SELECT tieredlog._ae_rid('orders', 'n1', 1, '2026-01-01 00:05:00+00', 'hist-n1') IS NOT NULL},
		'_ae_rid', qr/^t$/);
	denied($n, $peer_role, q{SELECT tieredlog.append('orders', 'x', '{}')}, 'a peer role cannot append');
}
# what the workers do as the peer roles: access statistics and ledger witnesses
for my $n (@nodes)
{
	my $o = $other{ $n->name }->name;
	ok($n->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.peer_access WHERE peer_name = '$o'"),
		$n->name . " gathers $o\'s access statistics (_ae_access as " . $login_as{ $n->name } . ')');
	ok($n->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = '$o'"),
		$n->name . " keeps $o\'s ledger digest (_ae_witness as " . $login_as{ $other{ $n->name }->name } . ')');
}

# ---- the monitoring role: every query of monitoring/queries.yaml -------------------------------

my $json = `python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)' '$dir/queries.yaml' 2>&1`;
my $queries = $? == 0 ? decode_json($json) : undef;
ok($queries, 'monitoring/queries.yaml parses') or diag($json);
$queries //= {};
for my $n (@nodes)
{
	for my $ns (sort keys %$queries)
	{
		step($n, 'tieredlog_monitor', $queries->{$ns}{query}, "queries.yaml $ns");
	}
	step($n, 'tieredlog_monitor', q{SELECT count(*) FROM tieredlog.health WHERE check_name = 'peer'},
		'health (one peer row)', qr/^1$/);
	step($n, 'tieredlog_monitor', q{SELECT node_name FROM tieredlog.status()}, 'status()', qr/^n[12]$/);
	step($n, 'tieredlog_monitor', q{SELECT count(*) > 0 FROM tieredlog.segments}, 'the segments view', qr/^t$/);
	# every view monitor-role.sql grants, every column
	for my $view (qw(health tiers segments logs moves task_history workers peers slots gaps reconcile_history
		check_log models conflicts ledger ledger_blocks))
	{
		step($n, 'tieredlog_monitor', "SELECT * FROM tieredlog.$view", "SELECT * FROM $view");
	}
	denied($n, 'tieredlog_monitor', q{SELECT tieredlog.append('orders', 'x', '{}')}, 'the monitoring role cannot append');
	denied($n, 'tieredlog_monitor', q{SELECT count(*) FROM tieredlog.read('orders')}, 'nor read records');
	denied($n, 'tieredlog_monitor', q{SELECT * FROM tieredlog.reconcile('orders')}, 'nor reconcile');
	# _schedule() and _stat_live() are executable by PUBLIC: they answer only readers of their views
	denied($n, 'app_writer', q{SELECT * FROM tieredlog._schedule()}, 'a writer cannot call _schedule()');
	denied($n, 'app_writer', q{SELECT * FROM tieredlog._stat_live()}, 'nor _stat_live()');
}

# ---- the other direction -------------------------------------------------------------------------

denied($n1, 'app_reader', q{SELECT tieredlog.append('orders', 'x', '{}')}, 'a reader cannot append');
denied($n1, 'app_reader', q{SELECT tieredlog.append_many('orders', ARRAY['x'], ARRAY['{}']::jsonb[])},
	'a reader cannot append_many');
denied($n1, 'app_reader', "SELECT tieredlog.seal($seg{n1})", 'a reader cannot seal');
denied($n1, 'app_writer', q{SELECT * FROM tieredlog.reconcile('orders', 'n2')}, 'a writer cannot reconcile');
denied($n1, 'app_writer', q{SELECT tieredlog.create_log('w')}, 'a writer cannot create a log');
denied($n1, 'app_writer', "SELECT tieredlog.resolve_conflict($cid, 'local')", 'a writer cannot resolve a conflict');
denied($n1, 'app_writer', q{SELECT count(*) FROM tieredlog.read('orders')}, 'a writer cannot read');
denied($n1, 'ops', q{SELECT tieredlog.add_peer('n3', 'host=localhost')}, 'an operator cannot add a peer');
# the functions that run as the extension's owner (SECURITY DEFINER, or switching in C) refuse a
# role without EXECUTE on them: their owner's rights are reached only through the grant
denied($n1, 'app_writer', q{SELECT tieredlog.train_model()}, 'a writer cannot train the model');
denied($n1, 'app_writer', q{SELECT tieredlog.check_inclusion('{}')}, 'a writer cannot call check_inclusion');
denied($n1, 'app_writer', q{SELECT * FROM tieredlog._ae_seals('orders')}, 'a writer cannot call _ae_seals');
denied($n1, 'app_writer', q{SELECT * FROM tieredlog._ae_logs()}, 'a writer cannot call _ae_logs');
denied($n1, 'app_reader', q{SELECT * FROM tieredlog.compare_seals('n2', 'orders')}, 'a reader cannot compare seals');
denied($n1, 'app_reader', q{SELECT * FROM tieredlog._run_check(1)}, 'a reader cannot run a scheduled check');
denied($n1, 'ops', q{SELECT conninfo FROM tieredlog.peer}, 'an operator cannot read the peers\' conninfo');
for my $role (qw(app_reader app_writer ops tieredlog_monitor reader_x ops_x))
{
	denied($n1, $role, q{SELECT tieredlog._ae_logs()}, 'no _ae_logs');
	denied($n1, $role, q{SELECT tieredlog._ae_store('\x'::bytea, 'n2')}, 'no _ae_store');
	denied($n1, $role, q{SELECT tieredlog._ae_witness('{}')}, 'no _ae_witness');
}
denied($n1, 'app_reader', q{SELECT count(*) FROM tieredlog._ae_access(now())}, 'no _ae_access');

# ---- the Privileges table's other rows, granted as the table says -------------------------------

# readers: inclusion_proof, check_inclusion, stat_segments, schedule, merkle_root, record_rid,
# hlc_now, node_name
my $rid = step($n1, 'reader_x', q{SELECT rid FROM tieredlog.read('orders', key => 'hist-n1')}, 'a rid to prove',
	qr/^[0-9a-f]{32}$/);
chomp $rid;
step($n1, 'reader_x', "SELECT tieredlog.inclusion_proof($seg{n1}, '$rid')->>'rid'", 'inclusion_proof', qr/^\Q$rid\E$/);
# check_inclusion on its own, with a proof made by a superuser
my $proof = $n1->safe_psql('postgres', "SELECT tieredlog.inclusion_proof($seg{n1}, '$rid')");
step($n1, 'reader_x', "SELECT tieredlog.check_inclusion(\$\$$proof\$\$::jsonb)", 'check_inclusion (a superuser\'s proof)',
	qr/^t$/);
step($n1, 'reader_x', q{SELECT count(*) > 0 FROM tieredlog.stat_segments}, 'the stat_segments view', qr/^t$/);
step($n1, 'reader_x', q{SELECT count(*) >= 0 FROM tieredlog.schedule}, 'the schedule view', qr/^t$/);
step($n1, 'reader_x', q{SELECT length(tieredlog.merkle_root(ARRAY['\x00'::bytea]))}, 'merkle_root', qr/^64$/);
step($n1, 'reader_x', q{SELECT tieredlog.record_rid('orders', 'k', '{}', '2026-01-01 00:00+00', NULL, 'n1', 1) IS NOT NULL},
	'record_rid', qr/^t$/);
step($n1, 'reader_x', q{SELECT tieredlog.hlc_now() IS NOT NULL}, 'hlc_now', qr/^t$/);
step($n1, 'reader_x', q{SELECT tieredlog.node_name()}, 'node_name', qr/^n1$/);

# operators: drop_log, move_segment, set_tier, sweep, scrub, stat_reset, train_model,
# set_source_priority, reconcile_segment, compare_seals, set_conflict_rule
step($n1, 'ops_x', q{SELECT tieredlog.set_conflict_rule('events', 'first_writer_wins')}, 'set_conflict_rule');
step($n1, 'ops_x', q{SELECT tieredlog.set_source_priority('billing', 10)}, 'set_source_priority');
step($n1, 'ops_x', q{SELECT tieredlog.set_tier(1, 'pg_default')}, "set_tier(1, 'pg_default')");
step($n1, 'ops_x', "SELECT to_tier FROM tieredlog.move_segment($seg{n1}, 1)", 'move_segment to tier 1', qr/^1$/);
step($n1, 'ops_x', q{SELECT tieredlog.sweep() >= 0}, 'sweep', qr/^t$/);
step($n1, 'ops_x', q{SELECT COALESCE(sum(damaged), 0) = 0 FROM tieredlog.scrub('orders')}, 'scrub', qr/^t$/);
step($n1, 'ops_x', q{SELECT tieredlog.stat_reset() >= 0}, 'stat_reset', qr/^t$/);
step($n1, 'ops_x', q{SELECT tieredlog.train_model() IS NULL}, 'train_model (too few checks: NULL)', qr/^t$/);
step($n1, 'ops_x', "SELECT count(*) > 0 AND bool_and(status NOT IN ('failed', 'error')) FROM tieredlog.reconcile_segment($seg{n1}, 'n2')",
	'reconcile_segment', qr/^t$/);
step($n1, 'ops_x', q{SELECT string_agg(DISTINCT status, ',') FROM tieredlog.compare_seals('n2', 'orders')},
	'compare_seals', qr/equal/);
# the same with the peer's side of _ae_seals working (SELECT on the two tables it reads granted to
# peer_eu on n2 for this one step): what compare_seals() itself runs here, as the caller
$n2->safe_psql('postgres', q{GRANT SELECT ON tieredlog.segment, tieredlog.log TO peer_eu});
step($n1, 'ops_x', q{SELECT string_agg(DISTINCT status, ',') FROM tieredlog.compare_seals('n2', 'orders')},
	'compare_seals, with the peer side answering', qr/equal/);
$n2->safe_psql('postgres', q{REVOKE SELECT ON tieredlog.segment, tieredlog.log FROM peer_eu});
step($n1, 'ops_x', q{SELECT tieredlog.create_log('scratch')}, 'create_log(scratch)', qr/^\d+$/);
step($n1, 'ops_x', q{SELECT tieredlog.drop_log('scratch')}, 'drop_log');

# ---- nothing of tieredlog's own was refused ------------------------------------------------------

# The TAP nodes log with log_line_prefix '%m [%p] %q%a ': the peer connections name themselves
# "tieredlog ...", background workers print no application name (this test's own sessions are
# named after the script, PGAPPNAME).
for my $n (@nodes)
{
	my @denied = grep { /^\S+ \S+ \S+ \[\d+\] (?:tieredlog[^:]*)?(?:ERROR|WARNING|FATAL|LOG|DETAIL|NOTICE):.*permission denied/ }
	  split /\n/, slurp_file($n->logfile);
	is(join("\n", @denied), '', $n->name . ': no "permission denied" from tieredlog\'s workers or peer connections');
}

$_->stop for @nodes;
done_testing();
