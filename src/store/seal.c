/*-------------------------------------------------------------------------
 * seal.c
 *		The seal root of a segment: an RFC 9162 Merkle Tree Hash over its records in canonical
 *		order, (ts, rid) with the rid recomputed from each record's content. A leaf is
 *		SHA-256(0x00 || the record's canonical encoding, version 1, as record.c defines it), so
 *		every replica that holds the same records computes the same root, whatever order the
 *		records arrived in and wherever they are stored (row relation or archive frames). An
 *		edited, deleted or inserted record changes the root; a record whose stored rid no
 *		longer matches its content is hashed by its content.
 *
 *		The scan keeps one leaf per record (56 bytes), so sealing 1M records holds 56 MB for a
 *		moment (sized once from the relation's row estimate, with transparent huge pages asked
 *		for); the tree's first level is hashed from the sorted leaves into half as many hashes,
 *		and the rest of the tree in place over those, two nodes at a time. The jsonb text, the rid
 *		(XXH3) and the leaf hash are taken from one buffer per record; two buffers are used in turn,
 *		so that two records' leaves are hashed side by side (core/sha256.c); each row's cache lines
 *		are prefetched.
 *
 * Locking: rows are read under the caller's snapshot (segrows.c); the caller holds whatever lock
 * makes the segment's content stable (tier.c takes ShareLock on the row relation to seal).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/record.h"
#include "store/seal.h"
#include "store/segrows.h"

/* the huge page size alloc_large aligns its advice to (x86-64's and arm64's usual 2 MB) */
#define SEAL_HUGE_PAGE			((uintptr_t) 2 * 1024 * 1024)

/* Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01), as record.c. */
#define SEAL_UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

typedef struct SealScanState
{
	TlSealScan *out;
	const char *log_name;
	/*
	 * Two buffers, each 0x00 and then one record's canonical encoding, used in turn: a record's leaf
	 * hash waits in one until the next record is encoded in the other, and the two are hashed side
	 * by side (sha256.c). pending is the leaf (index into out->leaves) whose hash is still to be
	 * taken from bufs[1 - cur], or -1.
	 */
	StringInfoData bufs[2];
	int			cur;			/* the buffer the next record is encoded into */
	int64		pending;
	int			prefix_len;		/* 0x00, version and log name: the same for every record */
	/* XXH3's secret for TL_RID_SEED, made once: XXH3_128bits_withSeed makes it again per record */
	uint8		rid_secret[XXH3_SECRET_DEFAULT_SIZE] pg_attribute_aligned(64);
	MemoryContext row_cxt;		/* detoasted values, numeric text; reset after every record */
} SealScanState;

/*
 * The canonical encoding, version 1, exactly as record.c's encode_record writes it, built straight
 * from the stored values: the payload's text form comes from jsonb_text.c (JsonbToCString's bytes
 * without its iterator), or is the text an archive frame already holds.
 */
static inline void
put_u32(StringInfo buf, uint32 v)
{
	uint32		be = pg_hton32(v);

	memcpy(buf->data + buf->len, &be, 4);
	buf->len += 4;
}

static inline void
put_i64(StringInfo buf, int64 v)
{
	uint64		be = pg_hton64((uint64) v);

	memcpy(buf->data + buf->len, &be, 8);
	buf->len += 8;
}

/* enlargeStringInfo's test inline: the buffer is nearly always big enough already */
static inline void
reserve(StringInfo buf, int len)
{
	if ((Size) buf->len + len + 1 > (Size) buf->maxlen)
		enlargeStringInfo(buf, len);
}

static inline void
put_bytes(StringInfo buf, const char *s, int len)
{
	reserve(buf, len + 4);
	put_u32(buf, (uint32) len);
	memcpy(buf->data + buf->len, s, len);
	buf->len += len;
}

