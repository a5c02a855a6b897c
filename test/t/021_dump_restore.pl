# Logical backup: pg_dump / pg_restore (custom format) and pg_dump / psql (plain SQL) of a database
# with logs in all three tiers (each tier its own tablespace), open, sealed and reopened segments,
# a peer, pending and resolved conflicts, a trained model, ledger blocks and witnesses, and a
# quarantine entry. Restored into fresh servers:
#  - no error from pg_restore or psql;
#  - read(), latest(), every digest and Merkle root, the tables pg_dump saves: the same as the
#    original's; check_digests() and verify() clean; every segment relation and its indexes in the
#    tablespace of its tier;
#  - until tieredlog.finish_restore(): the worker does nothing, appends are refused (55000), and
#    status() says why;
#  - restored under the original's node_name (the original gone): finish_restore() has the node
#    reconcile with its peer first, then appends resume with seqs past every record it wrote;
#  - restored under another node_name: finish_restore() makes it a new node that forgets the
#    original's peers (their slots are the original's), and its records carry its own name;
#  - the ledger chain continues: new blocks close on the restored nodes and verify() stays clean;
#  - a peer's owner comes back as the same role (by name).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;
use IPC::Run;

my $conf = "tieredlog.ledger_interval = 1\n";
my $n1 = tl_node('n1', $conf);
my $n2 = tl_node('n2', $conf);

# three tablespaces on a node, one per tier
sub tablespaces
{
	my ($node) = @_;
	my $base = PostgreSQL::Test::Utils::tempdir();
	for my $t (qw(hot warm cold))
	{
		mkdir "$base/$t" or die "mkdir $base/$t: $!";
		$node->safe_psql('postgres', "CREATE TABLESPACE $t LOCATION '$base/$t'");
	}
}
tablespaces($n1);

for my $n ($n1, $n2)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog;
		SELECT tieredlog.create_log('ev', '1 hour');
		SELECT tieredlog.create_log('orders', '1 day', 'manual');});
}
$n1->safe_psql('postgres', q{SELECT tieredlog.set_tier(0, 'hot'), tieredlog.set_tier(1, 'warm'), tieredlog.set_tier(2, 'cold');});
tl_full_mesh($n1, $n2);
# a second, disabled peer that a non-superuser owns (its row written directly: adding it for real
# needs a peer that asks for a password); restored servers give that role another OID
$n1->safe_psql('postgres', q{CREATE ROLE peer_admin;
	INSERT INTO tieredlog.peer (peer_id, peer_name, conninfo, slot_name, origin_name, node_name, owner, enabled)
	VALUES (nextval('tieredlog.peer_id_seq'), 'ghost', 'host=127.0.0.1 port=1 dbname=x user=u password=secret',
			'tl_ghost', 'tl_ghost', 'ghost', 'peer_admin', false)});

# ---- the data -------------------------------------------------------------------------------------------
$n1->safe_psql('postgres', q{SELECT count(tieredlog.append('ev', 'k' || (i % 40), jsonb_build_object('i', i), 'app',
	'2026-03-01 00:00+00'::timestamptz + i * interval '30 s')) FROM generate_series(1, 720) i});
$n2->safe_psql('postgres', q{SELECT count(tieredlog.append('ev', 'k' || (i % 40), jsonb_build_object('j', i), 'other',
	'2026-03-01 00:00:10+00'::timestamptz + i * interval '60 s')) FROM generate_series(1, 300) i});
ok($n1->poll_query_until('postgres', "SELECT count(*) = 1020 FROM tieredlog.read('ev')"), 'n1 holds both nodes\' records');

# conflicts: both nodes write the same order keys while neither streams from the other
$_->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled(peer_name, false) FROM tieredlog.peers WHERE peer_name <> 'ghost'") for ($n1, $n2);
$n1->safe_psql('postgres', q{SELECT tieredlog.append('orders', 'o' || i, '{"by": "n1"}') FROM generate_series(1, 3) i});
$n2->safe_psql('postgres', q{SELECT tieredlog.append('orders', 'o' || i, '{"by": "n2"}') FROM generate_series(1, 3) i});
$_->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled(peer_name, true) FROM tieredlog.peers WHERE peer_name <> 'ghost'") for ($n1, $n2);
ok($n1->poll_query_until('postgres', "SELECT count(*) = 3 FROM tieredlog.conflicts WHERE log_name = 'orders' AND status = 'pending'"),
	'n1 has three pending conflicts');
