/*-------------------------------------------------------------------------
 * append.c
 *		The append path: validate, stamp (HLC ts, origin, seq, rid), insert into the segment
 *		relation, note the digest delta.
 *
 * Rows go straight into the segment's heap and indexes (heap_insert / heap_multi_insert through
 * store/rowinsert.c, which refuses an index with expressions or a predicate that someone added to a
 * segment relation rather than index it wrongly), bypassing the executor: no triggers, rules or
 * row security apply to segment relations, and EXECUTE on the tieredlog functions is the
 * permission that matters.
 *
 * Locking: RowExclusiveLock on the segment relation, held to the end of the transaction.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/hio.h"
#include "storage/bufmgr.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "executor/tuptable.h"
#include "catalog/pg_collation.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "log/append.h"
#include "store/catalog.h"
#include "store/node_store.h"
#include "store/rowinsert.h"
#include "log/node.h"
#include "store/digest.h"
#include "store/segrows.h"
#include "store/stats.h"
#include "log/tier.h"
#include "core/shmem.h"
#include "core/tieredlog.h"
#include "core/validate.h"

#define TL_MULTI_INSERT_MAX	1000

/*
 * Validate one input and turn it into a stamped record (everything but the segment). `hlc` is the
 * HLC value reserved for it, used when the input brings no ts of its own.
 */
static void
prepare_record(const TlLog *log, const TlAppendInput *in, TimestampTz hlc, TlRecord *rec)
{
	tl_check_key(in->key);
	tl_check_payload(in->payload);
	tl_check_source(in->source);
	if (in->has_ts)
		tl_check_ts(log, in->ts);

	rec->log_name = log->name;
	rec->key = in->key;
	rec->payload = in->payload;
	rec->source = in->source;
	rec->ts = in->has_ts ? in->ts : hlc;
	rec->origin = tl_node_name();
	rec->seq = tl_local_seq_next();
	tl_record_compute_rid_bounded(rec, tl_payload_text_limit());
}


/*
 * Find the segment for ts and lock the relation to append to. A sealed segment is reopened and an
 * archived one gets a relation for late rows first. The catalog generation is checked again once
 * the lock is held: a move that flipped the segment meanwhile has bumped it before releasing its
 * own locks, so this never writes into a copy that was just replaced.
 */
static Relation
open_segment_for_append(const TlLog *log, TimestampTz ts, TlSegment *seg)
{
	for (int attempt = 0; attempt < 10; attempt++)
	{
		uint64		gen = tl_catalog_generation();
		Relation	rel;

		tl_segment_for_append(log, ts, seg);
		if ((seg->state == TL_SEG_SEALED || !OidIsValid(seg->relid)) &&
			tl_prepare_late_append(log, seg))
			continue;
		if (OidIsValid(seg->relid) &&
			(rel = tl_segment_lock_relation(seg, gen, RowExclusiveLock, true)) != NULL)
			return rel;
		tl_segment_cache_reset();
	}
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("segment of log \"%s\" kept moving while a record was appended to it", log->name),
			 errhint("Retry the append.")));
	return NULL;				/* keep compiler quiet */
}

/* local: a record this node originates (its seq comes from local_seq: node.c may refuse) */
static void
check_writable(bool local)
{
	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog append");
	PreventCommandDuringRecovery("tieredlog append");
	if (local)
		tl_node_require(true, "appending to a tieredlog log");
}

/* Append one record; returns its seq. */
int64
tl_append(const TlLog *log, const TlAppendInput *in)
{
	TlRecord	rec;
	TlSegment	seg;
	Relation	rel;
	HeapTuple	tup;
	CatalogIndexState ind;

	check_writable(true);
	prepare_record(log, in, in->has_ts ? 0 : tl_hlc_now(), &rec);
	rel = open_segment_for_append(log, rec.ts, &seg);
	tup = tl_row_form(RelationGetDescr(rel), &rec, seg.gen_base);
	ind = CatalogOpenIndexes(rel);
	tl_tuple_insert(rel, ind, tup, 0, NULL);
	CatalogCloseIndexes(ind);
	tl_digest_note_append(seg.segment_id, tl_leaf_of(rec.ts, seg.range_start, log->interval_us), &rec);
	tl_stats_count_writes(seg.segment_id, 1, false);
	table_close(rel, NoLock);
	return rec.seq;
}

