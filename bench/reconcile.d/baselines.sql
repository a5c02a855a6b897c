-- The two baselines, on B (psql variables: port_a, fetch_size, rel_a = A's segment relation,
-- rel_b = B's). Both reach A's segment rows through postgres_fdw over TCP (127.0.0.1), so what
-- they exchange is counted by the same packet capture as tieredlog's reconciliation.
CREATE EXTENSION postgres_fdw;
CREATE SERVER node_a FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host '127.0.0.1', port :'port_a', dbname 'postgres', fetch_size :'fetch_size');
CREATE USER MAPPING FOR postgres SERVER node_a OPTIONS (user 'postgres');
CREATE SCHEMA bench;
-- A's segment relation (its definition in src/catalog.c: key is COLLATE "C").
CREATE FOREIGN TABLE bench.a_seg (ts timestamptz, key text COLLATE "C", payload jsonb, source text,
	origin text, seq bigint, rid uuid)
	SERVER node_a OPTIONS (schema_name 'tieredlog_data', table_name :'rel_a');
-- B's own segment relation (a simple view: insertable).
CREATE VIEW bench.b_seg AS SELECT * FROM tieredlog_data.:"rel_b";

-- Baseline 1, the full list of record ids: every rid of A's segment crosses the connection, the
-- anti-join against B's rows runs on B, then only the missing rows are fetched (their rids sent to
-- A as one array, pushed down by postgres_fdw) and inserted. Returns how many were missing and
-- how many were copied.
CREATE FUNCTION bench.idlist_sync(OUT missing bigint, OUT copied bigint) LANGUAGE plpgsql AS $$
DECLARE
	ids uuid[];
BEGIN
	SELECT array_agg(f.rid) INTO ids
	  FROM bench.a_seg f
	 WHERE NOT EXISTS (SELECT 1 FROM bench.b_seg l WHERE l.rid = f.rid);
	missing := COALESCE(cardinality(ids), 0);
	copied := 0;
	IF missing > 0 THEN
		EXECUTE 'INSERT INTO bench.b_seg (ts, key, payload, source, origin, seq, rid)
			SELECT ts, key, payload, source, origin, seq, rid FROM bench.a_seg WHERE rid = ANY ($1)' USING ids;
		GET DIAGNOSTICS copied = ROW_COUNT;
	END IF;
END
$$;
