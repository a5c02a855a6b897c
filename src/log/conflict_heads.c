/*-------------------------------------------------------------------------
 * conflict_heads.c
 *		A key's heads: the newest record of each origin for it in a time range, read through the
 *		segment index ([gen,] key, origin, ts) backward, in each generation present (segrows.h),
 *		one descent for a key with few rows and about two per origin for a key written often (a
 *		segment without that index, or in archive frames, is read whole); and the segments of a range, remembered per transaction (an absent window is
 *		looked up again once another transaction has completed or this backend has created a
 *		segment; a rolled-back subtransaction forgets them). Reading for a record that
 *		reconciliation brings, a key whose records in a segment come from more origins than
 *		tieredlog.max_key_origins is an error (54000): counted while the index is walked, so
 *		the walk stops there; a segment read whole (no index, or frames) counts the origins
 *		within the range after reading it.
 *
 * Locking: segment relations and their indexes are opened with AccessShareLock for a scan.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "access/xact.h"
#include "access/transam.h"
#include "storage/lwlock.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/rel.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "common/hashfn.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "log/append.h"
#include "log/causal.h"
#include "store/catalog.h"
#include "log/conflict.h"
#include "log/conflict_int.h"
#include "core/safe_spi.h"
#include "core/xact.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "core/tieredlog.h"

/* ---- detection ---------------------------------------------------------------------------- */

void
tl_cf_visit_candidate(HeapTuple row, TupleDesc desc, void *arg)
{
	Candidates *c = arg;
	bool		isnull;
	char	   *origin = TextDatumGetCString(heap_getattr(row, Anum_row_origin, desc, &isnull));
	TimestampTz ts = DatumGetTimestampTz(heap_getattr(row, Anum_row_ts, desc, &isnull));
	int64		seq = DatumGetInt64(heap_getattr(row, Anum_row_seq, desc, &isnull));
	ListCell   *lc;

	c->newest_ts = Max(c->newest_ts, ts);
	if (c->skip_origin && strcmp(origin, c->skip_origin) == 0)
		return;
	if (c->newest_per_origin)
	{
		/* one origin's newest: by ts (explicit event times may come in any order), then seq */
		foreach(lc, c->sides)
		{
			TlSide	   *n = lfirst(lc);

			if (strcmp(n->origin, origin) != 0)
				continue;
			if (ts < n->ts || (ts == n->ts && seq <= n->seq))
			{
				pfree(origin);
				return;
			}
			/* superseded: its copies go (rows in ts order replace the head at every row) */
			c->sides = foreach_delete_current(c->sides, lc);
			tl_cf_side_free_row(n);
			break;
		}
	}
	pfree(origin);
	if (c->desc_seen != desc)
	{
		c->desc_seen = desc;
		c->desc_copy = CreateTupleDescCopy(desc);
	}
	c->sides = lappend(c->sides, tl_cf_side_from_row(row, c->desc_copy, c->seg));
}

/*
 * Which segments exist, and their ([gen,] key, origin, ts) index, remembered for the rest of the transaction:
 * the apply worker checks every record of a batch in one transaction, and rows committed after
 * its snapshot are invisible to it anyway. The window of the record being checked is looked up
 * again if it was absent (its own insert may have just created the segment).
 */
typedef struct WindowKey
{
	int32		log_id;
	TimestampTz range_start;
} WindowKey;

typedef struct WindowEntry
{
	WindowKey	key;
	bool		exists;
	TlSegment	seg;
	Oid			key_index;		/* InvalidOid: not looked up yet, or none */
	bool		index_known;
	uint64		absent_completions; /* absent: transactions completed on the server ... */
	uint64		absent_created; /* ... and segments this backend had created, before the lookup */
} WindowEntry;

/* A subtransaction that rolls back may have created segments: the cache forgets what was learnt (user reconcile() in a savepoint). */
static TlXactMemo window_cache = TL_XACT_MEMO("tieredlog conflict windows", WindowKey, WindowEntry);

/*
 * The segment of the window starting at `start`, if it exists. Not in the segment cache, it is
 * looked up through a fresh snapshot taken after `completions` (transactions completed on the
 * server, read by the caller) and the count of segments this backend created: while neither moves,
 * no segment can have appeared in that window since, so an absent window need not be looked up
 * again (that was a catalog descent per absent window and record).
 */
