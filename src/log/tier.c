/*-------------------------------------------------------------------------
 * tier.c
 *		Tiers mapped to tablespaces, sealing, and moving segments between tiers.
 *
 * A move runs in the caller's transaction, as a sequence of small steps:
 *
 *	 lock    the segment's move lock (one mover or sealer at a time), re-read the catalog
 *	 create  the target: a new row relation in the target tier's tablespace (tier 0/1), or frames
 *	         with a fresh attempt id in the log's archive relation (tier 2)
 *	 copy    every row visible to a snapshot S taken now (readers and writers keep going)
 *	 verify  the target, re-read (frames are decoded and every rid recomputed from the content),
 *	         against the segment's digest under S, root and all 256 leaves
 *	 catch-up (tier 0/1 targets) wait up to 1 s for the transactions writing the source now (LSN L
 *	         noted first), take a snapshot C and copy the rows C sees and S did not, reading only
 *	         pages the visibility map does not mark all-visible; writers keep going
 *	 barrier ShareLock on the source relation, taken conditionally within a short budget, so a
 *	         late writer never waits long and a move never queues behind a writer; an autovacuum
 *	         worker holding the relation is cancelled (as the lock manager does for a waiter)
 *	 delta   rows committed after C, copied, reading only pages that are not all-visible and (when
 *	         the catch-up's wait completed) whose LSN is past L, so the work under the barrier
 *	         follows the rows written since the catch-up, not the segment's size; S's digest plus
 *	         everything copied since must equal the digest now
 *	 flip    the catalog row (tier, relation, attempt; its row lock taken NOWAIT), and a
 *	         tieredlog.move row 'flipped'
 *
 * so a crash before the commit leaves the source as the only copy (the target's relation and frames
 * vanish with the transaction). After the commit the old copy is still there for readers that
 * resolved the catalog before the flip; tl_sweep() drops it (a conditional AccessExclusiveLock,
 * never queued) or deletes its frames once no running snapshot can predate the move's commit, and
 * marks the move 'done'. Appenders re-check the catalog generation after locking a segment relation, so
 * none writes into a copy that has just been replaced.
 *
 * Lock order: the segment's move lock (TL_LOCK_SEGMENT_MOVE) -> source relation (ShareLock,
 * conditional) -> target relation -> the segment's catalog row (NOWAIT, at the flip). Appenders take
 * RowExclusiveLock on the relation they write, and the catalog row only to reopen a sealed segment.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_tablespace.h"
#include "commands/sequence.h"
#include "commands/tablespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/sinvaladt.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "store/archive_store.h"
#include "store/catalog.h"
#include "store/rowinsert.h"
#include "store/move_store.h"
#include "store/page_scan.h"
#include "store/digest.h"
#include "log/ledger.h"
#include "store/seal.h"
#include "store/progress.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "log/tier.h"
#include "core/shmem.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/tieredlog.h"

/* ---- tiers ------------------------------------------------------------------------------- */

void
tl_check_tier(int tier)
{
	if (tier < 0 || tier > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tier %d does not exist", tier),
				 errhint("Tiers are 0 (hot), 1 (warm) and 2 (archive).")));
}

/*
 * Before tier 2 moves to another tablespace: drop the (empty) archive relations, recreated there
 * when next needed. Refused while frames of earlier moves still wait for the sweeper.
 */
static void
drop_empty_archives(void)
{
	int64		pending = tl_move_store_unswept();
	List	   *drops = NIL;
	ListCell   *lc;

	if (pending > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("the archive still holds frames of %lld earlier moves", (long long) pending),
				 errhint("Run tieredlog.sweep() once no older transaction is running.")));
	tl_spi_exec("SELECT pg_catalog.format('DROP TABLE %I.%I', n.nspname, c.relname) "
				"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
				"WHERE n.nspname = 'tieredlog_data' AND c.relname ~ '^archive_[0-9]+$' AND c.relkind = 'r'",
				0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		drops = lappend(drops, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	foreach(lc, drops)
		tl_spi_exec(lfirst(lc), 0, NULL, NULL, SPI_OK_UTILITY);
}

/* Map `tier` to `tablespace`. Refused while the tier holds segments in another tablespace. */
void
tl_set_tier(int tier, const char *tablespace)
{
	Oid			spc = get_tablespace_oid(tablespace, true);
	TlAsOwner	save;
	char	   *current;
	int64		held;

	tl_check_tier(tier);
	if (!OidIsValid(spc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tablespace \"%s\" does not exist", tablespace),
				 errhint("Create it first with CREATE TABLESPACE.")));
	/* the caller must be allowed to put relations there, and so must the owner who creates them */
	if (spc != DEFAULTTABLESPACE_OID && spc != GLOBALTABLESPACE_OID &&
		pg_tablespace_aclcheck(spc, GetUserId(), ACL_CREATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for tablespace \"%s\"", tablespace),
				 errdetail("Mapping a tier to a tablespace needs CREATE on it.")));
	tl_become_owner(&save);
	if (spc != DEFAULTTABLESPACE_OID && spc != GLOBALTABLESPACE_OID &&
		pg_tablespace_aclcheck(spc, GetUserId(), ACL_CREATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner of extension tieredlog may not create relations in tablespace \"%s\"",
						tablespace)));
	if (spc == GLOBALTABLESPACE_OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tablespace \"pg_global\" cannot hold segments")));
	/* set_tier() calls queue here; a tier never mapped has no row and is in pg_default */
	tl_lock_object(TL_LOCK_LOG_SEGMENTS, 0);
	current = tl_tier_store_lock(tier);
	if (strcmp(current, tablespace) != 0)
	{
		held = tl_tier_store_segments_in(tier);
		if (held > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("tier %d still holds %lld segments in tablespace \"%s\"", tier,
							(long long) held, current),
					 errhint("Move them to another tier with tieredlog.move_segment() first.")));
		if (tier == 2)
			drop_empty_archives();
		tl_tier_store_map(tier, tablespace);
	}
	tl_restore_user(&save);
}

