/*-------------------------------------------------------------------------
 * segrows.c
 *		Every row of a segment, wherever it is stored: the segment's row relation (tier 0/1, or
 *		late rows of a reopened tier 2 segment) and its archive frames (tier 2). Rows from frames
 *		are rebuilt in the row relation's shape, with their rid recomputed from their content.
 *		A relation's key index is led by the row's generation in relations of this build
 *		(segrows.h): a key read descends into each generation present, found one below the
 *		other from the index's entries alone.
 *
 * Locking: AccessShareLock on the row relation (to the end of the transaction) and on its key
 * index (for the scan); frames are read through archive_store.c. The caller's snapshot decides what is seen; for frames it must be the
 * active snapshot (they are read through SPI).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/tuplesort.h"
#include "utils/typcache.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "store/archive_store.h"
#include "store/catalog.h"
#include "core/record.h"
#include "store/segrows.h"
#include "core/tieredlog.h"

TupleDesc
tl_row_desc(void)
{
	static TupleDesc desc = NULL;
	MemoryContext old;

	if (desc)
		return desc;
	old = MemoryContextSwitchTo(TopMemoryContext);
	desc = CreateTemplateTupleDesc(Natts_row);
	TupleDescInitEntry(desc, Anum_row_ts, "ts", TIMESTAMPTZOID, -1, 0);
	TupleDescInitEntry(desc, Anum_row_key, "key", TEXTOID, -1, 0);
	TupleDescInitEntryCollation(desc, Anum_row_key, C_COLLATION_OID);
	TupleDescInitEntry(desc, Anum_row_payload, "payload", JSONBOID, -1, 0);
	TupleDescInitEntry(desc, Anum_row_source, "source", TEXTOID, -1, 0);
	TupleDescInitEntry(desc, Anum_row_origin, "origin", TEXTOID, -1, 0);
	TupleDescInitEntry(desc, Anum_row_seq, "seq", INT8OID, -1, 0);
	TupleDescInitEntry(desc, Anum_row_rid, "rid", UUIDOID, -1, 0);
	MemoryContextSwitchTo(old);
	return desc;
}

/*
 * A segment relation's columns that count: all of them but dropped ones at the end (a column
 * added by hand and dropped again stays in the descriptor, dropped).
 */
static int
row_natts(TupleDesc desc)
{
	int			natts = desc->natts;

	while (natts > 0 && TupleDescAttr(desc, natts - 1)->attisdropped)
		natts--;
	return natts;
}

/* Whether a segment relation's rows have the generation column (relations of this build). */
bool
tl_row_has_gen(TupleDesc desc)
{
	Form_pg_attribute att;

	if (row_natts(desc) != TL_ROW_MAX_NATTS)
		return false;
	att = TupleDescAttr(desc, Anum_row_gen - 1);
	return att->atttypid == INT4OID && strcmp(NameStr(att->attname), "gen") == 0;
}

/*
 * Whether a relation has a segment relation's columns: the seven of every build, and gen (or a
 * dropped column in its place), and no more but dropped ones.
 */
bool
tl_row_shape_ok(TupleDesc desc)
{
	int			natts = row_natts(desc);

	return natts == Natts_row || natts == TL_ROW_MAX_NATTS;
}

static void
check_row_shape(TupleDesc desc)
{
	if (!tl_row_shape_ok(desc))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a tieredlog segment relation has %d columns, not %d or %d", row_natts(desc),
						Natts_row, TL_ROW_MAX_NATTS),
				 errhint("Drop the columns that were added to it.")));
}

/*
 * A segment row for a stamped record (rid computed), in `desc`'s shape: with its generation in a
 * relation that has the column (gen_base: the segment's).
 */
