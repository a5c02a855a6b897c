/*-------------------------------------------------------------------------
 * conflict.c
 *		Conflicts: two records of one (log, key) from different origins, neither of which had
 *		seen the other (causal.c), within tieredlog.conflict_window of each other. Records of one
 *		origin supersede each other; so does a record that saw another. Nothing is ever deleted:
 *		a conflict decides which record latest() returns.
 *
 *		Detection runs wherever a remote record is stored (streaming or reconciliation,
 *		remote.c): the key's records from other origins near the new record's ts are the
 *		candidates. Local appends never conflict (this node has seen what it holds). Every node
 *		holding both records detects the same conflict, with side a the record with the smaller
 *		rid, and picks the same winner:
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
 * Locking: rows of tieredlog.conflict are written through SPI in the caller's transaction (one
 * row per pair, ON CONFLICT DO NOTHING); resolve_conflict() locks the row FOR UPDATE. A custom
 * resolver runs in a subtransaction so that its errors cannot abort the apply.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "access/xact.h"
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

#include "append.h"
#include "causal.h"
#include "catalog.h"
#include "conflict.h"
#include "safe_spi.h"
#include "segment.h"
#include "segrows.h"
#include "tieredlog.h"

/* tieredlog.conflict_window (seconds), tieredlog.conflict_retention (seconds) */
int			tl_conflict_window_s = 3600;
int			tl_conflict_retention_s = 30 * 86400;

#define WINDOW_US	((int64) tl_conflict_window_s * USECS_PER_SEC)

/* ---- records as sides of a conflict ------------------------------------------------------- */

static TlSide *
side_from_row(HeapTuple row, TupleDesc desc, const TlSegment *seg)
{
	TlSide	   *s = palloc0(sizeof(TlSide));
	Datum		v[Natts_row];
	bool		n[Natts_row];

	heap_deform_tuple(row, desc, v, n);
	memcpy(s->rid.bytes, DatumGetUUIDP(v[Anum_row_rid - 1])->data, TL_RID_LEN);
	s->origin = TextDatumGetCString(v[Anum_row_origin - 1]);
	s->seq = DatumGetInt64(v[Anum_row_seq - 1]);
	s->ts = DatumGetTimestampTz(v[Anum_row_ts - 1]);
	s->source = n[Anum_row_source - 1] ? NULL : TextDatumGetCString(v[Anum_row_source - 1]);
	s->payload = DatumGetJsonbPCopy(v[Anum_row_payload - 1]);
	s->row = heap_copytuple(row);
	s->desc = desc;				/* the caller's copy, shared by the rows of one scan */
	s->seg = seg;
	return s;
}

static TlSide *
side_from_record(const TlRecord *rec)
{
	TlSide	   *s = palloc0(sizeof(TlSide));

	s->rid = rec->rid;
	s->origin = pstrdup(rec->origin);
	s->seq = rec->seq;
	s->ts = rec->ts;
	s->source = rec->source ? text_to_cstring(rec->source) : NULL;
	s->payload = rec->payload;
	return s;
}

static char *
side_name(const TlSide *s)
{
	return psprintf("%s:" INT64_FORMAT, s->origin, s->seq);
}

static bool
side_saw(const TlSide *x, const TlSide *y)
{
	return tl_causal_saw(x->origin, x->seq, y->origin, y->seq);
}

static bool
concurrent(const TlSide *x, const TlSide *y)
{
	return strcmp(x->origin, y->origin) != 0 && !side_saw(x, y) && !side_saw(y, x);
}

/* last_writer_wins order: is x after y? (ts, then origin name; sides differ in origin) */
static bool
later(const TlSide *x, const TlSide *y)
{
	if (x->ts != y->ts)
		return x->ts > y->ts;
	return strcmp(x->origin, y->origin) > 0;
}