static void
encode(SealScanState *st, text *key, Jsonb *payload, const char *payload_text, int payload_len,
	   TimestampTz ts, text *source, const char *origin, int origin_len, int64 seq)
{
	StringInfo	buf = &st->bufs[st->cur];

	buf->len = st->prefix_len;	/* u8 version | str log, written once */
	put_bytes(buf, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	if (payload_text)
		put_bytes(buf, payload_text, payload_len);
	else
	{
		int			at;

		reserve(buf, 4);
		at = buf->len;
		buf->len += 4;
		tl_jsonb_append_text(buf, &payload->root);
		{
			uint32		be = pg_hton32((uint32) (buf->len - at - 4));

			memcpy(buf->data + at, &be, 4);
		}
	}
	reserve(buf, 9);
	put_i64(buf, ts + SEAL_UNIX_EPOCH_OFFSET_US);
	buf->data[buf->len++] = source != NULL;
	if (source)
		put_bytes(buf, VARDATA_ANY(source), VARSIZE_ANY_EXHDR(source));
	put_bytes(buf, origin, origin_len);
	reserve(buf, 8);
	put_i64(buf, seq);
}

/*
 * The encoded record in st->bufs[st->cur] becomes a leaf: its rid (XXH3, as record.c), digest, and
 * SHA-256 leaf hash, the latter with the previous record's when one waits (else it waits).
 */
static void
add_leaf(SealScanState *st, TimestampTz ts)
{
	TlSealScan *out = st->out;
	TlSealLeaf *leaf;
	XXH128_hash_t h;
	StringInfo	buf = &st->bufs[st->cur];
	const char *encoding = buf->data + 1;	/* after the leaf's 0x00 */
	int64		bytes = buf->len - 1;

	if (out->n == out->capacity)
	{
		out->capacity *= 2;
		out->leaves = repalloc_huge(out->leaves, sizeof(TlSealLeaf) * out->capacity);
	}
	leaf = &out->leaves[out->n++];
	/* the same hash as record.c's XXH3_128bits_withSeed (xxhash.h promises it for such a secret) */
	h = XXH3_128bits_withSecretandSeed(encoding, bytes, st->rid_secret, sizeof(st->rid_secret), TL_RID_SEED);
	{
		uint64		hi = pg_hton64(h.high64);
		uint64		lo = pg_hton64(h.low64);

		memcpy(leaf->rid.bytes, &hi, 8);
		memcpy(leaf->rid.bytes + 8, &lo, 8);
	}
	leaf->ts = ts;
	tl_digest_add(&out->digest, h.high64, h.low64, 1, bytes);
	out->bytes += bytes;
	if (st->pending < 0)
	{
		st->pending = out->n - 1;
		st->cur = 1 - st->cur;
		return;
	}
	{
		StringInfo	prev = &st->bufs[1 - st->cur];

		tl_merkle_leaf_prefixed_x2(prev->data, prev->len, &out->leaves[st->pending].hash,
								   buf->data, buf->len, &leaf->hash);
	}
	st->pending = -1;
}

/* The last record's leaf hash, when it waits for a partner that never came. */
static void
flush_leaf(SealScanState *st)
{
	if (st->pending >= 0)
	{
		StringInfo	prev = &st->bufs[1 - st->cur];

		tl_merkle_leaf_prefixed(NULL, prev->data, prev->len, &st->out->leaves[st->pending].hash);
		st->pending = -1;
	}
}

/*
 * Ask for the cache lines of this row and of the next one at once, rather than one miss after the
 * other as the encoding reaches them: a page's tuples lie from its end down, so the row a heap scan
 * returns next is (nearly always) the one just below this one. A hint only: a prefetch of an address
 * outside the page does nothing harmful.
 */
static inline void
prefetch_rows(HeapTuple row)
{
#if defined(__GNUC__) || defined(__clang__)
	const char *p = (const char *) row->t_data;

	for (uint32 off = 64; off < row->t_len; off += 64)
		__builtin_prefetch(p + off);
	for (int back = 64; back <= 512; back += 64)
		__builtin_prefetch(p - back);
#endif
}

static void
visit_row(HeapTuple row, TupleDesc desc, void *arg)
{
	SealScanState *st = arg;
	Datum		v[TL_ROW_MAX_NATTS];
	bool		n[TL_ROW_MAX_NATTS];
	MemoryContext old = MemoryContextSwitchTo(st->row_cxt);
	text	   *origin;
	TimestampTz ts;

	if ((st->out->n & 0x3ff) == 0)
		CHECK_FOR_INTERRUPTS();
	prefetch_rows(row);
	tl_row_deform(row, desc, v, n);
	ts = DatumGetTimestampTz(v[Anum_row_ts - 1]);
	origin = DatumGetTextPP(v[Anum_row_origin - 1]);
	encode(st, DatumGetTextPP(v[Anum_row_key - 1]), DatumGetJsonbP(v[Anum_row_payload - 1]), NULL, 0, ts,
		   n[Anum_row_source - 1] ? NULL : DatumGetTextPP(v[Anum_row_source - 1]),
		   VARDATA_ANY(origin), VARSIZE_ANY_EXHDR(origin), DatumGetInt64(v[Anum_row_seq - 1]));
	add_leaf(st, ts);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->row_cxt);
}

static void
visit_archive_row(const TlArchiveRow *row, const TlRid *rid, void *arg)
{
	SealScanState *st = arg;
	MemoryContext old = MemoryContextSwitchTo(st->row_cxt);

	if ((st->out->n & 0x3ff) == 0)
		CHECK_FOR_INTERRUPTS();
	encode(st, row->key, row->payload, row->payload_text, row->payload_text_len, row->ts, row->source,
		   row->origin, strlen(row->origin), row->seq);
	add_leaf(st, row->ts);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->row_cxt);
}

