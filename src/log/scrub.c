/*-------------------------------------------------------------------------
 * scrub.c
 *		The content scrub. Digests are sums of rids, so a row whose payload was changed in place
 *		while its stored rid stayed (a hand edit, bit rot under a page without a checksum) looks
 *		intact to every digest comparison. The scrub re-hashes every row of a segment relation
 *		and compares the result with the stored rid. A row that no longer matches is moved into
 *		tieredlog.quarantine (via 'scrub', both rids and the damaged content) and deleted from
 *		its segment, and the digest loses its rid: the segment now lacks exactly that record, so
 *		the next reconciliation fetches an intact copy from a peer, and the quarantine entry is
 *		marked resolved when it arrives (quarantine.c). Nothing is repaired from this node alone.
 *
 *		Rows in archive frames carry no stored rid (it is recomputed from their content when
 *		they are read) and every frame has a checksum, which decoding checks: scrubbing a tier 2
 *		segment decodes every frame, and a frame that fails its checksum is an error.
 *
 *		Two records of one segment with the same identity (origin, seq) but different content,
 *		each matching its own rid, are both intact by that test: one name for two records. No
 *		node writes such a pair (a node's seq comes from its sequence, a restored node moves past
 *		its peers), but a sequence set back by hand or a forged record does, and the segment's
 *		one index (key, origin, ts, seq) does not refuse it when key or ts differ. The scrub sorts
 *		every intact row's (origin, seq) (tuplesort, within maintenance_work_mem, spilling to
 *		disk beyond it) and reports each identity held twice with a WARNING (data_corrupted); it
 *		takes neither copy out, since nothing here tells which one is the record.
 *
 *		The worker scrubs one segment per cycle whose last scrub is older than
 *		tieredlog.scrub_interval (tasks.c, policy.c).
 *
 *		tl_segment_rows_checked() is the re-hashing row by row; remote.c uses it too, to look at
 *		this node's copy of a record a peer sent with other content.
 *
 * Locking: RowExclusiveLock on the segment relation for the whole scrub, taken before the rows
 * are read, so a move (which needs a ShareLock on it as its barrier) cannot copy the segment
 * between the check and the delete; appenders go on.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "executor/tuptable.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"
#include "utils/uuid.h"

#include "store/catalog.h"
#include "store/digest.h"
#include "log/quarantine.h"
#include "log/scrub.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "store/upkeep_store.h"
#include "core/shmem.h"
#include "core/tieredlog.h"

/* tieredlog.scrub_interval, seconds; 0: the worker does not scrub */

typedef struct DamagedRow
{
	ItemPointerData tid;
	TlRecord	rec;			/* as found; rid = what the content hashes to */
	TlRid		stored;
	char	   *payload_text;
} DamagedRow;

/* tl_segment_rows_checked: the caller's visitor, and whether it asked to stop. */
typedef struct CheckedRows
{
	const char *log_name;
	TlCheckedRowVisitor visit;
	void	   *arg;
	bool		stopped;
} CheckedRows;

static void
visit_checked(HeapTuple row, TupleDesc desc, void *arg)
{
	CheckedRows *c = arg;
	TlRecord	rec;
	TlRid		stored;
	bool		matches;

	if (c->stopped)
		return;
	matches = tl_row_matches_rid(row, desc, c->log_name, &rec, &stored);
	c->stopped = !c->visit(row, &rec, &stored, matches, c->arg);
}

/*
 * tl_segment_rows, each row decoded and re-hashed for `visit` (the scrub; the copy of a record
 * this node compares with a peer's, remote.c).
 */
void
tl_segment_rows_checked(const TlLog *log, const TlSegment *seg, Snapshot snap, TimestampTz from_ts,
						TimestampTz to_ts, text *key, TlCheckedRowVisitor visit, void *arg)
{
	CheckedRows c = {log->name, visit, arg, false};

	tl_segment_rows(log, seg, snap, from_ts, to_ts, key, visit_checked, &c);
}

