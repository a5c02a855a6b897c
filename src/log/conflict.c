/*-------------------------------------------------------------------------
 * conflict.c
 *		Conflicts: two records of one (log, key) from different origins, neither of which had
 *		seen the other (causal.c), within tieredlog.conflict_window of each other. Records of one
 *		origin supersede each other; so does a record that saw another. Nothing is ever deleted:
 *		a conflict decides which record latest() returns.
 *
 *		Detection runs wherever a remote record is stored (streaming or reconciliation,
 *		remote.c), against the key's heads: the newest record of each other origin within the
 *		window (only heads can win latest()); a record superseded on arrival by a newer record of
 *		its origin is compared with nothing. A concurrent pair is an episode between the two
 *		origins: it moves to the newer pair while neither side sees the other (tl_cf_continues()),
 *		else a new one opens; one row per episode. Local appends never conflict (this node has
 *		seen what it holds). Every node holding two final heads compares exactly them, with side
 *		a the record with the smaller rid, and picks the same winner:
 *		  last_writer_wins   the later (ts, origin name);
 *		  first_writer_wins  the earlier (ts, origin name);
 *		  source_priority    the higher tieredlog.source_priority, then the later ts; equal
 *		                     priority and ts with different content waits for a person;
 *		  custom             the log's resolver(a jsonb, b jsonb) returns the winner's
 *		                     'origin:seq'; an error or another answer waits for a person;
 *		  manual             waits for a person.
 *		Identical content (payload and source) is resolved at once. A waiting ("pending")
 *		conflict has a provisional winner, the later (ts, origin name). resolve_conflict()
 *		records a person's decision as a new record with the winner's payload, written after
 *		"_seen" witnesses for both sides, so it supersedes both everywhere it arrives.
 *
 *		latest(): the newest record of the key, the records within conflict_window before it
 *		(the newest of each origin), minus those another of them saw: one left wins; between
 *		several, the stored conflict decides, or when this node has none (not detected yet, or
 *		removed by the retention) the rule, as detection would (a custom resolver is called).
 *
 *		The worker (tl_conflict_settle_heads) compares again the heads of keys written lately, which
 *		two apply workers storing records of one key at once cannot, and (tl_conflict_sweep), in
 *		a transaction of its own, resolves pending conflicts that a later record superseded;
 *		a conflict whose two records turn out to have been ordered once a witness arrived (a
 *		record that came by reconciliation before the "_seen" record that orders it) is settled
 *		when pending and forgotten when its rule had resolved it, so every node ends with the
 *		same conflicts. Settled conflicts go after tieredlog.conflict_retention, and so do the
 *		witnesses of tieredlog.seen (but each writer's newest about each origin).
 *
 *		The apply worker keeps the episodes of the keys it met in memory (heads_cxt, at most
 *		HEADS_CACHE_BYTES, across its transactions) and writes them: new ones before it commits,
 *		moved ones within MOVE_WRITE_DELAY_US, all every HEADS_FLUSH_EVERY checks and when the cache
 *		is full (tl_conflict_flush).
 *
 *		Files: conflict_rules.c (sides, rules, the resolver), conflict_heads.c (reading a key's
 *		heads), conflict_episodes.c (detection, episode rows, the apply worker's cache); this file:
 *		latest(), resolve_conflict() and the worker's sweep.
 *
 * Locking: rows of tieredlog.conflict are read and written through store/conflict_store.c in the
 * caller's transaction (one row per episode: INSERT ... ON CONFLICT DO NOTHING, or an UPDATE that moves it unless a person
 * decided it meanwhile); resolve_conflict() locks the row FOR UPDATE. A custom resolver runs in
 * a subtransaction so that its errors cannot abort the apply. The caches are backend-local.
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

/* tieredlog.conflict_window (seconds), tieredlog.conflict_retention (seconds) */

/* ---- latest() ----------------------------------------------------------------------------- */

