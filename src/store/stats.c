/*-------------------------------------------------------------------------
 * stats.c
 *		Access statistics per segment (reads, local writes, remote writes, unstreamed writes, bytes
 *		read, last access, reads in the current promote window), pg_stat style. An unstreamed
 *		write is a local write made while the session has a replication origin set: the output
 *		plugin skips such transactions (decoder.c), so only anti-entropy brings them to peers.
 *
 * Backends count into a local table and add it to shared memory when their transaction ends
 * (writes only if it committed; reads either way), so an append costs a local hash lookup and
 * nothing shared. The shared table holds at most tieredlog.stats_max_segments entries of about
 * 180 bytes; when it is full the entry accessed longest ago is evicted (its counts since the last
 * flush are lost; tieredlog.stats_evicted in status() says how often). The database's worker
 * flushes the counts since the previous flush into tieredlog.access_history. The table is
 * written to pg_stat/tieredlog.stat at a clean shutdown and read back at startup; after a crash
 * it starts empty, so live counts are approximate after a crash (the history keeps what was
 * flushed).
 *
 * Locking: one LWLock ("tieredlog_stats") protects the table's shape: shared to find an entry
 * and change its counters (atomics), exclusive to add, evict or remove entries. The window and
 * flushed-baseline fields of an entry are protected by the entry's spinlock. Nothing here may
 * raise an error while adding counts at transaction end (the transaction has committed).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/origin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "store/stats.h"
#include "core/shmem.h"
#include "core/guc.h"
#include "core/tieredlog.h"

#define STATS_FILE		"pg_stat/tieredlog.stat"
#define STATS_MAGIC		0x544C5354	/* "TLST" */
#define STATS_VERSION	2

typedef struct StatKey
{
	Oid			dboid;
	uint32		pad;			/* zero: keys are hashed as bytes */
	int64		segment_id;
} StatKey;

typedef struct StatEntry
{
	StatKey		key;
	pg_atomic_uint64 reads;
	pg_atomic_uint64 local_writes;
	pg_atomic_uint64 remote_writes;
	pg_atomic_uint64 unstreamed_writes;
	pg_atomic_uint64 bytes_read;
	pg_atomic_uint64 last_access;	/* TimestampTz */
	slock_t		mutex;
	TimestampTz window_start;	/* reads since window_start, a tumbling promote window */
	int64		window_reads;
	int64		flushed_reads;	/* totals already in access_history */
	int64		flushed_local_writes;
	int64		flushed_remote_writes;
	int64		flushed_unstreamed_writes;
	int64		flushed_bytes_read;
	TimestampTz flushed_last_access;
} StatEntry;

/* An entry as written to the stats file. */
typedef struct StatFileEntry
{
	StatKey		key;
	int64		reads;
	int64		local_writes;
	int64		remote_writes;
	int64		unstreamed_writes;
	int64		bytes_read;
	TimestampTz last_access;
	TimestampTz window_start;
	int64		window_reads;
	int64		flushed[5];
	TimestampTz flushed_last_access;
} StatFileEntry;

typedef struct StatShared
{
	LWLock	   *lock;
	pg_atomic_uint64 evicted;
	pg_atomic_uint32 full_said;	/* "the table is full" logged since startup */
} StatShared;

static StatShared *stat_shared = NULL;
static HTAB *stat_table = NULL;
static bool say_full = false;	/* this backend made the first eviction: log it, locks released */

/* ---- backend-local pending counts ---------------------------------------------------------- */

typedef struct PendingEntry
{
	int64		segment_id;
	int64		reads;
	int64		bytes_read;
	int64		local_writes;
	int64		remote_writes;
	int64		unstreamed_writes;
	TimestampTz last_read;
	TimestampTz last_write;
} PendingEntry;

static HTAB *pending = NULL;
static bool pending_any = false;