HeapTuple
tl_row_form(TupleDesc desc, const TlRecord *rec, int64 gen_base)
{
	Datum		local_values[TL_ROW_MAX_NATTS];
	bool		local_nulls[TL_ROW_MAX_NATTS];
	Datum	   *values = local_values;
	bool	   *nulls = local_nulls;
	pg_uuid_t	rid;
	bool		has_gen = tl_row_has_gen(desc);

	if (!has_gen)
		check_row_shape(desc);	/* (a relation with gen has the shape) */
	if (desc->natts > TL_ROW_MAX_NATTS)
	{
		values = palloc(sizeof(Datum) * desc->natts);
		nulls = palloc(sizeof(bool) * desc->natts);
	}
	memset(nulls, true, sizeof(bool) * Max(desc->natts, TL_ROW_MAX_NATTS));	/* dropped ones stay null */
	memcpy(rid.data, rec->rid.bytes, TL_RID_LEN);
	values[Anum_row_ts - 1] = TimestampTzGetDatum(rec->ts);
	values[Anum_row_key - 1] = PointerGetDatum(rec->key);
	values[Anum_row_payload - 1] = PointerGetDatum(rec->payload);
	values[Anum_row_source - 1] = PointerGetDatum(rec->source);
	values[Anum_row_origin - 1] = CStringGetTextDatum(rec->origin);
	values[Anum_row_seq - 1] = Int64GetDatum(rec->seq);
	values[Anum_row_rid - 1] = UUIDPGetDatum(&rid);
	values[Anum_row_gen - 1] = Int32GetDatum(tl_segment_gen_of(gen_base, rec->seq));
	for (int i = 0; i < Natts_row; i++)
		nulls[i] = false;
	nulls[Anum_row_source - 1] = rec->source == NULL;
	nulls[Anum_row_gen - 1] = !has_gen;
	return heap_form_tuple(desc, values, nulls);
}

/*
 * heap_deform_tuple for a segment row into `values` and `nulls`, which have room for
 * TL_ROW_MAX_NATTS columns: a relation with more (dropped ones) has only those read, and one
 * with more that are not dropped (a column someone added) is refused rather than overrun them.
 */
void
tl_row_deform(HeapTuple row, TupleDesc desc, Datum *values, bool *nulls)
{
	check_row_shape(desc);
	if (desc->natts <= TL_ROW_MAX_NATTS)
	{
		heap_deform_tuple(row, desc, values, nulls);
		return;
	}
	for (int i = 0; i < TL_ROW_MAX_NATTS; i++)
		values[i] = heap_getattr(row, i + 1, desc, &nulls[i]);
}

/*
 * The greatest generation below `below` that the segment index `idx` (led by gen) has an entry
 * of, or TL_GEN_DONE: one descent from the end, reading the index entry only (live or not: a
 * generation whose entries are all dead is looked into for nothing, never missed). Under `snap`,
 * the caller's: the scan checks no visibility, but a serializable transaction's descent takes its
 * predicate lock where a new generation's first entry would go.
 */
static int
gen_below(Relation rel, Relation idx, Snapshot snap, int below)
{
	ScanKeyData sk;
	IndexScanDesc scan;
	int			gen = TL_GEN_DONE;

	ScanKeyInit(&sk, 1, BTLessStrategyNumber, F_INT4LT, Int32GetDatum(below));
	scan = index_beginscan(rel, idx, snap, 1, 0);
	scan->xs_want_itup = true;
	index_rescan(scan, &sk, 1, NULL, 0);
	if (index_getnext_tid(scan, BackwardScanDirection) != NULL)
	{
		bool		isnull;
		Datum		d = index_getattr(scan->xs_itup, 1, scan->xs_itupdesc, &isnull);

		if (!isnull && DatumGetInt32(d) >= 0)
			gen = DatumGetInt32(d);
	}
	index_endscan(scan);
	return gen;
}

/*
 * The first generation of a segment index to read, the newest present: TL_GEN_ALL for an index
 * that is not led by gen (a relation of an earlier build), read once whole; TL_GEN_DONE for an
 * empty one.
 */
int
tl_segment_gen_first(Relation rel, Relation idx, Snapshot snap)
{
	if (idx->rd_index->indkey.values[0] != Anum_row_gen)
		return TL_GEN_ALL;
	return gen_below(rel, idx, snap, TL_SEG_GEN_MAX + 1);
}

/* The generation to read after `gen`, the next one down present, or TL_GEN_DONE. */
int
tl_segment_gen_next(Relation rel, Relation idx, Snapshot snap, int gen)
{
	if (gen <= 0)
		return TL_GEN_DONE;		/* the whole index was read, or generation 0: none below */
	return gen_below(rel, idx, snap, gen);
}

/*
 * A scan key that keeps an index scan in generation `gen` (by the heap column, for systable
 * scans), in sk[0]; none for TL_GEN_ALL. Returns how many keys it set.
 */
int
tl_segment_gen_scan_key(ScanKeyData *sk, int gen)
{
	if (gen == TL_GEN_ALL)
		return 0;
	ScanKeyInit(&sk[0], Anum_row_gen, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(gen));
	return 1;
}

