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
 *		The worker (tl_conflict_sweep) resolves pending conflicts that a later record superseded;
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
 * Locking: rows of tieredlog.conflict are written through SPI in the caller's transaction (one
 * row per episode: INSERT ... ON CONFLICT DO NOTHING, or an UPDATE that moves it unless a person
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
	Oid			types[4] = {TEXTOID, TEXTOID, UUIDOID, UUIDOID};
	Datum		values[4];
	int			result = -1;
	TlAsOwner	save;

	values[0] = CStringGetTextDatum(log->name);
	values[1] = CStringGetTextDatum(key);
	values[2] = tl_rid_datum(x_is_a ? &x->rid : &y->rid);
	values[3] = tl_rid_datum(x_is_a ? &y->rid : &x->rid);
	tl_become_owner(&save);
	tl_spi_exec("SELECT winner = 'a' FROM tieredlog.conflict WHERE log_name = $1 AND key = $2"
				" AND rid_a = $3 AND rid_b = $4", 4, types, values, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		isnull;
		bool		a_wins = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

		result = a_wins == x_is_a ? 1 : 0;
	}
	tl_restore_user(&save);
	return result;
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

TlSide *
tl_cf_side_row(SPITupleTable *tt, uint64 row, int first_col)
{
	TlSide	   *s = palloc0(sizeof(TlSide));
	bool		isnull;
	Datum		src;

	memcpy(s->rid.bytes, DatumGetUUIDP(SPI_getbinval(tt->vals[row], tt->tupdesc, first_col, &isnull))->data, TL_RID_LEN);
	s->origin = SPI_getvalue(tt->vals[row], tt->tupdesc, first_col + 1);
	s->seq = DatumGetInt64(SPI_getbinval(tt->vals[row], tt->tupdesc, first_col + 2, &isnull));
	s->ts = DatumGetTimestampTz(SPI_getbinval(tt->vals[row], tt->tupdesc, first_col + 3, &isnull));
	src = SPI_getbinval(tt->vals[row], tt->tupdesc, first_col + 4, &isnull);
	s->source = isnull ? NULL : TextDatumGetCString(src);
	s->payload = DatumGetJsonbPCopy(SPI_getbinval(tt->vals[row], tt->tupdesc, first_col + 5, &isnull));
	return s;
}

/* The side of a conflict row read through SPI, copied into the current memory context. */
static TlSide *
conflict_side(SPITupleTable *tt, int first_col)
{
	return tl_cf_side_row(tt, 0, first_col);
}

/*
 * resolve_conflict(conflict_id, winner): append the winner's payload as a new record of this
 * node that supersedes both sides, and mark the conflict resolved. Returns the new record's
 * 'origin:seq'.
 */
char *
tl_conflict_resolve(int64 conflict_id, const char *winner)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(conflict_id)};
	TlAsOwner	save;
	SPITupleTable *tt;
	TlSide	   *a;
	TlSide	   *b;
	TlSide	   *chosen;
	char	   *log_name;
	char	   *key;
	char	   *status;
	char		arrived;
	TlLog		log;
	TlAppendInput in = {0};
	int64		seq;
	char	   *decision;
	Oid			utypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		uvalues[3];

	MemoryContext outer = CurrentMemoryContext;
	MemoryContext spi;

	PreventCommandIfReadOnly("tieredlog.resolve_conflict()");
	PreventCommandDuringRecovery("tieredlog.resolve_conflict()");
	tl_become_owner(&save);
	tl_spi_exec("SELECT log_name, key, status, arrived, rid_a, origin_a, seq_a, ts_a, source_a, payload_a,"
				" rid_b, origin_b, seq_b, ts_b, source_b, payload_b"
				" FROM tieredlog.conflict WHERE conflict_id = $1 FOR UPDATE", 1, types, values, SPI_OK_SELECT);
	tt = SPI_tuptable;
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("conflict %lld does not exist", (long long) conflict_id)));
	spi = MemoryContextSwitchTo(outer);		/* what is read must outlive SPI_finish */
	log_name = SPI_getvalue(tt->vals[0], tt->tupdesc, 1);
	key = SPI_getvalue(tt->vals[0], tt->tupdesc, 2);
	status = SPI_getvalue(tt->vals[0], tt->tupdesc, 3);
	arrived = SPI_getvalue(tt->vals[0], tt->tupdesc, 4)[0];
	a = conflict_side(tt, 5);
	b = conflict_side(tt, 11);
	MemoryContextSwitchTo(spi);
	tl_restore_user(&save);
	if (strcmp(status, "resolved") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("conflict %lld is already resolved", (long long) conflict_id)));
	if (strcmp(winner, "local") == 0)
		chosen = arrived == 'a' ? b : a;
	else if (strcmp(winner, "remote") == 0)
		chosen = arrived == 'a' ? a : b;
	else if (strcmp(winner, tl_cf_side_name(a)) == 0)
		chosen = a;
	else if (strcmp(winner, tl_cf_side_name(b)) == 0)
		chosen = b;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%.80s\" is not a side of conflict %lld", winner, (long long) conflict_id),
				 errhint("Use 'local', 'remote', '%s' or '%s'.", tl_cf_side_name(a), tl_cf_side_name(b))));
	tl_lookup_log(log_name, &log);
	/* witnesses first: the decision's seq is greater, so it saw both sides */
	if (strcmp(a->origin, tl_node_name()) != 0)
		tl_causal_note(a->origin, a->seq);
	if (strcmp(b->origin, tl_node_name()) != 0)
		tl_causal_note(b->origin, b->seq);
	in.key = cstring_to_text(key);
	in.payload = chosen->payload;
	in.source = chosen->source ? cstring_to_text(chosen->source) : NULL;
	seq = tl_append(&log, &in);
	decision = psprintf("%s:" INT64_FORMAT, tl_node_name(), seq);
	uvalues[0] = Int64GetDatum(conflict_id);
	uvalues[1] = CStringGetTextDatum(chosen == a ? "a" : "b");
	uvalues[2] = CStringGetTextDatum(decision);
	tl_become_owner(&save);
	tl_spi_exec("UPDATE tieredlog.conflict SET status = 'resolved', winner = $2, resolved_at = now(),"
				" resolved_by = session_user, decision_record = $3,"
				" reason = reason || '; decided by ' || session_user"
				" WHERE conflict_id = $1", 3, utypes, uvalues, SPI_OK_UPDATE);
	tl_restore_user(&save);
	return decision;
}