static bool
lookup_window(const TlLog *log, TimestampTz start, TlSegment *seg, uint64 completions,
			  WindowEntry *e)
{
	Snapshot	snap;
	List	   *segs;

	if (tl_segment_lookup(log, start, seg))
		return true;
	e->absent_completions = completions;
	e->absent_created = tl_catalog_segments_created();
	snap = RegisterSnapshot(GetLatestSnapshot());
	segs = tl_catalog_log_segments(log->log_id, start, start + 1, snap);
	UnregisterSnapshot(snap);
	if (segs == NIL)
		return false;
	*seg = *(TlSegment *) linitial(segs);
	list_free_deep(segs);
	return true;
}

/* Is a window found absent still absent? (See lookup_window.) */
static bool
still_absent(const WindowEntry *e, uint64 completions)
{
	return e->absent_created == tl_catalog_segments_created() && e->absent_completions == completions;
}

static WindowEntry *
window_entry(const TlLog *log, TimestampTz start, bool refresh_if_absent, uint64 completions)
{
	WindowKey	key;
	WindowEntry *e;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.log_id = log->log_id;
	key.range_start = start;
	e = hash_search(tl_xact_memo(&window_cache, true), &key, HASH_ENTER, &found);
	if (!found || (refresh_if_absent && !e->exists && !still_absent(e, completions)))
	{
		e->exists = lookup_window(log, start, &e->seg, completions, e);
		e->index_known = false;
		e->key_index = InvalidOid;
	}
	return e;
}

static bool
cached_index(struct WindowEntry *e, Oid *idx)
{
	*idx = e->key_index;
	return e->index_known;
}

static void
remember_index(struct WindowEntry *e, Oid idx)
{
	e->key_index = idx;
	e->index_known = true;
}

/*
 * The segments of the log overlapping [from_ts, to_ts), as window entries (cached for the
 * transaction when the range spans few windows); `own_ts`'s window is looked up again if it
 * was absent (its own insert may have just created the segment).
 */
static List *
window_segments(const TlLog *log, TimestampTz from_ts, TimestampTz to_ts)
{
	List	   *segs = NIL;
	TimestampTz start = tl_window_start(from_ts, log->interval_us);
	uint64		completions;

	if ((to_ts - start) / log->interval_us > 8)
	{
		ListCell   *lc;

		foreach(lc, tl_catalog_log_segments(log->log_id, from_ts, to_ts, GetLatestSnapshot()))
		{
			WindowEntry *e = palloc0(sizeof(WindowEntry));

			e->exists = true;
			e->seg = *(TlSegment *) lfirst(lc);
			segs = lappend(segs, e);
		}
		return segs;
	}
	completions = tl_cf_completed_transactions();
	for (TimestampTz w = start; w < to_ts; w += log->interval_us)
	{
		/*
		 * An absent window is looked up again once a transaction has completed (or this backend
		 * created a segment): heads are read through a fresh snapshot.
		 */
		WindowEntry *e = window_entry(log, w, true, completions);

		if (e->exists)
			segs = lappend(segs, e);
	}
	return segs;
}

/* Records of the key with ts in [from_ts, to_ts), all origins (latest()). */
List *
tl_cf_key_records(const TlLog *log, text *key, TimestampTz from_ts, TimestampTz to_ts, bool newest_per_origin)
{
	Candidates	c = {NULL, newest_per_origin, NULL, NULL, NULL, DT_NOBEGIN, NIL, NULL};
	List	   *segs = tl_catalog_log_segments(log->log_id, from_ts, to_ts, GetActiveSnapshot());
	ListCell   *lc;

	foreach(lc, segs)
	{
		c.seg = lfirst(lc);
		tl_segment_rows(log, c.seg, GetActiveSnapshot(), from_ts, to_ts, key, tl_cf_visit_candidate, &c);
	}
	return c.sides;
}

/* ---- heads: the newest record of each origin for a key ------------------------------------ */

/* Is x newer than y (two records of one origin)? By ts (explicit event times may come in any order), then seq. */
bool
tl_cf_newer(const TlSide *x, const TlSide *y)
{
	return x->ts > y->ts || (x->ts == y->ts && x->seq > y->seq);
}

