/*-------------------------------------------------------------------------
 * wire.c
 *		Encoding records for peers, and reading what peers send, checked at every step.
 *
 * A record: str log_name, i64 segment_interval_us, str key, str payload (the jsonb text form the
 * rid is computed over), i64 ts, u8 has_source [str source], str origin, i64 seq, 16 bytes rid.
 * Integers are big-endian; str is a u32 length and the bytes. tl_wire_get_record() checks every
 * field before it is used, so nothing a peer sends is trusted: lengths against the message, the
 * interval by the rule of create_log, the ts as a valid timestamptz, names, the key's length, no
 * NUL and a valid encoding in key, payload and source, the payload in jsonb's own text form (the
 * text its rid covers), and the rid against the content. A malformed message is
 * ERRCODE_PROTOCOL_VIOLATION, a record whose rid does not match its content
 * ERRCODE_DATA_CORRUPTED.
 *
 * The payload may instead come as jsonb's binary container (the length's high bit set; protocol
 * version 2 of the decoder): then its structure is checked before anything reads it (every
 * offset and length inside the container, entry types, strings as text is, object keys in
 * order, numbers without NaN or infinities), and it is printed for the rid. One that is encoded
 * exactly as jsonb_in encodes its text is stored as it came, which spares parsing it; any other
 * is parsed from that text as a text payload is (and must print back the same).
 *
 * Locking: none.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "core/tieredlog.h"
#include "core/validate.h"
#include "repl/wire.h"

/*
 * payload_text: the payload's jsonb text form, or NULL to print it here. binary_payload: send the
 * payload as jsonb's binary container instead (TL_WIRE_BINARY_PAYLOAD; rec->payload must not be
 * toasted or compressed), which spares the sender the printing and the receiver the parsing.
 */
void
tl_wire_put_record(StringInfo out, const char *log_name, int64 interval_us, const TlRecord *rec,
				   const char *payload_text, bool binary_payload)
{
	char	   *t = NULL;

	tl_wire_put_bytes(out, log_name, strlen(log_name));
	tl_wire_put_u64(out, (uint64) interval_us);
	tl_wire_put_bytes(out, VARDATA_ANY(rec->key), VARSIZE_ANY_EXHDR(rec->key));
	if (binary_payload)
	{
		uint32		len = VARSIZE(rec->payload) - VARHDRSZ;

		Assert(!VARATT_IS_EXTENDED(rec->payload));
		tl_wire_put_u32(out, len | TL_WIRE_BINARY_PAYLOAD);
		appendBinaryStringInfo(out, (char *) &rec->payload->root, len);
	}
	else
	{
		t = payload_text ? (char *) payload_text
			: JsonbToCString(NULL, &rec->payload->root, VARSIZE(rec->payload));
		tl_wire_put_bytes(out, t, strlen(t));
	}
	tl_wire_put_u64(out, (uint64) rec->ts);
	tl_wire_put_u8(out, rec->source ? 1 : 0);
	if (rec->source)
		tl_wire_put_bytes(out, VARDATA_ANY(rec->source), VARSIZE_ANY_EXHDR(rec->source));
	tl_wire_put_bytes(out, rec->origin, strlen(rec->origin));
	tl_wire_put_u64(out, (uint64) rec->seq);
	appendBinaryStringInfo(out, (char *) rec->rid.bytes, TL_RID_LEN);
	if (t != NULL && t != payload_text)
		pfree(t);
}

/* ---- reading ------------------------------------------------------------------------------------ */

/* Text from a peer: no NUL (it would cut the text short of its length), valid encoding. */
static void
check_text(const char *p, int len, const char *what)
{
	if (memchr(p, '\0', len) != NULL)
		tl_wire_fail(psprintf("NUL in the %s", what));
	if (!pg_verify_mbstr(GetDatabaseEncoding(), p, len, true))
		tl_wire_fail(psprintf("the %s is not valid in the database encoding", what));
}

/*
 * A jsonb container that came from a peer (payload sent in binary form): check it before anything
 * reads it. Returns true if it is exactly what jsonb_in would build from its text (the form every
 * jsonb a node stores has), false if it is safe to read and print but differs in its encoding
 * (then it is rebuilt from its text); fails on anything unsafe.
 *
 * The layout (utils/jsonb.h, convertToJsonb): a container is a header (count and kind), one
 * JEntry per child (an object: the keys, then the values), then the children's data. Every
 * JB_OFFSET_STRIDE'th JEntry holds the end offset of its child's data, the others its length;
 * numerics and nested containers start int-aligned after zero padding, which their length
 * includes. `extent` is the container's exact size; `depth` its nesting level.
 */
static bool check_container(const char *c, uint32 extent, int depth, bool *canonical);