/* The stored decision between two sides, if this node has one: 1 = x wins, 0 = y wins, -1 none. */
static int
stored_decision(const TlLog *log, const char *key, const TlSide *x, const TlSide *y)
{
	bool		x_is_a = memcmp(x->rid.bytes, y->rid.bytes, TL_RID_LEN) < 0;
	int			a_wins = tl_conflict_store_decision(log->name, key, x_is_a ? &x->rid : &y->rid,
													x_is_a ? &y->rid : &x->rid);

	return a_wins < 0 ? -1 : (a_wins == 1) == x_is_a ? 1 : 0;
}

/* Between two frontier records: the stored decision, else the rule (manual: the provisional winner). */
static const TlSide *
pick(const TlLog *log, const char *key, const TlSide *x, const TlSide *y)
{
	int			stored = stored_decision(log, key, x, y);
	TlDecision	d;
	bool		x_is_a;

	if (stored >= 0)
		return stored ? x : y;
	/* not stored (not detected here yet, or removed by the retention): decide as detection would */
	x_is_a = memcmp(x->rid.bytes, y->rid.bytes, TL_RID_LEN) < 0;
	d = tl_cf_decide(log, key, x_is_a ? x : y, x_is_a ? y : x);
	return d.a_wins == x_is_a ? x : y;
}

static int
cmp_side_rid(const ListCell *a, const ListCell *b)
{
	return memcmp(((TlSide *) lfirst(a))->rid.bytes, ((TlSide *) lfirst(b))->rid.bytes, TL_RID_LEN);
}

/* The records of `sides` that no other of them saw, one per origin (its newest). */
static List *
frontier(List *sides)
{
	List	   *newest = NIL;
	List	   *out = NIL;
	ListCell   *lc;
	ListCell   *lc2;

	foreach(lc, sides)
	{
		TlSide	   *s = lfirst(lc);
		bool		replaced = false;

		foreach(lc2, newest)
		{
			TlSide	   *n = lfirst(lc2);

			if (strcmp(n->origin, s->origin) == 0)
			{
				/* one origin's newest: by ts (explicit event times may come in any order), then seq */
				if (s->ts > n->ts || (s->ts == n->ts && s->seq > n->seq))
					lfirst(lc2) = s;
				replaced = true;
				break;
			}
		}
		if (!replaced)
			newest = lappend(newest, s);
	}
	foreach(lc, newest)
	{
		TlSide	   *x = lfirst(lc);
		bool		seen = false;

		foreach(lc2, newest)
			if (lfirst(lc2) != x && tl_cf_side_saw(lfirst(lc2), x))
			{
				seen = true;
				break;
			}
		if (!seen)
			out = lappend(out, x);
	}
	list_sort(out, cmp_side_rid);
	return out;
}

/*
 * The record latest(log, key) returns, or NULL: the winner among the records no other record
 * of the key saw, within conflict_window before the newest.
 */
TlSide *
tl_conflict_latest(const TlLog *log, text *key)
{
	List	   *segs = tl_catalog_log_segments(log->log_id, DT_NOBEGIN, DT_NOEND, GetActiveSnapshot());
	List	   *sides = NIL;
	TimestampTz newest = DT_NOBEGIN;
	ListCell   *lc;
	TlSide	   *best;
	char	   *key_str;

	/* the newest segment holding the key has the newest record */
	for (int i = list_length(segs) - 1; i >= 0 && sides == NIL; i--)
	{
		Candidates	c = {NULL, true, list_nth(segs, i), NULL, NULL, DT_NOBEGIN, NIL, NULL};

		CHECK_FOR_INTERRUPTS();
		tl_segment_rows(log, c.seg, GetActiveSnapshot(), DT_NOBEGIN, DT_NOEND, key,
						tl_cf_visit_candidate, &c);
		sides = c.sides;
		newest = c.newest_ts;
	}
	if (sides == NIL)
		return NULL;
	/* the records before it within the window may sit in earlier segments too */
	if (tl_conflict_window_s > 0 &&
		tl_window_start(newest - WINDOW_US, log->interval_us) < tl_window_start(newest, log->interval_us))
		sides = tl_cf_key_records(log, key, newest - WINDOW_US, newest + 1, true);
	else
	{
		List	   *in_window = NIL;

		foreach(lc, sides)
			if (tl_conflict_window_s > 0 ? ((TlSide *) lfirst(lc))->ts >= newest - WINDOW_US
				: ((TlSide *) lfirst(lc))->ts == newest)
				in_window = lappend(in_window, lfirst(lc));
		sides = in_window;
	}
	sides = frontier(sides);
	key_str = text_to_cstring(key);
	best = linitial(sides);
	for_each_from(lc, sides, 1)
		best = (TlSide *) pick(log, key_str, best, lfirst(lc));
	return best;
}

