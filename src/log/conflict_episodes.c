/*-------------------------------------------------------------------------
 * conflict_episodes.c
 *		Detection (tl_conflict_check): a stored remote record against its key's heads; a concurrent
 *		pair moves its episode or opens one (see conflict.c). The apply worker's cache of episodes,
 *		written at most once a second per episode.
 *
 * Locking: rows of tieredlog.conflict are written through store/conflict_store.c in the
 * caller's transaction: INSERT ... ON CONFLICT DO NOTHING, or an UPDATE that moves a row only from
 * the pair it was read with and unless a person decided it. The caches are backend-local.
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
#include "storage/proc.h"
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
#include "core/guc.h"
#include "core/safe_spi.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "core/tieredlog.h"


/* ---- the conflict table ------------------------------------------------------------------- */

/*
 * Record the conflict between the stored `here` and the arriving `arrived`: a new episode
 * (episode_id 0), or the episode episode_id moved to this pair. Returns the row's conflict_id,
 * 0 if nothing was written (the pair is known; the episode was decided by a person meanwhile).
 */
int64
tl_cf_record_conflict(const TlLog *log, const char *key, const TlSide *here, const TlSide *arrived, const char *via,
				int64 episode_id, int pairs, const TlSide *was_here, const TlSide *was_arrived)
{
	bool		arrived_is_a = memcmp(arrived->rid.bytes, here->rid.bytes, TL_RID_LEN) < 0;
	const TlSide *a = arrived_is_a ? arrived : here;
	const TlSide *b = arrived_is_a ? here : arrived;
	TlDecision	d = tl_cf_decide(log, key, a, b);
	TlConflictWrite w = {log->name, key, a, b, arrived_is_a, via, log->rule, d.pending, d.a_wins, d.reason,
		episode_id, pairs,
		/* an UPDATE moves the row only from the pair the caller read (here's origin: seq, the other) */
		was_here ? was_here->origin : here->origin, was_here ? was_here->seq : -1,
	was_arrived ? was_arrived->seq : -1};
	int64		id = tl_conflict_store_write(&w);
	bool		inserted = id != 0;

	if (inserted && d.pending && episode_id == 0)
		ereport(LOG,
				(errmsg("tieredlog: conflict on key \"%s\" of log \"%s\" waits for a decision", key, log->name),
				 errdetail("%s and %s: %s; provisional winner %s.", tl_cf_side_name(a), tl_cf_side_name(b), d.reason,
						   tl_cf_side_name(d.a_wins ? a : b)),
				 errhint("See tieredlog.conflicts; decide with tieredlog.resolve_conflict().")));
	return id;
}

/*
 * The episodes of the keys the apply worker met in this transaction. A hot key is written again
 * and again in a streaming batch and moves its episodes at every record: the moves are kept here
 * and written every HEADS_FLUSH_EVERY checks, when the cache is full and before the worker
 * commits, as one UPDATE per episode. The write checks that the row still holds the pair it was
 * read with (another peer's apply worker, or a reconciliation, may have moved it meanwhile; then
 * the newer side of each origin is taken). Bounded: past HEADS_CACHE_BYTES it is written and
 * emptied. Reconciliation writes at once and does not use it.
 */
#define HEADS_CACHE_BYTES	(16 * 1024 * 1024)

typedef struct HeadsKey
{
	int32		log_id;
	uint32		key_hash;
} HeadsKey;

typedef struct HeadsEntry
{
	HeadsKey	k;
	text	   *key;			/* the key itself: two keys may share a hash */
	List	   *heads;			/* newest record of each origin with ts in [from_ts, to_ts) ... */
	TimestampTz from_ts;
	TimestampTz to_ts;
	uint64		completions;	/* ... valid while completions >= clean_since (cache_clock) */
	TlLog		log;
	List	   *episodes;		/* CachedEpisode: the key's episodes met in this transaction */
} HeadsEntry;

/*
 * The newest episode of the key between two origins, as the table holds it or as this
 * transaction moved it (dirty: written by flush_episode, not at every move).
 */
typedef struct CachedEpisode
{
	char	   *origin1;
	char	   *origin2;
	int64		conflict_id;	/* 0: none in the table (yet) */
	bool		resolved;		/* decided by a person: never moved again */
	TlSide	   *side1;			/* its current pair (NULL: no episode) */
	TlSide	   *side2;
	const char *arrived_origin; /* the side whose arrival last moved it */
	const char *via;
	bool		dirty;
	int			moves;			/* pairs it went through since it was last written */
	int64		stored1;		/* the seqs of the pair the row held when read or written here */
	int64		stored2;
	TimestampTz written_at;		/* when it was last read or written here */
} CachedEpisode;

