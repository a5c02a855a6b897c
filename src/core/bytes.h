/*-------------------------------------------------------------------------
 * bytes.h
 *		Big-endian integers and length-prefixed byte strings: writing them, and a bounds-checked
 *		reader for bytes that come from a peer (replication, reconciliation, IBLT cells).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_BYTES_H
#define TIEREDLOG_BYTES_H

#include "postgres.h"
#include "lib/stringinfo.h"

typedef struct TlWire
{
	const char *p;
	const char *end;
} TlWire;

extern void tl_wire_put_u8(StringInfo out, uint8 v);
extern void tl_wire_put_u32(StringInfo out, uint32 v);
extern void tl_wire_put_u64(StringInfo out, uint64 v);
extern void tl_wire_put_bytes(StringInfo out, const char *p, int len);

extern uint8 tl_wire_u8(TlWire *w);
extern uint32 tl_wire_u32(TlWire *w);
extern uint64 tl_wire_u64(TlWire *w);
extern const char *tl_wire_bytes(TlWire *w, int *len);
extern char *tl_wire_cstring(TlWire *w);
extern void tl_wire_fail(const char *what);

extern char *tl_hex_string(const uint8 *bytes, int len);

#endif							/* TIEREDLOG_BYTES_H */
