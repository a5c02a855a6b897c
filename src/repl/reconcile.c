/*-------------------------------------------------------------------------
 * reconcile.c
 *		Digest-driven anti-entropy between this node and a peer, over an ordinary libpq
 *		connection to SQL functions of the peer's tieredlog.
 *
 *   coordinator (this node)                         peer
 *   detect:    _ae_roots(log, from, to)      ---->  (range_start, tier, n, sum) per segment
 *              compare with the same computed here, from the rows (not the stored digests, so
 *              rows removed or added behind the extension's back show up)
 *   localize:  _ae_leaves(log, segment)      ---->  the non-empty leaves of 256 (n, sum)
 *   reconcile: _ae_ids(log, segment, leaves, salt) -> 8-byte ids XXH3_64(rid, salt) of the records
 *              in the mismatched leaves, sorted; the salt is fresh for every exchange
 *   repair:    _ae_fetch(log, segment, leaves, salt, ids) -> the records this node lacks
 *              _ae_store(records)            ---->  the records the peer lacks (as archive frames)
 *   confirm:   _ae_roots again for the segment, compared with this node's
 *
 * Only missing records move, both ways, never deletions. Every received record is re-hashed
 * and checked against its rid before it is stored; a record whose identity (origin, seq) exists
 * with other content is quarantined (remote.c), not merged. Repairs are written with the
 * replication origin DoNotReplicateId, so they are not streamed on again. Tier 2 segments are
 * compared only with include_archive (their rows come from decoded frames). Bytes and round
 * trips are counted per phase; every segment that was not already in sync is kept in
 * tieredlog.reconcile_log (the reconcile_history view).
 *
 * Locking: none of its own; reads under the statement's snapshot, stores through append.c.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <xxhash.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "nodes/value.h"

#include "common/int.h"
#include "core/safe_spi.h"
#include "store/archive.h"
#include "store/catalog.h"
#include "store/peer_store.h"
#include "store/digest.h"
#include "repl/peer.h"
#include "core/iblt.h"
#include "repl/reconcile.h"
#include "repl/reconcile_local.h"
#include "repl/remote.h"
#include "store/segment.h"
#include "store/segrows.h"
#include "core/tieredlog.h"
#include "core/validate.h"
#include "repl/wire.h"

/* ---- the coordinator ------------------------------------------------------------------------------- */

typedef struct Exchange
{
	PGconn	   *conn;
	const char *peer_name;
	const char *peer_node;		/* the peer's tieredlog.node_name */
	int64		bytes_sent;
	int64		bytes_received;
	int			round_trips;
	int64		phase_bytes[4];	/* detect, localize, reconcile, repair */
} Exchange;

enum
{
	PHASE_DETECT, PHASE_LOCALIZE, PHASE_RECONCILE, PHASE_REPAIR
};

/* Call a peer function returning bytea (binary); params are text except those with lengths. */
static bytea *
peer_call(Exchange *ex, int phase, const char *sql, int nparams, const char *const *values,
		  const int *lengths, const int *formats)
{
	PGresult   *res;
	int64		sent = 0;
	int64		got;
	bytea	   *out;

	for (int i = 0; i < nparams; i++)
		sent += lengths && formats && formats[i] ? lengths[i] : (values[i] ? (int64) strlen(values[i]) : 0);
	res = PQexecParams(ex->conn, sql, nparams, NULL, values, lengths, formats, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		char	   *msg = pchomp(PQresultErrorMessage(res));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("reconciliation with peer \"%s\" failed: %s", ex->peer_name, msg)));
	}
	got = PQgetlength(res, 0, 0);
	out = palloc(VARHDRSZ + got);
	SET_VARSIZE(out, VARHDRSZ + got);
	memcpy(VARDATA(out), PQgetvalue(res, 0, 0), got);
	PQclear(res);
	ex->round_trips++;
	ex->bytes_sent += sent;
	ex->bytes_received += got;
	ex->phase_bytes[phase] += sent + got;
	return out;
}

typedef struct RootEntry
{
	TimestampTz range_start;
	int			tier;
	TlDigest	d;
} RootEntry;