/* ---- a person's decision ------------------------------------------------------------------ */

/*
 * resolve_conflict(conflict_id, winner): append the winner's payload as a new record of this
 * node that supersedes both sides, and mark the conflict resolved. Returns the new record's
 * 'origin:seq'.
 */
char *
tl_conflict_resolve(int64 conflict_id, const char *winner)
{
	TlConflictRow c;
	TlSide	   *chosen;
	TlLog		log;
	TlAppendInput in = {0};
	int64		seq;
	char	   *decision;

	PreventCommandIfReadOnly("tieredlog.resolve_conflict()");
	PreventCommandDuringRecovery("tieredlog.resolve_conflict()");
	if (!tl_conflict_store_lock(conflict_id, &c))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("conflict %lld does not exist", (long long) conflict_id)));
	if (strcmp(c.status, "resolved") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("conflict %lld is already resolved", (long long) conflict_id)));
	if (strcmp(winner, "local") == 0)
		chosen = c.arrived == 'a' ? c.b : c.a;
	else if (strcmp(winner, "remote") == 0)
		chosen = c.arrived == 'a' ? c.a : c.b;
	else if (strcmp(winner, tl_cf_side_name(c.a)) == 0)
		chosen = c.a;
	else if (strcmp(winner, tl_cf_side_name(c.b)) == 0)
		chosen = c.b;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%.80s\" is not a side of conflict %lld", winner, (long long) conflict_id),
				 errhint("Use 'local', 'remote', '%s' or '%s'.", tl_cf_side_name(c.a), tl_cf_side_name(c.b))));
	tl_lookup_log(c.log_name, &log);
	/* witnesses first: the decision's seq is greater, so it saw both sides */
	if (strcmp(c.a->origin, tl_node_name()) != 0)
		tl_causal_note(c.a->origin, c.a->seq);
	if (strcmp(c.b->origin, tl_node_name()) != 0)
		tl_causal_note(c.b->origin, c.b->seq);
	in.key = cstring_to_text(c.key);
	in.payload = chosen->payload;
	in.source = chosen->source ? cstring_to_text(chosen->source) : NULL;
	seq = tl_append(&log, &in);
	decision = psprintf("%s:" INT64_FORMAT, tl_node_name(), seq);
	tl_conflict_store_decide(conflict_id, chosen == c.a ? 'a' : 'b', decision);
	return decision;
}

/* ---- the worker's sweep ------------------------------------------------------------------- */

typedef struct PendingConflict
{
	int64		id;
	bool		pending;		/* else resolved by its rule, recently */
	TlLog		log;
	text	   *key;
	TlSide	   *a;
	TlSide	   *b;
} PendingConflict;

/*
 * The order the sweep touches conflicts in: the apply workers' (log, key, origin pair; see
 * cmp_flush_item), so that a sweep and an apply worker that both write rows of two keys take their
 * locks in the same order and never wait on each other in a cycle. The conflict id breaks ties.
 */