static PendingEntry *
pending_entry(int64 segment_id)
{
	bool		found;
	PendingEntry *p;

	if (pending == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(PendingEntry);
		ctl.hcxt = TopMemoryContext;
		pending = hash_create("tieredlog pending access counts", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	p = hash_search(pending, &segment_id, HASH_ENTER, &found);
	if (!found)
	{
		memset(p, 0, sizeof(*p));
		p->segment_id = segment_id;
	}
	pending_any = true;
	return p;
}

void
tl_stats_count_read(int64 segment_id, int64 bytes)
{
	PendingEntry *p;

	if (!tl_track_access || stat_shared == NULL)
		return;
	p = pending_entry(segment_id);
	p->reads++;
	p->bytes_read += bytes;
	p->last_read = GetCurrentStatementStartTimestamp();
}

void
tl_stats_count_writes(int64 segment_id, int64 n, bool remote)
{
	PendingEntry *p;

	if (!tl_track_access || stat_shared == NULL)
		return;
	p = pending_entry(segment_id);
	if (remote)
		p->remote_writes += n;
	else
	{
		p->local_writes += n;
		if (replorigin_session_origin != InvalidRepOriginId)
			p->unstreamed_writes += n;
	}
	p->last_write = GetCurrentStatementStartTimestamp();
}

/* ---- the shared table ------------------------------------------------------------------------ */

static void
atomic_max_u64(pg_atomic_uint64 *v, uint64 x)
{
	uint64		cur = pg_atomic_read_u64(v);

	while (cur < x && !pg_atomic_compare_exchange_u64(v, &cur, x))
		;
}

static void
init_entry(StatEntry *e)
{
	pg_atomic_init_u64(&e->reads, 0);
	pg_atomic_init_u64(&e->local_writes, 0);
	pg_atomic_init_u64(&e->remote_writes, 0);
	pg_atomic_init_u64(&e->unstreamed_writes, 0);
	pg_atomic_init_u64(&e->bytes_read, 0);
	pg_atomic_init_u64(&e->last_access, 0);
	SpinLockInit(&e->mutex);
	e->window_start = 0;
	e->window_reads = 0;
	e->flushed_reads = e->flushed_local_writes = e->flushed_remote_writes = e->flushed_bytes_read = 0;
	e->flushed_unstreamed_writes = 0;
	e->flushed_last_access = 0;
}

/* Remove the entry accessed longest ago. Caller holds the lock exclusively. */
static void
evict_oldest(void)
{
	HASH_SEQ_STATUS seq;
	StatEntry  *e;
	StatKey		victim;
	uint64		oldest = PG_UINT64_MAX;
	bool		any = false;

	hash_seq_init(&seq, stat_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		uint64		la = pg_atomic_read_u64(&e->last_access);

		if (!any || la < oldest)
		{
			oldest = la;
			victim = e->key;
			any = true;
		}
	}
	if (any)
	{
		uint32		never = 0;

		hash_search(stat_table, &victim, HASH_REMOVE, NULL);
		pg_atomic_fetch_add_u64(&stat_shared->evicted, 1);
		if (pg_atomic_compare_exchange_u32(&stat_shared->full_said, &never, 1))
			say_full = true;
	}
}

/*
 * The first eviction since startup is logged, once for the whole server (status().stats_evicted
 * counts them all). Called with no lock held; LOG only, so safe after a commit.
 */
static void
report_full(void)
{
	if (!say_full)
		return;
	say_full = false;
	ereport(LOG,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("tieredlog: the access statistics table is full (%d segments); the counters of the segment accessed longest ago are evicted",
					tl_stats_max_segments),
			 errdetail("Segments that are tracked keep their counters; an evicted segment starts again from zero, which can delay its promotion or demotion."),
			 errhint("Raise tieredlog.stats_max_segments (needs a restart); status().stats_evicted counts the evictions.")));
}

/* Find or add an entry. Caller holds the lock exclusively. NULL only if shared memory ran out. */
static StatEntry *
enter_entry(const StatKey *key)
{
	bool		found;
	StatEntry  *e;

	if (hash_get_num_entries(stat_table) >= tl_stats_max_segments)
		evict_oldest();
	e = hash_search(stat_table, key, HASH_ENTER_NULL, &found);
	if (e != NULL && !found)
		init_entry(e);
	return e;
}

static void
add_pending(StatEntry *e, const PendingEntry *p, bool committed)
{
	TimestampTz last = p->last_read;

	if (p->reads > 0)
	{
		TimestampTz now = p->last_read;

		pg_atomic_fetch_add_u64(&e->reads, p->reads);
		pg_atomic_fetch_add_u64(&e->bytes_read, p->bytes_read);
		SpinLockAcquire(&e->mutex);
		if (e->window_start == 0 ||
			now - e->window_start > (int64) tl_promote_window_s * USECS_PER_SEC)
		{
			e->window_start = now;
			e->window_reads = 0;
		}
		e->window_reads += p->reads;
		SpinLockRelease(&e->mutex);
	}
	if (committed && (p->local_writes > 0 || p->remote_writes > 0))
	{
		pg_atomic_fetch_add_u64(&e->local_writes, p->local_writes);
		pg_atomic_fetch_add_u64(&e->remote_writes, p->remote_writes);
		pg_atomic_fetch_add_u64(&e->unstreamed_writes, p->unstreamed_writes);
		last = Max(last, p->last_write);
	}
	if (last > 0)
		atomic_max_u64(&e->last_access, (uint64) last);
}

static bool
pending_matters(const PendingEntry *p, bool committed)
{
	return p->reads > 0 || (committed && (p->local_writes > 0 || p->remote_writes > 0));
}

/*
 * Add the pending counts to the shared entries (the caller holds the table's lock: shared, or
 * exclusive with `create`, which enters a missing segment's entry). Counts added are zeroed.
 * Returns whether a segment had no entry (and no room for one with `create`).
 */
static bool
fold_pending(bool committed, bool create)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *p;
	bool		missing = false;
	StatKey		key = {MyDatabaseId, 0, 0};

	hash_seq_init(&seq, pending);
	while ((p = hash_seq_search(&seq)) != NULL)
	{
		StatEntry  *e;

		if (!pending_matters(p, committed))
			continue;
		key.segment_id = p->segment_id;
		e = create ? enter_entry(&key) : hash_search(stat_table, &key, HASH_FIND, NULL);
		if (e == NULL)
		{
			missing = true;
			continue;
		}
		add_pending(e, p, committed);
		p->reads = p->local_writes = p->remote_writes = p->unstreamed_writes = 0;
	}
	return missing;
}

