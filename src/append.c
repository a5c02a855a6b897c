/*-------------------------------------------------------------------------
 * append.c
 *		The append path: validate, stamp (HLC ts, origin, seq, rid), insert into the segment
 *		relation, note the digest delta.
 *
 * Rows go straight into the segment's heap and indexes (heap_insert / heap_multi_insert through
 * the catalog-tuple helpers), bypassing the executor: no triggers, rules or row security apply to
 * segment relations, and EXECUTE on the tieredlog functions is the permission that matters.
 *
 * Locking: RowExclusiveLock on the segment relation, held to the end of the transaction.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/heapam.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "commands/sequence.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "append.h"
#include "catalog.h"
#include "digest.h"
#include "segrows.h"
#include "stats.h"
#include "tier.h"
#include "tieredlog.h"
#include "validate.h"

#define TL_MULTI_INSERT_MAX	1000

static Oid	local_seq_relid = InvalidOid;
static uint64 local_seq_generation = 0;

static int64
next_local_seq(void)
{
	if (!OidIsValid(local_seq_relid) || local_seq_generation != tl_catalog_generation())
	{
		local_seq_relid = tl_catalog_relid("local_seq");
		local_seq_generation = tl_catalog_generation();
	}
	return nextval_internal(local_seq_relid, false);
}

/* Validate one input and turn it into a stamped record (everything but the segment). */
static void
prepare_record(const TlLog *log, const TlAppendInput *in, TlRecord *rec)
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
	rec->ts = in->has_ts ? in->ts : tl_hlc_now();
	rec->origin = tl_node_name();
	rec->seq = next_local_seq();
	tl_record_compute_rid(rec);
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
		rel = OidIsValid(seg->relid) ? try_table_open(seg->relid, RowExclusiveLock) : NULL;
		if (rel != NULL && gen == tl_catalog_generation())
			return rel;
		if (rel != NULL)
			table_close(rel, NoLock);
		tl_segment_cache_reset();
	}
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("segment of log \"%s\" kept moving while a record was appended to it", log->name),
			 errhint("Retry the append.")));
	return NULL;				/* keep compiler quiet */
}

static void
check_writable(void)
{
	tl_require_preload();
	PreventCommandIfReadOnly("tieredlog append");
	PreventCommandDuringRecovery("tieredlog append");
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

	check_writable();
	prepare_record(log, in, &rec);
	rel = open_segment_for_append(log, rec.ts, &seg);
	tup = tl_row_form(RelationGetDescr(rel), &rec);
	ind = CatalogOpenIndexes(rel);
	CatalogTupleInsertWithInfo(rel, tup, ind);
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

	for (int i = 0; i < nslots; i++)
		slots[i] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	for (int done = 0; done < n;)
	{
		int			chunk = Min(n - done, TL_MULTI_INSERT_MAX);

		for (int i = 0; i < chunk; i++)
			ExecStoreHeapTuple(tl_row_form(desc, &recs[done + i]), slots[i], true);
		CatalogTuplesMultiInsertWithInfo(rel, slots, chunk, ind);
		for (int i = 0; i < chunk; i++)
		{
			TlRecord   *rec = &recs[done + i];

			tl_digest_note_append(seg->segment_id,
								  tl_leaf_of(rec->ts, seg->range_start, log->interval_us), rec);
			ExecClearTuple(slots[i]);
		}
		done += chunk;
	}
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

	check_writable();
	if (n == 0)
		return 0;
	recs = palloc(sizeof(TlRecord) * n);
	for (int i = 0; i < n; i++)
		prepare_record(log, &in[i], &recs[i]);
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
