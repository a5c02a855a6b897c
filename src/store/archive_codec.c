/*-------------------------------------------------------------------------
 * archive_codec.c
 *		The archive frame format's building blocks: varints and length-prefixed bytes, the
 *		bounds-checked reader (every length and count checked before use; a violation is
 *		ERRCODE_DATA_CORRUPTED naming the segment and frame), and the front-coded dictionaries of
 *		keys and names.
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

void
tl_arc_put_varint(StringInfo b, uint64 v)
{
	while (v >= 0x80)
	{
		appendStringInfoChar(b, (char) (v | 0x80));
		v >>= 7;
	}
	appendStringInfoChar(b, (char) v);
}

void
tl_arc_put_bytes(StringInfo b, const char *p, int len)
{
	tl_arc_put_varint(b, (uint64) len);
	appendBinaryStringInfo(b, p, len);
}

/* ---- reading ----------------------------------------------------------------------------- */

void pg_attribute_noreturn()
tl_arc_corrupt(const Reader *r, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("archive frame %d of segment %lld is corrupted", r->frame_no,
					(long long) r->segment_id),
			 errdetail("%s", what),
			 errhint("Repair the segment from a peer with tieredlog.reconcile_segment() once replication is configured.")));
}

int
tl_arc_get_count(Reader *r, int limit, const char *what)
{
	uint64		v = tl_arc_get_varint(r);

	/* a negative limit (an index into an empty list) admits nothing */
	if (limit < 0 || v > (uint64) limit)
		tl_arc_corrupt(r, what);
	return (int) v;
}

const char *
tl_arc_get_bytes(Reader *r, int *len)
{
	uint64		l = tl_arc_get_varint(r);
	const char *p = (const char *) r->p;

	if (l > (uint64) (r->end - r->p))
		tl_arc_corrupt(r, "string runs past the end of the frame");
	r->p += l;
	*len = (int) l;
	return p;
}

/* A sub-reader over the next length-prefixed blob. */
Reader
tl_arc_get_blob(Reader *r)
{
	Reader		sub = *r;
	int			len;

	sub.p = (const uint8 *) tl_arc_get_bytes(r, &len);
	sub.end = sub.p + len;
	return sub;
}

/* ---- dictionaries ------------------------------------------------------------------------ */