/*
 * The identities (origin, seq) of a segment's intact rows, sorted to find any held twice (adjacent
 * equal ones after the sort). A segment has few origins: each gets a number, in the order first
 * seen. An identity whose origin number is below ID_PACKED_ORIGINS and whose seq lies in
 * [0, 2^ID_SEQ_BITS) (every seq a node hands out, in practice) is packed into one int8, number <<
 * ID_SEQ_BITS | seq, and sorted as a datum: no tuple per row, a third of the memory. Any other
 * identity goes to a second sort of (origin, seq) tuples, made when first needed. A given
 * identity always goes to the same sort, so every duplicate lies within one of them.
 */
#define ID_SEQ_BITS			48
#define ID_PACKED_ORIGINS	(1 << 15)

typedef struct IdentitySort
{
	Tuplesortstate *packed;		/* int8 datums */
	Tuplesortstate *other;		/* (origin text, seq int8) tuples, or NULL */
	TupleTableSlot *slot;		/* a row going into `other` (virtual) */
	TupleTableSlot *sorted;		/* a row coming out of `other` (minimal tuple) */
	List	   *origins;		/* origin names (char *), by number */
	int			last_origin;	/* the number of the previous row's origin, or -1 */
	MemoryContext row_cxt;		/* one row's origin text for `other`, reset per row */
	StringInfoData named;		/* the duplicates named so far */
	int64		duplicates;
} IdentitySort;

/* At most this many duplicate identities are named in the WARNING (all are counted). */
#define SCRUB_NAMED_DUPLICATES	10

static void
identity_sort_begin(IdentitySort *ids)
{
	memset(ids, 0, sizeof(*ids));
	ids->packed = tuplesort_begin_datum(INT8OID, Int8LessOperator, InvalidOid, false,
										maintenance_work_mem, NULL, TUPLESORT_NONE);
	ids->last_origin = -1;
	initStringInfo(&ids->named);
}

/* The sort of identities that cannot be packed, made on the first one. */
static void
identity_sort_other_begin(IdentitySort *ids)
{
	TupleDesc	desc = CreateTemplateTupleDesc(2);
	AttrNumber	cols[2] = {1, 2};
	Oid			ops[2] = {TextLessOperator, Int8LessOperator};
	Oid			colls[2] = {C_COLLATION_OID, InvalidOid};
	bool		nulls_first[2] = {false, false};

	TupleDescInitEntry(desc, 1, "origin", TEXTOID, -1, 0);
	TupleDescInitEntryCollation(desc, 1, C_COLLATION_OID);
	TupleDescInitEntry(desc, 2, "seq", INT8OID, -1, 0);
	ids->other = tuplesort_begin_heap(desc, 2, cols, ops, colls, nulls_first, maintenance_work_mem,
									  NULL, TUPLESORT_NONE);
	ids->slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	ids->sorted = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	ids->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tieredlog scrub identity",
										 ALLOCSET_SMALL_SIZES);
}

/* The number of an origin (the previous row's, most of the time). */
static int
origin_number(IdentitySort *ids, const char *origin)
{
	int			n = 0;
	ListCell   *lc;

	if (ids->last_origin >= 0 && strcmp(list_nth(ids->origins, ids->last_origin), origin) == 0)
		return ids->last_origin;
	foreach(lc, ids->origins)
	{
		if (strcmp(lfirst(lc), origin) == 0)
			return ids->last_origin = n;
		n++;
	}
	ids->origins = lappend(ids->origins, pstrdup(origin));
	return ids->last_origin = n;
}

static void
identity_sort_add(IdentitySort *ids, const TlRecord *rec)
{
	int			number = origin_number(ids, rec->origin);
	MemoryContext old;

	if (number < ID_PACKED_ORIGINS && rec->seq >= 0 && rec->seq < ((int64) 1 << ID_SEQ_BITS))
	{
		tuplesort_putdatum(ids->packed, Int64GetDatum(((int64) number << ID_SEQ_BITS) | rec->seq), false);
		return;
	}
	if (ids->other == NULL)
		identity_sort_other_begin(ids);
	old = MemoryContextSwitchTo(ids->row_cxt);
	ExecClearTuple(ids->slot);
	ids->slot->tts_values[0] = CStringGetTextDatum(rec->origin);
	ids->slot->tts_isnull[0] = false;
	ids->slot->tts_values[1] = Int64GetDatum(rec->seq);
	ids->slot->tts_isnull[1] = false;
	ExecStoreVirtualTuple(ids->slot);
	tuplesort_puttupleslot(ids->other, ids->slot);
	MemoryContextSwitchTo(old);
	MemoryContextReset(ids->row_cxt);
}