/*
 * numeric.c's on-disk layout (not exported): a varlena header, a uint16 whose two high bits say
 * positive/negative long form (then an int16 weight follows), short form, or special (NaN,
 * infinities), then base-10000 int16 digits.
 */
#define TL_NUMERIC_SIGN_MASK	0xC000
#define TL_NUMERIC_NEG			0x4000
#define TL_NUMERIC_SHORT		0x8000
#define TL_NUMERIC_SPECIAL		0xC000
#define TL_NUMERIC_DSCALE_MASK	0x3FFF
#define TL_NUMERIC_SHORT_SIGN_MASK	0x2000
#define TL_NUMERIC_SHORT_DSCALE_MASK	0x1F80
#define TL_NUMERIC_SHORT_DSCALE_SHIFT	7
#define TL_NUMERIC_SHORT_DSCALE_MAX	63
#define TL_NUMERIC_SHORT_WEIGHT_SIGN_MASK	0x0040
#define TL_NUMERIC_SHORT_WEIGHT_MASK	0x003F
#define TL_NUMERIC_SHORT_WEIGHT_MAX	63
#define TL_NUMERIC_SHORT_WEIGHT_MIN	(-64)
#define TL_NBASE				10000

/*
 * A number of a binary payload: safe to print (fails otherwise), and whether it is encoded as
 * numeric_in encodes its text (make_result: no leading or trailing zero digits, zero positive
 * with weight 0, the short form exactly when dscale and weight fit it, and no digit beyond
 * dscale, which the text would drop).
 */
static bool
check_numeric(const char *p, uint32 len)
{
	uint16		header;
	uint32		hdrsize;
	int			ndigits;
	int16		digit;
	int16		first = 0;
	int16		last = 0;
	bool		negative;
	int			weight;
	int			dscale;
	int			frac;

	/* a plain 4-byte varlena header (as convertJsonbScalar copies it) of exactly that length */
	if (len < VARHDRSZ + sizeof(uint16) || !VARATT_IS_4B_U(p) || VARSIZE_4B(p) != len)
		tl_wire_fail("malformed number in a binary payload");
	memcpy(&header, p + VARHDRSZ, sizeof(uint16));
	if ((header & TL_NUMERIC_SIGN_MASK) == TL_NUMERIC_SPECIAL)
		tl_wire_fail("NaN or infinity in a binary payload");
	hdrsize = VARHDRSZ + sizeof(uint16) + ((header & TL_NUMERIC_SHORT) ? 0 : sizeof(int16));
	if (len < hdrsize)
		tl_wire_fail("malformed number in a binary payload");
	for (uint32 off = hdrsize; off + sizeof(int16) <= len; off += sizeof(int16))
	{
		memcpy(&digit, p + off, sizeof(int16));
		if (digit < 0 || digit >= TL_NBASE)
			tl_wire_fail("malformed number in a binary payload");
		if (off == hdrsize)
			first = digit;
		last = digit;
	}
	if ((len - hdrsize) % sizeof(int16) != 0)
		return false;
	ndigits = (len - hdrsize) / sizeof(int16);
	if (header & TL_NUMERIC_SHORT)
	{
		negative = (header & TL_NUMERIC_SHORT_SIGN_MASK) != 0;
		dscale = (header & TL_NUMERIC_SHORT_DSCALE_MASK) >> TL_NUMERIC_SHORT_DSCALE_SHIFT;
		weight = (header & TL_NUMERIC_SHORT_WEIGHT_SIGN_MASK)
			? (int) (~TL_NUMERIC_SHORT_WEIGHT_MASK | (header & TL_NUMERIC_SHORT_WEIGHT_MASK))
			: (int) (header & TL_NUMERIC_SHORT_WEIGHT_MASK);
	}
	else
	{
		int16		w;

		memcpy(&w, p + VARHDRSZ + sizeof(uint16), sizeof(int16));
		negative = (header & TL_NUMERIC_SIGN_MASK) == TL_NUMERIC_NEG;
		dscale = header & TL_NUMERIC_DSCALE_MASK;
		weight = w;
	}
	if (ndigits == 0)
		return weight == 0 && !negative &&
			((header & TL_NUMERIC_SHORT) != 0) == (dscale <= TL_NUMERIC_SHORT_DSCALE_MAX);
	if (first == 0 || last == 0)
		return false;
	if (((header & TL_NUMERIC_SHORT) != 0) !=
		(dscale <= TL_NUMERIC_SHORT_DSCALE_MAX && weight <= TL_NUMERIC_SHORT_WEIGHT_MAX &&
		 weight >= TL_NUMERIC_SHORT_WEIGHT_MIN))
		return false;
	/* decimal digits after the point that the last digit needs */
	frac = (ndigits - 1 - weight) * 4;
	if (frac > 0)
	{
		while (last % 10 == 0)
		{
			last /= 10;
			frac--;
		}
		if (frac > dscale)
			return false;
	}
	return true;
}