#define HEADS_FLUSH_EVERY	50000	/* checks between writes of every moved episode */
#define MOVE_WRITE_DELAY_US	(1000 * 1000)	/* a moved episode is written within 1 s */

/*
 * The cache lives across the apply worker's transactions (its rows may be changed meanwhile by
 * other backends: every write checks the pair it expects, and merges otherwise). A batch's
 * commit writes every new episode, and the moved ones not written for MOVE_WRITE_DELAY_US: a hot
 * key moves its episodes at every record, and writing them at every commit was most of the
 * apply's time. A move lost in a crash is repaired by the worker's pass over recently written
 * keys (tl_conflict_settle_heads in conflict.c), which compares the current heads again.
 */
static MemoryContext heads_cxt;
static HTAB *heads_cache;
static int	checks_since_flush;
static bool unwritten;			/* some cached episode is dirty */

/*
 * The cache's clock: transactions completed on the server (xactCompletionCount). An entry read
 * at count c is valid while every completion since c was one of this worker's own commits, whose
 * inserts the cache already holds: c >= clean_since. last_seen is the count last read; a count
 * that moved otherwise (another backend's commit or abort) makes everything older invalid.
 */
static uint64 clean_since;
static uint64 last_seen;

static uint64
cache_clock(void)
{
	uint64		now = tl_cf_completed_transactions();

	if (now != last_seen)
		clean_since = last_seen = now;
	return now;
}

/*
 * The apply worker commits a batch: its own completion leaves the cached heads valid (they hold
 * what it inserted). Call before_commit() just before CommitTransactionCommand() and
 * after_commit() with its result just after; any other completion in between invalidates.
 */
uint64
tl_conflict_before_commit(void)
{
	uint64		now = cache_clock();

	/* a transaction without an xid completes without counting */
	return TransactionIdIsValid(GetTopTransactionIdIfAny()) ? now + 1 : now;
}

void
tl_conflict_after_commit(uint64 expected)
{
	uint64		now = tl_cf_completed_transactions();

	if (now == expected)
		last_seen = now;		/* only this commit: clean_since stays */
	else
		clean_since = last_seen = now;
}

static void flush_episode(HeadsEntry *e, CachedEpisode *ep);

/*
 * Write the episodes moved or opened here and not written yet: all of them, or (at a commit)
 * the new ones and those moved more than MOVE_WRITE_DELAY_US after their last write.
 */
typedef struct FlushItem
{
	HeadsEntry *e;
	CachedEpisode *ep;
} FlushItem;

/*
 * The order episodes are written in: by log, key and origin pair. Two apply workers whose
 * transactions write episodes of the same keys then lock their rows in the same order, and never
 * wait for each other in a cycle (in hash order they did: "deadlock detected" while three nodes
 * wrote the same hot keys, bench/RESULTS.md).
 */
static int
cmp_flush_item(const void *a, const void *b)
{
	const FlushItem *x = a;
	const FlushItem *y = b;
	int			c;

	if (x->e->k.log_id != y->e->k.log_id)
		return x->e->k.log_id < y->e->k.log_id ? -1 : 1;
	if (x->e != y->e && (c = tl_cf_key_order(x->e->key, y->e->key)) != 0)
		return c;
	return tl_cf_pair_order(x->ep->origin1, x->ep->origin2, y->ep->origin1, y->ep->origin2);
}

void
tl_conflict_flush(bool everything)
{
	HASH_SEQ_STATUS it;
	HeadsEntry *e;
	TimestampTz due = GetCurrentTimestamp() - MOVE_WRITE_DELAY_US;
	FlushItem  *items;
	int			n = 0;
	int			cap = 64;

	if (everything)
		checks_since_flush = 0;
	if (heads_cache == NULL || !unwritten)
		return;
	if (everything)
		unwritten = false;
	items = palloc(sizeof(FlushItem) * cap);
	hash_seq_init(&it, heads_cache);
	while ((e = hash_seq_search(&it)) != NULL)
	{
		ListCell   *lc;

		foreach(lc, e->episodes)
		{
			CachedEpisode *ep = lfirst(lc);

			if (!ep->dirty || !(everything || ep->conflict_id == 0 || ep->written_at <= due))
				continue;
			if (n == cap)
			{
				cap *= 2;
				items = repalloc(items, sizeof(FlushItem) * cap);
			}
			items[n].e = e;
			items[n++].ep = ep;
		}
	}
	qsort(items, n, sizeof(FlushItem), cmp_flush_item);
	for (int i = 0; i < n; i++)
		flush_episode(items[i].e, items[i].ep);
	pfree(items);
}

