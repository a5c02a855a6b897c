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
 *		moment; the root is computed in place over the sorted leaf hashes.
 *
 * Locking: rows are read under the caller's snapshot (segrows.c); the caller holds whatever lock
 * makes the segment's content stable (tier.c takes ShareLock on the row relation to seal).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/record.h"
#include "store/seal.h"
#include "store/segrows.h"

/* Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01), as record.c. */
#define SEAL_UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

typedef struct SealScanState
{
	TlSealScan *out;
	const char *log_name;
	TlSha		sha;
	StringInfoData buf;			/* one record's canonical encoding, reused */
	int			prefix_len;		/* version and log name, the same for every record */
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

static inline void
put_bytes(StringInfo buf, const char *s, int len)
{
	enlargeStringInfo(buf, len + 4);
	put_u32(buf, (uint32) len);
	memcpy(buf->data + buf->len, s, len);
	buf->len += len;
}

static void
encode(SealScanState *st, text *key, Jsonb *payload, const char *payload_text, int payload_len,
	   TimestampTz ts, text *source, const char *origin, int origin_len, int64 seq)
{
	StringInfo	buf = &st->buf;

	buf->len = st->prefix_len;	/* u8 version | str log, written once */
	put_bytes(buf, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	if (payload_text)
		put_bytes(buf, payload_text, payload_len);
	else
	{
		int			at;

		enlargeStringInfo(buf, 4);
		at = buf->len;
		buf->len += 4;
		tl_jsonb_append_text(buf, &payload->root);
		{
			uint32		be = pg_hton32((uint32) (buf->len - at - 4));

			memcpy(buf->data + at, &be, 4);
		}
	}
	enlargeStringInfo(buf, 9);
	put_i64(buf, ts + SEAL_UNIX_EPOCH_OFFSET_US);
	buf->data[buf->len++] = source != NULL;
	if (source)
		put_bytes(buf, VARDATA_ANY(source), VARSIZE_ANY_EXHDR(source));
	put_bytes(buf, origin, origin_len);
	enlargeStringInfo(buf, 8);
	put_i64(buf, seq);
}

/* The encoded record in st->buf becomes a leaf: its rid (XXH3, as record.c), SHA-256 leaf, digest. */
static void
add_leaf(SealScanState *st, TimestampTz ts)
{
	TlSealScan *out = st->out;
	TlSealLeaf *leaf;
	XXH128_hash_t h;
	int64		bytes = st->buf.len;

	if (out->n == out->capacity)
	{
		out->capacity *= 2;
		out->leaves = repalloc_huge(out->leaves, sizeof(TlSealLeaf) * out->capacity);
	}
	leaf = &out->leaves[out->n++];
	h = XXH3_128bits_withSeed(st->buf.data, bytes, TL_RID_SEED);
	{
		uint64		hi = pg_hton64(h.high64);
		uint64		lo = pg_hton64(h.low64);

		memcpy(leaf->rid.bytes, &hi, 8);
		memcpy(leaf->rid.bytes + 8, &lo, 8);
	}
	tl_merkle_leaf(&st->sha, st->buf.data, bytes, &leaf->hash);
	leaf->ts = ts;
	tl_digest_add(&out->digest, h.high64, h.low64, 1, bytes);
	out->bytes += bytes;
}

static void
visit_row(HeapTuple row, TupleDesc desc, void *arg)
{
	SealScanState *st = arg;
	Datum		v[Natts_row];
	bool		n[Natts_row];
	MemoryContext old = MemoryContextSwitchTo(st->row_cxt);
	text	   *origin;
	TimestampTz ts;

	if ((st->out->n & 0x3ff) == 0)
		CHECK_FOR_INTERRUPTS();
	heap_deform_tuple(row, desc, v, n);
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

static int
leaf_cmp(const void *a, const void *b)
{
	const TlSealLeaf *x = a;
	const TlSealLeaf *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return memcmp(x->rid.bytes, y->rid.bytes, TL_RID_LEN);
}

/* Read every record of the segment under `snap` (the active snapshot when it has frames). */
void
tl_seal_scan(const TlLog *log, const TlSegment *seg, Snapshot snap, TlSealScan *out)
{
	SealScanState st;

	memset(out, 0, sizeof(*out));
	out->capacity = 1024;
	out->leaves = palloc_extended(sizeof(TlSealLeaf) * out->capacity, MCXT_ALLOC_HUGE);
	st.out = out;
	st.log_name = log->name;
	initStringInfo(&st.buf);
	appendStringInfoChar(&st.buf, (char) TL_ENCODING_VERSION);
	enlargeStringInfo(&st.buf, 4);
	put_bytes(&st.buf, log->name, strlen(log->name));
	st.prefix_len = st.buf.len;
	st.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tieredlog seal row", ALLOCSET_SMALL_SIZES);
	tl_sha_open(&st.sha);
	tl_segment_rows_ex(log, seg, snap, DT_NOBEGIN, DT_NOEND, NULL, visit_row, visit_archive_row, &st);
	tl_sha_close(&st.sha);
	MemoryContextDelete(st.row_cxt);
	pfree(st.buf.data);
	qsort(out->leaves, out->n, sizeof(TlSealLeaf), leaf_cmp);
}

/* The Merkle Tree Hash over the scanned leaves, in canonical order. */
void
tl_seal_root(const TlSealScan *scan, TlHash *root)
{
	TlHash	   *hashes = palloc_extended(sizeof(TlHash) * Max(scan->n, 1), MCXT_ALLOC_HUGE);
	TlSha		sha;

	for (int64 i = 0; i < scan->n; i++)
		hashes[i] = scan->leaves[i].hash;
	tl_sha_open(&sha);
	tl_merkle_root(&sha, hashes, scan->n, root);
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
