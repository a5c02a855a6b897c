/*-------------------------------------------------------------------------
 * seal.h
 *		A segment's seal: the RFC 9162 Merkle root over its records in canonical order.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SEAL_H
#define TIEREDLOG_SEAL_H

#include "postgres.h"
#include "utils/snapshot.h"

#include "store/catalog.h"
#include "store/digest.h"
#include "core/merkle.h"
#include "core/record.h"

/* One record as the seal sees it: its place in canonical order and its leaf hash. */
typedef struct TlSealLeaf
{
	TimestampTz ts;
	TlRid		rid;			/* recomputed from the content, never the stored one */
	TlHash		hash;			/* SHA-256(0x00 || canonical encoding) */
} TlSealLeaf;

/* Every record of a segment, read once: leaves in (ts, rid) order and the XXH3 digest. */
typedef struct TlSealScan
{
	TlSealLeaf *leaves;
	int64		n;
	int64		capacity;
	int64		bytes;			/* logical bytes (canonical encodings) */
	TlDigest	digest;			/* (count, sum of recomputed rids), as tieredlog.segment_digest */
} TlSealScan;

extern void tl_seal_scan(const TlLog *log, const TlSegment *seg, Snapshot snap, TlSealScan *out);
extern void tl_seal_root(const TlSealScan *scan, TlHash *root);
extern void tl_seal_free(TlSealScan *scan);

#endif							/* TIEREDLOG_SEAL_H */
