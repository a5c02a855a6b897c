/*-------------------------------------------------------------------------
 * jsonb_text.c
 *		A jsonb value's text form, byte for byte what JsonbToCString(out, container, len) prints,
 *		written by walking the container's JEntry arrays directly.
 *
 * The rid hashes the payload's text form (record.c) and a seal's leaf hashes it too (seal.c), so
 * every append, every applied record and every record a seal or verify() reads prints its payload
 * once. JsonbToCString goes through the generic iterator (a palloc'd iterator per container level,
 * a JsonbValue per token), copies every string (pnstrdup) before escaping it byte by byte
 * (escape_json), and prints numbers through the fmgr. Here nothing is allocated: room is made in
 * the output once per item and the bytes are written through a pointer; strings are checked eight
 * bytes at a time (only '"', '\\' and bytes below 0x20 need escaping) and copied as they are when
 * none does; numbers are printed from the stored numeric by numeric_out's own algorithm
 * (get_str_from_var, base 10000 digits), NaN and the infinities (which jsonb cannot hold) by
 * numeric_out itself. The output format is JsonbToCString's without indent: "key": value pairs and
 * array elements separated by ", ", a raw scalar printed bare, and a string ending at its first NUL
 * byte (as pnstrdup + escape_json do; jsonb_in never makes one). test/sql/append.sql and
 * test/sql/ledger.sql check the output against jsonb's own text form.
 *
 * The container must be one jsonb_in or jsonb_recv made, or one that check_binary_payload (wire.c)
 * accepted: offsets are not checked again here.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "core/record.h"

/* strings are escaped in chunks of this many input bytes, each with room for its worst case */
#define ESCAPE_CHUNK	4096

/* numeric's stored header (numeric.c; an on-disk format, so fixed): see put_numeric */
#define NUM_SIGN_MASK			0xC000
#define NUM_NEG					0x4000
#define NUM_SHORT				0x8000
#define NUM_SPECIAL				0xC000
#define NUM_SHORT_SIGN_MASK		0x2000
#define NUM_SHORT_DSCALE_MASK	0x1F80
#define NUM_SHORT_DSCALE_SHIFT	7
#define NUM_SHORT_WEIGHT_SIGN	0x0040
#define NUM_SHORT_WEIGHT_MASK	0x003F
#define NUM_DSCALE_MASK			0x3FFF
#define NUM_DEC_DIGITS			4

/*
 * Where the text being written must end, as a length of `out`, or 0 for no bound
 * (tl_jsonb_append_text_bounded). Checked only when the buffer grows, so the hot path pays
 * nothing; the text may pass it by what the buffer had room for and one request more (a number's
 * digits, a chunk of escapes), and the bounded writer checks the end. Set by each entry point.
 */
static Size text_bound;
static Size text_max_len;		/* the bound's max_len, for the message */

static pg_noinline void
text_too_long(Size bound)
{
	text_bound = 0;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("record payload's text form is more than %zu bytes", bound),
			 errdetail("Numbers with very many digits print far longer than they are stored."),
			 errhint("The limit is 8 times \"tieredlog.max_payload_size\".")));
}

static inline void
grow(StringInfo out, Size used, Size need)
{
	if (text_bound != 0 && used > text_bound)
		text_too_long(text_max_len);
	out->len = (int) used;
	enlargeStringInfo(out, (int) need);
}

/* Room for `need` more bytes (and StringInfo's terminating NUL); the write position. */
static inline char *
room(StringInfo out, Size need)
{
	if ((Size) out->len + need + 1 > (Size) out->maxlen)
		grow(out, out->len, need);
	return out->data + out->len;
}

static inline void
put_raw(StringInfo out, const char *s, int len)
{
	memcpy(room(out, len), s, len);
	out->len += len;
}

#define SWAR_ONES	UINT64CONST(0x0101010101010101)
#define SWAR_HIGHS	UINT64CONST(0x8080808080808080)