/*
 * Insert `n` records that all belong to `seg` with one multi-insert per chunk. The slots are made
 * once, over a private copy of the descriptor (not reference-counted, so no resource-owner
 * bookkeeping per row), and reused for every chunk.
 */
static void
insert_group(const TlLog *log, Relation rel, const TlSegment *seg, TlRecord *recs, int n)
{
	CatalogIndexState ind = CatalogOpenIndexes(rel);
	TupleDesc	desc = CreateTupleDescCopy(RelationGetDescr(rel));
	int			nslots = Min(n, TL_MULTI_INSERT_MAX);
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * nslots);
	TlDigest	run = {0};		/* the records of leaf run_leaf not yet noted */
	int			run_leaf = 0;

	for (int i = 0; i < nslots; i++)
		slots[i] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	for (int done = 0; done < n;)
	{
		int			chunk = Min(n - done, TL_MULTI_INSERT_MAX);

		for (int i = 0; i < chunk; i++)
			ExecStoreHeapTuple(tl_row_form(desc, &recs[done + i], seg->gen_base), slots[i], true);
		tl_tuples_multi_insert(rel, ind, slots, chunk, 0, NULL);
		for (int i = 0; i < chunk; i++)
		{
			TlRecord   *rec = &recs[done + i];
			int			leaf = tl_leaf_of(rec->ts, seg->range_start, log->interval_us);

			/* a run of records of one leaf becomes one pending digest delta */
			if (leaf != run_leaf)
			{
				tl_digest_note_appends(seg->segment_id, run_leaf, &run);
				memset(&run, 0, sizeof(run));
				run_leaf = leaf;
			}
			tl_digest_add_record(&run, rec);
			ExecClearTuple(slots[i]);
		}
		done += chunk;
	}
	tl_digest_note_appends(seg->segment_id, run_leaf, &run);
	tl_stats_count_writes(seg->segment_id, n, false);
	for (int i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	pfree(slots);
	CatalogCloseIndexes(ind);
	table_close(rel, NoLock);
}

/*
 * Append n records; returns n. Records are validated and stamped first (so a bad element fails
 * before anything is written), then written one multi-insert per run of the same segment.
 */
int64
tl_append_batch(const TlLog *log, const TlAppendInput *in, int n)
{
	TlRecord   *recs;
	int			start = 0;
	int			stamped = 0;
	TimestampTz hlc = 0;

	check_writable(true);
	if (n == 0)
		return 0;
	recs = palloc(sizeof(TlRecord) * n);
	/* the HLC values of the records without a ts, reserved in one step, handed out in order */
	for (int i = 0; i < n; i++)
		stamped += in[i].has_ts ? 0 : 1;
	if (stamped > 0)
		hlc = tl_hlc_reserve(stamped);
	for (int i = 0; i < n; i++)
	{
		prepare_record(log, &in[i], hlc, &recs[i]);
		if (!in[i].has_ts)
			hlc++;
	}
	while (start < n)
	{
		TlSegment	group_seg;
		int			end = start + 1;
		Relation	rel = open_segment_for_append(log, recs[start].ts, &group_seg);

		while (end < n && recs[end].ts >= group_seg.range_start && recs[end].ts < group_seg.range_end)
			end++;
		insert_group(log, rel, &group_seg, &recs[start], end - start);
		start = end;
	}
	pfree(recs);
	return n;
}

/* ---- records from peers ------------------------------------------------------------------------ */

