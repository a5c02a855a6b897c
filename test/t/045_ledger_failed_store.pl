# A reconciliation store that fails leaves nothing in the ledger.
#
# Each record a reconciliation stores is noted as a repair, and the notes become REPAIR ledger
# entries when the store ends. A store that fails midway (here: a key over
# tieredlog.max_key_origins, 54000, after other records were stored) is rolled back, by
# the subtransaction of a PL/pgSQL EXCEPTION block that catches the error. Its notes once stayed
# behind and the next store in the same transaction wrote them as REPAIR entries of records that
# do not exist. Here n2, in one transaction, catches the refused reconcile() of log 'bad' and then
# reconciles log 'good': the ledger must hold REPAIR entries of 'good' only, whose rids are
# exactly the records received.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

my $n1 = tl_node('n1');
my $n2 = tl_node('n2', "tieredlog.max_key_origins = 4\n");
for my $n ($n1, $n2)
{
	$n->safe_psql('postgres', q{CREATE EXTENSION tieredlog;
		SELECT tieredlog.create_log('bad', '1 day'); SELECT tieredlog.create_log('good', '1 day');});
}
tl_full_mesh($n1, $n2);
$n1->safe_psql('postgres', q{SELECT tieredlog.append('bad', 'start', '{}'), tieredlog.append('good', 'start', '{}')});
ok($n2->poll_query_until('postgres', "SELECT count(*) = 2 FROM (SELECT * FROM tieredlog.read('bad') UNION ALL
	SELECT * FROM tieredlog.read('good')) r WHERE key = 'start'"), 'n2 streams from n1');
$n2->safe_psql('postgres', "SELECT tieredlog.set_peer_enabled('n1', false)");

# n1: key 'hot' of log 'bad' under 10 made-up origins at one instant, written by hand under a
# replication origin (not streamed), in the segment n2 already has; and 5 ordinary records of 'good' n2 does not get.
my $rel = $n1->safe_psql('postgres',
	"SELECT relation FROM tieredlog.segments WHERE log_name = 'bad' AND relation IS NOT NULL");
$n1->safe_psql('postgres', qq{
	SELECT pg_replication_origin_create('forger');
	SELECT pg_replication_origin_session_setup('forger');
	INSERT INTO tieredlog_data.$rel (ts, key, payload, source, origin, seq, rid)
	SELECT t, 'hot', p, NULL, o, 1, tieredlog.record_rid('bad', 'hot', p, t, NULL, o, 1)
	  FROM (SELECT (SELECT max(ts) FROM tieredlog.read('bad')) - interval '1 ms' AS t,
				   jsonb_build_object('i', i) AS p, 'fake' || lpad(i::text, 2, '0') AS o
			  FROM generate_series(1, 10) i) f;});
$n1->safe_psql('postgres', q{SELECT tieredlog.append('good', 'g' || i, '{}') FROM generate_series(1, 5) i});
# and 50 ordinary records of other keys of 'bad', just before 'hot''s instant (so in the same leaf
# and the same store): the store keeps them (repairs, noted for the ledger) until a record of 'hot'
# is refused, whichever order they come in (one of the first five of the 60 almost surely)
$n1->safe_psql('postgres', q{SELECT tieredlog.append('bad', 'b' || i, '{}', NULL,
	(SELECT min(ts) FROM tieredlog.read('bad')) - i * interval '10 us') FROM generate_series(1, 50) i});
ok($n2->poll_query_until('postgres', "SELECT count(*) = 0 FROM tieredlog.peers WHERE state = 'streaming'"),
	"n2's apply from n1 is stopped");

my $out = $n2->safe_psql('postgres', q{
BEGIN;
DO $$ BEGIN
	PERFORM * FROM tieredlog.reconcile('bad', 'n1');
	RAISE EXCEPTION 'reconcile of bad was not refused';
EXCEPTION WHEN program_limit_exceeded THEN
	RAISE NOTICE 'bad: %', SQLERRM;
END $$;
SELECT sum(records_received) FROM tieredlog.reconcile('good', 'n1');
COMMIT;
});
is($out, '5', "one transaction: 'bad' refused and caught, then 'good' reconciled (5 records received)");
is($n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.read('bad') WHERE key <> 'start'"), '0',
	"nothing of 'bad' is stored (the records stored before the refusal were rolled back)");
is($n2->safe_psql('postgres', "SELECT count(*) FROM tieredlog.ledger WHERE kind = 'REPAIR' AND log_name = 'bad'"), '0',
	"no REPAIR entry for 'bad' (its store was rolled back)");
is($n2->safe_psql('postgres', q{
	SELECT count(*) FROM tieredlog.ledger e, jsonb_array_elements_text(e.body->'rids') r(rid)
	 WHERE e.kind = 'REPAIR' AND e.log_name = 'good'
	   AND r.rid IN (SELECT rid::text FROM tieredlog.read('good') WHERE key LIKE 'g%')}), '5',
	"the REPAIR entries of 'good' name exactly the 5 records received");
is($n2->safe_psql('postgres', q{
	SELECT count(*) FROM tieredlog.ledger e, jsonb_array_elements_text(e.body->'rids') r(rid) WHERE e.kind = 'REPAIR'}), '5',
	'and no other rid');
ok($n2->safe_psql('postgres', "SELECT bool_and(ok) FROM tieredlog.verify()") eq 't', 'verify() is ok');

done_testing();