static bool
same_content(const TlSide *x, const TlSide *y)
{
	if ((x->source == NULL) != (y->source == NULL) ||
		(x->source && strcmp(x->source, y->source) != 0))
		return false;
	return DatumGetInt32(DirectFunctionCall2(jsonb_cmp, JsonbPGetDatum(x->payload),
											 JsonbPGetDatum(y->payload))) == 0;
}

/* ---- rules -------------------------------------------------------------------------------- */

static int
source_priority(const char *source)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			prio = 0;
	TlAsOwner	save;

	if (source == NULL)
		return 0;
	values[0] = CStringGetTextDatum(source);
	tl_become_owner(&save);
	tl_spi_exec("SELECT priority FROM tieredlog.source_priority WHERE source = $1", 1, types, values, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		isnull;

		prio = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	tl_restore_user(&save);
	return prio;
}

static Datum
side_as_jsonb(const char *key, const TlSide *s)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"key\": ");
	escape_json(&b, key);
	appendStringInfo(&b, ", \"payload\": %s, \"ts\": ",
					 JsonbToCString(NULL, &s->payload->root, VARSIZE(s->payload)));
	escape_json(&b, timestamptz_to_str(s->ts));
	appendStringInfoString(&b, ", \"source\": ");
	if (s->source)
		escape_json(&b, s->source);
	else
		appendStringInfoString(&b, "null");
	appendStringInfoString(&b, ", \"origin\": ");
	escape_json(&b, s->origin);
	appendStringInfo(&b, ", \"seq\": " INT64_FORMAT ", \"rid\": \"%s\"}", s->seq, tl_rid_to_hex(&s->rid));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data));
}

/* The role that owns a function (the resolver runs as it). */
static Oid
function_owner(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("resolver function %u does not exist", fn)));
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Run the resolver as the role that owns it, never as whoever happens to call it (the apply
 * worker and the workers are superusers): as PostgreSQL runs index expressions during
 * maintenance, a security-restricted operation (no SET ROLE, no temporary objects, no
 * deferred work that outlives it) with search_path = pg_catalog, pg_temp. The owner must still
 * be allowed to execute it. Errors unwind the user and the GUC level with the subtransaction.
 */
static Datum
call_as_owner(Oid resolver, Datum ja, Datum jb)
{
	Oid			owner = function_owner(resolver);
	Oid			saved_user;
	int			saved_sec;
	int			guc_level;
	AclResult	acl;
	Datum		r;

	GetUserIdAndSecContext(&saved_user, &saved_sec);
	SetUserIdAndSecContext(owner, saved_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	guc_level = NewGUCNestLevel();
	tl_pin_search_path();
	acl = pg_proc_aclcheck(resolver, owner, ACL_EXECUTE);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_FUNCTION, get_func_name(resolver));
	r = OidFunctionCall2(resolver, ja, jb);
	AtEOXact_GUC(true, guc_level);
	SetUserIdAndSecContext(saved_user, saved_sec);
	return r;
}

/*
 * Call the custom resolver in a subtransaction, as its owner. Returns its answer (NULL if it
 * failed; *error then says why).
 */
static char *
call_resolver(Oid resolver, const char *key, const TlSide *a, const TlSide *b, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *volatile answer = NULL;	/* set inside PG_TRY, read after it */
	Datum		ja = side_as_jsonb(key, a);
	Datum		jb = side_as_jsonb(key, b);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		Datum		r = call_as_owner(resolver, ja, jb);

		answer = text_to_cstring(DatumGetTextPP(r));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		*error = psprintf("the resolver %s failed: %s", format_procedure(resolver), ed->message);
		FreeErrorData(ed);
	}
	PG_END_TRY();
	return (char *) answer;
}