static RootEntry *
parse_roots(bytea *b, int *n)
{
	TlWire		w = {VARDATA_ANY(b), VARDATA_ANY(b) + VARSIZE_ANY_EXHDR(b)};
	uint32		count = tl_wire_u32(&w);
	RootEntry  *r;

	if (count > (uint32) (VARSIZE_ANY_EXHDR(b) / 33 + 1))
		tl_wire_fail("root count runs past the message");
	r = palloc0(sizeof(RootEntry) * Max(count, 1));
	for (uint32 i = 0; i < count; i++)
	{
		r[i].range_start = (TimestampTz) tl_wire_u64(&w);
		/* in window order, as _ae_roots lists them: joined with this node's in one pass */
		if (i > 0 && r[i].range_start <= r[i - 1].range_start)
			tl_wire_fail("segment windows out of order");
		r[i].tier = tl_wire_u8(&w);
		r[i].d.n = (int64) tl_wire_u64(&w);
		r[i].d.sum_hi = tl_wire_u64(&w);
		r[i].d.sum_lo = tl_wire_u64(&w);
	}
	*n = count;
	return r;
}

static char *
ts_param(TimestampTz ts)
{
	return tl_peer_timestamp(ts);
}

static RootEntry *
peer_roots(Exchange *ex, const char *log_name, TimestampTz from_ts, TimestampTz to_ts,
		   bool include_archive, int *n)
{
	const char *v[4] = {log_name, ts_param(from_ts), ts_param(to_ts), include_archive ? "true" : "false"};

	return parse_roots(peer_call(ex, PHASE_DETECT,
								 "SELECT tieredlog._ae_roots($1, $2::timestamptz, $3::timestamptz, $4::boolean)",
								 4, v, NULL, NULL), n);
}

/* The marked leaves as an int[] literal. */
static char *
leaves_text(const bool *leaves)
{
	StringInfoData t;

	initStringInfo(&t);
	appendStringInfoChar(&t, '{');
	for (int i = 0; i < TL_LEAVES; i++)
		if (leaves[i])
			appendStringInfo(&t, "%s%d", t.len > 1 ? "," : "", i);
	appendStringInfoChar(&t, '}');
	return t.data;
}

/* A growing list of short ids. */
typedef struct IdSet
{
	uint64	   *ids;
	int			n;
	int			cap;
} IdSet;

static void
idset_add(IdSet *s, uint64 id)
{
	if (s->n == s->cap)
	{
		if (pg_mul_s32_overflow(Max(32, s->cap), 2, &s->cap))
			tl_wire_fail("too many ids from the peer's tables");
		s->ids = s->ids ? repalloc(s->ids, sizeof(uint64) * s->cap) : palloc(sizeof(uint64) * s->cap);
	}
	s->ids[s->n++] = id;
}

/* What one exchange of tables needs to know about the segment. */
typedef struct TableRound
{
	Exchange   *ex;
	const char *log_name;
	const char *start_txt;
	const char *salt_txt;
	uint64		salt;
	const TlLog *log;
	const TlSegment *seg;
	bool		have_local;
} TableRound;

/*
 * One round of tables for the marked leaves (cells[leaf] cells each): the peer's and ours,
 * subtracted and peeled into ids only here (the peer lacks them) and only there (this node
 * does). Leaves whose difference does not decode are marked in failed[]; returns whether any was.
 */
static bool
table_round(TableRound *tr, const bool *leaves, const int *cells, IdSet *here, IdSet *there,
			bool *failed)
{
	StringInfoData cells_txt;
	IbltCell  **mine;
	bytea	   *b;
	TlWire		w;
	bool		any_failed = false;

	initStringInfo(&cells_txt);
	appendStringInfoChar(&cells_txt, '{');
	for (int i = 0; i < TL_LEAVES; i++)
		if (leaves[i])
			appendStringInfo(&cells_txt, "%s%d", cells_txt.len > 1 ? "," : "", cells[i]);
	appendStringInfoChar(&cells_txt, '}');
	{
		const char *pv[5] = {tr->log_name, tr->start_txt, leaves_text(leaves), cells_txt.data, tr->salt_txt};

		b = peer_call(tr->ex, PHASE_RECONCILE,
					  "SELECT tieredlog._ae_iblt($1, $2::timestamptz, $3::int[], $4::int[], $5::bigint)",
					  5, pv, NULL, NULL);
	}
	mine = tl_rl_iblt_build(tr->log, tr->seg, leaves, cells, tr->salt, tr->have_local);
	w.p = VARDATA_ANY(b);
	w.end = w.p + VARSIZE_ANY_EXHDR(b);
	for (int i = 0; i < TL_LEAVES; i++)
	{
		uint64	   *h;
		uint64	   *t;
		int			nh;
		int			nt;

		if (!leaves[i])
			continue;
		for (int k = 0; k < cells[i]; k++)
		{
			mine[i][k].count -= (int32) tl_wire_u32(&w);
			mine[i][k].key ^= tl_wire_u64(&w);
			mine[i][k].check ^= tl_wire_u32(&w);
		}
		/* local minus remote: +1 only here, -1 only there */
		if (!tl_iblt_peel(mine[i], cells[i], &h, &nh, &t, &nt))
		{
			failed[i] = any_failed = true;
			continue;
		}
		for (int k = 0; k < nh; k++)
			idset_add(there, h[k]);
		for (int k = 0; k < nt; k++)
			idset_add(here, t[k]);
	}
	if (w.p != w.end)
		tl_wire_fail("unexpected length of the peer's tables");
	return any_failed;
}

