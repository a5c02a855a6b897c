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
 *		The witness is looked for only between S's and R's timestamps: A's clock (an HLC) passed
 *		S's ts when A stored S, and had not reached R's ts before the witness was written. A
 *		record given an explicit ts is judged by that ts. Streaming applies in commit order, not
 *		seq order, so "greatest seq applied" can run ahead of a transaction of C still in flight;
 *		such a race can hide a conflict (see README, known limitations).
 *
 * Locking: reads segment rows of "_seen" under the active snapshot; the witness record is
 * appended in the caller's transaction like any append.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "utils/builtins.h"
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
	snprintf(buf, sizeof(buf), "{\"seq\": " INT64_FORMAT "}", seq);
	in.key = cstring_to_text(about_origin);
	in.payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf)));
	(void) tl_append(&log, &in);
}

typedef struct WitnessScan
{
	const char *writer;
	int64		bound;			/* seen_max: witness seq below; first_seer: payload at least */
	bool		first_seer;
	int64		result;
} WitnessScan;

static void
visit_witness(HeapTuple row, TupleDesc desc, void *arg)
{
	WitnessScan *w = arg;
	bool		isnull;
	int64		seq = DatumGetInt64(heap_getattr(row, Anum_row_seq, desc, &isnull));
	char	   *origin = TextDatumGetCString(heap_getattr(row, Anum_row_origin, desc, &isnull));
	int64		seen;

	if (strcmp(origin, w->writer) != 0)
		return;
	seen = payload_seq(DatumGetJsonbP(heap_getattr(row, Anum_row_payload, desc, &isnull)));
	if (w->first_seer)
	{
		if (seen >= w->bound && seq < w->result)
			w->result = seq;
	}
	else if (seq < w->bound && seen > w->result)
		w->result = seen;
}

static void
scan_witnesses(const char *about, TimestampTz from_ts, TimestampTz to_ts, WitnessScan *w)
{
	TlLog		log;
	List	   *segs;
	ListCell   *lc;
	text	   *key;

	if (to_ts <= from_ts || !tl_lookup_log_if_exists(TL_SEEN_LOG, &log))
		return;
	key = cstring_to_text(about);
	segs = tl_catalog_log_segments(log.log_id, from_ts, to_ts, GetActiveSnapshot());
	foreach(lc, segs)
		tl_segment_rows(&log, lfirst(lc), GetActiveSnapshot(), from_ts, to_ts, key, visit_witness, w);
}

/*
 * The greatest seq of `about` that `writer` had stored before its own record `writer_seq`
 * (witnesses with ts in [from_ts, to_ts)), or -1.
 */
int64
tl_causal_seen_max(const char *writer, int64 writer_seq, const char *about, TimestampTz from_ts,
				   TimestampTz to_ts)
{
	WitnessScan w = {writer, writer_seq, false, -1};

	scan_witnesses(about, from_ts, to_ts, &w);
	return w.result;
}

/*
 * The smallest seq of a record of `writer` written after it had stored `about`'s record
 * `about_seq` (witnesses with ts in [from_ts, to_ts)), or PG_INT64_MAX: every record of writer
 * with a greater seq saw it.
 */
int64
tl_causal_first_seer(const char *writer, const char *about, int64 about_seq, TimestampTz from_ts,
					 TimestampTz to_ts)
{
	WitnessScan w = {writer, about_seq, true, PG_INT64_MAX};

	scan_witnesses(about, from_ts, to_ts, &w);
	return w.result;
}

/* Had record (writer, writer_seq, writer_ts) seen record (about, about_seq, about_ts)? */
bool
tl_causal_saw(const char *writer, int64 writer_seq, TimestampTz writer_ts,
			  const char *about, int64 about_seq, TimestampTz about_ts)
{
	if (strcmp(writer, about) == 0)
		return writer_seq > about_seq;
	return tl_causal_seen_max(writer, writer_seq, about, about_ts, writer_ts + 1) >= about_seq;
}
