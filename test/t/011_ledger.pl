# The integrity ledger across nodes:
#  - replicas that hold the same records compute the same seal roots;
#  - each worker closes ledger blocks and gives its digest to its peers, which keep it as a
#    WITNESS entry; a peer that is down gets it once it is back;
#  - the witnesses a peer holds prove the ledger unchanged, and expose an edit made afterwards;
#  - a sealed record altered on one node: verify() names it; the scrub takes it out, reconciliation
#    brings the intact copy back (a REPAIR entry), the segment is resealed, and verify() is clean;
#  - kill -9 in the middle of a seal leaves the segment unsealed and the ledger clean; the seal
#    then succeeds; kill -9 of the postmaster while entries are written loses no committed entry.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $conf = "tieredlog.ledger_interval = 1\nrestart_after_crash = on\n";
my $a = tl_node('la', $conf);
my $b = tl_node('lb', $conf);
for my $n ($a, $b)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog; SELECT tieredlog.create_log('ev', '1 hour');});
}
tl_full_mesh($a, $b);

sub failures
{
	my ($n, $digests) = @_;
	my $arg = defined $digests ? "NULL, \$\$$digests\$\$" : '';
	return $n->safe_psql('postgres', "SELECT coalesce(string_agg(check_name || ' ' || object, ', ' ORDER BY check_name, object), '')
		FROM tieredlog.verify($arg) WHERE NOT ok");
}

sub seal_all
{
	my ($n) = @_;
	$n->safe_psql('postgres', "SELECT tieredlog.seal(segment_id) FROM tieredlog.segments
		WHERE log_name = 'ev' AND state <> 'sealed' ORDER BY segment_id");
}

sub roots
{
	return $_[0]->safe_psql('postgres', "SELECT string_agg(range_start || '=' || seal_root, ',' ORDER BY range_start)
		FROM tieredlog.segments WHERE log_name = 'ev'");
}

# ---- records from both nodes, replicated, sealed on each: the same roots ---------------------------------
$a->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'a' || i, jsonb_build_object('i', i), 'app', '2026-04-01 10:00+00'::timestamptz + i * interval '20 s') FROM generate_series(1, 300) i});
$b->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'b' || i, jsonb_build_object('j', i), NULL, '2026-04-01 10:00:05+00'::timestamptz + i * interval '20 s') FROM generate_series(1, 300) i});
ok($a->poll_query_until('postgres', "SELECT count(*) = 600 FROM tieredlog.read('ev')"), 'la has all 600 records');
ok($b->poll_query_until('postgres', "SELECT count(*) = 600 FROM tieredlog.read('ev')"), 'lb has all 600 records');
seal_all($a);
seal_all($b);
isnt(roots($a), '', 'la sealed its segments');
is(roots($b), roots($a), 'lb computed the same seal roots as la (records arrived in another order)');
is($a->safe_psql('postgres', "SELECT string_agg(DISTINCT status, ',') FROM tieredlog.compare_seals('lb', 'ev')"), 'equal',
	'compare_seals() on la finds every root equal to lb\'s');
# a record lb lost before both sealed: the roots differ, until reconciliation and a reseal
$a->safe_psql('postgres', q{SELECT tieredlog.append('ev', 'c' || i, jsonb_build_object('c', i), NULL, '2026-04-01 14:00+00'::timestamptz + i * interval '1 min') FROM generate_series(1, 30) i});
ok($b->poll_query_until('postgres', "SELECT count(*) = 30 FROM tieredlog.read('ev', '2026-04-01 14:00+00', '2026-04-01 15:00+00')"),
	'lb has the 30 records of 14:00');
my $rel14 = $b->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '2026-04-01 14:00+00'");
$b->safe_psql('postgres', "DELETE FROM tieredlog_data.$rel14 WHERE key = 'c5'");
seal_all($a);
seal_all($b);
is($a->safe_psql('postgres', "SELECT status FROM tieredlog.compare_seals('lb', 'ev') WHERE range_start = '2026-04-01 14:00+00'"),
	'different', 'compare_seals() shows the 14:00 segment sealed differently on lb');
