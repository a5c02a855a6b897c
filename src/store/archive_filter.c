/*-------------------------------------------------------------------------
 * archive_filter.c
 *		Per-frame key filters: a Bloom filter over a frame's distinct keys, built when the
 *		frame is written and probed by key reads (version, hash count and size checked first).
 *		The format itself is described in archive.c.
 *
 * Locking: none (pure encoding).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>
#include <xxhash.h>

#include "common/int.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "store/archive.h"
#include "store/archive_int.h"
#include "core/guc.h"
#include "core/tieredlog.h"
#include "core/validate.h"

static inline void
key_hashes(const char *key, int keylen, uint64 *h1, uint64 *h2)
{
	XXH128_hash_t h = XXH3_128bits(key, keylen);

	*h1 = h.low64;
	*h2 = h.high64 | 1;
}

/*
 * The Bloom filter of a frame's keys: `items` are the frame's n keys sorted (write_dict sorted
 * them), ndistinct of them distinct. TL_KEY_FILTER_BITS_PER_KEY bits per distinct key and
 * TL_KEY_FILTER_HASHES hash functions: about 0.05% false positives.
 */
bytea *
tl_arc_build_key_filter(const DictItem *items, int n, int ndistinct)
{
	uint64		nbits = (uint64) ndistinct * TL_KEY_FILTER_BITS_PER_KEY;
	int			nbytes;
	bytea	   *f;
	uint8	   *bits;

	nbits = Max(64, (nbits + 63) & ~(uint64) 63);
	nbytes = (int) Min(nbits / 8, (uint64) TL_KEY_FILTER_MAX_BYTES);
	nbits = (uint64) nbytes * 8;
	f = palloc0(VARHDRSZ + 2 + nbytes);
	SET_VARSIZE(f, VARHDRSZ + 2 + nbytes);
	((uint8 *) VARDATA(f))[0] = TL_KEY_FILTER_VERSION;
	((uint8 *) VARDATA(f))[1] = TL_KEY_FILTER_HASHES;
	bits = (uint8 *) VARDATA(f) + 2;
	for (int i = 0; i < n; i++)
	{
		uint64		h1;
		uint64		h2;

		if (i > 0 && tl_arc_cmp_bytes(items[i - 1].s, items[i - 1].len, items[i].s, items[i].len) == 0)
			continue;
		key_hashes(items[i].s, items[i].len, &h1, &h2);
		for (int k = 0; k < TL_KEY_FILTER_HASHES; k++)
		{
			uint64		bit = (h1 + (uint64) k * h2) % nbits;

			bits[bit >> 3] |= (uint8) (1 << (bit & 7));
		}
	}
	return f;
}

/* The hashes of a key for tl_key_filter_may_hold_hashed (computed once per read). */
void
tl_key_filter_hash(const char *key, int keylen, TlKeyHash *h)
{
	key_hashes(key, keylen, &h->h1, &h->h2);
}

/*
 * May the frame whose directory holds `filter` hold the key hashed into *h? False means
 * certainly not. A filter that does not have the layout of archive.h is corrupt
 * (ERRCODE_DATA_CORRUPTED, naming the frame).
 */
bool
tl_key_filter_may_hold_hashed(const bytea *filter, const TlKeyHash *h, int64 segment_id,
							  int frame_no)
{
	Reader		r = {NULL, NULL, segment_id, frame_no};
	const uint8 *p = (const uint8 *) VARDATA_ANY(filter);
	Size		len = VARSIZE_ANY_EXHDR(filter);
	Size		nbytes;
	uint64		nbits;
	int			nhashes;

	if (len < 2 || p[0] != TL_KEY_FILTER_VERSION)
		tl_arc_corrupt(&r, "key filter has an unknown version");
	nhashes = p[1];
	nbytes = len - 2;
	if (nhashes < 1 || nhashes > TL_KEY_FILTER_MAX_HASHES)
		tl_arc_corrupt(&r, "key filter has an invalid number of hash functions");
	if (nbytes < 8 || nbytes % 8 != 0 || nbytes > TL_KEY_FILTER_MAX_BYTES)
		tl_arc_corrupt(&r, "key filter has an invalid size");
	nbits = (uint64) nbytes * 8;
	p += 2;
	for (int k = 0; k < nhashes; k++)
	{
		uint64		bit = (h->h1 + (uint64) k * h->h2) % nbits;

		if (!(p[bit >> 3] & (1 << (bit & 7))))
			return false;
	}
	return true;
}

/* The same for a key given as bytes. */
bool
tl_key_filter_may_hold(const bytea *filter, const char *key, int keylen, int64 segment_id,
					   int frame_no)
{
	TlKeyHash	h;

	tl_key_filter_hash(key, keylen, &h);
	return tl_key_filter_may_hold_hashed(filter, &h, segment_id, frame_no);
}
