/*-------------------------------------------------------------------------
 * archive.c
 *		The tier 2 frame format: encode a run of records (sorted by ts, origin, seq) into one
 *		independent zstd frame, and decode it back.
 *
 * Before zstd, a frame is laid out by column so that similar bytes sit together:
 *
 *	 magic "TLF1" | nrows
 *	 ts       first value, then non-negative deltas (varints)
 *	 origin   distinct origins, then one index per row (omitted when there is one origin)
 *	 seq      zigzag deltas from the previous row of the same origin
 *	 key      distinct keys, sorted and front-coded (shared prefix, suffix), then one index per row
 *	 source   distinct sources, then one index per row (0 = no source)
 *	 payload  shredded by path: the table of object paths (parent, key), then for each path one
 *	          tag per row and that path's values (integers as zigzag varints, lowercase hex strings
 *	          and uuids as bytes, other strings, numbers and arrays as text; objects nested deeper
 *	          than TL_FRAME_SHRED_DEPTH as text too)
 *
 * jsonb keeps object keys sorted and unique, so rebuilding each object from its (key, value) pairs
 * gives back the identical jsonb; numbers are kept as their text (or as integers when the text is
 * a plain integer), so their scale survives. The whole buffer is compressed with zstd (with its
 * content checksum) and the directory entry carries an XXH3-64 of the compressed bytes.
 *
 * Decoding trusts nothing: every length and index is checked, and any inconsistency is an
 * ERRCODE_DATA_CORRUPTED error naming the segment and frame. What a frame can make the reader
 * allocate is bounded before it is allocated: the uncompressed size (tl_frame_max_raw), the
 * dictionaries (no more entries than rows, each no longer than a key or a name), the path table
 * (TL_FRAME_MAX_PATHS, and no more paths than the bytes can describe) and its depth
 * (TL_FRAME_MAX_DEPTH). Strings, keys, names and numbers carry no NUL and are valid in the
 * database encoding.
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
#include "core/guc.h"
#include "core/tieredlog.h"
#include "core/validate.h"

#define TL_FRAME_MAGIC		"TLF1"

/* Payload tags, one per (path, row). */
enum
{
	TAG_ABSENT = 0,
	TAG_NULL,
	TAG_TRUE,
	TAG_FALSE,
	TAG_INT,					/* integer number: zigzag varint */
	TAG_NUM,					/* other number: its text */
	TAG_STR,					/* string: bytes */
	TAG_HEX,					/* lowercase even-length hex string: its bytes */
	TAG_UUID,					/* lowercase canonical uuid string: 16 bytes */
	TAG_JSON,					/* array (or a non-object root): jsonb text */
	TAG_OBJECT					/* object: its children carry the values */
};

/* ---- writing ----------------------------------------------------------------------------- */

static void
put_varint(StringInfo b, uint64 v)
{
	while (v >= 0x80)
	{
		appendStringInfoChar(b, (char) (v | 0x80));
		v >>= 7;
	}
	appendStringInfoChar(b, (char) v);
}

static inline uint64
zigzag(int64 v)
{
	return ((uint64) v << 1) ^ (uint64) (v >> 63);
}

static inline int64
unzigzag(uint64 v)
{
	return (int64) (v >> 1) ^ -(int64) (v & 1);
}

static void
put_bytes(StringInfo b, const char *p, int len)
{
	put_varint(b, (uint64) len);
	appendBinaryStringInfo(b, p, len);
}

/* ---- reading ----------------------------------------------------------------------------- */

typedef struct Reader
{
	const uint8 *p;
	const uint8 *end;
	int64		segment_id;
	int			frame_no;
} Reader;

static void pg_attribute_noreturn()
corrupt(const Reader *r, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("archive frame %d of segment %lld is corrupted", r->frame_no,
					(long long) r->segment_id),
			 errdetail("%s", what),
			 errhint("Repair the segment from a peer with tieredlog.reconcile_segment() once replication is configured.")));
}

static uint64
get_varint(Reader *r)
{
	uint64		v = 0;
	int			shift = 0;

	for (;;)
	{
		uint8		c;

		if (r->p >= r->end || shift > 63)
			corrupt(r, "truncated or overlong integer");
		c = *r->p++;
		v |= (uint64) (c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
		shift += 7;
	}
}

static int
get_count(Reader *r, int limit, const char *what)
{
	uint64		v = get_varint(r);

	/* a negative limit (an index into an empty list) admits nothing */
	if (limit < 0 || v > (uint64) limit)
		corrupt(r, what);
	return (int) v;
}

static const char *
get_bytes(Reader *r, int *len)
{
	uint64		l = get_varint(r);
	const char *p = (const char *) r->p;

	if (l > (uint64) (r->end - r->p))
		corrupt(r, "string runs past the end of the frame");
	r->p += l;
	*len = (int) l;
	return p;
}

/* A sub-reader over the next length-prefixed blob. */
static Reader
get_blob(Reader *r)
{
	Reader		sub = *r;
	int			len;

	sub.p = (const uint8 *) get_bytes(r, &len);
	sub.end = sub.p + len;
	return sub;
}

/* ---- dictionaries ------------------------------------------------------------------------ */

typedef struct DictItem
{
	const char *s;
	int			len;
	int			row;
} DictItem;

static int
cmp_bytes(const char *a, int alen, const char *b, int blen)
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

	return cmp_bytes(a->s, a->len, b->s, b->len);
}

/*
 * Sort the n items, write the distinct values (front-coded when front is true) and return each
 * row's index among them (ids[row]); ids start at `first_id`.
 */
static void
write_dict(StringInfo b, DictItem *items, int n, bool front, int first_id, int *ids, int *ndistinct)
{
	int			d = 0;
	const DictItem *prev = NULL;
	StringInfoData values;

	initStringInfo(&values);
	qsort(items, n, sizeof(DictItem), cmp_dict_item);
	for (int i = 0; i < n; i++)
	{
		if (prev == NULL || cmp_bytes(prev->s, prev->len, items[i].s, items[i].len) != 0)
		{
			int			shared = 0;

			if (front && prev != NULL)
				while (shared < Min(prev->len, items[i].len) && prev->s[shared] == items[i].s[shared])
					shared++;
			if (front)
				put_varint(&values, shared);
			put_bytes(&values, items[i].s + shared, items[i].len - shared);
			prev = &items[i];
			d++;
		}
		ids[items[i].row] = first_id + d - 1;
	}
	put_varint(b, d);
	appendBinaryStringInfo(b, values.data, values.len);
	pfree(values.data);
	*ndistinct = d;
}

typedef struct DictEntry
{
	char	   *s;
	int			len;
} DictEntry;

/* What a dictionary holds: record keys, or names (origins, sources). */
typedef enum DictKind
{
	DICT_KEYS, DICT_NAMES
} DictKind;