/* A record with the fields of an archive row (pointing into it), its rid not set. */
static void
record_fields(const char *log_name, const TlArchiveRow *r, TlRecord *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->log_name = log_name;
	rec->key = r->key;
	rec->payload = r->payload;
	rec->ts = r->ts;
	rec->source = r->source;
	rec->origin = r->origin;
	rec->seq = r->seq;
}

static void
record_from_archive(const char *log_name, const TlArchiveRow *r, TlRecord *rec)
{
	record_fields(log_name, r, rec);
	if (r->has_rid)
		rec->rid = r->rid;
	else
		tl_record_compute_rid_with_text(rec, r->payload_text, r->payload_text_len);
}

/* A row rebuilt from an archive frame, rid recomputed from its content. */
HeapTuple
tl_row_from_archive(const char *log_name, const TlArchiveRow *r)
{
	TlRecord	rec;

	record_from_archive(log_name, r, &rec);
	return tl_row_form(tl_row_desc(), &rec, 0);
}

/* A row's fields (pointers into the tuple, detoasted where needed), as the archive form has them. */
static void
row_fields(HeapTuple row, TupleDesc desc, TlArchiveRow *out, TlRid *rid)
{
	Datum		v[TL_ROW_MAX_NATTS];
	bool		n[TL_ROW_MAX_NATTS];

	tl_row_deform(row, desc, v, n);
	out->ts = DatumGetTimestampTz(v[Anum_row_ts - 1]);
	out->key = DatumGetTextPP(v[Anum_row_key - 1]);
	out->payload = DatumGetJsonbP(v[Anum_row_payload - 1]);
	out->source = n[Anum_row_source - 1] ? NULL : DatumGetTextPP(v[Anum_row_source - 1]);
	out->origin = TextDatumGetCString(v[Anum_row_origin - 1]);
	out->seq = DatumGetInt64(v[Anum_row_seq - 1]);
	out->payload_text = NULL;
	out->payload_text_len = 0;
	out->has_rid = false;
	if (rid)
		memcpy(rid->bytes, DatumGetUUIDP(v[Anum_row_rid - 1])->data, TL_RID_LEN);
}

/* The archive form of a row (pointers into the tuple, detoasted where needed). */
void
tl_row_to_archive(HeapTuple row, TupleDesc desc, TlArchiveRow *out)
{
	row_fields(row, desc, out, NULL);
}

/*
 * A segment row as a record (pointing into the row: copy what must outlive it), with the rid
 * stored in the row; log_name is set as given.
 */
void
tl_record_from_row(HeapTuple row, TupleDesc desc, const char *log_name, TlRecord *rec)
{
	TlArchiveRow f;
	TlRid		rid;

	row_fields(row, desc, &f, &rid);
	record_fields(log_name, &f, rec);
	rec->rid = rid;
}

/* Does the row's content still hash to the rid stored with it? *rec gets the record, its rid recomputed. */
bool
tl_row_matches_rid(HeapTuple row, TupleDesc desc, const char *log_name, TlRecord *rec, TlRid *stored)
{
	tl_record_from_row(row, desc, log_name, rec);
	*stored = rec->rid;
	tl_record_compute_rid(rec);
	return memcmp(stored->bytes, rec->rid.bytes, TL_RID_LEN) == 0;
}

/*
 * Whether `idx` is an index tieredlog may read a segment relation through: a valid btree over plain
 * columns without a predicate. A superuser can add any index to a segment relation; a partial one
 * would hide rows from a key read, and another access method has other strategy numbers.
 */
bool
tl_index_is_plain_btree(Relation idx)
{
	return idx->rd_rel->relam == BTREE_AM_OID && idx->rd_index->indisvalid &&
		heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL) &&
		heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL);
}

/*
 * A plain btree index of a segment relation whose leading columns are `cols` (exactly those when
 * `exact`), or InvalidOid.
 */
