/*-------------------------------------------------------------------------
 * causal.c
 *		What each node had received of every other origin when it wrote a record: the internal
 *		log "_seen". Conflict detection (conflict.c) asks whether a record R of origin A had
 *		"seen" a record S of origin C, i.e. whether S was stored on A before A wrote R.
 *
 *		After the apply worker of A commits records of origin C, A appends to "_seen" a record
 *		with key C and payload {"seq": s}, s being the greatest seq of C it has applied; so do
 *		resolve_conflict() for the records it decides between. Such a record is an ordinary
 *		record of origin A: it streams and is reconciled like any other, so every node learns
 *		what A had seen, and all nodes answer the question the same way once they hold the same
 *		records:
 *
 *		  R (A, seq r) saw S (C, seq s)  <=>  A = C and r > s, or
 *		                                     A wrote a "_seen" record about C with seq < r and
 *		                                     payload seq >= s.
 *
 *		Every "_seen" record stored here, written here or received, is also indexed in the table
 *		tieredlog.seen (writer, writer_seq, about, seen_seq), so each question is an index
 *		descent. Seqs order a node's writes, so explicit (back-filled) timestamps do not matter.
 *		Streaming applies in commit order, not seq order, so "greatest seq applied" can run ahead
 *		of a transaction of C still in flight; such a race can hide a conflict (see README,
 *		known limitations).
 *
 * Locking: the witness record and its tieredlog.seen row are written in the caller's
 * transaction (ON CONFLICT DO NOTHING: a record stored twice is indexed once).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "record.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"

#include "append.h"
#include "causal.h"
#include "catalog.h"
#include "segment.h"
#include "segrows.h"

/* The seq a "_seen" payload carries, or -1 when it has none. */
static int64
payload_seq(Jsonb *payload)
{
	JsonbValue *v;

	if (!JB_ROOT_IS_OBJECT(payload))
		return -1;
	v = getKeyJsonValueFromContainer(&payload->root, "seq", 3, NULL);
	if (v == NULL || v->type != jbvNumeric)
		return -1;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
}

/* Append "_seen" (key about_origin): this node has stored the records of about_origin up to seq. */
void
tl_causal_note(const char *about_origin, int64 seq)
{
	TlLog		log;
	TlAppendInput in = {0};
	char		buf[64];

	if (!tl_lookup_log_if_exists(TL_SEEN_LOG, &log))
		return;					/* a database installed before conflicts existed */
	/* this node's witnesses about one origin never go back (lookups rely on it) */
	seq = Max(seq, tl_causal_seen_max(tl_node_name(), PG_INT64_MAX, about_origin));
	snprintf(buf, sizeof(buf), "{\"seq\": " INT64_FORMAT "}", seq);
	in.key = cstring_to_text(about_origin);
	in.payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf)));
	tl_causal_index(tl_node_name(), tl_append(&log, &in), about_origin, seq);
}

/*
 * tieredlog.seen holds one row per "_seen" record stored here (written here or received), so
 * that the questions below are two index descents rather than a scan of the log. Plans are
 * prepared once per backend.
 */
static SPIPlanPtr plan_insert;
static SPIPlanPtr plan_seen_max;

static SPIPlanPtr
prepare(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		*plan = p;
	}
	return *plan;
}

/* Index a "_seen" record: `writer` wrote, as its record `writer_seq`, that it had `about` up to seen_seq. */
void
tl_causal_index(const char *writer, int64 writer_seq, const char *about, int64 seen_seq)
{
	Oid			types[4] = {TEXTOID, INT8OID, TEXTOID, INT8OID};
	Datum		values[4];
	TlAsOwner	save;

	if (seen_seq < 0)
		return;
	values[0] = CStringGetTextDatum(writer);
	values[1] = Int64GetDatum(writer_seq);
	values[2] = CStringGetTextDatum(about);
	values[3] = Int64GetDatum(seen_seq);
	tl_become_owner(&save);
	if (SPI_execute_plan(prepare(&plan_insert,
								 "INSERT INTO tieredlog.seen (writer, writer_seq, about, seen_seq)"
								 " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", 4, types),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not index a _seen record");
	tl_restore_user(&save);
}

/* A "_seen" record arrived from a peer: index it. */
void
tl_causal_index_record(const TlRecord *rec)
{
	char	   *about = text_to_cstring(rec->key);

	tl_causal_index(rec->origin, rec->seq, about, payload_seq(rec->payload));
}

static int64
query_int8(SPIPlanPtr *plan, const char *sql, const char *a, const char *b, int64 n, int64 none)
{
	Oid			types[3] = {TEXTOID, TEXTOID, INT8OID};
	Datum		values[3];
	TlAsOwner	save;
	int64		result = none;

	values[0] = CStringGetTextDatum(a);
	values[1] = CStringGetTextDatum(b);
	values[2] = Int64GetDatum(n);
	tl_become_owner(&save);
	/* not read-only: a fresh snapshot that also sees witnesses stored earlier in this transaction
	 * (an apply batch often holds a node's witness and, after it, that node's next record) */
	if (SPI_execute_plan(prepare(plan, sql, 3, types), values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tieredlog.seen");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			result = DatumGetInt64(d);
	}
	tl_restore_user(&save);
	return result;
}

/*
 * The greatest seq of `about` that `writer` had stored before its own record `writer_seq`, or -1.
 * A node's "_seen" records about one origin carry increasing seqs, so the last one before
 * writer_seq says it.
 */
int64
tl_causal_seen_max(const char *writer, int64 writer_seq, const char *about)
{
	return query_int8(&plan_seen_max,
					  "SELECT seen_seq FROM tieredlog.seen WHERE writer = $1 AND about = $2 AND writer_seq < $3"
					  " ORDER BY writer_seq DESC LIMIT 1", writer, about, writer_seq, -1);
}

/* Had record (writer, writer_seq) seen record (about, about_seq)? */
bool
tl_causal_saw(const char *writer, int64 writer_seq, const char *about, int64 about_seq)
{
	if (strcmp(writer, about) == 0)
		return writer_seq > about_seq;
	return tl_causal_seen_max(writer, writer_seq, about) >= about_seq;
}