/*
 * A dictionary of at most max_entries values (a frame has no more distinct values than rows),
 * each checked before it is copied: no longer than a key or a name, no NUL, valid encoding (keys),
 * a valid name (names).
 */
static DictEntry *
read_dict(Reader *r, bool front, DictKind kind, int max_entries, int *n)
{
	int			d = get_count(r, max_entries, "dictionary has more entries than the frame has rows");
	int			max_len = kind == DICT_KEYS ? TL_MAX_KEY_LEN : TL_MAX_NAME_LEN;
	DictEntry  *out = palloc(sizeof(DictEntry) * Max(d, 1));

	for (int i = 0; i < d; i++)
	{
		int			shared = front ? get_count(r, max_len, "prefix longer than any value") : 0;
		int			len;
		const char *suffix = get_bytes(r, &len);

		if (shared > 0 && (i == 0 || shared > out[i - 1].len))
			corrupt(r, "front-coded prefix longer than the previous value");
		if (len > max_len - shared)
			corrupt(r, kind == DICT_KEYS ? "key longer than any record key" : "name longer than any name");
		out[i].len = shared + len;
		out[i].s = palloc(out[i].len + 1);
		if (shared > 0)
			memcpy(out[i].s, out[i - 1].s, shared);
		memcpy(out[i].s + shared, suffix, len);
		out[i].s[out[i].len] = '\0';
		if (memchr(out[i].s, '\0', out[i].len) != NULL)
			corrupt(r, "NUL byte inside a key or name");
		if (kind == DICT_KEYS && !pg_verify_mbstr(GetDatabaseEncoding(), out[i].s, out[i].len, true))
			corrupt(r, "key is not valid in the database encoding");
		if (kind == DICT_NAMES && !tl_name_is_valid(out[i].s))
			corrupt(r, "invalid origin or source name");
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
static DictEntry *
find_key_in_dict(Reader *r, int max_entries, const char *key, int keylen, int *n, int *found)
{
	int			d = get_count(r, max_entries, "dictionary has more entries than the frame has rows");
	DictEntry  *out = palloc0(sizeof(DictEntry) * Max(d, 1));
	char	   *buf = palloc(TL_MAX_KEY_LEN + 1);
	int			prev_len = 0;

	*found = -1;
	for (int i = 0; i < d; i++)
	{
		int			shared = get_count(r, TL_MAX_KEY_LEN, "prefix longer than any value");
		int			len;
		const char *suffix = get_bytes(r, &len);

		if (shared > 0 && (i == 0 || shared > prev_len))
			corrupt(r, "front-coded prefix longer than the previous value");
		if (len > TL_MAX_KEY_LEN - shared)
			corrupt(r, "key longer than any record key");
		memcpy(buf + shared, suffix, len);
		prev_len = shared + len;
		if (*found < 0 && prev_len == keylen && memcmp(buf, key, keylen) == 0)
		{
			*found = i;
			out[i].len = prev_len;
			out[i].s = pnstrdup(buf, prev_len);
			if (memchr(out[i].s, '\0', out[i].len) != NULL)
				corrupt(r, "NUL byte inside a key or name");
			if (!pg_verify_mbstr(GetDatabaseEncoding(), out[i].s, out[i].len, true))
				corrupt(r, "key is not valid in the database encoding");
		}
	}
	pfree(buf);
	*n = d;
	return out;
}

/* ---- payload shredding ------------------------------------------------------------------- */

typedef struct Path
{
	int			parent;
	int			depth;			/* the root is 0 */
	char	   *key;
	int			keylen;
	uint8	   *tags;			/* one per row */
	StringInfoData ints;
	StringInfoData strs;
	int		   *children;
	int			nchildren;
	int			maxchildren;
} Path;

typedef struct Shredder
{
	Path	   *paths;
	int			npaths;
	int			maxpaths;
	int			nrows;
} Shredder;

static int
new_path(Shredder *s, int parent, const char *key, int keylen)
{
	Path	   *p;

	if (s->npaths == s->maxpaths)
	{
		s->maxpaths *= 2;
		s->paths = repalloc(s->paths, sizeof(Path) * s->maxpaths);
	}
	p = &s->paths[s->npaths];
	p->parent = parent;
	p->depth = parent >= 0 ? s->paths[parent].depth + 1 : 0;
	p->key = key ? pnstrdup(key, keylen) : NULL;
	p->keylen = keylen;
	p->tags = palloc0(s->nrows);
	initStringInfo(&p->ints);
	initStringInfo(&p->strs);
	p->children = NULL;
	p->nchildren = p->maxchildren = 0;
	if (parent >= 0)
	{
		Path	   *pp = &s->paths[parent];

		if (pp->nchildren == pp->maxchildren)
		{
			pp->maxchildren = Max(4, pp->maxchildren * 2);
			pp->children = pp->children ? repalloc(pp->children, sizeof(int) * pp->maxchildren)
				: palloc(sizeof(int) * pp->maxchildren);
		}
		pp->children[pp->nchildren++] = s->npaths;
	}
	return s->npaths++;
}

static int
child_path(Shredder *s, int parent, const char *key, int keylen)
{
	Path	   *pp = &s->paths[parent];

	for (int i = 0; i < pp->nchildren; i++)
	{
		Path	   *c = &s->paths[pp->children[i]];

		if (c->keylen == keylen && memcmp(c->key, key, keylen) == 0)
			return pp->children[i];
	}
	return new_path(s, parent, key, keylen);
}

static bool
is_plain_integer(const char *t)
{
	const char *p = t + (t[0] == '-');
	int			digits = strlen(p);

	if (digits == 0 || digits > 18 || (p[0] == '0' && digits > 1))
		return false;
	for (int i = 0; i < digits; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return !(t[0] == '-' && strcmp(p, "0") == 0);
}

static bool
is_lower_hex(const char *s, int len)
{
	for (int i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool
is_lower_uuid(const char *s, int len)
{
	if (len != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return false;
	return is_lower_hex(s, 8) && is_lower_hex(s + 9, 4) && is_lower_hex(s + 14, 4) &&
		is_lower_hex(s + 19, 4) && is_lower_hex(s + 24, 12);
}

static void
put_hex_bytes(StringInfo b, const char *hex, int len)
{
	for (int i = 0; i < len; i += 2)
	{
		int			hi = hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10;
		int			lo = hex[i + 1] <= '9' ? hex[i + 1] - '0' : hex[i + 1] - 'a' + 10;

		appendStringInfoChar(b, (char) ((hi << 4) | lo));
	}
}

static void shred_object(Shredder *s, int path, JsonbContainer *c, int row);

static void
shred_string(Path *p, int row, const char *str, int len)
{
	if (is_lower_uuid(str, len))
	{
		char		hex[32];

		memcpy(hex, str, 8);
		memcpy(hex + 8, str + 9, 4);
		memcpy(hex + 12, str + 14, 4);
		memcpy(hex + 16, str + 19, 4);
		memcpy(hex + 20, str + 24, 12);
		p->tags[row] = TAG_UUID;
		put_hex_bytes(&p->strs, hex, 32);
	}
	else if (len >= 8 && len % 2 == 0 && is_lower_hex(str, len))
	{
		p->tags[row] = TAG_HEX;
		put_varint(&p->strs, len / 2);
		put_hex_bytes(&p->strs, str, len);
	}
	else
	{
		p->tags[row] = TAG_STR;
		put_bytes(&p->strs, str, len);
	}
}

static void
shred_value(Shredder *s, int path, JsonbValue *v, int row)
{
	Path	   *p = &s->paths[path];

	check_stack_depth();
	switch (v->type)
	{
		case jbvNull:
			p->tags[row] = TAG_NULL;
			break;
		case jbvBool:
			p->tags[row] = v->val.boolean ? TAG_TRUE : TAG_FALSE;
			break;
		case jbvNumeric:
			{
				char	   *t = DatumGetCString(DirectFunctionCall1(numeric_out,
																	NumericGetDatum(v->val.numeric)));

				if (is_plain_integer(t))
				{
					p->tags[row] = TAG_INT;
					put_varint(&p->ints, zigzag(strtoi64(t, NULL, 10)));
				}
				else
				{
					p->tags[row] = TAG_NUM;
					put_bytes(&p->strs, t, strlen(t));
				}
				pfree(t);
				break;
			}
		case jbvString:
			shred_string(p, row, v->val.string.val, v->val.string.len);
			break;
		case jbvBinary:
			/* deeper objects stay whole, as JSON text: the reader bounds the depth */
			if (JsonContainerIsObject(v->val.binary.data) && p->depth < TL_FRAME_SHRED_DEPTH)
				shred_object(s, path, v->val.binary.data, row);
			else
			{
				char	   *t = JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);

				p = &s->paths[path];
				p->tags[row] = TAG_JSON;
				put_bytes(&p->strs, t, strlen(t));
				pfree(t);
			}
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

static void
shred_object(Shredder *s, int path, JsonbContainer *c, int row)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;

	check_stack_depth();
	s->paths[path].tags[row] = TAG_OBJECT;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			int			child = child_path(s, path, v.val.string.val, v.val.string.len);

			tok = JsonbIteratorNext(&it, &v, true);
			Assert(tok == WJB_VALUE);
			shred_value(s, child, &v, row);
		}
	}
}

static void
shred_row(Shredder *s, Jsonb *payload, int row)
{
	if (JsonContainerIsObject(&payload->root))
		shred_object(s, 0, &payload->root, row);
	else
	{
		char	   *t = JsonbToCString(NULL, &payload->root, VARSIZE(payload));

		s->paths[0].tags[row] = TAG_JSON;
		put_bytes(&s->paths[0].strs, t, strlen(t));
		pfree(t);
	}
}

static void
write_payloads(StringInfo b, const TlArchiveRow *rows, int n)
{
	Shredder	s;

	s.nrows = n;
	s.npaths = 0;
	s.maxpaths = 16;
	s.paths = palloc(sizeof(Path) * s.maxpaths);
	new_path(&s, -1, NULL, 0);
	for (int i = 0; i < n; i++)
		shred_row(&s, rows[i].payload, i);
	if (s.npaths > TL_FRAME_MAX_PATHS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the payloads of %d records have more than %d distinct paths", n, TL_FRAME_MAX_PATHS)));

	put_varint(b, s.npaths);
	for (int i = 1; i < s.npaths; i++)
	{
		put_varint(b, s.paths[i].parent);
		put_bytes(b, s.paths[i].key, s.paths[i].keylen);
	}
	for (int i = 0; i < s.npaths; i++)
	{
		appendBinaryStringInfo(b, (char *) s.paths[i].tags, n);
		put_bytes(b, s.paths[i].ints.data, s.paths[i].ints.len);
		put_bytes(b, s.paths[i].strs.data, s.paths[i].strs.len);
	}
}

/* ---- payload rebuilding ------------------------------------------------------------------ */

typedef struct DecPath
{
	int			parent;
	const char *key;
	int			keylen;
	const uint8 *tags;
	Reader		ints;
	Reader		strs;
	int		   *children;
	int			nchildren;
} DecPath;

static Jsonb *
parse_jsonb_text(Reader *r, const char *s, int len)
{
	char	   *t = pnstrdup(s, len);
	Datum		d;

	/* a frame that passed its checksums holds valid text; still, never trust it blindly */
	if (len == 0)
		corrupt(r, "empty JSON text");
	if (memchr(s, '\0', len) != NULL)
		corrupt(r, "NUL byte inside JSON text");
	d = DirectFunctionCall1(jsonb_in, CStringGetDatum(t));
	pfree(t);
	return DatumGetJsonbP(d);
}

static void
hex_from_bytes(const uint8 *in, int nbytes, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < nbytes; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
}

/*
 * A number kept as text: it must be exactly what numeric_out prints for it (no NUL, nothing left
 * over, no NaN or infinity), because the rid is computed over this text and the jsonb holds the
 * parsed value.
 */
/*
 * Is t (len bytes) in the form numeric_out prints a finite number in: an optional minus sign, an
 * integer part without leading zeros, optionally a point and at least one digit; no exponent, and
 * no minus sign before a zero (numeric_out prints zero unsigned)?
 */
static bool
is_canonical_number(const char *t, int len)
{
	int			i = 0;
	int			int_start;
	bool		nonzero = false;

	if (i < len && t[i] == '-')
		i++;
	int_start = i;
	while (i < len && t[i] >= '0' && t[i] <= '9')
		nonzero |= t[i++] != '0';
	if (i == int_start || (t[int_start] == '0' && i - int_start > 1))
		return false;
	if (i < len)
	{
		int			frac_start;

		if (t[i++] != '.')
			return false;
		frac_start = i;
		while (i < len && t[i] >= '0' && t[i] <= '9')
			nonzero |= t[i++] != '0';
		if (i == frac_start || i != len)
			return false;
	}
	return t[0] != '-' || nonzero;
}

/*
 * A number kept as text: it must be exactly what numeric_out prints for it (no NUL, nothing left
 * over, no NaN or infinity), because the rid is computed over this text and the jsonb holds the
 * parsed value. Text of that form parses to a number numeric_out prints the same way (digits,
 * point and scale are kept as written), so the form is checked instead of printing the number
 * back.
 */
static Numeric
decode_number(Reader *r, const char *s, int len)
{
	char	   *t;
	Numeric		n;

	if (memchr(s, '\0', len) != NULL)
		corrupt(r, "number text contains a NUL byte");
	/* numeric has at most 131072 digits before the point and 16383 after it */
	if (len == 0 || len > 256 * 1024)
		corrupt(r, "number text is empty or longer than any numeric");
	if (!is_canonical_number(s, len))
	{
		const char *u = s + (len > 0 && (s[0] == '-' || s[0] == '+'));
		int			ulen = len - (int) (u - s);

		if ((ulen >= 3 && pg_strncasecmp(u, "nan", 3) == 0) ||
			(ulen >= 3 && pg_strncasecmp(u, "inf", 3) == 0))
			corrupt(r, "number is not finite");
		corrupt(r, "number text is not in its canonical form");
	}
	t = pnstrdup(s, len);
	n = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(t),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	if (numeric_is_nan(n) || numeric_is_inf(n))
		corrupt(r, "number is not finite");
	pfree(t);
	return n;
}

static void
scalar_value(DecPath *p, uint8 tag, JsonbValue *v)
{
	int			len;
	const char *s;

	switch (tag)
	{
		case TAG_NULL:
			v->type = jbvNull;
			break;
		case TAG_TRUE:
		case TAG_FALSE:
			v->type = jbvBool;
			v->val.boolean = (tag == TAG_TRUE);
			break;
		case TAG_INT:
			v->type = jbvNumeric;
			v->val.numeric = int64_to_numeric(unzigzag(get_varint(&p->ints)));
			break;
		case TAG_NUM:
			s = get_bytes(&p->strs, &len);
			v->type = jbvNumeric;
			v->val.numeric = decode_number(&p->strs, s, len);
			break;
		case TAG_STR:
			s = get_bytes(&p->strs, &len);
			/* jsonb strings hold no NUL (the text form would be cut at it); encoding: rebuild_row */
			if (memchr(s, '\0', len) != NULL)
				corrupt(&p->strs, "NUL byte inside a string");
			v->type = jbvString;
			v->val.string.val = (char *) s;
			v->val.string.len = len;
			break;
		case TAG_HEX:
		case TAG_UUID:
			{
				int			nbytes = tag == TAG_UUID ? 16 : get_count(&p->strs, INT_MAX / 2, "hex length");
				char	   *out;

				if (nbytes > p->strs.end - p->strs.p)
					corrupt(&p->strs, "hex value runs past the end of the frame");
				out = palloc(nbytes * 2 + 4);
				hex_from_bytes(p->strs.p, nbytes, out);
				p->strs.p += nbytes;
				v->type = jbvString;
				if (tag == TAG_UUID)
				{
					char	   *u = palloc(36);

					memcpy(u, out, 8);
					u[8] = '-';
					memcpy(u + 9, out + 8, 4);
					u[13] = '-';
					memcpy(u + 14, out + 12, 4);
					u[18] = '-';
					memcpy(u + 19, out + 16, 4);
					u[23] = '-';
					memcpy(u + 24, out + 20, 12);
					v->val.string.val = u;
					v->val.string.len = 36;
				}
				else
				{
					v->val.string.val = out;
					v->val.string.len = nbytes * 2;
				}
				break;
			}
		case TAG_JSON:
			{
				Jsonb	   *j;

				s = get_bytes(&p->strs, &len);
				j = parse_jsonb_text(&p->strs, s, len);
				v->type = jbvBinary;
				v->val.binary.data = &j->root;
				v->val.binary.len = VARSIZE(j) - VARHDRSZ;
				break;
			}
		default:
			corrupt(&p->strs, "unknown payload tag");
	}
}

/*
 * Values are written twice while a row is rebuilt: into the jsonb, and as the jsonb's text form
 * (what JsonbToCString would print), which the rid is computed from. Writing the text here, from
 * values already at hand, costs far less than printing the finished jsonb again. Children are
 * visited in jsonb key order (shorter keys first, then bytewise) so that the text comes out in
 * the order JsonbToCString prints; the jsonb itself does not care.
 */
typedef struct RowBuilder
{
	StringInfoData bin;			/* the payload's jsonb, varlena header first */
	StringInfoData text;		/* the payload's canonical text */
	StringInfoData scratch;		/* NUL-terminated copy for escape_json */
} RowBuilder;

/*
 * A JSON string as escape_json prints it. Most strings need no escaping (no control character,
 * quote or backslash): those are copied in one piece.
 */
static void
text_json_string(RowBuilder *b, const char *s, int len)
{
	for (int i = 0; i < len; i++)
	{
		uint8		c = (uint8) s[i];

		if (c < 0x20 || c == '"' || c == '\\')
		{
			resetStringInfo(&b->scratch);
			appendBinaryStringInfo(&b->scratch, s, len);
			escape_json(&b->text, b->scratch.data);
			return;
		}
	}
	enlargeStringInfo(&b->text, len + 2);
	b->text.data[b->text.len++] = '"';
	memcpy(b->text.data + b->text.len, s, len);
	b->text.len += len;
	b->text.data[b->text.len++] = '"';
	b->text.data[b->text.len] = '\0';
}

/*
 * The jsonb is written straight in its binary form (as convertToJsonb lays it out: a container
 * header, the keys' JEntries then the values', every JB_OFFSET_STRIDE'th JEntry an offset, numbers
 * and containers aligned to 4 bytes with the padding counted in their length), not through
 * pushJsonbValue: the decoder already has each object's keys sorted and unique, as jsonb stores
 * them, so building a JsonbValue tree, sorting it and converting it again would only cost time.
 */
static int
bin_pad(StringInfo b)
{
	int			pad = INTALIGN(b->len) - b->len;

	if (pad > 0)
	{
		enlargeStringInfo(b, pad);
		memset(b->data + b->len, 0, pad);
		b->len += pad;
	}
	return pad;
}

/* A number's bytes into the binary form; returns its JEntry. */
static uint32
bin_numeric(StringInfo b, Numeric n)
{
	int			pad = bin_pad(b);
	int			len = VARSIZE_ANY(n);

	appendBinaryStringInfo(b, (const char *) n, len);
	return JENTRY_ISNUMERIC | (pad + len);
}

/* A value (any tag but TAG_OBJECT and TAG_ABSENT): its bytes and its text; returns its JEntry. */
static uint32
rebuild_value(DecPath *c, uint8 tag, RowBuilder *b)
{
	JsonbValue	v;
	char		digits[MAXINT8LEN + 1];
	int			len;
	const char *s;

	switch (tag)
	{
		case TAG_NULL:
			appendBinaryStringInfo(&b->text, "null", 4);
			return JENTRY_ISNULL;
		case TAG_TRUE:
			appendBinaryStringInfo(&b->text, "true", 4);
			return JENTRY_ISBOOL_TRUE;
		case TAG_FALSE:
			appendBinaryStringInfo(&b->text, "false", 5);
			return JENTRY_ISBOOL_FALSE;
		case TAG_INT:
			{
				int64		i = unzigzag(get_varint(&c->ints));

				len = pg_lltoa(i, digits);
				appendBinaryStringInfo(&b->text, digits, len);
				return bin_numeric(&b->bin, int64_to_numeric(i));
			}
		case TAG_NUM:
			{
				Numeric		n;

				s = get_bytes(&c->strs, &len);
				n = decode_number(&c->strs, s, len);
				/* the encoder stored numeric_out's text; decode_number checked it is */
				appendBinaryStringInfo(&b->text, s, len);
				return bin_numeric(&b->bin, n);
			}
		case TAG_JSON:
			{
				int			pad;

				scalar_value(c, tag, &v);
				(void) JsonbToCString(&b->text, v.val.binary.data, v.val.binary.len);
				pad = bin_pad(&b->bin);
				appendBinaryStringInfo(&b->bin, (const char *) v.val.binary.data, v.val.binary.len);
				return JENTRY_ISCONTAINER | (pad + v.val.binary.len);
			}
		default:
			/* strings (TAG_STR, TAG_HEX, TAG_UUID); scalar_value refuses unknown tags */
			scalar_value(c, tag, &v);
			text_json_string(b, v.val.string.val, v.val.string.len);
			appendBinaryStringInfo(&b->bin, v.val.string.val, v.val.string.len);
			return JENTRY_ISSTRING | v.val.string.len;
	}
}

/* Store a JEntry of an object under construction (every JB_OFFSET_STRIDE'th as an offset). */
static inline void
bin_jentry(StringInfo b, int jentry_at, int idx, uint32 meta, int *totallen)
{
	*totallen += JBE_OFFLENFLD(meta);
	if (*totallen > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb object elements exceeds the maximum of %u bytes",
						JENTRY_OFFLENMASK)));
	if (idx % JB_OFFSET_STRIDE == 0)
		meta = (meta & JENTRY_TYPEMASK) | *totallen | JENTRY_HAS_OFF;
	memcpy(b->data + jentry_at + idx * sizeof(JEntry), &meta, sizeof(JEntry));
}

/* Object `path` of row `row`: its bytes into b->bin and its text into b->text; returns its JEntry. */
static uint32
rebuild_object(DecPath *paths, int path, int row, RowBuilder *b)
{
	DecPath    *p = &paths[path];
	StringInfo	bin = &b->bin;
	int			base = bin->len;
	int			npairs = 0;
	int			jentry_at;
	int			idx = 0;
	int			totallen = 0;
	uint32		header;

	/* read_paths bounds the depth; the stack may still be smaller than that */
	check_stack_depth();
	for (int i = 0; i < p->nchildren; i++)
		if (paths[p->children[i]].tags[row] != TAG_ABSENT)
			npairs++;
	bin_pad(bin);
	header = (uint32) npairs | JB_FOBJECT;
	appendBinaryStringInfo(bin, (const char *) &header, sizeof(uint32));
	enlargeStringInfo(bin, sizeof(JEntry) * npairs * 2);
	jentry_at = bin->len;
	bin->len += sizeof(JEntry) * npairs * 2;

	/* the keys, in jsonb order (children are sorted so) */
	for (int i = 0; i < p->nchildren; i++)
	{
		DecPath    *c = &paths[p->children[i]];

		if (c->tags[row] == TAG_ABSENT)
			continue;
		appendBinaryStringInfo(bin, c->key, c->keylen);
		bin_jentry(bin, jentry_at, idx++, JENTRY_ISSTRING | c->keylen, &totallen);
	}
	/* then the values; the text has each key before its value */
	appendStringInfoChar(&b->text, '{');
	for (int i = 0; i < p->nchildren; i++)
	{
		DecPath    *c = &paths[p->children[i]];
		uint8		tag = c->tags[row];
		uint32		meta;

		if (tag == TAG_ABSENT)
			continue;
		if (idx > npairs)
			appendBinaryStringInfo(&b->text, ", ", 2);
		text_json_string(b, c->key, c->keylen);
		appendBinaryStringInfo(&b->text, ": ", 2);
		if (tag == TAG_OBJECT)
			meta = rebuild_object(paths, p->children[i], row, b);
		else
			meta = rebuild_value(c, tag, b);
		/* (rebuilding a value may have moved the buffer: jentry_at is an offset) */
		bin_jentry(bin, jentry_at, idx++, meta, &totallen);
	}
	appendStringInfoChar(&b->text, '}');
	totallen = bin->len - base;
	if (totallen > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb object elements exceeds the maximum of %u bytes",
						JENTRY_OFFLENMASK)));
	return JENTRY_ISCONTAINER | totallen;
}

/* Rebuild row `row`'s payload into out->payload, and its text form into out->payload_text. */
static void
rebuild_row(DecPath *paths, int row, RowBuilder *b, TlArchiveRow *out)
{
	DecPath    *root = &paths[0];
	int			len;
	const char *s;

	resetStringInfo(&b->text);
	switch (root->tags[row])
	{
		case TAG_OBJECT:
			resetStringInfo(&b->bin);
			b->bin.len = VARHDRSZ;	/* the varlena header, set below */
			(void) rebuild_object(paths, 0, row, b);
			out->payload = palloc(b->bin.len);
			memcpy(out->payload, b->bin.data, b->bin.len);
			SET_VARSIZE(out->payload, b->bin.len);
			break;
		case TAG_JSON:
			s = get_bytes(&root->strs, &len);
			out->payload = parse_jsonb_text(&root->strs, s, len);
			(void) JsonbToCString(&b->text, &out->payload->root, VARSIZE(out->payload));
			break;
		default:
			corrupt(&root->strs, "payload root is neither an object nor JSON text");
	}
	/* keys and strings went into the text byte for byte: one check of the encoding covers them */
	if (!pg_verify_mbstr(GetDatabaseEncoding(), b->text.data, b->text.len, true))
		corrupt(&root->strs, "payload text is not valid in the database encoding");
	out->payload_text = palloc(b->text.len + 1);
	memcpy(out->payload_text, b->text.data, b->text.len + 1);
	out->payload_text_len = b->text.len;
}

/* jsonb's key order: shorter first, then bytewise (as lengthCompareJsonbString). */
static int
cmp_child_keys(const void *x, const void *y, void *arg)
{
	const DecPath *paths = arg;
	const DecPath *a = &paths[*(const int *) x];
	const DecPath *b = &paths[*(const int *) y];

	if (a->keylen != b->keylen)
		return a->keylen < b->keylen ? -1 : 1;
	return memcmp(a->key, b->key, a->keylen);
}

static DecPath *
read_paths(Reader *r, int nrows, int *npaths_out)
{
	/* each path takes at least its tags (one per row) and two lengths */
	int			npaths = get_count(r, Min(TL_FRAME_MAX_PATHS, (r->end - r->p) / (nrows + 2)),
								   "more payload paths than the frame can hold");
	DecPath    *paths;
	int		   *depth;

	if (npaths < 1)
		corrupt(r, "no payload root");
	paths = palloc0(sizeof(DecPath) * npaths);
	depth = palloc0(sizeof(int) * npaths);
	paths[0].parent = -1;
	for (int i = 1; i < npaths; i++)
	{
		paths[i].parent = get_count(r, i - 1, "path parent out of range");
		paths[i].key = get_bytes(r, &paths[i].keylen);
		if (memchr(paths[i].key, '\0', paths[i].keylen) != NULL)
			corrupt(r, "NUL byte inside an object key");
		paths[paths[i].parent].nchildren++;
		/* rebuilding recurses once per level: bound it here, before anything is built */
		depth[i] = depth[paths[i].parent] + 1;
		if (depth[i] > TL_FRAME_MAX_DEPTH)
			corrupt(r, psprintf("payload paths nested more than %d deep", TL_FRAME_MAX_DEPTH));
	}
	pfree(depth);
	for (int i = 0; i < npaths; i++)
		paths[i].children = palloc(sizeof(int) * Max(paths[i].nchildren, 1)), paths[i].nchildren = 0;
	for (int i = 1; i < npaths; i++)
	{
		DecPath    *pp = &paths[paths[i].parent];

		pp->children[pp->nchildren++] = i;
	}
	for (int i = 0; i < npaths; i++)
	{
		qsort_arg(paths[i].children, paths[i].nchildren, sizeof(int), cmp_child_keys, paths);
		/* jsonb would keep one of two equal keys, the text both: the rid would not match */
		for (int c = 1; c < paths[i].nchildren; c++)
			if (cmp_child_keys(&paths[i].children[c - 1], &paths[i].children[c], paths) == 0)
				corrupt(r, "two payload paths with the same parent and key");
	}
	for (int i = 0; i < npaths; i++)
	{
		if (nrows > r->end - r->p)
			corrupt(r, "payload tags run past the end of the frame");
		paths[i].tags = r->p;
		r->p += nrows;
		for (int row = 0; row < nrows; row++)
			if (paths[i].tags[row] > TAG_OBJECT)
				corrupt(r, "unknown payload tag");
		paths[i].ints = get_blob(r);
		paths[i].strs = get_blob(r);
	}
	*npaths_out = npaths;
	return paths;
}

/* ---- key filters ------------------------------------------------------------------------- */

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
static bytea *
build_key_filter(const DictItem *items, int n, int ndistinct)
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

		if (i > 0 && cmp_bytes(items[i - 1].s, items[i - 1].len, items[i].s, items[i].len) == 0)
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
		corrupt(&r, "key filter has an unknown version");
	nhashes = p[1];
	nbytes = len - 2;
	if (nhashes < 1 || nhashes > TL_KEY_FILTER_MAX_HASHES)
		corrupt(&r, "key filter has an invalid number of hash functions");
	if (nbytes < 8 || nbytes % 8 != 0 || nbytes > TL_KEY_FILTER_MAX_BYTES)
		corrupt(&r, "key filter has an invalid size");
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

/* ---- frames ------------------------------------------------------------------------------ */

int
tl_archive_row_cmp(const void *a, const void *b)
{
	const TlArchiveRow *x = a;
	const TlArchiveRow *y = b;
	int			c;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	c = strcmp(x->origin, y->origin);
	if (c != 0)
		return c;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static void
write_columns(StringInfo raw, const TlArchiveRow *rows, int n, TlFrameMeta *meta)
{
	DictItem   *items = palloc(sizeof(DictItem) * n);
	int		   *ids = palloc(sizeof(int) * n);
	int			norigins;
	int			nkeys;
	int			nsources;
	int			nsrc_items = 0;

	appendBinaryStringInfo(raw, TL_FRAME_MAGIC, 4);
	put_varint(raw, n);

	/* ts: sorted, so deltas are non-negative */
	put_varint(raw, zigzag(rows[0].ts));
	for (int i = 1; i < n; i++)
		put_varint(raw, (uint64) (rows[i].ts - rows[i - 1].ts));

	/* origins */
	for (int i = 0; i < n; i++)
		items[i] = (DictItem) {rows[i].origin, (int) strlen(rows[i].origin), i};
	write_dict(raw, items, n, false, 0, ids, &norigins);
	if (norigins > 1)
		for (int i = 0; i < n; i++)
			put_varint(raw, ids[i]);

	/* seq: delta from the previous row of the same origin (rows are mostly one origin) */
	{
		int64	   *last = palloc0(sizeof(int64) * norigins);

		for (int i = 0; i < n; i++)
		{
			put_varint(raw, zigzag(rows[i].seq - last[ids[i]]));
			last[ids[i]] = rows[i].seq;
		}
		pfree(last);
	}

	/* keys: sorted dictionary, front-coded */
	for (int i = 0; i < n; i++)
		items[i] = (DictItem) {VARDATA_ANY(rows[i].key), (int) VARSIZE_ANY_EXHDR(rows[i].key), i};
	write_dict(raw, items, n, true, 0, ids, &nkeys);
	meta->min_key = cstring_to_text_with_len(items[0].s, items[0].len);
	meta->max_key = cstring_to_text_with_len(items[n - 1].s, items[n - 1].len);
	meta->key_filter = build_key_filter(items, n, nkeys);
	for (int i = 0; i < n; i++)
		put_varint(raw, ids[i]);

	/* sources: index 0 means none */
	for (int i = 0; i < n; i++)
		if (rows[i].source)
			items[nsrc_items++] = (DictItem) {VARDATA_ANY(rows[i].source),
				(int) VARSIZE_ANY_EXHDR(rows[i].source), i};
	for (int i = 0; i < n; i++)
		ids[i] = 0;
	write_dict(raw, items, nsrc_items, false, 1, ids, &nsources);
	for (int i = 0; i < n; i++)
		put_varint(raw, ids[i]);

	write_payloads(raw, rows, n);
	pfree(items);
	pfree(ids);
}

static ZSTD_CCtx *cctx = NULL;
static ZSTD_DCtx *dctx = NULL;

/*
 * Encode n rows (sorted by tl_archive_row_cmp) into one frame at zstd `level`. Fills *meta.
 */
bytea *
tl_frame_encode(const TlArchiveRow *rows, int n, int level, TlFrameMeta *meta)
{
	StringInfoData raw;
	size_t		bound;
	size_t		clen;
	bytea	   *out;

	Assert(n > 0);
	initStringInfo(&raw);
	write_columns(&raw, rows, n, meta);
	if ((Size) raw.len > tl_frame_max_raw())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a frame of %d records would be %d bytes, more than the limit of %zu", n, raw.len,
						tl_frame_max_raw()),
				 errhint("The limit grows with \"tieredlog.max_payload_size\".")));

	if (cctx == NULL && (cctx = ZSTD_createCCtx()) == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a zstd context")));
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	bound = ZSTD_compressBound(raw.len);
	out = palloc(VARHDRSZ + bound);
	clen = ZSTD_compress2(cctx, VARDATA(out), bound, raw.data, raw.len);
	if (ZSTD_isError(clen))
		elog(ERROR, "zstd compression failed: %s", ZSTD_getErrorName(clen));
	SET_VARSIZE(out, VARHDRSZ + clen);

	meta->nrows = n;
	meta->first_ts = rows[0].ts;
	meta->last_ts = rows[n - 1].ts;
	meta->raw_len = raw.len;
	meta->comp_len = (int32) clen;
	meta->checksum = (int64) XXH3_64bits(VARDATA(out), clen);
	pfree(raw.data);
	return out;
}

