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

#include "utils/builtins.h"
#include "core/record.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "access/xact.h"

#include "log/append.h"
#include "log/causal.h"
#include "log/node.h"
#include "core/safe_spi.h"
#include "core/xact.h"
#include "store/catalog.h"
#include "store/causal_store.h"
#include "store/segment.h"
#include "store/segrows.h"

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
	if (!tl_node_may_append())
		return;					/* recovering its own records: a witness would need a seq (node.c) */
	/* this node's witnesses about one origin never go back (lookups rely on it) */
	seq = Max(seq, tl_causal_seen_max(tl_node_name(), PG_INT64_MAX, about_origin));
	snprintf(buf, sizeof(buf), "{\"seq\": " INT64_FORMAT "}", seq);
	in.key = cstring_to_text(about_origin);
	in.payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf)));
	tl_causal_index(tl_node_name(), tl_append(&log, &in), about_origin, seq);
}

/*
 * tieredlog.seen holds one row per "_seen" record stored here (written here or received), so
 * that the questions below are two index descents rather than a scan of the log
 * (store/causal_store.c).
 */
static void memo_forget(const char *writer, const char *about);

/* Index a "_seen" record: `writer` wrote, as its record `writer_seq`, that it had `about` up to seen_seq. */
void
tl_causal_index(const char *writer, int64 writer_seq, const char *about, int64 seen_seq)
{
	TlAsOwner	save;

	if (seen_seq < 0)
		return;
	memo_forget(writer, about);
	tl_become_owner(&save);
	tl_seen_insert(writer, writer_seq, about, seen_seq);
	tl_restore_user(&save);
}

/* A "_seen" record arrived from a peer: index it. */
void
tl_causal_index_record(const TlRecord *rec)
{
	char	   *about = text_to_cstring(rec->key);
	int64		seen_seq = payload_seq(rec->payload);

	tl_causal_index(rec->origin, rec->seq, about, seen_seq);
	if (strcmp(about, tl_node_name()) == 0)
		tl_node_note_seen_of_me(rec->origin, seen_seq);
}

/*
 * Answers remembered for the rest of the transaction (the apply worker asks about the same heads
 * for every record of a batch). For a pair, the witnesses around the last question: the newest
 * one before it (after_seq, its seen_seq) and the first one at or after it: any writer_seq in
 * (after_seq, that one's writer_seq] has the same answer. When there is none, the range ends at
 * the question's writer_seq: a witness stored later, by another backend (another peer's apply
 * worker, this node's own), can only be newer — except for the apply worker's own peer, whose
 * witnesses only this backend stores (tl_causal_set_stream_writer): open. Indexing a witness of
 * the pair in this backend forgets the entry.
 */
typedef struct SeenKey
{
	char		writer[NAMEDATALEN];
	char		about[NAMEDATALEN];
} SeenKey;

typedef struct SeenMemo
{
	SeenKey		k;
	int64		after_seq;
	int64		before_seq;
	int64		seen_seq;
} SeenMemo;

static TlXactMemo seen_memo = TL_XACT_MEMO("tieredlog seen memo", SeenKey, SeenMemo);
static char *stream_writer;		/* the apply worker's peer: its witnesses come through this backend */

/*
 * The apply worker streams the records of `writer` (its peer) and indexes that node's witnesses
 * itself, in the order the node wrote them: answers about it may be remembered past the newest
 * known witness, until this backend indexes the next one.
 */
void
tl_causal_set_stream_writer(const char *writer)
{
	stream_writer = MemoryContextStrdup(TopMemoryContext, writer);
}

/* (A subtransaction that rolls back may have stored witnesses: the memo forgets every answer.) */
static SeenMemo *
memo_entry(const char *writer, const char *about, bool create)
{
	HTAB	   *memo = tl_xact_memo(&seen_memo, create);
	SeenKey		k;
	bool		found;

	if (memo == NULL)
		return NULL;
	if (strlen(writer) >= NAMEDATALEN || strlen(about) >= NAMEDATALEN)
		return NULL;
	memset(&k, 0, sizeof(k));
	strlcpy(k.writer, writer, NAMEDATALEN);
	strlcpy(k.about, about, NAMEDATALEN);
	return hash_search(memo, &k, create ? HASH_ENTER : HASH_FIND, &found);
}

static void
memo_forget(const char *writer, const char *about)
{
	SeenMemo   *m = memo_entry(writer, about, false);

	if (m)
		hash_search(tl_xact_memo(&seen_memo, false), &m->k, HASH_REMOVE, NULL);
}

/*
 * The greatest seq of `about` that `writer` had stored before its own record `writer_seq`, or -1.
 * A node's "_seen" records about one origin carry increasing seqs, so the last one before
 * writer_seq says it.
 */
int64
tl_causal_seen_max(const char *writer, int64 writer_seq, const char *about)
{
	TlAsOwner	save;
	SeenMemo   *m = memo_entry(writer, about, false);
	TlSeenAround around;

	if (m && writer_seq > m->after_seq && writer_seq <= m->before_seq)
		return m->seen_seq;
	tl_become_owner(&save);
	tl_seen_around(writer, about, writer_seq, &around);
	tl_restore_user(&save);
	if ((m = memo_entry(writer, about, true)) != NULL)
	{
		m->after_seq = around.after_seq;
		m->before_seq = around.before_seq != PG_INT64_MAX ? around.before_seq
			: (stream_writer && strcmp(writer, stream_writer) == 0) ? PG_INT64_MAX : writer_seq;
		m->seen_seq = around.seen_seq;
	}
	return around.seen_seq;
}

/* Had record (writer, writer_seq) seen record (about, about_seq)? */
bool
tl_causal_saw(const char *writer, int64 writer_seq, const char *about, int64 about_seq)
{
	if (strcmp(writer, about) == 0)
		return writer_seq > about_seq;
	return tl_causal_seen_max(writer, writer_seq, about) >= about_seq;
}
