# The catalog a fresh install leaves against the one an update leaves: in one node, database
# "fresh" runs CREATE EXTENSION tieredlog (the default version, 1.1) and database "updated" runs
# CREATE EXTENSION tieredlog VERSION '1.0' then ALTER EXTENSION tieredlog UPDATE. Both must end with
# the same extension, compared object by object (by name, never by OID or creation order):
#  - the member objects (pg_depend deptype 'e' on the extension, named by pg_identify_object and
#    pg_describe_object), and the objects in the schemas tieredlog and tieredlog_data that are not
#    members;
#  - relations: kind, persistence, options, owner, row security, replica identity; every column by
#    its attnum (the C code reads catalog tuples by attribute number, so a column dropped or added
#    in another place is a difference): name, type, typmod, collation, NOT NULL, default
#    (pg_get_expr), identity, generated, storage, ACL, options (without pg_attver, the attribute
#    version newer 15.x minors keep there, which differs between any two tables); constraints (pg_get_constraintdef), indexes
#    (pg_get_indexdef), triggers (pg_get_triggerdef), policies, rules, extended statistics; views
#    (pg_get_viewdef); sequences (type, start, increment, bounds, cache, cycle, owner column);
#  - functions: pg_get_functiondef, plus kind, arguments, result, language, prosrc/probin,
#    volatility, strictness, security definer, leakproof, parallel safety, cost, rows, proconfig;
#    aggregates (their support functions, state type, initial values); types (kind, domain and enum
#    details, a composite type's attributes);
#  - privileges: relacl, proacl, nspacl, typacl, column ACLs, and pg_init_privs (what pg_dump takes
#    as the extension's initial privileges), each ACL compared as a sorted set; owners; comments
#    (pg_description, columns included); default privileges in the two schemas;
#  - the extension row (owner, schema, relocatable, version) and its config-dump settings
#    (extconfig resolved to names, each with its extcondition);
#  - the rows the install scripts leave in the member tables: a count per table and the rows
#    themselves, without columns of time and OID-like types (timestamptz, timestamp, date, time,
#    oid, reg*, xid, xid8, pg_lsn), and each sequence's last_value and is_called. The ledger's
#    genesis entry (CONFIG create_extension) differs by design and is checked apart: 1.0's install
#    script wrote it as entry 1 (saying '1.0'), and the update keeps it (the ledger's history is
#    not rewritten); 1.1 writes it with the first entry (ledger.c), so the fresh database holds it
#    only if its install wrote an entry, then saying '1.1'. So the rows of ledger_entry are compared
#    without it, and the state of ledger_entry_id_seq (which 1.0's genesis used) is checked apart.
# Last, DROP EXTENSION succeeds in both and leaves the same behind, and CREATE EXTENSION works
# again where the updated one was.
# Every difference is printed as a diff (- fresh, + updated), one assertion per kind of object.
# A third database, "altered", is a fresh install changed on purpose in every kind of object
# compared; the comparison must report each of those changes (so it cannot pass by comparing
# nothing).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

my $node = PostgreSQL::Test::Cluster->new('catalogs');
$node->init;
# nothing written behind the test's back: no ledger block, no scheduler, no moves, no seals; the
# worker of each database runs its first cycle at start and then waits an hour
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'tieredlog'
tieredlog.node_name = 'cat'
tieredlog.naptime = 3600
tieredlog.seal_grace = '10000d'
tieredlog.adaptive_tiering = off
tieredlog.check_interval = 0
tieredlog.train_interval = 0
tieredlog.ledger_interval = 0
tieredlog.scrub_interval = 0
max_worker_processes = 16
});
$node->start;