$n1->safe_psql('postgres', q{SELECT tieredlog.resolve_conflict(conflict_id, 'local') FROM tieredlog.conflicts
	WHERE log_name = 'orders' AND key = 'o1'});
ok($n1->poll_query_until('postgres', "SELECT count(*) = 1 FROM tieredlog.conflicts WHERE log_name = 'orders' AND status = 'resolved'"),
	'one of them resolved by hand');

# segments: two sealed and moved to tier 1 and tier 2, one sealed, one sealed and reopened
my @segs = split /\n/, $n1->safe_psql('postgres', "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev' ORDER BY range_start");
cmp_ok(scalar @segs, '>=', 6, 'six segments of ev');
$n1->safe_psql('postgres', "SELECT tieredlog.seal($_)") for @segs[0 .. 3];
$n1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.move_segment($segs[0], 1); SELECT count(*) FROM tieredlog.move_segment($segs[1], 2);
	SELECT tieredlog.sweep();");
$n1->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'late', '{"late": true}', 'app', '2026-03-01 03:30+00')});
is($n1->safe_psql('postgres', "SELECT string_agg(tier || '/' || state, ',' ORDER BY range_start) FROM tieredlog.segments WHERE log_name = 'ev'"),
	'1/sealed,2/sealed,0/sealed,0/reopened,0/open,0/open,0/open', 'tiers 0, 1 and 2; open, sealed and reopened segments');

# a quarantine entry: damage found by the scrub (then undone, so the data verifies again)
my $rel = $n1->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE segment_id = $segs[4]");
my $orig = $n1->safe_psql('postgres', "SELECT payload FROM tieredlog_data.$rel WHERE key = 'k5' ORDER BY seq LIMIT 1");
$n1->safe_psql('postgres', "UPDATE tieredlog_data.$rel SET payload = '{\"rot\": 1}' WHERE key = 'k5' AND payload = '$orig'");
$n1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.scrub('ev', $segs[4])");
is($n1->safe_psql('postgres', "SELECT count(*) FROM tieredlog.quarantine WHERE via = 'scrub'"), '1', 'the scrub quarantined the damaged record');
$n1->safe_psql('postgres', "UPDATE tieredlog_data.$rel SET payload = '$orig' WHERE key = 'k5' AND payload = '{\"rot\": 1}'");

# a trained model (labelled checks as in 010_predict.pl)
$n1->safe_psql('postgres', q{
INSERT INTO tieredlog.check_log (decided_at, segment_id, log_name, range_start, tier, peer_name, features, model_id,
								 score, cost, reason, finished_at, status, diverged)
SELECT now() - (400 - g) * interval '1 minute', 0, 'synthetic', now(), 0, 'n2',
	   ARRAY[w, 0, 0, 0, gap, 1, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0]::float8[], 1, 0.5, 8192, 'explore', now(), 'in_sync',
	   (hashint4(g) % 1000 + 1000) % 1000 < 1000 / (1 + exp(-(-3 + 2.5 * gap + 0.6 * w)))
  FROM (SELECT g, (g % 7)::float8 AS w, (g % 5 = 0)::int::float8 AS gap FROM generate_series(1, 400) g) s});
my $model = $n1->safe_psql('postgres', "SELECT tieredlog.train_model(1.0)");
is($n1->safe_psql('postgres', "SELECT state FROM tieredlog.models WHERE model_id = $model"), 'active', 'a trained model is active');

