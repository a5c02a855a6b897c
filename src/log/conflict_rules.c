/*-------------------------------------------------------------------------
 * conflict_rules.c
 *		Records as sides of a conflict, and the rules that decide between two sides
 *		(last_writer_wins, first_writer_wins, source_priority, custom, manual; see conflict.c).
 *		A custom resolver runs as the role that owns it, security-restricted, with
 *		search_path = pg_catalog, pg_temp, in a subtransaction (its errors cannot abort the apply).
 *
 * Locking: none of its own; tieredlog.source_priority is read through store/priority_store.c.
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
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "log/append.h"
#include "log/causal.h"
#include "store/catalog.h"
#include "store/priority_store.h"
#include "log/conflict.h"
#include "log/conflict_int.h"
#include "core/safe_spi.h"
#include "core/xact.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "core/tieredlog.h"

/* ---- records as sides of a conflict ------------------------------------------------------- */

/* A side with these fields; origin, source and payload are kept as given (not copied). */
TlSide *
tl_cf_side_new(const TlRid *rid, char *origin, int64 seq, TimestampTz ts, char *source, Jsonb *payload)
{
	TlSide	   *s = palloc0(sizeof(TlSide));

	s->rid = *rid;
	s->origin = origin;
	s->seq = seq;
	s->ts = ts;
	s->source = source;
	s->payload = payload;
	return s;
}

/* Free a side tl_cf_side_from_row made: its row and the copies taken from it. */
void
tl_cf_side_free_row(TlSide *s)
{
	Assert(s->row != NULL);
	heap_freetuple(s->row);
	pfree(s->origin);
	if (s->source)
		pfree(s->source);
	pfree(s->payload);
	pfree(s);
}

/* A record as a head: what a decision needs, without the row itself. */
TlSide *
tl_cf_head_from_row(HeapTuple row, TupleDesc desc)
{
	Datum		v[TL_ROW_MAX_NATTS];
	bool		n[TL_ROW_MAX_NATTS];

	tl_row_deform(row, desc, v, n);
	return tl_cf_side_new((const TlRid *) DatumGetUUIDP(v[Anum_row_rid - 1])->data,
						  TextDatumGetCString(v[Anum_row_origin - 1]), DatumGetInt64(v[Anum_row_seq - 1]),
						  DatumGetTimestampTz(v[Anum_row_ts - 1]),
						  n[Anum_row_source - 1] ? NULL : TextDatumGetCString(v[Anum_row_source - 1]),
						  DatumGetJsonbPCopy(v[Anum_row_payload - 1]));
}

/*
 * A head whose content is never weighed, only its place in its origin's order (the arriving
 * record's own origin: a newer record of it supersedes the arrival): rid, origin, seq and ts,
 * without the payload and the source (NULL).
 */
TlSide *
tl_cf_head_order_from_row(HeapTuple row, TupleDesc desc)
{
	bool		isnull;

	return tl_cf_side_new((const TlRid *) DatumGetUUIDP(heap_getattr(row, Anum_row_rid, desc, &isnull))->data,
						  TextDatumGetCString(heap_getattr(row, Anum_row_origin, desc, &isnull)),
						  DatumGetInt64(heap_getattr(row, Anum_row_seq, desc, &isnull)),
						  DatumGetTimestampTz(heap_getattr(row, Anum_row_ts, desc, &isnull)), NULL, NULL);
}

/* A record read from a segment row, with the row itself (latest() returns it). */
TlSide *
tl_cf_side_from_row(HeapTuple row, TupleDesc desc, const TlSegment *seg)
{
	TlSide	   *s = tl_cf_head_from_row(row, desc);

	s->row = heap_copytuple(row);
	s->desc = desc;				/* the caller's copy, shared by the rows of one scan */
	s->seg = seg;
	return s;
}

TlSide *
tl_cf_side_from_record(const TlRecord *rec)
{
	return tl_cf_side_new(&rec->rid, pstrdup(rec->origin), rec->seq, rec->ts,
						  rec->source ? text_to_cstring(rec->source) : NULL, rec->payload);
}

char *
tl_cf_side_name(const TlSide *s)
{
	return psprintf("%s:" INT64_FORMAT, s->origin, s->seq);
}

bool
tl_cf_side_saw(const TlSide *x, const TlSide *y)
{
	return tl_causal_saw(x->origin, x->seq, y->origin, y->seq);
}

bool
tl_cf_concurrent(const TlSide *x, const TlSide *y)
{
	return strcmp(x->origin, y->origin) != 0 && !tl_cf_side_saw(x, y) && !tl_cf_side_saw(y, x);
}

/* last_writer_wins order: is x after y? (ts, then origin name; sides differ in origin) */
bool
tl_cf_later(const TlSide *x, const TlSide *y)
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
typedef struct ResolverCall
{
	Oid			resolver;
	Datum		ja;
	Datum		jb;
	char	   *answer;
} ResolverCall;

static void
resolver_call(void *arg)
{
	ResolverCall *c = arg;

	c->answer = text_to_cstring(DatumGetTextPP(call_as_owner(c->resolver, c->ja, c->jb)));
}

static char *
call_resolver(Oid resolver, const char *key, const TlSide *a, const TlSide *b, char **error)
{
	ResolverCall c = {resolver, side_as_jsonb(key, a), side_as_jsonb(key, b), NULL};
	char	   *failure;

	if (tl_subxact_run(resolver_call, &c, &failure))
		return c.answer;
	*error = psprintf("the resolver %s failed: %s", format_procedure(resolver), failure);
	return NULL;
}

/* Decide between sides a and b of a conflict under the log's rule. */
TlDecision
tl_cf_decide(const TlLog *log, const char *key, const TlSide *a, const TlSide *b)
{
	TlDecision d;

	d.a_wins = tl_cf_later(a, b);		/* the provisional winner, and last_writer_wins */
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
		int			pa = tl_source_priority_get(a->source);
		int			pb = tl_source_priority_get(b->source);

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

		if (answer && strcmp(answer, tl_cf_side_name(a)) == 0)
			d.a_wins = true;
		else if (answer && strcmp(answer, tl_cf_side_name(b)) == 0)
			d.a_wins = false;
		else
			d.pending = true;
		d.reason = d.pending
			? (error ? error : psprintf("the resolver %s answered \"%s\", which is neither %s nor %s",
										format_procedure(log->resolver), answer ? answer : "",
										tl_cf_side_name(a), tl_cf_side_name(b)))
			: psprintf("the resolver %s chose", format_procedure(log->resolver));
	}
	else
	{
		d.pending = true;
		d.reason = "the log's rule is manual";
	}
	return d;
}
