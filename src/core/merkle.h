/*-------------------------------------------------------------------------
 * merkle.h
 *		SHA-256 (sha256.c, OpenSSL's libcrypto), and RFC 9162 Merkle trees over it.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_MERKLE_H
#define TIEREDLOG_MERKLE_H

#include "postgres.h"
#include <openssl/sha.h>

#define TL_HASH_LEN			32
#define TL_MERKLE_MAX_PATH	64

typedef struct TlHash
{
	uint8		b[TL_HASH_LEN];
} TlHash;

/*
 * One SHA-256 state, reused for every hash a caller computes. It is plain memory (OpenSSL's SHA-256
 * block functions: no allocation, no provider lookup per hash), so nothing leaks on error.
 */
typedef struct TlSha
{
	SHA256_CTX	ctx;
} TlSha;

extern void tl_sha_open(TlSha *s);
extern void tl_sha_close(TlSha *s);
extern void tl_sha_begin(TlSha *s);
extern void tl_sha_update(TlSha *s, const void *data, size_t len);
extern void tl_sha_end(TlSha *s, TlHash *out);

extern void tl_merkle_leaf(TlSha *s, const void *data, size_t len, TlHash *out);
extern void tl_merkle_leaf_prefixed(TlSha *s, const void *msg, size_t len, TlHash *out);
extern void tl_merkle_leaf_prefixed_x2(const void *msg1, size_t len1, TlHash *out1,
									   const void *msg2, size_t len2, TlHash *out2);
extern void tl_merkle_node(TlSha *s, const TlHash *left, const TlHash *right, TlHash *out);
extern void tl_merkle_node_x2(const TlHash *left1, const TlHash *right1, TlHash *out1,
							  const TlHash *left2, const TlHash *right2, TlHash *out2);
extern int64 tl_merkle_level(const void *in, size_t stride, int64 n, TlHash *out);
extern void tl_merkle_root(TlSha *s, TlHash *hashes, int64 n, TlHash *out);
extern int	tl_merkle_path(TlSha *s, const TlHash *leaves, int64 n, int64 index, TlHash *path);
extern bool tl_merkle_verify(TlSha *s, const TlHash *leaf, int64 index, int64 size, const TlHash *path,
							 int npath, const TlHash *root);

extern char *tl_hash_to_hex(const TlHash *h);
extern Datum tl_hash_to_bytea(const TlHash *h);
extern void tl_hash_from_bytea(Datum d, TlHash *out);
extern bool tl_hash_from_hex(const char *hex, TlHash *out);
extern bool tl_hex_decode(const char *hex, uint8 *out, int len);

#endif							/* TIEREDLOG_MERKLE_H */
