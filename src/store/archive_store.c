/*-------------------------------------------------------------------------
 * archive_store.c
 *		Where tier 2 frames live: one archive relation per log (tieredlog_data.archive_<log_id>,
 *		in the tier 2 tablespace), one row per frame: the frame directory entry and the
 *		compressed bytes (bytea, STORAGE EXTERNAL, so PostgreSQL does not compress them again).
 *
 * A segment's frames carry the attempt id of the move that wrote them; the segment catalog row
 * names the attempt that is current, so frames of an interrupted or superseded attempt are never
 * read and are deleted by the sweeper.
 *
 * A move writes a segment's rows clustered by key (tier.c sorts them by key, ts, origin, seq), so
 * each frame covers a narrow key range; the writer puts each frame's rows back in record order.
 * Archives written before that have frames one after the other in time; both are read.
 *
 * This file reads them (the frame directory and its per-backend cache, key reads, whole reads
 * merged into record order) and deletes them; archive_writer.c creates the relation and writes
 * them.
 *
 * Locking: reads open the archive relation and its index directly with AccessShareLock; the
 * directory view, the size and deletes are SQL through SPI as the extension's owner.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "store/archive.h"
#include "store/archive_store.h"
#include "store/archive_store_int.h"
#include "store/catalog.h"
#include "core/tieredlog.h"

char *
tl_archive_relname(int32 log_id)
{
	return psprintf("archive_%d", log_id);
}

char *
tl_archive_qualified(int32 log_id)
{
	return quote_qualified_identifier(TL_DATA_SCHEMA, tl_archive_relname(log_id));
}

bool
tl_archive_exists(int32 log_id)
{
	return OidIsValid(get_relname_relid(tl_archive_relname(log_id), tl_data_namespace()));
}

/*
 * The column of the archive relation holding each frame's key filter, or InvalidAttrNumber: an
 * archive relation created by tieredlog 1.0 has none until its log archives a segment again.
 */
