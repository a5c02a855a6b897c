/*-------------------------------------------------------------------------
 * merkle.c
 *		SHA-256 and RFC 9162 §2.1 Merkle trees:
 *
 *			leaf hash = SHA-256(0x00 || data)
 *			node hash = SHA-256(0x01 || left || right)
 *			MTH(D[n]) = MTH(D[0:k]) and MTH(D[k:n]) joined, k the largest power of two below n
 *			MTH of no leaves = SHA-256 of the empty string
 *
 *		The root is computed bottom up (pairs joined level by level, an odd last node carried up
 *		unchanged), which gives the same tree as the recursive definition. Audit paths follow
 *		§2.1.3.1 and their verification §2.1.3.2, step by step.
 *
 *		Leaves and nodes are whole short messages, hashed in one call by sha256.c (with the x86 SHA
 *		extensions two at a time where the caller has two: the tree's levels, the seal's leaves).
 *		Only leaves over LEAF_COPY_MAX bytes and the ledger's other hashes stream through a TlSha,
 *		OpenSSL's SHA-256 block functions: with OpenSSL 3 every EVP_DigestInit looks the algorithm
 *		up again (locks, string compares), which made pg_cryptohash 4-5x slower than the hash itself
 *		on 65-byte nodes (bench/ledger). The block functions are deprecated in OpenSSL 3 but are the
 *		same assembly and need no allocation, so a state lives on the stack and nothing can leak on
 *		error.
 *
 * Locking: none; a TlSha belongs to its caller.
 *-------------------------------------------------------------------------
 */
/* the SHA256_* block functions are deprecated in OpenSSL 3.0, not removed; see above */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "postgres.h"

#include <openssl/sha.h>

#include "utils/builtins.h"

#include "core/bytes.h"
#include "core/merkle.h"
#include "core/sha256.h"

static void
sha_failed(const char *step)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("SHA-256 %s failed", step)));
}

void
tl_sha_open(TlSha *s)
{
	memset(s, 0, sizeof(*s));
}

void
tl_sha_close(TlSha *s)
{
	memset(s, 0, sizeof(*s));
}

void
tl_sha_begin(TlSha *s)
{
	if (SHA256_Init(&s->ctx) != 1)
		sha_failed("initialisation");
}

void
tl_sha_update(TlSha *s, const void *data, size_t len)
{
	if (SHA256_Update(&s->ctx, data, len) != 1)
		sha_failed("update");
}

void
tl_sha_end(TlSha *s, TlHash *out)
{
	if (SHA256_Final(out->b, &s->ctx) != 1)
		sha_failed("finalisation");
}

/* Leaves up to this many bytes are copied behind their 0x00 on the stack and hashed in one call. */
#define LEAF_COPY_MAX	1024

void
tl_merkle_leaf(TlSha *s, const void *data, size_t len, TlHash *out)
{
	static const uint8 prefix = 0x00;

	if (len <= LEAF_COPY_MAX)
	{
		uint8		msg[1 + LEAF_COPY_MAX];

		msg[0] = prefix;
		memcpy(msg + 1, data, len);
		tl_sha256(msg, len + 1, out->b);
		return;
	}
	tl_sha_begin(s);
	tl_sha_update(s, &prefix, 1);
	tl_sha_update(s, data, len);
	tl_sha_end(s, out);
}

/*
 * The same leaf hash when the caller's buffer already starts with the 0x00: the message hashed where
 * it lies (sha256.c).
 */
void
tl_merkle_leaf_prefixed(TlSha *s, const void *msg, size_t len, TlHash *out)
{
	Assert(len >= 1 && ((const uint8 *) msg)[0] == 0x00);
	tl_sha256(msg, len, out->b);
}

/* Two such leaves at once (sha256.c hashes them side by side): the same hashes as two calls. */
void
tl_merkle_leaf_prefixed_x2(const void *msg1, size_t len1, TlHash *out1,
						   const void *msg2, size_t len2, TlHash *out2)
{
	Assert(len1 >= 1 && ((const uint8 *) msg1)[0] == 0x00);
	Assert(len2 >= 1 && ((const uint8 *) msg2)[0] == 0x00);
	tl_sha256_x2(msg1, len1, out1->b, msg2, len2, out2->b);
}

static inline void
node_message(uint8 *msg, const TlHash *left, const TlHash *right)
{
	msg[0] = 0x01;
	memcpy(msg + 1, left->b, TL_HASH_LEN);
	memcpy(msg + 1 + TL_HASH_LEN, right->b, TL_HASH_LEN);
}

void
tl_merkle_node(TlSha *s, const TlHash *left, const TlHash *right, TlHash *out)
{
	uint8		msg[1 + 2 * TL_HASH_LEN];

	/* the whole 65-byte message, copied first: out may alias left or right */
	node_message(msg, left, right);
	tl_sha256(msg, sizeof(msg), out->b);
}

/* Two nodes at once: the same hashes as two tl_merkle_node calls; an out may alias any input. */
void
tl_merkle_node_x2(const TlHash *left1, const TlHash *right1, TlHash *out1,
				  const TlHash *left2, const TlHash *right2, TlHash *out2)
{
	uint8		msg1[1 + 2 * TL_HASH_LEN];
	uint8		msg2[1 + 2 * TL_HASH_LEN];

	node_message(msg1, left1, right1);
	node_message(msg2, left2, right2);
	tl_sha256_x2(msg1, sizeof(msg1), out1->b, msg2, sizeof(msg2), out2->b);
}

