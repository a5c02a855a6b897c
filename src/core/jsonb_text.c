/*-------------------------------------------------------------------------
 * jsonb_text.c
 *		A jsonb value's text form, byte for byte what JsonbToCString(out, container, len) prints,
 *		written by walking the container's JEntry arrays directly.
 *
 * The rid hashes the payload's text form (record.c), so every append and every applied record
 * prints its payload once. JsonbToCString goes through the generic iterator (a palloc'd iterator
 * per container level, a JsonbValue per token), copies every string (pnstrdup) before escaping it
 * byte by byte (escape_json), and prints numbers through the fmgr. Here strings are escaped in
 * runs (only '"', '\\' and bytes below 0x20 need escaping), keys and values are read in place,
 * and numbers go straight to numeric_out. The output format is JsonbToCString's without indent:
 * "key": value pairs and array elements separated by ", ", a raw scalar printed bare, and a
 * string ending at its first NUL byte (as pnstrdup + escape_json do; jsonb_in never makes one).
 * test/sql/append.sql checks the output against jsonb's own text form.
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

/* escape_json's output for the string s of len bytes (stopping at a NUL byte) */
static void
put_escaped(StringInfo out, const char *s, int len)
{
	const char *end = s + len;
	const char *run = s;
	const char *p;

	appendStringInfoCharMacro(out, '"');
	for (p = s; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (p > run)
			appendBinaryStringInfo(out, run, p - run);
		run = p + 1;
		switch (c)
		{
			case '\0':
				end = p;		/* where pnstrdup's copy ends */
				run = p;
				break;
			case '\b':
				appendBinaryStringInfo(out, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(out, "\\f", 2);
				break;
			case '\n':
				appendBinaryStringInfo(out, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(out, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(out, "\\t", 2);
				break;
			case '"':
				appendBinaryStringInfo(out, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(out, "\\\\", 2);
				break;
			default:
				appendStringInfo(out, "\\u%04x", (int) c);
				break;
		}
	}
	if (end > run)
		appendBinaryStringInfo(out, run, end - run);
	appendStringInfoCharMacro(out, '"');
}

static void put_container(StringInfo out, const JsonbContainer *jc);

/* One child of jc: entry `je` whose data starts at `offset` from `base` and is `len` bytes. */
static void
put_child(StringInfo out, const JsonbContainer *jc, JEntry je, const char *base, uint32 offset,
		  uint32 len)
{
	switch (je & JENTRY_TYPEMASK)
	{
		case JENTRY_ISSTRING:
			put_escaped(out, base + offset, len);
			break;
		case JENTRY_ISNUMERIC:
			{
				char	   *num = DatumGetCString(DirectFunctionCall1(numeric_out,
																	  PointerGetDatum(base + INTALIGN(offset))));

				appendStringInfoString(out, num);
				pfree(num);
			}
			break;
		case JENTRY_ISBOOL_TRUE:
			appendBinaryStringInfo(out, "true", 4);
			break;
		case JENTRY_ISBOOL_FALSE:
			appendBinaryStringInfo(out, "false", 5);
			break;
		case JENTRY_ISNULL:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case JENTRY_ISCONTAINER:
			put_container(out, (const JsonbContainer *) (base + INTALIGN(offset)));
			break;
		default:
			elog(ERROR, "unknown jsonb scalar type");
	}
}

/* the length of child i, given its start offset (JBE_ADVANCE_OFFSET's counterpart) */
static inline uint32
child_len(JEntry je, uint32 offset)
{
	return JBE_HAS_OFF(je) ? JBE_OFFLENFLD(je) - offset : JBE_OFFLENFLD(je);
}

static void
put_container(StringInfo out, const JsonbContainer *jc)
{
	uint32		count = JsonContainerSize(jc);

	check_stack_depth();
	if (JsonContainerIsObject(jc))
	{
		const char *base = (const char *) &jc->children[count * 2];
		uint32		key_off = 0;
		uint32		val_off;

		/* keys are children 0..count-1, values count..2*count-1; values start after the keys */
		val_off = count > 0 ? getJsonbOffset(jc, count) : 0;
		appendStringInfoCharMacro(out, '{');
		for (uint32 i = 0; i < count; i++)
		{
			JEntry		kje = jc->children[i];
			JEntry		vje = jc->children[i + count];
			uint32		klen = child_len(kje, key_off);
			uint32		vlen = child_len(vje, val_off);

			if (i > 0)
				appendBinaryStringInfo(out, ", ", 2);
			put_escaped(out, base + key_off, klen);
			appendBinaryStringInfo(out, ": ", 2);
			put_child(out, jc, vje, base, val_off, vlen);
			key_off += klen;
			val_off += vlen;
		}
		appendStringInfoCharMacro(out, '}');
	}
	else
	{
		const char *base = (const char *) &jc->children[count];
		uint32		off = 0;
		bool		raw = JsonContainerIsScalar(jc);

		if (!raw)
			appendStringInfoCharMacro(out, '[');
		for (uint32 i = 0; i < count; i++)
		{
			JEntry		je = jc->children[i];
			uint32		len = child_len(je, off);

			if (i > 0)
				appendBinaryStringInfo(out, ", ", 2);
			put_child(out, jc, je, base, off, len);
			off += len;
		}
		if (!raw)
			appendStringInfoCharMacro(out, ']');
	}
}

/* Append the text form of the jsonb container `jc` to out. */
void
tl_jsonb_append_text(StringInfo out, const JsonbContainer *jc)
{
	put_container(out, jc);
}