/* Does any of the 8 bytes need escaping: below 0x20, '"' or '\\'? (exact, not an estimate) */
static inline bool
needs_escape8(uint64 x)
{
	uint64		quote = x ^ (SWAR_ONES * '"');
	uint64		bslash = x ^ (SWAR_ONES * '\\');

	return (((x - SWAR_ONES * 0x20) & ~x) |
			((quote - SWAR_ONES) & ~quote) |
			((bslash - SWAR_ONES) & ~bslash)) & SWAR_HIGHS;
}

/*
 * The n (1 to 7) bytes at s in a word as memcpy would load them, the rest of it filled with 'a' (a
 * byte that needs no escaping), so that needs_escape8 tells about those n bytes alone. Reads only
 * s[0:n); built in a register (bytes stored into a union and read back as a word stall the load).
 */
static inline uint64
load_tail(const char *s, int n)
{
#ifndef WORDS_BIGENDIAN
	uint64		x = 0;
	int			at = 0;

	if (n & 4)
	{
		uint32		v;

		memcpy(&v, s, 4);
		x = v;
		at = 4;
	}
	if (n & 2)
	{
		uint16		v;

		memcpy(&v, s + at, 2);
		x |= (uint64) v << (8 * at);
		at += 2;
	}
	if (n & 1)
		x |= (uint64) (unsigned char) s[at] << (8 * at);
	return x | (SWAR_ONES * 'a') << (8 * n);
#else
	union
	{
		uint64		w;
		char		c[8];
	}			u;

	u.w = SWAR_ONES * 'a';
	memcpy(u.c, s, n);
	return u.w;
#endif
}

/* escape_json's output for the byte c, one that needs escaping (not NUL) */
static inline char *
escape_byte(char *dst, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	*dst++ = '\\';
	switch (c)
	{
		case '\b':
			*dst++ = 'b';
			break;
		case '\f':
			*dst++ = 'f';
			break;
		case '\n':
			*dst++ = 'n';
			break;
		case '\r':
			*dst++ = 'r';
			break;
		case '\t':
			*dst++ = 't';
			break;
		case '"':
			*dst++ = '"';
			break;
		case '\\':
			*dst++ = '\\';
			break;
		default:
			/* "\\u%04x" of a byte below 0x20 */
			*dst++ = 'u';
			*dst++ = '0';
			*dst++ = '0';
			*dst++ = hex[c >> 4];
			*dst++ = hex[c & 0xf];
			break;
	}
	return dst;
}

/*
 * escape_json's output for s[0:len) at dst, which has room for 6 * len + 8 bytes: a word of eight
 * bytes at a time (the last one padded) is copied as it is when none of its bytes needs escaping,
 * else its bytes one by one. Sets *nul when a NUL byte ended the string (where pnstrdup's copy
 * ends). Returns the new write position. `limit`, when not NULL, is the end of the memory that may
 * be read (the jsonb container's data): a last word that lies before it is loaded whole and its
 * bytes past the string masked, without load_tail's branches.
 */
static pg_attribute_always_inline char *
escape_chunk(char *dst, const char *s, int len, bool *nul, const char *limit)
{
	const char *end = s + len;

	while (s < end)
	{
		int			n = Min(end - s, 8);
		uint64		x;

		if (n == 8)
			memcpy(&x, s, 8);
#ifndef WORDS_BIGENDIAN
		else if (limit != NULL && s + 8 <= limit)
		{
			uint64		keep = (UINT64CONST(1) << (8 * n)) - 1;

			memcpy(&x, s, 8);
			x = (x & keep) | (SWAR_ONES * 'a' & ~keep);
		}
#endif
		else
			x = load_tail(s, n);
		if (likely(!needs_escape8(x)))
		{
			memcpy(dst, &x, 8);		/* the padding of a tail is overwritten next */
			dst += n;
			s += n;
			continue;
		}
		for (const char *stop = s + n; s < stop; s++)
		{
			unsigned char c = (unsigned char) *s;

			if (c >= 0x20 && c != '"' && c != '\\')
				*dst++ = (char) c;
			else if (c == '\0')
			{
				*nul = true;
				return dst;
			}
			else
				dst = escape_byte(dst, c);
		}
	}
	return dst;
}