/* Zero padding from `start` to the next int boundary, inside the child's `len`; returns its size. */
static uint32
check_padding(const char *base, uint32 start, uint32 len, bool *canonical)
{
	uint32		pad = INTALIGN(start) - start;

	if (pad > len)
		tl_wire_fail("malformed binary payload");
	for (uint32 i = 0; i < pad; i++)
		if (base[start + i] != 0)
			*canonical = false;
	return pad;
}

static bool
check_container(const char *c, uint32 extent, int depth, bool *canonical)
{
	uint32		header;
	uint32		count;
	uint32		nentries;
	bool		object;
	const char *base;
	uint32		data_len;
	uint32		end = 0;
	uint32		prev_key_start = 0;
	uint32		prev_key_len = 0;

	check_stack_depth();
	if (depth >= TL_PAYLOAD_MAX_DEPTH)	/* the root is depth 0: TL_PAYLOAD_MAX_DEPTH levels */
		tl_wire_fail("binary payload nested too deeply");
	if (extent < sizeof(uint32))
		tl_wire_fail("truncated binary payload");
	memcpy(&header, c, sizeof(uint32));
	count = header & JB_CMASK;
	object = (header & JB_FOBJECT) != 0;
	if ((header & ~(JB_CMASK | JB_FSCALAR | JB_FOBJECT | JB_FARRAY)) != 0 ||
		object == ((header & JB_FARRAY) != 0))
		tl_wire_fail("malformed binary payload");
	if ((header & JB_FSCALAR) && (depth > 0 || object || count != 1))
		tl_wire_fail("malformed binary payload");
	nentries = object ? count * 2 : count;
	if (count > (extent - sizeof(uint32)) / sizeof(JEntry) / (object ? 2 : 1))
		tl_wire_fail("truncated binary payload");
	base = c + sizeof(uint32) + nentries * sizeof(JEntry);
	data_len = extent - sizeof(uint32) - nentries * sizeof(JEntry);
	for (uint32 i = 0; i < nentries; i++)
	{
		JEntry		je;
		uint32		start = end;
		uint32		len;
		uint32		type;

		memcpy(&je, c + sizeof(uint32) + i * sizeof(JEntry), sizeof(JEntry));
		type = je & JENTRY_TYPEMASK;
		if (JBE_HAS_OFF(je))
		{
			if (JBE_OFFLENFLD(je) < start)
				tl_wire_fail("malformed binary payload");
			len = JBE_OFFLENFLD(je) - start;
		}
		else
			len = JBE_OFFLENFLD(je);
		/* canonical: an offset exactly every JB_OFFSET_STRIDE children (convertJsonbArray/Object) */
		if (JBE_HAS_OFF(je) != (i % JB_OFFSET_STRIDE == 0))
			*canonical = false;
		if (len > data_len - start)
			tl_wire_fail("binary payload runs past its container");
		end = start + len;
		if (object && i < count && type != JENTRY_ISSTRING)
			tl_wire_fail("an object key in a binary payload is not a string");
		switch (type)
		{
			case JENTRY_ISSTRING:
				/* as check_text: no NUL (jsonb_in refuses \u0000), valid encoding */
				if (memchr(base + start, '\0', len) != NULL ||
					!pg_verify_mbstr(GetDatabaseEncoding(), base + start, len, true))
					tl_wire_fail("a string in a binary payload is not valid text");
				if (object && i < count)
				{
					/* keys in jsonb's order (length, then bytes), each once: lookups rely on it */
					if (i > 0 && (len < prev_key_len ||
								  (len == prev_key_len &&
								   memcmp(base + prev_key_start, base + start, len) >= 0)))
						tl_wire_fail("object keys of a binary payload are not in order");
					prev_key_start = start;
					prev_key_len = len;
				}
				break;
			case JENTRY_ISNUMERIC:
				{
					uint32		pad = check_padding(base, start, len, canonical);

					if (!check_numeric(base + start + pad, len - pad))
						*canonical = false;
				}
				break;
			case JENTRY_ISBOOL_FALSE:
			case JENTRY_ISBOOL_TRUE:
			case JENTRY_ISNULL:
				if (len != 0)
					tl_wire_fail("malformed binary payload");
				break;
			case JENTRY_ISCONTAINER:
				{
					uint32		pad;

					if (header & JB_FSCALAR)
						tl_wire_fail("malformed binary payload");
					pad = check_padding(base, start, len, canonical);
					check_container(base + start + pad, len - pad, depth + 1, canonical);
				}
				break;
			default:
				tl_wire_fail("unknown entry type in a binary payload");
		}
	}
	if (end != data_len)
		tl_wire_fail("binary payload has bytes no entry covers");
	return *canonical;
}

