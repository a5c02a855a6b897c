/*-------------------------------------------------------------------------
 * catalog.c
 *		Access to the core catalog tables — tieredlog.log, .segment, .digest_cell, .tier — and
 *		the segment relations' DDL. tieredlog's other tables have their own store/ files, by
 *		concern: peer_store.c (peer, gap, peer_access, the peers view), node_store.c (node_state,
 *		local_seq), task_store.c (task_history, check_log, access_history), upkeep_store.c (the
 *		worker's planning queries over segment), causal_store.c (seen), quarantine_store.c,
 *		ledger_store.c (ledger reads for proofs and witnesses), reconcile_store.c
 *		(reconcile_log), priority_store.c (source_priority), conflict_store.c (conflict, and the
 *		pruning of seen), move_store.c (tier, the state of segment rows, move), ledger_store.c
 *		also adds entries and closes blocks; spi_rows.c reads SPI results. No file outside
 *		store/ runs SQL on tieredlog's tables (scripts/check_layers.sh checks it); the queries
 *		repl/ sends to a peer over libpq read the peer's tables through its own API.
 *
 * Hot-path lookups (a log by name, a segment by window, digest cells) are direct index scans.
 * Administrative changes (creating and dropping logs and segment relations) go through SPI with
 * parameters, running as the owner of the extension's schemas.
 *
 * Locking: creating a log and dropping one take the internal lock (TL_LOCK_LOG_SEGMENTS, 0);
 * creating a segment of log L or dropping log L takes (TL_LOCK_LOG_SEGMENTS, L), held to the end of
 * the transaction, so two appenders never create the same segment and a drop sees every segment.
 * Table locks are the ordinary ones: AccessShareLock to read, RowExclusiveLock to write.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "store/catalog.h"
#include "core/shmem.h"
#include "core/safe_spi.h"
#include "store/digest.h"
#include "store/node_store.h"
#include "store/segrows.h"
#include "core/tieredlog.h"

/* Column numbers of tieredlog.log and tieredlog.segment, in the order the install script uses. */
enum
{
	Anum_log_log_id = 1, Anum_log_log_name, Anum_log_segment_interval, Anum_log_conflict_rule,
	Anum_log_created_at, Anum_log_resolver
};
enum
{
	Anum_seg_segment_id = 1, Anum_seg_log_id, Anum_seg_range_start, Anum_seg_range_end,
	Anum_seg_state, Anum_seg_tier, Anum_seg_relname, Anum_seg_archive_attempt,
	Anum_seg_gen_base = 15		/* after created_at .. seal_records, which are read through SPI */
};
enum
{
	Anum_cell_segment_id = 1, Anum_cell_leaf, Anum_cell_n, Anum_cell_sum_hi, Anum_cell_sum_lo,
	Anum_cell_bytes, Natts_cell = Anum_cell_bytes
};

Oid
tl_catalog_relid(const char *relname)
{
	Oid			nsp = get_namespace_oid(TL_SCHEMA, false);
	Oid			relid = get_relname_relid(relname, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("tieredlog catalog relation \"%s\" is missing", relname),
				 errhint("Recreate the extension with DROP EXTENSION tieredlog; CREATE EXTENSION tieredlog.")));
	return relid;
}

Oid
tl_data_namespace(void)
{
	return get_namespace_oid(TL_DATA_SCHEMA, false);
}

Oid
tl_catalog_digest_cell_relid(void)
{
	return tl_catalog_relid("digest_cell");
}

Oid
tl_catalog_digest_cell_index(void)
{
	return tl_catalog_relid("digest_cell_segment_leaf");
}

/* ---- internal locks ---------------------------------------------------------------------- */

static void
set_tag(LOCKTAG *tag, uint32 kind, int64 id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) ((uint64) id >> 32), (uint32) id, kind);
}