static int
cmp_pending(const ListCell *a, const ListCell *b)
{
	const PendingConflict *x = lfirst(a);
	const PendingConflict *y = lfirst(b);
	int			c;

	if (x->log.log_id != y->log.log_id)
		return x->log.log_id < y->log.log_id ? -1 : 1;
	if ((c = tl_cf_key_order(x->key, y->key)) != 0)
		return c;
	if ((c = tl_cf_pair_order(x->a->origin, x->b->origin, y->a->origin, y->b->origin)) != 0)
		return c;
	return (x->id > y->id) - (x->id < y->id);
}


static void
forget_conflict(int64 id, const char *why)
{
	tl_conflict_store_delete(id);
	ereport(LOG, (errmsg("tieredlog: conflict %lld was none: %s", (long long) id, why)));
}

/*
 * Up to 100 conflicts to look at again (the oldest), copied into the current memory context, in
 * cmp_pending's order: pending ones, and ones resolved by their rule within the conflict window (a
 * witness that arrives later can still show they were not concurrent). Conflicts of a log dropped
 * meanwhile are left out.
 */
static List *
load_pending(void)
{
	List	   *out = NIL;
	ListCell   *lc;

	tl_conflict_store_prune(tl_conflict_retention_s);
	foreach(lc, tl_conflict_store_to_recheck(tl_conflict_window_s, 100))
	{
		TlConflictRow *r = lfirst(lc);
		PendingConflict *p = palloc(sizeof(PendingConflict));

		if (!tl_lookup_log_if_exists(r->log_name, &p->log))
		{
			pfree(p);
			continue;
		}
		p->id = r->conflict_id;
		p->key = cstring_to_text(r->key);
		p->a = r->a;
		p->b = r->b;
		p->pending = strcmp(r->status, "pending") == 0;
		out = lappend(out, p);
	}
	list_sort(out, cmp_pending);
	return out;
}

static TimestampTz settled_since = 0;

typedef struct RecentKey
{
	TlLog		log;
	char	   *key;
	text	   *key_text;		/* the same, as text */
	TimestampTz anchor;			/* the newest side's ts among its unresolved conflicts */
} RecentKey;

/* (log, key) in the apply workers' order, as cmp_pending */
static int
cmp_recent_key(const void *a, const void *b)
{
	const RecentKey *x = a;
	const RecentKey *y = b;

	if (x->log.log_id != y->log.log_id)
		return x->log.log_id < y->log.log_id ? -1 : 1;
	return tl_cf_key_order(x->key_text, y->key_text);
}

/* The pair x, y of one key's heads, noted as a conflict if concurrent: true if that changed one. */
static bool
settle_pair(const TlLog *log, const char *key, TlSide *x, TlSide *y)
{
	if (x->ts - y->ts > WINDOW_US || y->ts - x->ts > WINDOW_US || !tl_cf_concurrent(x, y))
		return false;
	/* as if the newer of the two had arrived last */
	return tl_cf_later(x, y) ? tl_cf_note_pair_now(log, key, x, y, "streaming")
		: tl_cf_note_pair_now(log, key, y, x, "streaming");
}

/* list_sort order of a key's heads: by origin, so that their pairs come in tl_cf_pair_order */
static int
cmp_head_origin(const ListCell *a, const ListCell *b)
{
	return strcmp(((const TlSide *) lfirst(a))->origin, ((const TlSide *) lfirst(b))->origin);
}

/*
 * Two apply workers (two peers) storing new records of one key at the same moment do not see
 * each other's uncommitted record, so neither compares the two new heads. Every cycle the worker
 * takes the keys whose episodes were written since its last pass (with an overlap for
 * transactions that started before it) and compares their current heads again, as a
 * reconciliation would: the missing pair moves its episode or opens one. Keys are taken in the
 * apply workers' (log, key) order (cmp_recent_key), and each key's pairs in their pair order. The
 * worker runs this in a transaction of its own, before tl_conflict_sweep()'s: one pass over the
 * keys per transaction keeps the order; a second pass from the first key again, holding the rows
 * of the first, would not. Returns how many pairs changed an episode.
 */
