/*-------------------------------------------------------------------------
 * archive.h
 *		The tier 2 frame format: records of a sealed segment, differentially encoded by column and
 *		compressed with zstd into independent frames.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_ARCHIVE_H
#define TIEREDLOG_ARCHIVE_H

#include "postgres.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

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
} TlArchiveRow;

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
} TlFrameMeta;

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

extern Size tl_frame_max_raw(void);

extern bytea *tl_frame_encode(const TlArchiveRow *rows, int n, int level, TlFrameMeta *meta);
extern TlArchiveRow *tl_frame_decode(const bytea *data, const TlFrameMeta *meta, int64 segment_id,
									 int frame_no);
extern bytea *tl_frame_decompress(const bytea *data, const TlFrameMeta *meta, int64 segment_id,
								  int frame_no);
extern TlArchiveRow *tl_frame_decode_raw(const char *raw, int raw_len, int *nrows);
extern int	tl_archive_row_cmp(const void *a, const void *b);

#endif							/* TIEREDLOG_ARCHIVE_H */
