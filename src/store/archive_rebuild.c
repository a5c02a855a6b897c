/*-------------------------------------------------------------------------
 * archive_rebuild.c
 *		Columns back into payloads: the path table read and checked (count, depth), and each
 *		row's payload rebuilt straight into jsonb's binary form.
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

/*
 * appendBinaryStringInfo without the call when the buffer has room (rebuilding a payload appends
 * a few bytes at a time, a dozen times per row). The buffers are the RowBuilder's, NUL-terminated
 * as StringInfo keeps them.
 */
static inline void
buf_append(StringInfo b, const void *p, int n)
{
	if (unlikely(n >= b->maxlen - b->len))
		enlargeStringInfo(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void
buf_append_char(StringInfo b, char c)
{
	if (unlikely(1 >= b->maxlen - b->len))
		enlargeStringInfo(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

/* `len` bytes between double quotes (a JSON string that needs no escape). */
static inline void
append_quoted(StringInfo b, const char *s, int len)
{
	if (unlikely(len + 2 >= b->maxlen - b->len))
		enlargeStringInfo(b, len + 2);
	b->data[b->len++] = '"';
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}

static Jsonb *
parse_jsonb_text(Reader *r, const char *s, int len)
{
	char	   *t = pnstrdup(s, len);
	Datum		d;

	/* a frame that passed its checksums holds valid text; still, never trust it blindly */
	if (len == 0)
		tl_arc_corrupt(r, "empty JSON text");
	if (memchr(s, '\0', len) != NULL)
		tl_arc_corrupt(r, "NUL byte inside JSON text");
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
		tl_arc_corrupt(r, "number text contains a NUL byte");
	/* numeric has at most 131072 digits before the point and 16383 after it */
	if (len == 0 || len > 256 * 1024)
		tl_arc_corrupt(r, "number text is empty or longer than any numeric");
	if (!is_canonical_number(s, len))
	{
		const char *u = s + (len > 0 && (s[0] == '-' || s[0] == '+'));
		int			ulen = len - (int) (u - s);

		if ((ulen >= 3 && pg_strncasecmp(u, "nan", 3) == 0) ||
			(ulen >= 3 && pg_strncasecmp(u, "inf", 3) == 0))
			tl_arc_corrupt(r, "number is not finite");
		tl_arc_corrupt(r, "number text is not in its canonical form");
	}
	{
		char		local[64];

		/* numeric_in wants a C string: most numbers fit the stack */
		t = len < (int) sizeof(local) ? local : palloc(len + 1);
		memcpy(t, s, len);
		t[len] = '\0';
		n = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(t),
												ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		if (t != local)
			pfree(t);
	}
	if (numeric_is_nan(n) || numeric_is_inf(n))
		tl_arc_corrupt(r, "number is not finite");
	return n;
}

/* A TAG_JSON value (a JSON text the shredder kept whole, checked as jsonb parses it) as jsonb. */
static void
json_value(DecPath *p, JsonbValue *v)
{
	int			len;
	const char *s = tl_arc_get_bytes(&p->strs, &len);
	Jsonb	   *j = parse_jsonb_text(&p->strs, s, len);

	v->type = jbvBinary;
	v->val.binary.data = &j->root;
	v->val.binary.len = VARSIZE(j) - VARHDRSZ;
}

/*
 * Values are written twice while a row is rebuilt: into the jsonb, and as the jsonb's text form
 * (what JsonbToCString would print), which the rid is computed from. Writing the text here, from
 * values already at hand, costs far less than printing the finished jsonb again. Children are
 * visited in jsonb key order (shorter keys first, then bytewise) so that the text comes out in
 * the order JsonbToCString prints; the jsonb itself does not care.
 */
/*
 * A JSON string as escape_json prints it. Most strings need no escaping (no control character,
 * quote or backslash): those are copied in one piece.
 */
/* Does any of the 8 bytes of w need escaping (below 0x20, '"' or '\\')? (Exact, bytes >= 0x80 never.) */
static inline bool
escape_in_word(uint64 w)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 highs = UINT64CONST(0x8080808080808080);
	uint64		q = w ^ (ones * '"');
	uint64		bs = w ^ (ones * '\\');

	return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & highs;
}

/* Bytes of a string or key that are not all ASCII: valid in the database encoding? */
static void
verify_encoding(Reader *r, const char *s, int len)
{
	if (!pg_verify_mbstr(GetDatabaseEncoding(), s, len, true))
		tl_arc_corrupt(r, "payload text is not valid in the database encoding");
}

/*
 * The scan for characters to escape also finds NUL bytes (control characters: the slow path
 * refuses them; jsonb strings hold none, the text form would be cut at one) and bytes above 0x7f
 * (only such strings are checked against the database encoding: ASCII without NUL is valid in
 * every server encoding).
 */
static void
text_json_string(RowBuilder *b, Reader *r, const char *s, int len)
{
	int			i = 0;
	uint64		seen = 0;

	/* eight bytes at a time, then the rest */
	for (; i + 8 <= len; i += 8)
	{
		uint64		w;

		memcpy(&w, s + i, 8);
		if (escape_in_word(w))
			break;
		seen |= w;
	}
	for (; i < len; i++)
	{
		uint8		c = (uint8) s[i];

		if (c < 0x20 || c == '"' || c == '\\')
		{
			if (memchr(s, '\0', len) != NULL)
				tl_arc_corrupt(r, "NUL byte inside a string");
			verify_encoding(r, s, len);
			resetStringInfo(&b->scratch);
			appendBinaryStringInfo(&b->scratch, s, len);
			escape_json(&b->text, b->scratch.data);
			return;
		}
		seen |= c;
	}
	if (seen & UINT64CONST(0x8080808080808080))
		verify_encoding(r, s, len);
	append_quoted(&b->text, s, len);
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

	buf_append(b, n, len);
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
			buf_append(&b->text, "null", 4);
			return JENTRY_ISNULL;
		case TAG_TRUE:
			buf_append(&b->text, "true", 4);
			return JENTRY_ISBOOL_TRUE;
		case TAG_FALSE:
			buf_append(&b->text, "false", 5);
			return JENTRY_ISBOOL_FALSE;
		case TAG_INT:
			{
				int64		i = tl_arc_unzigzag(tl_arc_get_varint(&c->ints));

				len = pg_lltoa(i, digits);
				buf_append(&b->text, digits, len);
				return bin_numeric(&b->bin, int64_to_numeric(i));
			}
		case TAG_NUM:
			{
				Numeric		n;

				s = tl_arc_get_bytes(&c->strs, &len);
				n = decode_number(&c->strs, s, len);
				/* the encoder stored numeric_out's text; decode_number checked it is */
				buf_append(&b->text, s, len);
				return bin_numeric(&b->bin, n);
			}
		case TAG_STR:
			/* text_json_string refuses NUL bytes and checks the encoding */
			s = tl_arc_get_bytes(&c->strs, &len);
			text_json_string(b, &c->strs, s, len);
			buf_append(&b->bin, s, len);
			return JENTRY_ISSTRING | len;
		case TAG_JSON:
			{
				int			pad;
				int			text_at = b->text.len;

				json_value(c, &v);
				(void) JsonbToCString(&b->text, v.val.binary.data, v.val.binary.len);
				verify_encoding(&c->strs, b->text.data + text_at, b->text.len - text_at);
				pad = bin_pad(&b->bin);
				buf_append(&b->bin, v.val.binary.data, v.val.binary.len);
				return JENTRY_ISCONTAINER | (pad + v.val.binary.len);
			}
		case TAG_HEX:
		case TAG_UUID:
			{
				/* written straight into both buffers: hex digits and dashes need no escaping */
				int			nbytes = tag == TAG_UUID ? 16 : tl_arc_get_count(&c->strs, INT_MAX / 2, "hex length");
				int			slen = tag == TAG_UUID ? 36 : nbytes * 2;
				char	   *dst;

				if (nbytes > c->strs.end - c->strs.p)
					tl_arc_corrupt(&c->strs, "hex value runs past the end of the frame");
				if (unlikely(slen >= b->bin.maxlen - b->bin.len))
					enlargeStringInfo(&b->bin, slen);
				dst = b->bin.data + b->bin.len;
				if (tag == TAG_UUID)
				{
					/* 8-4-4-4-12 */
					hex_from_bytes(c->strs.p, 4, dst);
					dst[8] = '-';
					hex_from_bytes(c->strs.p + 4, 2, dst + 9);
					dst[13] = '-';
					hex_from_bytes(c->strs.p + 6, 2, dst + 14);
					dst[18] = '-';
					hex_from_bytes(c->strs.p + 8, 2, dst + 19);
					dst[23] = '-';
					hex_from_bytes(c->strs.p + 10, 6, dst + 24);
				}
				else
					hex_from_bytes(c->strs.p, nbytes, dst);
				c->strs.p += nbytes;
				b->bin.len += slen;
				b->bin.data[b->bin.len] = '\0';
				append_quoted(&b->text, dst, slen);
				return JENTRY_ISSTRING | slen;
			}
		default:
			/* tl_arc_read_paths refused tags above TAG_OBJECT; objects and absences are the caller's */
			elog(ERROR, "payload tag %d has no rebuild", tag);
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
	buf_append(bin, &header, sizeof(uint32));
	enlargeStringInfo(bin, sizeof(JEntry) * npairs * 2);
	jentry_at = bin->len;
	bin->len += sizeof(JEntry) * npairs * 2;

	/* the keys, in jsonb order (children are sorted so) */
	for (int i = 0; i < p->nchildren; i++)
	{
		DecPath    *c = &paths[p->children[i]];

		if (c->tags[row] == TAG_ABSENT)
			continue;
		buf_append(bin, c->key, c->keylen);
		bin_jentry(bin, jentry_at, idx++, JENTRY_ISSTRING | c->keylen, &totallen);
	}
	/* then the values; the text has each key before its value */
	buf_append_char(&b->text, '{');
	for (int i = 0; i < p->nchildren; i++)
	{
		DecPath    *c = &paths[p->children[i]];
		uint8		tag = c->tags[row];
		uint32		meta;

		if (tag == TAG_ABSENT)
			continue;
		if (idx > npairs)
			buf_append(&b->text, ", ", 2);
		/* the key as escape_json prints it, then ": " (made once per frame: key_text) */
		buf_append(&b->text, c->key_text, c->key_text_len);
		if (tag == TAG_OBJECT)
			meta = rebuild_object(paths, p->children[i], row, b);
		else
			meta = rebuild_value(c, tag, b);
		/* (rebuilding a value may have moved the buffer: jentry_at is an offset) */
		bin_jentry(bin, jentry_at, idx++, meta, &totallen);
	}
	buf_append_char(&b->text, '}');
	totallen = bin->len - base;
	if (totallen > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb object elements exceeds the maximum of %u bytes",
						JENTRY_OFFLENMASK)));
	return JENTRY_ISCONTAINER | totallen;
}

/*
 * Rebuild row `row`'s payload into out->payload, and its text form into out->payload_text; or,
 * with b->rid_log, the text straight inside the row's canonical encoding (the row's fixed columns
 * are set already), hashed there into out->rid (no copy of the text is kept).
 */
void
tl_arc_rebuild_row(DecPath *paths, int row, RowBuilder *b, TlArchiveRow *out)
{
	DecPath    *root = &paths[0];
	int			len;
	const char *s;
	int			len_at = 0;
	int			text_at;

	resetStringInfo(&b->text);
	if (b->rid_log)
		len_at = tl_record_encode_head(&b->text, b->rid_log, out->key);
	text_at = b->text.len;
	switch (root->tags[row])
	{
		case TAG_OBJECT:
			resetStringInfo(&b->bin);
			b->bin.len = VARHDRSZ;	/* the varlena header, set below */
			(void) rebuild_object(paths, 0, row, b);
			if (b->in_place)
				out->payload = (Jsonb *) b->bin.data;
			else
			{
				out->payload = palloc(b->bin.len);
				memcpy(out->payload, b->bin.data, b->bin.len);
			}
			SET_VARSIZE(out->payload, b->bin.len);
			break;
		case TAG_JSON:
			s = tl_arc_get_bytes(&root->strs, &len);
			out->payload = parse_jsonb_text(&root->strs, s, len);
			(void) JsonbToCString(&b->text, &out->payload->root, VARSIZE(out->payload));
			verify_encoding(&root->strs, b->text.data + text_at, b->text.len - text_at);
			break;
		default:
			tl_arc_corrupt(&root->strs, "payload root is neither an object nor JSON text");
	}
	/*
	 * The text's encoding is checked piece by piece: keys once per frame (tl_arc_read_paths),
	 * strings that are not all ASCII, JSON text; the rest (numbers, hex, literals) is ASCII.
	 */
	if (b->rid_log)
	{
		tl_record_encode_tail(&b->text, len_at, out->ts, out->source, out->origin, out->seq);
		tl_rid_of_encoding(b->text.data, b->text.len, &out->rid);
		out->has_rid = true;
		out->payload_text = NULL;
		out->payload_text_len = 0;
		return;
	}
	out->has_rid = false;
	if (b->in_place)
		out->payload_text = b->text.data;
	else
	{
		out->payload_text = palloc(b->text.len + 1);
		memcpy(out->payload_text, b->text.data, b->text.len + 1);
	}
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

/* n bytes, zeroed: from the arena when there is one (its memory is fresh from the kernel) */
static void *
alloc0(TlArena *arena, Size n)
{
	return arena ? tl_arena_alloc(arena, n) : palloc0(n);
}

/*
 * The payload paths of a frame of nrows rows, with each path's tags and value streams. With an
 * arena, what stays for the frame's life (the paths, their key texts and children) comes from it.
 */
DecPath *
tl_arc_read_paths(Reader *r, int nrows, int *npaths_out, TlArena *arena)
{
	/* each path takes at least its tags (one per row) and two lengths */
	int			npaths = tl_arc_get_count(r, Min(TL_FRAME_MAX_PATHS, (r->end - r->p) / (nrows + 2)),
								   "more payload paths than the frame can hold");
	DecPath    *paths;
	int		   *depth;

	if (npaths < 1)
		tl_arc_corrupt(r, "no payload root");
	paths = alloc0(arena, sizeof(DecPath) * npaths);
	depth = palloc0(sizeof(int) * npaths);
	paths[0].parent = -1;
	for (int i = 1; i < npaths; i++)
	{
		paths[i].parent = tl_arc_get_count(r, i - 1, "path parent out of range");
		paths[i].key = tl_arc_get_bytes(r, &paths[i].keylen);
		if (memchr(paths[i].key, '\0', paths[i].keylen) != NULL)
			tl_arc_corrupt(r, "NUL byte inside an object key");
		/* (the payload's text holds the key byte for byte: checked here, not per row) */
		verify_encoding(r, paths[i].key, paths[i].keylen);
		paths[paths[i].parent].nchildren++;
		/* rebuilding recurses once per level: bound it here, before anything is built */
		depth[i] = depth[paths[i].parent] + 1;
		if (depth[i] > TL_FRAME_MAX_DEPTH)
			tl_arc_corrupt(r, psprintf("payload paths nested more than %d deep", TL_FRAME_MAX_DEPTH));
	}
	pfree(depth);
	/* each key's text as the payload's text form has it: "key": (escaped once, not per row) */
	{
		StringInfoData kt;

		initStringInfo(&kt);
		for (int i = 1; i < npaths; i++)
		{
			char	   *k = pnstrdup(paths[i].key, paths[i].keylen);

			resetStringInfo(&kt);
			escape_json(&kt, k);
			appendBinaryStringInfo(&kt, ": ", 2);
			pfree(k);
			paths[i].key_text = alloc0(arena, kt.len + 1);
			memcpy(paths[i].key_text, kt.data, kt.len);
			paths[i].key_text_len = kt.len;
		}
		pfree(kt.data);
	}
	for (int i = 0; i < npaths; i++)
		paths[i].children = alloc0(arena, sizeof(int) * Max(paths[i].nchildren, 1)), paths[i].nchildren = 0;
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
				tl_arc_corrupt(r, "two payload paths with the same parent and key");
	}
	for (int i = 0; i < npaths; i++)
	{
		if (nrows > r->end - r->p)
			tl_arc_corrupt(r, "payload tags run past the end of the frame");
		paths[i].tags = r->p;
		r->p += nrows;
		for (int row = 0; row < nrows; row++)
			if (paths[i].tags[row] > TAG_OBJECT)
				tl_arc_corrupt(r, "unknown payload tag");
		paths[i].ints = tl_arc_get_blob(r);
		paths[i].strs = tl_arc_get_blob(r);
	}
	*npaths_out = npaths;
	return paths;
}