my $default_version = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'tieredlog'");
is($default_version, '1.1', 'the default version is 1.1');
is($node->safe_psql('postgres', "SELECT string_agg(source || '>' || target || ':' || path, ' ' ORDER BY source, target)
	FROM pg_extension_update_paths('tieredlog') WHERE path IS NOT NULL"),
	'1.0>1.1:1.0--1.1', 'the only update path is 1.0 -> 1.1, in one step');

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('postgres', 'CREATE DATABASE updated');
$node->safe_psql('postgres', 'CREATE DATABASE altered');
$node->safe_psql('fresh', 'CREATE EXTENSION tieredlog');
$node->safe_psql('updated', "CREATE EXTENSION tieredlog VERSION '1.0'");
is($node->safe_psql('updated', "SELECT extversion FROM pg_extension WHERE extname = 'tieredlog'"), '1.0',
	'"updated" is at 1.0 first');
my ($rc, $out, $err) = $node->psql('updated', 'ALTER EXTENSION tieredlog UPDATE');
is($rc, 0, 'ALTER EXTENSION tieredlog UPDATE succeeds') or diag($err);
if ($rc != 0)	# nothing to compare
{
	$node->stop;
	done_testing();
	exit 1;
}
is($node->safe_psql('fresh', "SELECT extversion FROM pg_extension WHERE extname = 'tieredlog'"), '1.1',
	'"fresh" was installed at 1.1');
is($node->safe_psql('updated', "SELECT extversion FROM pg_extension WHERE extname = 'tieredlog'"), '1.1',
	'"updated" is at 1.1 after ALTER EXTENSION UPDATE');
$node->safe_psql('altered', 'CREATE EXTENSION tieredlog');

# ---- the catalog, as { key => text } ------------------------------------------------------------
# Keys name objects (never OIDs) and start with the kind of what they describe (the section of the
# report); values are text, several lines for definitions. ACLs, options and settings are sorted.
my $catalog_sql = <<'SQL';
WITH ext AS (
	SELECT e.oid, e.extname, e.extowner, e.extnamespace, e.extrelocatable, e.extversion, e.extconfig,
		   e.extcondition
	  FROM pg_extension e WHERE e.extname = 'tieredlog'
), nsp AS (
	SELECT n.oid FROM pg_namespace n WHERE n.nspname IN ('tieredlog', 'tieredlog_data')
), mem AS (
	SELECT d.classid, d.objid, d.objsubid, o.type, o.identity, o.type || ' ' || o.identity AS obj,
		   pg_describe_object(d.classid, d.objid, d.objsubid) AS descr
	  FROM pg_depend d JOIN ext ON d.refobjid = ext.oid
	 CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
), rels AS (	-- member relations, and the relation behind each member composite type
	SELECT c.oid, m.obj, c.relkind, c.relpersistence, c.reloptions, c.relowner, c.relrowsecurity,
		   c.relforcerowsecurity, c.relreplident, c.reltablespace, c.relacl, c.relispartition
	  FROM mem m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
	UNION ALL
	SELECT c.oid, m.obj, c.relkind, c.relpersistence, c.reloptions, c.relowner, c.relrowsecurity,
		   c.relforcerowsecurity, c.relreplident, c.reltablespace, c.relacl, c.relispartition
	  FROM mem m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	  JOIN pg_class c ON c.oid = t.typrelid
), funcs AS (
	SELECT m.obj, p.*
	  FROM mem m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
), items(k, v) AS (
	-- membership
	SELECT 'member ' || m.obj, m.descr FROM mem m
	UNION ALL
	-- objects in the extension's schemas that are not members (indexes, TOAST, and what exists
	-- only as part of another object, such as row and array types, are not listed)
	SELECT 'nonmember ' || o.type || ' ' || o.identity, 'in the schema, not a member of the extension'
	  FROM (SELECT 'pg_class'::regclass AS classid, c.oid AS objid FROM pg_class c
			 WHERE c.relnamespace IN (SELECT oid FROM nsp) AND c.relkind NOT IN ('i', 'I', 't')
			UNION ALL SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM nsp)
			UNION ALL SELECT 'pg_type'::regclass, t.oid FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM nsp)
			UNION ALL SELECT 'pg_operator'::regclass, o.oid FROM pg_operator o WHERE o.oprnamespace IN (SELECT oid FROM nsp)
			UNION ALL SELECT 'pg_collation'::regclass, c.oid FROM pg_collation c WHERE c.collnamespace IN (SELECT oid FROM nsp)
		   ) x
	 CROSS JOIN LATERAL pg_identify_object(x.classid, x.objid, 0) o
	 WHERE NOT EXISTS (SELECT 1 FROM mem m WHERE m.classid = x.classid AND m.objid = x.objid)
	   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = x.classid AND d.objid = x.objid
						  AND d.deptype = 'i')
	UNION ALL
	-- relations
	SELECT 'relation ' || r.obj,
		   format('kind %s, persistence %s, owner %s, options %s, row security %s/%s, replica identity %s, tablespace %s, partition %s',
				  r.relkind, r.relpersistence, pg_get_userbyid(r.relowner),
				  COALESCE((SELECT string_agg(o, ',' ORDER BY o) FROM unnest(r.reloptions) o), '-'),
				  r.relrowsecurity, r.relforcerowsecurity, r.relreplident,
				  COALESCE((SELECT spcname FROM pg_tablespace WHERE oid = r.reltablespace), 'default'),
				  r.relispartition)
	  FROM rels r
	UNION ALL
	SELECT 'acl relation ' || r.obj, COALESCE((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(r.relacl) a), 'NULL')
	  FROM rels r
	UNION ALL
	-- columns, by attnum (dropped ones too)
	SELECT 'column ' || r.obj || ' #' || lpad(a.attnum::text, 3, '0'),
		   CASE WHEN a.attisdropped THEN '(dropped column)'
				ELSE format('%s %s (typmod %s)%s%s%s%s%s%s', quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
							a.atttypmod,
							COALESCE(' COLLATE ' || (SELECT quote_ident(n.nspname) || '.' || quote_ident(co.collname)
													  FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
													 WHERE co.oid = a.attcollation), ''),
							CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
							COALESCE(' DEFAULT ' || (SELECT pg_get_expr(ad.adbin, ad.adrelid) FROM pg_attrdef ad
													  WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum), ''),
							CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END,
							CASE WHEN a.attgenerated <> '' THEN ' GENERATED ' || a.attgenerated::text ELSE '' END,
							COALESCE(' ACL ' || (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), '')
							|| COALESCE(' OPTIONS ' || (SELECT string_agg(o, ',' ORDER BY o) FROM unnest(a.attoptions) o
																WHERE o NOT LIKE 'pg\_attver=%'), '')
							|| CASE WHEN a.attstorage <> t.typstorage THEN ' STORAGE ' || a.attstorage::text ELSE '' END
							|| CASE WHEN a.attstattarget <> -1 THEN ' STATISTICS ' || a.attstattarget ELSE '' END)
		   END
	  FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0
	  LEFT JOIN pg_type t ON t.oid = a.atttypid
	UNION ALL
	SELECT 'constraint ' || r.obj || ' ' || quote_ident(co.conname),
		   co.contype::text || ': ' || pg_get_constraintdef(co.oid, true)
	  FROM rels r JOIN pg_constraint co ON co.conrelid = r.oid
	UNION ALL
	SELECT 'index ' || r.obj || ' ' || quote_ident(i.relname),
		   pg_get_indexdef(x.indexrelid)
		   || format(' (primary %s, unique %s, nulls not distinct %s, replica identity %s, clustered %s, valid %s)',
					 x.indisprimary, x.indisunique, x.indnullsnotdistinct, x.indisreplident, x.indisclustered, x.indisvalid)
	  FROM rels r JOIN pg_index x ON x.indrelid = r.oid JOIN pg_class i ON i.oid = x.indexrelid
	UNION ALL
	SELECT 'trigger ' || r.obj || ' ' || quote_ident(tg.tgname), pg_get_triggerdef(tg.oid, true) || ' (enabled ' || tg.tgenabled::text || ')'
	  FROM rels r JOIN pg_trigger tg ON tg.tgrelid = r.oid AND NOT tg.tgisinternal
	UNION ALL
	SELECT 'policy ' || r.obj || ' ' || quote_ident(po.polname),
		   format('cmd %s, permissive %s, roles %s, using %s, with check %s', po.polcmd, po.polpermissive,
				  (SELECT string_agg(CASE WHEN ro = 0 THEN 'public' ELSE pg_get_userbyid(ro) END, ',' ORDER BY 1)
					 FROM unnest(po.polroles) ro),
				  pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
	  FROM rels r JOIN pg_policy po ON po.polrelid = r.oid
	UNION ALL
	SELECT 'rule ' || r.obj || ' ' || quote_ident(ru.rulename), pg_get_ruledef(ru.oid, true)
	  FROM rels r JOIN pg_rewrite ru ON ru.ev_class = r.oid AND ru.rulename <> '_RETURN'
	UNION ALL
	SELECT 'statistics ' || r.obj || ' ' || quote_ident(st.stxname), pg_get_statisticsobjdef(st.oid)
	  FROM rels r JOIN pg_statistic_ext st ON st.stxrelid = r.oid
	UNION ALL
	SELECT 'view ' || r.obj, pg_get_viewdef(r.oid, true)
	  FROM rels r WHERE r.relkind IN ('v', 'm')
	UNION ALL
	SELECT 'sequence ' || r.obj,
		   format('type %s, start %s, increment %s, min %s, max %s, cache %s, cycle %s, owned by %s',
				  format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
				  s.seqcycle,
				  COALESCE((SELECT string_agg(o.identity, ',' ORDER BY o.identity)
							  FROM pg_depend d CROSS JOIN LATERAL pg_identify_object(d.refclassid, d.refobjid, d.refobjsubid) o
							 WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid
							   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), 'none'))
	  FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
	UNION ALL
	-- functions
	SELECT 'function ' || f.obj,
		   format(E'kind %s\narguments %s\nresult %s\nlanguage %s\nvolatility %s, strict %s, security definer %s, leakproof %s, parallel %s, cost %s, rows %s\nsettings %s\nowner %s\nsupport %s\nprobin %s',
				  f.prokind, pg_get_function_arguments(f.oid), pg_get_function_result(f.oid),
				  (SELECT lanname FROM pg_language WHERE oid = f.prolang), f.provolatile, f.proisstrict,
				  f.prosecdef, f.proleakproof, f.proparallel, f.procost, f.prorows,
				  COALESCE((SELECT string_agg(c, ', ' ORDER BY c) FROM unnest(f.proconfig) c), '-'),
				  pg_get_userbyid(f.proowner), f.prosupport, COALESCE(f.probin, '-'))
		   || CASE WHEN (SELECT lanname FROM pg_language WHERE oid = f.prolang) IN ('c', 'internal')
				   THEN E'\nprosrc ' || f.prosrc ELSE '' END
	  FROM funcs f
	UNION ALL
	SELECT 'definition ' || f.obj, pg_get_functiondef(f.oid)
	  FROM funcs f WHERE f.prokind IN ('f', 'p', 'w')
	UNION ALL
	SELECT 'acl function ' || f.obj, COALESCE((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(f.proacl) a), 'NULL')
	  FROM funcs f
	UNION ALL
	SELECT 'aggregate ' || f.obj,
		   format(E'kind %s, direct args %s\ntransition %s, final %s (extra %s, modify %s)\ncombine %s, serial %s, deserial %s\nmoving %s/%s/%s (extra %s, modify %s)\nsort operator %s\nstate %s (space %s), initial %s\nmoving state %s (space %s), initial %s',
				  a.aggkind, a.aggnumdirectargs, a.aggtransfn::regprocedure, a.aggfinalfn::regprocedure,
				  a.aggfinalextra, a.aggfinalmodify, a.aggcombinefn::regprocedure, a.aggserialfn::regprocedure,
				  a.aggdeserialfn::regprocedure, a.aggmtransfn::regprocedure, a.aggminvtransfn::regprocedure,
				  a.aggmfinalfn::regprocedure, a.aggmfinalextra, a.aggmfinalmodify, a.aggsortop::regoperator,
				  format_type(a.aggtranstype, NULL), a.aggtransspace, COALESCE(a.agginitval, 'NULL'),
				  format_type(a.aggmtranstype, NULL), a.aggmtransspace, COALESCE(a.aggminitval, 'NULL'))
	  FROM funcs f JOIN pg_aggregate a ON a.aggfnoid = f.oid
	UNION ALL
	-- types
	SELECT 'type ' || m.obj,
		   format('type %s, category %s, owner %s', t.typtype, t.typcategory, pg_get_userbyid(t.typowner))
		   || CASE t.typtype
				WHEN 'd' THEN format(', domain over %s, not null %s, default %s, constraints %s',
									 format_type(t.typbasetype, t.typtypmod), t.typnotnull, COALESCE(t.typdefault, 'NULL'),
									 (SELECT string_agg(co.conname || ': ' || pg_get_constraintdef(co.oid, true), '; ' ORDER BY co.conname)
										FROM pg_constraint co WHERE co.contypid = t.oid))
				WHEN 'e' THEN ', labels ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
												FROM pg_enum e WHERE e.enumtypid = t.oid)
				WHEN 'b' THEN format(', input %s, output %s, receive %s, send %s, length %s, align %s, storage %s',
									 t.typinput, t.typoutput, t.typreceive, t.typsend, t.typlen, t.typalign, t.typstorage)
				ELSE '' END
	  FROM mem m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	UNION ALL
	SELECT 'acl type ' || m.obj, COALESCE((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(t.typacl) a), 'NULL')
	  FROM mem m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
	UNION ALL
	-- the two schemas, members or not
	SELECT 'schema ' || n.nspname,
		   format('owner %s, member %s', pg_get_userbyid(n.nspowner),
				  EXISTS (SELECT 1 FROM mem m WHERE m.classid = 'pg_namespace'::regclass AND m.objid = n.oid))
	  FROM pg_namespace n WHERE n.nspname IN ('tieredlog', 'tieredlog_data')
	UNION ALL
	SELECT 'acl schema ' || n.nspname, COALESCE((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a), 'NULL')
	  FROM pg_namespace n WHERE n.nspname IN ('tieredlog', 'tieredlog_data')
	UNION ALL
	SELECT 'acl default privileges ' || COALESCE(n.nspname, '-') || ' ' || pg_get_userbyid(da.defaclrole) || ' ' || da.defaclobjtype::text,
		   (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(da.defaclacl) a)
	  FROM pg_default_acl da LEFT JOIN pg_namespace n ON n.oid = da.defaclnamespace
	 WHERE da.defaclnamespace IN (SELECT oid FROM nsp)
	UNION ALL
	-- initial privileges (pg_dump's baseline for the extension's objects), columns included
	SELECT 'acl initprivs ' || o.type || ' ' || o.identity,
		   ip.privtype::text || ': ' || (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(ip.initprivs) a)
	  FROM pg_init_privs ip CROSS JOIN LATERAL pg_identify_object(ip.classoid, ip.objoid, ip.objsubid) o
	 WHERE EXISTS (SELECT 1 FROM mem m WHERE m.classid = ip.classoid AND m.objid = ip.objoid)
		OR (ip.classoid = 'pg_namespace'::regclass AND ip.objoid IN (SELECT oid FROM nsp))
	UNION ALL
	-- comments on anything of the extension: members, their columns, constraints, indexes,
	-- triggers..., the schemas, the extension itself
	SELECT 'comment ' || o.type || ' ' || o.identity, ds.description
	  FROM pg_description ds CROSS JOIN LATERAL pg_identify_object(ds.classoid, ds.objoid, ds.objsubid) o
	 WHERE ds.classoid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass, 'pg_constraint'::regclass,
						   'pg_trigger'::regclass, 'pg_policy'::regclass, 'pg_rewrite'::regclass,
						   'pg_namespace'::regclass, 'pg_extension'::regclass, 'pg_operator'::regclass,
						   'pg_statistic_ext'::regclass, 'pg_collation'::regclass)
	   AND (o.schema IN ('tieredlog', 'tieredlog_data')
			OR (ds.classoid = 'pg_namespace'::regclass AND ds.objoid IN (SELECT oid FROM nsp))
			OR (ds.classoid = 'pg_extension'::regclass AND ds.objoid = (SELECT oid FROM ext))
			OR EXISTS (SELECT 1 FROM mem m WHERE m.classid = ds.classoid AND m.objid = ds.objoid))
	UNION ALL
	-- the extension and what pg_dump dumps of it
	SELECT 'extension tieredlog',
		   format('owner %s, schema %s, relocatable %s, version %s', pg_get_userbyid(e.extowner),
				  (SELECT nspname FROM pg_namespace WHERE oid = e.extnamespace), e.extrelocatable, e.extversion)
	  FROM ext e
	UNION ALL
	SELECT 'config ' || c.oid::regclass::text, 'condition ' || quote_literal(COALESCE(e.extcondition[c.i], 'NULL'))
	  FROM ext e CROSS JOIN LATERAL unnest(e.extconfig) WITH ORDINALITY AS c(oid, i)
	UNION ALL
	SELECT 'config (arrays)', format('%s config tables, %s conditions',
									 COALESCE(cardinality(e.extconfig), 0), COALESCE(cardinality(e.extcondition), 0))
	  FROM ext e
)
SELECT json_agg(json_build_array(k, v)) FROM items
SQL