/*
 * The apply worker stores one remote record per call, a thousand remote transactions in one local
 * transaction, mostly into the same segment: opening the segment's indexes for every record (the
 * index list, two index_opens and two IndexInfos) was a few percent of its time. So the indexes
 * of the segment relation last stored into stay open, with the relation, until the
 * (sub)transaction that opened them ends, another segment is written, or the catalog generation
 * moves. This is safe within one transaction: the relation's RowExclusiveLock, taken by the
 * first record and held to the end, keeps moves, index builds and DDL on it waiting (a
 * concurrent index build waits for this transaction before it takes inserts), and the relation
 * is opened again for every record as before, with the same catalog generation check.
 * Subtransactions: what one opened is closed at its commit and forgotten at its abort (its
 * resource owner releases it). The apply worker only (tl_append_keep_indexes): it drops no
 * segment relation in its own transactions.
 */
typedef struct OpenIndexes
{
	Relation	rel;			/* NULL: nothing open */
	CatalogIndexState ind;
	BulkInsertState bistate;	/* the page records go to stays pinned between them */
	LocalTransactionId lxid;
	SubTransactionId subid;
	uint64		gen;
} OpenIndexes;

static OpenIndexes open_ind;
bool		tl_append_keep_indexes = false;
static bool open_ind_callbacks = false;

/*
 * The references are the (sub)transaction's own (CurTransactionResourceOwner), not the resource
 * owner of the portal or SPI query the record came through: they outlive the statement.
 */
static void
open_indexes_close(void)
{
	CatalogIndexState ind = open_ind.ind;
	Relation	rel = open_ind.rel;
	BulkInsertState bistate = open_ind.bistate;
	ResourceOwner save = CurrentResourceOwner;

	open_ind.rel = NULL;
	open_ind.ind = NULL;
	open_ind.bistate = NULL;
	if (rel == NULL)
		return;
	CurrentResourceOwner = CurTransactionResourceOwner;
	FreeBulkInsertState(bistate);	/* its pin was taken under this owner (kept_insert) */
	CatalogCloseIndexes(ind);
	table_close(rel, NoLock);
	CurrentResourceOwner = save;
}

static void
open_indexes_xact(XactEvent event, void *arg)
{
	if (open_ind.rel == NULL)
		return;
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE ||
		event == XACT_EVENT_PARALLEL_PRE_COMMIT)
		open_indexes_close();
	else
	{
		open_ind.rel = NULL;	/* ended: its resource owner released everything */
		open_ind.bistate = NULL;	/* (in TopTransactionContext, gone with it) */
	}
}

static void
open_indexes_subxact(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid,
					 void *arg)
{
	if (open_ind.rel == NULL || open_ind.subid != mySubid)
		return;
	if (event == SUBXACT_EVENT_PRE_COMMIT_SUB)
		open_indexes_close();
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		open_ind.rel = NULL;
		open_ind.bistate = NULL;
	}
}

/*
 * A bulk-insert state without COPY's ring of buffers: it keeps the page records go to pinned from
 * one record to the next, while the pages stay in shared buffers for the readers and the WAL is
 * not flushed to recycle a ring buffer.
 */
static BulkInsertState
bulk_insert_state_in_buffers(void)
{
	BulkInsertState bistate = GetBulkInsertState();

	FreeAccessStrategy(bistate->strategy);
	bistate->strategy = NULL;
	return bistate;
}

/*
 * Insert a record's row into the relation whose indexes are kept open (the pin the bulk-insert
 * state keeps belongs to the transaction's resource owner, which open_indexes_close releases it
 * under), or with the indexes opened for it alone.
 */
static void
insert_row(Relation rel, CatalogIndexState ind, bool kept, HeapTuple tup)
{
	ResourceOwner save = CurrentResourceOwner;

	if (!kept || open_ind.ind != ind)
	{
		tl_tuple_insert(rel, ind, tup, 0, NULL);
		return;
	}
	/* (an error aborts the (sub)transaction, which sets the resource owner back itself) */
	CurrentResourceOwner = CurTransactionResourceOwner;
	tl_tuple_insert(rel, ind, tup, 0, open_ind.bistate);
	CurrentResourceOwner = save;
}

/*
 * Insert a record's row as insert_row does, unless the relation's unique index may already hold
 * its key: then the row is deleted again and the function returns false (nothing else was written
 * for it; its index entry points at a row dead to everyone, which vacuum removes).
 */
