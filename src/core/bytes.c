/*-------------------------------------------------------------------------
 * bytes.c
 *		Big-endian integers and length-prefixed byte strings (u32 length + bytes). The reader
 *		checks every length against what is left of the message before it reads, so a peer's
 *		bytes are never trusted: a short or overlong field is ERRCODE_PROTOCOL_VIOLATION.
 *
 * Locking: none.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "core/bytes.h"

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

/* ---- reading ------------------------------------------------------------------------------------ */

void
tl_wire_fail(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("malformed message from peer: %s", what)));
}

/* The next n bytes of the message, consumed; `what` names the field when fewer are left. */
static const char *
wire_take(TlWire *w, int n, const char *what)
{
	const char *p = w->p;

	if (w->end - w->p < n)
		tl_wire_fail(what);
	w->p += n;
	return p;
}

uint64
tl_wire_u64(TlWire *w)
{
	uint64		v;

	memcpy(&v, wire_take(w, 8, "truncated integer"), 8);
	return pg_ntoh64(v);
}

uint32
tl_wire_u32(TlWire *w)
{
	uint32		v;

	memcpy(&v, wire_take(w, 4, "truncated length"), 4);
	return pg_ntoh32(v);
}

uint8
tl_wire_u8(TlWire *w)
{
	return (uint8) *wire_take(w, 1, "truncated byte");
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


/* `len` bytes as a palloc'd lower-case hex string (PostgreSQL's hex_encode), NUL-terminated. */
char *
tl_hex_string(const uint8 *bytes, int len)
{
	char	   *out = palloc(len * 2 + 1);

	hex_encode((const char *) bytes, len, out);
	out[len * 2] = '\0';
	return out;
}
