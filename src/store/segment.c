/*-------------------------------------------------------------------------
 * segment.c
 *		Segment windows, and the backend-local caches of logs and segments used by append; a
 *		segment's relation locked and checked against the catalog generation (append, scrub).
 *
 * A segment's window is [start, start + interval) with start a multiple of the log's interval
 * counted from 1970-01-01 00:00 UTC, so it depends on the record alone and the same segment
 * exists on every node.
 *
 * Caches: log name -> TlLog and (log, window start) -> TlSegment. They are marked stale by a
 * relcache invalidation of a cached segment's relation (or of all relations), at transaction abort
 * (a segment created by the aborted transaction is gone), and when the shared catalog generation
 * moves (another backend dropped a log or moved a segment and committed). A stale cache is only
 * thrown away at the start of the next lookup, never from inside a callback: invalidations are
 * processed whenever a lock is taken, in the middle of a lookup, and must not free what the lookup
 * is using.
 *
 * Locking: none here; catalog.c takes the segment-creation lock.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "store/catalog.h"
#include "store/segment.h"
#include "core/shmem.h"
#include "core/tieredlog.h"

#define TL_UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

typedef struct LogCacheEntry
{
	char		name[NAMEDATALEN];
	TlLog		log;
} LogCacheEntry;

typedef struct SegCacheKey
{
	int32		log_id;
	TimestampTz range_start;
} SegCacheKey;

typedef struct SegCacheEntry
{
	SegCacheKey key;
	TlSegment	seg;
} SegCacheEntry;

static HTAB *log_cache = NULL;
static HTAB *seg_cache = NULL;
static uint64 cache_generation = 0;
static bool cache_stale = false;

TimestampTz
tl_window_start(TimestampTz ts, int64 interval_us)
{
	int64		u = ts + TL_UNIX_EPOCH_OFFSET_US;
	int64		q;

	if (interval_us <= 0)
		elog(ERROR, "segment interval of %lld us is not positive", (long long) interval_us);
	q = u / interval_us;
	if (u % interval_us < 0)
		q--;
	return q * interval_us - TL_UNIX_EPOCH_OFFSET_US;
}

/* A record's ts must be finite and its whole segment window representable. */
void
tl_check_ts(const TlLog *log, TimestampTz ts)
{
	TimestampTz start;

	if (TIMESTAMP_NOT_FINITE(ts) || !IS_VALID_TIMESTAMP(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("record timestamp is outside the range a segment of log \"%s\" can hold", log->name),
				 errdetail("Infinite timestamps have no segment.")));
	start = tl_window_start(ts, log->interval_us);
	if (!IS_VALID_TIMESTAMP(start) || !IS_VALID_TIMESTAMP(start + log->interval_us))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("record timestamp %s is outside the range a segment of log \"%s\" can hold",
						timestamptz_to_str(ts), log->name)));
}

/*
 * The relation of `seg` (looked up at catalog generation `gen`), locked in `mode`, when the
 * generation is still `gen` once the lock is held: a move that flipped the segment meanwhile has
 * bumped it before releasing its own locks, so the caller never writes into a copy that was just
 * replaced. NULL when the relation is gone or the generation moved (then the lock is kept when
 * keep_lock, else released); the caller looks the segment up again.
 */
Relation
tl_segment_lock_relation(const TlSegment *seg, uint64 gen, LOCKMODE mode, bool keep_lock)
{
	Relation	rel = try_table_open(seg->relid, mode);

	if (rel != NULL && gen == tl_catalog_generation())
		return rel;
	if (rel != NULL)
		table_close(rel, keep_lock ? NoLock : mode);
	return NULL;
}

/* Mark the caches stale; they are rebuilt at the next lookup. Safe to call from callbacks. */
void
tl_segment_cache_reset(void)
{
	cache_stale = true;
}