static void
note_duplicate(IdentitySort *ids, const char *origin, int64 seq)
{
	if (ids->duplicates++ < SCRUB_NAMED_DUPLICATES)
		appendStringInfo(&ids->named, "%s%s:%lld", ids->named.len > 0 ? ", " : "", origin,
						 (long long) seq);
}

static void
find_packed_duplicates(IdentitySort *ids)
{
	Datum		value;
	bool		isnull;
	int64		prev = -1;

	tuplesort_performsort(ids->packed);
	while (tuplesort_getdatum(ids->packed, true, &value, &isnull, NULL))
	{
		int64		id = DatumGetInt64(value);

		CHECK_FOR_INTERRUPTS();
		if (id == prev)
			note_duplicate(ids, list_nth(ids->origins, (int) (id >> ID_SEQ_BITS)),
						   id & (((int64) 1 << ID_SEQ_BITS) - 1));
		prev = id;
	}
	tuplesort_end(ids->packed);
}

static void
find_other_duplicates(IdentitySort *ids)
{
	char	   *prev_origin = NULL;
	int64		prev_seq = 0;

	tuplesort_performsort(ids->other);
	while (tuplesort_gettupleslot(ids->other, true, false, ids->sorted, NULL))
	{
		bool		isnull;
		char	   *origin = TextDatumGetCString(slot_getattr(ids->sorted, 1, &isnull));
		int64		seq = DatumGetInt64(slot_getattr(ids->sorted, 2, &isnull));

		CHECK_FOR_INTERRUPTS();
		if (prev_origin != NULL && seq == prev_seq && strcmp(origin, prev_origin) == 0)
		{
			note_duplicate(ids, origin, seq);
			pfree(origin);
			continue;
		}
		if (prev_origin != NULL)
			pfree(prev_origin);
		prev_origin = origin;
		prev_seq = seq;
	}
	tuplesort_end(ids->other);
	ExecDropSingleTupleTableSlot(ids->slot);
	ExecDropSingleTupleTableSlot(ids->sorted);
	MemoryContextDelete(ids->row_cxt);
}

/*
 * Sort the identities and report those held more than once (one WARNING for the segment);
 * returns how many rows repeat an identity an earlier row has.
 */
static int64
identity_sort_report(IdentitySort *ids, const TlLog *log, const TlSegment *seg)
{
	find_packed_duplicates(ids);
	if (ids->other != NULL)
		find_other_duplicates(ids);
	if (ids->duplicates > 0)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment %lld of log \"%s\" holds %lld record(s) with the identity (origin, seq) of another of its records",
						(long long) seg->segment_id, log->name, (long long) ids->duplicates),
				 errdetail("Identities held more than once: %s%s.", ids->named.data,
						   ids->duplicates > SCRUB_NAMED_DUPLICATES ? ", ..." : ""),
				 errhint("Each copy matches its own rid, so the scrub keeps both; compare them with tieredlog.read() and with a peer's copy, and delete the wrong one.")));
	pfree(ids->named.data);
	list_free_deep(ids->origins);
	return ids->duplicates;
}

typedef struct ScrubState
{
	int64		checked;
	List	   *damaged;
	IdentitySort ids;
} ScrubState;