int
tl_arc_cmp_bytes(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int
cmp_dict_item(const void *x, const void *y)
{
	const DictItem *a = x;
	const DictItem *b = y;

	return tl_arc_cmp_bytes(a->s, a->len, b->s, b->len);
}

/*
 * Sort the n items, write the distinct values (front-coded when front is true) and return each
 * row's index among them (ids[row]); ids start at `first_id`.
 */
void
tl_arc_write_dict(StringInfo b, DictItem *items, int n, bool front, int first_id, int *ids, int *ndistinct)
{
	int			d = 0;
	const DictItem *prev = NULL;
	StringInfoData values;

	initStringInfo(&values);
	qsort(items, n, sizeof(DictItem), cmp_dict_item);
	for (int i = 0; i < n; i++)
	{
		if (prev == NULL || tl_arc_cmp_bytes(prev->s, prev->len, items[i].s, items[i].len) != 0)
		{
			int			shared = 0;

			if (front && prev != NULL)
				while (shared < Min(prev->len, items[i].len) && prev->s[shared] == items[i].s[shared])
					shared++;
			if (front)
				tl_arc_put_varint(&values, shared);
			tl_arc_put_bytes(&values, items[i].s + shared, items[i].len - shared);
			prev = &items[i];
			d++;
		}
		ids[items[i].row] = first_id + d - 1;
	}
	tl_arc_put_varint(b, d);
	appendBinaryStringInfo(b, values.data, values.len);
	pfree(values.data);
	*ndistinct = d;
}

/*
 * A dictionary of at most max_entries values (a frame has no more distinct values than rows),
 * each checked before it is copied: no longer than a key or a name, no NUL, valid encoding (keys),
 * a valid name (names).
 */
DictEntry *
tl_arc_read_dict(Reader *r, bool front, DictKind kind, int max_entries, int *n)
{
	int			d = tl_arc_get_count(r, max_entries, "dictionary has more entries than the frame has rows");
	int			max_len = kind == DICT_KEYS ? TL_MAX_KEY_LEN : TL_MAX_NAME_LEN;
	DictEntry  *out = palloc(sizeof(DictEntry) * Max(d, 1));

	for (int i = 0; i < d; i++)
	{
		int			shared = front ? tl_arc_get_count(r, max_len, "prefix longer than any value") : 0;
		int			len;
		const char *suffix = tl_arc_get_bytes(r, &len);

		if (shared > 0 && (i == 0 || shared > out[i - 1].len))
			tl_arc_corrupt(r, "front-coded prefix longer than the previous value");
		if (len > max_len - shared)
			tl_arc_corrupt(r, kind == DICT_KEYS ? "key longer than any record key" : "name longer than any name");
		out[i].len = shared + len;
		out[i].s = palloc(out[i].len + 1);
		if (shared > 0)
			memcpy(out[i].s, out[i - 1].s, shared);
		memcpy(out[i].s + shared, suffix, len);
		out[i].s[out[i].len] = '\0';
		if (memchr(out[i].s, '\0', out[i].len) != NULL)
			tl_arc_corrupt(r, "NUL byte inside a key or name");
		if (kind == DICT_KEYS && !pg_verify_mbstr(GetDatabaseEncoding(), out[i].s, out[i].len, true))
			tl_arc_corrupt(r, "key is not valid in the database encoding");
		if (kind == DICT_NAMES && !tl_name_is_valid(out[i].s))
			tl_arc_corrupt(r, "invalid origin or source name");
	}
	*n = d;
	return out;
}

/*
 * The key dictionary of a frame read for one key: walked in one buffer, without a copy per
 * entry; only the entry equal to the key (if any) is kept and checked for NULs and encoding, as
 * read_dict checks every entry (the other keys are never returned). Lengths are bounded exactly
 * as read_dict bounds them. Returns an array of *n entries, all empty but *found's.
 */
DictEntry *
tl_arc_find_key_in_dict(Reader *r, int max_entries, const char *key, int keylen, int *n, int *found)
{
	int			d = tl_arc_get_count(r, max_entries, "dictionary has more entries than the frame has rows");
	DictEntry  *out = palloc0(sizeof(DictEntry) * Max(d, 1));
	char	   *buf = palloc(TL_MAX_KEY_LEN + 1);
	int			prev_len = 0;

	*found = -1;
	for (int i = 0; i < d; i++)
	{
		int			shared = tl_arc_get_count(r, TL_MAX_KEY_LEN, "prefix longer than any value");
		int			len;
		const char *suffix = tl_arc_get_bytes(r, &len);

		if (shared > 0 && (i == 0 || shared > prev_len))
			tl_arc_corrupt(r, "front-coded prefix longer than the previous value");
		if (len > TL_MAX_KEY_LEN - shared)
			tl_arc_corrupt(r, "key longer than any record key");
		memcpy(buf + shared, suffix, len);
		prev_len = shared + len;
		if (*found < 0 && prev_len == keylen && memcmp(buf, key, keylen) == 0)
		{
			*found = i;
			out[i].len = prev_len;
			out[i].s = pnstrdup(buf, prev_len);
			if (memchr(out[i].s, '\0', out[i].len) != NULL)
				tl_arc_corrupt(r, "NUL byte inside a key or name");
			if (!pg_verify_mbstr(GetDatabaseEncoding(), out[i].s, out[i].len, true))
				tl_arc_corrupt(r, "key is not valid in the database encoding");
		}
	}
	pfree(buf);
	*n = d;
	return out;
}