/* Decide between sides a and b of a conflict under the log's rule. */
static TlDecision
decide(const TlLog *log, const char *key, const TlSide *a, const TlSide *b)
{
	TlDecision d;

	d.a_wins = later(a, b);		/* the provisional winner, and last_writer_wins */
	d.pending = false;
	if (same_content(a, b))
	{
		d.reason = "identical content";
		return d;
	}
	if (strcmp(log->rule, "last_writer_wins") == 0)
		d.reason = a->ts != b->ts ? "the later timestamp wins" : "equal timestamps: the greater node name wins";
	else if (strcmp(log->rule, "first_writer_wins") == 0)
	{
		d.a_wins = !d.a_wins;
		d.reason = a->ts != b->ts ? "the earlier timestamp wins" : "equal timestamps: the smaller node name wins";
	}
	else if (strcmp(log->rule, "source_priority") == 0)
	{
		int			pa = source_priority(a->source);
		int			pb = source_priority(b->source);

		if (pa != pb)
		{
			d.a_wins = pa > pb;
			d.reason = psprintf("source priority %d beats %d", Max(pa, pb), Min(pa, pb));
		}
		else if (a->ts != b->ts)
			d.reason = psprintf("equal source priority %d: the later timestamp wins", pa);
		else
		{
			d.pending = true;
			d.reason = psprintf("equal source priority %d and equal timestamps", pa);
		}
	}
	else if (strcmp(log->rule, "custom") == 0)
	{
		char	   *error = NULL;
		char	   *answer = OidIsValid(log->resolver) ? call_resolver(log->resolver, key, a, b, &error) : NULL;

		if (answer && strcmp(answer, side_name(a)) == 0)
			d.a_wins = true;
		else if (answer && strcmp(answer, side_name(b)) == 0)
			d.a_wins = false;
		else
			d.pending = true;
		d.reason = d.pending
			? (error ? error : psprintf("the resolver %s answered \"%s\", which is neither %s nor %s",
										format_procedure(log->resolver), answer ? answer : "",
										side_name(a), side_name(b)))
			: psprintf("the resolver %s chose", format_procedure(log->resolver));
	}
	else
	{
		d.pending = true;
		d.reason = "the log's rule is manual";
	}
	return d;
}

/* ---- the conflict table ------------------------------------------------------------------- */

static Datum
uuid_datum(const TlRid *rid)
{
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	memcpy(u->data, rid->bytes, TL_RID_LEN);
	return UUIDPGetDatum(u);
}

static void
put_side(Datum *values, char *nulls, const TlSide *s)
{
	values[0] = uuid_datum(&s->rid);
	values[1] = CStringGetTextDatum(s->origin);
	values[2] = Int64GetDatum(s->seq);
	values[3] = TimestampTzGetDatum(s->ts);
	values[4] = s->source ? CStringGetTextDatum(s->source) : (Datum) 0;
	nulls[4] = s->source ? ' ' : 'n';
	values[5] = JsonbPGetDatum(s->payload);
}