/* Reconcile one segment (range_start) of a log whose roots differ. */
static void
reconcile_one(Exchange *ex, const char *log_name, TimestampTz range_start, TlReconcileResult *r)
{
	TlLog		log;
	TlSegment	seg;
	bool		have_local;
	TlSegmentDigest *local = palloc0(sizeof(TlSegmentDigest));
	TlDigest	remote_leaves[TL_LEAVES];
	bool		mismatch[TL_LEAVES];
	bytea	   *b;
	TlWire		w;
	uint32		count;
	uint64		salt = ((uint64) random() << 32) ^ (uint64) random() ^ (uint64) GetCurrentTimestamp();
	IdCollect	mine;
	uint64	   *theirs;
	int			ntheirs;
	uint64	   *missing_here;
	uint64	   *missing_there;
	int			nhere = 0;
	int			nthere = 0;
	const char *v[4];
	char		salt_txt[32];

	have_local = tl_rl_find_segment(log_name, range_start, &log, &seg);
	if (have_local)
		tl_rl_fresh_digest(&log, &seg, local);

	/* localize */
	v[0] = log_name;
	v[1] = ts_param(range_start);
	b = peer_call(ex, PHASE_LOCALIZE, "SELECT tieredlog._ae_leaves($1, $2::timestamptz)", 2, v, NULL, NULL);
	memset(remote_leaves, 0, sizeof(remote_leaves));
	w.p = VARDATA_ANY(b);
	w.end = w.p + VARSIZE_ANY_EXHDR(b);
	count = tl_wire_u32(&w);
	if (count > TL_LEAVES)
		tl_wire_fail("too many leaves");
	for (uint32 i = 0; i < count; i++)
	{
		int			leaf = tl_wire_u8(&w);

		remote_leaves[leaf].n = (int64) tl_wire_u32(&w);
		remote_leaves[leaf].sum_hi = tl_wire_u64(&w);
		remote_leaves[leaf].sum_lo = tl_wire_u64(&w);
	}
	for (int i = 0; i < TL_LEAVES; i++)
	{
		mismatch[i] = !tl_digest_equal(&local->leaves[i], &remote_leaves[i]);
	}
	r->leaves_differing = 0;
	for (int i = 0; i < TL_LEAVES; i++)
		r->leaves_differing += mismatch[i];

	/*
	 * reconcile: per mismatched leaf an invertible Bloom lookup table sized for the leaf's count
	 * difference (about 16 bytes per differing record); a leaf whose difference is larger than
	 * its table decodes falls back to exchanging all its ids.
	 */
	snprintf(salt_txt, sizeof(salt_txt), INT64_FORMAT, (int64) salt);
	{
		int			cells[TL_LEAVES] = {0};
		bool		fallback[TL_LEAVES] = {0};
		bool		any_fallback = false;
		bool		tables[TL_LEAVES] = {0};
		bool		retry[TL_LEAVES] = {0};
		IdSet		here = {0};
		IdSet		there = {0};
		TableRound	tr = {ex, log_name, v[1], salt_txt, salt, &log, &seg, have_local};
		int			total = 0;

		/* tables up to IBLT_MAX_CELLS in all (what the peer accepts); leaves past it: their ids */
		for (int i = 0; i < TL_LEAVES; i++)
			if (mismatch[i])
			{
				cells[i] = tl_iblt_cells_for(local->leaves[i].n - remote_leaves[i].n);
				if (total + cells[i] <= IBLT_MAX_CELLS)
				{
					tables[i] = true;
					total += cells[i];
				}
				else
					fallback[i] = any_fallback = true;
			}
		/* tables that do not decode: once more, four times larger, then the leaf's ids */
		if (total > 0 && table_round(&tr, tables, cells, &here, &there, retry))
		{
			bool		any_retry = false;

			total = 0;
			for (int i = 0; i < TL_LEAVES; i++)
			{
				if (!retry[i])
					continue;
				if (cells[i] <= IBLT_MAX_CELLS / 4 && total + cells[i] * 4 <= IBLT_MAX_CELLS)
				{
					cells[i] *= 4;
					total += cells[i];
					any_retry = true;
				}
				else
				{
					retry[i] = false;
					fallback[i] = any_fallback = true;
				}
			}
			if (any_retry)
				any_fallback |= table_round(&tr, retry, cells, &here, &there, fallback);
		}
		missing_here = here.ids;
		nhere = here.n;
		missing_there = there.ids;
		nthere = there.n;

		if (any_fallback)
		{
			{
				const char *pv[4] = {log_name, v[1], leaves_text(fallback), salt_txt};

				b = peer_call(ex, PHASE_RECONCILE,
							  "SELECT tieredlog._ae_ids($1, $2::timestamptz, $3::int[], $4::bigint)", 4, pv, NULL, NULL);
			}
			theirs = tl_rl_ids_from_bytes(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), &ntheirs);
			{
				/* no more ids than the peer said those leaves hold */
				int64		claimed = 0;

				for (int i = 0; i < TL_LEAVES; i++)
					if (fallback[i])
						claimed += remote_leaves[i].n;
				if (ntheirs > claimed)
					tl_wire_fail("more ids than the peer's leaves hold");
			}
			if (have_local)
				tl_rl_collect_ids(&log, &seg, fallback, salt, &mine);
			else
				memset(&mine, 0, sizeof(mine));
			missing_here = missing_here
				? repalloc_huge(missing_here, sizeof(uint64) * ((Size) nhere + ntheirs + 1))
				: MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint64) * ((Size) ntheirs + 1));
			missing_there = missing_there
				? repalloc_huge(missing_there, sizeof(uint64) * ((Size) nthere + mine.n + 1))
				: MemoryContextAllocHuge(CurrentMemoryContext, sizeof(uint64) * ((Size) mine.n + 1));
			for (int i = 0, j = 0; i < ntheirs || j < mine.n;)
			{
				if (j >= mine.n || (i < ntheirs && theirs[i] < mine.ids[j]))
					missing_here[nhere++] = theirs[i++];
				else if (i >= ntheirs || mine.ids[j] < theirs[i])
					missing_there[nthere++] = mine.ids[j++];
				else
				{
					i++;
					j++;
				}
			}
		}
		if (nhere > 1)
			qsort(missing_here, nhere, sizeof(uint64), tl_rl_cmp_u64);
	}

	/* repair: fetch what is missing here, push what is missing there */
	if (nhere > 0)
	{
		bytea	   *ids = palloc(VARHDRSZ + (Size) nhere * 8);
		int64		counts[3] = {0, 0, 0};
		const char *pv[5] = {log_name, v[1], leaves_text(mismatch), salt_txt, VARDATA(ids)};
		int			lens[5] = {0, 0, 0, 0, nhere * 8};
		int			fmts[5] = {0, 0, 0, 0, 1};

		SET_VARSIZE(ids, VARHDRSZ + nhere * 8);
		for (int i = 0; i < nhere; i++)
		{
			uint64		be = pg_hton64(missing_here[i]);

			memcpy(VARDATA(ids) + i * 8, &be, 8);
		}
		b = peer_call(ex, PHASE_REPAIR,
					  "SELECT tieredlog._ae_fetch($1, $2::timestamptz, $3::int[], $4::bigint, $5::bytea)",
					  5, pv, lens, fmts);
		tl_rl_store_records(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), ex->peer_name, ex->peer_node, counts);
		r->records_received += counts[TL_APPLY_STORED];
		r->conflicts += counts[TL_APPLY_CONFLICT];
	}
	if (nthere > 0)
	{
		int			encoded;
		int			damaged;
		bytea	   *recs;
		PGresult   *res;

		qsort(missing_there, nthere, sizeof(uint64), tl_rl_cmp_u64);
		recs = tl_rl_encode_records(&log, &seg, mismatch, salt, missing_there, nthere, &encoded, &damaged);
		r->conflicts += damaged;
		{
			const char *pv[2] = {VARDATA(recs), ex->peer_name};
			int			lens[2] = {VARSIZE(recs) - VARHDRSZ, 0};
			int			fmts[2] = {1, 0};
			const char *me = tl_node_name();

			pv[1] = me;
			b = peer_call(ex, PHASE_REPAIR, "SELECT tieredlog._ae_store($1::bytea, $2)::text::bytea",
						  2, pv, lens, fmts);
		}
		/* "{stored,duplicate,conflict}" */
		{
			char	   *txt = pnstrdup(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
			long long	s = 0,
						d = 0,
						c = 0;

			if (sscanf(txt, "{%lld,%lld,%lld}", &s, &d, &c) != 3 || s < 0 || d < 0 || c < 0)
				tl_wire_fail("unexpected answer from _ae_store");
			r->records_sent += s;
			r->conflicts += c;
		}
		(void) res;
	}
}