/* ---- sealing ----------------------------------------------------------------------------- */

/*
 * Take the segment's move lock (movers and sealers queue here; appenders never take it) and return
 * the segment's fresh state. The catalog row itself is locked only at the flip, so a late append
 * that reopens the segment is not held up by a move in progress.
 */
static void
lock_segment_row(int64 segment_id, TlSegment *seg)
{
	tl_lock_object(TL_LOCK_SEGMENT_MOVE, segment_id);
	CommandCounterIncrement();
	if (!tl_catalog_get_segment(segment_id, seg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment %lld does not exist", (long long) segment_id)));
}

/*
 * The seal's ledger entry: SEAL, or RESEAL for a segment that was reopened, with what a verifier
 * needs to recompute it (and the root it replaces).
 */
static void
log_seal(const TlLog *log, const TlSegment *seg, const TlSealScan *scan, const TlHash *root)
{
	bool		reseal = seg->state == TL_SEG_REOPENED;
	TlJson		j;

	tl_json_init(&j);
	tl_json_text(&j, "range_start", timestamptz_to_str(seg->range_start));
	tl_json_text(&j, "range_end", timestamptz_to_str(seg->range_end));
	tl_json_int(&j, "records", scan->n);
	tl_json_int(&j, "bytes", scan->bytes);
	tl_json_text(&j, "root", tl_hash_to_hex(root));
	tl_json_text(&j, "digest", tl_digest_to_text(&scan->digest));
	tl_json_text(&j, "algorithm", "rfc9162-sha256/record-v1");
	tl_ledger_add(reseal ? "RESEAL" : "SEAL", log->name, seg->segment_id, tl_json_finish(&j));
}

static void
store_seal(int64 segment_id, const TlHash *root, int64 records)
{
	TlAsOwner	save;

	tl_become_owner(&save);
	tl_segment_store_mark_sealed(segment_id, root, records);
	tl_restore_user(&save);
	tl_bump_catalog_generation_at_commit();
}

/*
 * Seal a segment (or reseal a reopened one): compute its Merkle root over every record and write
 * the SEAL (RESEAL) ledger entry in the same transaction. ShareLock on the row relation waits
 * for appenders that already hold it and keeps new ones out until the commit, so no record lands
 * in the segment between the root and the state change; appenders queued behind it see the new
 * catalog generation and reopen the segment. Returns its state.
 */
const char *
tl_seal(int64 segment_id)
{
	TlSegment	seg;
	TlLog		log;
	TlSealScan	scan;
	TlHash		root;
	Snapshot	snap;

	lock_segment_row(segment_id, &seg);
	if (seg.state == TL_SEG_SEALED)
	{
		ereport(NOTICE,
				(errmsg("segment %lld is already sealed", (long long) segment_id)));
		return "sealed";
	}
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("tieredlog.seal() must run in a READ COMMITTED transaction"),
				 errdetail("A seal covers every committed record, which an older snapshot may not see.")));
	if (!tl_catalog_find_log_by_id(seg.log_id, &log))
		elog(ERROR, "segment %lld has no log", (long long) segment_id);
	if (OidIsValid(seg.relid))
		LockRelationOid(seg.relid, ShareLock);
	CommandCounterIncrement();
	if (!tl_catalog_get_segment(segment_id, &seg))
		elog(ERROR, "segment %lld vanished while it was sealed", (long long) segment_id);
	snap = RegisterSnapshot(GetLatestSnapshot());
	PushActiveSnapshot(snap);
	tl_seal_scan(&log, &seg, snap, &scan);
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	tl_seal_root(&scan, &root);
	store_seal(segment_id, &root, scan.n);
	log_seal(&log, &seg, &scan, &root);
	tl_seal_free(&scan);
	return "sealed";
}

/*
 * A record is about to be appended to `seg`: a sealed segment is reopened (visibly, in its state;
 * tieredlog.seal() reseals it), and a segment whose rows live only in archive frames gets a
 * relation in tier 0's tablespace for late rows. Returns whether the catalog changed.
 */
bool
tl_prepare_late_append(const TlLog *log, const TlSegment *seg)
{
	bool		changed = false;

	if (seg->state == TL_SEG_SEALED)
	{
		TlAsOwner	save;

		tl_become_owner(&save);
		tl_segment_store_mark_reopened(seg->segment_id);
		tl_restore_user(&save);
		ereport(LOG,
				(errmsg("tieredlog: late record reopens sealed segment %lld of log \"%s\"",
						(long long) seg->segment_id, log->name)));
		tl_ledger_add("REOPEN", log->name, seg->segment_id, "{\"reason\": \"a record arrived after the seal\"}");
		changed = true;
	}
	if (!OidIsValid(seg->relid) && seg->archive_attempt != 0)
	{
		TlAsOwner	save;
		TlSegment	fresh;
		char	   *relname;

		tl_lock_object(TL_LOCK_LOG_SEGMENTS, log->log_id);
		if (tl_catalog_get_segment(seg->segment_id, &fresh) && OidIsValid(fresh.relid))
			return true;
		relname = psprintf("seg_%lld_late_%lld", (long long) seg->segment_id,
						   (long long) nextval_internal(tl_catalog_relid("move_id_seq"), false));
		tl_become_owner(&save);
		tl_create_segment_relation(relname, tl_tier_tablespace(0), seg->gen_base);
		tl_segment_store_set_relname(seg->segment_id, relname);
		tl_restore_user(&save);
		changed = true;
	}
	if (changed)
	{
		CommandCounterIncrement();
		tl_segment_cache_reset();
	}
	return changed;
}

/* ---- moves ------------------------------------------------------------------------------- */