# The rows the member tables hold and the state of the member sequences, as { key => text }.
# Columns of time and OID-like types are left out (they differ between any two installs).
# Rows left out of the comparison (checked apart), by table: a condition on the row t.
my $genesis = q{t.kind = 'CONFIG' AND t.body->>'action' = 'create_extension'};
my %row_skip = ('tieredlog.ledger_entry' => $genesis);
# Sequences whose state is checked apart.
my %seq_skip = ('tieredlog.ledger_entry_id_seq' => 1);

sub row_items
{
	my ($db) = @_;
	my %items;
	my $list = $node->safe_psql($db, q{
SELECT c.oid::regclass::text, c.relkind,
	   COALESCE((SELECT string_agg(quote_literal(a.attname), ',' ORDER BY a.attnum) FROM pg_attribute a
				  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
					AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype, 'time'::regtype,
									   'timetz'::regtype, 'oid'::regtype, 'regclass'::regtype, 'regproc'::regtype,
									   'regtype'::regtype, 'regnamespace'::regtype, 'regrole'::regtype, 'xid'::regtype,
									   'xid8'::regtype, 'pg_lsn'::regtype)), '')
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tieredlog') AND c.relkind IN ('r', 'p', 'S')
 ORDER BY 1});
	for my $line (split /\n/, $list)
	{
		my ($rel, $kind, $skip) = split /\|/, $line, 3;
		if ($kind eq 'S')
		{
			next if $seq_skip{$rel};
			$items{"seqstate $rel"} = $node->safe_psql($db, "SELECT 'last_value ' || last_value || ', is_called ' || is_called FROM $rel");
			next;
		}
		my $row = "to_jsonb(t)" . ($skip ne '' ? " - ARRAY[$skip]::text[]" : '');
		my $where = exists $row_skip{$rel} ? "WHERE NOT ($row_skip{$rel})" : '';
		my ($n, $rows) = split /\|/, $node->safe_psql($db,
			"SELECT count(*), COALESCE(string_agg(x, E'\\n' ORDER BY x), '') FROM (SELECT ($row)::text AS x FROM $rel t $where) s"), 2;
		$items{"rows $rel (count)"} = $n;
		$items{"rows $rel"} = $rows // '';
		$items{"rows $rel (left out)"} = join('; ', ($skip ne '' ? "columns $skip" : ()), ($where ne '' ? "rows $where" : ()))
		  if $skip ne '' || $where ne '';
	}
	return %items;
}

