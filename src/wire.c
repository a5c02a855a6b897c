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
 * Locking: none.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "tieredlog.h"
#include "validate.h"
#include "wire.h"

void
tl_wire_put_u8(StringInfo out, uint8 v)
{
	appendBinaryStringInfo(out, (char *) &v, 1);
}

void
tl_wire_put_u32(StringInfo out, uint32 v)
{
	uint32		be = pg_hton32(v);

	appendBinaryStringInfo(out, (char *) &be, 4);
}

void
tl_wire_put_u64(StringInfo out, uint64 v)
{
	uint64		be = pg_hton64(v);

	appendBinaryStringInfo(out, (char *) &be, 8);
}

void
tl_wire_put_bytes(StringInfo out, const char *p, int len)
{
	tl_wire_put_u32(out, (uint32) len);
	appendBinaryStringInfo(out, p, len);
}

/* payload_text: the payload's jsonb text form, or NULL to print it here */
void
tl_wire_put_record(StringInfo out, const char *log_name, int64 interval_us, const TlRecord *rec,
				   const char *payload_text)
{
	char	   *t = payload_text ? (char *) payload_text
		: JsonbToCString(NULL, &rec->payload->root, VARSIZE(rec->payload));

	tl_wire_put_bytes(out, log_name, strlen(log_name));
	tl_wire_put_u64(out, (uint64) interval_us);
	tl_wire_put_bytes(out, VARDATA_ANY(rec->key), VARSIZE_ANY_EXHDR(rec->key));
	tl_wire_put_bytes(out, t, strlen(t));
	tl_wire_put_u64(out, (uint64) rec->ts);
	tl_wire_put_u8(out, rec->source ? 1 : 0);
	if (rec->source)
		tl_wire_put_bytes(out, VARDATA_ANY(rec->source), VARSIZE_ANY_EXHDR(rec->source));
	tl_wire_put_bytes(out, rec->origin, strlen(rec->origin));
	tl_wire_put_u64(out, (uint64) rec->seq);
	appendBinaryStringInfo(out, (char *) rec->rid.bytes, TL_RID_LEN);
	if (t != payload_text)
		pfree(t);
}

/* ---- reading ------------------------------------------------------------------------------------ */

void
tl_wire_fail(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("malformed message from peer: %s", what)));
}

uint64
tl_wire_u64(TlWire *w)
{
	uint64		v;

	if (w->end - w->p < 8)
		tl_wire_fail("truncated integer");
	memcpy(&v, w->p, 8);
	w->p += 8;
	return pg_ntoh64(v);
}

uint32
tl_wire_u32(TlWire *w)
{
	uint32		v;

	if (w->end - w->p < 4)
		tl_wire_fail("truncated length");
	memcpy(&v, w->p, 4);
	w->p += 4;
	return pg_ntoh32(v);
}

uint8
tl_wire_u8(TlWire *w)
{
	if (w->end - w->p < 1)
		tl_wire_fail("truncated byte");
	return (uint8) *w->p++;
}

const char *
tl_wire_bytes(TlWire *w, int *len)
{
	uint32		n = tl_wire_u32(w);
	const char *p;

	if (n > (uint32) (w->end - w->p) || n > MaxAllocSize - 1)
		tl_wire_fail("length runs past the message");
	p = w->p;
	w->p += n;
	*len = (int) n;
	return p;
}

char *
tl_wire_cstring(TlWire *w)
{
	int			len;
	const char *p = tl_wire_bytes(w, &len);

	if (memchr(p, '\0', len) != NULL)
		tl_wire_fail("NUL in a name");
	return pnstrdup(p, len);
}

/* Text from a peer: no NUL (it would cut the text short of its length), valid encoding. */
static void
check_text(const char *p, int len, const char *what)
{
	if (memchr(p, '\0', len) != NULL)
		tl_wire_fail(psprintf("NUL in the %s", what));
	if (!pg_verify_mbstr(GetDatabaseEncoding(), p, len, true))
		tl_wire_fail(psprintf("the %s is not valid in the database encoding", what));
}

/* Read one record and check it: names, payload, and the rid against the content. */
void
tl_wire_get_record(TlWire *w, TlWireRecord *out)
{
	TlRecord   *rec = &out->rec;
	TlRid		sent;
	int			len;
	const char *p;

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
	p = tl_wire_bytes(w, &out->payload_len);
	check_text(p, out->payload_len, "payload");
	out->payload_text = palloc(out->payload_len + 1);
	memcpy(out->payload_text, p, out->payload_len);
	out->payload_text[out->payload_len] = '\0';
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
	rec->payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(out->payload_text)));
	{
		/* the rid covers the text as sent: it must be the text the stored jsonb prints */
		char	   *canonical = JsonbToCString(NULL, &rec->payload->root, VARSIZE(rec->payload));

		if (strcmp(canonical, out->payload_text) != 0)
			tl_wire_fail("payload is not in jsonb's text form");
		pfree(canonical);
	}
	rec->log_name = out->log_name;
	tl_record_compute_rid_with_text(rec, out->payload_text, out->payload_len);
	if (memcmp(rec->rid.bytes, sent.bytes, TL_RID_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("record %s:%lld of log \"%s\" from the peer does not match its rid",
						rec->origin, (long long) rec->seq, out->log_name)));
}