AttrNumber
tl_archive_key_filter_attnum(Oid relid)
{
	AttrNumber	att = get_attnum(relid, "key_filter");

	return att > 0 ? att : InvalidAttrNumber;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* Columns of the archive relation (archive_writer.c's ensure_archive creates them in this order). */
enum
{
	Anum_arch_segment_id = 1, Anum_arch_attempt, Anum_arch_frame_no, Anum_arch_nrows,
	Anum_arch_first_ts, Anum_arch_last_ts, Anum_arch_min_key, Anum_arch_max_key, Anum_arch_raw_len,
	Anum_arch_comp_len, Anum_arch_checksum, Anum_arch_data, Natts_arch_fixed = Anum_arch_data
};

/* ---- the directory cache of key reads ---------------------------------------------------- */

/*
 * A key read on a large segment would spend most of its time reading the frame directory (one
 * entry per frame, each with its key filter). The directory of a (segment, attempt) never changes
 * once written (a new archive of the segment is a new attempt, attempts come from a sequence), so
 * each backend keeps the directories its key reads used: frame bounds, sizes, checksums and
 * filters, copied (the compressed bytes are always fetched from the relation). Entries are keyed
 * by the archive relation's OID too (a log dropped and created again, an extension restored, has
 * new relations), and all of them are dropped on any invalidation of an archive relation and when
 * they take more than DIR_CACHE_BYTES.
 */
typedef struct DirFrame
{
	int			frame_no;
	TlFrameMeta meta;
} DirFrame;

typedef struct DirCacheEntry
{
	Oid			relid;
	int64		segment_id;
	int64		attempt;
	int			nframes;
	DirFrame   *frames;
	TlArchiveDict *dict;		/* the attempt's dictionary (each frame's meta points to it), or NULL */
	bool		in_record_order;	/* dir_in_record_order(), computed once at the read */
	bool		key_sorted;		/* key ranges ascend (dir_key_sorted()): a key's frames are found
								 * by binary search */
} DirCacheEntry;

#define DIR_CACHE_BYTES		(32 * 1024 * 1024)
#define DIR_CACHE_ENTRIES	64

static MemoryContext dir_cxt = NULL;
static DirCacheEntry dir_cache[DIR_CACHE_ENTRIES];
static int	dir_cache_n = 0;
static bool dir_callback_set = false;
static bool dir_cache_stale = false;	/* an archive relation was invalidated */
static int	dir_cache_busy = 0;			/* key reads using entries right now */
static MemoryContext key_read_cxt = NULL;	/* frame memory of key reads */
static bool key_read_in_use = false;	/* by a key read (a nested one makes its own) */

static int	cmp_c(const char *a, int alen, const char *b, int blen);
static bool dir_in_record_order(const DirCacheEntry *dir);
static bool dir_key_sorted(const DirCacheEntry *dir);

/* Drop every entry, unless a key read is using them (then the next lookup will). */
static void
dir_cache_reset(void)
{
	if (dir_cache_busy > 0)
		return;
	dir_cache_n = 0;
	dir_cache_stale = false;
	if (dir_cxt)
		MemoryContextReset(dir_cxt);
}

/* Relcache invalidation: only marks the cache (it may be in use while invalidations arrive). */
static void
dir_cache_inval(Datum arg, Oid relid)
{
	for (int i = 0; i < dir_cache_n; i++)
		if (!OidIsValid(relid) || dir_cache[i].relid == relid)
		{
			dir_cache_stale = true;
			return;
		}
}

/*
 * The end of a key read (its guard context goes, normally or at an error): the directory may be
 * dropped again, and the shared frame memory used again (arg: whether this read used it).
 */
static void
dir_cache_release(void *arg)
{
	dir_cache_busy--;
	if (arg != NULL)
	{
		MemoryContextReset(key_read_cxt);
		key_read_in_use = false;
	}
}

/* The directory entry of one archive row (not its data), copied into the current context. */
static void
meta_from_tuple(HeapTuple tup, TupleDesc desc, AttrNumber filter_att, TlFrameMeta *m, int *frame_no)
{
	bool		isnull;

	memset(m, 0, sizeof(*m));
	*frame_no = DatumGetInt32(heap_getattr(tup, Anum_arch_frame_no, desc, &isnull));
	m->nrows = DatumGetInt32(heap_getattr(tup, Anum_arch_nrows, desc, &isnull));
	m->first_ts = DatumGetTimestampTz(heap_getattr(tup, Anum_arch_first_ts, desc, &isnull));
	m->last_ts = DatumGetTimestampTz(heap_getattr(tup, Anum_arch_last_ts, desc, &isnull));
	m->min_key = DatumGetTextPCopy(heap_getattr(tup, Anum_arch_min_key, desc, &isnull));
	m->max_key = DatumGetTextPCopy(heap_getattr(tup, Anum_arch_max_key, desc, &isnull));
	m->raw_len = DatumGetInt32(heap_getattr(tup, Anum_arch_raw_len, desc, &isnull));
	m->comp_len = DatumGetInt32(heap_getattr(tup, Anum_arch_comp_len, desc, &isnull));
	m->checksum = DatumGetInt64(heap_getattr(tup, Anum_arch_checksum, desc, &isnull));
	if (filter_att != InvalidAttrNumber)
	{
		Datum		f = heap_getattr(tup, filter_att, desc, &isnull);

		if (!isnull)
			m->key_filter = DatumGetByteaPCopy(f);
	}
}

/*
 * Is this row of the archive relation the attempt's dictionary (frame_no -1)? Any other negative
 * frame number is corrupt.
 */
static bool
tuple_is_dictionary(HeapTuple tup, TupleDesc desc, int64 segment_id)
{
	bool		isnull;
	int			frame_no = DatumGetInt32(heap_getattr(tup, Anum_arch_frame_no, desc, &isnull));

	if (frame_no >= 0)
		return false;
	if (frame_no != TL_ARCHIVE_DICT_FRAME_NO)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive of segment %lld has a row numbered %d", (long long) segment_id, frame_no)));
	return true;
}

/*
 * The dictionary of an archive row (tuple_is_dictionary), loaded into the current memory context
 * and checked (tl_archive_dict_load); `seen` is the one read before, if any: two are corrupt.
 */
static TlArchiveDict *
dictionary_from_tuple(HeapTuple tup, TupleDesc desc, int64 segment_id, TlArchiveDict *seen)
{
	bool		isnull;
	Datum		data = heap_getattr(tup, Anum_arch_data, desc, &isnull);
	int64		checksum = DatumGetInt64(heap_getattr(tup, Anum_arch_checksum, desc, &isnull));
	bytea	   *bytes;
	TlArchiveDict *d;

	if (seen != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive of segment %lld has two dictionaries", (long long) segment_id)));
	/* bounded before it is detoasted */
	if (toast_raw_datum_size(data) > (Size) TL_ARCHIVE_DICT_MAX_BYTES + VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive dictionary of segment %lld is corrupted", (long long) segment_id),
				 errdetail("It is %zu bytes, more than %d.", toast_raw_datum_size(data) - VARHDRSZ,
						   TL_ARCHIVE_DICT_MAX_BYTES)));
	bytes = DatumGetByteaPP(data);
	d = tl_archive_dict_load(bytes, checksum, segment_id);
	if ((Pointer) bytes != DatumGetPointer(data))
		pfree(bytes);
	return d;
}

/*
 * The directory of (segment, attempt): from the cache, else read and cached (or, when the cache
 * cannot take it now, read into the current memory context).
 */
static DirCacheEntry *
dir_cache_get(Relation rel, Relation irel, int64 segment_id, int64 attempt, AttrNumber filter_att,
			  bool fresh)
{
	Oid			relid = RelationGetRelid(rel);
	DirCacheEntry *e;
	ScanKeyData skey[2];
	SysScanDesc scan;
	HeapTuple	tup;
	MemoryContext old = CurrentMemoryContext;
	bool		cached;
	int			cap = 64;

	if (fresh)
	{
		/* read now, not cached: a whole read checks each frame against the directory as it is */
		e = palloc(sizeof(DirCacheEntry));
		cached = false;
		goto read;
	}
	if (dir_cache_stale)
		dir_cache_reset();
	if (!dir_cache_stale)
		for (int i = 0; i < dir_cache_n; i++)
			if (dir_cache[i].relid == relid && dir_cache[i].segment_id == segment_id &&
				dir_cache[i].attempt == attempt)
				return &dir_cache[i];
	if (dir_cxt == NULL)
		dir_cxt = AllocSetContextCreate(TopMemoryContext, "tieredlog archive directories",
										ALLOCSET_DEFAULT_SIZES);
	if (!dir_callback_set)
	{
		CacheRegisterRelcacheCallback(dir_cache_inval, (Datum) 0);
		dir_callback_set = true;
	}
	if (dir_cache_n == DIR_CACHE_ENTRIES || MemoryContextMemAllocated(dir_cxt, true) > DIR_CACHE_BYTES)
		dir_cache_reset();
	cached = !dir_cache_stale && dir_cache_n < DIR_CACHE_ENTRIES &&
		MemoryContextMemAllocated(dir_cxt, true) <= DIR_CACHE_BYTES;
	if (cached)
	{
		e = &dir_cache[dir_cache_n];
		MemoryContextSwitchTo(dir_cxt);
	}
	else
		e = palloc(sizeof(DirCacheEntry));
read:
	e->relid = relid;
	e->segment_id = segment_id;
	e->attempt = attempt;
	e->nframes = 0;
	e->frames = palloc(sizeof(DirFrame) * cap);
	ScanKeyInit(&skey[0], Anum_arch_segment_id, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(segment_id));
	ScanKeyInit(&skey[1], Anum_arch_attempt, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(attempt));
	/* (an error here leaves the entry uncounted; its memory goes at the next reset) */
	scan = systable_beginscan_ordered(rel, irel, GetActiveSnapshot(), 2, skey);
	e->dict = NULL;
	while (HeapTupleIsValid(tup = systable_getnext_ordered(scan, ForwardScanDirection)))
	{
		CHECK_FOR_INTERRUPTS();
		if (tuple_is_dictionary(tup, RelationGetDescr(rel), segment_id))
		{
			e->dict = dictionary_from_tuple(tup, RelationGetDescr(rel), segment_id, e->dict);
			continue;
		}
		if (e->nframes == cap)
		{
			cap *= 2;
			e->frames = repalloc(e->frames, sizeof(DirFrame) * cap);
		}
		meta_from_tuple(tup, RelationGetDescr(rel), filter_att, &e->frames[e->nframes].meta,
						&e->frames[e->nframes].frame_no);
		e->nframes++;
	}
	systable_endscan_ordered(scan);
	for (int f = 0; f < e->nframes; f++)
		e->frames[f].meta.dict = e->dict;
	e->in_record_order = dir_in_record_order(e);
	e->key_sorted = dir_key_sorted(e);
	MemoryContextSwitchTo(old);
	if (cached)
		dir_cache_n++;
	return e;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* Compare bytes as the C collation does (min_key and max_key are COLLATE "C"). */
static int
cmp_c(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* May the frame described by meta hold rows of `want`? (Bounds, then the key filter.) */
static bool
frame_may_hold(const TlFrameMeta *m, const TlFrameWant *want, const TlKeyHash *kh,
			   int64 segment_id, int frame_no)
{
	const char *key_s;
	int			key_len;

	if (m->last_ts < want->from_ts || m->first_ts >= want->to_ts)
		return false;
	if (want->key == NULL)
		return true;
	key_s = VARDATA_ANY(want->key);
	key_len = VARSIZE_ANY_EXHDR(want->key);
	if (cmp_c(VARDATA_ANY(m->min_key), VARSIZE_ANY_EXHDR(m->min_key), key_s, key_len) > 0 ||
		cmp_c(VARDATA_ANY(m->max_key), VARSIZE_ANY_EXHDR(m->max_key), key_s, key_len) < 0)
		return false;
	/* frames archived before key filters have none: they may hold any key */
	return m->key_filter == NULL ||
		tl_key_filter_may_hold_hashed(m->key_filter, kh, segment_id, frame_no);
}

/*
 * How a scan without a key delivers the rows of (segment, attempt): frame after frame when the
 * frames follow each other in record order (archives written before frames were clustered by key,
 * archives of one frame); else merged in record order across the frames it reads, when their
 * decoded form fits in MERGE_MAX_BYTES; else frame after frame, out of order (the caller sorts).
 */
typedef enum ScanPlan
{
	PLAN_IN_FRAME_ORDER, PLAN_MERGE, PLAN_UNORDERED
} ScanPlan;

/*
 * What merging may hold in memory: every frame read, decompressed, and its fixed columns, as
 * estimated from the directory (merge_bytes) before a merge is planned. The estimate does not
 * know a frame's payload paths, which the data decides (an object of 40 000 keys makes a path
 * table ten times its frame), so what the frames take once opened is counted too: a merge whose
 * open frames hold more than MERGE_OPEN_MAX_BYTES is given up before any row is visited (the
 * caller reads the frames one by one and sorts), and one that holds more than MERGE_HOLD_MAX_BYTES
 * while visiting (its frames' batches of rebuilt payloads) is an error (54000).
 */
#define MERGE_MAX_BYTES			((int64) 128 * 1024 * 1024)
#define MERGE_OPEN_MAX_BYTES	((Size) 256 * 1024 * 1024)
#define MERGE_HOLD_MAX_BYTES	((Size) 512 * 1024 * 1024)

/* Whether a frame's rows may fall in [from_ts, to_ts), by its directory entry. */
static inline bool
frame_in_range(const TlFrameMeta *m, TimestampTz from_ts, TimestampTz to_ts)
{
	return m->last_ts >= from_ts && m->first_ts < to_ts;
}

/*
 * What merging holds for one frame to the end of the read, as estimated before any frame is
 * read: the decompressed frame, its rows, and 4 kB for its batch of rebuilt payloads and its
 * payload paths. An estimate, not a bound: a frame of many distinct payload paths or large
 * payloads takes more (its path table and batch grow in the arena's further regions).
 */
static Size
merge_bytes(const TlFrameMeta *m)
{
	return (Size) m->raw_len + (Size) m->nrows * sizeof(TlArchiveRow) + 4096;
}

static bool
dir_in_record_order(const DirCacheEntry *dir)
{
	for (int f = 1; f < dir->nframes; f++)
		if (dir->frames[f].meta.first_ts <= dir->frames[f - 1].meta.last_ts)
			return false;
	return true;
}

/* Compare a frame's key bound with the key sought, as the C collation does. */
static inline int
cmp_key(const text *bound, const text *key)
{
	return cmp_c(VARDATA_ANY(bound), VARSIZE_ANY_EXHDR(bound), VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
}

/*
 * Do the frames' key ranges ascend: each frame's min_key <= max_key <= the next frame's min_key?
 * That is how a move clusters rows by key, so then the frames that may hold a key are one run,
 * found by binary search. Entries come from storage: anything else (frames written in time order
 * by an earlier build, or a damaged directory) is searched frame by frame.
 */
static bool
dir_key_sorted(const DirCacheEntry *dir)
{
	for (int f = 0; f < dir->nframes; f++)
	{
		const TlFrameMeta *m = &dir->frames[f].meta;

		if (cmp_key(m->min_key, m->max_key) > 0)
			return false;
		if (f > 0 && cmp_key(dir->frames[f - 1].meta.max_key, m->min_key) > 0)
			return false;
	}
	return true;
}

/*
 * The frames whose key range holds `key`: [*first, *end) in frame order. A directory whose key
 * ranges ascend is searched in O(log n) (the first frame whose max_key >= key, then on while
 * min_key <= key); any other gives every frame, for frame_may_hold to check one by one.
 */
static void
dir_key_range(const DirCacheEntry *dir, const text *key, int *first, int *end)
{
	int			lo = 0;
	int			hi = dir->nframes;

	if (!dir->key_sorted)
	{
		*first = 0;
		*end = dir->nframes;
		return;
	}
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (cmp_key(dir->frames[mid].meta.max_key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	hi = lo;
	while (hi < dir->nframes && cmp_key(dir->frames[hi].meta.min_key, key) <= 0)
		hi++;
	*end = hi;
}

/* How many frames' key ranges hold `key` (counting stops at 2: all a caller asks is "one or more"). */
static int
frames_with_key(const DirCacheEntry *dir, const text *key)
{
	int			first;
	int			end;
	int			n = 0;

	dir_key_range(dir, key, &first, &end);
	for (int f = first; f < end && n < 2; f++)
	{
		const TlFrameMeta *m = &dir->frames[f].meta;

		if (cmp_key(m->min_key, key) <= 0 && cmp_key(m->max_key, key) >= 0)
			n++;
	}
	return n;
}

static ScanPlan
scan_plan(const DirCacheEntry *dir, TimestampTz from_ts, TimestampTz to_ts)
{
	int64		bytes = 0;

	if (dir->in_record_order)
		return PLAN_IN_FRAME_ORDER;
	for (int f = 0; f < dir->nframes; f++)
	{
		const TlFrameMeta *m = &dir->frames[f].meta;

		if (!frame_in_range(m, from_ts, to_ts))
			continue;
		/* an entry out of bounds is not trusted for the estimate: frame by frame, which reports it */
		if (m->nrows <= 0 || m->nrows > TL_FRAME_MAX_ROWS || m->raw_len <= 0 ||
			(Size) m->raw_len > tl_frame_max_raw())
			return PLAN_UNORDERED;
		bytes += merge_bytes(m);
		if (bytes > MERGE_MAX_BYTES)
			return PLAN_UNORDERED;
	}
	return PLAN_MERGE;
}

/* Open the archive relation of a log and its frame index (AccessShareLock). */
static void
open_archive(int32 log_id, int64 segment_id, Relation *rel, Relation *irel)
{
	Oid			relid = get_relname_relid(tl_archive_relname(log_id), tl_data_namespace());
	Oid			indexid = get_relname_relid(psprintf("archive_%d_frames", log_id), tl_data_namespace());

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive of segment %lld is missing", (long long) segment_id)));
	*rel = table_open(relid, AccessShareLock);
	*irel = index_open(indexid, AccessShareLock);
	if (RelationGetDescr(*rel)->natts < Natts_arch_fixed)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive relation \"%s\" has %d columns, fewer than %d",
						RelationGetRelationName(*rel), RelationGetDescr(*rel)->natts, Natts_arch_fixed)));
}

/*
 * Will tl_archive_scan deliver the rows of (segment, attempt) in record order (ts, origin, seq)?
 * Always for frames in record order; for frames clustered by key, when there is no key and the
 * frames it reads can be merged (scan_plan). A read() that gets false sorts the rows itself.
 */
bool
tl_archive_scan_in_record_order(int32 log_id, int64 segment_id, int64 attempt,
								TimestampTz from_ts, TimestampTz to_ts, text *key)
{
	Relation	rel;
	Relation	irel;
	DirCacheEntry *dir;
	ScanPlan	plan;

	open_archive(log_id, segment_id, &rel, &irel);
	dir = dir_cache_get(rel, irel, segment_id, attempt, tl_archive_key_filter_attnum(RelationGetRelid(rel)),
						key == NULL);
	if (key != NULL)
		/* a key read visits the frames whose key range has the key: in order if there is one */
		plan = dir->in_record_order || frames_with_key(dir, key) < 2 ? PLAN_IN_FRAME_ORDER : PLAN_UNORDERED;
	else
		plan = scan_plan(dir, from_ts, to_ts);
	if (key == NULL)
		tl_archive_dict_free(dir->dict);	/* (a fresh read, not cached) */
	index_close(irel, NoLock);
	table_close(rel, NoLock);
	return plan == PLAN_IN_FRAME_ORDER || (plan == PLAN_MERGE && key == NULL);
}

/* The fetched compressed bytes of one frame (an index probe), in the current memory context. */
static bytea *
fetch_frame(Relation rel, Relation irel, int64 segment_id, int64 attempt, int frame_no)
{
	ScanKeyData skey[3];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		isnull;
	bytea	   *data;

	ScanKeyInit(&skey[0], Anum_arch_segment_id, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(segment_id));
	ScanKeyInit(&skey[1], Anum_arch_attempt, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(attempt));
	ScanKeyInit(&skey[2], Anum_arch_frame_no, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(frame_no));
	scan = systable_beginscan_ordered(rel, irel, GetActiveSnapshot(), 3, skey);
	tup = systable_getnext_ordered(scan, ForwardScanDirection);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive frame %d of segment %lld is missing", frame_no, (long long) segment_id)));
	data = DatumGetByteaPCopy(heap_getattr(tup, Anum_arch_data, RelationGetDescr(rel), &isnull));
	systable_endscan_ordered(scan);
	return data;
}

/*
 * A whole read of frames clustered by key merges every frame into record order: each frame's
 * rows are in record order, and all frames overlap in time. The merge sorts one small entry per
 * row instead of keeping a heap of frames: a heap of ~1 500 frames (128-record frames, 200 000
 * records) costs a dozen comparisons per row, each reading another frame's memory.
 */
typedef struct MergeEntry
{
	TimestampTz ts;
	int32		input;			/* the frame's cursor, in inputs[] */
	int32		row;			/* the row's index in its frame */
} MergeEntry;

/* the cursors of a merge, for the sort's ties (static: sort_template's compare takes no argument) */
static TlFrameCursor **merge_inputs;

/* record order (ts, origin, seq); a frame's rows in frame order, rows of different frames by frame */
static inline int
merge_entry_cmp(const MergeEntry *a, const MergeEntry *b)
{
	int			c;

	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (a->input == b->input)
		return (a->row > b->row) - (a->row < b->row);
	c = tl_archive_row_cmp(tl_frame_cursor_row(merge_inputs[a->input], a->row),
						   tl_frame_cursor_row(merge_inputs[b->input], b->row));
	if (c != 0)
		return c;
	return (a->input > b->input) - (a->input < b->input);
}

/* How many rows ahead the merge asks the CPU to fetch a row (and twice that, its cursor). */
#define MERGE_PREFETCH		4

static inline void
prefetch(const void *p)
{
#if defined(__GNUC__) || defined(__clang__)
	__builtin_prefetch(p);
#endif
}

#define ST_SORT sort_merge_entries
#define ST_ELEMENT_TYPE MergeEntry
#define ST_COMPARE(a, b) merge_entry_cmp(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * PLAN_MERGE: every frame that may hold rows in [from_ts, to_ts) opened at once (decompressed,
 * fixed columns decoded), one entry per wanted row sorted into record order, and the rows handed
 * to visit() one at a time in that order; a row's payload is rebuilt when its turn comes, by one
 * builder for all the frames, and is valid only during its visit(). False, with nothing visited,
 * when the open frames take more than MERGE_OPEN_MAX_BYTES.
 */
static bool
merge_frames(Relation rel, Relation irel, const DirCacheEntry *dir, int64 segment_id, int64 attempt,
			 TimestampTz from_ts, TimestampTz to_ts, bool no_payload, const char *rid_log,
			 TlFrameVisitor visit, void *arg, MemoryContext outer, MemoryContext merge_cxt)
{
	MemoryContext row_cxt;
	TlFrameBuilder *builder;
	TlFrameCursor **inputs;
	int			ninputs = 0;
	MergeEntry *entries;
	Size		nentries = 0;
	Size		maxentries = 0;
	Size		held = 0;
	TlArena    *arena;

	MemoryContextSwitchTo(merge_cxt);
	builder = tl_frame_builder_create(rid_log);
	row_cxt = AllocSetContextCreate(merge_cxt, "tieredlog merged row", ALLOCSET_DEFAULT_SIZES);
	inputs = palloc(sizeof(TlFrameCursor *) * Max(dir->nframes, 1));
	for (int f = 0; f < dir->nframes; f++)
		if (frame_in_range(&dir->frames[f].meta, from_ts, to_ts))
		{
			maxentries += dir->frames[f].meta.nrows;
			held += merge_bytes(&dir->frames[f].meta);
		}
	/* what the merge holds to its end, in one region (more if the batches outgrow the estimate) */
	arena = tl_arena_create(held + maxentries * sizeof(MergeEntry));
	entries = tl_arena_alloc(arena, sizeof(MergeEntry) * Max(maxentries, 1));
	for (int f = 0; f < dir->nframes; f++)
	{
		const TlFrameMeta *m = &dir->frames[f].meta;
		bytea	   *data;

		CHECK_FOR_INTERRUPTS();
		if (!frame_in_range(m, from_ts, to_ts))
			continue;
		data = fetch_frame(rel, irel, segment_id, attempt, dir->frames[f].frame_no);
		inputs[ninputs] = tl_frame_cursor_open(data, m, segment_id, dir->frames[f].frame_no, no_payload,
											   arena);
		pfree(data);
		tl_frame_cursor_skip_before(inputs[ninputs], from_ts);
		ninputs++;
		if (tl_arena_allocated(arena) + MemoryContextMemAllocated(merge_cxt, true) > MERGE_OPEN_MAX_BYTES)
		{
			ereport(DEBUG1,
					(errmsg_internal("frames of segment %lld take more than %zu MB opened: read one by one",
									 (long long) segment_id, MERGE_OPEN_MAX_BYTES / (1024 * 1024))));
			MemoryContextSwitchTo(outer);
			return false;
		}
	}
	/* from here on only the batches grow (TL_CURSOR_BATCH_BYTES and a row per frame) */
	tl_arena_set_limit(arena, MERGE_HOLD_MAX_BYTES,
					   psprintf("merging the frames of segment %lld", (long long) segment_id));
	for (int i = 0; i < ninputs; i++)
	{
		const TlArchiveRow *r;

		for (int row = tl_frame_cursor_position(inputs[i]);
			 (r = tl_frame_cursor_row(inputs[i], row)) != NULL && r->ts < to_ts; row++)
		{
			entries[nentries].ts = r->ts;
			entries[nentries].input = i;
			entries[nentries].row = row;
			nentries++;
		}
	}
	merge_inputs = inputs;
	sort_merge_entries(entries, nentries);
	merge_inputs = NULL;

	for (Size e = 0; e < nentries; e++)
	{
		TlFrameCursor *c = inputs[entries[e].input];
		const TlArchiveRow *row;

		/*
		 * Each row is in another frame's memory: fetch the cursor a few rows ahead, and its row
		 * once the cursor is there (the loop is bound by these misses, not by its work).
		 */
		if (e + MERGE_PREFETCH * 2 < nentries)
			prefetch(inputs[entries[e + MERGE_PREFETCH * 2].input]);
		if (e + MERGE_PREFETCH < nentries)
			prefetch(tl_frame_cursor_row(inputs[entries[e + MERGE_PREFETCH].input],
										 entries[e + MERGE_PREFETCH].row));
		if (e + MERGE_PREFETCH / 2 < nentries)
		{
			const TlArchiveRow *ahead = tl_frame_cursor_row(inputs[entries[e + MERGE_PREFETCH / 2].input],
															entries[e + MERGE_PREFETCH / 2].row);

			prefetch(ahead->key);
			prefetch(ahead->origin);
		}

		if ((e & 0xff) == 0)
			CHECK_FOR_INTERRUPTS();
		/* (a frame's rows are in record order, checked as it is decoded: never out of turn) */
		if (tl_frame_cursor_position(c) != entries[e].row)
			elog(ERROR, "frame merge of segment %lld is out of turn", (long long) segment_id);
		MemoryContextSwitchTo(row_cxt);
		row = tl_frame_cursor_next(c, builder);
		MemoryContextSwitchTo(outer);
		visit(row, 1, arg);
		MemoryContextReset(row_cxt);
	}
	MemoryContextSwitchTo(outer);
	return true;
}

/*
 * merge_frames() in a memory context of its own, deleted (and the arena's mapping with it) when
 * the merge ends, also by an error: a caller that catches errors per segment (the digest rebuild,
 * check_digests()) would otherwise hold every failed merge's mapping until its own context goes.
 * False when the merge was given up, nothing visited.
 */
static bool
scan_merged(Relation rel, Relation irel, const DirCacheEntry *dir, int64 segment_id, int64 attempt,
			TimestampTz from_ts, TimestampTz to_ts, bool no_payload, const char *rid_log,
			TlFrameVisitor visit, void *arg)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext merge_cxt = AllocSetContextCreate(outer, "tieredlog frame merge", ALLOCSET_DEFAULT_SIZES);
	bool		merged;

	PG_TRY();
	{
		merged = merge_frames(rel, irel, dir, segment_id, attempt, from_ts, to_ts, no_payload, rid_log,
							  visit, arg, outer, merge_cxt);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(outer);
		MemoryContextDelete(merge_cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextDelete(merge_cxt);
	return merged;
}

/*
 * Every frame of (segment, attempt) in frame order, through the directory and the frames scanned
 * together (skey: segment_id and attempt), each frame's wanted rows handed to visit(). A decoded
 * frame takes a few MB: its memory is a context of its own whose large first block survives each
 * reset, so the next frame reuses that memory instead of faulting fresh pages in (measured: about
 * 9% of a tier 2 read); deleted at the end, also by an error (a caller that catches errors per
 * segment, check_digests(), would otherwise keep 4 MB for each damaged segment).
 */
static void
scan_frame_by_frame(Relation rel, Relation irel, const DirCacheEntry *dir, int64 segment_id,
					ScanKeyData *skey, const TlFrameWant *want, TlFrameVisitor visit, void *arg)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext frame_cxt = AllocSetContextCreate(outer, "tieredlog frame read", 4 * 1024 * 1024,
													4 * 1024 * 1024, ALLOCSET_DEFAULT_MAXSIZE);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan;
	HeapTuple	tup;
	bool		isnull;

	PG_TRY();
	{
		scan = systable_beginscan_ordered(rel, irel, GetActiveSnapshot(), 2, skey);
		while (HeapTupleIsValid(tup = systable_getnext_ordered(scan, ForwardScanDirection)))
		{
			TlFrameMeta meta;
			int			frame_no;
			TlArchiveRow *rows = NULL;
			int			n = 0;

			CHECK_FOR_INTERRUPTS();
			/* (the dictionary was read with the directory) */
			if (tuple_is_dictionary(tup, desc, segment_id))
				continue;
			MemoryContextSwitchTo(frame_cxt);
			meta_from_tuple(tup, desc, InvalidAttrNumber, &meta, &frame_no);
			meta.dict = dir->dict;
			if (frame_may_hold(&meta, want, NULL, segment_id, frame_no))
				rows = tl_frame_decode_want(DatumGetByteaPP(heap_getattr(tup, Anum_arch_data, desc, &isnull)),
											&meta, segment_id, frame_no, want, &n);
			MemoryContextSwitchTo(outer);
			if (n > 0)
				visit(rows, n, arg);
			MemoryContextReset(frame_cxt);
		}
		systable_endscan_ordered(scan);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(outer);
		MemoryContextDelete(frame_cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextDelete(frame_cxt);
}

/*
 * Decode every frame of (segment, attempt) that may hold rows with from_ts <= ts < to_ts (and
 * `key`, when not NULL), in frame order, calling visit() with each frame's wanted rows (frames
 * with none are not visited). Frames are pruned by their directory entry first: time bounds, key
 * bounds and, for a key, the frame's key filter; only the frames left are fetched and
 * decompressed, and only their wanted rows are rebuilt. Runs under the active snapshot.
 *
 * The archive relation is read directly (index scans on (segment_id, attempt, frame_no)), not
 * through SPI. A key read takes the directory from the backend's cache and fetches each frame
 * left by its own index probe. Without a key, and with `merge`: frames that overlap in time
 * (clustered by key) are merged, so visit() gets one row at a time in record order (scan_plan,
 * scan_merged), with the directory read as it is now; otherwise the directory and the frames are
 * scanned together and visit() gets each frame's rows. tl_archive_scan_in_record_order tells
 * which order comes out. A caller that needs no order passes merge = false: a merge holds every
 * frame at once, a scan frame by frame one frame.
 *
 * False, having visited nothing, when a merge was planned and given up because the open frames
 * took too much memory (merge_frames): the caller then scans again without `merge`, and sorts.
 */
bool
tl_archive_scan(int32 log_id, int64 segment_id, int64 attempt, TimestampTz from_ts,
				TimestampTz to_ts, text *key, bool merge, const char *rid_log, TlFrameVisitor visit,
				void *arg)
{
	return tl_archive_scan_cols(log_id, segment_id, attempt, from_ts, to_ts, key, false, merge,
								rid_log, visit, arg);
}

/*
 * The same; with no_payload, rows come without their payloads (payload NULL), which are then
 * neither read nor rebuilt: for readers that use neither the payload nor the rid. With rid_log
 * (the log's name), rows come with their rids (has_rid) instead of their payloads' text.
 */
bool
tl_archive_scan_cols(int32 log_id, int64 segment_id, int64 attempt, TimestampTz from_ts,
					 TimestampTz to_ts, text *key, bool no_payload, bool merge, const char *rid_log,
					 TlFrameVisitor visit, void *arg)
{
	Oid			relid = get_relname_relid(tl_archive_relname(log_id), tl_data_namespace());
	Oid			indexid = get_relname_relid(psprintf("archive_%d_frames", log_id), tl_data_namespace());
	MemoryContext frame_cxt;
	MemoryContext outer = CurrentMemoryContext;
	Relation	rel;
	Relation	irel;
	TupleDesc	desc;
	AttrNumber	filter_att;
	ScanKeyData skey[3];
	SysScanDesc scan;
	HeapTuple	tup;
	TlFrameWant want = {from_ts, to_ts, key, no_payload, rid_log};
	bool		isnull;
	MemoryContext guard = NULL;
	DirCacheEntry *dir;
	bool		visited = true;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive of segment %lld is missing", (long long) segment_id)));
	rel = table_open(relid, AccessShareLock);
	irel = index_open(indexid, AccessShareLock);
	desc = RelationGetDescr(rel);
	if (desc->natts < Natts_arch_fixed)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive relation \"%s\" has %d columns, fewer than %d",
						RelationGetRelationName(rel), desc->natts, Natts_arch_fixed)));
	filter_att = tl_archive_key_filter_attnum(relid);
	ScanKeyInit(&skey[0], Anum_arch_segment_id, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(segment_id));
	ScanKeyInit(&skey[1], Anum_arch_attempt, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(attempt));

	if (key)
	{
		int			first;
		int			end;
		DirFrame   *frames;
		MemoryContextCallback *release;
		TlKeyHash	kh;

		dir = dir_cache_get(rel, irel, segment_id, attempt, filter_att, false);
		dir_key_range(dir, key, &first, &end);
		frames = dir->frames;

		tl_key_filter_hash(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), &kh);
		/*
		 * The entry stays while the frames are read: released when `guard` goes, at the end or
		 * with the caller's memory at an error.
		 */
		guard = AllocSetContextCreate(outer, "tieredlog directory in use", ALLOCSET_SMALL_SIZES);
		release = MemoryContextAlloc(guard, sizeof(MemoryContextCallback));
		release->func = dir_cache_release;
		release->arg = NULL;
		/*
		 * Key reads are short and many: their frame memory (one decompressed frame, the few rows
		 * rebuilt) is kept for the backend and reset after each frame, so that a lookup does
		 * not fault fresh pages in (the first block, 1 MB, survives resets).
		 */
		if (key_read_cxt == NULL)
			key_read_cxt = AllocSetContextCreate(TopMemoryContext, "tieredlog key read",
												 1024 * 1024, 1024 * 1024, ALLOCSET_DEFAULT_MAXSIZE);
		if (!key_read_in_use)
		{
			key_read_in_use = true;
			frame_cxt = key_read_cxt;
			release->arg = key_read_cxt;
		}
		else
			frame_cxt = AllocSetContextCreate(outer, "tieredlog frame read", ALLOCSET_DEFAULT_SIZES);
		dir_cache_busy++;
		MemoryContextRegisterResetCallback(guard, release);
		for (int f = first; f < end; f++)
		{
			TlArchiveRow *rows;
			int			n = 0;

			CHECK_FOR_INTERRUPTS();
			if (!frame_may_hold(&frames[f].meta, &want, &kh, segment_id, frames[f].frame_no))
				continue;
			MemoryContextSwitchTo(frame_cxt);
			ScanKeyInit(&skey[2], Anum_arch_frame_no, BTEqualStrategyNumber, F_INT4EQ,
						Int32GetDatum(frames[f].frame_no));
			scan = systable_beginscan_ordered(rel, irel, GetActiveSnapshot(), 3, skey);
			tup = systable_getnext_ordered(scan, ForwardScanDirection);
			if (!HeapTupleIsValid(tup))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("archive frame %d of segment %lld is missing", frames[f].frame_no,
								(long long) segment_id)));
			rows = tl_frame_decode_want(DatumGetByteaPP(heap_getattr(tup, Anum_arch_data, desc, &isnull)),
										&frames[f].meta, segment_id, frames[f].frame_no, &want, &n);
			systable_endscan_ordered(scan);
			MemoryContextSwitchTo(outer);
			if (n > 0)
				visit(rows, n, arg);
			MemoryContextReset(frame_cxt);
		}
	}
	else if (merge &&
			 scan_plan(dir = dir_cache_get(rel, irel, segment_id, attempt, InvalidAttrNumber, true),
					   from_ts, to_ts) == PLAN_MERGE)
	{
		/* frames clustered by key: merged into record order (the directory read just now) */
		visited = scan_merged(rel, irel, dir, segment_id, attempt, from_ts, to_ts, no_payload, rid_log,
							  visit, arg);
		tl_archive_dict_free(dir->dict);
		frame_cxt = NULL;
	}
	else
	{
		/* (the directory: read by the merge's condition, unless no merge was asked for) */
		if (!merge)
			dir = dir_cache_get(rel, irel, segment_id, attempt, InvalidAttrNumber, true);

		scan_frame_by_frame(rel, irel, dir, segment_id, skey, &want, visit, arg);
		tl_archive_dict_free(dir->dict);
		frame_cxt = NULL;
	}
	index_close(irel, NoLock);
	table_close(rel, NoLock);
	if (frame_cxt != NULL && frame_cxt != key_read_cxt)
		MemoryContextDelete(frame_cxt);
	/* (releases the directory, and resets the shared frame memory if this read used it) */
	if (guard)
		MemoryContextDelete(guard);
	return visited;
}