int
tl_conflict_settle_heads(void)
{
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz since = settled_since != 0 ? settled_since : start - WINDOW_US;
	int			n;
	int			nkeys = 0;
	char	  **logs;
	char	  **keys;
	TimestampTz *anchors;
	RecentKey  *recent;
	int			changed = 0;

	if (tl_conflict_window_s <= 0)
		return 0;
	n = tl_conflict_store_recent_keys(since, 1000, &logs, &keys, &anchors);
	recent = palloc(sizeof(RecentKey) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		if (!tl_lookup_log_if_exists(logs[i], &recent[nkeys].log))
			continue;
		recent[nkeys].key = keys[i];
		recent[nkeys].key_text = cstring_to_text(keys[i]);
		recent[nkeys++].anchor = anchors[i];
	}
	qsort(recent, nkeys, sizeof(RecentKey), cmp_recent_key);
	for (int i = 0; i < nkeys; i++)
	{
		RecentKey  *r = &recent[i];
		Snapshot	snap;
		List	   *heads;
		ListCell   *lx;
		ListCell   *ly;

		CHECK_FOR_INTERRUPTS();
		snap = RegisterSnapshot(GetLatestSnapshot());
		heads = tl_cf_scan_heads(&r->log, r->key_text, r->anchor - WINDOW_US, r->anchor + WINDOW_US + 1, snap, NULL,
								 0);
		UnregisterSnapshot(snap);
		/* one head per origin; by origin, the nested loop below takes the pairs in pair order */
		list_sort(heads, cmp_head_origin);
		foreach(lx, heads)
			for_each_cell(ly, heads, lnext(heads, lx))
				changed += settle_pair(&r->log, r->key, lfirst(lx), lfirst(ly));
	}
	settled_since = start - 10 * USECS_PER_SEC;
	return changed;
}

/*
 * Pending conflicts whose sides turned out to be ordered (a witness arrived after the second
 * record), or that a later record superseded (a decision made on another node, a new write that
 * saw both), are resolved; settled conflicts past the retention are removed. Returns how many
 * were resolved.
 */
int
tl_conflict_sweep(void)
{
	List	   *pending;
	ListCell   *lc;
	int			resolved = 0;

	pending = load_pending();

	foreach(lc, pending)
	{
		PendingConflict *p = lfirst(lc);
		TlSide	   *now;

		CHECK_FOR_INTERRUPTS();
		if (tl_cf_side_saw(p->a, p->b) || tl_cf_side_saw(p->b, p->a))
		{
			bool		a_saw = tl_cf_side_saw(p->a, p->b);
			char	   *why = psprintf("not concurrent after all: %s had seen %s",
									   tl_cf_side_name(a_saw ? p->a : p->b), tl_cf_side_name(a_saw ? p->b : p->a));

			/* a person may have looked at a pending one: keep it, settled; the others go */
			if (p->pending)
				tl_conflict_store_mark_resolved(p->id, why, NULL);
			else
				forget_conflict(p->id, why);
			resolved++;
		}
		else if (p->pending && (now = tl_conflict_latest(&p->log, p->key)) != NULL &&
				 memcmp(now->rid.bytes, p->a->rid.bytes, TL_RID_LEN) != 0 &&
				 memcmp(now->rid.bytes, p->b->rid.bytes, TL_RID_LEN) != 0 &&
				 tl_cf_side_saw(now, p->a) && tl_cf_side_saw(now, p->b))
		{
			tl_conflict_store_mark_resolved(p->id, psprintf("superseded by record %s, which saw both", tl_cf_side_name(now)),
						  tl_cf_side_name(now));
			resolved++;
		}
	}
	return resolved;
}