/* escape_json's output for the string s of len bytes (stopping at a NUL byte) */
static void
put_escaped(StringInfo out, const char *s, uint32 len)
{
	bool		nul = false;
	char	   *dst = room(out, 2 + 8 + (Size) Min(len, ESCAPE_CHUNK) * 6);

	*dst++ = '"';
	while (len > 0 && !nul)
	{
		int			n = Min(len, ESCAPE_CHUNK);

		dst = escape_chunk(dst, s, n, &nul, NULL);
		out->len = dst - out->data;
		s += n;
		len -= n;
		if (len > 0 && !nul)
			dst = room(out, 1 + 8 + (Size) Min(len, ESCAPE_CHUNK) * 6);
	}
	*dst++ = '"';
	out->len = dst - out->data;
}

/*
 * numeric_out's text of the numeric datum at p (as stored inside a jsonb container): the digits
 * printed as get_str_from_var does, with its types and arithmetic, so that any stored value prints
 * the same bytes. NaN and the infinities, and anything not stored plainly, go to numeric_out.
 */
static void
put_numeric(StringInfo out, const char *p)
{
	const char *data = VARDATA_ANY(p);
	int			size = VARATT_IS_EXTENDED(p) && !VARATT_IS_SHORT(p) ? -1 : (int) VARSIZE_ANY_EXHDR(p);
	uint16		header = 0;
	int			sign;
	int			weight;
	int			dscale;
	int			hdr;
	int			ndigits;
	int			d;
	int			i;
	char	   *str;
	char	   *cp;

	if (size >= (int) sizeof(uint16))
		memcpy(&header, data, sizeof(uint16));
	if (size < (int) sizeof(uint16) || (header & NUM_SIGN_MASK) == NUM_SPECIAL ||
		(!(header & NUM_SHORT) && size < 2 * (int) sizeof(uint16)))
	{
		char	   *num = DatumGetCString(DirectFunctionCall1(numeric_out, PointerGetDatum(p)));

		put_raw(out, num, strlen(num));
		pfree(num);
		return;
	}
	if (header & NUM_SHORT)
	{
		sign = (header & NUM_SHORT_SIGN_MASK) ? NUM_NEG : 0;
		dscale = (header & NUM_SHORT_DSCALE_MASK) >> NUM_SHORT_DSCALE_SHIFT;
		weight = ((header & NUM_SHORT_WEIGHT_SIGN) ? ~NUM_SHORT_WEIGHT_MASK : 0) |
			(header & NUM_SHORT_WEIGHT_MASK);
		hdr = sizeof(uint16);
	}
	else
	{
		int16		w;

		sign = header & NUM_SIGN_MASK;
		dscale = header & NUM_DSCALE_MASK;
		memcpy(&w, data + sizeof(uint16), sizeof(int16));
		weight = w;
		hdr = 2 * sizeof(uint16);
	}
	ndigits = (size - hdr) / (int) sizeof(int16);
	data += hdr;

	/* get_str_from_var's room: digits before the point, dscale after, sign and point */
	i = (weight + 1) * NUM_DEC_DIGITS;
	if (i <= 0)
		i = 1;
	str = room(out, i + dscale + NUM_DEC_DIGITS + 2);
	cp = str;
	if (sign == NUM_NEG)
		*cp++ = '-';
	if (weight < 0)
	{
		d = weight + 1;
		*cp++ = '0';
	}
	else
	{
		for (d = 0; d <= weight; d++)
		{
			int16		dig = 0;
			int16		d1;
			bool		putit = (d > 0);

			if (d < ndigits)
				memcpy(&dig, data + d * sizeof(int16), sizeof(int16));
			/* in the first digit, no leading zeroes */
			d1 = dig / 1000;
			dig -= d1 * 1000;
			putit |= (d1 > 0);
			if (putit)
				*cp++ = d1 + '0';
			d1 = dig / 100;
			dig -= d1 * 100;
			putit |= (d1 > 0);
			if (putit)
				*cp++ = d1 + '0';
			d1 = dig / 10;
			dig -= d1 * 10;
			putit |= (d1 > 0);
			if (putit)
				*cp++ = d1 + '0';
			*cp++ = dig + '0';
		}
	}
	if (dscale > 0)
	{
		char	   *endcp;

		*cp++ = '.';
		endcp = cp + dscale;
		for (i = 0; i < dscale; d++, i += NUM_DEC_DIGITS)
		{
			int16		dig = 0;
			int16		d1;

			if (d >= 0 && d < ndigits)
				memcpy(&dig, data + d * sizeof(int16), sizeof(int16));
			d1 = dig / 1000;
			dig -= d1 * 1000;
			*cp++ = d1 + '0';
			d1 = dig / 100;
			dig -= d1 * 100;
			*cp++ = d1 + '0';
			d1 = dig / 10;
			dig -= d1 * 10;
			*cp++ = d1 + '0';
			*cp++ = dig + '0';
		}
		cp = endcp;
	}
	out->len += cp - str;
}

