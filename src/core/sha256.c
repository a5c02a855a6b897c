/*-------------------------------------------------------------------------
 * sha256.c
 *		One-shot SHA-256 (FIPS 180-4) of whole messages, for the Merkle trees of merkle.c and the
 *		seal: a seal of n records hashes 2n - 1 short messages (leaves of ~330 bytes, nodes of 65),
 *		and those hashes were 41% of its time with OpenSSL (bench/RESULTS.md).
 *
 *		On x86-64 CPUs with the SHA extensions (SHA-NI) the compression function is written here
 *		with their intrinsics, and two messages are hashed side by side: each SHA256RNDS2 waits on
 *		the result of the one before it, so one message leaves the SHA unit idle most of the time,
 *		and a second, independent message fills those cycles (measured on this project's AMD EPYC:
 *		43.6 ns a block alone, 22.9 ns each with two, 20.3 ns each with four). The messages are
 *		read where they lie; only the last one or two blocks (the tail, the 0x80 and the length)
 *		are assembled in a local buffer. Elsewhere, or when the CPU lacks the extensions, OpenSSL's
 *		SHA-256 block functions compute the same digests (OpenSSL also uses SHA-NI, one message at
 *		a time).
 *
 *		Which one runs is decided at the first hash of a process: the CPU's feature bits, then a
 *		self-test of the SHA-NI code against OpenSSL on messages of every length to 300 bytes, one
 *		and two at a time (a failure is logged and OpenSSL used). The environment variable
 *		TIEREDLOG_SHA256=openssl, set for the server, forces OpenSSL (for comparisons).
 *
 * Locking: none; the choice is a per-process static set once.
 *-------------------------------------------------------------------------
 */
/* the SHA256_* block functions are deprecated in OpenSSL 3.0, not removed; see merkle.c */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "postgres.h"

#include <openssl/sha.h>

#include "core/sha256.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TL_HAVE_SHA_NI_CODE 1
#include <cpuid.h>
#include <immintrin.h>
#endif

typedef enum ShaImpl
{
	SHA_IMPL_UNKNOWN = 0,
	SHA_IMPL_OPENSSL,
	SHA_IMPL_SHA_NI
} ShaImpl;

static ShaImpl sha_impl = SHA_IMPL_UNKNOWN;

static void
sha_failed(const char *step)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("SHA-256 %s failed", step)));
}

static void
openssl_sha256(const void *data, size_t len, uint8 *out)
{
	SHA256_CTX	ctx;

	if (SHA256_Init(&ctx) != 1)
		sha_failed("initialisation");
	if (SHA256_Update(&ctx, data, len) != 1)
		sha_failed("update");
	if (SHA256_Final(out, &ctx) != 1)
		sha_failed("finalisation");
}

#ifdef TL_HAVE_SHA_NI_CODE

#define SHA_NI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32 sha_k[64] __attribute__((aligned(16))) = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

/* The state as SHA256RNDS2 wants it: (A, B, E, F) and (C, D, G, H). */
typedef struct NiState
{
	__m128i		abef;
	__m128i		cdgh;
} NiState;

/*
 * A message as a sequence of 64-byte blocks: its whole blocks where they lie, then one or two
 * blocks built here from the rest, the 0x80, zeros and the length in bits.
 */
typedef struct NiMsg
{
	const uint8 *data;
	size_t		nfull;
	int			ntail;
	uint8		tail[128] __attribute__((aligned(16)));
} NiMsg;

static inline void
ni_msg_init(NiMsg *m, const void *data, size_t len)
{
	size_t		rem = len % 64;
	uint64		bits = (uint64) len * 8;
	int			end;

	m->data = data;
	m->nfull = len / 64;
	m->ntail = rem + 9 <= 64 ? 1 : 2;
	end = m->ntail * 64;
	if (rem > 0)
		memcpy(m->tail, (const uint8 *) data + m->nfull * 64, rem);
	m->tail[rem] = 0x80;
	memset(m->tail + rem + 1, 0, end - 8 - (rem + 1));
	for (int i = 0; i < 8; i++)
		m->tail[end - 1 - i] = (uint8) (bits >> (8 * i));
}

static inline const uint8 *
ni_msg_block(const NiMsg *m, size_t j)
{
	return j < m->nfull ? m->data + 64 * j : m->tail + 64 * (j - m->nfull);
}

static inline size_t
ni_msg_blocks(const NiMsg *m)
{
	return m->nfull + m->ntail;
}

SHA_NI_TARGET static inline __m128i
ni_bswap_mask(void)
{
	return _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
}