/* A segment window to reconcile, with the peer's root for it (NULL: the peer has none). */
typedef struct WindowPair
{
	TimestampTz start;
	RootEntry  *remote;
} WindowPair;

/*
 * The union of the segment windows on both sides: this node's, in window order, each with the
 * peer's root for it, then the peer's that this node lacks, in window order. Both lists are in
 * window order (tl_catalog_log_segments, parse_roots checks the peer's), so one pass: a peer's
 * list of thousands of windows must not cost their square.
 */
static WindowPair *
join_windows(List *local, RootEntry *remote, int nremote, int *nwindows)
{
	WindowPair *w = palloc(sizeof(WindowPair) * (list_length(local) + nremote + 1));
	bool	   *matched = palloc0(sizeof(bool) * Max(nremote, 1));
	int			n = 0;
	int			i = 0;
	ListCell   *lc;

	foreach(lc, local)
	{
		TimestampTz start = ((TlSegment *) lfirst(lc))->range_start;

		while (i < nremote && remote[i].range_start < start)
			i++;
		w[n].start = start;
		w[n].remote = NULL;
		if (i < nremote && remote[i].range_start == start)
		{
			w[n].remote = &remote[i];
			matched[i] = true;
		}
		n++;
	}
	for (i = 0; i < nremote; i++)
		if (!matched[i])
		{
			w[n].start = remote[i].range_start;
			w[n].remote = &remote[i];
			n++;
		}
	pfree(matched);
	*nwindows = n;
	return w;
}