/*
 * The writers below keep the write position in a local pointer `dst` (out->len is brought up to
 * date only around calls that append through `out`): room_at makes room for `need` bytes at dst
 * and returns dst, moved if the buffer was enlarged.
 */
static inline char *
room_at(StringInfo out, char *dst, Size need)
{
	Size		used = dst - out->data;

	if (used + need + 1 > (Size) out->maxlen)
		grow(out, used, need);
	return out->data + used;
}

/* `sep` (", " or nothing), then the string s[0:len) quoted and escaped, then `after` (": " or nothing) */
static pg_attribute_always_inline char *
put_string_at(StringInfo out, char *dst, bool sep, const char *s, uint32 len, bool colon,
			  const char *limit)
{
	bool		nul = false;

	if (unlikely(len > ESCAPE_CHUNK))
	{
		out->len = dst - out->data;
		if (sep)
			put_raw(out, ", ", 2);
		put_escaped(out, s, len);
		if (colon)
			put_raw(out, ": ", 2);
		return out->data + out->len;
	}
	/* separator 2, quotes 2, ": " 2, escaped 6 * len, escape_chunk's word of slack 8 */
	dst = room_at(out, dst, 14 + (Size) len * 6);
	if (sep)
	{
		*dst++ = ',';
		*dst++ = ' ';
	}
	*dst++ = '"';
	dst = escape_chunk(dst, s, len, &nul, limit);
	*dst++ = '"';
	if (colon)
	{
		*dst++ = ':';
		*dst++ = ' ';
	}
	return dst;
}

static char *put_container_at(StringInfo out, char *dst, const JsonbContainer *jc, const char *limit);

/* One child of a container: entry `je` whose data starts at `offset` from `base`, `len` bytes. */
static inline char *
put_child_at(StringInfo out, char *dst, bool sep, JEntry je, const char *base, uint32 offset,
			 uint32 len, const char *limit)
{
	if ((je & JENTRY_TYPEMASK) == JENTRY_ISSTRING)
		return put_string_at(out, dst, sep, base + offset, len, false, limit);
	dst = room_at(out, dst, 8);
	if (sep)
	{
		*dst++ = ',';
		*dst++ = ' ';
	}
	switch (je & JENTRY_TYPEMASK)
	{
		case JENTRY_ISNUMERIC:
			out->len = dst - out->data;
			put_numeric(out, base + INTALIGN(offset));
			return out->data + out->len;
		case JENTRY_ISBOOL_TRUE:
			memcpy(dst, "true", 4);
			return dst + 4;
		case JENTRY_ISBOOL_FALSE:
			memcpy(dst, "false", 5);
			return dst + 5;
		case JENTRY_ISNULL:
			memcpy(dst, "null", 4);
			return dst + 4;
		case JENTRY_ISCONTAINER:
			return put_container_at(out, dst, (const JsonbContainer *) (base + INTALIGN(offset)), limit);
		default:
			elog(ERROR, "unknown jsonb scalar type");
	}
	return dst;					/* not reached */
}