/* catch-up rounds before the barrier: at most this many, while the last found more rows than this */
#define TL_MOVE_CATCH_UP_ROUNDS 10
#define TL_MOVE_CATCH_UP_ROWS	256
/* the barrier is tried this long (ms) between two catch-up rounds */
#define TL_MOVE_BARRIER_SLICE_MS 20
/* how long (ms) the first catch-up round waits for the writers running then, and the later ones */
#define TL_MOVE_FIRST_WAIT_MS	1000
#define TL_MOVE_ROUND_WAIT_MS	50

typedef struct MoveCtx
{
	TlLog		log;
	TlSegment	seg;
	int			to_tier;
	int64		attempt;
	/* target: a relation (tier 0/1, or tier 2's late rows) ... */
	char		relname[NAMEDATALEN];
	Relation	rel;
	CatalogIndexState ind;
	/* ... or frames (tier 2), fed in order through a sort until finish_frames() */
	Tuplesortstate *sort;
	TlFrameWriter fw;
	int64		rows;
	int			progress;		/* slot in the progress view */
} MoveCtx;

/*
 * Rows go to the archive clustered by key: sorted by (key in the C collation, ts, origin, seq), so
 * that each frame holds a narrow range of keys (its directory's min_key and max_key) and a key
 * read decodes the one or few frames of its key instead of one frame per record (issue 21). The
 * frame writer puts each frame's rows back in (ts, origin, seq) order before encoding it.
 */
static Tuplesortstate *
sort_for_archive(void)
{
	AttrNumber	cols[4] = {Anum_row_key, Anum_row_ts, Anum_row_origin, Anum_row_seq};
	Oid			ops[4];
	Oid			colls[4] = {C_COLLATION_OID, InvalidOid, C_COLLATION_OID, InvalidOid};
	bool		nulls_first[4] = {false, false, false, false};

	ops[0] = lookup_type_cache(TEXTOID, TYPECACHE_LT_OPR)->lt_opr;
	ops[1] = lookup_type_cache(TIMESTAMPTZOID, TYPECACHE_LT_OPR)->lt_opr;
	ops[2] = lookup_type_cache(TEXTOID, TYPECACHE_LT_OPR)->lt_opr;
	ops[3] = lookup_type_cache(INT8OID, TYPECACHE_LT_OPR)->lt_opr;
	return tuplesort_begin_heap(tl_row_desc(), 4, cols, ops, colls, nulls_first, maintenance_work_mem,
								NULL, TUPLESORT_NONE);
}

/* A new segment relation named `relname` in `tier`'s tablespace becomes the target's relation. */
static void
create_target_relation(MoveCtx *m, const char *relname, int tier)
{
	TlAsOwner	save;

	strlcpy(m->relname, relname, sizeof(m->relname));
	tl_become_owner(&save);
	tl_create_segment_relation(m->relname, tl_tier_tablespace(tier), m->seg.gen_base);
	tl_restore_user(&save);
	CommandCounterIncrement();
	m->rel = table_open(get_relname_relid(m->relname, tl_data_namespace()), RowExclusiveLock);
	m->ind = CatalogOpenIndexes(m->rel);
}

static void
create_target(MoveCtx *m)
{
	char		relname[NAMEDATALEN];

	if (m->to_tier == 2)
	{
		m->sort = sort_for_archive();
		tl_fw_init(&m->fw, m->log.log_id, m->seg.segment_id, m->attempt, tl_archive_level);
		return;
	}
	snprintf(relname, sizeof(relname), "seg_%lld_%lld", (long long) m->seg.segment_id,
			 (long long) m->attempt);
	create_target_relation(m, relname, m->to_tier);
}

static void
copy_row(HeapTuple row, TupleDesc desc, void *arg)
{
	MoveCtx    *m = arg;

	if (++m->rows % 4096 == 0)
		tl_progress_update(m->progress, NULL, m->rows);
	if (m->sort != NULL)
	{
		TupleTableSlot *slot = MakeSingleTupleTableSlot(tl_row_desc(), &TTSOpsHeapTuple);

		ExecStoreHeapTuple(row, slot, false);
		tuplesort_puttupleslot(m->sort, slot);
		ExecDropSingleTupleTableSlot(slot);
	}
	else
	{
		Datum		v[TL_ROW_MAX_NATTS];
		bool		n[TL_ROW_MAX_NATTS];
		HeapTuple	copy;

		/*
		 * Rows committed after the copy's snapshot, on the way to tier 2: the frames are written
		 * already, so they go where late rows of a tier 2 segment always go, a relation in tier
		 * 0's tablespace (as tl_prepare_late_append makes; the segment has been reopened by them).
		 */
		if (m->rel == NULL)
		{
			char		relname[NAMEDATALEN];

			Assert(m->to_tier == 2);
			snprintf(relname, sizeof(relname), "seg_%lld_late_%lld", (long long) m->seg.segment_id,
					 (long long) m->attempt);
			create_target_relation(m, relname, 0);
		}
		/* the row's generation in the new relation (a relation of an earlier build has none) */
		tl_row_deform(row, desc, v, n);
		v[Anum_row_gen - 1] = Int32GetDatum(tl_segment_gen_of(m->seg.gen_base, DatumGetInt64(v[Anum_row_seq - 1])));
		n[Anum_row_gen - 1] = false;
		copy = heap_form_tuple(RelationGetDescr(m->rel), v, n);
		tl_tuple_insert(m->rel, m->ind, copy, 0, NULL);
		heap_freetuple(copy);
	}
}

/* Tier 2: write the sorted rows as frames. */
static void
finish_frames(MoveCtx *m)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(tl_row_desc(), &TTSOpsMinimalTuple);

	tuplesort_performsort(m->sort);
	while (tuplesort_gettupleslot(m->sort, true, false, slot, NULL))
	{
		bool		should_free;
		HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, &should_free);
		TlArchiveRow r;

		tl_row_to_archive(tup, tl_row_desc(), &r);
		tl_fw_add(&m->fw, &r);
		if (should_free)
			heap_freetuple(tup);
	}
	tuplesort_end(m->sort);
	m->sort = NULL;
	ExecDropSingleTupleTableSlot(slot);
	tl_fw_finish(&m->fw);
}

