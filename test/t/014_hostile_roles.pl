# Hostile roles (issue 16): a database owner with no tieredlog grants shadows the built-ins the
# workers, the apply workers and tieredlog's functions use (functions and operators in public,
# and public first in the database's search_path), then the workers run every kind of task for a
# while: none of the shadowing objects may ever run. A role that owns a resolver gets it run as
# itself (a security-restricted operation), never as the superuser that triggers it, and may not
# name another role's function. CREATE EXTENSION refuses a squatted schema.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlCluster;

# Short cycles so that within seconds the workers seal, move, scrub, flush statistics, check,
# train and close ledger blocks.
my $busy = q{
tieredlog.seal_grace = 1
tieredlog.adaptive_tiering = on
tieredlog.demote_after = 1
tieredlog.min_residency = 1
tieredlog.scrub_interval = 2
tieredlog.check_interval = 2
tieredlog.train_interval = 3
tieredlog.ledger_interval = 1
tieredlog.stats_flush_interval = 1
tieredlog.conflict_window = '1d'
log_min_messages = warning
};
my $n1 = tl_node('h1', $busy);
my $n2 = tl_node('h2', $busy);

for my $n ($n1, $n2)
{
	$n->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN;
CREATE DATABASE shop OWNER mallory;
});
	$n->safe_psql('shop', q{
CREATE EXTENSION tieredlog;
GRANT USAGE ON SCHEMA tieredlog TO mallory;
GRANT EXECUTE ON FUNCTION tieredlog.set_conflict_rule(text, text, regprocedure) TO mallory;
});

	# Everything mallory plants says so in the server log (a WARNING survives a rollback) and
	# tries to make her a superuser.
	$n->safe_psql('shop', q{
CREATE FUNCTION public.trap(what text) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	RAISE WARNING 'tieredlog-trap % ran as %', what, current_user;
	BEGIN
		EXECUTE 'ALTER ROLE mallory SUPERUSER';
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
END $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION public.make_interval(secs integer) RETURNS interval LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('make_interval(integer)'); RETURN pg_catalog.make_interval(secs => secs::float8); END $$;
CREATE FUNCTION public.unnest(a bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('unnest(bigint[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.to_timestamp(n numeric) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('to_timestamp(numeric)'); RETURN pg_catalog.to_timestamp(n::float8); END $$;
CREATE FUNCTION public.jsonb_build_array(a jsonb) RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('jsonb_build_array(jsonb)'); RETURN pg_catalog.jsonb_build_array(a); END $$;
CREATE FUNCTION public.length(t text) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('length(text)'); RETURN pg_catalog.length(t); END $$;
CREATE FUNCTION public.eq8(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('= (bigint, bigint)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.eq8);
CREATE FUNCTION public.eq4(a integer, b integer) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('= (integer, integer)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.eq4);
CREATE FUNCTION public.eqt(a text, b text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('= (text, text)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eqt);
CREATE FUNCTION public.plus(a timestamptz, b interval) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('+ (timestamptz, interval)'); RETURN a OPERATOR(pg_catalog.+) b; END $$;
CREATE OPERATOR public.+ (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = public.plus);
CREATE FUNCTION public.minus(a timestamptz, b interval) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('- (timestamptz, interval)'); RETURN a OPERATOR(pg_catalog.-) b; END $$;
CREATE OPERATOR public.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = public.minus);
CREATE FUNCTION public.cat(a text, b text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS
	$$ BEGIN PERFORM public.trap('|| (text, text)'); RETURN a OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.cat);
ALTER FUNCTION public.trap(text) OWNER TO mallory;
});
	# what a database owner can do alone: own the planted objects, put public first for everyone
	$n->safe_psql('shop', q{
DO $$
DECLARE f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO mallory', f);
	END LOOP;
END $$;
DO $$
DECLARE o regoperator;
BEGIN
	FOR o IN SELECT p.oid FROM pg_operator p WHERE p.oprnamespace = 'public'::regnamespace LOOP
		EXECUTE format('ALTER OPERATOR %s OWNER TO mallory', o);
	END LOOP;
END $$;
});
	$n->safe_psql('shop', 'ALTER DATABASE shop SET search_path = public, pg_catalog', extra_params => [ '-U', 'mallory' ]);
	# The test's own checks run as "admin", with a safe path: they must not trip the traps
	# themselves. The workload below runs as "postgres" with mallory's path, like the workers.
	$n->safe_psql('postgres', 'CREATE ROLE admin SUPERUSER LOGIN');
	$n->safe_psql('postgres', 'ALTER ROLE admin IN DATABASE shop SET search_path = pg_catalog, pg_temp');
}
$ENV{PGUSER} = 'admin';
my @as_postgres = (extra_params => [ '-U', 'postgres' ]);

sub trap_lines
{
	my ($n, $from) = @_;
	my $log = slurp_file($n->logfile, $from);
	return join("\n", grep { /tieredlog-trap/ } split /\n/, $log);
}

# The trap works: mallory's own session, with the database's path, runs her now().
my $before1 = -s $n1->logfile;
$n1->safe_psql('shop', 'SELECT now()', extra_params => [ '-U', 'mallory' ]);
like(trap_lines($n1, $before1), qr/tieredlog-trap now\(\) ran as mallory/, 'the trap fires for mallory herself');
is($n1->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"), 'f',
	'and cannot make her a superuser');

# ---- the workers, the apply workers and tieredlog's functions under the hostile path ----------------
my %start = (h1 => -s $n1->logfile, h2 => -s $n2->logfile);
for my $n ($n1, $n2)
{
	# no operator in these statements themselves: only tieredlog's code could trip a trap
	$n->safe_psql('shop', q{
SELECT tieredlog.create_log('orders', '1 second');
SELECT tieredlog.create_log('history', '1 hour');
SELECT tieredlog.append('history', 'k' || g, jsonb_build_object('n', g), 'import',
                        timestamptz '2026-01-01 00:00:00+00' OPERATOR(pg_catalog.+) g * interval '1 minute')
  FROM generate_series(1, 300) g;
}, @as_postgres);
}
for my $pair ([ $n1, $n2 ], [ $n2, $n1 ])
{
	my ($a, $b) = @$pair;
	my $conn = $b->connstr('shop');
	$a->safe_psql('shop', "SELECT tieredlog.add_peer('" . $b->name . "', \$\$$conn\$\$)", @as_postgres);
}
for my $n ($n1, $n2)
{
	ok($n->poll_query_until('shop', "SELECT count(*) = 1 FROM tieredlog.peers WHERE state = 'streaming'"),
		$n->name . ' streams from its peer');
}

# A superuser works with tieredlog in mallory's database, with her search_path, while the
# workers run their cycles for a while.
my $deadline = time() + 25;
my $round = 0;
while (time() < $deadline)
{
	$round++;
	for my $n ($n1, $n2)
	{
		my $name = $n->name;
		$n->psql('shop', qq{
SELECT tieredlog.append('orders', 'o' || g, jsonb_build_object('round', $round, 'g', g), 'web') FROM generate_series(1, 20) g;
SELECT tieredlog.append_many('orders', ARRAY['hot', 'hot'], ARRAY['{"a": 1}', '{"b": 2}']::jsonb[]);
SELECT * FROM tieredlog.read('orders', key => 'hot');
SELECT * FROM tieredlog.latest('orders', 'hot');
SELECT * FROM tieredlog.check_digests();
SELECT * FROM tieredlog.verify();
SELECT * FROM tieredlog.reconcile('history');
SELECT * FROM tieredlog.compare_seals('history');
SELECT * FROM tieredlog.schedule;
SELECT * FROM tieredlog.status();
SELECT * FROM tieredlog.health;
SELECT * FROM tieredlog.peers;
SELECT * FROM tieredlog.tiers;
SELECT tieredlog.sweep();
}, @as_postgres);
	}
	sleep 1;
}
for my $n ($n1, $n2)
{
	my $name = $n->name;
	my $ran = $n->safe_psql('shop', q{
SELECT string_agg(task, ',' ORDER BY task) FROM (SELECT DISTINCT task FROM tieredlog.task_history WHERE status = 'done') t});
	like($ran, qr/seal/, "$name: the worker sealed segments meanwhile ($ran)");
	ok($n->safe_psql('shop', 'SELECT count(*) > 0 FROM tieredlog.ledger_blocks') eq 't',
		"$name: and closed ledger blocks");
	ok($n->safe_psql('shop', 'SELECT count(*) > 0 FROM tieredlog.check_log') eq 't',
		"$name: and ran checks");
	ok($n->poll_query_until('shop', "SELECT count(*) > 0 FROM tieredlog.read('orders') WHERE origin <> tieredlog.node_name()"),
		"$name: and applied its peer's records");
	is(trap_lines($n, $start{$name}), '', "$name: no object mallory planted ever ran");
}
is($n1->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"), 'f',
	'mallory is still not a superuser');

# ---- resolvers run as their owner -------------------------------------------------------------------
for my $n ($n1, $n2)
{
	$n->safe_psql('shop', q{
CREATE FUNCTION public.evil_resolver(a jsonb, b jsonb) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	RAISE WARNING 'tieredlog-resolver ran as % (%)', current_user, session_user;
	EXECUTE 'ALTER ROLE mallory SUPERUSER';
	RETURN (a OPERATOR(pg_catalog.->>) 'origin') OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) (a OPERATOR(pg_catalog.->>) 'seq');
END $$;
ALTER FUNCTION public.evil_resolver(jsonb, jsonb) OWNER TO mallory;
CREATE FUNCTION public.admins_resolver(a jsonb, b jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
SELECT tieredlog.create_log('tickets', '1 hour');
});
	$n->safe_psql('shop', "SELECT tieredlog.set_conflict_rule('tickets', 'custom', 'public.evil_resolver(jsonb, jsonb)')",
		extra_params => [ '-U', 'mallory' ]);
	my ($rc, $out, $err) = $n->psql('shop',
		"SELECT tieredlog.set_conflict_rule('tickets', 'custom', 'public.admins_resolver(jsonb, jsonb)')",
		extra_params => [ '-U', 'mallory' ]);
	like($err, qr/must be the owner of function (public\.)?admins_resolver\(jsonb,jsonb\) to make it a resolver/,
		$n->name . ": mallory may not name a function she does not own as a resolver");
}
%start = (h1 => -s $n1->logfile, h2 => -s $n2->logfile);
# both nodes write T-1 while neither applies the other's records: a conflict on each side
$_->[0]->safe_psql('shop', "SELECT tieredlog.set_peer_enabled('$_->[1]', false)") for ([ $n1, 'h2' ], [ $n2, 'h1' ]);
$n1->safe_psql('shop', q{SELECT tieredlog.append('tickets', 'T-1', '{"status": "closed"}')});
$n2->safe_psql('shop', q{SELECT tieredlog.append('tickets', 'T-1', '{"status": "open"}')});
$_->[0]->safe_psql('shop', "SELECT tieredlog.set_peer_enabled('$_->[1]', true)") for ([ $n1, 'h2' ], [ $n2, 'h1' ]);
for my $n ($n1, $n2)
{
	ok($n->poll_query_until('shop', "SELECT count(*) = 2 FROM tieredlog.read('tickets')"),
		$n->name . ' received the other side of T-1 (the apply worker decided the conflict)');
	$n->safe_psql('shop', q{SELECT * FROM tieredlog.latest('tickets', 'T-1')}, @as_postgres);	# a superuser reads
}
for my $n ($n1, $n2)
{
	my $log = slurp_file($n->logfile, $start{ $n->name });
	like($log, qr/tieredlog-resolver ran as mallory/, $n->name . ': the resolver ran, as mallory');
	unlike($log, qr/tieredlog-resolver ran as (?!mallory)/, $n->name . ': never as anyone else');
	like($log, qr/the resolver public.evil_resolver\(jsonb,jsonb\) failed: (must be superuser|permission denied|cannot execute ALTER ROLE within security-restricted operation)/,
		$n->name . ': and could not escalate');
}
is($n1->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"), 'f',
	'mallory is still not a superuser after her resolver ran');

# An episode that moves: h1 stores h2's first T-2 (a new episode), then, in a later apply
# transaction, h2's second (the row is read back and updated, and the worker's settle pass reads
# the heads again) — all under mallory's path and her resolver, none of her objects may run.
my $pos1 = -s $n1->logfile;
$_->[0]->safe_psql('shop', "SELECT tieredlog.set_peer_enabled('$_->[1]', false)") for ([ $n1, 'h2' ], [ $n2, 'h1' ]);
$n1->safe_psql('shop', q{SELECT tieredlog.append('tickets', 'T-2', '{"status": "closed"}')});
$n2->safe_psql('shop', q{SELECT tieredlog.append('tickets', 'T-2', '{"status": "open"}')});
$n1->safe_psql('shop', "SELECT tieredlog.set_peer_enabled('h2', true)");
ok($n1->poll_query_until('shop', "SELECT count(*) = 1 FROM tieredlog.conflicts WHERE key = 'T-2'"),
	'h1 opened an episode on T-2');
$n1->safe_psql('shop', "SELECT tieredlog.set_peer_enabled('h2', false)");
$n2->safe_psql('shop', q{SELECT tieredlog.append('tickets', 'T-2', '{"status": "pending"}')});
$n1->safe_psql('shop', "SELECT tieredlog.set_peer_enabled('h2', true)");
ok($n1->poll_query_until('shop', "SELECT count(*) = 1 AND max(pairs) = 2 FROM tieredlog.conflicts WHERE key = 'T-2'"),
	'h2\'s second T-2 moved that episode (its row was updated)');
$n2->safe_psql('shop', "SELECT tieredlog.set_peer_enabled('h1', true)");
sleep 2;	# the worker's settle pass (naptime 1 s) has run over T-2
is(trap_lines($n1, $pos1), '', 'moving an episode ran none of mallory\'s objects');
is($n1->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"), 'f',
	'and mallory is still not a superuser');

# ---- a peer is who its role says, not who it claims to be -----------------------------------------
$n1->safe_psql('shop', q{
CREATE ROLE peer_h2 LOGIN;
GRANT USAGE ON SCHEMA tieredlog TO peer_h2, mallory;
GRANT EXECUTE ON FUNCTION tieredlog._ae_store(bytea, text), tieredlog._ae_witness(jsonb) TO peer_h2, mallory;
SELECT tieredlog.set_peer_role('h2', 'peer_h2');
});
my $digest = sub {
	my $hash = 'ab' x 32;
	return "SELECT tieredlog._ae_witness('{\"node\": \"$_[0]\", \"block_id\": 1, \"block_hash\": \"$hash\"}')";
};
my ($rc, $out, $err) = $n1->psql('shop', $digest->('h9'), extra_params => [ '-U', 'peer_h2' ]);
like($err, qr/role "peer_h2" may not speak for node "h9".*\n.*DETAIL:  Role "peer_h2" is the role of peer node\(s\) "h2"/,
	'_ae_witness: the peer role cannot witness as another node');
($rc, $out, $err) = $n1->psql('shop', $digest->('h2'), extra_params => [ '-U', 'peer_h2' ]);
is($rc, 0, 'but can as its own') or diag $err;
($rc, $out, $err) = $n1->psql('shop', $digest->('h2'), extra_params => [ '-U', 'mallory' ]);
like($err, qr/role "mallory" may not speak for node "h2".*\n.*DETAIL:  Role "mallory" is the role of no peer/,
	'a role that stands for no peer cannot witness at all');
($rc, $out, $err) = $n1->psql('shop', q{SELECT tieredlog._ae_store('\x00', 'h9')}, extra_params => [ '-U', 'peer_h2' ]);
like($err, qr/role "peer_h2" may not speak for node "h9"/, '_ae_store: the peer role cannot forge from_node');
($rc, $out, $err) = $n1->psql('shop', q{SELECT tieredlog._ae_store('\x00', 'h2')}, extra_params => [ '-U', 'mallory' ]);
like($err, qr/role "mallory" may not speak for node "h2"/, 'nor can a role that stands for no peer');
is($n1->safe_psql('shop', q{SELECT count(*) FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = 'h9'}), '0',
	'no witness entry was filed under a forged name');
$n1->safe_psql('shop', q{SELECT tieredlog.set_peer_role('h2', NULL)});

# ---- the workers view shows other databases' workers only to those who may read all statistics -------
$n1->safe_psql('shop', 'GRANT SELECT ON tieredlog.workers TO mallory; GRANT EXECUTE ON FUNCTION tieredlog._workers() TO mallory');
is($n1->safe_psql('shop', 'SELECT string_agg(DISTINCT database, \',\') FROM tieredlog.workers', extra_params => [ '-U', 'mallory' ]),
	'shop', 'workers: mallory sees her database\'s worker only');
$n1->safe_psql('postgres', 'CREATE DATABASE other');
$n1->safe_psql('other', 'CREATE EXTENSION tieredlog');
ok($n1->poll_query_until('shop', q{SELECT count(DISTINCT database) = 2 FROM tieredlog.workers WHERE database IN ('shop', 'other')}),
	'a superuser sees every database\'s worker');

# ---- mapping a tier needs CREATE on the tablespace, for the caller -----------------------------------
my $spcdir = PostgreSQL::Test::Utils::tempdir_short();
$n1->safe_psql('postgres', "CREATE TABLESPACE fast LOCATION '$spcdir'; CREATE DATABASE tiers");
$n1->safe_psql('tiers', q{
CREATE EXTENSION tieredlog;
GRANT USAGE ON SCHEMA tieredlog TO mallory;
GRANT EXECUTE ON FUNCTION tieredlog.set_tier(integer, name) TO mallory;
});
($rc, $out, $err) = $n1->psql('tiers', "SELECT tieredlog.set_tier(1, 'fast')", extra_params => [ '-U', 'mallory' ]);
like($err, qr/permission denied for tablespace "fast"/, 'set_tier: mallory may not put segments where she may not create');
$n1->safe_psql('postgres', 'GRANT CREATE ON TABLESPACE fast TO mallory');
$n1->safe_psql('tiers', "SELECT tieredlog.set_tier(1, 'fast')", extra_params => [ '-U', 'mallory' ]);
is($n1->safe_psql('tiers', 'SELECT tablespace FROM tieredlog.tier WHERE tier = 1'), 'fast', 'with CREATE on it, she may');

# ---- CREATE EXTENSION refuses a squatted schema -----------------------------------------------------
$n1->safe_psql('postgres', 'CREATE DATABASE squat OWNER mallory');
$n1->safe_psql('squat', 'CREATE SCHEMA tieredlog', extra_params => [ '-U', 'mallory' ]);
($rc, $out, $err) = $n1->psql('squat', 'CREATE EXTENSION tieredlog');
isnt($rc, 0, 'CREATE EXTENSION fails where another role created the schema tieredlog');
like($err, qr/schema "tieredlog" already exists and belongs to role "mallory"/, 'and says who owns it');
is($n1->safe_psql('squat', "SELECT count(*) FROM pg_extension WHERE extname = 'tieredlog'"), '0',
	'nothing was installed');
$n1->safe_psql('squat', 'DROP SCHEMA tieredlog', extra_params => [ '-U', 'mallory' ]);
$n1->safe_psql('squat', 'CREATE SCHEMA tieredlog_data', extra_params => [ '-U', 'mallory' ]);
($rc, $out, $err) = $n1->psql('squat', 'CREATE EXTENSION tieredlog');
like($err, qr/schema "tieredlog_data" already exists/, 'and where someone created tieredlog_data');
$n1->safe_psql('squat', 'DROP SCHEMA tieredlog_data', extra_params => [ '-U', 'mallory' ]);
# a superuser's own empty schema is fine, but not one that grants CREATE to others
$n1->safe_psql('squat', 'CREATE SCHEMA tieredlog; GRANT CREATE ON SCHEMA tieredlog TO mallory');
($rc, $out, $err) = $n1->psql('squat', 'CREATE EXTENSION tieredlog');
like($err, qr/schema "tieredlog" grants privileges to other roles/, 'or a schema that lets others create in it');
$n1->safe_psql('squat', 'DROP SCHEMA tieredlog; CREATE EXTENSION tieredlog');
is($n1->safe_psql('squat', q{
SELECT has_schema_privilege('public', 'tieredlog_data', 'USAGE') OR has_schema_privilege('public', 'tieredlog_data', 'CREATE')
    OR has_schema_privilege('mallory', 'tieredlog', 'CREATE') OR has_schema_privilege('mallory', 'tieredlog', 'USAGE')}),
	'f', 'installed: neither PUBLIC nor the database owner can use tieredlog_data or tieredlog');

# ---- a timestamp from outside cannot push this node's clock far into the future --------------------
$n1->safe_psql('postgres', q{CREATE EXTENSION IF NOT EXISTS tieredlog; SELECT tieredlog.create_log('clock', '1 day')});
$n1->safe_psql('postgres', q{SELECT tieredlog.append('clock', 'far-future', '{}', NULL, '2200-01-01 00:00:00+00')});
is($n1->safe_psql('postgres', q{SELECT tieredlog.hlc_now() < clock_timestamp() + interval '301 seconds'}), 't',
	'a record stamped in 2200 moves the clock at most tieredlog.max_clock_skew ahead');
is($n1->safe_psql('postgres', q{SELECT count(*) FROM tieredlog.read('clock', key => 'far-future')}), '1',
	'and is stored as it is');
$n1->safe_psql('postgres', q{SELECT tieredlog.append('clock', 'now', '{}')});
is($n1->safe_psql('postgres', q{SELECT ts < '2100-01-01' FROM tieredlog.read('clock', key => 'now')}), 't',
	'local records go on with timestamps near the clock');

$_->stop for ($n1, $n2);
done_testing();