/* ---- the worker's sweep ------------------------------------------------------------------- */

typedef struct PendingConflict
{
	int64		id;
	bool		pending;		/* else resolved by its rule, recently */
	char	   *log_name;
	text	   *key;
	TlSide	   *a;
	TlSide	   *b;
} PendingConflict;

static void
mark_resolved(int64 id, const char *why, const char *by)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', by ? ' ' : 'n'};
	TlAsOwner	save;

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(why);
	values[2] = by ? CStringGetTextDatum(by) : (Datum) 0;
	tl_become_owner(&save);
	if (SPI_execute_with_args("UPDATE tieredlog.conflict SET status = 'resolved', resolved_at = now(),"
							  " resolved_by = 'tieredlog', decision_record = $3,"
							  " reason = reason || '; ' || $2 WHERE conflict_id = $1",
							  3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tieredlog.conflict");
	tl_restore_user(&save);
}

static void
forget_conflict(int64 id, const char *why)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	TlAsOwner	save;

	tl_become_owner(&save);
	tl_spi_exec("DELETE FROM tieredlog.conflict WHERE conflict_id = $1", 1, types, values, SPI_OK_DELETE);
	tl_restore_user(&save);
	ereport(LOG, (errmsg("tieredlog: conflict %lld was none: %s", (long long) id, why)));
}

/*
 * Up to 100 conflicts to look at again, oldest first, copied into the current memory context:
 * pending ones, and ones resolved by their rule within the conflict window (a witness that
 * arrives later can still show they were not concurrent).
 */
static List *
load_pending(void)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(tl_conflict_retention_s), Int32GetDatum(tl_conflict_window_s)};
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext spi;
	TlAsOwner	save;
	List	   *out = NIL;

	tl_become_owner(&save);
	tl_spi_exec("DELETE FROM tieredlog.conflict WHERE status <> 'pending'"
				" AND resolved_at < now() - make_interval(secs => $1)", 1, types, values, SPI_OK_DELETE);
	/*
	 * Witnesses older than the retention, except each writer's newest about each origin (it
	 * answers for every later record): a record that old arriving now can only be taken for
	 * concurrent, the safe side.
	 */
	tl_spi_exec("DELETE FROM tieredlog.seen s WHERE s.stored_at < now() - make_interval(secs => $1)"
				" AND EXISTS (SELECT 1 FROM tieredlog.seen n WHERE n.writer = s.writer AND n.about = s.about"
				"             AND n.writer_seq > s.writer_seq)", 1, types, values, SPI_OK_DELETE);
	tl_spi_exec("SELECT conflict_id, log_name, key, rid_a, origin_a, seq_a, ts_a, source_a, payload_a,"
				" rid_b, origin_b, seq_b, ts_b, source_b, payload_b, status = 'pending'"
				" FROM tieredlog.conflict WHERE status = 'pending'"
				"    OR (status = 'resolved_by_rule' AND updated_at > now() - make_interval(secs => $2))"
				" ORDER BY conflict_id LIMIT 100", 2, types, values, SPI_OK_SELECT);
	spi = MemoryContextSwitchTo(outer);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		PendingConflict *p = palloc(sizeof(PendingConflict));
		bool		isnull;

		p->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		p->log_name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		p->key = cstring_to_text(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3));
		p->a = tl_cf_side_row(SPI_tuptable, i, 4);
		p->b = tl_cf_side_row(SPI_tuptable, i, 10);
		p->pending = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 16, &isnull));
		out = lappend(out, p);
	}
	MemoryContextSwitchTo(spi);
	tl_restore_user(&save);
	return out;
}