/* Add this backend's pending counts to the shared table. Raises no error. */
static void
flush_pending(bool committed)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *p;
	bool		missing;

	if (!pending_any || stat_shared == NULL)
		return;
	LWLockAcquire(stat_shared->lock, LW_SHARED);
	missing = fold_pending(committed, false);
	LWLockRelease(stat_shared->lock);

	if (missing)
	{
		/* new segments: their entries are entered under the exclusive lock */
		LWLockAcquire(stat_shared->lock, LW_EXCLUSIVE);
		(void) fold_pending(committed, true);
		LWLockRelease(stat_shared->lock);
		report_full();
	}

	/*
	 * Start the next transaction empty. Entries of a backend that touches few segments are reused;
	 * one that has touched many gives the memory back rather than keeping an entry per segment.
	 */
	if (hash_get_num_entries(pending) > 256)
	{
		hash_destroy(pending);
		pending = NULL;
	}
	else
	{
		hash_seq_init(&seq, pending);
		while ((p = hash_seq_search(&seq)) != NULL)
		{
			int64		id = p->segment_id;

			memset(p, 0, sizeof(*p));
			p->segment_id = id;
		}
	}
	pending_any = false;
}

/*
 * Counts reach the shared table when their transaction ends here: at commit (writes and reads),
 * at abort (reads only), and at PREPARE TRANSACTION, counted as if committed: the transaction
 * ends in another command, maybe in another session, and most prepared transactions commit. (They
 * used to stay pending until this session's next commit, and were lost if it ended first.)
 */
static void
stats_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PREPARE)
		flush_pending(true);
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		flush_pending(false);
}

