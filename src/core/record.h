/*-------------------------------------------------------------------------
 * record.h
 *		A tieredlog record, its canonical encoding, its rid, and the HLC.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_RECORD_H
#define TIEREDLOG_RECORD_H

#include "postgres.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define TL_RID_LEN			16
#define TL_ENCODING_VERSION	1

/* "tierlog" + encoding version: changing the encoding changes the seed too. */
#define TL_RID_SEED		UINT64CONST(0x746965726c6f6701)

typedef struct TlRid
{
	uint8		bytes[TL_RID_LEN];	/* XXH3-128, big-endian (high half first) */
} TlRid;

typedef struct TlRecord
{
	const char *log_name;
	text	   *key;
	Jsonb	   *payload;
	TimestampTz ts;
	text	   *source;			/* NULL when absent */
	const char *origin;
	int64		seq;
	TlRid		rid;
	int64		logical_bytes;	/* size of the canonical encoding */
} TlRecord;

extern void tl_record_encode(StringInfo buf, TlRecord *rec, const char *payload_text, int payload_len);
extern int	tl_record_encode_head(StringInfo buf, const char *log_name, const text *key);
extern void tl_record_encode_tail(StringInfo buf, int at, TimestampTz ts, const text *source,
								  const char *origin, int64 seq);
extern void tl_rid_of_encoding(const char *data, size_t len, TlRid *rid);
extern void tl_record_from_args(FunctionCallInfo fcinfo, TlRecord *rec);
extern void tl_record_compute_rid(TlRecord *rec);
extern void tl_record_compute_rid_bounded(TlRecord *rec, Size text_max);
extern void tl_record_compute_rid_with_text(TlRecord *rec, const char *payload_text,
											int payload_len);
/* jsonb_text.c: what JsonbToCString prints for jc, appended to out */
extern void tl_jsonb_append_text(StringInfo out, const JsonbContainer *jc);
extern void tl_jsonb_append_text_bounded(StringInfo out, const JsonbContainer *jc, Size max_len);

extern char *tl_rid_to_hex(const TlRid *rid);
extern Datum tl_rid_datum(const TlRid *rid);
extern void tl_rid_split(const TlRid *rid, uint64 *hi, uint64 *lo);

extern const char *tl_node_name(void);
extern TimestampTz tl_hlc_now(void);
extern TimestampTz tl_hlc_reserve(int n);
extern void tl_hlc_observe(TimestampTz remote);

#endif							/* TIEREDLOG_RECORD_H */
