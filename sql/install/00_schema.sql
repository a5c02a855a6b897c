-- tieredlog 1.1: append-only keyed logs with time-window segments and digests.
-- Everything lives in the fixed schema "tieredlog"; segment relations live in "tieredlog_data".
-- Only the functions in this script read or write the tables below: they are the extension's catalog.
-- Generated: `make` concatenates sql/install/*.sql in name order into sql/tieredlog--<version>.sql.

\echo Use "CREATE EXTENSION tieredlog" to load this file. \quit

-- Refuse a schema someone else prepared. CREATE EXTENSION uses an existing schema "tieredlog"
-- as it finds it: a role that created it first would own tieredlog's catalog, and objects it
-- put there could be picked up by the statements below. So the schema must belong to the role
-- installing the extension, hold nothing yet, and grant nothing to anyone else. This runs before
-- anything is created in it, with every name qualified.
DO $check$
DECLARE
	nsp pg_catalog.oid;
	owner pg_catalog.name;
	objects pg_catalog.int8;
BEGIN
	SELECT n.oid, pg_catalog.pg_get_userbyid(n.nspowner) INTO nsp, owner
	  FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'tieredlog';
	IF owner OPERATOR(pg_catalog.<>) CURRENT_USER THEN
		RAISE EXCEPTION 'schema "tieredlog" already exists and belongs to role "%"', owner
			USING ERRCODE = 'duplicate_schema',
				  HINT = 'tieredlog installs into a schema of its own. Drop that schema, or check its contents and make the installing role its owner.';
	END IF;
	SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_opclass WHERE opcnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) nsp)
		 OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_statistic_ext WHERE stxnamespace OPERATOR(pg_catalog.=) nsp)
	  INTO objects;
	IF objects OPERATOR(pg_catalog.>) 0 THEN
		RAISE EXCEPTION 'schema "tieredlog" already holds % objects', objects
			USING ERRCODE = 'duplicate_schema',
				  HINT = 'tieredlog installs into an empty schema of its own.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
				WHERE n.oid OPERATOR(pg_catalog.=) nsp AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner) THEN
		RAISE EXCEPTION 'schema "tieredlog" grants privileges to other roles'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'REVOKE them before installing: tieredlog grants what each role needs itself.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) 'tieredlog_data') THEN
		RAISE EXCEPTION 'schema "tieredlog_data" already exists'
			USING ERRCODE = 'duplicate_schema',
				  HINT = 'tieredlog keeps its segment relations in a schema of its own; drop that one first.';
	END IF;
END
$check$;

-- Refuse to install where the library is not preloaded: the digests rely on its commit hooks.
CREATE FUNCTION tieredlog._require_preload() RETURNS void
	AS 'MODULE_PATHNAME', 'tieredlog_require_preload' LANGUAGE C STRICT;
SELECT tieredlog._require_preload();

CREATE SCHEMA tieredlog_data;
COMMENT ON SCHEMA tieredlog_data IS 'relations holding the rows of tieredlog segments (one per tier 0/1 segment)';
REVOKE ALL ON SCHEMA tieredlog_data FROM PUBLIC;