/*
 * Two apply workers (two peers) storing new records of one key at the same moment do not see
 * each other's uncommitted record, so neither compares the two new heads. Every cycle the worker
 * takes the keys whose episodes were written since its last pass (with an overlap for
 * transactions that started before it) and compares their current heads again, as a
 * reconciliation would: the missing pair moves its episode or opens one. Returns how many.
 */
static TimestampTz settled_since = 0;

static int
settle_heads(void)
{
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz since = settled_since != 0 ? settled_since : start - WINDOW_US;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(since)};
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext spi;
	TlAsOwner	save;
	int			n;
	char	  **logs;
	char	  **keys;
	TimestampTz *anchors;
	int			changed = 0;

	if (tl_conflict_window_s <= 0)
		return 0;
	tl_become_owner(&save);
	tl_spi_exec("SELECT log_name, key, max(greatest(ts_a, ts_b)) FROM tieredlog.conflict"
				" WHERE updated_at >= $1 AND status <> 'resolved' GROUP BY log_name, key LIMIT 1000",
				1, types, values, SPI_OK_SELECT);
	n = (int) SPI_processed;
	spi = MemoryContextSwitchTo(outer);
	logs = palloc(sizeof(char *) * (n + 1));
	keys = palloc(sizeof(char *) * (n + 1));
	anchors = palloc(sizeof(TimestampTz) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		logs[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		keys[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		anchors[i] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
	}
	MemoryContextSwitchTo(spi);
	tl_restore_user(&save);
	for (int i = 0; i < n; i++)
	{
		TlLog		log;
		text	   *key = cstring_to_text(keys[i]);
		Snapshot	snap;
		List	   *heads;
		ListCell   *lx;
		ListCell   *ly;

		CHECK_FOR_INTERRUPTS();
		if (!tl_lookup_log_if_exists(logs[i], &log))
			continue;
		snap = RegisterSnapshot(GetLatestSnapshot());
		heads = tl_cf_scan_heads(&log, key, anchors[i] - WINDOW_US, anchors[i] + WINDOW_US + 1, snap, NULL);
		UnregisterSnapshot(snap);
		foreach(lx, heads)
			for_each_cell(ly, heads, lnext(heads, lx))
		{
			TlSide	   *x = lfirst(lx);
			TlSide	   *y = lfirst(ly);

			if (x->ts - y->ts > WINDOW_US || y->ts - x->ts > WINDOW_US || !tl_cf_concurrent(x, y))
				continue;
			/* as if the newer of the two had arrived last */
			if (tl_cf_later(x, y) ? tl_cf_note_pair_now(&log, keys[i], x, y, "streaming")
				: tl_cf_note_pair_now(&log, keys[i], y, x, "streaming"))
				changed++;
		}
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

	(void) settle_heads();
	pending = load_pending();

	foreach(lc, pending)
	{
		PendingConflict *p = lfirst(lc);
		TlSide	   *now;
		TlLog		log;

		CHECK_FOR_INTERRUPTS();
		if (!tl_lookup_log_if_exists(p->log_name, &log))
			continue;
		if (tl_cf_side_saw(p->a, p->b) || tl_cf_side_saw(p->b, p->a))
		{
			bool		a_saw = tl_cf_side_saw(p->a, p->b);
			char	   *why = psprintf("not concurrent after all: %s had seen %s",
									   tl_cf_side_name(a_saw ? p->a : p->b), tl_cf_side_name(a_saw ? p->b : p->a));

			/* a person may have looked at a pending one: keep it, settled; the others go */
			if (p->pending)
				mark_resolved(p->id, why, NULL);
			else
				forget_conflict(p->id, why);
			resolved++;
		}
		else if (p->pending && (now = tl_conflict_latest(&log, p->key)) != NULL &&
				 memcmp(now->rid.bytes, p->a->rid.bytes, TL_RID_LEN) != 0 &&
				 memcmp(now->rid.bytes, p->b->rid.bytes, TL_RID_LEN) != 0 &&
				 tl_cf_side_saw(now, p->a) && tl_cf_side_saw(now, p->b))
		{
			mark_resolved(p->id, psprintf("superseded by record %s, which saw both", tl_cf_side_name(now)),
						  tl_cf_side_name(now));
			resolved++;
		}
	}
	return resolved;
}
