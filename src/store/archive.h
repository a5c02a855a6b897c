/*-------------------------------------------------------------------------
 * archive.h
 *		The tier 2 frame format: records of a sealed segment, differentially encoded by column and
 *		compressed with zstd into independent frames.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_ARCHIVE_H
#define TIEREDLOG_ARCHIVE_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "core/arena.h"
#include "core/record.h"

/* A record as the archive stores it (the rid is recomputed from these fields on read). */
typedef struct TlArchiveRow
{
	TimestampTz ts;
	text	   *key;
	Jsonb	   *payload;
	text	   *source;			/* NULL when absent */
	char	   *origin;
	int64		seq;
	char	   *payload_text;	/* decode only: the payload's jsonb text form, else NULL */
	int			payload_text_len;
	bool		has_rid;		/* decode only: rid computed while the payload was rebuilt */
	TlRid		rid;
} TlArchiveRow;

/*
 * A segment's zstd dictionary (archive_dict.c): trained by the move, stored with the frames,
 * shared by every frame of the archive attempt.
 */
typedef struct TlArchiveDict TlArchiveDict;

/* A frame's directory entry. */
typedef struct TlFrameMeta
{
	int32		nrows;
	TimestampTz first_ts;
	TimestampTz last_ts;
	text	   *min_key;
	text	   *max_key;
	int32		raw_len;
	int32		comp_len;
	int64		checksum;		/* XXH3-64 of the compressed bytes */
	bytea	   *key_filter;		/* the frame's key filter (tl_key_filter_*), NULL when none */
	const TlArchiveDict *dict;	/* the segment's dictionary (set by the reader), NULL when none */
} TlFrameMeta;

/*
 * Which rows of a frame a reader wants: from_ts <= ts < to_ts and, when key is not NULL, that
 * key. Rows not wanted are skipped without rebuilding their payloads; with no_payload, no payload
 * is rebuilt at all (the reader uses neither the payload nor the rid hashed over it).
 */
typedef struct TlFrameWant
{
	TimestampTz from_ts;
	TimestampTz to_ts;
	text	   *key;
	bool		no_payload;		/* hand rows out without payloads (payload NULL): none is rebuilt */
	/*
	 * Non-NULL: the log's name; each rebuilt row's rid is computed as its payload is rebuilt
	 * (has_rid, rid), from the text written in place inside the canonical encoding, and the text
	 * is not kept (payload_text NULL).
	 */
	const char *rid_log;
} TlFrameWant;

/*
 * Key filters: a Bloom filter over the distinct keys of a frame, kept in the frame directory
 * (not inside the compressed bytes), so that a key read skips frames without fetching them.
 * Layout: version byte (TL_KEY_FILTER_VERSION), number of hash functions, then the bit array
 * (a multiple of 8 bytes, at most TL_KEY_FILTER_MAX_BYTES).
 */
#define TL_KEY_FILTER_VERSION	1
#define TL_KEY_FILTER_BITS_PER_KEY	16
#define TL_KEY_FILTER_HASHES	11
#define TL_KEY_FILTER_MAX_HASHES	32
#define TL_KEY_FILTER_MAX_BYTES	(64 * 1024)


/* Rows per frame and raw bytes per frame at which a frame is closed. */
#define TL_FRAME_MAX_ROWS		4096
#define TL_FRAME_TARGET_BYTES	(512 * 1024)

/*
 * Payload objects nested deeper than TL_FRAME_SHRED_DEPTH are kept whole as JSON text; a frame
 * whose path table is deeper than TL_FRAME_MAX_DEPTH is corrupt (nothing writes one).
 */
#define TL_FRAME_SHRED_DEPTH	256
#define TL_FRAME_MAX_DEPTH		10000

/* At most this many payload paths (distinct object keys by position) in one frame. */
#define TL_FRAME_MAX_PATHS		(1024 * 1024)

/* The capacity a move trains a dictionary to; a stored one larger than the maximum is corrupt. */
#define TL_ARCHIVE_DICT_BYTES		(112 * 1024)
#define TL_ARCHIVE_DICT_MAX_BYTES	(1024 * 1024)
/* The archive relation's row of an attempt that holds its dictionary, if it has one. */
#define TL_ARCHIVE_DICT_FRAME_NO	(-1)

extern Size tl_frame_max_raw(void);

extern bytea *tl_frame_encode(const TlArchiveRow *rows, int n, int level, TlFrameMeta *meta);
extern void tl_frame_encode_raw(const TlArchiveRow *rows, int n, StringInfo raw, TlFrameMeta *meta);
extern bytea *tl_frame_compress(const char *raw, int raw_len, int level, const TlArchiveDict *dict,
								TlFrameMeta *meta);
extern TlArchiveRow *tl_frame_decode(const bytea *data, const TlFrameMeta *meta, int64 segment_id,
									 int frame_no);
extern bytea *tl_frame_decompress(const bytea *data, const TlFrameMeta *meta, int64 segment_id,
								  int frame_no);
extern TlArchiveRow *tl_frame_decode_want(const bytea *data, const TlFrameMeta *meta,
										  int64 segment_id, int frame_no, const TlFrameWant *want,
										  int *nrows);
typedef struct TlFrameCursor TlFrameCursor;
typedef struct TlFrameBuilder TlFrameBuilder;
extern TlFrameBuilder *tl_frame_builder_create(const char *rid_log);
extern TlFrameCursor *tl_frame_cursor_open(const bytea *data, const TlFrameMeta *meta,
										   int64 segment_id, int frame_no, bool no_payload,
										   TlArena *arena);
extern const TlArchiveRow *tl_frame_cursor_row(const TlFrameCursor *c, int row);
extern int	tl_frame_cursor_position(const TlFrameCursor *c);
extern const TlArchiveRow *tl_frame_cursor_next(TlFrameCursor *c, TlFrameBuilder *fb);
extern void tl_frame_cursor_skip_before(TlFrameCursor *c, TimestampTz ts);
extern TlArchiveRow *tl_frame_decode_raw(const char *raw, int raw_len, int *nrows);
extern TlArchiveRow *tl_frame_decode_raw_want(const char *raw, int raw_len, const TlFrameWant *want,
											  int *nrows);
typedef struct TlKeyHash
{
	uint64		h1;
	uint64		h2;
} TlKeyHash;

extern void tl_key_filter_hash(const char *key, int keylen, TlKeyHash *h);
extern bool tl_key_filter_may_hold_hashed(const bytea *filter, const TlKeyHash *h,
										  int64 segment_id, int frame_no);
extern bool tl_key_filter_may_hold(const bytea *filter, const char *key, int keylen,
								   int64 segment_id, int frame_no);
extern int	tl_archive_row_cmp(const void *a, const void *b);

extern bytea *tl_archive_dict_train(const char *samples, const size_t *sizes, int nsamples,
									Size capacity);
extern int64 tl_archive_dict_checksum(const bytea *bytes);
extern TlArchiveDict *tl_archive_dict_for_writing(bytea *bytes, int level);
extern TlArchiveDict *tl_archive_dict_load(const bytea *stored, int64 checksum, int64 segment_id);
extern void tl_archive_dict_free(TlArchiveDict *d);
extern uint32 tl_archive_dict_id(const TlArchiveDict *d);
extern const bytea *tl_archive_dict_bytes(const TlArchiveDict *d);
extern const void *tl_archive_dict_cdict(const TlArchiveDict *d);
extern const void *tl_archive_dict_ddict(const TlArchiveDict *d);

#endif							/* TIEREDLOG_ARCHIVE_H */