/* The segment as it will look after the flip. */
static TlSegment
target_segment(const MoveCtx *m)
{
	TlSegment	t = m->seg;

	t.tier = m->to_tier;
	t.relid = m->rel != NULL ? RelationGetRelid(m->rel) : InvalidOid;
	t.archive_attempt = m->to_tier == 2 ? m->attempt : 0;
	t.relation_missing = false;
	return t;
}

/* Re-read the target and compare with `expected`, root and every leaf. */
static void
verify_target(const MoveCtx *m, const TlSegmentDigest *expected, const char *when)
{
	TlSegment	t = target_segment(m);
	TlSegmentDigest *got = palloc(sizeof(TlSegmentDigest));
	bool		ok;

	CommandCounterIncrement();
	PushActiveSnapshot(GetLatestSnapshot());
	tl_digest_recompute(&m->log, &t, GetActiveSnapshot(), got);
	PopActiveSnapshot();
	ok = tl_digest_equal(&got->root, &expected->root);
	for (int leaf = 0; leaf < TL_LEAVES && ok; leaf++)
		ok = tl_digest_equal(&got->leaves[leaf], &expected->leaves[leaf]);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("copy of segment %lld to tier %d does not match its digest %s",
						(long long) m->seg.segment_id, m->to_tier, when),
				 errdetail("Expected %s, the copy holds %s. Nothing was moved.",
						   tl_digest_to_text(&expected->root), tl_digest_to_text(&got->root))));
	pfree(got);
}

/* What holds the relation the barrier could not lock: "written to" or "vacuumed". */
static const char *
barrier_blocker(Oid relid)
{
	TlAsOwner	save;
	Oid			types[1] = {OIDOID};
	Datum		v[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;
	bool		vacuum;

	tl_become_owner(&save);
	tl_spi_exec("SELECT COALESCE(bool_or(mode = 'ShareUpdateExclusiveLock') AND NOT bool_or(mode = 'RowExclusiveLock'), false) "
				"FROM pg_catalog.pg_locks WHERE relation = $1 AND granted AND pid <> pg_catalog.pg_backend_pid()",
				1, types, v, SPI_OK_SELECT);
	vacuum = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_restore_user(&save);
	return vacuum ? "vacuumed" : "written to";
}

/*
 * The backends whose locks on `relid` conflict with ShareLock (the barrier), each with its status
 * flags (PROC_IS_AUTOVACUUM, PROC_IN_VACUUM, ...), read under ProcArrayLock; a vxid whose backend
 * has moved on to another transaction is left out. Returns how many, at most `max`.
 */
typedef struct BarrierHolder
{
	VirtualTransactionId vxid;
	int			pid;
	uint8		flags;
} BarrierHolder;

static int
barrier_holders(Oid relid, BarrierHolder *out, int max)
{
	LOCKTAG		tag;
	VirtualTransactionId *v;
	int			n = 0;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	v = GetLockConflicts(&tag, ShareLock, NULL);
	for (; VirtualTransactionIdIsValid(*v) && n < max; v++)
	{
		PGPROC	   *proc = BackendIdGetProc(v->backendId);

		if (proc == NULL)
			continue;
		LWLockAcquire(ProcArrayLock, LW_SHARED);
		if (proc->backendId == v->backendId && proc->lxid == v->localTransactionId && proc->pid != 0)
		{
			out[n].vxid = *v;
			out[n].pid = proc->pid;
			out[n].flags = ProcGlobal->statusFlags[proc->pgxactoff];
			n++;
		}
		LWLockRelease(ProcArrayLock);
	}
	return n;
}

/*
 * Cancel the autovacuum workers that keep the barrier out, as PostgreSQL's lock manager does for a
 * lock waiter blocked by autovacuum (ProcSleep, after deadlock_timeout): SIGINT, which ends the
 * worker's VACUUM or ANALYZE of this table and lets it go on with the next one. A VACUUM for
 * wraparound is never cancelled (PROC_VACUUM_FOR_WRAPAROUND), nor anything but an autovacuum
 * worker. Returns how many were signalled.
 */
static int
cancel_blocking_autovacuum(const MoveCtx *m)
{
	BarrierHolder h[64];
	int			n = barrier_holders(m->seg.relid, h, lengthof(h));
	int			cancelled = 0;

	for (int i = 0; i < n; i++)
	{
		PGPROC	   *proc;
		int			pid = 0;

		if (!(h[i].flags & PROC_IS_AUTOVACUUM) || (h[i].flags & PROC_VACUUM_FOR_WRAPAROUND))
			continue;
		/* re-check under the lock that the slot still runs that autovacuum, then signal it */
		proc = BackendIdGetProc(h[i].vxid.backendId);
		if (proc == NULL)
			continue;
		LWLockAcquire(ProcArrayLock, LW_EXCLUSIVE);
		if (proc->lxid == h[i].vxid.localTransactionId && proc->pid == h[i].pid &&
			(ProcGlobal->statusFlags[proc->pgxactoff] & PROC_IS_AUTOVACUUM) &&
			!(ProcGlobal->statusFlags[proc->pgxactoff] & PROC_VACUUM_FOR_WRAPAROUND))
			pid = proc->pid;
		LWLockRelease(ProcArrayLock);
		if (pid == 0)
			continue;
		ereport(LOG,
				(errmsg("sending cancel to blocking autovacuum PID %d", pid),
				 errdetail("The move of segment %lld needs its relation \"%s\" for a moment.",
						   (long long) m->seg.segment_id, get_rel_name(m->seg.relid))));
		if (kill(pid, SIGINT) < 0)
			ereport(WARNING,
					(errmsg("could not send signal to process %d: %m", pid)));
		else
			cancelled++;
	}
	return cancelled;
}

/*
 * The write barrier: ShareLock on the source relation, tried for at most `slice_ms` of this call
 * and tieredlog.move_lock_timeout in all (*waited, *vacuum_wait carry the time tried across calls),
 * or an error. The lock is only ever tried (a writer never queues behind the move). An autovacuum
 * worker that holds the relation is cancelled, and the move waits for it to let go (up to 5 s
 * more, without blocking anyone); writers and a manual VACUUM are waited for only within the
 * timeout. Returns whether the lock is held (false: the slice ran out; catch up and try again).
 */
static bool
try_write_barrier(const MoveCtx *m, int slice_ms, int *waited, int *vacuum_wait)
{
	int			tried = 0;

	if (!OidIsValid(m->seg.relid))
		return true;
	while (!ConditionalLockRelationOid(m->seg.relid, ShareLock))
	{
		if (cancel_blocking_autovacuum(m) > 0 && *vacuum_wait < 5000)
		{
			/* the cancelled worker needs a moment to abort: that time is not the writers' */
			*waited = 0;
		}
		if (*waited >= tl_move_lock_timeout_ms)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("segment %lld is being %s; it was not moved",
							(long long) m->seg.segment_id, barrier_blocker(m->seg.relid)),
					 errhint("Retry the move later; a move never makes others wait longer than \"tieredlog.move_lock_timeout\".")));
		if (tried >= slice_ms)
			return false;
		pg_usleep(5000L);
		tried += 5;
		*waited += 5;
		*vacuum_wait += 5;
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * Wait, without taking any lock, until every transaction that held a writer's lock on the source
 * when this was called has ended (CREATE INDEX CONCURRENTLY's WaitForLockers, less the vacuums,
 * which never insert rows), for at most `max_ms`: the wait makes nobody else wait, but a
 * transaction left open must not hold the move up (it is then waited for at the barrier, as
 * before). Returns whether they all ended.
 */
static bool
wait_for_writers(const MoveCtx *m, int max_ms)
{
	LOCKTAG		tag;
	VirtualTransactionId *v;
	TimestampTz start = GetCurrentTimestamp();

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, m->seg.relid);
	v = GetLockConflicts(&tag, ShareLock, NULL);
	for (; VirtualTransactionIdIsValid(*v); v++)
	{
		PGPROC	   *proc = BackendIdGetProc(v->backendId);	/* NULL for a prepared transaction */
		bool		vacuum = false;

		if (proc != NULL)
		{
			LWLockAcquire(ProcArrayLock, LW_SHARED);
			vacuum = proc->lxid == v->localTransactionId &&
				(ProcGlobal->statusFlags[proc->pgxactoff] & (PROC_IS_AUTOVACUUM | PROC_IN_VACUUM)) != 0;
			LWLockRelease(ProcArrayLock);
		}
		if (vacuum)
			continue;
		while (!VirtualXactLock(*v, false))
		{
			if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), max_ms))
				return false;
			pg_usleep(1000L);
			CHECK_FOR_INTERRUPTS();
		}
	}
	return true;
}

