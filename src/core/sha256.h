/*-------------------------------------------------------------------------
 * sha256.h
 *		One-shot SHA-256 of whole messages, one or two at a time (two messages hashed side by side
 *		keep the CPU's SHA unit busy while the other waits on its results), for the Merkle trees.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SHA256_H
#define TIEREDLOG_SHA256_H

#include "postgres.h"

/* SHA-256 of one message into out[0..31]. */
extern void tl_sha256(const void *data, size_t len, uint8 *out);

/* SHA-256 of two independent messages: the same digests as two tl_sha256 calls. */
extern void tl_sha256_x2(const void *data1, size_t len1, uint8 *out1,
						 const void *data2, size_t len2, uint8 *out2);

/* Which implementation runs: "sha-ni" (the x86 SHA extensions, two messages interleaved) or "openssl". */
extern const char *tl_sha256_impl(void);

#endif							/* TIEREDLOG_SHA256_H */
