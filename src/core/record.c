/*-------------------------------------------------------------------------
 * record.c
 *		Canonical record encoding, the rid (seeded XXH3-128), node identity and the HLC.
 *
 * Canonical encoding, version 1 (all integers big-endian):
 *		u8 version | str log | str key | str payload | i64 ts | u8 has_source [str source] |
 *		str origin | i64 seq
 * where str is u32 length + bytes, payload is jsonb's text form (deterministic for a jsonb value)
 * and ts is microseconds since 1970-01-01 UTC. Nothing node-local (OIDs, ctids, local time) enters
 * it, so every node computes the same rid for the same record.
 *
 * HLC: a timestamptz that never goes backwards on this node: max(clock, last + 1 microsecond),
 * and advanced past every remote ts observed. The logical counter is folded into the microsecond
 * digits, so the value stays an ordinary timestamptz.
 *
 * Locking: the HLC is one atomic in shared memory, advanced by compare-and-swap.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/uuid.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/bytes.h"
#include "core/shmem.h"
#include "core/guc.h"
#include "core/record.h"
#include "core/tieredlog.h"
#include "core/validate.h"

/* Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01). */
#define TL_UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/*
 * Head and tail are written once per row of a tier 2 read: room is made once, then the fields
 * are stored (w_*: each returns the position after what it wrote).
 */
static inline char *
w_u32(char *p, uint32 v)
{
	uint32		be = pg_hton32(v);

	memcpy(p, &be, sizeof(be));
	return p + sizeof(be);
}

static inline char *
w_i64(char *p, int64 v)
{
	uint64		be = pg_hton64((uint64) v);

	memcpy(p, &be, sizeof(be));
	return p + sizeof(be);
}

static inline char *
w_str(char *p, const char *s, int len)
{
	p = w_u32(p, (uint32) len);
	memcpy(p, s, len);
	return p + len;
}

/* Room for n more bytes of buf: where they go (the caller then calls done_writing). */
static inline char *
start_writing(StringInfo buf, Size n)
{
	if (n >= (Size) (buf->maxlen - buf->len))
	{
		if (n >= MaxAllocSize)
			elog(ERROR, "record encoding of %zu bytes is too long", n);
		enlargeStringInfo(buf, (int) n);
	}
	return buf->data + buf->len;
}

static inline void
done_writing(StringInfo buf, const char *end)
{
	buf->len = end - buf->data;
	buf->data[buf->len] = '\0';
}

/*
 * The canonical encoding up to the payload's text (version, log, key, and a length field for the
 * payload patched by tl_record_encode_tail), appended to buf; returns the length field's offset.
 * Callers that build the payload's text themselves append it right after (archive reads: the
 * text is written once, where the rid is hashed from).
 */
int
tl_record_encode_head(StringInfo buf, const char *log_name, const text *key)
{
	int			loglen = strlen(log_name);
	int			keylen = VARSIZE_ANY_EXHDR(key);
	char	   *p = start_writing(buf, (Size) 1 + 4 + loglen + 4 + keylen + 4);

	*p++ = (char) TL_ENCODING_VERSION;
	p = w_str(p, log_name, loglen);
	p = w_str(p, VARDATA_ANY(key), keylen);
	p = w_u32(p, 0);
	done_writing(buf, p);
	return buf->len - 4;
}

/*
 * The rest of the encoding once the payload's text follows the length field at `at` (from
 * tl_record_encode_head): the length patched, then ts, source, origin and seq appended.
 */
void
tl_record_encode_tail(StringInfo buf, int at, TimestampTz ts, const text *source, const char *origin,
					  int64 seq)
{
	int			srclen = source ? VARSIZE_ANY_EXHDR(source) : 0;
	int			originlen = strlen(origin);
	char	   *p;

	(void) w_u32(buf->data + at, (uint32) (buf->len - at - 4));
	p = start_writing(buf, (Size) 8 + 1 + (source ? 4 + srclen : 0) + 4 + originlen + 8);
	p = w_i64(p, ts + TL_UNIX_EPOCH_OFFSET_US);
	*p++ = (char) (source != NULL);
	if (source)
		p = w_str(p, VARDATA_ANY(source), srclen);
	p = w_str(p, origin, originlen);
	p = w_i64(p, seq);
	done_writing(buf, p);
}