/* Record the conflict between the stored `here` and the arriving `arrived`; false if known. */
static bool
record_conflict(const TlLog *log, const char *key, const TlSide *here, const TlSide *arrived, const char *via)
{
	bool		arrived_is_a = memcmp(arrived->rid.bytes, here->rid.bytes, TL_RID_LEN) < 0;
	const TlSide *a = arrived_is_a ? arrived : here;
	const TlSide *b = arrived_is_a ? here : arrived;
	TlDecision	d = decide(log, key, a, b);
	Oid			types[20] = {TEXTOID, TEXTOID,
		UUIDOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, JSONBOID,
		UUIDOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, JSONBOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[20];
	char		nulls[21] = "                    ";
	TlAsOwner	save;
	bool		inserted;

	values[0] = CStringGetTextDatum(log->name);
	values[1] = CStringGetTextDatum(key);
	put_side(values + 2, nulls + 2, a);
	put_side(values + 8, nulls + 8, b);
	values[14] = CStringGetTextDatum(arrived_is_a ? "a" : "b");
	values[15] = CStringGetTextDatum(via);
	values[16] = CStringGetTextDatum(log->rule);
	values[17] = CStringGetTextDatum(d.pending ? "pending" : "resolved_by_rule");
	values[18] = CStringGetTextDatum(d.a_wins ? "a" : "b");
	values[19] = CStringGetTextDatum(d.reason);
	tl_become_owner(&save);
	if (SPI_execute_with_args("INSERT INTO tieredlog.conflict (log_name, key, rid_a, origin_a, seq_a, ts_a, source_a,"
							  " payload_a, rid_b, origin_b, seq_b, ts_b, source_b, payload_b, arrived, via, rule,"
							  " status, winner, reason, resolved_at)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
							  " $18, $19, $20, CASE WHEN $18 = 'pending' THEN NULL ELSE now() END)"
							  " ON CONFLICT (log_name, key, rid_a, rid_b) DO NOTHING",
							  20, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a conflict");
	inserted = SPI_processed == 1;
	tl_restore_user(&save);
	if (inserted && d.pending)
		ereport(LOG,
				(errmsg("tieredlog: conflict on key \"%s\" of log \"%s\" waits for a decision", key, log->name),
				 errdetail("%s and %s: %s; provisional winner %s.", side_name(a), side_name(b), d.reason,
						   side_name(d.a_wins ? a : b)),
				 errhint("See tieredlog.conflicts; decide with tieredlog.resolve_conflict().")));
	return inserted;
}

/* ---- detection ---------------------------------------------------------------------------- */

typedef struct Candidates
{
	const char *skip_origin;
	bool		newest_per_origin;	/* keep only each origin's newest (latest()) */
	const TlSegment *seg;		/* the segment being read */
	TupleDesc	desc_seen;		/* the scan's descriptor ... */
	TupleDesc	desc_copy;		/* ... and the copy the sides share */
	TimestampTz newest_ts;		/* the greatest ts visited */
	List	   *sides;
	Snapshot	snap;			/* NULL: the active snapshot */
} Candidates;

static void
visit_candidate(HeapTuple row, TupleDesc desc, void *arg)
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
				return;
			c->sides = foreach_delete_current(c->sides, lc);
			break;
		}
	}
	if (c->desc_seen != desc)
	{
		c->desc_seen = desc;
		c->desc_copy = CreateTupleDescCopy(desc);
	}
	c->sides = lappend(c->sides, side_from_row(row, c->desc_copy, c->seg));
}

struct WindowEntry;
static bool cached_index(struct WindowEntry *e, Oid *idx);
static void remember_index(struct WindowEntry *e, Oid idx);


/*
 * Rows of `key` in one segment with ts in [from_ts, to_ts) from origins other than c->skip_origin.
 * Through the (key, origin) index, two ranges around the skipped origin: a key written by one
 * origin only costs two index descents, however often it was written.
 */
static void
segment_candidates(const TlLog *log, const TlSegment *seg, struct WindowEntry *cached, text *key,
				   TimestampTz from_ts, TimestampTz to_ts, Candidates *c)
{
	Relation	rel;
	Oid			idx = InvalidOid;
	TupleDesc	desc;

	c->seg = seg;
	rel = (OidIsValid(seg->relid) && seg->archive_attempt == 0 && c->skip_origin)
		? try_table_open(seg->relid, AccessShareLock) : NULL;
	if (rel && cached && cached_index(cached, &idx))
		;
	else if (rel)
	{
		idx = tl_key_index(rel, true);
		if (cached)
			remember_index(cached, idx);
	}
	if (!OidIsValid(idx))
	{
		if (rel)
			table_close(rel, AccessShareLock);
		tl_segment_rows(log, seg, c->snap ? c->snap : GetActiveSnapshot(), from_ts, to_ts, key, visit_candidate, c);
		return;
	}
	desc = RelationGetDescr(rel);
	for (int pass = 0; pass < 2; pass++)
	{
		ScanKeyData sk[2];
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&sk[0], Anum_row_key, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(key));
		sk[0].sk_collation = C_COLLATION_OID;
		ScanKeyInit(&sk[1], Anum_row_origin, pass == 0 ? BTLessStrategyNumber : BTGreaterStrategyNumber,
					pass == 0 ? F_TEXT_LT : F_TEXT_GT, CStringGetTextDatum(c->skip_origin));
		sk[1].sk_collation = C_COLLATION_OID;
		scan = systable_beginscan(rel, idx, true, c->snap ? c->snap : GetActiveSnapshot(), 2, sk);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			TimestampTz ts = DatumGetTimestampTz(heap_getattr(tup, Anum_row_ts, desc, &isnull));

			if (ts >= from_ts && ts < to_ts)
				visit_candidate(tup, desc, c);
		}
		systable_endscan(scan);
	}
	table_close(rel, AccessShareLock);
}