/*
 * Rows of the source that `since` could not see and `snap` sees (tier 0/1 targets), copied, their
 * digest summed into *delta. Only pages that can hold such rows are read:
 *   - a page the visibility map marks all-visible holds only rows every snapshot of this move sees
 *     (the map is set for rows older than the oldest xmin, and this backend's registered copy
 *     snapshot holds that back; an insert clears the bit before its row exists), so it is skipped;
 *   - with `lsn_floor` valid, a page whose LSN is at or below it is skipped: every row written
 *     there before that LSN belongs to a transaction that had ended before `since` was taken
 *     (wait_for_writers), so `since` sees it.
 * Under the write barrier this is the only work that grows with the segment, and what it reads is
 * the pages written since the catch-up, plus one visibility map lookup and one page header per
 * other page that vacuum has not marked yet.
 */
typedef struct DeltaStats
{
	BlockNumber pages;
	BlockNumber skipped_visible;
	BlockNumber skipped_lsn;
	int64		rows;
} DeltaStats;

/* One catch-up round's reading of the source: what `since` did not see and `snap` sees. */
typedef struct DeltaScan
{
	MoveCtx    *m;
	Snapshot	since;
	Snapshot	snap;
	TupleDesc	desc;
	TlSegmentDigest *delta;
	HeapTuple  *found;			/* this page's rows to copy */
	int			nfound;
	int64		rows;
} DeltaScan;

static void
delta_tuple(HeapTuple tup, Buffer buf, void *arg)
{
	DeltaScan  *d = arg;
	TransactionId xmin = HeapTupleHeaderGetXmin(tup->t_data);

	if (!TransactionIdIsNormal(xmin) || !XidInMVCCSnapshot(xmin, d->since))
		return;					/* `since` saw it: already copied */
	if (HeapTupleSatisfiesVisibility(tup, d->snap, buf))
		d->found[d->nfound++] = heap_copytuple(tup);
}

/* The page is unlocked: its rows are copied with no page of the source locked. */
static void
delta_page_done(void *arg)
{
	DeltaScan  *d = arg;

	for (int i = 0; i < d->nfound; i++)
	{
		HeapTuple	t = d->found[i];
		bool		isnull;
		uint64		hi;
		uint64		lo;
		int			leaf;

		copy_row(t, d->desc, d->m);
		leaf = tl_leaf_of(DatumGetTimestampTz(heap_getattr(t, Anum_row_ts, d->desc, &isnull)),
						  d->m->seg.range_start, d->m->log.interval_us);
		tl_rid_split((const TlRid *) DatumGetUUIDP(heap_getattr(t, Anum_row_rid, d->desc, &isnull))->data,
					 &hi, &lo);
		tl_digest_add(&d->delta->leaves[leaf], hi, lo, 1, 0);
		tl_digest_add(&d->delta->root, hi, lo, 1, 0);
		heap_freetuple(t);
		d->rows++;
	}
	d->nfound = 0;
}