static bool
check_binary_payload(Jsonb *payload)
{
	bool		canonical = true;

	return check_container((const char *) &payload->root, VARSIZE(payload) - VARHDRSZ, 0, &canonical);
}

/* Read one record and check it: names, payload, and the rid against the content. */
void
tl_wire_get_record(TlWire *w, TlWireRecord *out)
{
	TlRecord   *rec = &out->rec;
	TlRid		sent;
	int			len;
	const char *p;
	bool		binary;

	memset(out, 0, sizeof(*out));
	out->log_name = tl_wire_cstring(w);
	out->interval_us = (int64) tl_wire_u64(w);
	if (!tl_interval_us_is_valid(out->interval_us))
		tl_wire_fail("segment interval is not a whole number of seconds between 1 second and 366 days");
	p = tl_wire_bytes(w, &len);
	if (len > TL_MAX_KEY_LEN)
		tl_wire_fail("key longer than any record key");
	check_text(p, len, "key");
	rec->key = cstring_to_text_with_len(p, len);
	binary = w->end - w->p >= 4 && (((uint8) w->p[0]) & 0x80) != 0;	/* the length's high bit */
	if (binary)
	{
		uint32		n = tl_wire_u32(w) & ~TL_WIRE_BINARY_PAYLOAD;

		if (n > (uint32) (w->end - w->p) || n > MaxAllocSize - VARHDRSZ)
			tl_wire_fail("length runs past the message");
		/* (a payload this node would not take from an appender: refused before it is copied) */
		tl_check_payload_size(VARHDRSZ + (Size) n);
		/* a copy: aligned, and the datum stored */
		rec->payload = palloc(VARHDRSZ + n);
		SET_VARSIZE(rec->payload, VARHDRSZ + n);
		memcpy(&rec->payload->root, w->p, n);
		w->p += n;
	}
	else
	{
		p = tl_wire_bytes(w, &out->payload_len);
		check_text(p, out->payload_len, "payload");
		tl_check_payload_text_len(out->payload_len);
		out->payload_text = palloc(out->payload_len + 1);
		memcpy(out->payload_text, p, out->payload_len);
		out->payload_text[out->payload_len] = '\0';
	}
	rec->ts = (TimestampTz) tl_wire_u64(w);
	if (!IS_VALID_TIMESTAMP(rec->ts))
		tl_wire_fail("record timestamp out of range");
	if (tl_wire_u8(w))
	{
		p = tl_wire_bytes(w, &len);
		check_text(p, len, "source");
		rec->source = cstring_to_text_with_len(p, len);
	}
	rec->origin = tl_wire_cstring(w);
	rec->seq = (int64) tl_wire_u64(w);
	if (w->end - w->p < TL_RID_LEN)
		tl_wire_fail("truncated rid");
	memcpy(sent.bytes, w->p, TL_RID_LEN);
	w->p += TL_RID_LEN;

	tl_check_wire_log_name(out->log_name);
	tl_check_name("origin", rec->origin);
	if (binary)
	{
		/*
		 * A container that is safe to read is printed (the rid covers that text). One that is
		 * exactly what jsonb_in makes of its text is stored as it came; any other goes the text
		 * way below: parsed from its text, which must print back the same.
		 */
		bool		canonical = check_binary_payload(rec->payload);
		StringInfoData t;

		initStringInfo(&t);
		/* JsonbToCString's text, bounded as an append's */
		tl_jsonb_append_text_bounded(&t, &rec->payload->root, tl_payload_text_limit());
		out->payload_text = t.data;
		out->payload_len = t.len;
		if (canonical)
			goto payload_done;
		pfree(rec->payload);
	}
	rec->payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(out->payload_text)));
	{
		/* the rid covers the text as sent: it must be the text the stored jsonb prints */
		char	   *canonical = JsonbToCString(NULL, &rec->payload->root, VARSIZE(rec->payload));

		if (strcmp(canonical, out->payload_text) != 0)
			tl_wire_fail("payload is not in jsonb's text form");
		pfree(canonical);
	}
payload_done:
	rec->log_name = out->log_name;
	tl_record_compute_rid_with_text(rec, out->payload_text, out->payload_len);
	if (memcmp(rec->rid.bytes, sent.bytes, TL_RID_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("record %s:%lld of log \"%s\" from the peer does not match its rid",
						rec->origin, (long long) rec->seq, out->log_name)));
}