/* A copy of a head in the current memory context (the row itself is not kept). */
TlSide *
tl_cf_side_copy(const TlSide *s)
{
	Jsonb	   *payload = NULL;

	if (s->payload)
	{
		payload = palloc(VARSIZE(s->payload));
		memcpy(payload, s->payload, VARSIZE(s->payload));
	}
	return tl_cf_side_new(&s->rid, pstrdup(s->origin), s->seq, s->ts, s->source ? pstrdup(s->source) : NULL,
						  payload);
}

void
tl_cf_side_free(TlSide *s)
{
	pfree(s->origin);
	if (s->source)
		pfree(s->source);
	if (s->payload)
		pfree(s->payload);
	pfree(s);
}

/*
 * Put `s` into `heads` (one side per origin) unless that origin's head there is newer or is s;
 * a copy in the current memory context when `copy` (the copy it replaces is freed: the cache
 * lives as long as the transaction).
 */
List *
tl_cf_merge_head(List *heads, TlSide *s, bool copy)
{
	ListCell   *lc;

	foreach(lc, heads)
	{
		TlSide	   *h = lfirst(lc);

		if (strcmp(h->origin, s->origin) != 0)
			continue;
		if (tl_cf_newer(s, h))
		{
			lfirst(lc) = copy ? tl_cf_side_copy(s) : s;
			if (copy)
				tl_cf_side_free(h);
		}
		return heads;
	}
	return lappend(heads, copy ? tl_cf_side_copy(s) : s);
}

/*
 * The index of a segment relation on (gen, key, origin, ts, seq) (this build) or on (key, origin,
 * ts[, seq]) (earlier ones), or InvalidOid (a segment created before either existed).
 */
static Oid
heads_index(Relation rel)
{
	AttrNumber	gen_cols[4] = {Anum_row_gen, Anum_row_key, Anum_row_origin, Anum_row_ts};
	AttrNumber	cols[3] = {Anum_row_key, Anum_row_origin, Anum_row_ts};

	if (tl_row_has_gen(RelationGetDescr(rel)))
		return tl_index_on(rel, gen_cols, 4, false);
	return tl_index_on(rel, cols, 3, false);
}

/* A head read from its row; only its order (no payload, no source) for the origin named so. */
static TlSide *
head_from_row(HeapTuple tup, TupleDesc desc, bool order_only)
{
	return order_only ? tl_cf_head_order_from_row(tup, desc) : tl_cf_head_from_row(tup, desc);
}

/*
 * The newest row of (key, origin) with ts in [from_ts, to_ts), or NULL: one descent from the end
 * (of generation `gen`; TL_GEN_ALL: of the whole index).
 */
static TlSide *
newest_of_origin(Relation rel, Relation idx, int gen, Snapshot snap, text *key, const char *origin,
				 TimestampTz from_ts, TimestampTz to_ts, bool order_only)
{
	ScanKeyData sk[4];
	int			n = tl_segment_gen_scan_key(sk, gen);
	SysScanDesc scan;
	HeapTuple	tup;
	TupleDesc	desc = RelationGetDescr(rel);
	TlSide	   *best = NULL;

	ScanKeyInit(&sk[n], Anum_row_key, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(key));
	sk[n++].sk_collation = C_COLLATION_OID;
	ScanKeyInit(&sk[n], Anum_row_origin, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(origin));
	sk[n++].sk_collation = C_COLLATION_OID;
	ScanKeyInit(&sk[n++], Anum_row_ts, BTLessStrategyNumber, F_TIMESTAMP_LT, TimestampTzGetDatum(to_ts));
	scan = systable_beginscan_ordered(rel, idx, snap, n, sk);
	while (HeapTupleIsValid(tup = systable_getnext_ordered(scan, BackwardScanDirection)))
	{
		bool		isnull;
		TimestampTz ts = DatumGetTimestampTz(heap_getattr(tup, Anum_row_ts, desc, &isnull));
		int64		seq = DatumGetInt64(heap_getattr(tup, Anum_row_seq, desc, &isnull));

		if (ts < from_ts || (best && ts < best->ts))
			break;				/* out of the range, or past the rows that share the newest ts */
		if (best == NULL || seq > best->seq)
			best = head_from_row(tup, desc, order_only);
	}
	systable_endscan_ordered(scan);
	return best;
}

#define HEADS_STEPS		8		/* entries of one origin read for its head before its own descent */
#define HEADS_PAST		1		/* entries of one origin stepped over past its head before a new descent */