static void
copy_delta(MoveCtx *m, Snapshot since, Snapshot snap, XLogRecPtr lsn_floor, TlSegmentDigest *delta,
		   DeltaStats *stats)
{
	Relation	src = table_open(m->seg.relid, NoLock);	/* AccessShareLock or more held */
	DeltaScan	d = {m, since, snap, RelationGetDescr(src), delta,
		palloc(sizeof(HeapTuple) * MaxHeapTuplesPerPage), 0, 0};
	TlPageScanStats ps;

	tl_scan_changed_pages(src, lsn_floor, delta_tuple, delta_page_done, &d, &ps);
	stats->pages = ps.pages;
	stats->skipped_visible = ps.skipped_visible;
	stats->skipped_lsn = ps.skipped_lsn;
	stats->rows = d.rows;
	pfree(d.found);
	table_close(src, NoLock);
}

/*
 * Catch up before the barrier (the source still open to writers): wait for the writers running
 * now (up to `wait_ms`), take a new snapshot and copy what it sees beyond `since` (the copy's snapshot, or the
 * previous round's), reading only pages written after `since_floor` when that is valid (as under
 * the barrier). Returns that snapshot (registered), sets *lsn_floor (only rows it could not see
 * remain, and only on pages written after it) and *rows (what this round copied).
 */
static Snapshot
catch_up(MoveCtx *m, Snapshot since, XLogRecPtr since_floor, int wait_ms, TlSegmentDigest *delta,
		 XLogRecPtr *lsn_floor, int64 *rows)
{
	Snapshot	caught;
	DeltaStats	st;
	TimestampTz start = GetCurrentTimestamp();

	*lsn_floor = GetXLogInsertRecPtr();
	if (!wait_for_writers(m, wait_ms))
		*lsn_floor = InvalidXLogRecPtr;	/* a writer still runs: no page can be ruled out by its LSN */
	caught = RegisterSnapshot(GetLatestSnapshot());
	copy_delta(m, since, caught, since_floor, delta, &st);
	*rows = st.rows;
	elog(DEBUG1, "move of segment %lld: catch-up copied %lld rows, read %u of %u pages in %ld ms",
		 (long long) m->seg.segment_id, (long long) st.rows,
		 st.pages - st.skipped_visible - st.skipped_lsn, st.pages,
		 (long) (TimestampDifferenceMilliseconds(start, GetCurrentTimestamp())));
	return caught;
}

/*
 * One more catch-up round from the last one's snapshot, which it replaces. With `at` given, the
 * digest's change between the two snapshots is added to it (cells a fold replaced to `folded`),
 * from the segment's cells (see tl_digest_changes), few since the move folded them.
 */
static void
catch_up_again(MoveCtx *m, Snapshot *caught, XLogRecPtr *lsn_floor, TlSegmentDigest *delta, int64 *rows,
			   TlSegmentDigest *at, TlSegmentDigest *folded)
{
	XLogRecPtr	since_floor = *lsn_floor;
	Snapshot	next = catch_up(m, *caught, since_floor, TL_MOVE_ROUND_WAIT_MS, delta, lsn_floor, rows);

	if (at != NULL)
		tl_digest_changes(m->seg.segment_id, *caught, next, at, folded);
	UnregisterSnapshot(*caught);
	*caught = next;
}

/* Whether `at` = `expected` + `delta` + `folded`, root and every leaf. */
static bool
digest_adds_up(const TlSegmentDigest *at, const TlSegmentDigest *expected, const TlSegmentDigest *delta,
			   const TlSegmentDigest *folded)
{
	for (int leaf = -1; leaf < TL_LEAVES; leaf++)
	{
		TlDigest	sum = leaf < 0 ? expected->root : expected->leaves[leaf];
		const TlDigest *d = leaf < 0 ? &delta->root : &delta->leaves[leaf];
		const TlDigest *f = leaf < 0 ? &folded->root : &folded->leaves[leaf];

		tl_digest_add(&sum, d->sum_hi, d->sum_lo, d->n, 0);
		tl_digest_add(&sum, f->sum_hi, f->sum_lo, f->n, 0);
		if (!tl_digest_equal(&sum, leaf < 0 ? &at->root : &at->leaves[leaf]))
			return false;
	}
	return true;
}

/* expected + delta must equal now, root and every leaf. */
static void
verify_delta(const MoveCtx *m, const TlSegmentDigest *expected, const TlSegmentDigest *delta,
			 const TlSegmentDigest *now)
{
	bool		ok = true;

	for (int leaf = -1; leaf < TL_LEAVES && ok; leaf++)
	{
		TlDigest	sum = leaf < 0 ? expected->root : expected->leaves[leaf];
		const TlDigest *d = leaf < 0 ? &delta->root : &delta->leaves[leaf];

		tl_digest_add(&sum, d->sum_hi, d->sum_lo, d->n, 0);
		ok = tl_digest_equal(&sum, leaf < 0 ? &now->root : &now->leaves[leaf]);
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("late rows copied with segment %lld do not match its digest",
						(long long) m->seg.segment_id),
				 errdetail("Expected %s. Nothing was moved.", tl_digest_to_text(&now->root))));
}

static void
flip(MoveCtx *m, int64 bytes_before)
{
	TlAsOwner	save;
	TlMoveFlip	f = {0};

	f.segment_id = m->seg.segment_id;
	f.move_id = m->attempt;
	f.from_tier = m->seg.tier;
	f.to_tier = m->to_tier;
	f.relname = m->rel == NULL ? NULL : m->relname;
	f.archive_attempt = m->attempt;
	f.old_relname = OidIsValid(m->seg.relid) ? get_rel_name(m->seg.relid) : NULL;
	f.old_attempt = m->seg.archive_attempt;
	f.bytes_before = bytes_before;
	tl_become_owner(&save);
	tl_move_store_flip(&f);
	tl_restore_user(&save);
	tl_bump_catalog_generation_at_commit();
}