SHA_NI_TARGET static inline void
ni_state_init(NiState *s)
{
	/* H0..H7 of FIPS 180-4 §5.3.3, arranged as (A, B, E, F) and (C, D, G, H), lane 0 last */
	s->abef = _mm_set_epi32(0x6a09e667, 0xbb67ae85, 0x510e527f, 0x9b05688c);
	s->cdgh = _mm_set_epi32(0x3c6ef372, 0xa54ff53a, 0x1f83d9ab, 0x5be0cd19);
}

SHA_NI_TARGET static inline void
ni_state_out(const NiState *s, uint8 *out)
{
	__m128i		feba = _mm_shuffle_epi32(s->abef, 0x1B);
	__m128i		dchg = _mm_shuffle_epi32(s->cdgh, 0xB1);
	__m128i		dcba = _mm_blend_epi16(feba, dchg, 0xF0);
	__m128i		hgfe = _mm_alignr_epi8(dchg, feba, 8);

	_mm_storeu_si128((__m128i *) out, _mm_shuffle_epi8(dcba, ni_bswap_mask()));
	_mm_storeu_si128((__m128i *) (out + 16), _mm_shuffle_epi8(hgfe, ni_bswap_mask()));
}

/*
 * Four rounds (4i .. 4i + 3) of one message whose schedule words W[4i .. 4i + 3] are in w[i % 4],
 * with the schedule's next words prepared on the way (Intel's SHA extensions paper, figure 6).
 */
#define NI_QROUND(s0, s1, w, i) \
	do { \
		__m128i		m_ = _mm_add_epi32((w)[(i) & 3], _mm_load_si128((const __m128i *) &sha_k[4 * (i)])); \
		(s1) = _mm_sha256rnds2_epu32((s1), (s0), m_); \
		if ((i) >= 3 && (i) <= 14) \
			(w)[((i) + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32((w)[((i) + 1) & 3], \
																		_mm_alignr_epi8((w)[(i) & 3], (w)[((i) + 3) & 3], 4)), \
													  (w)[(i) & 3]); \
		m_ = _mm_shuffle_epi32(m_, 0x0E); \
		(s0) = _mm_sha256rnds2_epu32((s0), (s1), m_); \
		if ((i) >= 1 && (i) <= 12) \
			(w)[((i) + 3) & 3] = _mm_sha256msg1_epu32((w)[((i) + 3) & 3], (w)[(i) & 3]); \
	} while (0)

#define NI_ALL_ROUNDS(R) \
	do { \
		R(0); R(1); R(2); R(3); R(4); R(5); R(6); R(7); \
		R(8); R(9); R(10); R(11); R(12); R(13); R(14); R(15); \
	} while (0)

/* One 64-byte block into one state. */
SHA_NI_TARGET static inline void
ni_block(NiState *s, const uint8 *p)
{
	__m128i		mask = ni_bswap_mask();
	__m128i		s0 = s->abef;
	__m128i		s1 = s->cdgh;
	__m128i		w[4];

	for (int j = 0; j < 4; j++)
		w[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (p + 16 * j)), mask);
#define R1(i) NI_QROUND(s0, s1, w, i)
	NI_ALL_ROUNDS(R1);
#undef R1
	s->abef = _mm_add_epi32(s0, s->abef);
	s->cdgh = _mm_add_epi32(s1, s->cdgh);
}

/* One block of each of two messages, their rounds interleaved. */
SHA_NI_TARGET static inline void
ni_block_x2(NiState *a, const uint8 *pa, NiState *b, const uint8 *pb)
{
	__m128i		mask = ni_bswap_mask();
	__m128i		a0 = a->abef;
	__m128i		a1 = a->cdgh;
	__m128i		b0 = b->abef;
	__m128i		b1 = b->cdgh;
	__m128i		wa[4];
	__m128i		wb[4];

	for (int j = 0; j < 4; j++)
	{
		wa[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (pa + 16 * j)), mask);
		wb[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (pb + 16 * j)), mask);
	}
#define R2(i) do { NI_QROUND(a0, a1, wa, i); NI_QROUND(b0, b1, wb, i); } while (0)
	NI_ALL_ROUNDS(R2);
#undef R2
	a->abef = _mm_add_epi32(a0, a->abef);
	a->cdgh = _mm_add_epi32(a1, a->cdgh);
	b->abef = _mm_add_epi32(b0, b->abef);
	b->cdgh = _mm_add_epi32(b1, b->cdgh);
}

SHA_NI_TARGET static void
ni_sha256(const void *data, size_t len, uint8 *out)
{
	NiMsg		m;
	NiState		s;
	size_t		nb;

	ni_msg_init(&m, data, len);
	ni_state_init(&s);
	nb = ni_msg_blocks(&m);
	for (size_t j = 0; j < nb; j++)
		ni_block(&s, ni_msg_block(&m, j));
	ni_state_out(&s, out);
}

