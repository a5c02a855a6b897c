/*-------------------------------------------------------------------------
 * wire.h
 *		The record encoding shared by replication (decoder.c, apply.c) and reconciliation
 *		(reconcile.c), and a bounds-checked reader for bytes that come from a peer.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_WIRE_H
#define TIEREDLOG_WIRE_H

#include "postgres.h"
#include "lib/stringinfo.h"

#include "core/record.h"

typedef struct TlWire
{
	const char *p;
	const char *end;
} TlWire;

/* set in the payload's length: the payload is jsonb's binary container, not its text */
#define TL_WIRE_BINARY_PAYLOAD	0x80000000

/* A record as it travels: its payload as the jsonb text its rid was computed over. */
typedef struct TlWireRecord
{
	char	   *log_name;
	int64		interval_us;
	TlRecord	rec;			/* payload parsed; rid as sent */
	char	   *payload_text;
	int			payload_len;
} TlWireRecord;

extern void tl_wire_put_u8(StringInfo out, uint8 v);
extern void tl_wire_put_u32(StringInfo out, uint32 v);
extern void tl_wire_put_u64(StringInfo out, uint64 v);
extern void tl_wire_put_bytes(StringInfo out, const char *p, int len);
extern void tl_wire_put_record(StringInfo out, const char *log_name, int64 interval_us,
							   const TlRecord *rec, const char *payload_text, bool binary_payload);

extern uint8 tl_wire_u8(TlWire *w);
extern uint32 tl_wire_u32(TlWire *w);
extern uint64 tl_wire_u64(TlWire *w);
extern const char *tl_wire_bytes(TlWire *w, int *len);
extern char *tl_wire_cstring(TlWire *w);
extern void tl_wire_get_record(TlWire *w, TlWireRecord *out);
extern void tl_wire_fail(const char *what);

#endif							/* TIEREDLOG_WIRE_H */