/*
 * One backward scan over the key's entries (below origin *below, if set): the index holds each
 * origin's rows as a group in ts order, so the first entries of a group met going backward hold
 * its head. A group is left by stepping over the entry that settles its head and HEADS_PAST more
 * (a key written a few times costs one descent in all, the end of the key's entries included);
 * then the scan stops and returns true with *below set to that origin, and the caller continues
 * below it with a new descent (a key written often costs about two per origin, as many heap
 * fetches). A group whose head is not settled within HEADS_STEPS entries (they share its newest
 * ts, or are after the range) has it read by newest_of_origin. The heads found are prepended to
 * *found (so that it ends in origin order).
 */
static bool
scan_heads_below(Relation rel, Relation idx, int gen, Snapshot snap, text *key, TimestampTz from_ts,
				 TimestampTz to_ts, const char *order_only_origin, char **below, List **found,
				 int *groups)
{
	ScanKeyData sk[3];
	int			n = tl_segment_gen_scan_key(sk, gen);
	SysScanDesc scan;
	HeapTuple	tup;
	TupleDesc	desc = RelationGetDescr(rel);
	char	   *group = NULL;
	TlSide	   *best = NULL;
	bool		settled = false;	/* nothing of the group after this can be its head */
	int			steps = 0;
	int			past = 0;		/* entries of the group since the one that settled it */
	bool		more = false;

	ScanKeyInit(&sk[n], Anum_row_key, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(key));
	sk[n++].sk_collation = C_COLLATION_OID;
	if (*below)
	{
		ScanKeyInit(&sk[n], Anum_row_origin, BTLessStrategyNumber, F_TEXT_LT, CStringGetTextDatum(*below));
		sk[n++].sk_collation = C_COLLATION_OID;
	}
	scan = systable_beginscan_ordered(rel, idx, snap, n, sk);
	while (HeapTupleIsValid(tup = systable_getnext_ordered(scan, BackwardScanDirection)))
	{
		bool		isnull;
		char	   *origin = TextDatumGetCString(heap_getattr(tup, Anum_row_origin, desc, &isnull));
		TimestampTz ts = DatumGetTimestampTz(heap_getattr(tup, Anum_row_ts, desc, &isnull));
		int64		seq = DatumGetInt64(heap_getattr(tup, Anum_row_seq, desc, &isnull));

		if (group == NULL || strcmp(origin, group) != 0)
		{
			if (best)
				*found = lcons(best, *found);	/* the group before is complete */
			(*groups)++;		/* each origin's group begins in one call only */
			group = origin;
			best = NULL;
			settled = false;
			steps = 0;
			past = 0;
		}
		else if (settled && ++past > HEADS_PAST)
		{
			more = true;		/* a long group: below it with a new descent */
			break;
		}
		if (!settled && (ts < from_ts || (best && ts < best->ts)))
			settled = true;		/* older than the range, or than the head */
		else if (!settled && ts < to_ts && (best == NULL || seq > best->seq))
			best = head_from_row(tup, desc, order_only_origin && strcmp(group, order_only_origin) == 0);
		if (!settled && ++steps >= HEADS_STEPS)
		{
			best = newest_of_origin(rel, idx, gen, snap, key, group, from_ts, to_ts,
									order_only_origin && strcmp(group, order_only_origin) == 0);
			more = true;
			break;
		}
	}
	systable_endscan_ordered(scan);
	if (best)
		*found = lcons(best, *found);
	*below = group;
	return more;
}

/*
 * A key's origins in one segment, over tieredlog.max_key_origins (origin_limit > 0): refused.
 * Only reconciliation can bring records of origins that are not a peer (a peer streams its own
 * records only), and every check compares a record with each other origin's head, and every pair
 * can be an episode: without a bound, a peer sending one record of a key under each of N invented
 * origins would make this node read N heads per record and store up to N^2/2 conflict rows.
 */
static void
check_key_origins(const TlLog *log, const TlSegment *seg, text *key, int origins, int origin_limit)
{
	if (origin_limit <= 0 || origins <= origin_limit)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("key \"%s\" of log \"%s\" has records of more than %d origins in segment %lld",
					text_to_cstring(key), log->name, origin_limit, (long long) seg->segment_id),
			 errdetail("tieredlog.max_key_origins bounds how many origins' records of one key a segment takes from peers."),
			 errhint("If that many nodes write the key, raise tieredlog.max_key_origins.")));
}