static bool
visit_check_row(HeapTuple row, const TlRecord *rec, const TlRid *stored, bool matches, void *arg)
{
	ScrubState *st = arg;
	DamagedRow *d;

	CHECK_FOR_INTERRUPTS();
	st->checked++;
	if (matches)
	{
		identity_sort_add(&st->ids, rec);
		return true;
	}
	/* the record points into the scan's buffer: keep copies */
	d = palloc0(sizeof(DamagedRow));
	d->tid = row->t_self;
	d->rec = *rec;
	d->rec.key = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(rec->key));
	d->rec.payload = (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(rec->payload));
	d->rec.source = rec->source ? (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(rec->source)) : NULL;
	d->stored = *stored;
	d->payload_text = JsonbToCString(NULL, &d->rec.payload->root, VARSIZE(d->rec.payload));
	st->damaged = lappend(st->damaged, d);
	return true;
}

/* Take a damaged row out of its segment: quarantine it, delete it, take its rid out of the digest. */
static void
take_out(Relation rel, const TlLog *log, const TlSegment *seg, const DamagedRow *d)
{
	tl_quarantine_insert(log->name, &d->rec, d->payload_text, &d->stored, NULL, "scrub", NULL, NULL);
	simple_heap_delete(rel, (ItemPointer) &d->tid);
	tl_digest_note_remove(seg->segment_id, tl_leaf_of(d->rec.ts, seg->range_start, log->interval_us),
						  &d->stored, d->rec.logical_bytes);
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("record %s:%lld of log \"%s\" no longer matches its rid; taken out of segment %lld",
					d->rec.origin, (long long) d->rec.seq, log->name, (long long) seg->segment_id),
			 errdetail("Its rid is %s, its content hashes to %s.", tl_rid_to_hex(&d->stored),
					   tl_rid_to_hex(&d->rec.rid)),
			 errhint("The damaged version is in tieredlog.quarantine; reconciliation with a peer restores the record.")));
}

static void
note_scrubbed(int64 segment_id)
{
	TlAsOwner	save;

	tl_become_owner(&save);
	tl_segment_note_scrubbed(segment_id);
	tl_restore_user(&save);
}

/* Open the segment's relation for the scrub, with a catalog entry that is current under the lock. */
static Relation
open_for_scrub(int64 segment_id, TlSegment *seg)
{
	for (int attempt = 0; attempt < 10; attempt++)
	{
		uint64		gen = tl_catalog_generation();
		Relation	rel;

		if (!tl_catalog_get_segment(segment_id, seg))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("segment %lld does not exist", (long long) segment_id)));
		if (!OidIsValid(seg->relid))
			return NULL;
		if ((rel = tl_segment_lock_relation(seg, gen, RowExclusiveLock, false)) != NULL)
			return rel;
		CommandCounterIncrement();
	}
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("segment %lld kept moving while it was scrubbed", (long long) segment_id),
			 errhint("Run the scrub again.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * Scrub one segment: every row re-hashed (and every frame decoded, its checksum checked).
 * Returns the records checked; *damaged gets how many rows were taken out.
 */
int64
tl_scrub_segment(int64 segment_id, int64 *damaged)
{
	TlSegment	seg;
	TlLog		log;
	Relation	rel;
	Snapshot	snap;
	ScrubState	st = {0, NIL};
	ListCell   *lc;

	PreventCommandIfReadOnly("tieredlog.scrub()");
	PreventCommandDuringRecovery("tieredlog.scrub()");
	rel = open_for_scrub(segment_id, &seg);
	if (!tl_catalog_find_log_by_id(seg.log_id, &log))
		elog(ERROR, "segment %lld has no log", (long long) segment_id);
	snap = RegisterSnapshot(GetLatestSnapshot());
	PushActiveSnapshot(snap);
	identity_sort_begin(&st.ids);
	tl_segment_rows_checked(&log, &seg, snap, DT_NOBEGIN, DT_NOEND, NULL, visit_check_row, &st);
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	(void) identity_sort_report(&st.ids, &log, &seg);
	/* rows from frames have rids computed from their content: only relation rows can be damaged */
	foreach(lc, st.damaged)
		take_out(rel, &log, &seg, lfirst(lc));
	if (rel != NULL)
		table_close(rel, NoLock);
	note_scrubbed(segment_id);
	*damaged = list_length(st.damaged);
	return st.checked;
}