/*
 * Reconcile the segments of one log in [from_ts, to_ts) with one peer; calls emit() for each
 * segment, in sync or not.
 */
static void
reconcile_log_with(Exchange *ex, const char *log_name, TimestampTz from_ts, TimestampTz to_ts,
				   bool include_archive, TlReconcileEmit emit, void *arg)
{
	TlLog		log;
	int			nremote;
	int64		detect_before = ex->phase_bytes[PHASE_DETECT];
	RootEntry  *remote = peer_roots(ex, log_name, from_ts, to_ts, include_archive, &nremote);
	int64		range_bytes = ex->phase_bytes[PHASE_DETECT] - detect_before;
	List	   *local = NIL;
	WindowPair *windows;
	int			nwindows;
	int			row = 0;

	if (tl_catalog_find_log(log_name, &log))
		local = tl_catalog_log_segments(log.log_id, from_ts, to_ts, GetActiveSnapshot());
	windows = join_windows(local, remote, nremote, &nwindows);

	for (int wi = 0; wi < nwindows; wi++)
	{
		TimestampTz start = windows[wi].start;
		TlReconcileResult r;
		RootEntry  *rem = windows[wi].remote;
		TlSegment	seg;
		bool		have_local = false;
		TlSegmentDigest *d = palloc0(sizeof(TlSegmentDigest));
		TimestampTz t0 = GetCurrentTimestamp();
		int64		before[4];

		CHECK_FOR_INTERRUPTS();
		/*
		 * A snapshot that sees what this statement stored so far: reconcile() without a peer name
		 * goes through every peer in one statement, and a record this node lacked and the first
		 * peer supplied must count as here when the next peer holds it too (under the statement's
		 * snapshot it was fetched again and its insert hit the identity index).
		 */
		CommandCounterIncrement();
		PushActiveSnapshot(GetLatestSnapshot());
		memset(&r, 0, sizeof(r));
		memcpy(before, ex->phase_bytes, sizeof(before));
		r.round_trips = -ex->round_trips;
		r.log_name = log_name;
		r.peer_name = ex->peer_name;
		r.range_start = start;
		if (tl_catalog_find_log(log_name, &log) && tl_catalog_find_segment(log.log_id, start, &seg))
		{
			have_local = true;
			r.segment_id = seg.segment_id;
		}
		if ((have_local && seg.tier == 2 && !include_archive) || (rem && rem->tier == 2 && !include_archive))
		{
			if (have_local)
				tl_digest_load(seg.segment_id, d);
			r.status = (rem && tl_digest_equal(&d->root, &rem->d)) ? "in_sync" : "skipped_archive";
		}
		else
		{
			TlDigest	empty = {0};

			if (have_local)
				tl_rl_fresh_digest(&log, &seg, d);
			if (tl_digest_equal(&d->root, rem ? &rem->d : &empty))
				r.status = "in_sync";
			else
			{
				int			nafter;
				RootEntry  *after;

				reconcile_one(ex, log_name, start, &r);
				/* confirm, with a snapshot that sees what was just stored */
				CommandCounterIncrement();
				PushActiveSnapshot(GetLatestSnapshot());
				if (tl_catalog_find_log(log_name, &log) && tl_catalog_find_segment(log.log_id, start, &seg))
				{
					int			corrected;

					r.segment_id = seg.segment_id;
					tl_rl_fresh_digest(&log, &seg, d);
					/* rows changed behind tieredlog's back leave the stored digest wrong: fix it */
					if ((corrected = tl_digest_correct(&log, &seg, false)) > 0)
						ereport(NOTICE,
								(errmsg("stored digest of segment %lld did not match its rows in %d leaves; corrected",
										(long long) seg.segment_id, corrected),
								 errdetail("Rows of the segment were changed outside tieredlog.")));
				}
				PopActiveSnapshot();
				after = peer_roots(ex, log_name, start, start + 1, include_archive, &nafter);
				r.status = (nafter == 1 && tl_digest_equal(&d->root, &after[0].d)) ? "repaired"
					: (r.conflicts > 0 ? "damaged" : "diverged");
			}
		}
		r.round_trips += ex->round_trips;
		for (int p = 0; p < 4; p++)
			r.phase_bytes[p] = ex->phase_bytes[p] - before[p];
		/* the one detect call over the whole range: its round trip on the first row, its bytes shared */
		r.phase_bytes[PHASE_DETECT] += range_bytes / nwindows +
			(row == 0 ? range_bytes % nwindows : 0);
		if (row++ == 0)
			r.round_trips++;
		r.duration_ms = (double) (GetCurrentTimestamp() - t0) / 1000.0;
		PopActiveSnapshot();
		emit(&r, arg);
		pfree(d);
	}
}