/* canonical order: (ts, rid), the rid's bytes compared as unsigned */
static inline int
leaf_cmp(const TlSealLeaf *x, const TlSealLeaf *y)
{
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return memcmp(x->rid.bytes, y->rid.bytes, TL_RID_LEN);
}

/* sort_leaves(): qsort specialised for leaves, the comparison inlined (lib/sort_template.h) */
#define ST_SORT sort_leaves
#define ST_ELEMENT_TYPE TlSealLeaf
#define ST_COMPARE(a, b) leaf_cmp(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * A large array for the scan: on Linux, huge pages are asked for (transparent huge pages in their
 * "madvise" mode), so that 56 MB of leaves take a few dozen page faults instead of 14 000. Only an
 * advice: where it is not available or refused, the array is an ordinary allocation.
 */
static void *
alloc_large(Size bytes)
{
	char	   *p = palloc_extended(bytes, MCXT_ALLOC_HUGE);

#ifdef MADV_HUGEPAGE
	if (bytes >= 8 * SEAL_HUGE_PAGE)
	{
		uintptr_t	start = TYPEALIGN(SEAL_HUGE_PAGE, (uintptr_t) p);
		uintptr_t	end = TYPEALIGN_DOWN(SEAL_HUGE_PAGE, (uintptr_t) p + bytes);

		if (end > start)
			(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
	}
#endif
	return p;
}

/*
 * Room for how many leaves at first: the row relation's estimate (reltuples, from the last VACUUM or
 * ANALYZE) and a little more, so that a large segment's leaf array is allocated and faulted in once
 * instead of being doubled and copied ten times; it still grows if the estimate is short.
 */
static int64
initial_capacity(const TlSegment *seg)
{
	int64		cap = 1024;

	if (OidIsValid(seg->relid) && !seg->relation_missing)
	{
		Relation	rel = try_table_open(seg->relid, AccessShareLock);

		if (rel != NULL)
		{
			if (rel->rd_rel->reltuples > 0)
				cap = Max(cap, (int64) (rel->rd_rel->reltuples * 1.02) + 1024);
			table_close(rel, NoLock);
		}
	}
	return Min(cap, (int64) (MaxAllocHugeSize / sizeof(TlSealLeaf) / 4));
}

/* Read every record of the segment under `snap` (the active snapshot when it has frames). */
void
tl_seal_scan(const TlLog *log, const TlSegment *seg, Snapshot snap, TlSealScan *out)
{
	SealScanState st;

	memset(out, 0, sizeof(*out));
	out->capacity = initial_capacity(seg);
	out->leaves = alloc_large(sizeof(TlSealLeaf) * out->capacity);
	st.out = out;
	st.log_name = log->name;
	for (int b = 0; b < 2; b++)
	{
		StringInfo	buf = &st.bufs[b];

		initStringInfo(buf);
		appendStringInfoChar(buf, '\0');	/* RFC 9162's leaf prefix */
		appendStringInfoChar(buf, (char) TL_ENCODING_VERSION);
		enlargeStringInfo(buf, 4);
		put_bytes(buf, log->name, strlen(log->name));
		st.prefix_len = buf->len;
	}
	st.cur = 0;
	st.pending = -1;
	XXH3_generateSecret_fromSeed(st.rid_secret, TL_RID_SEED);
	st.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tieredlog seal row", ALLOCSET_SMALL_SIZES);
	(void) tl_segment_rows_ex(log, seg, snap, DT_NOBEGIN, DT_NOEND, NULL, false, visit_row,
							  visit_archive_row, &st);
	flush_leaf(&st);
	MemoryContextDelete(st.row_cxt);
	pfree(st.bufs[0].data);
	pfree(st.bufs[1].data);
	sort_leaves(out->leaves, out->n);
}

/*
 * The Merkle Tree Hash over the scanned leaves, in canonical order. The first level of nodes is
 * taken from the leaves where they lie (no copy of the leaf hashes), the rest in place.
 */
void
tl_seal_root(const TlSealScan *scan, TlHash *root)
{
	int64		n = scan->n;
	int64		half;
	TlHash	   *hashes;
	TlSha		sha;

	if (n <= 1)
	{
		TlHash		one;

		if (n == 1)
			one = scan->leaves[0].hash;
		tl_sha_open(&sha);
		tl_merkle_root(&sha, &one, n, root);
		tl_sha_close(&sha);
		return;
	}
	hashes = alloc_large(sizeof(TlHash) * ((n + 1) / 2));
	tl_sha_open(&sha);
	half = tl_merkle_level(&scan->leaves[0].hash, sizeof(TlSealLeaf), n, hashes);
	tl_merkle_root(&sha, hashes, half, root);
	tl_sha_close(&sha);
	pfree(hashes);
}

void
tl_seal_free(TlSealScan *scan)
{
	if (scan->leaves)
		pfree(scan->leaves);
	scan->leaves = NULL;
}