/* the length of child i, given its start offset (JBE_ADVANCE_OFFSET's counterpart) */
static inline uint32
child_len(JEntry je, uint32 offset)
{
	return JBE_HAS_OFF(je) ? JBE_OFFLENFLD(je) - offset : JBE_OFFLENFLD(je);
}

static char *
put_container_at(StringInfo out, char *dst, const JsonbContainer *jc, const char *limit)
{
	uint32		count = JsonContainerSize(jc);

	check_stack_depth();
	if (JsonContainerIsObject(jc))
	{
		const char *base = (const char *) &jc->children[count * 2];
		uint32		key_off = 0;
		uint32		val_off = 0;

		/* keys are children 0..count-1, values count..2*count-1; values start after the keys */
		for (uint32 i = 0; i < count; i++)
			val_off += child_len(jc->children[i], val_off);
		dst = room_at(out, dst, 1);
		*dst++ = '{';
		for (uint32 i = 0; i < count; i++)
		{
			JEntry		kje = jc->children[i];
			JEntry		vje = jc->children[i + count];
			uint32		klen = child_len(kje, key_off);
			uint32		vlen = child_len(vje, val_off);

			dst = put_string_at(out, dst, i > 0, base + key_off, klen, true, limit);
			dst = put_child_at(out, dst, false, vje, base, val_off, vlen, limit);
			key_off += klen;
			val_off += vlen;
		}
		dst = room_at(out, dst, 1);
		*dst++ = '}';
	}
	else
	{
		const char *base = (const char *) &jc->children[count];
		uint32		off = 0;
		bool		raw = JsonContainerIsScalar(jc);

		if (!raw)
		{
			dst = room_at(out, dst, 1);
			*dst++ = '[';
		}
		for (uint32 i = 0; i < count; i++)
		{
			JEntry		je = jc->children[i];
			uint32		len = child_len(je, off);

			dst = put_child_at(out, dst, i > 0, je, base, off, len, limit);
			off += len;
		}
		if (!raw)
		{
			dst = room_at(out, dst, 1);
			*dst++ = ']';
		}
	}
	return dst;
}

/*
 * The end of a container's children's data: every byte any of its strings (or its nested
 * containers' strings) occupies lies before it.
 */
static const char *
container_end(const JsonbContainer *jc)
{
	uint32		count = JsonContainerSize(jc);
	uint32		nchildren = JsonContainerIsObject(jc) ? count * 2 : count;
	uint32		end = 0;

	for (uint32 i = 0; i < nchildren; i++)
		end += child_len(jc->children[i], end);
	return (const char *) &jc->children[nchildren] + end;
}

/* Append the text form of the jsonb container `jc` to out. */
void
tl_jsonb_append_text(StringInfo out, const JsonbContainer *jc)
{
	char	   *end;

	text_bound = 0;
	end = put_container_at(out, out->data + out->len, jc, container_end(jc));
	out->len = end - out->data;
	out->data[out->len] = '\0';
}

/*
 * The same for a payload that enters the log (an append, a peer's record): its text may take at
 * most max_len bytes, else an error (54000) before much more is printed. A jsonb number is stored
 * in a few bytes whatever its weight and scale, and may print 147 000 digits.
 */
void
tl_jsonb_append_text_bounded(StringInfo out, const JsonbContainer *jc, Size max_len)
{
	Size		start = out->len;
	char	   *end;

	text_bound = Max(start + max_len, 1);
	text_max_len = max_len;
	end = put_container_at(out, out->data + out->len, jc, container_end(jc));
	text_bound = 0;
	out->len = end - out->data;
	out->data[out->len] = '\0';
	if ((Size) out->len - start > max_len)
		text_too_long(max_len);
}