static bool
insert_row_unless_duplicate(Relation rel, CatalogIndexState ind, bool kept, HeapTuple tup)
{
	ResourceOwner save = CurrentResourceOwner;
	bool		unique;

	if (kept && open_ind.ind == ind)
	{
		CurrentResourceOwner = CurTransactionResourceOwner;
		unique = tl_tuple_insert_unless_duplicate(rel, ind, tup, 0, open_ind.bistate);
		CurrentResourceOwner = save;
	}
	else
		unique = tl_tuple_insert_unless_duplicate(rel, ind, tup, 0, NULL);
	if (!unique)
	{
		CommandCounterIncrement();	/* a row is deleted by a later command than its insert */
		(void) tl_tuple_delete(rel, &tup->t_self, false);
	}
	return unique;
}

/*
 * The indexes of `rel` (opened for this record by open_segment_for_append), kept open as above;
 * *kept false: opened for this record only (something a parent subtransaction opened is still
 * kept, and only that subtransaction's resource owner may close it), close them after use.
 */
static CatalogIndexState
apply_indexes(Relation rel, bool *kept)
{
	MemoryContext old;
	ResourceOwner save;
	bool		same_xact = open_ind.rel != NULL && open_ind.lxid == MyProc->lxid;

	*kept = tl_append_keep_indexes;
	if (!*kept)
		return CatalogOpenIndexes(rel);
	if (same_xact && open_ind.subid == GetCurrentSubTransactionId() && open_ind.rel == rel &&
		open_ind.gen == tl_catalog_generation() && RelationGetRelid(open_ind.rel) == RelationGetRelid(rel))
		return open_ind.ind;
	if (same_xact && open_ind.subid != GetCurrentSubTransactionId())
	{
		*kept = false;
		return CatalogOpenIndexes(rel);
	}
	if (!open_ind_callbacks)
	{
		RegisterXactCallback(open_indexes_xact, NULL);
		RegisterSubXactCallback(open_indexes_subxact, NULL);
		open_ind_callbacks = true;
	}
	if (same_xact)
		open_indexes_close();	/* this subtransaction's: another segment, or the generation moved */
	else
		open_ind.rel = NULL;	/* of an ended transaction (the callbacks cleared it already) */
	old = MemoryContextSwitchTo(TopTransactionContext);
	save = CurrentResourceOwner;
	CurrentResourceOwner = CurTransactionResourceOwner;
	open_ind.ind = CatalogOpenIndexes(rel);
	open_ind.rel = table_open(RelationGetRelid(rel), NoLock);	/* its own reference */
	open_ind.bistate = bulk_insert_state_in_buffers();
	CurrentResourceOwner = save;
	MemoryContextSwitchTo(old);
	open_ind.lxid = MyProc->lxid;
	open_ind.subid = GetCurrentSubTransactionId();
	open_ind.gen = tl_catalog_generation();
	return open_ind.ind;
}

/*
 * How a segment relation finds a record by its identity (origin, seq): through its unique index
 * on (gen, key, origin, ts, seq), with the record's generation, key and ts (a record always has
 * the same key and ts, and its generation is a function of its seq), or, in a relation an earlier
 * build created, through its unique index on (key, origin, ts, seq) or on (seq, origin).
 */
typedef struct IdentityIndex
{
	Relation	idx;			/* NULL: the relation has none of them (nothing to probe) */
	bool		by_key;			/* ([gen,] key, origin, ts, seq); else (seq, origin) */
	bool		by_gen;			/* led by gen */
} IdentityIndex;

