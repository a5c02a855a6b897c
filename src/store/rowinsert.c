/*-------------------------------------------------------------------------
 * rowinsert.c
 *		Inserting a heap tuple and its index entries without the executor: what PostgreSQL's
 *		CatalogTupleInsertWithInfo() does, with heap_insert()'s options and bulk-insert state;
 *		and deleting one with an answer for a row another transaction deleted first.
 *
 * Two callers need more than CatalogTupleInsertWithInfo() offers:
 *   - digest cells (digest.c, digest_store.c) are this node's own bookkeeping, which no output
 *     plugin needs: they are written with HEAP_INSERT_NO_LOGICAL, so that logical decoding does
 *     not queue and replay a second change for every one-record append transaction;
 *   - the apply worker (log/append.c) keeps a bulk-insert state on the segment it writes, so
 *     that consecutive records do not look up and pin the target page again;
 *   - append_many's batches (log/append.c) go in with one heap_multi_insert, and their index
 *     entries must point where a row that had to be TOASTed really went (see
 *     tl_tuples_multi_insert).
 * The indexes must be plain (no expressions, no predicate), as those of segment relations and
 * tieredlog's tables are; anything else is refused rather than indexed wrongly.
 *
 * Locking: the caller holds RowExclusiveLock on the relation and has opened its indexes
 * (CatalogOpenIndexes); page locks are taken and released inside heap_insert and index_insert.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"

#include "store/rowinsert.h"

/*
 * The index entries of the heap tuple in `slot`, just inserted at `tid`, in every index of `ind`.
 * Unique indexes are checked as `unique_check` says: UNIQUE_CHECK_YES (wait for an inserter in
 * progress, raise 23505 on a duplicate) or UNIQUE_CHECK_PARTIAL (never wait or raise: false when
 * an entry that may be a duplicate exists, committed or not; the entry is inserted all the same).
 */
static bool
insert_slot_index_entries(CatalogIndexState ind, TupleTableSlot *slot, ItemPointer tid,
						  IndexUniqueCheck unique_check)
{
	Relation	rel = ind->ri_RelationDesc;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	bool		unique = true;

	for (int i = 0; i < ind->ri_NumIndices; i++)
	{
		IndexInfo  *info = ind->ri_IndexRelationInfo[i];
		Relation	index = ind->ri_IndexRelationDescs[i];

		if (!info->ii_ReadyForInserts)
			continue;
		if (info->ii_Expressions != NIL || info->ii_Predicate != NIL || info->ii_ExclusionOps != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("index \"%s\" of \"%s\" has expressions, a predicate or exclusion constraints",
							RelationGetRelationName(index), RelationGetRelationName(rel)),
					 errhint("tieredlog's own relations carry plain indexes only; drop the index.")));
		FormIndexDatum(info, slot, NULL, values, isnull);
		if (!index_insert(index, values, isnull, tid, rel,
						  index->rd_index->indisunique ? unique_check : UNIQUE_CHECK_NO,
						  false, info) && index->rd_index->indisunique)
			unique = false;
	}
	return unique;
}

/* As insert_slot_index_entries, for a heap tuple just inserted (tup->t_self set). */
static bool
insert_index_entries(CatalogIndexState ind, HeapTuple tup, IndexUniqueCheck unique_check)
{
	TupleTableSlot *slot;
	bool		unique;

	if (ind->ri_NumIndices == 0)
		return true;
	slot = MakeSingleTupleTableSlot(RelationGetDescr(ind->ri_RelationDesc), &TTSOpsHeapTuple);
	ExecStoreHeapTuple(tup, slot, false);
	unique = insert_slot_index_entries(ind, slot, &tup->t_self, unique_check);
	ExecDropSingleTupleTableSlot(slot);
	return unique;
}

/*
 * Insert `tup` into `rel` (heap_insert with `options` and `bistate`, which may be NULL) and its
 * entries into the indexes `ind` holds open.
 */
void
tl_tuple_insert(Relation rel, CatalogIndexState ind, HeapTuple tup, int options, BulkInsertState bistate)
{
	heap_insert(rel, tup, GetCurrentCommandId(true), options, bistate);
	insert_index_entries(ind, tup, UNIQUE_CHECK_YES);
}

/*
 * As tl_tuple_insert, but a unique index that may already hold the tuple's key does not wait or
 * raise an error: the function returns false, and the caller deletes the tuple (its index
 * entries stay, pointing at a tuple dead to everyone, until vacuum) or keeps it knowingly.
 */
bool
tl_tuple_insert_unless_duplicate(Relation rel, CatalogIndexState ind, HeapTuple tup, int options,
								 BulkInsertState bistate)
{
	heap_insert(rel, tup, GetCurrentCommandId(true), options, bistate);
	return insert_index_entries(ind, tup, UNIQUE_CHECK_PARTIAL);
}

/*
 * Insert the tuples in `slots` into `rel` with one heap_multi_insert (`options`, `bistate`) and
 * their entries into the indexes `ind` holds open, unique indexes checked (UNIQUE_CHECK_YES).
 * Each entry points at the TID heap_multi_insert gave its slot (tts_tid): a row it had to TOAST
 * was written as a new tuple, and the slot's own tuple never learns where (PostgreSQL's
 * CatalogTuplesMultiInsertWithInfo reads that stale t_self, so it is not used here).
 */
void
tl_tuples_multi_insert(Relation rel, CatalogIndexState ind, TupleTableSlot **slots, int n, int options,
					   BulkInsertState bistate)
{
	if (n <= 0)
		return;
	heap_multi_insert(rel, slots, n, GetCurrentCommandId(true), options, bistate);
	for (int i = 0; i < n; i++)
		insert_slot_index_entries(ind, slots[i], &slots[i]->tts_tid, UNIQUE_CHECK_YES);
}

/*
 * Delete the tuple at `tid` of `rel`, as simple_heap_delete() does, but with an answer a caller
 * can act on when another transaction got there first: heap_delete waits for a deleter still in
 * progress; if it committed (the row is deleted or replaced), the function returns false when
 * `gone_ok` (the caller wanted the row gone and it is), else raises 40001, as the executor does
 * for a row deleted under a snapshot that still saw it. A row this transaction already deleted
 * counts as gone when `gone_ok`, and is an internal error otherwise (a caller's own bug).
 * (simple_heap_delete raises an internal error, XX000, in every case.)
 */
bool
tl_tuple_delete(Relation rel, ItemPointer tid, bool gone_ok)
{
	TM_FailureData tmfd;
	TM_Result	result;

	result = heap_delete(rel, tid, GetCurrentCommandId(true), InvalidSnapshot, true, &tmfd, false);
	switch (result)
	{
		case TM_Ok:
			return true;
		case TM_SelfModified:
			if (gone_ok)
				return false;
			elog(ERROR, "row of \"%s\" already deleted by this transaction", RelationGetRelationName(rel));
			break;
		case TM_Updated:
		case TM_Deleted:
			if (gone_ok)
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent delete"),
					 errdetail("A row of \"%s\" was deleted by another transaction after this one read it.",
							   RelationGetRelationName(rel)),
					 errhint("Retry the operation.")));
			break;
		default:
			elog(ERROR, "unexpected heap_delete status: %u", result);
	}
	return false;				/* keep compiler quiet */
}