/*
 * The peer's log names (_ae_logs, which a peer's own role may call; a peer whose install script
 * predates it is asked its table, which only a superuser peer role may read).
 */
static PGresult *
peer_log_names(PGconn *conn)
{
	PGresult   *res = PQexec(conn, "SELECT tieredlog._ae_logs()");
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (PQresultStatus(res) == PGRES_FATAL_ERROR && state && strcmp(state, "42883") == 0)
	{
		PQclear(res);
		res = PQexec(conn, "SELECT log_name FROM tieredlog.log ORDER BY log_name");
	}
	return res;
}

/*
 * Reconcile: for each peer (or the one named) and each log (or the one named), the segments in
 * [from_ts, to_ts). A peer that cannot be reached, or fails midway, raises an error: what was
 * stored before stays (it is correct on its own), and the next run finishes the work.
 */
void
tl_reconcile(const char *log_name, const char *peer_name, TimestampTz from_ts, TimestampTz to_ts,
			 bool include_archive, TlReconcileEmit emit, void *arg)
{
	TlAsOwner	save;
	TlPeerRow  *peers;
	int			npeers;
	List	   *logs = NIL;
	ListCell   *lc;

	PreventCommandIfReadOnly("tieredlog reconciliation");
	/* EXECUTE on reconcile() is the permission; tieredlog.peer (conninfo) is the owner's to read */
	tl_become_owner(&save);
	peers = tl_peer_rows(peer_name, &npeers);
	tl_restore_user(&save);
	if (peer_name && npeers == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", peer_name)));

	for (int p = 0; p < npeers; p++)
	{
		Exchange	ex;
		const char *pname = peers[p].name;
		TlPeerAddr	addr = {pname, peers[p].conninfo, peers[p].owner};

		memset(&ex, 0, sizeof(ex));
		ex.peer_name = pname;
		ex.peer_node = peers[p].node_name;
		ex.conn = tl_peer_connect(&addr, "tieredlog reconcile");
		PG_TRY();
		{
			/* the logs of both sides */
			logs = NIL;
			if (log_name)
				logs = list_make1(pstrdup(log_name));
			else
			{
				PGresult   *res = peer_log_names(ex.conn);
				char	  **local;
				int			nlocal;

				ex.round_trips++;
				if (PQresultStatus(res) != PGRES_TUPLES_OK)
					ereport(ERROR,
							(errcode(ERRCODE_CONNECTION_FAILURE),
							 errmsg("reconciliation with peer \"%s\" failed: %s", pname,
									pchomp(PQresultErrorMessage(res)))));
				for (int i = 0; i < PQntuples(res); i++)
					logs = lappend(logs, pstrdup(PQgetvalue(res, i, 0)));
				PQclear(res);
				tl_become_owner(&save);
				local = tl_log_names(&nlocal);
				tl_restore_user(&save);
				for (int i = 0; i < nlocal; i++)
				{
					bool		seen = false;

					foreach(lc, logs)
						seen |= strcmp(lfirst(lc), local[i]) == 0;
					if (!seen)
						logs = lappend(logs, local[i]);
				}
			}
			foreach(lc, logs)
				reconcile_log_with(&ex, lfirst(lc), from_ts, to_ts, include_archive, emit, arg);
		}
		PG_CATCH();
		{
			PQfinish(ex.conn);
			PG_RE_THROW();
		}
		PG_END_TRY();
		PQfinish(ex.conn);
	}
}

/* Keep a segment's outcome in tieredlog.reconcile_log unless it was already in sync. */
void
tl_reconcile_log_result(const TlReconcileResult *r)
{
	TlAsOwner	save;

	if (strcmp(r->status, "in_sync") == 0)
		return;
	tl_become_owner(&save);	/* connects SPI, with the pinned path */
	tl_reconcile_log_insert(r);
	tl_restore_user(&save);
}

typedef struct GapState
{
	bool		all_good;
	int			segments;
	int64		received;
	int64		sent;
} GapState;

static void
emit_for_gap(const TlReconcileResult *r, void *arg)
{
	GapState   *g = arg;

	g->segments++;
	g->received += r->records_received;
	g->sent += r->records_sent;
	if (strcmp(r->status, "in_sync") != 0 && strcmp(r->status, "repaired") != 0)
		g->all_good = false;
	tl_reconcile_log_result(r);
}

/*
 * The database worker's task: reconcile every log with a peer that has open gaps; close the gaps
 * detected before this run started once every segment is in sync (tier 2 included: a gap may
 * have hit archived segments). Returns a description of what it did.
 */
char *
tl_reconcile_close_gaps(const char *peer_name)
{
	GapState	g = {true, 0, 0, 0};
	TimestampTz started = GetCurrentTimestamp();
	TlAsOwner	save;

	tl_reconcile(NULL, peer_name, DT_NOBEGIN, DT_NOEND, true, emit_for_gap, &g);
	if (!g.all_good)
		return psprintf("gaps with peer \"%s\" stay open: some segments still differ", peer_name);
	tl_become_owner(&save);
	tl_gap_close(peer_name, started);
	tl_restore_user(&save);
	return psprintf("gaps with peer \"%s\" closed: %d segments compared, %lld records received, %lld sent",
					peer_name, g.segments, (long long) g.received, (long long) g.sent);
}