/*
 * Which segments exist, and their (key, origin) index, remembered for the rest of the transaction:
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
} WindowEntry;

static HTAB *window_cache;
static LocalTransactionId window_cache_lxid = InvalidLocalTransactionId;

static WindowEntry *
window_entry(const TlLog *log, TimestampTz start, bool refresh_if_absent)
{
	WindowKey	key;
	WindowEntry *e;
	bool		found;

	if (window_cache == NULL || window_cache_lxid != MyProc->lxid)
	{
		HASHCTL		ctl;

		/* an older cache went away with its transaction's TopTransactionContext */
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(WindowKey);
		ctl.entrysize = sizeof(WindowEntry);
		ctl.hcxt = TopTransactionContext;
		window_cache = hash_create("tieredlog conflict windows", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		window_cache_lxid = MyProc->lxid;
	}
	memset(&key, 0, sizeof(key));
	key.log_id = log->log_id;
	key.range_start = start;
	e = hash_search(window_cache, &key, HASH_ENTER, &found);
	if (!found || (refresh_if_absent && !e->exists))
	{
		e->exists = tl_segment_lookup(log, start, &e->seg);
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

/* The segments of the log overlapping [from_ts, to_ts); `own_ts`'s window is known to exist. */
static List *
window_segments(const TlLog *log, TimestampTz from_ts, TimestampTz to_ts, TimestampTz own_ts)
{
	List	   *segs = NIL;
	TimestampTz start = tl_window_start(from_ts, log->interval_us);
	TimestampTz own = tl_window_start(own_ts, log->interval_us);

	if ((to_ts - start) / log->interval_us > 8)
		return tl_catalog_log_segments(log->log_id, from_ts, to_ts, GetActiveSnapshot());
	for (TimestampTz w = start; w < to_ts; w += log->interval_us)
	{
		WindowEntry *e = window_entry(log, w, w == own);

		if (e->exists)
			segs = lappend(segs, e);
	}
	return segs;
}

/* Records of the key with ts in [from_ts, to_ts), all origins (latest()). */
static List *
key_records(const TlLog *log, text *key, TimestampTz from_ts, TimestampTz to_ts, bool newest_per_origin)
{
	Candidates	c = {NULL, newest_per_origin, NULL, NULL, NULL, DT_NOBEGIN, NIL, NULL};
	List	   *segs = tl_catalog_log_segments(log->log_id, from_ts, to_ts, GetActiveSnapshot());
	ListCell   *lc;

	foreach(lc, segs)
	{
		c.seg = lfirst(lc);
		tl_segment_rows(log, c.seg, GetActiveSnapshot(), from_ts, to_ts, key, visit_candidate, &c);
	}
	return c.sides;
}

/*
 * Keys known, for the rest of the transaction, to hold rows of one origin only in a segment:
 * (segment, key) -> that origin. A record of the same origin needs no probe there; a record of
 * another origin probes and replaces the entry (or removes it when the segment now holds two
 * origins). Streaming batches repeat hot keys of one origin, so most probes are saved.
 */
typedef struct CleanKey
{
	int64		segment_id;
	uint32		key_hash;
} CleanKey;

typedef struct CleanEntry
{
	CleanKey	k;
	char		origin[NAMEDATALEN];
	text	   *key;			/* the key itself: two keys may share a hash */
} CleanEntry;

static HTAB *clean_keys;
static LocalTransactionId clean_keys_lxid = InvalidLocalTransactionId;

static CleanEntry *
clean_lookup(int64 segment_id, text *key, bool create)
{
	CleanKey	k;
	CleanEntry *e;
	bool		found;

	if (clean_keys == NULL || clean_keys_lxid != MyProc->lxid)
	{
		HASHCTL		ctl;

		if (!create)
			return NULL;
		/* an older table went away with its transaction's TopTransactionContext */
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(CleanKey);
		ctl.entrysize = sizeof(CleanEntry);
		ctl.hcxt = TopTransactionContext;
		clean_keys = hash_create("tieredlog clean keys", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		clean_keys_lxid = MyProc->lxid;
	}
	memset(&k, 0, sizeof(k));
	k.segment_id = segment_id;
	k.key_hash = hash_bytes((const unsigned char *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	e = hash_search(clean_keys, &k, create ? HASH_ENTER : HASH_FIND, &found);
	if (e == NULL)
		return NULL;
	if (found && (VARSIZE_ANY_EXHDR(e->key) != VARSIZE_ANY_EXHDR(key) ||
				  memcmp(VARDATA_ANY(e->key), VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) != 0))
	{
		if (!create)
			return NULL;		/* another key with the same hash */
		found = false;
	}
	if (!found)
	{
		e->key = MemoryContextAlloc(TopTransactionContext, VARSIZE_ANY(key));
		memcpy(e->key, key, VARSIZE_ANY(key));
		e->origin[0] = '\0';
	}
	return e;
}

/* Records of the record's key within the conflict window from other origins (detection). */
static List *
conflict_candidates(const TlLog *log, const TlRecord *rec, Snapshot snap)
{
	TimestampTz from_ts = rec->ts - WINDOW_US;
	TimestampTz to_ts = rec->ts + WINDOW_US + 1;
	Candidates	c = {rec->origin, false, NULL, NULL, NULL, DT_NOBEGIN, NIL, snap};
	bool		few = (to_ts - tl_window_start(from_ts, log->interval_us)) / log->interval_us <= 8;
	List	   *segs = window_segments(log, from_ts, to_ts, rec->ts);
	ListCell   *lc;

	foreach(lc, segs)
	{
		WindowEntry *e = few ? lfirst(lc) : NULL;
		const TlSegment *seg = few ? &e->seg : lfirst(lc);
		int			before = list_length(c.sides);
		CleanEntry *clean;

		clean = clean_lookup(seg->segment_id, rec->key, false);
		if (clean && strcmp(clean->origin, rec->origin) == 0)
			continue;
		segment_candidates(log, seg, e, rec->key, from_ts, to_ts, &c);
		/* only a segment the window covers whole: other records' windows see the same rows */
		if (list_length(c.sides) == before && from_ts <= seg->range_start && to_ts >= seg->range_end)
		{
			clean = clean_lookup(seg->segment_id, rec->key, true);
			strlcpy(clean->origin, rec->origin, sizeof(clean->origin));
		}
		else if (list_length(c.sides) > before && (clean = clean_lookup(seg->segment_id, rec->key, false)) != NULL)
			hash_search(clean_keys, &clean->k, HASH_REMOVE, NULL);
	}
	return c.sides;
}

/*
 * A remote record was just stored: record its conflicts with the records of its key here.
 * Returns how many new conflicts were found.
 */
int
tl_conflict_check(const TlLog *log, const TlRecord *rec, const char *via)
{
	TlSide	   *arrived;
	List	   *cands;
	ListCell   *lc;
	int			found = 0;
	char	   *key;

	if (strcmp(log->name, TL_SEEN_LOG) == 0 || tl_conflict_window_s <= 0)
		return 0;
	/*
	 * A reconciliation batch can bring records of several origins for one key: each must see the
	 * ones stored before it in this transaction. (A streaming batch holds one origin's records.)
	 */
	if (strcmp(via, "reconciliation") == 0)
	{
		CommandCounterIncrement();
		cands = conflict_candidates(log, rec, GetLatestSnapshot());
	}
	else
		cands = conflict_candidates(log, rec, NULL);
	if (cands == NIL)
		return 0;
	arrived = side_from_record(rec);
	key = text_to_cstring(rec->key);
	foreach(lc, cands)
	{
		TlSide	   *here = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (concurrent(arrived, here) && record_conflict(log, key, here, arrived, via))
			found++;
	}
	return found;
}

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
	values[2] = uuid_datum(x_is_a ? &x->rid : &y->rid);
	values[3] = uuid_datum(x_is_a ? &y->rid : &x->rid);
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
	d = decide(log, key, x_is_a ? x : y, x_is_a ? y : x);
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
			if (lfirst(lc2) != x && side_saw(lfirst(lc2), x))
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
						visit_candidate, &c);
		sides = c.sides;
		newest = c.newest_ts;
	}
	if (sides == NIL)
		return NULL;
	/* the records before it within the window may sit in earlier segments too */
	if (tl_conflict_window_s > 0 &&
		tl_window_start(newest - WINDOW_US, log->interval_us) < tl_window_start(newest, log->interval_us))
		sides = key_records(log, key, newest - WINDOW_US, newest + 1, true);
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

static TlSide *
conflict_side_row(SPITupleTable *tt, uint64 row, int first_col)
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
	return conflict_side_row(tt, 0, first_col);
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
	else if (strcmp(winner, side_name(a)) == 0)
		chosen = a;
	else if (strcmp(winner, side_name(b)) == 0)
		chosen = b;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%.80s\" is not a side of conflict %lld", winner, (long long) conflict_id),
				 errhint("Use 'local', 'remote', '%s' or '%s'.", side_name(a), side_name(b))));
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
				"    OR (status = 'resolved_by_rule' AND detected_at > now() - make_interval(secs => $2))"
				" ORDER BY conflict_id LIMIT 100", 2, types, values, SPI_OK_SELECT);
	spi = MemoryContextSwitchTo(outer);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		PendingConflict *p = palloc(sizeof(PendingConflict));
		bool		isnull;

		p->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		p->log_name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		p->key = cstring_to_text(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3));
		p->a = conflict_side_row(SPI_tuptable, i, 4);
		p->b = conflict_side_row(SPI_tuptable, i, 10);
		p->pending = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 16, &isnull));
		out = lappend(out, p);
	}
	MemoryContextSwitchTo(spi);
	tl_restore_user(&save);
	return out;
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
	List	   *pending = load_pending();
	ListCell   *lc;
	int			resolved = 0;

	foreach(lc, pending)
	{
		PendingConflict *p = lfirst(lc);
		TlSide	   *now;
		TlLog		log;

		CHECK_FOR_INTERRUPTS();
		if (!tl_lookup_log_if_exists(p->log_name, &log))
			continue;
		if (side_saw(p->a, p->b) || side_saw(p->b, p->a))
		{
			bool		a_saw = side_saw(p->a, p->b);
			char	   *why = psprintf("not concurrent after all: %s had seen %s",
									   side_name(a_saw ? p->a : p->b), side_name(a_saw ? p->b : p->a));

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
				 side_saw(now, p->a) && side_saw(now, p->b))
		{
			mark_resolved(p->id, psprintf("superseded by record %s, which saw both", side_name(now)),
						  side_name(now));
			resolved++;
		}
	}
	return resolved;
}
