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
 *		origins: it moves to the newer pair while neither side sees the other (continues()),
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

/* A record as a head: what a decision needs, without the row itself. */
static TlSide *
head_from_row(HeapTuple row, TupleDesc desc)
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
	return s;
}

/* A record read from a segment row, with the row itself (latest() returns it). */
static TlSide *
side_from_row(HeapTuple row, TupleDesc desc, const TlSegment *seg)
{
	TlSide	   *s = head_from_row(row, desc);

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

static TlSide *conflict_side_row(SPITupleTable *tt, uint64 row, int first_col);

static SPIPlanPtr plan_insert_episode;
static SPIPlanPtr plan_move_episode;
static SPIPlanPtr plan_find_episode;

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

/*
 * Record the conflict between the stored `here` and the arriving `arrived`: a new episode
 * (episode_id 0), or the episode episode_id moved to this pair. Returns the row's conflict_id,
 * 0 if nothing was written (the pair is known; the episode was decided by a person meanwhile).
 */
static int64
record_conflict(const TlLog *log, const char *key, const TlSide *here, const TlSide *arrived, const char *via,
				int64 episode_id, int pairs, const TlSide *was_here, const TlSide *was_arrived)
{
	bool		arrived_is_a = memcmp(arrived->rid.bytes, here->rid.bytes, TL_RID_LEN) < 0;
	const TlSide *a = arrived_is_a ? arrived : here;
	const TlSide *b = arrived_is_a ? here : arrived;
	TlDecision	d = decide(log, key, a, b);
	Oid			types[25] = {TEXTOID, TEXTOID,
		UUIDOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, JSONBOID,
		UUIDOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, JSONBOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT4OID, TEXTOID, INT8OID, INT8OID};
	Datum		values[25];
	char		nulls[26] = "                         ";
	TlAsOwner	save;
	bool		inserted;
	int64		id = 0;
	int			rc;

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
	values[20] = Int64GetDatum(episode_id);
	values[21] = Int32GetDatum(pairs);
	/* an UPDATE moves the row only from the pair the caller read (here's origin: seq, the other) */
	values[22] = CStringGetTextDatum(was_here ? was_here->origin : here->origin);
	values[23] = Int64GetDatum(was_here ? was_here->seq : -1);
	values[24] = Int64GetDatum(was_arrived ? was_arrived->seq : -1);
	tl_become_owner(&save);
	if (episode_id == 0)
		rc = SPI_execute_plan(tl_spi_prepare_once(&plan_insert_episode,
									   "INSERT INTO tieredlog.conflict (log_name, key, rid_a, origin_a, seq_a, ts_a, source_a,"
								   " payload_a, rid_b, origin_b, seq_b, ts_b, source_b, payload_b, arrived, via, rule,"
								   " status, winner, reason, resolved_at, pairs)"
								   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
								   " $18, $19, $20, CASE WHEN $18 = 'pending' THEN NULL ELSE now() END, $22)"
								   " ON CONFLICT (log_name, key, rid_a, rid_b) DO NOTHING RETURNING conflict_id",
									   25, types), values, nulls, false, 0);
	else
		/* the same pair in another row (an older episode) would break the uniqueness: leave it */
		rc = SPI_execute_plan(tl_spi_prepare_once(&plan_move_episode,
									   "UPDATE tieredlog.conflict c SET rid_a = $3, origin_a = $4, seq_a = $5, ts_a = $6,"
								   " source_a = $7, payload_a = $8, rid_b = $9, origin_b = $10, seq_b = $11, ts_b = $12,"
								   " source_b = $13, payload_b = $14, arrived = $15, via = $16, rule = $17, status = $18,"
								   " winner = $19, reason = $20, pairs = c.pairs + $22, updated_at = now(),"
								   " resolved_at = CASE WHEN $18 = 'pending' THEN NULL ELSE now() END"
								   " WHERE c.conflict_id = $21 AND c.status <> 'resolved' AND c.log_name = $1 AND c.key = $2"
									   " AND ((c.origin_a = $23 AND c.seq_a = $24 AND c.seq_b = $25)"
									   "      OR (c.origin_b = $23 AND c.seq_b = $24 AND c.seq_a = $25))"
								   " AND NOT EXISTS (SELECT 1 FROM tieredlog.conflict o WHERE o.log_name = $1"
								   "                 AND o.key = $2 AND o.rid_a = $3 AND o.rid_b = $9)",
									   25, types), values, nulls, false, 0);
	if (rc != (episode_id == 0 ? SPI_OK_INSERT_RETURNING : SPI_OK_UPDATE))
		elog(ERROR, "could not record a conflict");
	inserted = SPI_processed == 1;
	if (inserted)
	{
		bool		isnull;

		id = episode_id != 0 ? episode_id
			: DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	tl_restore_user(&save);
	if (inserted && d.pending && episode_id == 0)
		ereport(LOG,
				(errmsg("tieredlog: conflict on key \"%s\" of log \"%s\" waits for a decision", key, log->name),
				 errdetail("%s and %s: %s; provisional winner %s.", side_name(a), side_name(b), d.reason,
						   side_name(d.a_wins ? a : b)),
				 errhint("See tieredlog.conflicts; decide with tieredlog.resolve_conflict().")));
	return id;
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

/*
 * Which segments exist, and their (key, origin, ts) index, remembered for the rest of the transaction:
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

/* A subtransaction that rolls back may have created segments: forget what was learnt (user reconcile() in a savepoint). */
static void
window_cache_subxact(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		window_cache = NULL;	/* its memory goes with TopTransactionContext */
}

static WindowEntry *
window_entry(const TlLog *log, TimestampTz start, bool refresh_if_absent)
{
	WindowKey	key;
	WindowEntry *e;
	bool		found;

	if (window_cache == NULL || window_cache_lxid != MyProc->lxid)
	{
		HASHCTL		ctl;
		static bool registered = false;

		if (!registered)
		{
			RegisterSubXactCallback(window_cache_subxact, NULL);
			registered = true;
		}

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
	for (TimestampTz w = start; w < to_ts; w += log->interval_us)
	{
		/* an absent window is looked up again: heads are read through a fresh snapshot */
		WindowEntry *e = window_entry(log, w, true);

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

/* ---- heads: the newest record of each origin for a key ------------------------------------ */

/* Is x newer than y (two records of one origin)? By ts (explicit event times may come in any order), then seq. */
static bool
newer(const TlSide *x, const TlSide *y)
{
	return x->ts > y->ts || (x->ts == y->ts && x->seq > y->seq);
}

/* A copy of a head in the current memory context (the row itself is not kept). */
static TlSide *
side_copy(const TlSide *s)
{
	TlSide	   *c = palloc0(sizeof(TlSide));

	c->rid = s->rid;
	c->origin = pstrdup(s->origin);
	c->seq = s->seq;
	c->ts = s->ts;
	c->source = s->source ? pstrdup(s->source) : NULL;
	c->payload = palloc(VARSIZE(s->payload));
	memcpy(c->payload, s->payload, VARSIZE(s->payload));
	return c;
}

static void
side_free(TlSide *s)
{
	pfree(s->origin);
	if (s->source)
		pfree(s->source);
	pfree(s->payload);
	pfree(s);
}

/*
 * Put `s` into `heads` (one side per origin) unless that origin's head there is newer or is s;
 * a copy in the current memory context when `copy` (the copy it replaces is freed: the cache
 * lives as long as the transaction).
 */
static List *
merge_head(List *heads, TlSide *s, bool copy)
{
	ListCell   *lc;

	foreach(lc, heads)
	{
		TlSide	   *h = lfirst(lc);

		if (strcmp(h->origin, s->origin) != 0)
			continue;
		if (newer(s, h))
		{
			lfirst(lc) = copy ? side_copy(s) : s;
			if (copy)
				side_free(h);
		}
		return heads;
	}
	return lappend(heads, copy ? side_copy(s) : s);
}

/* The index of a segment relation on (key, origin, ts), or InvalidOid (a segment created before it existed). */
static Oid
heads_index(Relation rel)
{
	AttrNumber	cols[3] = {Anum_row_key, Anum_row_origin, Anum_row_ts};

	return tl_index_on(rel, cols, 3, true);
}

/* The first origin greater than `after` (NULL: the first) holding rows of `key`, or NULL. */
static char *
next_origin(Relation rel, Relation idx, Snapshot snap, text *key, const char *after)
{
	ScanKeyData sk[2];
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *origin = NULL;

	ScanKeyInit(&sk[0], Anum_row_key, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(key));
	sk[0].sk_collation = C_COLLATION_OID;
	if (after)
	{
		ScanKeyInit(&sk[1], Anum_row_origin, BTGreaterStrategyNumber, F_TEXT_GT, CStringGetTextDatum(after));
		sk[1].sk_collation = C_COLLATION_OID;
	}
	scan = systable_beginscan_ordered(rel, idx, snap, after ? 2 : 1, sk);
	if (HeapTupleIsValid(tup = systable_getnext_ordered(scan, ForwardScanDirection)))
	{
		bool		isnull;

		origin = TextDatumGetCString(heap_getattr(tup, Anum_row_origin, RelationGetDescr(rel), &isnull));
	}
	systable_endscan_ordered(scan);
	return origin;
}

/* The newest row of (key, origin) with ts in [from_ts, to_ts), or NULL: one descent from the end. */
static TlSide *
newest_of_origin(Relation rel, Relation idx, Snapshot snap, text *key, const char *origin,
				 TimestampTz from_ts, TimestampTz to_ts)
{
	ScanKeyData sk[3];
	SysScanDesc scan;
	HeapTuple	tup;
	TupleDesc	desc = RelationGetDescr(rel);
	TlSide	   *best = NULL;

	ScanKeyInit(&sk[0], Anum_row_key, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(key));
	sk[0].sk_collation = C_COLLATION_OID;
	ScanKeyInit(&sk[1], Anum_row_origin, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(origin));
	sk[1].sk_collation = C_COLLATION_OID;
	ScanKeyInit(&sk[2], Anum_row_ts, BTLessStrategyNumber, F_TIMESTAMP_LT, TimestampTzGetDatum(to_ts));
	scan = systable_beginscan_ordered(rel, idx, snap, 3, sk);
	while (HeapTupleIsValid(tup = systable_getnext_ordered(scan, BackwardScanDirection)))
	{
		bool		isnull;
		TimestampTz ts = DatumGetTimestampTz(heap_getattr(tup, Anum_row_ts, desc, &isnull));
		int64		seq = DatumGetInt64(heap_getattr(tup, Anum_row_seq, desc, &isnull));

		if (ts < from_ts || (best && ts < best->ts))
			break;				/* out of the range, or past the rows that share the newest ts */
		if (best == NULL || seq > best->seq)
			best = head_from_row(tup, desc);
	}
	systable_endscan_ordered(scan);
	return best;
}

/*
 * Merge into `heads` the newest record of each origin among the segment's rows of `key` with ts
 * in [from_ts, to_ts). Through the (key, origin, ts) index two descents per origin, however
 * often the key was written; a segment without it (older, or in archive frames) is read whole.
 */
static List *
segment_heads(const TlLog *log, WindowEntry *e, Snapshot snap, text *key, TimestampTz from_ts,
			  TimestampTz to_ts, List *heads)
{
	const TlSegment *seg = &e->seg;
	Relation	rel;
	Relation	idx;
	Oid			idx_oid = InvalidOid;
	char	   *origin = NULL;

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
		tl_segment_rows(log, seg, snap, from_ts, to_ts, key, visit_candidate, &c);
		foreach(lc, c.sides)
			heads = merge_head(heads, lfirst(lc), false);
		return heads;
	}
	idx = index_open(idx_oid, AccessShareLock);
	while ((origin = next_origin(rel, idx, snap, key, origin)) != NULL)
	{
		TlSide	   *s = newest_of_origin(rel, idx, snap, key, origin, from_ts, to_ts);

		CHECK_FOR_INTERRUPTS();
		if (s)
			heads = merge_head(heads, s, false);
	}
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return heads;
}

/* The newest record of each origin for `key` among its records with ts in [from_ts, to_ts). */
static List *
scan_heads(const TlLog *log, text *key, TimestampTz from_ts, TimestampTz to_ts, Snapshot snap)
{
	List	   *heads = NIL;
	ListCell   *lc;

	foreach(lc, window_segments(log, from_ts, to_ts))
		heads = segment_heads(log, lfirst(lc), snap, key, from_ts, to_ts, heads);
	return heads;
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
	uint64		completions;	/* ... while no other transaction completed since they were read */
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
 * keys (settle_heads), which compares the current heads again.
 */
static MemoryContext heads_cxt;
static HTAB *heads_cache;
static int	checks_since_flush;
static bool unwritten;			/* some cached episode is dirty */

static void flush_episode(HeadsEntry *e, CachedEpisode *ep);

/*
 * Write the episodes moved or opened here and not written yet: all of them, or (at a commit)
 * the new ones and those moved more than MOVE_WRITE_DELAY_US after their last write.
 */
void
tl_conflict_flush(bool everything)
{
	HASH_SEQ_STATUS it;
	HeadsEntry *e;
	TimestampTz due = GetCurrentTimestamp() - MOVE_WRITE_DELAY_US;

	if (everything)
		checks_since_flush = 0;
	if (heads_cache == NULL || !unwritten)
		return;
	if (everything)
		unwritten = false;
	hash_seq_init(&it, heads_cache);
	while ((e = hash_seq_search(&it)) != NULL)
	{
		ListCell   *lc;

		foreach(lc, e->episodes)
		{
			CachedEpisode *ep = lfirst(lc);

			if (everything || ep->conflict_id == 0 || ep->written_at <= due)
				flush_episode(e, ep);
		}
	}
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
static uint64
completed_transactions(void)
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
 * as wide) only while no other transaction completes on this server — nothing new can be visible
 * then but its own inserts, which it adds itself — so with one peer streaming it reads a hot key
 * once per batch. Returns the heads of the other origins; NIL when the record is not its origin's
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
		completions = completed_transactions();
	}
	*arrived = side_from_record(rec);
	if (e && e->completions == completions && rec->ts - WINDOW_US >= e->from_ts &&
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
		fresh = scan_heads(log, rec->key, from_ts, to_ts, snap);
		UnregisterSnapshot(snap);
		if (e)
		{
			/* the cache keeps copies; the ones it had go (the lists are small) */
			old = MemoryContextSwitchTo(heads_cxt);
			foreach(lc, e->heads)
				side_free(lfirst(lc));
			list_free(e->heads);
			e->heads = NIL;
			foreach(lc, fresh)
				e->heads = merge_head(e->heads, lfirst(lc), true);
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
		else if (newer(h, *arrived))
			superseded = true;	/* a newer record of its origin came first */
	}
	if (e && !superseded)
	{
		old = MemoryContextSwitchTo(heads_cxt);
		e->heads = merge_head(e->heads, *arrived, true);	/* this insert, which the cache now knows */
		MemoryContextSwitchTo(old);
	}
	return superseded ? NIL : others;
}

/* ---- episodes ----------------------------------------------------------------------------- */

/* The newest conflict row (episode) of `key` between the origins of x and y, if any. */
typedef struct Episode
{
	int64		conflict_id;
	char	   *status;
	TlSide	   *side_of_x;		/* its record of x's origin */
	TlSide	   *side_of_y;
} Episode;

static bool
find_episode(const TlLog *log, const char *key, const TlSide *x, const TlSide *y, Episode *ep)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	MemoryContext outer = CurrentMemoryContext;
	TlAsOwner	save;
	bool		found;

	values[0] = CStringGetTextDatum(log->name);
	values[1] = CStringGetTextDatum(key);
	values[2] = CStringGetTextDatum(x->origin);
	values[3] = CStringGetTextDatum(y->origin);
	tl_become_owner(&save);
	if (SPI_execute_plan(tl_spi_prepare_once(&plan_find_episode,
								  "SELECT conflict_id, status, rid_a, origin_a, seq_a, ts_a, source_a, payload_a,"
								  " rid_b, origin_b, seq_b, ts_b, source_b, payload_b FROM tieredlog.conflict"
								  " WHERE log_name = $1 AND key = $2"
								  "   AND ((origin_a = $3 AND origin_b = $4) OR (origin_a = $4 AND origin_b = $3))"
								  " ORDER BY conflict_id DESC LIMIT 1", 4, types),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tieredlog.conflict");
	found = SPI_processed == 1;
	if (found)
	{
		MemoryContext spi = MemoryContextSwitchTo(outer);
		bool		isnull;
		TlSide	   *a = conflict_side_row(SPI_tuptable, 0, 3);
		TlSide	   *b = conflict_side_row(SPI_tuptable, 0, 9);

		ep->conflict_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		ep->status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		ep->side_of_x = strcmp(a->origin, x->origin) == 0 ? a : b;
		ep->side_of_y = strcmp(a->origin, x->origin) == 0 ? b : a;
		MemoryContextSwitchTo(spi);
	}
	tl_restore_user(&save);
	return found;
}

/*
 * Does the concurrent pair (x, y) continue the episode whose pair is (ex, ey) (ex of x's origin)?
 * Each side is the episode's or a newer record of its origin, and no record of either origin in
 * between saw one of the other's: x did not see ey, y did not see ex (seqs order what a node has
 * seen, so this covers every record between). An episode a person decided is never continued.
 */
static bool
continues(bool resolved, const TlSide *ex, const TlSide *ey, const TlSide *x, const TlSide *y)
{
	if (resolved || x->seq < ex->seq || y->seq < ey->seq)
		return false;
	return !side_saw(x, ey) && !side_saw(y, ex);
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
	if (find_episode(&e->log, text_to_cstring(e->key), x, y, &row))
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

	if (!find_episode(&e->log, key, ep->side1, ep->side2, &row) || strcmp(row.status, "resolved") == 0)
		return 0;
	r1 = row.side_of_x;			/* of origin1 */
	r2 = row.side_of_y;
	n1 = ep->side1->seq >= r1->seq ? ep->side1 : r1;
	n2 = ep->side2->seq >= r2->seq ? ep->side2 : r2;
	if (n1 == r1 && n2 == r2)
		id = row.conflict_id;	/* already there, or past */
	else if (concurrent(n1, n2) && continues(false, r1, r2, n1, n2))
		id = record_conflict(&e->log, key, n1 == ep->side1 ? n2 : n1, n1 == ep->side1 ? n1 : n2, ep->via,
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

		id = record_conflict(&e->log, key, here, arrived, ep->via, ep->conflict_id, ep->moves,
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
		id = record_conflict(&e->log, key, here, arrived, ep->via, 0, Max(ep->moves, 1), NULL, NULL);
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
		if (!continues(ep->resolved, ex, ey, x, y))
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
		side_free(ep->side1);
		side_free(ep->side2);
	}
	ep->side1 = side_copy(first_is_x ? x : y);
	ep->side2 = side_copy(first_is_x ? y : x);
	MemoryContextSwitchTo(old);
	ep->arrived_origin = first_is_x ? ep->origin1 : ep->origin2;
	ep->via = via;
	ep->dirty = true;
	unwritten = true;
	return true;
}

/* Reconciliation's way: the row is read, moved or inserted at once. */
static bool
note_pair_now(const TlLog *log, const char *key, TlSide *x, TlSide *y, const char *via)
{
	Episode		ep;
	bool		known = find_episode(log, key, x, y, &ep);

	if (known && ep.side_of_x->seq == x->seq && ep.side_of_y->seq == y->seq)
		return false;			/* this very pair */
	if (known && continues(strcmp(ep.status, "resolved") == 0, ep.side_of_x, ep.side_of_y, x, y) &&
		record_conflict(log, key, y, x, via, ep.conflict_id, 1, ep.side_of_y, ep.side_of_x) != 0)
		return true;
	return record_conflict(log, key, y, x, via, 0, 1, NULL, NULL) != 0;
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

	if (strcmp(log->name, TL_SEEN_LOG) == 0 || tl_conflict_window_s <= 0)
		return 0;
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
		if (!concurrent(arrived, y))
			continue;
		if (streaming)
			found += note_pair_cached(e, arrived, y, via);
		else
		{
			if (key == NULL)
				key = text_to_cstring(rec->key);
			found += note_pair_now(log, key, arrived, y, via);
		}
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
		heads = scan_heads(&log, key, anchors[i] - WINDOW_US, anchors[i] + WINDOW_US + 1, snap);
		UnregisterSnapshot(snap);
		foreach(lx, heads)
			for_each_cell(ly, heads, lnext(heads, lx))
		{
			TlSide	   *x = lfirst(lx);
			TlSide	   *y = lfirst(ly);

			if (x->ts - y->ts > WINDOW_US || y->ts - x->ts > WINDOW_US || !concurrent(x, y))
				continue;
			/* as if the newer of the two had arrived last */
			if (later(x, y) ? note_pair_now(&log, keys[i], x, y, "streaming")
				: note_pair_now(&log, keys[i], y, x, "streaming"))
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
