/*-------------------------------------------------------------------------
 * archive_store.h
 *		The per-log archive relation holding tier 2 frames.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_ARCHIVE_STORE_H
#define TIEREDLOG_ARCHIVE_STORE_H

#include "postgres.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "store/archive.h"

/*
 * Writes a segment's frames: rows are gathered into frames and encoded as they come, the encoded
 * frames are spooled to a temporary file, and at the end a dictionary is trained from samples of
 * them (where it pays) and every frame is compressed with it and stored.
 */
typedef struct TlFrameWriter
{
	int32		log_id;
	int64		segment_id;
	int64		attempt;
	int			level;
	int			frame_rows;		/* records per frame (tieredlog.archive_frame_records) */
	MemoryContext cxt;			/* the rows of the frame being gathered */
	TlArchiveRow *rows;
	int			nrows;
	Size		pending_bytes;
	struct BufFile *spool;		/* encoded frames, waiting for the dictionary */
	int			spooled;		/* frames in the spool */
	int64		spooled_raw;	/* their uncompressed bytes */
	off_t	   *offsets;		/* where each spooled frame starts (spool_fileno[i], offsets[i]) */
	int		   *filenos;
	int			offsets_cap;
	int			frames;
	int64		total_rows;
	int64		raw_bytes;
	int64		stored_bytes;
} TlFrameWriter;

typedef void (*TlFrameVisitor) (const TlArchiveRow *rows, int n, void *arg);

extern bool tl_archive_exists(int32 log_id);
extern void tl_fw_init(TlFrameWriter *fw, int32 log_id, int64 segment_id, int64 attempt, int level);
extern void tl_fw_add(TlFrameWriter *fw, const TlArchiveRow *row);
extern void tl_fw_finish(TlFrameWriter *fw);
extern bool tl_archive_scan(int32 log_id, int64 segment_id, int64 attempt, TimestampTz from_ts,
							TimestampTz to_ts, text *key, bool merge, const char *rid_log,
							TlFrameVisitor visit, void *arg);
extern bool tl_archive_scan_cols(int32 log_id, int64 segment_id, int64 attempt,
								 TimestampTz from_ts, TimestampTz to_ts, text *key, bool no_payload,
								 bool merge, const char *rid_log, TlFrameVisitor visit, void *arg);
extern bool tl_archive_scan_in_record_order(int32 log_id, int64 segment_id, int64 attempt,
											TimestampTz from_ts, TimestampTz to_ts, text *key);
extern void tl_archive_directory(int32 log_id, int64 segment_id, int64 attempt,
								 Tuplestorestate *out, TupleDesc out_desc);
extern bytea *tl_archive_frame_raw(int32 log_id, int64 segment_id, int64 attempt, int frame_no);
extern int64 tl_archive_bytes(int32 log_id, int64 segment_id, int64 attempt);
extern int64 tl_archive_delete(int32 log_id, int64 segment_id, int64 attempt);

#endif							/* TIEREDLOG_ARCHIVE_STORE_H */