void
tl_stats_register(void)
{
	RegisterXactCallback(stats_xact_callback, NULL);
}

/* ---- shared memory and the stats file -------------------------------------------------------- */

Size
tl_stats_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(StatShared)),
					hash_estimate_size(tl_stats_max_segments, sizeof(StatEntry)));
}

void
tl_stats_shmem_request(void)
{
	RequestAddinShmemSpace(tl_stats_shmem_size());
	RequestNamedLWLockTranche("tieredlog_stats", 1);
}

static void
write_stats_file(int code, Datum arg)
{
	FILE	   *f;
	HASH_SEQ_STATUS seq;
	StatEntry  *e;
	uint32		header[2] = {STATS_MAGIC, STATS_VERSION};
	int32		n;

	/* only at a clean shutdown, and only from the postmaster (no backend left) */
	if (code != 0 || stat_shared == NULL)
		return;
	f = AllocateFile(STATS_FILE ".tmp", PG_BINARY_W);
	if (f == NULL)
		goto error;
	n = hash_get_num_entries(stat_table);
	if (fwrite(header, sizeof(header), 1, f) != 1 || fwrite(&n, sizeof(n), 1, f) != 1)
		goto error;
	hash_seq_init(&seq, stat_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		StatFileEntry fe;

		memset(&fe, 0, sizeof(fe));
		fe.key = e->key;
		fe.reads = pg_atomic_read_u64(&e->reads);
		fe.local_writes = pg_atomic_read_u64(&e->local_writes);
		fe.remote_writes = pg_atomic_read_u64(&e->remote_writes);
		fe.unstreamed_writes = pg_atomic_read_u64(&e->unstreamed_writes);
		fe.bytes_read = pg_atomic_read_u64(&e->bytes_read);
		fe.last_access = pg_atomic_read_u64(&e->last_access);
		fe.window_start = e->window_start;
		fe.window_reads = e->window_reads;
		fe.flushed[0] = e->flushed_reads;
		fe.flushed[1] = e->flushed_local_writes;
		fe.flushed[2] = e->flushed_remote_writes;
		fe.flushed[3] = e->flushed_bytes_read;
		fe.flushed[4] = e->flushed_unstreamed_writes;
		fe.flushed_last_access = e->flushed_last_access;
		if (fwrite(&fe, sizeof(fe), 1, f) != 1)
		{
			hash_seq_term(&seq);
			goto error;
		}
	}
	if (FreeFile(f) != 0)
	{
		f = NULL;
		goto error;
	}
	(void) durable_rename(STATS_FILE ".tmp", STATS_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write tieredlog access statistics file \"%s\": %m", STATS_FILE ".tmp")));
	if (f)
		FreeFile(f);
	unlink(STATS_FILE ".tmp");
}

static void
read_stats_file(void)
{
	FILE	   *f = AllocateFile(STATS_FILE, PG_BINARY_R);
	uint32		header[2];
	int32		n;

	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read tieredlog access statistics file \"%s\": %m", STATS_FILE)));
		return;
	}
	if (fread(header, sizeof(header), 1, f) != 1 || header[0] != STATS_MAGIC ||
		header[1] != STATS_VERSION || fread(&n, sizeof(n), 1, f) != 1 || n < 0)
	{
		ereport(LOG, (errmsg("ignoring tieredlog access statistics file \"%s\": bad header", STATS_FILE)));
		n = 0;
	}
	for (int i = 0; i < n; i++)
	{
		StatFileEntry fe;
		StatEntry  *e;

		if (fread(&fe, sizeof(fe), 1, f) != 1)
		{
			ereport(LOG, (errmsg("tieredlog access statistics file \"%s\" is truncated", STATS_FILE)));
			break;
		}
		fe.key.pad = 0;
		if ((e = enter_entry(&fe.key)) == NULL)
			break;
		pg_atomic_write_u64(&e->reads, fe.reads);
		pg_atomic_write_u64(&e->local_writes, fe.local_writes);
		pg_atomic_write_u64(&e->remote_writes, fe.remote_writes);
		pg_atomic_write_u64(&e->unstreamed_writes, fe.unstreamed_writes);
		pg_atomic_write_u64(&e->bytes_read, fe.bytes_read);
		pg_atomic_write_u64(&e->last_access, fe.last_access);
		e->window_start = fe.window_start;
		e->window_reads = fe.window_reads;
		e->flushed_reads = fe.flushed[0];
		e->flushed_local_writes = fe.flushed[1];
		e->flushed_remote_writes = fe.flushed[2];
		e->flushed_bytes_read = fe.flushed[3];
		e->flushed_unstreamed_writes = fe.flushed[4];
		e->flushed_last_access = fe.flushed_last_access;
	}
	FreeFile(f);
	report_full();
	/* a crash from now on restarts from an empty table, never from these counts again */
	unlink(STATS_FILE);
}