Oid
tl_index_on(Relation rel, const AttrNumber *cols, int ncols, bool exact)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		int2vector *keys = &idx->rd_index->indkey;
		bool		match = tl_index_is_plain_btree(idx) &&
			(exact ? idx->rd_index->indnatts == ncols : idx->rd_index->indnatts >= ncols);

		for (int i = 0; match && i < ncols; i++)
			match = keys->values[i] == cols[i];
		if (match)
			found = RelationGetRelid(idx);
		index_close(idx, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * The index a key read goes through: (key, ...) in a relation of an earlier build, (gen, key, ...)
 * in one of this build (read one generation at a time).
 */
static Oid
key_index_of(Relation rel)
{
	AttrNumber	gen_key[2] = {Anum_row_gen, Anum_row_key};
	AttrNumber	key_col = Anum_row_key;
	Oid			found;

	found = tl_row_has_gen(RelationGetDescr(rel)) ? tl_index_on(rel, gen_key, 2, false)
		: tl_index_on(rel, &key_col, 1, false);
	if (!OidIsValid(found))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment relation \"%s\" has no index on key", RelationGetRelationName(rel))));
	return found;
}

typedef struct IdentityFind
{
	const char *origin;
	int64		seq;
	bool		found;
	TlRid		rid;
} IdentityFind;

static void
visit_find_identity(HeapTuple row, TupleDesc desc, void *arg)
{
	IdentityFind *f = arg;
	bool		isnull;

	if (f->found || DatumGetInt64(heap_getattr(row, Anum_row_seq, desc, &isnull)) != f->seq ||
		strcmp(TextDatumGetCString(heap_getattr(row, Anum_row_origin, desc, &isnull)), f->origin) != 0)
		return;
	f->found = true;
	memcpy(f->rid.bytes, DatumGetUUIDP(heap_getattr(row, Anum_row_rid, desc, &isnull))->data, TL_RID_LEN);
}

/*
 * The rid of the segment's record (origin, seq) with this ts and key, wherever it is stored
 * (relation or frames); false if the segment has none.
 */
bool
tl_segment_find_identity(const TlLog *log, const TlSegment *seg, TimestampTz ts, text *key,
						 const char *origin, int64 seq, TlRid *rid)
{
	IdentityFind f = {origin, seq, false, {{0}}};

	tl_segment_rows(log, seg, GetActiveSnapshot(), ts, ts + 1, key, visit_find_identity, &f);
	if (f.found)
		*rid = f.rid;
	return f.found;
}

static bool
ts_in(HeapTuple tup, TupleDesc desc, TimestampTz from_ts, TimestampTz to_ts)
{
	bool		isnull;
	TimestampTz ts = DatumGetTimestampTz(heap_getattr(tup, Anum_row_ts, desc, &isnull));

	return ts >= from_ts && ts < to_ts;
}

/* The rows of `key` in a segment relation, through its key index (each generation of it). */
static void
key_rows(Relation rel, Snapshot snap, TimestampTz from_ts, TimestampTz to_ts, text *key,
		 TlRowVisitor visit, void *arg)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			idx_oid = key_index_of(rel);
	Relation	idx = index_open(idx_oid, AccessShareLock);

	for (int gen = tl_segment_gen_first(rel, idx, snap); gen != TL_GEN_DONE;
		 gen = tl_segment_gen_next(rel, idx, snap, gen))
	{
		ScanKeyData skey[2];
		int			nkeys = tl_segment_gen_scan_key(skey, gen);
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&skey[nkeys++], Anum_row_key, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(key));
		scan = systable_beginscan(rel, idx_oid, true, snap, nkeys, skey);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			CHECK_FOR_INTERRUPTS();
			if (ts_in(tup, desc, from_ts, to_ts))
				visit(tup, desc, arg);
		}
		systable_endscan(scan);
	}
	index_close(idx, AccessShareLock);
}

static void
relation_rows(const TlSegment *seg, Snapshot snap, TimestampTz from_ts, TimestampTz to_ts,
			  text *key, TlRowVisitor visit, void *arg)
{
	Relation	rel = try_table_open(seg->relid, AccessShareLock);
	TupleDesc	desc;
	HeapTuple	tup;

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("segment %lld moved while it was being read", (long long) seg->segment_id),
				 errhint("Retry the statement.")));
	desc = RelationGetDescr(rel);
	if (key != NULL)
		key_rows(rel, snap, from_ts, to_ts, key, visit, arg);
	else
	{
		TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);

		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			if (ts_in(tup, desc, from_ts, to_ts))
				visit(tup, desc, arg);
		}
		table_endscan(scan);
	}
	table_close(rel, NoLock);
}

typedef struct FrameRowsState
{
	const char *log_name;
	TimestampTz from_ts;
	TimestampTz to_ts;
	text	   *key;
	TlRowVisitor visit;
	TlArchiveRowVisitor visit_archive;
	void	   *arg;
} FrameRowsState;