# ledger blocks, and a witness of n2's ledger
ok($n1->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.ledger WHERE block_id IS NULL"), 'every ledger entry in a block');
ok($n1->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS'"), 'n1 holds a witness of n2\'s ledger');
# nothing moves any more while the dump is taken: the nodes stop streaming and witnessing
$n1->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n2', false)");
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false)");
ok($n1->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.ledger WHERE block_id IS NULL"), 'n1 quiet');
sleep 3;

# ---- what must come back ------------------------------------------------------------------------------
sub q1 { my ($n, $sql) = @_; return $n->safe_psql('postgres', $sql); }
my %checks = (
	records => "SELECT md5(string_agg(origin || ':' || seq || ':' || key || ':' || ts || ':' || coalesce(source, '') || ':' || payload::text || ':' || rid,
		',' ORDER BY origin, seq)) || '/' || count(*) FROM tieredlog.read('ev')",
	orders => "SELECT string_agg(origin || ':' || seq || ':' || key || ':' || payload::text, ',' ORDER BY origin, seq) FROM tieredlog.read('orders')",
	latest => "SELECT md5(string_agg(l.origin || ':' || l.seq, ',' ORDER BY k.key)) FROM (SELECT DISTINCT key FROM tieredlog.read('ev')) k,
		LATERAL tieredlog.latest('ev', k.key) l",
	latest_orders => "SELECT string_agg(k || '=' || coalesce((SELECT l.origin || ':' || l.seq FROM tieredlog.latest('orders', k) l), '-'), ',' ORDER BY k)
		FROM unnest(ARRAY['o1', 'o2', 'o3']) k",
	segments => "SELECT string_agg(log_name || '|' || range_start || '|' || tier || '|' || state || '|' || tablespace || '|' || records || '|' || digest
		|| '|' || coalesce(seal_root, '-'), ',' ORDER BY log_name, range_start) FROM tieredlog.segments",
	relations => "SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || coalesce(t.spcname, 'default'), ',' ORDER BY c.relname)
		FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
		WHERE s.nspname = 'tieredlog_data'",
	conflicts => "SELECT string_agg(log_name || ':' || key || ':' || status || ':' || winner || ':' || loser || ':' || coalesce(decision_record, '-'), ',' ORDER BY conflict_id)
		FROM tieredlog.conflicts",
	quarantine => "SELECT string_agg(log_name || ':' || origin || ':' || seq || ':' || via, ',') FROM tieredlog.quarantine",
	models => "SELECT string_agg(model_id || ':' || state || ':' || algo || ':' || coef::text, ',' ORDER BY model_id) FROM tieredlog.models",
	ledger => "SELECT md5(string_agg(entry_id || ':' || coalesce(block_id::text, '-') || ':' || kind || ':' || body::text, ',' ORDER BY entry_id))
		|| '/' || count(*) || '/' || count(*) FILTER (WHERE kind = 'WITNESS') FROM tieredlog.ledger",
	blocks => "SELECT string_agg(block_id || ':' || encode(entries_root, 'hex'), ',' ORDER BY block_id) FROM tieredlog.ledger_block",
	seen => "SELECT count(*) FROM tieredlog.seen",
	peers => "SELECT string_agg(peer_name || ':' || node_name || ':' || owner || ':' || slot_name || ':' || conninfo, ',' ORDER BY peer_name)
		FROM tieredlog.peers",
	tiers => "SELECT string_agg(tier || ':' || tablespace, ',' ORDER BY tier) FROM tieredlog.tiers",
	local_seq => "SELECT last_value FROM tieredlog.local_seq",
	records_n1 => "SELECT count(*) FROM tieredlog.read('ev') WHERE origin = 'n1'",
	check_digests => "SELECT count(*) FILTER (WHERE NOT ok) || '/' || count(*) FROM tieredlog.check_digests()",
	verify => "SELECT coalesce(string_agg(check_name || ' ' || object, ', ') FILTER (WHERE NOT ok), 'clean') FROM tieredlog.verify()",
);
my %before = map { $_ => q1($n1, $checks{$_}) } keys %checks;
is_deeply({ map { $_ => q1($n1, $checks{$_}) } keys %checks }, \%before, 'the original holds still (read twice)');
is($before{check_digests} =~ /^0\//, 1, 'the original\'s digests check clean');
is($before{verify}, 'clean', 'the original verifies clean');
like($before{relations}, qr/archive_\d+:r:cold/, 'the original has its archive in the cold tablespace');

my $dumpdir = PostgreSQL::Test::Utils::tempdir();
my ($out, $err);
IPC::Run::run(['pg_dump', '-Fc', '-f', "$dumpdir/db.dump", '-d', $n1->connstr('postgres')], '>', \$out, '2>', \$err);
is($? >> 8, 0, 'pg_dump -Fc ran');
is($err, '', 'pg_dump -Fc said nothing on stderr');
IPC::Run::run(['pg_dump', '-f', "$dumpdir/db.sql", '-d', $n1->connstr('postgres')], '>', \$out, '2>', \$err);
is($? >> 8, 0, 'pg_dump (plain) ran');

# a fresh server with the same tablespaces and roles, and the database to restore into
sub target
{
	my ($name, $node_name) = @_;
	my $t = tl_node($name, $conf . "tieredlog.node_name = '$node_name'\n");
	tablespaces($t);
	$t->safe_psql('postgres', 'CREATE ROLE filler_1; CREATE ROLE filler_2; CREATE ROLE peer_admin; CREATE DATABASE restored');
	return $t;
}

sub compare
{
	my ($t, $what, $skip) = @_;
	for my $k (sort keys %checks)
	{
		next if $skip->{$k};
		is($t->safe_psql('restored', $checks{$k}), $before{$k}, "$what: $k the same as the original's");
	}
}

sub held
{
	my ($t, $what) = @_;
	my ($rc, $o, $e) = $t->psql('restored', "SELECT tieredlog.append('ev', 'x', '{}')");
	like($e, qr/ERROR:  appending to a tieredlog log is not possible: this database holds restored tieredlog data/,
		"$what: appends are refused until finish_restore()");
	($rc, $o, $e) = $t->psql('restored', "\\set VERBOSITY verbose\nSELECT tieredlog.append('ev', 'x', '{}')");
	like($e, qr/ERROR:  55000/, "$what: with SQLSTATE 55000 (object_not_in_prerequisite_state)");
	like($t->safe_psql('restored', 'SELECT tieredlog.node_hold()'), qr/^restored: restored from node "n1"/,
		"$what: status() says the data is restored from n1 and waits for finish_restore()");
	ok($t->poll_query_until('restored', "SELECT state = 'held' FROM tieredlog.workers WHERE database = 'restored'"),
		"$what: the worker holds");
	# only the operator decides: a role with the writer's grants and a hostile search_path cannot
	$t->safe_psql('restored', q{CREATE ROLE intruder LOGIN; CREATE SCHEMA evil AUTHORIZATION intruder;
		GRANT USAGE ON SCHEMA tieredlog TO intruder;
		GRANT EXECUTE ON FUNCTION tieredlog.append(text, text, jsonb, text, timestamptz) TO intruder});
	($rc, $o, $e) = $t->psql('restored', "SET search_path = evil, public; SELECT tieredlog.finish_restore()",
		extra_params => ['-U', 'intruder']);
	like($e, qr/permission denied for function finish_restore/, "$what: an unprivileged role cannot finish the restore");
	($rc, $o, $e) = $t->psql('restored', "SET search_path = evil, public; SELECT tieredlog.append('ev', 'x', '{}')",
		extra_params => ['-U', 'intruder']);
	like($e, qr/this database holds restored tieredlog data/, "$what: nor append past the hold");
	like($t->safe_psql('restored', 'SELECT tieredlog.node_hold()'), qr/^restored: /, "$what: still held");
}

# ---- custom format into a server named n1 (the original gone) ---------------------------------------------
my $r1 = target('r1', 'n1');
IPC::Run::run(['pg_restore', '-d', $r1->connstr('restored'), "$dumpdir/db.dump"], '>', \$out, '2>', \$err);
is($? >> 8, 0, 'pg_restore exits 0');
is($err, '', 'pg_restore reports no error');
held($r1, 'custom format');
like($r1->safe_psql('restored', "SELECT owner FROM tieredlog.peers WHERE peer_name = 'ghost'"), qr/^peer_admin$/,
	'a peer\'s owner comes back as the same role, though its OID differs');
isnt($r1->safe_psql('restored', "SELECT owner::oid FROM tieredlog.peer WHERE peer_name = 'ghost'"),
	$n1->safe_psql('postgres', "SELECT owner::oid FROM tieredlog.peer WHERE peer_name = 'ghost'"), '(the OIDs differ)');
compare($r1, 'custom format');
$n1->stop;		# the restore replaces n1: it must not run next to its copy
is($r1->safe_psql('restored', 'SELECT tieredlog.finish_restore()'),
	'node "n1" restored: local appends resume once every enabled peer has been reconciled', 'finish_restore() under the same name');
$r1->safe_psql('restored', "SELECT tieredlog.set_peer_enabled('n2', true)");
# n2 writes while n1 is away: the restored n1 gets them by streaming or reconciliation
$n2->safe_psql('postgres', q{SELECT count(tieredlog.append('ev', 'after', jsonb_build_object('i', i))) FROM generate_series(1, 5) i});
ok($r1->poll_query_until('restored', 'SELECT tieredlog.node_hold() IS NULL'), 'the hold lifts once n2 has been reconciled');
my $seq = $r1->safe_psql('restored', "SELECT tieredlog.append('ev', 'new', '{}')");
cmp_ok($seq, '>', $before{local_seq}, "a new append gets seq $seq, past every record n1 wrote ($before{local_seq})");
is($r1->safe_psql('restored', "SELECT count(*) FROM tieredlog.read('ev') WHERE origin = 'n1' AND seq = $seq"), '1', 'stored once under n1');
ok($r1->poll_query_until('restored', "SELECT count(*) = 0 FROM tieredlog.ledger WHERE block_id IS NULL"), 'the restored ledger closes new blocks');
is($r1->safe_psql('restored', $checks{verify}), 'clean', 'and verifies clean: the chain continues');
cmp_ok($r1->safe_psql('restored', 'SELECT count(*) FROM tieredlog.ledger_block'), '>', scalar(split /,/, $before{blocks}),
	'more blocks than the original had');

# ---- plain SQL through psql into a server named c2 --------------------------------------------------------
my $r2 = target('r2', 'c2');
IPC::Run::run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $r2->connstr('restored'), '-f', "$dumpdir/db.sql"],
	'>', \$out, '2>', \$err);