/*
 * One level of the tree: nodes over hashes 2i and 2i + 1 of `in` (n of them, `stride` bytes apart)
 * into out[0 .. n / 2), an odd last hash carried up unchanged; two nodes hashed at a time. out may
 * be `in` itself (node i is written after hashes 2i and 2i + 1 are read, and i <= 2i). Returns the
 * number of hashes out.
 */
int64
tl_merkle_level(const void *in, size_t stride, int64 n, TlHash *out)
{
#define LEVEL_IN(k) ((const TlHash *) ((const char *) in + (size_t) (k) * stride))
	int64		half = 0;
	int64		i = 0;

	for (; i + 3 < n; i += 4)
	{
		tl_merkle_node_x2(LEVEL_IN(i), LEVEL_IN(i + 1), &out[half],
						  LEVEL_IN(i + 2), LEVEL_IN(i + 3), &out[half + 1]);
		half += 2;
	}
	if (i + 1 < n)
	{
		tl_merkle_node(NULL, LEVEL_IN(i), LEVEL_IN(i + 1), &out[half++]);
		i += 2;
	}
	if (i < n)
		out[half++] = *LEVEL_IN(i);
	return half;
#undef LEVEL_IN
}

/* The Merkle Tree Hash of n leaf hashes; the array is overwritten (it holds each level in turn). */
void
tl_merkle_root(TlSha *s, TlHash *hashes, int64 n, TlHash *out)
{
	if (n == 0)
	{
		tl_sha_begin(s);
		tl_sha_end(s, out);
		return;
	}
	while (n > 1)
		n = tl_merkle_level(hashes, sizeof(TlHash), n, hashes);
	*out = hashes[0];
}

static int64
largest_power_of_two_below(int64 n)
{
	int64		k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH of leaves[0:n] without touching them. */
static void
subtree_root(TlSha *s, const TlHash *leaves, int64 n, TlHash *out)
{
	TlHash	   *scratch = palloc_extended(sizeof(TlHash) * Max(n, 1), MCXT_ALLOC_HUGE);

	memcpy(scratch, leaves, sizeof(TlHash) * n);
	tl_merkle_root(s, scratch, n, out);
	pfree(scratch);
}

/*
 * The audit path of leaf `index` in the tree of n leaves (RFC 9162 §2.1.3.1), nearest sibling
 * first. Returns its length (at most TL_MERKLE_MAX_PATH).
 */
int
tl_merkle_path(TlSha *s, const TlHash *leaves, int64 n, int64 index, TlHash *path)
{
	TlHash		reversed[TL_MERKLE_MAX_PATH];
	int			depth = 0;

	Assert(index >= 0 && index < n);
	/* walk down from the root, collecting the other side's root at each split */
	while (n > 1)
	{
		int64		k = largest_power_of_two_below(n);

		if (index < k)
		{
			subtree_root(s, leaves + k, n - k, &reversed[depth++]);
			n = k;
		}
		else
		{
			subtree_root(s, leaves, k, &reversed[depth++]);
			leaves += k;
			index -= k;
			n -= k;
		}
	}
	for (int i = 0; i < depth; i++)
		path[i] = reversed[depth - 1 - i];
	return depth;
}

/* RFC 9162 §2.1.3.2: does the path prove that `leaf` is leaf `index` of the tree with `root`? */
bool
tl_merkle_verify(TlSha *s, const TlHash *leaf, int64 index, int64 size, const TlHash *path, int npath,
				 const TlHash *root)
{
	uint64		fn;
	uint64		sn;
	TlHash		r = *leaf;

	if (index < 0 || size <= 0 || index >= size)
		return false;
	fn = (uint64) index;
	sn = (uint64) size - 1;
	for (int i = 0; i < npath; i++)
	{
		if (sn == 0)
			return false;
		if ((fn & 1) == 1 || fn == sn)
		{
			tl_merkle_node(s, &path[i], &r, &r);
			if ((fn & 1) == 0)
			{
				while ((fn & 1) == 0 && fn != 0)
				{
					fn >>= 1;
					sn >>= 1;
				}
			}
		}
		else
			tl_merkle_node(s, &r, &path[i], &r);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r.b, root->b, TL_HASH_LEN) == 0;
}

/* Lower-case hex (PostgreSQL's hex_encode). */
/* A hash as a bytea Datum (palloc'd), as the catalog stores it. */
Datum
tl_hash_to_bytea(const TlHash *h)
{
	bytea	   *b = palloc(VARHDRSZ + TL_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + TL_HASH_LEN);
	memcpy(VARDATA(b), h->b, TL_HASH_LEN);
	return PointerGetDatum(b);
}

/* A stored bytea hash; one of another length reads as zeros (it can never verify). */
void
tl_hash_from_bytea(Datum d, TlHash *out)
{
	bytea	   *b = DatumGetByteaPP(d);

	memset(out->b, 0, TL_HASH_LEN);
	if (VARSIZE_ANY_EXHDR(b) == TL_HASH_LEN)
		memcpy(out->b, VARDATA_ANY(b), TL_HASH_LEN);
}

char *
tl_hash_to_hex(const TlHash *h)
{
	return tl_hex_string(h->b, TL_HASH_LEN);
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse exactly 2 * len hex digits into out; false for anything else. */
bool
tl_hex_decode(const char *hex, uint8 *out, int len)
{
	if (hex == NULL || strlen(hex) != (size_t) len * 2)
		return false;
	for (int i = 0; i < len; i++)
	{
		int			hi = hex_value(hex[2 * i]);
		int			lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8) (hi << 4 | lo);
	}
	return true;
}

/* Parse 64 hex digits; false for anything else. */
bool
tl_hash_from_hex(const char *hex, TlHash *out)
{
	return tl_hex_decode(hex, out->b, TL_HASH_LEN);
}