static bool
key_equal(text *a, text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

static void
visit_frame(const TlArchiveRow *rows, int n, void *arg)
{
	FrameRowsState *st = arg;

	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup;

		CHECK_FOR_INTERRUPTS();
		if (rows[i].ts < st->from_ts || rows[i].ts >= st->to_ts)
			continue;
		if (st->key && !key_equal(rows[i].key, st->key))
			continue;
		if (st->visit_archive)
		{
			/* (tl_archive_scan was given the log's name: every row comes with its rid) */
			if (!rows[i].has_rid)
				elog(ERROR, "archive row of log \"%s\" came without its rid", st->log_name);
			st->visit_archive(&rows[i], &rows[i].rid, st->arg);
			continue;
		}
		tup = tl_row_from_archive(st->log_name, &rows[i]);
		st->visit(tup, tl_row_desc(), st->arg);
		heap_freetuple(tup);
	}
}

/*
 * Call visit() for every row of the segment with from_ts <= ts < to_ts (and `key`, when not
 * NULL): first the archive frames, then the row relation. No particular order.
 */
void
tl_segment_rows(const TlLog *log, const TlSegment *seg, Snapshot snap, TimestampTz from_ts,
				TimestampTz to_ts, text *key, TlRowVisitor visit, void *arg)
{
	(void) tl_segment_rows_ex(log, seg, snap, from_ts, to_ts, key, false, visit, NULL, arg);
}

/*
 * The same; rows from frames go to visit_archive instead when it is not NULL. With `merge`, frames
 * that overlap in time are merged into record order when tl_archive_scan_in_record_order says so;
 * false, having visited nothing, when that merge was given up for memory (tl_archive_scan).
 */
bool
tl_segment_rows_ex(const TlLog *log, const TlSegment *seg, Snapshot snap, TimestampTz from_ts,
				   TimestampTz to_ts, text *key, bool merge, TlRowVisitor visit,
				   TlArchiveRowVisitor visit_archive, void *arg)
{
	if (seg->relation_missing || (!OidIsValid(seg->relid) && seg->archive_attempt == 0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment %lld of log \"%s\" has lost its storage", (long long) seg->segment_id,
						log->name),
				 errhint("Check tieredlog.moves and run tieredlog.check_digests().")));
	if (seg->archive_attempt != 0)
	{
		FrameRowsState st = {log->name, from_ts, to_ts, key, visit, visit_archive, arg};

		/* rows come with their rids, hashed from the text the rebuild writes in place */
		if (!tl_archive_scan(log->log_id, seg->segment_id, seg->archive_attempt, from_ts, to_ts, key,
							 merge, log->name, visit_frame, &st))
			return false;
	}
	if (OidIsValid(seg->relid))
		relation_rows(seg, snap, from_ts, to_ts, key, visit, arg);
	return true;
}

/* A sort of `desc` tuples in record order: (ts, origin in the C collation, seq). */
Tuplesortstate *
tl_sort_in_record_order(TupleDesc desc, AttrNumber ts_col, AttrNumber origin_col,
						AttrNumber seq_col, int mem_kb)
{
	AttrNumber	cols[3] = {ts_col, origin_col, seq_col};
	Oid			ops[3];
	Oid			colls[3] = {InvalidOid, C_COLLATION_OID, InvalidOid};
	bool		nulls_first[3] = {false, false, false};

	ops[0] = lookup_type_cache(TIMESTAMPTZOID, TYPECACHE_LT_OPR)->lt_opr;
	ops[1] = lookup_type_cache(TEXTOID, TYPECACHE_LT_OPR)->lt_opr;
	ops[2] = lookup_type_cache(INT8OID, TYPECACHE_LT_OPR)->lt_opr;
	return tuplesort_begin_heap(desc, 3, cols, ops, colls, nulls_first, mem_kb, NULL, TUPLESORT_NONE);
}

/* The rid of this node's copy of (origin, seq) in a log, or false if it has none (_ae_rid). */
bool
tl_segrows_local_rid(const char *log_name, const char *origin, int64 seq, TimestampTz ts, text *key, TlRid *rid)
{
	TlLog		log;
	List	   *segs;

	if (!tl_catalog_find_log(log_name, &log))
		return false;
	segs = tl_catalog_log_segments(log.log_id, ts, ts + 1, GetActiveSnapshot());
	if (segs == NIL)
		return false;
	return tl_segment_find_identity(&log, linitial(segs), ts, key, origin, seq, rid);
}