/* The rid of a canonical encoding (len bytes at data). */
void
tl_rid_of_encoding(const char *data, size_t len, TlRid *rid)
{
	XXH128_hash_t h = XXH3_128bits_withSeed(data, len, TL_RID_SEED);
	uint64		hi = pg_hton64(h.high64);
	uint64		lo = pg_hton64(h.low64);

	memcpy(rid->bytes, &hi, 8);
	memcpy(rid->bytes + 8, &lo, 8);
}

/*
 * The payload enters the encoding as its jsonb text form (JsonbToCString). Callers that already
 * hold that text pass it; otherwise it is printed here, by jsonb_text.c (the same bytes, without
 * the iterator).
 */
static void
encode_record(StringInfo buf, const TlRecord *rec, const char *payload_text, int payload_len,
			  Size text_max)
{
	int			at = tl_record_encode_head(buf, rec->log_name, rec->key);

	/* the text goes in place after the length field, patched by the tail */
	if (payload_text == NULL && text_max > 0)
		tl_jsonb_append_text_bounded(buf, &rec->payload->root, text_max);
	else if (payload_text == NULL)
		tl_jsonb_append_text(buf, &rec->payload->root);
	else
		appendBinaryStringInfo(buf, payload_text, payload_len);
	tl_record_encode_tail(buf, at, rec->ts, rec->source, rec->origin, rec->seq);
}

/*
 * The canonical encoding of a record into buf (appended), and its rid and logical_bytes into
 * *rec. The seal's Merkle leaves hash this same encoding (seal.c).
 */
static void
encode_and_hash(StringInfo buf, TlRecord *rec, const char *payload_text, int payload_len,
				Size text_max)
{
	int			start = buf->len;

	encode_record(buf, rec, payload_text, payload_len, text_max);
	tl_rid_of_encoding(buf->data + start, buf->len - start, &rec->rid);
	rec->logical_bytes = buf->len - start;
}

void
tl_record_encode(StringInfo buf, TlRecord *rec, const char *payload_text, int payload_len)
{
	encode_and_hash(buf, rec, payload_text, payload_len, 0);
}

/*
 * A record from SQL arguments (log_name, key, payload, ts, source, origin, seq), as record_rid()
 * and record_leaf_hash() take them; only source may be null. The rid is not computed.
 */
void
tl_record_from_args(FunctionCallInfo fcinfo, TlRecord *rec)
{
	for (int i = 0; i < 7; i++)
		if (i != 4 && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("log_name, key, payload, ts, origin and seq must not be null")));
	memset(rec, 0, sizeof(*rec));
	rec->log_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rec->key = PG_GETARG_TEXT_PP(1);
	rec->payload = PG_GETARG_JSONB_P(2);
	rec->ts = PG_GETARG_TIMESTAMPTZ(3);
	rec->source = PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4);
	rec->origin = text_to_cstring(PG_GETARG_TEXT_PP(5));
	rec->seq = PG_GETARG_INT64(6);
}

/* Fill rec->rid and rec->logical_bytes from the other fields. */
void
tl_record_compute_rid(TlRecord *rec)
{
	tl_record_compute_rid_with_text(rec, NULL, 0);
}

/*
 * The same for a record that enters the log: its payload's text may take at most text_max bytes
 * (tl_payload_text_limit), else an error (54000) before much more is printed.
 */
void
tl_record_compute_rid_bounded(TlRecord *rec, Size text_max)
{
	StringInfoData buf;

	initStringInfo(&buf);
	encode_and_hash(&buf, rec, NULL, 0, text_max);
	pfree(buf.data);
}

/*
 * The same, given the payload's jsonb text form (exactly what JsonbToCString returns for it);
 * NULL computes it.
 */