/*
 * The decompression buffer, kept for the life of the backend and grown as needed: freeing and
 * re-allocating half a megabyte per frame cost about a tenth of a tier 2 read in page faults.
 * Decoded rows never point into it (everything they keep is copied).
 */
static char *raw_buf = NULL;
static Size raw_cap = 0;

/* Buffers larger than this are not kept: one large frame must not pin its size for good. */
#define RAW_KEEP_BYTES	(1024 * 1024)

/*
 * The largest uncompressed frame: what the writer can produce (TL_FRAME_TARGET_BYTES plus one
 * record, with room for the payload's path table), and never less than 64 MB.
 */
Size
tl_frame_max_raw(void)
{
	Size		cap = Max((Size) 64 * 1024 * 1024,
						  4 * ((Size) TL_FRAME_TARGET_BYTES + (Size) tl_max_payload_size));

	return Min(cap, MaxAllocSize - 1);
}

static char *
raw_buffer(Size len)
{
	if (len > RAW_KEEP_BYTES)
		return palloc(len);
	if (len > raw_cap)
	{
		if (raw_buf)
			pfree(raw_buf);
		raw_buf = MemoryContextAlloc(TopMemoryContext, len);
		raw_cap = len;
	}
	return raw_buf;
}

static char *
decompress(const bytea *data, const TlFrameMeta *meta, Reader *r)
{
	int			clen = VARSIZE_ANY_EXHDR(data);
	char	   *raw;
	size_t		got;

	if (meta->raw_len <= 0 || (Size) meta->raw_len > tl_frame_max_raw())
		corrupt(r, psprintf("uncompressed size of %d bytes is outside 1 to %zu", meta->raw_len,
							tl_frame_max_raw()));
	if (clen != meta->comp_len || (int64) XXH3_64bits(VARDATA_ANY(data), clen) != meta->checksum)
		corrupt(r, "checksum of the compressed bytes does not match the frame directory");
	if (ZSTD_getFrameContentSize(VARDATA_ANY(data), clen) != (unsigned long long) meta->raw_len)
		corrupt(r, "uncompressed size does not match the frame directory");
	if (dctx == NULL && (dctx = ZSTD_createDCtx()) == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a zstd context")));
	raw = raw_buffer(meta->raw_len);
	got = ZSTD_decompressDCtx(dctx, raw, meta->raw_len, VARDATA_ANY(data), clen);
	if (ZSTD_isError(got) || got != (size_t) meta->raw_len)
		corrupt(r, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short frame");
	return raw;
}

/*
 * The uncompressed bytes of a frame, checked against its directory entry (a copy in the current
 * memory context).
 */
bytea *
tl_frame_decompress(const bytea *data, const TlFrameMeta *meta, int64 segment_id, int frame_no)
{
	Reader		r = {NULL, NULL, segment_id, frame_no};
	char	   *raw = decompress(data, meta, &r);
	bytea	   *out = palloc(VARHDRSZ + meta->raw_len);

	SET_VARSIZE(out, VARHDRSZ + meta->raw_len);
	memcpy(VARDATA(out), raw, meta->raw_len);
	if (raw != raw_buf)
		pfree(raw);
	return out;
}

/*
 * Skip row `row`'s payload values: advance every path's value streams past them, without
 * rebuilding anything (a row the reader does not want).
 */
static void
skip_row(DecPath *paths, int npaths, int row)
{
	for (int i = 0; i < npaths; i++)
	{
		DecPath    *p = &paths[i];
		int			len;

		switch (p->tags[row])
		{
			case TAG_INT:
				(void) get_varint(&p->ints);
				break;
			case TAG_NUM:
			case TAG_STR:
			case TAG_JSON:
				(void) get_bytes(&p->strs, &len);
				break;
			case TAG_HEX:
				len = get_count(&p->strs, INT_MAX / 2, "hex length");
				if (len > p->strs.end - p->strs.p)
					corrupt(&p->strs, "hex value runs past the end of the frame");
				p->strs.p += len;
				break;
			case TAG_UUID:
				if (16 > p->strs.end - p->strs.p)
					corrupt(&p->strs, "hex value runs past the end of the frame");
				p->strs.p += 16;
				break;
			default:
				break;
		}
	}
}

/*
 * Decode the uncompressed bytes of a frame; *nrows is set to its row count, which must be
 * expect_nrows unless that is negative. With `want`, only the rows it wants are rebuilt and
 * returned (*nrows is then their count, and *first_ts / *last_ts the frame's own bounds, for the
 * directory check); every row's timestamp, origin, seq and key index is still read and checked.
 */
static TlArchiveRow *
decode_raw(Reader *r, const char *raw, int raw_len, int expect_nrows, const TlFrameWant *want,
		   int *nrows, TimestampTz *first_ts, TimestampTz *last_ts)
{
	TlArchiveRow *rows;
	int			n;
	int			norigins;
	int			nsources;
	int			nkeys;
	DictEntry  *origins;
	DictEntry  *sources;
	DictEntry  *keys;
	text	  **key_text;
	text	  **source_text;
	int		   *key_ids;
	int			want_key = -1;
	bool	   *wanted;
	int			nwanted = 0;
	int64		last_seq_1 = 0;
	int64	   *last_seq;
	DecPath    *paths;
	int			npaths;
	RowBuilder	builder;
	int			out;

	r->p = (const uint8 *) raw;
	r->end = r->p + raw_len;
	if (raw_len < 5 || memcmp(raw, TL_FRAME_MAGIC, 4) != 0)
		corrupt(r, "bad magic");
	r->p += 4;
	n = get_count(r, TL_FRAME_MAX_ROWS, "row count");
	if ((expect_nrows >= 0 && n != expect_nrows) || n == 0)
		corrupt(r, "row count does not match the frame directory");
	rows = palloc(sizeof(TlArchiveRow) * n);
	wanted = palloc(sizeof(bool) * n);

	/* timestamps: sorted (non-negative deltas), each one a valid timestamptz */
	rows[0].ts = unzigzag(get_varint(r));
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
		{
			uint64		delta = get_varint(r);

			if (delta > (uint64) PG_INT64_MAX || pg_add_s64_overflow(rows[i - 1].ts, (int64) delta, &rows[i].ts))
				corrupt(r, "timestamp delta overflows");
		}
		if (!IS_VALID_TIMESTAMP(rows[i].ts))
			corrupt(r, "timestamp out of range");
		wanted[i] = want == NULL || (rows[i].ts >= want->from_ts && rows[i].ts < want->to_ts);
	}
	if (first_ts)
		*first_ts = rows[0].ts;
	if (last_ts)
		*last_ts = rows[n - 1].ts;

	origins = read_dict(r, false, DICT_NAMES, n, &norigins);
	if (norigins < 1)
		corrupt(r, "no origin");
	if (norigins > 1)
	{
		int		   *origin_ids = palloc(sizeof(int) * n);

		last_seq = palloc0(sizeof(int64) * norigins);
		for (int i = 0; i < n; i++)
			origin_ids[i] = get_count(r, norigins - 1, "origin index out of range");
		for (int i = 0; i < n; i++)
		{
			int			o = origin_ids[i];

			rows[i].origin = origins[o].s;
			if (pg_add_s64_overflow(last_seq[o], unzigzag(get_varint(r)), &rows[i].seq))
				corrupt(r, "seq delta overflows");
			last_seq[o] = rows[i].seq;
		}
	}
	else
	{
		for (int i = 0; i < n; i++)
		{
			rows[i].origin = origins[0].s;
			if (pg_add_s64_overflow(last_seq_1, unzigzag(get_varint(r)), &rows[i].seq))
				corrupt(r, "seq delta overflows");
			last_seq_1 = rows[i].seq;
		}
	}

	/* keys: a text per distinct key, made when a wanted row first uses it */
	if (want && want->key)
		keys = find_key_in_dict(r, n, VARDATA_ANY(want->key), VARSIZE_ANY_EXHDR(want->key),
								&nkeys, &want_key);
	else
		keys = read_dict(r, true, DICT_KEYS, n, &nkeys);
	if (nkeys < 1)
		corrupt(r, "no key");
	/* the key is not in this frame (its filter gave a false positive): nothing to rebuild */
	if (want && want->key && want_key < 0)
	{
		*nrows = 0;
		return rows;
	}
	key_text = palloc0(sizeof(text *) * nkeys);
	key_ids = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
	{
		key_ids[i] = get_count(r, nkeys - 1, "key index out of range");
		if (want && want->key && key_ids[i] != want_key)
			wanted[i] = false;
		if (wanted[i])
			nwanted++;
	}

	sources = read_dict(r, false, DICT_NAMES, n, &nsources);
	source_text = palloc0(sizeof(text *) * (nsources + 1));
	for (int i = 0; i < n; i++)
	{
		int			s = get_count(r, nsources, "source index out of range");

		if (!wanted[i])
			continue;
		if (key_text[key_ids[i]] == NULL)
			key_text[key_ids[i]] = cstring_to_text_with_len(keys[key_ids[i]].s, keys[key_ids[i]].len);
		rows[i].key = key_text[key_ids[i]];
		if (s > 0 && source_text[s] == NULL)
			source_text[s] = cstring_to_text_with_len(sources[s - 1].s, sources[s - 1].len);
		rows[i].source = s == 0 ? NULL : source_text[s];
	}

	*nrows = 0;
	if (nwanted == 0)
		return rows;
	paths = read_paths(r, n, &npaths);
	initStringInfo(&builder.bin);
	initStringInfo(&builder.text);
	initStringInfo(&builder.scratch);
	out = 0;
	for (int i = 0; i < n; i++)
	{
		if (!wanted[i])
		{
			skip_row(paths, npaths, i);
			continue;
		}
		rebuild_row(paths, i, &builder, &rows[i]);
		if (out != i)
			rows[out] = rows[i];
		out++;
		/* rows after the last wanted one need not be read at all */
		if (out == nwanted)
			break;
	}
	*nrows = out;
	return rows;
}

/*
 * Decode a frame. Checks the directory's checksum and sizes first; errors name the segment and
 * frame. The rows come back in the order they were encoded (ts, origin, seq).
 */
TlArchiveRow *
tl_frame_decode(const bytea *data, const TlFrameMeta *meta, int64 segment_id, int frame_no)
{
	int			n;

	return tl_frame_decode_want(data, meta, segment_id, frame_no, NULL, &n);
}

/*
 * Decode the rows of a frame that `want` wants (all of them when it is NULL), in frame order;
 * *nrows is set to their count. The same checks as tl_frame_decode.
 */
TlArchiveRow *
tl_frame_decode_want(const bytea *data, const TlFrameMeta *meta, int64 segment_id, int frame_no,
					 const TlFrameWant *want, int *nrows)
{
	Reader		r = {NULL, NULL, segment_id, frame_no};
	char	   *raw = decompress(data, meta, &r);
	TlArchiveRow *rows;
	TimestampTz first_ts;
	TimestampTz last_ts;

	rows = decode_raw(&r, raw, meta->raw_len, meta->nrows, want, nrows, &first_ts, &last_ts);
	if (raw != raw_buf)
		pfree(raw);
	if (first_ts != meta->first_ts || last_ts != meta->last_ts)
		corrupt(&r, "timestamps do not match the frame directory");
	return rows;
}

/*
 * Decode uncompressed frame bytes that have no directory entry (tieredlog._frame_decode, for
 * tests and fuzzing): the row count is the frame's own.
 */
TlArchiveRow *
tl_frame_decode_raw(const char *raw, int raw_len, int *nrows)
{
	Reader		r = {NULL, NULL, 0, 0};

	return decode_raw(&r, raw, raw_len, -1, NULL, nrows, NULL, NULL);
}

/* The same, rebuilding only the rows `want` wants (tieredlog._frame_decode_key). */
TlArchiveRow *
tl_frame_decode_raw_want(const char *raw, int raw_len, const TlFrameWant *want, int *nrows)
{
	Reader		r = {NULL, NULL, 0, 0};

	return decode_raw(&r, raw, raw_len, -1, want, nrows, NULL, NULL);
}
