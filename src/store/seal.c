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
#include "utils/memutils.h"

#include "store/seal.h"
#include "store/segrows.h"

typedef struct SealScanState
{
	TlSealScan *out;
	const char *log_name;
	TlSha		sha;
	StringInfoData buf;
	MemoryContext row_cxt;		/* reset after every record */
} SealScanState;

static void
add_leaf(SealScanState *st, TlRecord *rec, const char *payload_text, int payload_len)
{
	TlSealScan *out = st->out;
	TlSealLeaf *leaf;
	uint64		hi;
	uint64		lo;

	CHECK_FOR_INTERRUPTS();
	if (out->n == out->capacity)
	{
		out->capacity *= 2;
		out->leaves = repalloc_huge(out->leaves, sizeof(TlSealLeaf) * out->capacity);
	}
	leaf = &out->leaves[out->n++];
	resetStringInfo(&st->buf);
	tl_record_encode(&st->buf, rec, payload_text, payload_len);
	tl_merkle_leaf(&st->sha, st->buf.data, st->buf.len, &leaf->hash);
	leaf->ts = rec->ts;
	leaf->rid = rec->rid;
	tl_rid_split(&rec->rid, &hi, &lo);
	tl_digest_add(&out->digest, hi, lo, 1, rec->logical_bytes);
	out->bytes += rec->logical_bytes;
}

static void
visit_row(HeapTuple row, TupleDesc desc, void *arg)
{
	SealScanState *st = arg;
	TlRecord	rec;
	MemoryContext old = MemoryContextSwitchTo(st->row_cxt);

	tl_record_from_row(row, desc, st->log_name, &rec);
	add_leaf(st, &rec, NULL, 0);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->row_cxt);
}

static void
visit_archive_row(const TlArchiveRow *row, const TlRid *rid, void *arg)
{
	SealScanState *st = arg;
	TlRecord	rec;

	memset(&rec, 0, sizeof(rec));
	rec.log_name = st->log_name;
	rec.key = row->key;
	rec.payload = row->payload;
	rec.ts = row->ts;
	rec.source = row->source;
	rec.origin = row->origin;
	rec.seq = row->seq;
	add_leaf(st, &rec, row->payload_text, row->payload_text_len);
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