is($? >> 8, 0, 'psql -f of the plain dump exits 0');
unlike($err, qr/ERROR/, 'psql reports no error');
held($r2, 'plain format');
compare($r2, 'plain format');
like($r2->safe_psql('restored', 'SELECT tieredlog.finish_restore()'), qr/^the restored data of node "n1" is now node "c2"; its 2 peers were forgotten/,
	'finish_restore() under another name: a new node');
is($r2->safe_psql('restored', 'SELECT count(*) FROM tieredlog.peers'), '0', 'the original\'s peer is forgotten (its slot is n1\'s)');
$r2->safe_psql('restored', "SELECT tieredlog.append('ev', 'c2-new', '{}')");
is($r2->safe_psql('restored', "SELECT origin FROM tieredlog.read('ev', key => 'c2-new')"), 'c2', 'new records carry the new node\'s name');
is($r2->safe_psql('restored', "SELECT count(*) FROM tieredlog.read('ev') WHERE origin = 'n1'"),
	$before{records_n1}, 'the original\'s records keep their origin');
ok($r2->poll_query_until('restored', "SELECT count(*) = 0 FROM tieredlog.ledger WHERE block_id IS NULL"), 'c2 closes new blocks');
is($r2->safe_psql('restored', $checks{verify}), 'clean', 'c2 verifies clean');
like($r2->safe_psql('restored', "SELECT body::text FROM tieredlog.ledger WHERE body->>'action' = 'finish_restore'"), qr/"as": "a new node"/,
	'the ledger records the decision');

done_testing();