/*
 * The uncompressed bytes of frame `frame_no` of (segment, attempt), checked as a read checks them
 * (with the segment's dictionary): the corpus of tieredlog._archive_frame_raw() for fuzzing.
 */
bytea *
tl_archive_frame_raw(int32 log_id, int64 segment_id, int64 attempt, int frame_no)
{
	Relation	rel;
	Relation	irel;
	DirCacheEntry *dir;
	bytea	   *out = NULL;

	open_archive(log_id, segment_id, &rel, &irel);
	dir = dir_cache_get(rel, irel, segment_id, attempt, InvalidAttrNumber, true);
	for (int f = 0; f < dir->nframes && out == NULL; f++)
		if (dir->frames[f].frame_no == frame_no)
			out = tl_frame_decompress(fetch_frame(rel, irel, segment_id, attempt, frame_no),
									  &dir->frames[f].meta, segment_id, frame_no);
	tl_archive_dict_free(dir->dict);
	index_close(irel, NoLock);
	table_close(rel, NoLock);
	if (out == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment %lld has no archive frame %d", (long long) segment_id, frame_no)));
	return out;
}

/* The frame directory of (segment, attempt), for segment_frames(). */
void
tl_archive_directory(int32 log_id, int64 segment_id, int64 attempt, Tuplestorestate *out,
					 TupleDesc out_desc)
{
	TlAsOwner	save;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		v[2] = {Int64GetDatum(segment_id), Int64GetDatum(attempt)};

	if (!tl_archive_exists(log_id))
		return;
	tl_become_owner(&save);
	tl_spi_exec(psprintf("SELECT frame_no, nrows, first_ts, last_ts, min_key, max_key, raw_len, comp_len, "
						 "lpad(to_hex(checksum), 16, '0') FROM %s WHERE segment_id = $1 AND attempt = $2 "
						 "AND frame_no >= 0 ORDER BY frame_no", tl_archive_qualified(log_id)), 2, types, v, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		values[9];
		bool		nulls[9];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
		tuplestore_putvalues(out, out_desc, values, nulls);
	}
	tl_restore_user(&save);
}

/* Compressed bytes of (segment, attempt), TOAST included. */
int64
tl_archive_bytes(int32 log_id, int64 segment_id, int64 attempt)
{
	TlAsOwner	save;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		v[2] = {Int64GetDatum(segment_id), Int64GetDatum(attempt)};
	int64		bytes = 0;
	bool		isnull;

	if (!tl_archive_exists(log_id))
		return 0;
	tl_become_owner(&save);
	tl_spi_exec(psprintf("SELECT COALESCE(sum(pg_column_size(a.*)), 0)::bigint FROM %s a "
						 "WHERE segment_id = $1 AND attempt = $2", tl_archive_qualified(log_id)),
				2, types, v, SPI_OK_SELECT);
	if (SPI_processed == 1)
		bytes = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_restore_user(&save);
	return bytes;
}

/* Delete the frames of (segment, attempt); returns how many. */
int64
tl_archive_delete(int32 log_id, int64 segment_id, int64 attempt)
{
	TlAsOwner	save;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		v[2] = {Int64GetDatum(segment_id), Int64GetDatum(attempt)};
	int64		n;

	if (!tl_archive_exists(log_id))
		return 0;
	tl_become_owner(&save);
	tl_spi_exec(psprintf("DELETE FROM %s WHERE segment_id = $1 AND attempt = $2",
						 tl_archive_qualified(log_id)), 2, types, v, SPI_OK_DELETE);
	n = (int64) SPI_processed;
	tl_restore_user(&save);
	return n;
}