static void
record_move_result(const MoveCtx *m, int64 bytes_after)
{
	TlAsOwner	save;

	tl_become_owner(&save);
	tl_move_store_result(m->attempt, m->rows, bytes_after);
	tl_restore_user(&save);
}

int64
tl_segment_stored_bytes(const TlSegment *seg)
{
	int64		bytes = 0;

	if (OidIsValid(seg->relid))
		bytes += DatumGetInt64(DirectFunctionCall1(pg_total_relation_size, ObjectIdGetDatum(seg->relid)));
	if (seg->archive_attempt != 0)
		bytes += tl_archive_bytes(seg->log_id, seg->segment_id, seg->archive_attempt);
	return bytes;
}

static void
check_move_allowed(const TlSegment *seg, int to_tier)
{
	if (to_tier == 2 && seg->state != TL_SEG_SEALED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segment %lld must be sealed before it moves to tier 2", (long long) seg->segment_id),
				 errhint("Seal it with tieredlog.seal(%lld).", (long long) seg->segment_id)));
}

/*
 * Called by a move before it copies rows: the decoder skips the rest of this transaction's
 * segment inserts (they copy records that were decoded when they were appended).
 */
static void
mark_move_in_wal(void)
{
	if (XLogLogicalInfoActive())
		(void) LogLogicalMessage(TL_MOVE_MESSAGE_PREFIX, "", 0, true);
}

/* Move a segment to `to_tier`. Fills *res; returns false when it already was there. */
bool
tl_move(int64 segment_id, int to_tier, TlMoveResult *res)
{
	MoveCtx		m;
	Snapshot	snap;
	TlSegmentDigest *expected = palloc(sizeof(TlSegmentDigest));
	TlSegmentDigest *now = palloc(sizeof(TlSegmentDigest));
	TlSegmentDigest *delta;
	Snapshot	caught = NULL;
	XLogRecPtr	lsn_floor = InvalidXLogRecPtr;
	int64		bytes_before;
	TimestampTz barrier_start;
	TlSegmentDigest *at = NULL;
	TlSegmentDigest *folded = NULL;

	tl_check_tier(to_tier);
	memset(&m, 0, sizeof(m));
	lock_segment_row(segment_id, &m.seg);
	if (!tl_catalog_find_log_by_id(m.seg.log_id, &m.log))
		elog(ERROR, "segment %lld belongs to no log", (long long) segment_id);
	res->from_tier = m.seg.tier;
	/* a tier 2 segment with late rows is re-archived by a move to tier 2 */
	if (m.seg.tier == to_tier && !(to_tier == 2 && OidIsValid(m.seg.relid)))
		return false;
	check_move_allowed(&m.seg, to_tier);
	mark_move_in_wal();
	m.to_tier = to_tier;
	m.attempt = nextval_internal(tl_catalog_relid("move_id_seq"), false);
	bytes_before = tl_segment_stored_bytes(&m.seg);

	/*
	 * No fold of the segment's digest cells but this move's own until it ends: a fold reads every
	 * cell of the segment, and while the copy's snapshot holds the xmin horizon back none that a
	 * fold replaces can be removed, so appenders folding now and then (digest.c) would read more
	 * and more of them at each commit (they skip the fold when they find this lock taken). The
	 * catch-up rounds also rely on it (tl_digest_changes).
	 */
	tl_lock_object(TL_LOCK_DIGEST_COMPACT, segment_id);
	/* the move checks its copy against the cells and follows them as they change */
	tl_digest_require_cells(&m.log, &m.seg);

	/* copy and verify under a snapshot, without blocking anyone */
	snap = RegisterSnapshot(GetLatestSnapshot());
	tl_digest_load_snapshot(segment_id, snap, expected);
	m.progress = tl_progress_begin("move", segment_id, m.seg.tier, to_tier, expected->root.n);
	tl_progress_update(m.progress, "copying", 0);
	create_target(&m);
	PushActiveSnapshot(snap);
	tl_segment_rows(&m.log, &m.seg, snap, DT_NOBEGIN, DT_NOEND, NULL, copy_row, &m);
	PopActiveSnapshot();
	if (to_tier == 2)
	{
		tl_progress_update(m.progress, "compressing", m.rows);
		finish_frames(&m);
	}
	tl_progress_update(m.progress, "verifying", m.rows);
	elog(DEBUG1, "move of segment %lld: copied %lld rows", (long long) segment_id, (long long) m.rows);
	verify_target(&m, expected, "after the copy");
	elog(DEBUG1, "move of segment %lld: copy verified", (long long) segment_id);

	/*
	 * catch up with the writers while they keep going (a tier 2 target keeps the rows committed
	 * since the copy's snapshot in a late relation, as a tier 2 segment that takes late records does)
	 */
	delta = palloc0(sizeof(TlSegmentDigest));
	if (OidIsValid(m.seg.relid))
	{
		int64		rows;

		tl_progress_update(m.progress, "catching up", m.rows);
		caught = catch_up(&m, snap, InvalidXLogRecPtr, TL_MOVE_FIRST_WAIT_MS, delta, &lsn_floor, &rows);

		/*
		 * Again while the last round found more than a few rows: what the barrier copies is what
		 * was committed during the last round, and each round reads only the pages written since
		 * the one before, so the rounds shrink as long as the writers do not outrun the copy.
		 */
		for (int round = 1; round < TL_MOVE_CATCH_UP_ROUNDS && rows > TL_MOVE_CATCH_UP_ROWS; round++)
			catch_up_again(&m, &caught, &lsn_floor, delta, &rows, NULL, NULL);

		/*
		 * Fold the cells the appenders left during the move (they did not fold, see above), so
		 * that the first appender to fold after the commit does not have them all to read. Then
		 * one more round, and the digest as its snapshot sees it, read in full while nobody waits;
		 * from there on only its changes are read.
		 */
		(void) tl_digest_compact(segment_id, true);
		CommandCounterIncrement();
		catch_up_again(&m, &caught, &lsn_floor, delta, &rows, NULL, NULL);
		at = palloc0(sizeof(TlSegmentDigest));
		folded = palloc0(sizeof(TlSegmentDigest));
		tl_digest_load_snapshot(segment_id, caught, at);
		catch_up_again(&m, &caught, &lsn_floor, delta, &rows, at, folded);
	}

	/*
	 * Stop writers briefly, take what they committed since, check again, flip. The barrier is
	 * tried in slices; between two, one more catch-up round takes what was committed meanwhile,
	 * so the rows left for the barrier stay few however long it takes to find a moment with no
	 * writer.
	 */
	tl_progress_update(m.progress, "waiting for writers", -1);
	{
		int			waited = 0;
		int			vacuum_wait = 0;
		int64		rows;

		for (;;)
		{
			/*
			 * A round whose writers did not all end within its wait leaves no LSN floor, and the
			 * barrier would then read every page that is not all-visible: a few more rounds first
			 */
			for (int i = 0; i < 3 && caught != NULL && XLogRecPtrIsInvalid(lsn_floor); i++)
				catch_up_again(&m, &caught, &lsn_floor, delta, &rows, at, folded);
			if (try_write_barrier(&m, TL_MOVE_BARRIER_SLICE_MS, &waited, &vacuum_wait))
				break;
			if (caught != NULL)
				catch_up_again(&m, &caught, &lsn_floor, delta, &rows, at, folded);
		}
	}
	barrier_start = GetCurrentTimestamp();
	elog(DEBUG1, "move of segment %lld: writers stopped", (long long) segment_id);
	if (caught != NULL)
	{
		/*
		 * What changed since the last catch-up round: the digest cells and the rows committed
		 * since, both read only where they were written after that round began.
		 */
		Snapshot	latest = RegisterSnapshot(GetLatestSnapshot());

		tl_digest_changes(segment_id, caught, latest, at, folded);
		if (!digest_adds_up(at, expected, delta, folded))
		{
			DeltaStats	st;

			copy_delta(&m, caught, latest, lsn_floor, delta, &st);
			elog(DEBUG1, "move of segment %lld: %lld late rows under the barrier, %u pages: %u all-visible, %u older than the catch-up; %ld ms",
				 (long long) segment_id, (long long) st.rows, st.pages, st.skipped_visible, st.skipped_lsn,
				 (long) TimestampDifferenceMilliseconds(barrier_start, GetCurrentTimestamp()));
		}
		if (!digest_adds_up(at, expected, delta, folded))
		{
			/* check against every cell before calling it a mismatch */
			tl_digest_load_snapshot(segment_id, latest, now);
			verify_delta(&m, expected, delta, now);
		}
		UnregisterSnapshot(latest);
	}
	else
	{
		/* no relation: nothing can have been written, but check */
		tl_digest_load_snapshot(segment_id, GetLatestSnapshot(), now);
		if (!tl_digest_equal(&now->root, &expected->root))
			verify_delta(&m, expected, delta, now);
	}
	if (caught)
		UnregisterSnapshot(caught);
	UnregisterSnapshot(snap);
	tl_progress_update(m.progress, "flipping", m.rows);
	flip(&m, bytes_before);
	elog(DEBUG1, "move of segment %lld: flipped %ld ms after the barrier", (long long) segment_id,
		 (long) TimestampDifferenceMilliseconds(barrier_start, GetCurrentTimestamp()));
	if (m.rel)
	{
		CatalogCloseIndexes(m.ind);
		table_close(m.rel, NoLock);
	}
	{
		TlSegment	t = target_segment(&m);

		res->bytes_after = tl_segment_stored_bytes(&t);
	}
	res->bytes_before = bytes_before;
	res->records = m.rows;
	record_move_result(&m, res->bytes_after);
	tl_progress_end(m.progress);
	return true;
}

