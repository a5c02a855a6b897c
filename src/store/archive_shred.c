/*-------------------------------------------------------------------------
 * archive_shred.c
 *		Payloads into columns: each jsonb payload of a frame shredded into one column per
 *		path, with typed tags (integers, hex, uuids, strings, numbers, arrays as text).
 *		The format itself is described in archive.c.
 *
 * Locking: none (pure encoding).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>
#include <xxhash.h>

#include "common/hashfn.h"
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

typedef struct Path
{
	int			parent;
	int			depth;			/* the root is 0 */
	char	   *key;
	int			keylen;
	uint8	   *tags;			/* one per row */
	StringInfoData ints;
	StringInfoData strs;
} Path;

/*
 * (parent path, key) -> child path. A payload comes from any appender, and one object may have
 * tens of thousands of keys: a hash table keeps finding a key's path O(1) (a parent's children
 * searched in a list made a frame O(keys^2): hours of the worker's time for one wide record).
 */
typedef struct ChildKey
{
	int			parent;
	int			keylen;
	const char *key;			/* the entry's: its path's own copy */
} ChildKey;

typedef struct ChildEntry
{
	ChildKey	k;
	int			path;
	uint32		hash;
	char		status;			/* simplehash's */
} ChildEntry;

static inline uint32
child_key_hash(ChildKey k)
{
	return hash_combine(murmurhash32((uint32) k.parent), hash_bytes((const unsigned char *) k.key, k.keylen));
}

#define SH_PREFIX				childmap
#define SH_ELEMENT_TYPE			ChildEntry
#define SH_KEY_TYPE				ChildKey
#define SH_KEY					k
#define SH_HASH_KEY(tb, key)	child_key_hash(key)
#define SH_EQUAL(tb, a, b)		((a).parent == (b).parent && (a).keylen == (b).keylen && \
								 memcmp((a).key, (b).key, (a).keylen) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)		((a)->hash)
#define SH_SCOPE				static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct Shredder
{
	Path	   *paths;
	int			npaths;
	int			maxpaths;
	int			nrows;
	childmap_hash *children;
} Shredder;

/* An empty StringInfo of 16 bytes: most paths hold a few values (initStringInfo takes 1 kB). */
static void
init_small_string(StringInfo str)
{
	str->maxlen = 16;
	str->data = palloc(str->maxlen);
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

static int
new_path(Shredder *s, int parent, const char *key, int keylen)
{
	Path	   *p;

	/* bounded as it grows, not after the frame: each path costs its tags and buffers */
	if (s->npaths >= TL_FRAME_MAX_PATHS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the payloads of %d records have more than %d distinct paths", s->nrows,
						TL_FRAME_MAX_PATHS)));
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
	init_small_string(&p->ints);
	init_small_string(&p->strs);
	return s->npaths++;
}

static int
child_path(Shredder *s, int parent, const char *key, int keylen)
{
	ChildKey	k = {parent, keylen, key};
	ChildEntry *e = childmap_lookup(s->children, k);
	bool		found;
	int			child;

	if (e != NULL)
		return e->path;
	child = new_path(s, parent, key, keylen);
	k.key = s->paths[child].key;
	e = childmap_insert(s->children, k, &found);
	Assert(!found);
	e->path = child;
	return child;
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
		tl_arc_put_varint(&p->strs, len / 2);
		put_hex_bytes(&p->strs, str, len);
	}
	else
	{
		p->tags[row] = TAG_STR;
		tl_arc_put_bytes(&p->strs, str, len);
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
					tl_arc_put_varint(&p->ints, tl_arc_zigzag(strtoi64(t, NULL, 10)));
				}
				else
				{
					p->tags[row] = TAG_NUM;
					tl_arc_put_bytes(&p->strs, t, strlen(t));
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
				tl_arc_put_bytes(&p->strs, t, strlen(t));
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
		tl_arc_put_bytes(&s->paths[0].strs, t, strlen(t));
		pfree(t);
	}
}

void
tl_arc_write_payloads(StringInfo b, const TlArchiveRow *rows, int n)
{
	Shredder	s;

	s.nrows = n;
	s.npaths = 0;
	s.maxpaths = 16;
	s.paths = palloc(sizeof(Path) * s.maxpaths);
	s.children = childmap_create(CurrentMemoryContext, 64, NULL);
	new_path(&s, -1, NULL, 0);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		shred_row(&s, rows[i].payload, i);
	}

	tl_arc_put_varint(b, s.npaths);
	for (int i = 1; i < s.npaths; i++)
	{
		tl_arc_put_varint(b, s.paths[i].parent);
		tl_arc_put_bytes(b, s.paths[i].key, s.paths[i].keylen);
	}
	for (int i = 0; i < s.npaths; i++)
	{
		appendBinaryStringInfo(b, (char *) s.paths[i].tags, n);
		tl_arc_put_bytes(b, s.paths[i].ints.data, s.paths[i].ints.len);
		tl_arc_put_bytes(b, s.paths[i].strs.data, s.paths[i].strs.len);
	}
}