/*
 * The heads of the key among the segment's rows, through its ([gen,] key, origin, ts) index: in
 * each generation, then the newest of each origin over them (a row's generation follows its seq,
 * not its ts, so an origin's newest row by ts can be in any of them).
 */
static List *
index_heads(const TlLog *log, const TlSegment *seg, Relation rel, Relation idx, Snapshot snap,
			text *key, TimestampTz from_ts, TimestampTz to_ts, const char *order_only_origin,
			int origin_limit, List *heads)
{
	List	   *seg_heads = NIL;	/* the segment's, one per origin */
	ListCell   *lc;

	/* each generation present, newest first (one descent each to find it) */
	for (int gen = tl_segment_gen_first(rel, idx, snap); gen != TL_GEN_DONE;
		 gen = tl_segment_gen_next(rel, idx, snap, gen))
	{
		char	   *below = NULL;
		List	   *found = NIL;
		int			origins = 0;
		bool		more;

		do
		{
			CHECK_FOR_INTERRUPTS();
			more = scan_heads_below(rel, idx, gen, snap, key, from_ts, to_ts, order_only_origin, &below,
									&found, &origins);
			check_key_origins(log, seg, key, origins, origin_limit);
		} while (more);
		foreach(lc, found)
			seg_heads = tl_cf_merge_head(seg_heads, lfirst(lc), false);
		check_key_origins(log, seg, key, list_length(seg_heads), origin_limit);
	}
	foreach(lc, seg_heads)
		heads = tl_cf_merge_head(heads, lfirst(lc), false);
	return heads;
}

/*
 * Merge into `heads` the newest record of each origin among the segment's rows of `key` with ts
 * in [from_ts, to_ts). Through the ([gen,] key, origin, ts) index one descent for a key with few rows,
 * about two per origin however often the key was written; a segment without it (older, or in
 * archive frames) is read whole. With origin_limit > 0, a key with records of more origins than
 * that in the segment (through the index; read whole: within the range) is an error.
 */
static List *
segment_heads(const TlLog *log, WindowEntry *e, Snapshot snap, text *key, TimestampTz from_ts,
			  TimestampTz to_ts, const char *order_only_origin, int origin_limit, List *heads)
{
	const TlSegment *seg = &e->seg;
	Relation	rel;
	Relation	idx;
	Oid			idx_oid = InvalidOid;

	rel = (OidIsValid(seg->relid) && seg->archive_attempt == 0) ? try_table_open(seg->relid, AccessShareLock) : NULL;
	if (rel && cached_index(e, &idx_oid))
		;
	else if (rel)
	{
		idx_oid = heads_index(rel);
		remember_index(e, idx_oid);
	}
	if (!OidIsValid(idx_oid))
	{
		Candidates	c = {NULL, true, seg, NULL, NULL, DT_NOBEGIN, NIL, snap};
		ListCell   *lc;

		if (rel)
			table_close(rel, AccessShareLock);
		tl_segment_rows(log, seg, snap, from_ts, to_ts, key, tl_cf_visit_candidate, &c);
		check_key_origins(log, seg, key, list_length(c.sides), origin_limit);
		foreach(lc, c.sides)
			heads = tl_cf_merge_head(heads, lfirst(lc), false);
		return heads;
	}
	idx = index_open(idx_oid, AccessShareLock);
	heads = index_heads(log, seg, rel, idx, snap, key, from_ts, to_ts, order_only_origin, origin_limit, heads);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return heads;
}

/*
 * The newest record of each origin for `key` among its records with ts in [from_ts, to_ts).
 * The head of order_only_origin (if not NULL) comes without payload and source: only its place
 * in its origin's order is wanted (tl_cf_head_order_from_row). origin_limit > 0: a segment
 * whose records of the key come from more origins than that is an error (54000).
 */
List *
tl_cf_scan_heads(const TlLog *log, text *key, TimestampTz from_ts, TimestampTz to_ts, Snapshot snap,
				 const char *order_only_origin, int origin_limit)
{
	List	   *heads = NIL;
	ListCell   *lc;

	foreach(lc, window_segments(log, from_ts, to_ts))
		heads = segment_heads(log, lfirst(lc), snap, key, from_ts, to_ts, order_only_origin, origin_limit,
							  heads);
	return heads;
}
