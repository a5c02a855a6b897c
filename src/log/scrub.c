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
 *		one index ([gen,] key, origin, ts, seq) does not refuse it when key or ts differ. The scrub sorts
 *		every intact row's (origin, seq) (core/identity_sort.c) and reports each identity held
 *		twice with a WARNING (data_corrupted); it takes neither copy out, since nothing here
 *		tells which one is the record.
 *
 *		The worker scrubs one segment per cycle whose last scrub is older than
 *		tieredlog.scrub_interval (tasks.c, policy.c).
 *
 *		tl_segment_rows_checked() is the re-hashing row by row; remote.c uses it too, to look at
 *		this node's copy of a record a peer sent with other content.
 *
 * Locking: RowExclusiveLock on the segment relation for the whole scrub, taken before the rows
 * are read, so a move (which needs a ShareLock on it as its barrier) cannot copy the segment
 * between the check and the delete; appenders go on. Two scrubs of one segment at once may find
 * the same damaged row: the second waits on the first's delete, and once that commits leaves the
 * row alone (no second quarantine entry, WARNING or digest change).
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
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "store/catalog.h"
#include "store/digest.h"
#include "log/quarantine.h"
#include "log/scrub.h"
#include "store/segment.h"
#include "store/rowinsert.h"
#include "store/segrows.h"
#include "store/upkeep_store.h"
#include "core/identity_sort.h"
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

/* At most this many duplicate identities are named in the WARNING (all are counted). */
#define SCRUB_NAMED_DUPLICATES	10

/*
 * Report the identities held more than once among those fed to `ids` (one WARNING for the
 * segment); returns how many rows repeat an identity an earlier row has.
 */
static int64
report_duplicate_identities(TlIdentitySort *ids, const TlLog *log, const TlSegment *seg)
{
	char	   *named;
	int64		duplicates = tl_identity_sort_finish(ids, SCRUB_NAMED_DUPLICATES, &named);

	if (duplicates > 0)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment %lld of log \"%s\" holds %lld record(s) with the identity (origin, seq) of another of its records",
						(long long) seg->segment_id, log->name, (long long) duplicates),
				 errdetail("Identities held more than once: %s%s.", named,
						   duplicates > SCRUB_NAMED_DUPLICATES ? ", ..." : ""),
				 errhint("Each copy matches its own rid, so the scrub keeps both; compare them with tieredlog.read() and with a peer's copy, and delete the wrong one.")));
	pfree(named);
	return duplicates;
}

typedef struct ScrubState
{
	int64		checked;
	List	   *damaged;
	TlIdentitySort *ids;		/* the intact rows' identities */
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
		tl_identity_sort_add(st->ids, rec->origin, rec->seq);
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

/*
 * Take a damaged row out of its segment: delete it, quarantine it, take its rid out of the digest.
 * False if a concurrent scrub (or repair) took it out first: then nothing is done twice.
 */
static bool
take_out(Relation rel, const TlLog *log, const TlSegment *seg, const DamagedRow *d)
{
	if (!tl_tuple_delete(rel, (ItemPointer) &d->tid, true))
		return false;
	tl_quarantine_insert(log->name, &d->rec, d->payload_text, &d->stored, NULL, "scrub", NULL, NULL);
	tl_digest_note_remove(seg->segment_id, tl_leaf_of(d->rec.ts, seg->range_start, log->interval_us),
						  &d->stored, d->rec.logical_bytes);
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("record %s:%lld of log \"%s\" no longer matches its rid; taken out of segment %lld",
					d->rec.origin, (long long) d->rec.seq, log->name, (long long) seg->segment_id),
			 errdetail("Its rid is %s, its content hashes to %s.", tl_rid_to_hex(&d->stored),
					   tl_rid_to_hex(&d->rec.rid)),
			 errhint("The damaged version is in tieredlog.quarantine; reconciliation with a peer restores the record.")));
	return true;
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
	int64		taken_out = 0;

	PreventCommandIfReadOnly("tieredlog.scrub()");
	PreventCommandDuringRecovery("tieredlog.scrub()");
	rel = open_for_scrub(segment_id, &seg);
	if (!tl_catalog_find_log_by_id(seg.log_id, &log))
		elog(ERROR, "segment %lld has no log", (long long) segment_id);
	snap = RegisterSnapshot(GetLatestSnapshot());
	PushActiveSnapshot(snap);
	st.ids = tl_identity_sort_begin();
	tl_segment_rows_checked(&log, &seg, snap, DT_NOBEGIN, DT_NOEND, NULL, visit_check_row, &st);
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	(void) report_duplicate_identities(st.ids, &log, &seg);
	/* rows from frames have rids computed from their content: only relation rows can be damaged */
	foreach(lc, st.damaged)
		taken_out += take_out(rel, &log, &seg, lfirst(lc)) ? 1 : 0;
	if (rel != NULL)
		table_close(rel, NoLock);
	note_scrubbed(segment_id);
	*damaged = taken_out;
	return st.checked;
}