/* ---- sweeping ---------------------------------------------------------------------------- */

/* Remove one flipped move's old copy if nobody can still be reading it. */
static bool
sweep_one(int64 move_id, int64 segment_id, int32 log_id, const char *old_relname, int64 old_attempt)
{
	if (old_relname)
	{
		Oid			relid = get_relname_relid(old_relname, tl_data_namespace());

		if (OidIsValid(relid))
		{
			if (!ConditionalLockRelationOid(relid, AccessExclusiveLock))
				return false;	/* a reader still holds it: next time */
			tl_spi_exec(psprintf("DROP TABLE %s", quote_qualified_identifier(TL_DATA_SCHEMA, old_relname)),
						0, NULL, NULL, SPI_OK_UTILITY);
		}
	}
	if (old_attempt != 0)
		tl_archive_delete(log_id, segment_id, old_attempt);
	tl_move_store_done(move_id);
	return true;
}

/*
 * Remove the old copies of flipped moves once no running transaction holds a snapshot that might
 * not see the move's commit: any such snapshot has an xmin at or before the move's xid (which it
 * saw running), so the sweeper waits until every backend_xmin is newer. Returns how many moves
 * were completed.
 */
int64
tl_sweep(void)
{
	TlAsOwner	save;
	int64		done = 0;
	TlMoveSweep *moves;
	int			n;

	tl_become_owner(&save);
	moves = tl_move_store_sweepable(&n);
	for (int i = 0; i < n; i++)
		if (sweep_one(moves[i].move_id, moves[i].segment_id, moves[i].log_id, moves[i].old_relname,
					  moves[i].old_attempt))
			done++;
	tl_restore_user(&save);
	return done;
}