void
tl_record_compute_rid_with_text(TlRecord *rec, const char *payload_text, int payload_len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	tl_record_encode(&buf, rec, payload_text, payload_len);
	pfree(buf.data);
}

void
tl_rid_split(const TlRid *rid, uint64 *hi, uint64 *lo)
{
	uint64		h;
	uint64		l;

	memcpy(&h, rid->bytes, 8);
	memcpy(&l, rid->bytes + 8, 8);
	*hi = pg_ntoh64(h);
	*lo = pg_ntoh64(l);
}

/* Lower-case hex (PostgreSQL's hex_encode). */
char *
tl_rid_to_hex(const TlRid *rid)
{
	return tl_hex_string(rid->bytes, TL_RID_LEN);
}

/*
 * This node's name: tieredlog.node_name, else cluster_name when it is a valid name, else
 * "<host>:<port>". Resolved once per backend (the setting can only change at restart).
 */
const char *
tl_node_name(void)
{
	static char resolved[NAMEDATALEN] = "";
	char		host[256];

	if (resolved[0] != '\0')
		return resolved;
	if (tl_node_name_setting && tl_node_name_setting[0] != '\0')
		strlcpy(resolved, tl_node_name_setting, sizeof(resolved));
	else if (cluster_name && tl_name_is_valid(cluster_name))
		strlcpy(resolved, cluster_name, sizeof(resolved));
	else
	{
		if (gethostname(host, sizeof(host)) != 0)
			strlcpy(host, "localhost", sizeof(host));
		host[40] = '\0';
		snprintf(resolved, sizeof(resolved), "%s:%d", host, PostPortNumber);
		if (!tl_name_is_valid(resolved))
			snprintf(resolved, sizeof(resolved), "node:%d", PostPortNumber);
	}
	return resolved;
}

/* A new HLC value for a record this node originates. */
TimestampTz
tl_hlc_now(void)
{
	return tl_hlc_reserve(1);
}

/*
 * `n` (>= 1) new HLC values for records this node originates, in one step: returns the first, and
 * first + 1 .. first + n - 1 are the others. The same values n calls of tl_hlc_now() would hand
 * out when nothing else takes one in between (unique, never going backwards), with one
 * compare-and-swap on the shared clock instead of n: a batch append stamps its records this way.
 */
TimestampTz
tl_hlc_reserve(int n)
{
	TimestampTz clock = GetCurrentTimestamp();
	uint64		last = pg_atomic_read_u64(&tl_shared->hlc);
	TimestampTz first;

	Assert(n >= 1);
	for (;;)
	{
		/* compared as timestamps (signed): a value before 2000 is negative, not huge */
		first = Max(clock, (TimestampTz) last + 1);
		if (pg_atomic_compare_exchange_u64(&tl_shared->hlc, &last, (uint64) (first + (n - 1))))
			return first;
	}
}

/*
 * Advance the HLC past a timestamp seen on a record from another node, but never beyond this
 * node's clock plus tieredlog.max_clock_skew: a timestamp from outside must not be able to push
 * every later local record into the future (as far as 294276 AD, where appends fail). The shared
 * value is compared as a timestamp (signed): a record dated before 2000-01-01 (a negative
 * TimestampTz) is in the past, not, as an unsigned comparison had it, after everything, which set
 * every node's clock back to that date.
 */
void
tl_hlc_observe(TimestampTz remote)
{
	uint64		last = pg_atomic_read_u64(&tl_shared->hlc);
	TimestampTz limit = GetCurrentTimestamp() + (TimestampTz) tl_max_clock_skew_s * USECS_PER_SEC;

	if (remote > limit)
		remote = limit;

	while (remote > (TimestampTz) last)
	{
		if (pg_atomic_compare_exchange_u64(&tl_shared->hlc, &last, (uint64) remote))
			break;
	}
}

/* A rid as a uuid Datum (palloc'd), for SPI parameters and result rows. */
Datum
tl_rid_datum(const TlRid *rid)
{
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	memcpy(u->data, rid->bytes, TL_RID_LEN);
	return UUIDPGetDatum(u);
}