static void
ensure_caches(void)
{
	HASHCTL		ctl;
	uint64		gen = tl_catalog_generation();

	if (gen != cache_generation || cache_stale)
	{
		if (log_cache)
			hash_destroy(log_cache);
		if (seg_cache)
			hash_destroy(seg_cache);
		log_cache = NULL;
		seg_cache = NULL;
		cache_generation = gen;
		cache_stale = false;
	}
	if (log_cache != NULL)
		return;
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(LogCacheEntry);
	ctl.hcxt = CacheMemoryContext;
	log_cache = hash_create("tieredlog logs", 16, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = sizeof(SegCacheKey);
	ctl.entrysize = sizeof(SegCacheEntry);
	seg_cache = hash_create("tieredlog segments", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * The log named `name`, or an error naming it. The name must already be valid. Results are
 * copied out: a cache entry can vanish at the next invalidation.
 */
void
tl_lookup_log(const char *name, TlLog *out)
{
	if (!tl_lookup_log_if_exists(name, out))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("log \"%s\" does not exist", name),
				 errhint("Create it with tieredlog.create_log().")));
}

/* The same, returning false for a log that does not exist (nothing is cached then). */
bool
tl_lookup_log_if_exists(const char *name, TlLog *out)
{
	LogCacheEntry *e;
	bool		found;
	TlLog		log;

	ensure_caches();
	e = hash_search(log_cache, name, HASH_FIND, NULL);
	if (e)
	{
		*out = e->log;
		return true;
	}
	if (!tl_catalog_find_log(name, &log))
		return false;
	/* the lookup took locks, so invalidations may have marked the caches stale */
	ensure_caches();
	e = hash_search(log_cache, name, HASH_ENTER, &found);
	e->log = log;
	*out = log;
	return true;
}

/* Remember a segment in the cache (after a catalog lookup, which may have marked it stale). */
static void
cache_segment(const TlSegment *seg)
{
	SegCacheKey key;
	SegCacheEntry *e;
	bool		found;

	ensure_caches();
	memset(&key, 0, sizeof(key));
	key.log_id = seg->log_id;
	key.range_start = seg->range_start;
	e = hash_search(seg_cache, &key, HASH_ENTER, &found);
	e->seg = *seg;
}

/* The segment of `log` whose window holds ts, if it exists (cached like the append's lookups). */
bool
tl_segment_lookup(const TlLog *log, TimestampTz ts, TlSegment *out)
{
	SegCacheKey key;
	SegCacheEntry *e;

	ensure_caches();
	memset(&key, 0, sizeof(key));
	key.log_id = log->log_id;
	key.range_start = tl_window_start(ts, log->interval_us);
	e = hash_search(seg_cache, &key, HASH_FIND, NULL);
	if (e)
	{
		*out = e->seg;
		return true;
	}
	if (!tl_catalog_find_segment(log->log_id, key.range_start, out))
		return false;
	cache_segment(out);
	return true;
}

/* The segment a record of `log` with timestamp ts goes to, created if need be. */
void
tl_segment_for_append(const TlLog *log, TimestampTz ts, TlSegment *out)
{
	if (tl_segment_lookup(log, ts, out))
		return;
	*out = *tl_catalog_create_segment(log, tl_window_start(ts, log->interval_us));
	/* the creation took locks, so invalidations may have marked the caches stale */
	cache_segment(out);
}

/* A cached segment's relation changed (or every relation did): the cache may point at it. */
static void
relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	SegCacheEntry *e;

	if (seg_cache == NULL || cache_stale)
		return;
	if (!OidIsValid(relid))
	{
		cache_stale = true;
		return;
	}
	hash_seq_init(&seq, seg_cache);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->seg.relid == relid)
		{
			cache_stale = true;
			hash_seq_term(&seq);
			break;
		}
	}
}

static void
segment_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		tl_segment_cache_reset();
}

static void
segment_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		tl_segment_cache_reset();
}

void
tl_segment_cache_register(void)
{
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	RegisterXactCallback(segment_xact_callback, NULL);
	RegisterSubXactCallback(segment_subxact_callback, NULL);
}
