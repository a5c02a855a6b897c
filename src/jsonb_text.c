/*-------------------------------------------------------------------------
 * jsonb_text.c
 *		A jsonb value's text form, byte for byte what PostgreSQL's JsonbToCString(NULL, ...) returns
 *		(the form the canonical record encoding, record.c, puts in every rid and seal leaf), written
 *		straight from the on-disk container: no iterator, no per-value palloc except numeric_out.
 *
 *		JsonbToCString (jsonb.c, PostgreSQL 15) writes, without indentation:
 *			object   {"k": v, "k2": v2}     keys in stored order, ", " between pairs, ": " after a key
 *			array    [a, b]                 a raw scalar (top level) without the brackets
 *			string   escape_json: " \ \b \f \n \r \t escaped, other bytes below 0x20 as \u00xx
 *			         (lower-case hex), everything else as is; the string ends at a NUL byte
 *			numeric  numeric_out
 *			bool     true / false; null   null
 *		A container is walked through its JEntry array as jsonb_util.c does (offsets stored every
 *		JB_OFFSET_STRIDE entries, lengths otherwise; numerics and containers INTALIGNed).
 *
 *		The seal checks it against JsonbToCString in the regression suite (ledger.sql: the seal root
 *		of records with nested, escaped, unicode and numeric payloads equals merkle_root() over
 *		record_leaf_hash(), which goes through JsonbToCString).
 *
 * Locking: none.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jsonb_text.h"

/*
 * How escape_json writes each byte: 0 as itself, else the letter after the backslash, 'u' for
 * \u00xx, or STOP for NUL (escape_json works on a C string, so the text ends there).
 */
#define STOP	0xff
static uint8 escape_of[256];
static bool escape_ready = false;

static void
init_escapes(void)
{
	for (int c = 0; c < 0x20; c++)
		escape_of[c] = 'u';
	escape_of[0] = STOP;
	escape_of['\b'] = 'b';
	escape_of['\f'] = 'f';
	escape_of['\n'] = 'n';
	escape_of['\r'] = 'r';
	escape_of['\t'] = 't';
	escape_of['"'] = '"';
	escape_of['\\'] = '\\';
	escape_ready = true;
}

#define CHUNK	4096			/* input bytes per buffer enlargement (an escape takes 6 at most) */

static void
put_string(StringInfo out, const char *s, int len)
{
	static const char hex[] = "0123456789abcdef";

	appendStringInfoCharMacro(out, '"');
	for (int start = 0; start < len; start += CHUNK)
	{
		int			end = Min(len, start + CHUNK);
		char	   *d;

		enlargeStringInfo(out, (end - start) * 6 + 1);
		d = out->data + out->len;
		for (int i = start; i < end; i++)
		{
			uint8		c;
			uint8		e;

			/* eight plain bytes at a time: none below 0x20, no '"', no '\\' */
			while (i + 8 <= end)
			{
				uint64		w;
				uint64		q;
				uint64		b;

				memcpy(&w, s + i, 8);
				q = w ^ UINT64CONST(0x2222222222222222);
				b = w ^ UINT64CONST(0x5c5c5c5c5c5c5c5c);
				if ((((w - UINT64CONST(0x2020202020202020)) & ~w) |
					 ((q - UINT64CONST(0x0101010101010101)) & ~q) |
					 ((b - UINT64CONST(0x0101010101010101)) & ~b)) & UINT64CONST(0x8080808080808080))
					break;
				memcpy(d, &w, 8);
				d += 8;
				i += 8;
			}
			if (i >= end)
				break;
			c = (uint8) s[i];
			e = escape_of[c];

			if (likely(e == 0))
				*d++ = (char) c;
			else if (e == STOP)
			{
				end = len;		/* ends the outer loop too */
				break;
			}
			else if (e == 'u')
			{
				memcpy(d, "\\u00", 4);
				d[4] = hex[c >> 4];
				d[5] = hex[c & 0xf];
				d += 6;
			}
			else
			{
				d[0] = '\\';
				d[1] = (char) e;
				d += 2;
			}
		}
		out->len = d - out->data;
		out->data[out->len] = '\0';
		if (end == len)
			break;
	}
	appendStringInfoCharMacro(out, '"');
}

static void put_container(StringInfo out, const JsonbContainer *jc);

/* A few bytes, without a call when they fit (the common case). */
static inline void
put_short(StringInfo out, const char *s, int len)
{
	if (unlikely(out->len + len >= out->maxlen))
		enlargeStringInfo(out, len);
	memcpy(out->data + out->len, s, len);
	out->len += len;
	out->data[out->len] = '\0';
}

/* One JEntry's value: `data` is the container's data area, `off` and `len` its byte range. */
static void
put_value(StringInfo out, JEntry entry, const char *data, uint32 off, uint32 len)
{
	if (JBE_ISSTRING(entry))
		put_string(out, data + off, len);
	else if (JBE_ISNUMERIC(entry))
	{
		char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
														   PointerGetDatum(data + INTALIGN(off))));

		put_short(out, s, strlen(s));
		pfree(s);
	}
	else if (JBE_ISBOOL_TRUE(entry))
		put_short(out, "true", 4);
	else if (JBE_ISBOOL_FALSE(entry))
		put_short(out, "false", 5);
	else if (JBE_ISNULL(entry))
		put_short(out, "null", 4);
	else if (JBE_ISCONTAINER(entry))
	{
		check_stack_depth();
		put_container(out, (const JsonbContainer *) (data + INTALIGN(off)));
	}
	else
		elog(ERROR, "unknown jsonb entry type 0x%08x", entry);
}

static void
put_container(StringInfo out, const JsonbContainer *jc)
{
	uint32		count = JsonContainerSize(jc);
	bool		object = JsonContainerIsObject(jc);
	uint32		entries = object ? count * 2 : count;
	const char *data = (const char *) &jc->children[entries];
	uint32		off = 0;
	uint32	   *offs;
	uint32	   *lens;
	uint32		local[2 * 32];

	/* the byte range of every entry, in one pass (an offset is stored every JB_OFFSET_STRIDE) */
	if (entries <= 32)
		offs = local;
	else
		offs = palloc(sizeof(uint32) * 2 * entries);
	lens = offs + entries;
	for (uint32 i = 0; i < entries; i++)
	{
		uint32		f = JBE_OFFLENFLD(jc->children[i]);

		offs[i] = off;
		lens[i] = JBE_HAS_OFF(jc->children[i]) ? f - off : f;
		off += lens[i];
	}

	if (JsonContainerIsScalar(jc))
	{
		/* a raw scalar: an array of one element, written without brackets */
		put_value(out, jc->children[0], data, offs[0], lens[0]);
	}
	else if (object)
	{
		put_short(out, "{", 1);
		for (uint32 i = 0; i < count; i++)
		{
			if (i > 0)
				put_short(out, ", ", 2);
			put_value(out, jc->children[i], data, offs[i], lens[i]);
			put_short(out, ": ", 2);
			put_value(out, jc->children[count + i], data, offs[count + i], lens[count + i]);
		}
		put_short(out, "}", 1);
	}
	else
	{
		put_short(out, "[", 1);
		for (uint32 i = 0; i < count; i++)
		{
			if (i > 0)
				put_short(out, ", ", 2);
			put_value(out, jc->children[i], data, offs[i], lens[i]);
		}
		put_short(out, "]", 1);
	}
	if (offs != local)
		pfree(offs);
}

/* Append the text form of `jb` (detoasted) to out. */
void
tl_jsonb_text(StringInfo out, const Jsonb *jb)
{
	if (!escape_ready)
		init_escapes();
	put_container(out, &jb->root);
}