/* Called with AddinShmemInitLock held. */
void
tl_stats_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	stat_shared = ShmemInitStruct("tieredlog stats", sizeof(StatShared), &found);
	if (!found)
	{
		stat_shared->lock = &(GetNamedLWLockTranche("tieredlog_stats"))->lock;
		pg_atomic_init_u64(&stat_shared->evicted, 0);
		pg_atomic_init_u32(&stat_shared->full_said, 0);
	}
	info.keysize = sizeof(StatKey);
	info.entrysize = sizeof(StatEntry);
	stat_table = ShmemInitHash("tieredlog stats table", tl_stats_max_segments, tl_stats_max_segments,
							   &info, HASH_ELEM | HASH_BLOBS);
	if (!IsUnderPostmaster)
	{
		on_shmem_exit(write_stats_file, (Datum) 0);
		if (!found)
			read_stats_file();
	}
}

/* ---- the worker's flush --------------------------------------------------------------------- */

/* This database's counts since the last flush (entries with nothing new are left out). */
TlStatDelta *
tl_stats_collect_deltas(int *n)
{
	HASH_SEQ_STATUS seq;
	StatEntry  *e;
	TlStatDelta *out;
	int			cap;

	*n = 0;
	LWLockAcquire(stat_shared->lock, LW_SHARED);
	cap = Max(hash_get_num_entries(stat_table), 1);
	out = palloc(sizeof(TlStatDelta) * cap);
	hash_seq_init(&seq, stat_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		TlStatDelta *d;

		if (e->key.dboid != MyDatabaseId || *n >= cap)
			continue;
		d = &out[*n];
		d->segment_id = e->key.segment_id;
		d->total_reads = pg_atomic_read_u64(&e->reads);
		d->total_local_writes = pg_atomic_read_u64(&e->local_writes);
		d->total_remote_writes = pg_atomic_read_u64(&e->remote_writes);
		d->total_unstreamed_writes = pg_atomic_read_u64(&e->unstreamed_writes);
		d->total_bytes_read = pg_atomic_read_u64(&e->bytes_read);
		d->last_access = pg_atomic_read_u64(&e->last_access);
		SpinLockAcquire(&e->mutex);
		d->reads = d->total_reads - e->flushed_reads;
		d->local_writes = d->total_local_writes - e->flushed_local_writes;
		d->remote_writes = d->total_remote_writes - e->flushed_remote_writes;
		d->unstreamed_writes = d->total_unstreamed_writes - e->flushed_unstreamed_writes;
		d->bytes_read = d->total_bytes_read - e->flushed_bytes_read;
		if (d->reads != 0 || d->local_writes != 0 || d->remote_writes != 0 ||
			d->last_access != e->flushed_last_access)
			(*n)++;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(stat_shared->lock);
	return out;
}

/* After the history rows committed: the deltas are now part of the flushed baseline. */
void
tl_stats_mark_flushed(const TlStatDelta *d, int n)
{
	StatKey		key = {MyDatabaseId, 0, 0};

	LWLockAcquire(stat_shared->lock, LW_SHARED);
	for (int i = 0; i < n; i++)
	{
		StatEntry  *e;

		key.segment_id = d[i].segment_id;
		if ((e = hash_search(stat_table, &key, HASH_FIND, NULL)) == NULL)
			continue;
		SpinLockAcquire(&e->mutex);
		e->flushed_reads = d[i].total_reads;
		e->flushed_local_writes = d[i].total_local_writes;
		e->flushed_remote_writes = d[i].total_remote_writes;
		e->flushed_unstreamed_writes = d[i].total_unstreamed_writes;
		e->flushed_bytes_read = d[i].total_bytes_read;
		e->flushed_last_access = d[i].last_access;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(stat_shared->lock);
}

void
tl_stats_forget_segment(Oid dboid, int64 segment_id)
{
	StatKey		key = {dboid, 0, segment_id};

	LWLockAcquire(stat_shared->lock, LW_EXCLUSIVE);
	hash_search(stat_table, &key, HASH_REMOVE, NULL);
	LWLockRelease(stat_shared->lock);
}

/* A promoted segment must be read again, in a new window, before it is promoted further. */
void
tl_stats_restart_window(int64 segment_id)
{
	StatKey		key = {MyDatabaseId, 0, segment_id};
	StatEntry  *e;

	LWLockAcquire(stat_shared->lock, LW_SHARED);
	if ((e = hash_search(stat_table, &key, HASH_FIND, NULL)) != NULL)
	{
		SpinLockAcquire(&e->mutex);
		e->window_start = 0;
		e->window_reads = 0;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(stat_shared->lock);
}

/* ---- SQL ------------------------------------------------------------------------------------ */

/* The live entries of this database: see tieredlog._stat_live() in the install script. */
void
tl_stats_live_rows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	StatEntry  *e;
	TimestampTz now = GetCurrentTimestamp();

	tl_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(stat_shared->lock, LW_SHARED);
	hash_seq_init(&seq, stat_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		Datum		v[8];
		bool		nulls[8] = {0};
		uint64		la = pg_atomic_read_u64(&e->last_access);
		int64		window_reads;

		if (e->key.dboid != MyDatabaseId)
			continue;
		SpinLockAcquire(&e->mutex);
		window_reads = (e->window_start != 0 &&
						now - e->window_start <= (int64) tl_promote_window_s * USECS_PER_SEC)
			? e->window_reads : 0;
		SpinLockRelease(&e->mutex);
		v[0] = Int64GetDatum(e->key.segment_id);
		v[1] = Int64GetDatum((int64) pg_atomic_read_u64(&e->reads));
		v[2] = Int64GetDatum((int64) pg_atomic_read_u64(&e->local_writes));
		v[3] = Int64GetDatum((int64) pg_atomic_read_u64(&e->remote_writes));
		v[4] = Int64GetDatum((int64) pg_atomic_read_u64(&e->bytes_read));
		v[5] = TimestampTzGetDatum((TimestampTz) la);
		nulls[5] = (la == 0);
		v[6] = Int64GetDatum(window_reads);
		v[7] = Int64GetDatum((int64) pg_atomic_read_u64(&e->unstreamed_writes));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	LWLockRelease(stat_shared->lock);
}

/* Remove this database's entries; returns how many. */
int64
tl_stats_reset_database(void)
{
	HASH_SEQ_STATUS seq;
	StatEntry  *e;
	int64		removed = 0;

	tl_require_preload();
	LWLockAcquire(stat_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, stat_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.dboid != MyDatabaseId)
			continue;
		hash_search(stat_table, &e->key, HASH_REMOVE, NULL);
		removed++;
	}
	LWLockRelease(stat_shared->lock);
	return removed;
}

void
tl_stats_usage(int64 *entries, int64 *capacity, int64 *evicted)
{
	LWLockAcquire(stat_shared->lock, LW_SHARED);
	*entries = hash_get_num_entries(stat_table);
	LWLockRelease(stat_shared->lock);
	*capacity = tl_stats_max_segments;
	*evicted = pg_atomic_read_u64(&stat_shared->evicted);
}