void
tl_lock_object(uint32 kind, int64 id)
{
	LOCKTAG		tag;

	set_tag(&tag, kind, id);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

bool
tl_try_lock_object(uint32 kind, int64 id)
{
	LOCKTAG		tag;

	set_tag(&tag, kind, id);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* ---- SPI, as the extension's owner ------------------------------------------------------- */

static Oid
extension_owner(void)
{
	Oid			nsp = tl_data_namespace();
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Internal SQL runs as the extension's owner, as a security-restricted operation, with
 * search_path = pg_catalog, pg_temp: the caller's search_path must not choose which operators or
 * functions the owner's queries resolve to.
 */
void
tl_become_owner(TlAsOwner *save)
{
	GetUserIdAndSecContext(&save->saved_user, &save->saved_sec);
	SetUserIdAndSecContext(extension_owner(),
						   save->saved_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	save->guc_level = tl_spi_connect();
}

void
tl_restore_user(TlAsOwner *save)
{
	tl_spi_finish(save->guc_level);
	SetUserIdAndSecContext(save->saved_user, save->saved_sec);
}

void
tl_spi_exec(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "tieredlog internal query failed (%s): %s", SPI_result_code_string(rc), sql);
}

/*
 * tl_spi_exec for one statement whose parameters are known at the call: nargs pairs of a type's
 * Oid and a Datum (never null) follow, e.g.
 *		tl_spi_run("DELETE FROM tieredlog.move WHERE move_id = $1", SPI_OK_DELETE,
 *				   1, INT8OID, Int64GetDatum(move_id));
 */
void
tl_spi_run(const char *sql, int expected, int nargs,...)
{
	Oid			types[TL_SPI_RUN_MAX_ARGS];
	Datum		values[TL_SPI_RUN_MAX_ARGS];
	va_list		ap;

	if (nargs < 0 || nargs > TL_SPI_RUN_MAX_ARGS)
		elog(ERROR, "tl_spi_run: %d parameters, at most %d", nargs, TL_SPI_RUN_MAX_ARGS);
	va_start(ap, nargs);
	for (int i = 0; i < nargs; i++)
	{
		types[i] = va_arg(ap, Oid);
		values[i] = va_arg(ap, Datum);
	}
	va_end(ap);
	tl_spi_exec(sql, nargs, types, values, expected);
}

/*
 * Fetch the single row of `table` that matches `keys` through `index` (latest committed state),
 * passing it to `read`. Returns whether a row was found.
 */
typedef void (*TlRowReader) (HeapTuple tup, TupleDesc desc, void *out);

static bool
fetch_one(const char *table, const char *index, ScanKeyData *keys, int nkeys, TlRowReader read,
		  void *out)
{
	Relation	rel = table_open(tl_catalog_relid(table), AccessShareLock);
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	scan = systable_beginscan(rel, tl_catalog_relid(index), true, NULL, nkeys, keys);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		read(tup, RelationGetDescr(rel), out);
		found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* ---- logs -------------------------------------------------------------------------------- */

static void
log_from_tuple(HeapTuple tup, TupleDesc desc, void *arg)
{
	TlLog	   *out = arg;
	bool		isnull;
	Interval   *iv;
	char	   *s;

	out->log_id = DatumGetInt32(heap_getattr(tup, Anum_log_log_id, desc, &isnull));
	s = TextDatumGetCString(heap_getattr(tup, Anum_log_log_name, desc, &isnull));
	strlcpy(out->name, s, sizeof(out->name));
	iv = DatumGetIntervalP(heap_getattr(tup, Anum_log_segment_interval, desc, &isnull));
	out->interval_us = iv->time + (int64) iv->day * USECS_PER_DAY;
	s = TextDatumGetCString(heap_getattr(tup, Anum_log_conflict_rule, desc, &isnull));
	strlcpy(out->rule, s, sizeof(out->rule));
	out->resolver = InvalidOid;
	if (desc->natts >= Anum_log_resolver)
	{
		Datum		r = heap_getattr(tup, Anum_log_resolver, desc, &isnull);

		if (!isnull)
			out->resolver = DatumGetObjectId(r);
	}
}

/* Change a log's conflict rule (and resolver); the log caches see it after commit. */
void
tl_catalog_set_rule(const TlLog *log, const char *rule, Oid resolver)
{
	TlAsOwner	save;
	Oid			types[3] = {INT4OID, TEXTOID, OIDOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', OidIsValid(resolver) ? ' ' : 'n'};

	values[0] = Int32GetDatum(log->log_id);
	values[1] = CStringGetTextDatum(rule);
	values[2] = ObjectIdGetDatum(resolver);
	tl_become_owner(&save);
	if (SPI_execute_with_args("UPDATE tieredlog.log SET conflict_rule = $2, resolver = $3::regprocedure"
							  " WHERE log_id = $1", 3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not change the conflict rule of log \"%s\"", log->name);
	tl_restore_user(&save);
	tl_bump_catalog_generation_at_commit();
}

bool
tl_catalog_find_log(const char *name, TlLog *out)
{
	ScanKeyData key;

	ScanKeyInit(&key, Anum_log_log_name, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(name));
	return fetch_one("log", "log_log_name_key", &key, 1, log_from_tuple, out);
}

bool
tl_catalog_find_log_by_id(int32 log_id, TlLog *out)
{
	ScanKeyData key;

	ScanKeyInit(&key, Anum_log_log_id, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(log_id));
	return fetch_one("log", "log_pkey", &key, 1, log_from_tuple, out);
}

int32
tl_catalog_insert_log(const char *name, int64 interval_us, const char *rule)
{
	TlAsOwner	save;
	TlLog		existing;
	int32		log_id;
	Oid			types[4] = {TEXTOID, INTERVALOID, TEXTOID, INT4OID};
	Datum		values[4];
	Interval	iv = {0};

	tl_lock_object(TL_LOCK_LOG_SEGMENTS, 0);
	if (tl_catalog_find_log(name, &existing))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("log \"%s\" already exists", name)));
	log_id = (int32) nextval_internal(tl_catalog_relid("log_id_seq"), false);
	iv.day = (int32) (interval_us / USECS_PER_DAY);
	iv.time = interval_us % USECS_PER_DAY;
	values[0] = CStringGetTextDatum(name);
	values[1] = IntervalPGetDatum(&iv);
	values[2] = CStringGetTextDatum(rule);
	values[3] = Int32GetDatum(log_id);
	tl_become_owner(&save);
	tl_spi_exec("INSERT INTO tieredlog.log (log_id, log_name, segment_interval, conflict_rule) "
			 "VALUES ($4, $1, $2, $3)", 4, types, values, SPI_OK_INSERT);
	tl_restore_user(&save);
	return log_id;
}

static void
lock_segment_folds(int32 log_id)
{
	tl_spi_run("SELECT segment_id FROM tieredlog.segment WHERE log_id = $1 ORDER BY segment_id",
			   SPI_OK_SELECT, 1, INT4OID, Int32GetDatum(log_id));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		tl_lock_object(TL_LOCK_DIGEST_COMPACT,
					   DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
	}
}

/* Drop every segment relation of the log, then its catalog rows. */
void
tl_catalog_drop_log(const TlLog *log)
{
	TlAsOwner	save;
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(log->log_id)};

	tl_lock_object(TL_LOCK_LOG_SEGMENTS, 0);
	tl_lock_object(TL_LOCK_LOG_SEGMENTS, log->log_id);
	tl_become_owner(&save);
	tl_spi_exec("SELECT pg_catalog.format('DROP TABLE IF EXISTS %I.%I', 'tieredlog_data', r) FROM ("
				"SELECT relname AS r FROM tieredlog.segment WHERE log_id = $1 AND relname IS NOT NULL "
				"UNION ALL SELECT old_relname FROM tieredlog.move WHERE log_id = $1 AND old_relname IS NOT NULL "
				"UNION ALL SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
				"ON n.oid = c.relnamespace WHERE n.nspname = 'tieredlog_data' AND c.relname = 'archive_' || $1::text) d",
				1, types, values, SPI_OK_SELECT);
	{
		uint64		n = SPI_processed;
		SPITupleTable *tt = SPI_tuptable;
		List	   *drops = NIL;
		ListCell   *lc;

		for (uint64 i = 0; i < n; i++)
			drops = lappend(drops, SPI_getvalue(tt->vals[i], tt->tupdesc, 1));
		/* keep committing appenders from folding cells that are about to be deleted */
		lock_segment_folds(log->log_id);
		foreach(lc, drops)
			tl_spi_exec((char *) lfirst(lc), 0, NULL, NULL, SPI_OK_UTILITY);
	}
	tl_spi_exec("DELETE FROM tieredlog.digest_cell WHERE segment_id IN "
			 "(SELECT segment_id FROM tieredlog.segment WHERE log_id = $1)",
			 1, types, values, SPI_OK_DELETE);
	tl_spi_exec("DELETE FROM tieredlog.digest_rebuilt WHERE segment_id IN "
			 "(SELECT segment_id FROM tieredlog.segment WHERE log_id = $1)",
			 1, types, values, SPI_OK_DELETE);
	tl_spi_exec("DELETE FROM tieredlog.segment WHERE log_id = $1", 1, types, values, SPI_OK_DELETE);
	tl_spi_exec("DELETE FROM tieredlog.move WHERE log_id = $1", 1, types, values, SPI_OK_DELETE);
	tl_spi_exec("DELETE FROM tieredlog.log WHERE log_id = $1", 1, types, values, SPI_OK_DELETE);
	tl_restore_user(&save);
}

/* ---- segments ---------------------------------------------------------------------------- */

static TlSegmentState
state_from_text(const char *s)
{
	if (strcmp(s, "sealed") == 0)
		return TL_SEG_SEALED;
	if (strcmp(s, "reopened") == 0)
		return TL_SEG_REOPENED;
	return TL_SEG_OPEN;
}

static void
segment_from_tuple(HeapTuple tup, TupleDesc desc, void *arg)
{
	TlSegment  *out = arg;
	bool		isnull;
	Datum		relname;
	char	   *state;

	out->segment_id = DatumGetInt64(heap_getattr(tup, Anum_seg_segment_id, desc, &isnull));
	out->log_id = DatumGetInt32(heap_getattr(tup, Anum_seg_log_id, desc, &isnull));
	out->range_start = DatumGetTimestampTz(heap_getattr(tup, Anum_seg_range_start, desc, &isnull));
	out->range_end = DatumGetTimestampTz(heap_getattr(tup, Anum_seg_range_end, desc, &isnull));
	state = TextDatumGetCString(heap_getattr(tup, Anum_seg_state, desc, &isnull));
	out->state = state_from_text(state);
	pfree(state);
	out->tier = DatumGetInt32(heap_getattr(tup, Anum_seg_tier, desc, &isnull));
	relname = heap_getattr(tup, Anum_seg_relname, desc, &isnull);
	out->relid = isnull ? InvalidOid
		: get_relname_relid(NameStr(*DatumGetName(relname)), tl_data_namespace());
	out->relation_missing = !isnull && !OidIsValid(out->relid);
	out->archive_attempt = DatumGetInt64(heap_getattr(tup, Anum_seg_archive_attempt, desc, &isnull));
	if (isnull)
		out->archive_attempt = 0;
	out->gen_base = 0;
	if (desc->natts >= Anum_seg_gen_base)
	{
		Datum		base = heap_getattr(tup, Anum_seg_gen_base, desc, &isnull);

		if (!isnull)
			out->gen_base = DatumGetInt64(base);
	}
}

bool
tl_catalog_find_segment(int32 log_id, TimestampTz range_start, TlSegment *out)
{
	ScanKeyData keys[2];

	ScanKeyInit(&keys[0], Anum_seg_log_id, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(log_id));
	ScanKeyInit(&keys[1], Anum_seg_range_start, BTEqualStrategyNumber, F_TIMESTAMP_EQ,
				TimestampTzGetDatum(range_start));
	return fetch_one("segment", "segment_log_id_range_start_key", keys, 2, segment_from_tuple, out);
}

bool
tl_catalog_get_segment(int64 segment_id, TlSegment *out)
{
	ScanKeyData key;

	ScanKeyInit(&key, Anum_seg_segment_id, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(segment_id));
	return fetch_one("segment", "segment_pkey", &key, 1, segment_from_tuple, out);
}

char *
tl_tier_tablespace(int tier)
{
	tl_spi_run("SELECT tablespace FROM tieredlog.tier WHERE tier = $1",
			   SPI_OK_SELECT, 1, INT4OID, Int32GetDatum(tier));
	if (SPI_processed == 0)
		return pstrdup("pg_default");	/* a tier set_tier() never mapped (1.1 leaves them out) */
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

void
tl_create_segment_relation(const char *relname, const char *tablespace, int64 gen_base)
{
	const char *rel = quote_qualified_identifier(TL_DATA_SCHEMA, relname);
	const char *spc = quote_identifier(tablespace);

	/*
	 * gen is the row's generation, tl_segment_gen_of() (segrows.h): the C code that forms rows
	 * stores it, and the same function written as the column's expression computes it for a row
	 * inserted by hand, so that every row of a record has the generation its identity gives.
	 */
	Assert(gen_base >= 0);
	tl_spi_exec(psprintf("CREATE TABLE %s (ts timestamptz NOT NULL, key text COLLATE \"C\" NOT NULL, "
					  "payload jsonb NOT NULL, source text, origin text NOT NULL, seq bigint NOT NULL, "
					  "rid uuid NOT NULL, gen integer NOT NULL GENERATED ALWAYS AS "
					  "(CASE WHEN seq <= " INT64_FORMAT " THEN 0 ELSE "
					  "LEAST((seq - " INT64_FORMAT ") >> %d, %d)::integer END) STORED) "
					  "TABLESPACE %s", rel, gen_base, gen_base, TL_SEG_GEN_SHIFT, TL_SEG_GEN_MAX, spc),
			 0, NULL, NULL, SPI_OK_UTILITY);
	/*
	 * The one index: (gen, key, origin, ts, seq), unique. It serves read(key) and latest() (one
	 * descent per generation), conflict detection finds each origin's newest record of a key (its
	 * head) in one descent from the end of each generation, and it guards record identity: a
	 * record is (origin, seq), its generation a function of the seq, and the same record always
	 * has the same key and ts, so two inserts of one record (the apply worker's and reconcile's,
	 * racing) collide here. Led by the generation, a segment's new entries go into its newest
	 * part only; led by the key, they went onto every key's last leaf page across the segment, and
	 * after each checkpoint every one of those pages was written whole into the WAL again.
	 * Relations of earlier builds have (key, origin, ts, seq) without gen, or (key, origin, ts)
	 * and a unique (seq, origin); append.c, segrows.c and conflict_heads.c read all three shapes.
	 * One index instead of two: an append writes one WAL record less, which every walsender
	 * decoding the log reads.
	 */
	tl_spi_exec(psprintf("CREATE UNIQUE INDEX %s ON %s (gen, key, origin COLLATE \"C\", ts, seq) TABLESPACE %s",
					  quote_identifier(psprintf("%s_key", relname)), rel, spc),
			 0, NULL, NULL, SPI_OK_UTILITY);
}

/* Segments this backend has created (in any transaction): a window found absent may not be any more. */
static uint64 segments_created = 0;

uint64
tl_catalog_segments_created(void)
{
	return segments_created;
}

/*
 * Create the segment of `log` starting at range_start in tier 0, unless a concurrent transaction
 * created it first. The new segment is visible to others once this transaction commits; until
 * then they wait on the log's segment lock.
 */
TlSegment *
tl_catalog_create_segment(const TlLog *log, TimestampTz range_start)
{
	TlSegment  *seg = palloc0(sizeof(TlSegment));
	TlAsOwner	save;
	int64		segment_id;
	char		relname[NAMEDATALEN];
	Oid			types[6] = {INT8OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, INT8OID};
	Datum		values[6];
	int64		gen_base;
	bool		has_gen_base;

	tl_lock_object(TL_LOCK_LOG_SEGMENTS, log->log_id);
	if (tl_catalog_find_segment(log->log_id, range_start, seg))
		return seg;

	segments_created++;
	segment_id = nextval_internal(tl_catalog_relid("segment_id_seq"), false);
	snprintf(relname, sizeof(relname), "seg_%lld", (long long) segment_id);
	values[0] = Int64GetDatum(segment_id);
	values[1] = Int32GetDatum(log->log_id);
	values[2] = TimestampTzGetDatum(range_start);
	values[3] = TimestampTzGetDatum(range_start + log->interval_us);
	values[4] = CStringGetTextDatum(relname);

	tl_become_owner(&save);
	/*
	 * This node's records appended from now on start at generation 0 (segrows.h). Under 1.0's SQL
	 * the catalog has no gen_base: the generations count from 0, which is what reading it gives.
	 */
	has_gen_base = get_attnum(tl_catalog_relid("segment"), "gen_base") != InvalidAttrNumber;
	gen_base = has_gen_base ? Max(tl_local_seq_last(), 0) : 0;
	values[5] = Int64GetDatum(gen_base);
	tl_create_segment_relation(relname, tl_tier_tablespace(0), gen_base);
	tl_spi_exec(has_gen_base
				? "INSERT INTO tieredlog.segment (segment_id, log_id, range_start, range_end, state, tier, relname, "
				"gen_base) VALUES ($1, $2, $3, $4, 'open', 0, $5, $6)"
				: "INSERT INTO tieredlog.segment (segment_id, log_id, range_start, range_end, state, tier, relname) "
				"VALUES ($1, $2, $3, $4, 'open', 0, $5)",
				has_gen_base ? 6 : 5, types, values, SPI_OK_INSERT);
	tl_restore_user(&save);
	CommandCounterIncrement();

	if (!tl_catalog_find_segment(log->log_id, range_start, seg))
		elog(ERROR, "segment of log \"%s\" vanished after creation", log->name);
	return seg;
}

/*
 * Segments of a log whose window overlaps [from_ts, to_ts), in window order, as seen by
 * `snapshot` (NULL: the latest committed state).
 */
List *
tl_catalog_log_segments(int32 log_id, TimestampTz from_ts, TimestampTz to_ts, Snapshot snapshot)
{
	Relation	rel = table_open(tl_catalog_relid("segment"), AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *result = NIL;

	ScanKeyInit(&keys[0], Anum_seg_log_id, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(log_id));
	ScanKeyInit(&keys[1], Anum_seg_range_start, BTLessStrategyNumber, F_TIMESTAMP_LT,
				TimestampTzGetDatum(to_ts));
	scan = systable_beginscan(rel, tl_catalog_relid("segment_log_id_range_start_key"), true,
							  snapshot, 2, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TlSegment  *seg = palloc(sizeof(TlSegment));

		segment_from_tuple(tup, RelationGetDescr(rel), seg);
		if (seg->range_end > from_ts)
			result = lappend(result, seg);
		else
			pfree(seg);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/* Every segment of every log, in segment_id order. */
List *
tl_catalog_all_segments(Snapshot snapshot)
{
	Relation	rel = table_open(tl_catalog_relid("segment"), AccessShareLock);
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *result = NIL;

	scan = systable_beginscan(rel, tl_catalog_relid("segment_pkey"), true, snapshot, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TlSegment  *seg = palloc(sizeof(TlSegment));

		segment_from_tuple(tup, RelationGetDescr(rel), seg);
		result = lappend(result, seg);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}