static void
heads_cache_reset(void)
{
	HASHCTL		ctl;

	if (heads_cxt == NULL)
		heads_cxt = AllocSetContextCreate(TopMemoryContext, "tieredlog episodes", ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(heads_cxt);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(HeadsKey);
	ctl.entrysize = sizeof(HeadsEntry);
	ctl.hcxt = heads_cxt;
	heads_cache = hash_create("tieredlog episodes", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Has the apply worker moved or opened episodes it has not written yet? */
bool
tl_conflict_unwritten(void)
{
	return unwritten;
}

/* Write and forget every cached episode (a stored record was replaced: sides may hold its old content). */
void
tl_conflict_forget_heads(void)
{
	tl_conflict_flush(true);
	if (heads_cxt != NULL)
		MemoryContextReset(heads_cxt);
	heads_cache = NULL;
}

static HeadsEntry *
heads_entry(const TlLog *log, text *key)
{
	HeadsKey	k;
	HeadsEntry *e;
	bool		in_hash;
	bool		same;

	if (heads_cache != NULL &&
		(MemoryContextMemAllocated(heads_cxt, true) > HEADS_CACHE_BYTES || ++checks_since_flush >= HEADS_FLUSH_EVERY))
		tl_conflict_flush(true);	/* the bookkeeping is written as the worker goes */
	if (heads_cache == NULL || MemoryContextMemAllocated(heads_cxt, true) > HEADS_CACHE_BYTES)
		heads_cache_reset();
	memset(&k, 0, sizeof(k));
	k.log_id = log->log_id;
	k.key_hash = hash_bytes((const unsigned char *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	e = hash_search(heads_cache, &k, HASH_ENTER, &in_hash);
	same = in_hash && VARSIZE_ANY_EXHDR(e->key) == VARSIZE_ANY_EXHDR(key) &&
		memcmp(VARDATA_ANY(e->key), VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) == 0;
	if (in_hash && !same)
	{
		ListCell   *lc;

		/* another key with the same hash had the entry: write its moved episodes, then take it */
		foreach(lc, e->episodes)
			flush_episode(e, lfirst(lc));
	}
	if (!same)
	{
		e->key = MemoryContextAlloc(heads_cxt, VARSIZE_ANY(key));
		memcpy(e->key, key, VARSIZE_ANY(key));
		e->episodes = NIL;
		e->heads = NIL;
		e->completions = 0;		/* never valid: xactCompletionCount starts at 1 */
	}
	e->log = *log;				/* its rule as it is now */
	return e;
}

/* How many transactions have completed on this server (what snapshot reuse checks, procarray.c). */
uint64
tl_cf_completed_transactions(void)
{
	uint64		n;

	LWLockAcquire(ProcArrayLock, LW_SHARED);
	n = ShmemVariableCache->xactCompletionCount;
	LWLockRelease(ProcArrayLock);
	return n;
}

/*
 * The heads of the record's key around it, [ts - window, ts + window], read through a fresh
 * snapshot after a command counter increment: it sees the rows this transaction stored (the
 * batch's snapshot does not), and those other backends committed meanwhile — this node's own
 * appends, other peers' apply workers. The apply worker keeps a key's heads (over a range twice
 * as wide) only while no transaction but its own completes on this server (cache_clock) — nothing
 * new can be visible then but its own inserts, which it adds itself — so with one peer streaming
 * it reads a key once, across its batches, until another backend commits. Returns the heads of the other origins; NIL when the record is not its origin's
 * head (a newer record of its origin superseded it before it arrived). *entry: the key's cache
 * entry (the apply worker's way).
 */
static List *
heads_for(const TlLog *log, const TlRecord *rec, bool cached, TlSide **arrived, HeadsEntry **entry)
{
	List	   *heads = NIL;
	List	   *others = NIL;
	ListCell   *lc;
	HeadsEntry *e = NULL;
	uint64		completions = 0;
	bool		superseded = false;
	MemoryContext old;

	if (cached)
	{
		*entry = e = heads_entry(log, rec->key);
		completions = cache_clock();
	}
	*arrived = tl_cf_side_from_record(rec);
	if (e && e->completions != 0 && e->completions >= clean_since && rec->ts - WINDOW_US >= e->from_ts &&
		rec->ts + WINDOW_US + 1 <= e->to_ts)
		heads = e->heads;
	else
	{
		TimestampTz from_ts = rec->ts - (cached ? 2 : 1) * WINDOW_US;
		TimestampTz to_ts = rec->ts + (cached ? 2 : 1) * WINDOW_US + 1;
		Snapshot	snap;
		List	   *fresh;

		CommandCounterIncrement();
		snap = RegisterSnapshot(GetLatestSnapshot());
		/* a peer streams its own records only: other origins come by reconciliation, bounded here */
		fresh = tl_cf_scan_heads(log, rec->key, from_ts, to_ts, snap, rec->origin,
								 cached ? 0 : tl_max_key_origins);
		UnregisterSnapshot(snap);
		if (e)
		{
			/* the cache keeps copies; the ones it had go (the lists are small) */
			old = MemoryContextSwitchTo(heads_cxt);
			foreach(lc, e->heads)
				tl_cf_side_free(lfirst(lc));
			list_free(e->heads);
			e->heads = NIL;
			foreach(lc, fresh)
				e->heads = tl_cf_merge_head(e->heads, lfirst(lc), true);
			MemoryContextSwitchTo(old);
			e->from_ts = from_ts;
			e->to_ts = to_ts;
			e->completions = completions;
			heads = e->heads;
		}
		else
			heads = fresh;
	}
	foreach(lc, heads)
	{
		TlSide	   *h = lfirst(lc);

		if (strcmp(h->origin, rec->origin) != 0)
			others = lappend(others, h);
		else if (tl_cf_newer(h, *arrived))
			superseded = true;	/* a newer record of its origin came first */
	}
	if (e && !superseded)
	{
		TlSide		order = **arrived;

		/* this insert, which the cache now knows: as a head of its own origin, its order is enough */
		order.payload = NULL;
		order.source = NULL;
		old = MemoryContextSwitchTo(heads_cxt);
		e->heads = tl_cf_merge_head(e->heads, &order, true);
		MemoryContextSwitchTo(old);
	}
	return superseded ? NIL : others;
}

/* ---- episodes ----------------------------------------------------------------------------- */

bool
tl_cf_find_episode(const TlLog *log, const char *key, const TlSide *x, const TlSide *y, Episode *ep)
{
	TlConflictRow row;

	if (!tl_conflict_store_find_episode(log->name, key, x->origin, y->origin, &row))
		return false;
	ep->conflict_id = row.conflict_id;
	ep->status = row.status;
	ep->side_of_x = strcmp(row.a->origin, x->origin) == 0 ? row.a : row.b;
	ep->side_of_y = strcmp(row.a->origin, x->origin) == 0 ? row.b : row.a;
	return true;
}

/*
 * Does the concurrent pair (x, y) continue the episode whose pair is (ex, ey) (ex of x's origin)?
 * Each side is the episode's or a newer record of its origin, and no record of either origin in
 * between saw one of the other's: x did not see ey, y did not see ex (seqs order what a node has
 * seen, so this covers every record between). An episode a person decided is never continued.
 */
bool
tl_cf_continues(bool resolved, const TlSide *ex, const TlSide *ey, const TlSide *x, const TlSide *y)
{
	if (resolved || x->seq < ex->seq || y->seq < ey->seq)
		return false;
	return !tl_cf_side_saw(x, ey) && !tl_cf_side_saw(y, ex);
}

/* The cached episode of `e`'s key between the origins of x and y, read from the table the first time. */
static CachedEpisode *
entry_episode(HeadsEntry *e, const TlSide *x, const TlSide *y)
{
	CachedEpisode *ep;
	Episode		row;
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, e->episodes)
	{
		ep = lfirst(lc);
		if ((strcmp(ep->origin1, x->origin) == 0 && strcmp(ep->origin2, y->origin) == 0) ||
			(strcmp(ep->origin1, y->origin) == 0 && strcmp(ep->origin2, x->origin) == 0))
			return ep;
	}
	old = MemoryContextSwitchTo(heads_cxt);
	ep = palloc0(sizeof(CachedEpisode));
	ep->origin1 = pstrdup(x->origin);
	ep->origin2 = pstrdup(y->origin);
	if (tl_cf_find_episode(&e->log, text_to_cstring(e->key), x, y, &row))
	{
		ep->conflict_id = row.conflict_id;
		ep->resolved = strcmp(row.status, "resolved") == 0;
		ep->side1 = row.side_of_x;
		ep->side2 = row.side_of_y;
		ep->stored1 = row.side_of_x->seq;
		ep->stored2 = row.side_of_y->seq;
		ep->written_at = GetCurrentTimestamp();
	}
	e->episodes = lappend(e->episodes, ep);
	MemoryContextSwitchTo(old);
	return ep;
}

/* A side standing for a stored seq (what an UPDATE expects the row to hold). */
static TlSide
seq_side(const char *origin, int64 seq)
{
	TlSide		s;

	memset(&s, 0, sizeof(s));
	s.origin = (char *) origin;
	s.seq = seq;
	return s;
}

/*
 * The row of `ep` was moved (or decided) by another backend since this one read it: take the
 * newer side of each origin, if that pair continues the row's episode. Returns the row's id when
 * the row holds a pair at or past this one's afterwards, else 0.
 */
static int64
merge_into_row(HeadsEntry *e, CachedEpisode *ep, const char *key)
{
	Episode		row;
	TlSide	   *r1;
	TlSide	   *r2;
	TlSide	   *n1;
	TlSide	   *n2;
	int64		id = 0;

	if (!tl_cf_find_episode(&e->log, key, ep->side1, ep->side2, &row) || strcmp(row.status, "resolved") == 0)
		return 0;
	r1 = row.side_of_x;			/* of origin1 */
	r2 = row.side_of_y;
	n1 = ep->side1->seq >= r1->seq ? ep->side1 : r1;
	n2 = ep->side2->seq >= r2->seq ? ep->side2 : r2;
	if (n1 == r1 && n2 == r2)
		id = row.conflict_id;	/* already there, or past */
	else if (tl_cf_concurrent(n1, n2) && tl_cf_continues(false, r1, r2, n1, n2))
		id = tl_cf_record_conflict(&e->log, key, n1 == ep->side1 ? n2 : n1, n1 == ep->side1 ? n1 : n2, ep->via,
							 row.conflict_id, Max(ep->moves, 1), n1 == ep->side1 ? r2 : r1, n1 == ep->side1 ? r1 : r2);
	if (id != 0)
	{
		ep->stored1 = (n1 == r1 && n2 == r2) ? r1->seq : n1->seq;
		ep->stored2 = (n1 == r1 && n2 == r2) ? r2->seq : n2->seq;
	}
	return id;
}

/*
 * Write a moved or new episode: its row moves to the current pair (if it still holds the pair
 * read or written here; else merge_into_row), or a row is inserted.
 */
static void
flush_episode(HeadsEntry *e, CachedEpisode *ep)
{
	bool		arrived1;
	const TlSide *arrived;
	const TlSide *here;
	char	   *key;
	int64		id = 0;

	if (!ep->dirty)
		return;					/* as the table holds it (arrived_origin is not known) */
	arrived1 = strcmp(ep->arrived_origin, ep->origin1) == 0;
	arrived = arrived1 ? ep->side1 : ep->side2;
	here = arrived1 ? ep->side2 : ep->side1;
	key = text_to_cstring(e->key);
	if (ep->conflict_id != 0)
	{
		TlSide		was1 = seq_side(ep->origin1, ep->stored1);
		TlSide		was2 = seq_side(ep->origin2, ep->stored2);

		id = tl_cf_record_conflict(&e->log, key, here, arrived, ep->via, ep->conflict_id, ep->moves,
							 arrived1 ? &was2 : &was1, arrived1 ? &was1 : &was2);
		if (id != 0)
		{
			ep->stored1 = ep->side1->seq;
			ep->stored2 = ep->side2->seq;
		}
		else
			id = merge_into_row(e, ep, key);
	}
	if (id == 0)				/* new, or its row ended meanwhile */
	{
		id = tl_cf_record_conflict(&e->log, key, here, arrived, ep->via, 0, Max(ep->moves, 1), NULL, NULL);
		ep->stored1 = ep->side1->seq;
		ep->stored2 = ep->side2->seq;
	}
	ep->conflict_id = id;
	ep->dirty = false;
	ep->moves = 0;
	ep->written_at = GetCurrentTimestamp();
}

/* Side of `ep` recorded for `origin`. */
static TlSide *
episode_side(const CachedEpisode *ep, const char *origin)
{
	return strcmp(ep->origin1, origin) == 0 ? ep->side1 : ep->side2;
}

/*
 * The apply worker's way: the pair (x, y) moves the key's cached episode of the two origins or
 * opens a new one; the row is written later (flush_episode). True if anything changed.
 */
static bool
note_pair_cached(HeadsEntry *e, TlSide *x, TlSide *y, const char *via)
{
	CachedEpisode *ep = entry_episode(e, x, y);
	bool		first_is_x = strcmp(ep->origin1, x->origin) == 0;
	MemoryContext old;

	if (ep->side1 != NULL)
	{
		TlSide	   *ex = episode_side(ep, x->origin);
		TlSide	   *ey = episode_side(ep, y->origin);

		if (ex->seq == x->seq && ey->seq == y->seq)
			return false;		/* this very pair */
		if (!tl_cf_continues(ep->resolved, ex, ey, x, y))
		{
			flush_episode(e, ep);	/* the old one ends as it is: a new episode */
			ep->conflict_id = 0;
			ep->resolved = false;
		}
	}
	ep->moves++;
	old = MemoryContextSwitchTo(heads_cxt);
	if (ep->side1 != NULL)
	{
		tl_cf_side_free(ep->side1);
		tl_cf_side_free(ep->side2);
	}
	ep->side1 = tl_cf_side_copy(first_is_x ? x : y);
	ep->side2 = tl_cf_side_copy(first_is_x ? y : x);
	MemoryContextSwitchTo(old);
	ep->arrived_origin = first_is_x ? ep->origin1 : ep->origin2;
	ep->via = via;
	ep->dirty = true;
	unwritten = true;
	return true;
}

/* Reconciliation's way: the row is read, moved or inserted at once. */
bool
tl_cf_note_pair_now(const TlLog *log, const char *key, TlSide *x, TlSide *y, const char *via)
{
	Episode		ep;
	bool		known = tl_cf_find_episode(log, key, x, y, &ep);

	if (known && ep.side_of_x->seq == x->seq && ep.side_of_y->seq == y->seq)
		return false;			/* this very pair */
	if (known && tl_cf_continues(strcmp(ep.status, "resolved") == 0, ep.side_of_x, ep.side_of_y, x, y) &&
		tl_cf_record_conflict(log, key, y, x, via, ep.conflict_id, 1, ep.side_of_y, ep.side_of_x) != 0)
		return true;
	return tl_cf_record_conflict(log, key, y, x, via, 0, 1, NULL, NULL) != 0;
}

/*
 * A remote record was just stored: compare it with the heads of its key, the newest record of
 * each other origin within conflict_window of it (only those can win latest()). A concurrent
 * pair continues the episode of the two origins when it can (the row moves to the new pair),
 * else opens one. Returns how many episodes were opened or moved. The work is a few index
 * descents per origin, however often the key was written.
 */
int
tl_conflict_check(const TlLog *log, const TlRecord *rec, const char *via)
{
	bool		streaming = strcmp(via, "streaming") == 0;
	TlSide	   *arrived;
	HeadsEntry *e = NULL;
	List	   *others;
	ListCell   *lc;
	int			found = 0;
	char	   *key = NULL;

	if (strcmp(log->name, TL_SEEN_LOG) == 0)
		return 0;
	if (tl_conflict_window_s <= 0)
	{
		/*
		 * No detection; a key's origins from reconciliation are bounded all the same: reading
		 * the heads (of the record's own ts, the window being 0) checks them.
		 */
		if (!streaming)
			(void) heads_for(log, rec, false, &arrived, &e);
		return 0;
	}
	/*
	 * Streaming batches hold one origin's records, in order: the apply worker caches heads and
	 * episodes. Reconciliation brings several origins at once, in any order: it reads them
	 * every time and writes at once.
	 */
	others = heads_for(log, rec, streaming, &arrived, &e);
	foreach(lc, others)
	{
		TlSide	   *y = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (y->ts < arrived->ts - WINDOW_US || y->ts > arrived->ts + WINDOW_US)
			continue;			/* too far apart for latest() to weigh them against each other */
		if (!tl_cf_concurrent(arrived, y))
			continue;
		if (streaming)
			found += note_pair_cached(e, arrived, y, via);
		else
		{
			if (key == NULL)
				key = text_to_cstring(rec->key);
			found += tl_cf_note_pair_now(log, key, arrived, y, via);
		}
	}
	return found;
}