SHA_NI_TARGET static void
ni_sha256_x2(const void *data1, size_t len1, uint8 *out1, const void *data2, size_t len2, uint8 *out2)
{
	NiMsg		m1;
	NiMsg		m2;
	NiState		s1;
	NiState		s2;
	size_t		nb1;
	size_t		nb2;
	size_t		j;

	ni_msg_init(&m1, data1, len1);
	ni_msg_init(&m2, data2, len2);
	ni_state_init(&s1);
	ni_state_init(&s2);
	nb1 = ni_msg_blocks(&m1);
	nb2 = ni_msg_blocks(&m2);
	for (j = 0; j < nb1 && j < nb2; j++)
		ni_block_x2(&s1, ni_msg_block(&m1, j), &s2, ni_msg_block(&m2, j));
	for (size_t k = j; k < nb1; k++)
		ni_block(&s1, ni_msg_block(&m1, k));
	for (size_t k = j; k < nb2; k++)
		ni_block(&s2, ni_msg_block(&m2, k));
	ni_state_out(&s1, out1);
	ni_state_out(&s2, out2);
}

static bool
cpu_has_sha_ni(void)
{
	unsigned int a,
				b,
				c,
				d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	if (!(c & bit_SSE4_1) || !(c & bit_SSSE3))
		return false;
	if (__get_cpuid_max(0, NULL) < 7)
		return false;
	__cpuid_count(7, 0, a, b, c, d);
	return (b & bit_SHA) != 0;
}

/*
 * The SHA-NI code against OpenSSL: every length 0..300 (every place the tail and the length can
 * fall in one or two blocks), alone and paired with every other length's message of a few.
 */
static bool
ni_self_test(void)
{
	uint8		msg[2][320];
	uint8		want[2][32];
	uint8		got[2][32];

	for (int i = 0; i < (int) sizeof(msg[0]); i++)
	{
		msg[0][i] = (uint8) (i * 131 + 7);
		msg[1][i] = (uint8) (i * 29 + 101);
	}
	for (size_t len = 0; len <= 300; len++)
	{
		openssl_sha256(msg[0], len, want[0]);
		ni_sha256(msg[0], len, got[0]);
		if (memcmp(want[0], got[0], 32) != 0)
			return false;
		for (size_t len2 = (len * 7) % 13; len2 <= 300; len2 += 37)
		{
			openssl_sha256(msg[1] + 1, len2, want[1]);
			ni_sha256_x2(msg[0], len, got[0], msg[1] + 1, len2, got[1]);
			if (memcmp(want[0], got[0], 32) != 0 || memcmp(want[1], got[1], 32) != 0)
				return false;
		}
	}
	return true;
}
#endif							/* TL_HAVE_SHA_NI_CODE */

static ShaImpl
choose_impl(void)
{
	const char *force = getenv("TIEREDLOG_SHA256");

	if (force != NULL && strcmp(force, "openssl") == 0)
		return SHA_IMPL_OPENSSL;
#ifdef TL_HAVE_SHA_NI_CODE
	if (cpu_has_sha_ni())
	{
		if (ni_self_test())
			return SHA_IMPL_SHA_NI;
		ereport(WARNING,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("tieredlog's SHA-NI SHA-256 failed its self-test; OpenSSL's is used instead")));
	}
#endif
	return SHA_IMPL_OPENSSL;
}

static inline ShaImpl
impl(void)
{
	if (unlikely(sha_impl == SHA_IMPL_UNKNOWN))
		sha_impl = choose_impl();
	return sha_impl;
}

void
tl_sha256(const void *data, size_t len, uint8 *out)
{
#ifdef TL_HAVE_SHA_NI_CODE
	if (impl() == SHA_IMPL_SHA_NI)
	{
		ni_sha256(data, len, out);
		return;
	}
#else
	(void) impl();
#endif
	openssl_sha256(data, len, out);
}

void
tl_sha256_x2(const void *data1, size_t len1, uint8 *out1, const void *data2, size_t len2, uint8 *out2)
{
#ifdef TL_HAVE_SHA_NI_CODE
	if (impl() == SHA_IMPL_SHA_NI)
	{
		ni_sha256_x2(data1, len1, out1, data2, len2, out2);
		return;
	}
#else
	(void) impl();
#endif
	openssl_sha256(data1, len1, out1);
	openssl_sha256(data2, len2, out2);
}

const char *
tl_sha256_impl(void)
{
	return impl() == SHA_IMPL_SHA_NI ? "sha-ni" : "openssl";
}