static IdentityIndex
identity_index(CatalogIndexState ind)
{
	IdentityIndex found = {NULL, false, false};

	for (int i = 0; i < ind->ri_NumIndices; i++)
	{
		Relation	idx = ind->ri_IndexRelationDescs[i];
		int2vector *cols = &idx->rd_index->indkey;

		if (!idx->rd_index->indisunique || !tl_index_is_plain_btree(idx))
			continue;
		if (idx->rd_index->indnatts == 5 && cols->values[0] == Anum_row_gen &&
			cols->values[1] == Anum_row_key && cols->values[2] == Anum_row_origin &&
			cols->values[3] == Anum_row_ts && cols->values[4] == Anum_row_seq &&
			tl_row_has_gen(RelationGetDescr(ind->ri_RelationDesc)))
			return (IdentityIndex) {idx, true, true};
		if (idx->rd_index->indnatts == 4 && cols->values[0] == Anum_row_key &&
			cols->values[1] == Anum_row_origin && cols->values[2] == Anum_row_ts &&
			cols->values[3] == Anum_row_seq)
			return (IdentityIndex) {idx, true, false};
		if (idx->rd_index->indnatts == 2 && cols->values[0] == Anum_row_seq &&
			cols->values[1] == Anum_row_origin)
			found = (IdentityIndex) {idx, false, false};
	}
	return found;
}

/*
 * The row of `rec`'s identity in the segment's relation that `snap` sees, through `id`: true
 * with *tid and *rid set, or false. gen_base: the segment's.
 */