is($b->safe_psql('postgres', "SELECT status || '|' || records_received FROM tieredlog.reconcile('ev', 'la')
	WHERE range_start = '2026-04-01 14:00+00'"), 'repaired|1', 'lb reconciles it');
seal_all($b);
is($a->safe_psql('postgres', "SELECT string_agg(DISTINCT status, ',') FROM tieredlog.compare_seals('lb', 'ev')"), 'equal',
	'after lb\'s reseal every root is equal again');
is(failures($b), '', 'and lb verifies clean');
my ($rc, $out, $err) = $a->psql('postgres', "SELECT * FROM tieredlog.compare_seals('nobody')");
like($err, qr/peer "nobody" does not exist/, 'compare_seals() with an unknown peer: a clear error');
is(failures($a), '', 'la verifies clean');
is(failures($b), '', 'lb verifies clean');

# ---- witnesses: each node's digest reaches the other ---------------------------------------------------
ok($b->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = 'la'"),
	'lb holds a witness of la\'s ledger');
ok($a->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = 'lb'"),
	'la holds a witness of lb\'s ledger');
# wait for a witness that covers la's seals
my $sealed_in = $a->safe_psql('postgres', "SELECT max(block_id) FROM tieredlog.ledger WHERE kind = 'SEAL'");
ok($a->poll_query_until('postgres', "SELECT max(block_id) IS NOT NULL FROM tieredlog.ledger WHERE kind = 'SEAL'"),
	'la\'s seals are in a closed block');
$sealed_in = $a->safe_psql('postgres', "SELECT max(block_id) FROM tieredlog.ledger WHERE kind = 'SEAL'");
ok($b->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = 'la'
	AND (body->>'block_id')::bigint >= $sealed_in"), 'lb witnessed la\'s ledger after the seals');
my $witnessed = $b->safe_psql('postgres', "SELECT jsonb_agg(body) FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = 'la'");
is(failures($a, $witnessed), '', 'la verifies against every digest lb witnessed');
is($a->safe_psql('postgres', "SELECT count(*) FROM tieredlog.verify(NULL, \$\$$witnessed\$\$) WHERE check_name = 'trusted_digest' AND ok")
	> 0 ? 'yes' : 'no', 'yes', 'and those digests were checked');

# an edit to la's ledger after the digests were given away is exposed by them
my $first_seal = $a->safe_psql('postgres', "SELECT min(entry_id) FROM tieredlog.ledger_entry WHERE kind = 'SEAL'");
my $body = $a->safe_psql('postgres', "SELECT body::text FROM tieredlog.ledger_entry WHERE entry_id = $first_seal");
$a->safe_psql('postgres', "UPDATE tieredlog.ledger_entry SET body = jsonb_set(body, '{records}', '1') WHERE entry_id = $first_seal");
like(failures($a, $witnessed), qr/trusted_digest digest of block/, 'la\'s edited ledger disagrees with the digests lb holds');
like(failures($a), qr/block_root block \d+/, 'and verify() names the block');
like(failures($a), qr/entry_hash entry $first_seal/, 'and the entry');
$a->safe_psql('postgres', "UPDATE tieredlog.ledger_entry SET body = \$\$$body\$\$ WHERE entry_id = $first_seal");
is(failures($a, $witnessed), '', 'undone, la verifies again');

# ---- a peer that is down: the witness waits for it ------------------------------------------------------
$b->stop;
($rc, $out, $err) = $a->psql('postgres', "SELECT * FROM tieredlog.compare_seals('lb')");
like($err, qr/could not connect to peer "lb"/, 'compare_seals() with the peer down: a clear error');
$a->safe_psql('postgres', "SELECT tieredlog.set_source_priority('app', 3)");
my $head = $a->safe_psql('postgres', "SELECT (tieredlog.ledger_digest())->>'block_id'");
my $logged = 0;
for (1 .. 60)
{
	$logged = 1, last if slurp_file($a->logfile) =~ /could not give the ledger digest to peer "lb"/;
	sleep 1;
}
ok($logged, 'la logs that lb cannot take its digest');
$b->start;
ok($b->poll_query_until('postgres', "SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = 'la'
	AND (body->>'block_id')::bigint >= $head"), 'once lb is back, it gets la\'s newer digest');

# ---- a sealed record altered on lb: found, repaired from la, resealed, clean -------------------------------
my $rel = $b->safe_psql('postgres', "SELECT relation FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '2026-04-01 10:00+00'");
my $seg = $b->safe_psql('postgres', "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'ev' AND range_start = '2026-04-01 10:00+00'");
$b->safe_psql('postgres', "UPDATE tieredlog_data.$rel SET payload = '{\"i\": -7}' WHERE key = 'a7'");
like(failures($b), qr/seal_root segment $seg/, 'verify() on lb names the altered segment');
($rc, $out, $err) = $b->psql('postgres', "SELECT sum(damaged) FROM tieredlog.scrub('ev')");
is($out, '1', 'the scrub takes the altered record out');
is($b->safe_psql('postgres', "SELECT count(*) FROM tieredlog.ledger WHERE kind = 'QUARANTINE' AND body->>'via' = 'scrub'"), '1',
	'a QUARANTINE entry records it');
is($b->safe_psql('postgres', "SELECT status || '|' || records_received FROM tieredlog.reconcile('ev', 'la')
	WHERE range_start = '2026-04-01 10:00+00'"), 'repaired|1', 'reconciliation brings la\'s intact copy');
is($b->safe_psql('postgres', "SELECT (body->>'peer') || '|' || (body->>'records') || '|' || jsonb_array_length(body->'rids')
	FROM tieredlog.ledger WHERE kind = 'REPAIR' AND segment_id = $seg"), 'la|1|1', 'a REPAIR entry names the peer and the record');
is($b->safe_psql('postgres', "SELECT state FROM tieredlog.segments WHERE segment_id = $seg"), 'reopened', 'the repair reopened the segment');
seal_all($b);
is($b->safe_psql('postgres', "SELECT string_agg(kind, ',' ORDER BY entry_id) FROM tieredlog.ledger WHERE segment_id = $seg"),
	'SEAL,REOPEN,REPAIR,RESEAL', 'its history: sealed, reopened, repaired, resealed');
is(failures($b), '', 'lb verifies clean after the repair');
is(roots($b), roots($a), 'and has la\'s seal roots again');
is($a->safe_psql('postgres', "SELECT string_agg(DISTINCT status, ',') FROM tieredlog.compare_seals('lb', 'ev')"), 'equal',
	'compare_seals() agrees');

# ---- kill -9 in the middle of a seal ------------------------------------------------------------------------
$a->safe_psql('postgres', q{SELECT tieredlog.create_log('big', '1 day');
	SELECT sum(tieredlog.append_many('big', k, p, NULL, t)) FROM (
	  SELECT array_agg('k' || g) k, array_agg(jsonb_build_object('g', g, 'pad', repeat('p', 200))) p,
	         array_agg('2026-04-02 00:00+00'::timestamptz + g * interval '50 ms') t
	    FROM generate_series(1, 400000) g GROUP BY g / 20000) x});
my $big = $a->safe_psql('postgres', "SELECT segment_id FROM tieredlog.segments WHERE log_name = 'big'");
my $sealer = $a->background_psql('postgres', on_error_stop => 0);
$sealer->query_until(qr/started/, "\\echo started\nSELECT tieredlog.seal($big);\n");
ok($a->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT tieredlog.seal($big)%' AND state = 'active'"),
	'the seal of 400 000 records is running');
my $pid = $a->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT tieredlog.seal($big)%' AND state = 'active'");
kill 'KILL', $pid;
eval { $sealer->quit };
ok($a->poll_query_until('postgres', 'SELECT 1', '1'), 'la is back after the sealing backend was killed');
is($a->safe_psql('postgres', "SELECT state FROM tieredlog.segments WHERE segment_id = $big"), 'open', 'the segment is still open');
is($a->safe_psql('postgres', "SELECT count(*) FROM tieredlog.ledger WHERE segment_id = $big"), '0', 'and has no ledger entry');
is(failures($a), '', 'la verifies clean');
$a->safe_psql('postgres', "SELECT tieredlog.seal($big)");
is($a->safe_psql('postgres', "SELECT body->>'records' FROM tieredlog.ledger WHERE segment_id = $big AND kind = 'SEAL'"), '400000',
	'the seal then covers all 400 000 records');
is(failures($a), '', 'and verifies');

# ---- kill -9 of the postmaster while entries are written and blocks closed --------------------------------
my $writer = $a->background_psql('postgres', on_error_stop => 0);
$writer->query_until(qr/started/, "\\echo started\n" . q{DO $$ BEGIN FOR i IN 1 .. 100000 LOOP PERFORM tieredlog.set_source_priority('s' || i, i); COMMIT; PERFORM pg_sleep(0.002); END LOOP; END $$;} . "\n");
ok($a->poll_query_until('postgres', "SELECT count(*) > 100 FROM tieredlog.ledger WHERE kind = 'CONFIG' AND body->'detail'->>'source' LIKE 's%'"),
	'entries are being written (and the worker closes blocks meanwhile)');
my $postmaster_pid = $a->{_pid};
$a->kill9;
eval { $writer->quit };
# the old postmaster and its orphaned backends must be gone before a new one can start
for (1 .. 300)
{
	last if !kill(0, $postmaster_pid) && $a->start(fail_ok => 1);
	select(undef, undef, undef, 0.2);
}
is(failures($a), '', 'after kill -9 of the postmaster la verifies clean');
ok($a->safe_psql('postgres', "SELECT (tieredlog.ledger_digest())->>'block_id'") > $head, 'and closes new blocks');
is(failures($a, $witnessed), '', 'the digests lb witnessed before still hold');

$_->stop for ($a, $b);
done_testing();
