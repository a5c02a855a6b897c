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

#include "core/bytes.h"
#include "core/record.h"

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

extern void tl_wire_put_record(StringInfo out, const char *log_name, int64 interval_us,
							   const TlRecord *rec, const char *payload_text, bool binary_payload);

extern void tl_wire_get_record(TlWire *w, TlWireRecord *out);

#endif							/* TIEREDLOG_WIRE_H */