sub catalog
{
	my ($db) = @_;
	my $pairs = decode_json($node->safe_psql($db, $catalog_sql));
	my %items;
	for my $p (@$pairs)
	{
		my ($k, $v) = @$p;
		die "catalog of $db: key \"$k\" twice" if exists $items{$k};
		$items{$k} = $v // 'NULL';
	}
	my %rows = row_items($db);
	for my $k (keys %rows)
	{
		die "catalog of $db: key \"$k\" twice" if exists $items{$k};
		$items{$k} = $rows{$k};
	}
	return \%items;
}

# A line diff of two texts (longest common subsequence): "  same", "- only in a", "+ only in b".
sub line_diff
{
	my ($x, $y) = @_;
	my @a = split /\n/, $x, -1;
	my @b = split /\n/, $y, -1;
	my @l;
	for (my $i = $#a; $i >= 0; $i--)
	{
		for (my $j = $#b; $j >= 0; $j--)
		{
			$l[$i][$j] = $a[$i] eq $b[$j] ? 1 + ($l[ $i + 1 ][ $j + 1 ] // 0)
			  : (($l[ $i + 1 ][$j] // 0) >= ($l[$i][ $j + 1 ] // 0) ? ($l[ $i + 1 ][$j] // 0) : $l[$i][ $j + 1 ] // 0);
		}
	}
	my ($i, $j, @out) = (0, 0);
	while ($i < @a || $j < @b)
	{
		if ($i < @a && $j < @b && $a[$i] eq $b[$j]) { push @out, "      $a[$i]"; $i++; $j++; }
		elsif ($j >= @b || ($i < @a && ($l[ $i + 1 ][$j] // 0) >= ($l[$i][ $j + 1 ] // 0))) { push @out, "    - $a[$i]"; $i++; }
		else { push @out, "    + $b[$j]"; $j++; }
	}
	return @out;
}

# The differences between two catalogs, by section (the first word of each key): { section => [lines] }.
sub compare
{
	my ($a, $b) = @_;
	my %by;
	my %keys = map { ($_ => 1) } keys %$a, keys %$b;
	for my $k (sort keys %keys)
	{
		my ($section) = $k =~ /^(\S+)/;
		my @lines;
		if (!exists $b->{$k})
		{
			@lines = ("- $k", map { "    - $_" } split /\n/, $a->{$k});
		}
		elsif (!exists $a->{$k})
		{
			@lines = ("+ $k", map { "    + $_" } split /\n/, $b->{$k});
		}
		elsif ($a->{$k} ne $b->{$k})
		{
			@lines = ("! $k", line_diff($a->{$k}, $b->{$k}));
		}
		push @{ $by{$section} }, @lines if @lines;
	}
	return \%by;
}

my @sections = qw(member nonmember relation column constraint index trigger policy rule statistics view
  sequence function definition aggregate type schema acl comment extension config rows seqstate);

my $fresh = catalog('fresh');
my $updated = catalog('updated');

# the comparison has something to compare
cmp_ok(scalar(grep { /^member / } keys %$fresh), '>', 100, 'the fresh install has over 100 member objects');
for my $what ('member table tieredlog.log', 'member function tieredlog.append(pg_catalog.text,pg_catalog.text,pg_catalog.jsonb,pg_catalog.text,timestamp with time zone)',
	'member view tieredlog.segments', 'member sequence tieredlog.local_seq', 'member schema tieredlog_data',
	'column table tieredlog.segment #007', 'config tieredlog.log', 'rows tieredlog.tier (count)')
{
	ok(exists $fresh->{$what}, "the catalog lists \"$what\"");
}
note('rows the fresh install leaves: '
	  . join(', ', map { /^rows (\S+) \(count\)$/ && $fresh->{$_} ? "$1 $fresh->{$_}" : () } sort keys %$fresh));

my $diff = compare($fresh, $updated);
my %known = map { ($_ => 1) } @sections;
for my $s (@sections, grep { !$known{$_} } sort keys %$diff)
{
	my $lines = $diff->{$s} // [];
	is(scalar(@$lines), 0, "$s: a fresh 1.1 and 1.0 updated to 1.1 agree")
	  or diag("$s differs (- fresh 1.1, + 1.0 updated to 1.1):\n" . join("\n", @$lines));
}

# the genesis entry: the updated ledger keeps the one 1.0 wrote (entry 1, from the sequence); a
# fresh 1.1 ledger has one only once an entry was written, and then it says 1.1
is($node->safe_psql('updated', "SELECT string_agg(entry_id || ' ' || (body->>'version'), ',') FROM tieredlog.ledger_entry t WHERE $genesis"),
	'1 1.0', 'the updated ledger keeps its 1.0 genesis entry, entry 1 (history is not rewritten)');
is($node->safe_psql('updated', 'SELECT last_value || \' \' || is_called FROM tieredlog.ledger_entry_id_seq')
	  . ' ' . $node->safe_psql('updated', 'SELECT coalesce(max(entry_id), 0) FROM tieredlog.ledger_entry'),
	'1 true 1', 'and its entry id sequence stands at it');
my $fresh_genesis = $node->safe_psql('fresh', "SELECT count(*) || ' ' || coalesce(string_agg(body->>'version', ','), '-')
	FROM tieredlog.ledger_entry t WHERE $genesis");
like($fresh_genesis, qr/^(?:0 -|1 1\.1)$/, 'the fresh ledger has no genesis entry, or one that says 1.1');
is($node->safe_psql('fresh', 'SELECT (SELECT count(*) FROM tieredlog.ledger_entry) > 0 OR
	(SELECT NOT is_called FROM tieredlog.ledger_entry_id_seq)'), 't',
	'its entry id sequence is unused while its ledger is empty');

# ---- the comparison finds differences: "altered" is a fresh install changed on purpose ----------
$node->safe_psql('altered', q{
ALTER TABLE tieredlog.tier ALTER COLUMN tablespace SET DEFAULT 'pg_default';
ALTER TABLE tieredlog.segment ADD COLUMN extra integer;
ALTER TABLE tieredlog.seen ADD CONSTRAINT seen_positive CHECK (seen_seq >= 0);
CREATE INDEX seen_about ON tieredlog.seen (about);
ALTER TABLE tieredlog.log SET (fillfactor = 90);
ALTER FUNCTION tieredlog.node_name() VOLATILE;
ALTER FUNCTION tieredlog._ae_access(timestamptz) SET work_mem = '8MB';
CREATE OR REPLACE VIEW tieredlog.gaps AS
SELECT gap_id, peer_name, from_ts, to_ts, reason, detected_at, closed_at FROM tieredlog.gap ORDER BY gap_id DESC;
ALTER SEQUENCE tieredlog.move_id_seq INCREMENT BY 2;
COMMENT ON TABLE tieredlog.move IS 'moves';
COMMENT ON COLUMN tieredlog.move.state IS 'flipped or done';
GRANT SELECT ON tieredlog.tiers TO PUBLIC;
CREATE FUNCTION tieredlog.extra() RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER EXTENSION tieredlog ADD FUNCTION tieredlog.extra();
CREATE TABLE tieredlog_data.stray (i int);
UPDATE pg_extension SET extcondition[1] = 'WHERE false' WHERE extname = 'tieredlog';
INSERT INTO tieredlog.source_priority VALUES ('x', 1);
SELECT nextval('tieredlog.local_seq');
CREATE FUNCTION tieredlog.tier_trigger() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
ALTER EXTENSION tieredlog ADD FUNCTION tieredlog.tier_trigger();
CREATE TRIGGER tier_check BEFORE UPDATE ON tieredlog.tier FOR EACH ROW EXECUTE FUNCTION tieredlog.tier_trigger();
});
my $altered = compare($fresh, catalog('altered'));
my @expect = (
	[ column     => qr/^\+ column table tieredlog\.segment #\d+\n.*extra integer/m, 'a column added' ],
	[ column     => qr/^! column table tieredlog\.tier #002\n.*\+ .*DEFAULT 'pg_default'/ms, 'a column default' ],
	[ constraint => qr/^\+ constraint table tieredlog\.seen seen_positive/m, 'a constraint' ],
	[ index      => qr/^\+ index table tieredlog\.seen seen_about/m, 'an index' ],
	[ relation   => qr/^! relation table tieredlog\.log\n.*fillfactor=90/ms, 'a table option' ],
	[ function   => qr/^! function function tieredlog\.node_name\(\)\n(?s:.*)- .*volatility s(?s:.*)\+ .*volatility v/m, 'a volatility' ],
	[ definition => qr/^! definition function tieredlog\._ae_access\(.*\n(?s:.*)\+ +SET work_mem/m, 'a function setting' ],
	[ view       => qr/^! view view tieredlog\.gaps\n(?s:.*)\+ .*DESC/m, 'a view definition' ],
	[ sequence   => qr/^! sequence sequence tieredlog\.move_id_seq\n.*increment 2/ms, 'a sequence increment' ],
	[ comment    => qr/^\+ comment table tieredlog\.move$/m, 'a table comment' ],
	[ comment    => qr/^\+ comment table column tieredlog\.move\.state$/m, 'a column comment' ],
	[ acl        => qr/^! acl relation view tieredlog\.tiers\n(?s:.*)\+ .*=r\//m, 'a grant' ],
	[ member     => qr/^\+ member function tieredlog\.extra\(\)/m, 'a member added' ],
	[ nonmember  => qr/^\+ nonmember table tieredlog_data\.stray/m, 'a table that is not a member' ],
	[ config     => qr/^! config \S+\n.*\+ condition 'WHERE false'/ms, 'a config-dump condition' ],
	[ rows       => qr/^! rows tieredlog\.source_priority \(count\)\n.*- 0\n.*\+ 1/ms, 'a row count' ],
	[ rows       => qr/^! rows tieredlog\.source_priority\n.*\+ .*"source": "x"/ms, 'a row' ],
	[ seqstate   => qr/^! seqstate tieredlog\.local_seq\n/m, 'a sequence\'s state' ],
	[ trigger    => qr/^\+ trigger table tieredlog\.tier tier_check/m, 'a trigger' ],
);
my $missed = 0;
for my $e (@expect)
{
	my ($s, $re, $what) = @$e;
	like(join("\n", @{ $altered->{$s} // [] }), $re, "the comparison reports a change made on purpose: $what ($s)")
	  or $missed++;
}
diag("the report for \"altered\" (- fresh, + altered):\n"
	  . join("\n", map { "[$_]\n" . join("\n", @{ $altered->{$_} }) } sort keys %$altered))
  if $missed;

# ---- DROP EXTENSION leaves the same behind in both ------------------------------------------------
my %left;
for my $db ('fresh', 'updated')
{
	my ($rc, $out, $err) = $node->psql($db, 'DROP EXTENSION tieredlog');
	is($rc, 0, "DROP EXTENSION tieredlog succeeds in \"$db\"") or diag($err);
	$left{$db} = $node->safe_psql($db, q{
SELECT coalesce(string_agg(x, ', ' ORDER BY x), 'nothing') FROM (
	SELECT 'schema ' || nspname AS x FROM pg_namespace WHERE nspname IN ('tieredlog', 'tieredlog_data')
	UNION ALL SELECT 'relation ' || c.oid::regclass::text FROM pg_class c
	 WHERE c.relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname IN ('tieredlog', 'tieredlog_data'))
	UNION ALL SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
	 WHERE p.pronamespace IN (SELECT oid FROM pg_namespace WHERE nspname IN ('tieredlog', 'tieredlog_data'))
	UNION ALL SELECT 'type ' || t.oid::regtype::text FROM pg_type t
	 WHERE t.typnamespace IN (SELECT oid FROM pg_namespace WHERE nspname IN ('tieredlog', 'tieredlog_data'))) o});
}
is($left{updated}, $left{fresh}, 'and leaves the same behind in both');
note("left after DROP EXTENSION: $left{fresh}");
is($node->safe_psql('updated', 'CREATE EXTENSION tieredlog; SELECT extversion FROM pg_extension WHERE extname = \'tieredlog\''),
	'1.1', 'CREATE EXTENSION works again where the updated one was dropped (its empty schema left)');

$node->stop;
done_testing();