static bool
relation_find_identity(Relation rel, IdentityIndex id, int64 gen_base, Snapshot snap,
					   const TlRecord *rec, ItemPointer tid, TlRid *rid)
{
	ScanKeyData keys[5];
	int			nkeys;
	IndexScanDesc scan;
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		found;

	if (id.by_key)
	{
		int			col = id.by_gen ? 1 : 0;	/* index column before key */

		if (id.by_gen)
			ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ,
						Int32GetDatum(tl_segment_gen_of(gen_base, rec->seq)));
		ScanKeyInit(&keys[col], col + 1, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(rec->key));
		keys[col].sk_collation = C_COLLATION_OID;
		ScanKeyInit(&keys[col + 1], col + 2, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(rec->origin));
		keys[col + 1].sk_collation = C_COLLATION_OID;
		ScanKeyInit(&keys[col + 2], col + 3, BTEqualStrategyNumber, F_TIMESTAMP_EQ, TimestampTzGetDatum(rec->ts));
		ScanKeyInit(&keys[col + 3], col + 4, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(rec->seq));
		nkeys = col + 4;
	}
	else
	{
		ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(rec->seq));
		ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(rec->origin));
		keys[1].sk_collation = C_COLLATION_OID;
		nkeys = 2;
	}
	scan = index_beginscan(rel, id.idx, snap, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, Anum_row_rid, &isnull);

		memcpy(rid->bytes, DatumGetUUIDP(d)->data, TL_RID_LEN);
		*tid = slot->tts_tid;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*
 * The greatest seq among the rows of a segment relation that a snapshot sees, of any origin,
 * remembered for the few relations a transaction last asked about while the active snapshot
 * sees the same (the apply worker's batch keeps one). A record whose seq is greater cannot be
 * there for that snapshot, so its identity needs no probe: the probe would see exactly the rows
 * this descent saw. Rows it does not see (committed since, or this transaction's own inserts
 * after the snapshot) the probe does not see either; the unique index guards against those, as
 * before. The same view: the same xmin, xmax, in-progress transactions and command id (what MVCC
 * visibility depends on). Backend-local, in TopMemoryContext; a slot is free until filled in.
 */
#define SEQ_HIGH_SLOTS	8

typedef struct SeqHigh
{
	Oid			relid;			/* InvalidOid: free */
	LocalTransactionId lxid;
	SnapshotData snap;			/* the snapshot's fields, with copies of its xid arrays */
	uint32		xip_alloc;		/* as SnapshotData.xcnt */
	int			subxip_alloc;
	int64		high;			/* PG_INT64_MIN: no row */
} SeqHigh;

static SeqHigh seq_high[SEQ_HIGH_SLOTS];
static int	seq_high_next;

static bool
same_view(const SeqHigh *h, Snapshot snap)
{
	return h->lxid == MyProc->lxid && snap->snapshot_type == SNAPSHOT_MVCC &&
		h->snap.xmin == snap->xmin && h->snap.xmax == snap->xmax && h->snap.curcid == snap->curcid &&
		h->snap.xcnt == snap->xcnt && h->snap.subxcnt == snap->subxcnt &&
		h->snap.suboverflowed == snap->suboverflowed &&
		h->snap.takenDuringRecovery == snap->takenDuringRecovery &&
		(snap->xcnt == 0 || memcmp(h->snap.xip, snap->xip, sizeof(TransactionId) * snap->xcnt) == 0) &&
		(snap->subxcnt == 0 ||
		 memcmp(h->snap.subxip, snap->subxip, sizeof(TransactionId) * snap->subxcnt) == 0);
}

static void
remember_view(SeqHigh *h, Snapshot snap)
{
	TransactionId *xip = h->snap.xip;
	TransactionId *subxip = h->snap.subxip;

	if (snap->xcnt > h->xip_alloc)
	{
		xip = MemoryContextAlloc(TopMemoryContext, sizeof(TransactionId) * snap->xcnt);
		if (h->snap.xip)
			pfree(h->snap.xip);
		h->xip_alloc = snap->xcnt;
	}
	if (snap->subxcnt > h->subxip_alloc)
	{
		subxip = MemoryContextAlloc(TopMemoryContext, sizeof(TransactionId) * snap->subxcnt);
		if (h->snap.subxip)
			pfree(h->snap.subxip);
		h->subxip_alloc = snap->subxcnt;
	}
	h->snap = *snap;
	h->snap.xip = xip;
	h->snap.subxip = subxip;
	if (snap->xcnt > 0)
		memcpy(xip, snap->xip, sizeof(TransactionId) * snap->xcnt);
	if (snap->subxcnt > 0)
		memcpy(subxip, snap->subxip, sizeof(TransactionId) * snap->subxcnt);
	h->lxid = MyProc->lxid;
}

static int64
visible_seq_high(Relation rel, Relation idx, Snapshot snap)
{
	SeqHigh    *h;
	IndexScanDesc scan;
	TupleTableSlot *slot;

	if (snap->snapshot_type != SNAPSHOT_MVCC)
		return PG_INT64_MAX;	/* always probe */
	for (int i = 0; i < SEQ_HIGH_SLOTS; i++)
	{
		h = &seq_high[i];
		if (h->relid == RelationGetRelid(rel) && same_view(h, snap))
			return h->high;
	}
	h = &seq_high[seq_high_next];
	seq_high_next = (seq_high_next + 1) % SEQ_HIGH_SLOTS;
	h->relid = InvalidOid;		/* until it is filled in */
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	h->high = PG_INT64_MIN;
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;

		h->high = DatumGetInt64(slot_getattr(slot, Anum_row_seq, &isnull));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	remember_view(h, snap);
	h->relid = RelationGetRelid(rel);
	return h->high;
}

/* After a remote record's row went in: its digest delta and write count; what was opened is closed. */
static void
stored(const TlLog *log, const TlSegment *seg, Relation rel, CatalogIndexState ind, bool kept,
	   HeapTuple tup, const TlRecord *rec)
{
	heap_freetuple(tup);
	if (!kept)
		CatalogCloseIndexes(ind);
	tl_digest_note_append(seg->segment_id, tl_leaf_of(rec->ts, seg->range_start, log->interval_us), rec);
	tl_stats_count_writes(seg->segment_id, 1, true);
	table_close(rel, NoLock);
}

/*
 * Store a record that another node originated (its origin, seq, ts and rid are its own), unless
 * its identity (origin, seq) is already here, in the segment's relation or its frames: then
 * nothing is written, and *existing gets the rid found (TL_APPLY_DUPLICATE if it is the same,
 * TL_APPLY_CONFLICT if not: the same record with other content on two nodes is damage). The
 * caller has checked the record's rid against its content.
 */
TlApplyResult
tl_apply_record(const TlLog *log, TlRecord *rec, TlRid *existing)
{
	TlSegment	seg;
	Relation	rel;
	HeapTuple	tup;
	CatalogIndexState ind;
	IdentityIndex id;
	Snapshot	snap;
	ItemPointerData tid;
	bool		found;
	bool		kept;

	check_writable(false);
	tl_check_key(rec->key);
	tl_check_payload(rec->payload);
	tl_check_source(rec->source);
	tl_check_ts(log, rec->ts);
	tl_hlc_observe(rec->ts);
	rel = open_segment_for_append(log, rec->ts, &seg);
	ind = apply_indexes(rel, &kept);
	id = identity_index(ind);
	tup = tl_row_form(RelationGetDescr(rel), rec, seg.gen_base);
	/*
	 * Most records are not here yet. Where the relation's one index is the identity index and no
	 * frames hold rows of the segment, the row goes in first, and the index says whether the
	 * identity may already be here (committed, or by a transaction in progress, this one
	 * included): only then is it looked up, the row taken out again, and inserted as below if it
	 * turns out to be missing after all (a transaction that rolled back, or one still running,
	 * which the unique check then waits for).
	 */
	if (id.idx != NULL && id.by_key && ind->ri_NumIndices == 1 && seg.archive_attempt == 0 &&
		insert_row_unless_duplicate(rel, ind, kept, tup))
	{
		stored(log, &seg, rel, ind, kept, tup, rec);
		return TL_APPLY_STORED;
	}
	snap = GetActiveSnapshot();
	/* an earlier build's (seq, origin) index: a seq above the greatest there needs no probe */
	found = id.idx != NULL && (id.by_key || rec->seq <= visible_seq_high(rel, id.idx, snap)) &&
		relation_find_identity(rel, id, seg.gen_base, snap, rec, &tid, existing);
	if (!found && seg.archive_attempt != 0)
		found = tl_segment_find_identity(log, &seg, rec->ts, rec->key, rec->origin, rec->seq, existing);
	if (found)
	{
		heap_freetuple(tup);
		if (!kept)
			CatalogCloseIndexes(ind);
		table_close(rel, NoLock);
		return memcmp(existing->bytes, rec->rid.bytes, TL_RID_LEN) == 0
			? TL_APPLY_DUPLICATE : TL_APPLY_CONFLICT;
	}
	insert_row(rel, ind, kept, tup);
	stored(log, &seg, rel, ind, kept, tup, rec);
	return TL_APPLY_STORED;
}

/*
 * Replace this node's copy of a record (same identity, other content: damage) by `rec`, the copy
 * its origin vouches for. Only a copy in the segment's relation can be replaced; one held in
 * archive frames is left alone (returns false) and stays quarantined. Called after
 * tl_apply_record() reported TL_APPLY_CONFLICT, which it finds through the identity index: the
 * copy here has the record's key and ts, so the same index finds it again.
 */
bool
tl_replace_record(const TlLog *log, TlRecord *rec, const TlRid *old_rid)
{
	TlSegment	seg;
	Relation	rel;
	ItemPointerData tid;
	bool		found = false;
	HeapTuple	tup;
	CatalogIndexState ind;
	IdentityIndex id;
	TlRid		here;
	int			leaf;

	check_writable(false);
	rel = open_segment_for_append(log, rec->ts, &seg);
	ind = CatalogOpenIndexes(rel);
	id = identity_index(ind);
	if (id.idx != NULL)
		found = relation_find_identity(rel, id, seg.gen_base, GetActiveSnapshot(), rec, &tid, &here);
	CatalogCloseIndexes(ind);
	if (!found)
	{
		table_close(rel, NoLock);
		return false;
	}
	leaf = tl_leaf_of(rec->ts, seg.range_start, log->interval_us);
	(void) tl_tuple_delete(rel, &tid, false);	/* 40001 if a concurrent replacement came first */
	CommandCounterIncrement();
	tl_digest_note_remove(seg.segment_id, leaf, old_rid, rec->logical_bytes);
	tup = tl_row_form(RelationGetDescr(rel), rec, seg.gen_base);
	ind = CatalogOpenIndexes(rel);
	tl_tuple_insert(rel, ind, tup, 0, NULL);
	CatalogCloseIndexes(ind);
	tl_digest_note_append(seg.segment_id, leaf, rec);
	table_close(rel, NoLock);
	return true;
}
