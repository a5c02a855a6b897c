/*-------------------------------------------------------------------------
 * archive_int.h
 *		Shared by the archive frame format's files (archive.c: frames; archive_codec.c: varints,
 *		the bounds-checked reader and dictionaries; archive_shred.c: payloads into columns;
 *		archive_rebuild.c: columns back into payloads; archive_filter.c: per-frame key filters).
 *		Not for use outside them: store/archive.h is the format's interface.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_ARCHIVE_INT_H
#define TIEREDLOG_ARCHIVE_INT_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "store/archive.h"

/* Payload tags, one per (path, row). */
enum
{
	TAG_ABSENT = 0,
	TAG_NULL,
	TAG_TRUE,
	TAG_FALSE,
	TAG_INT,					/* integer number: zigzag varint */
	TAG_NUM,					/* other number: its text */
	TAG_STR,					/* string: bytes */
	TAG_HEX,					/* lowercase even-length hex string: its bytes */
	TAG_UUID,					/* lowercase canonical uuid string: 16 bytes */
	TAG_JSON,					/* array (or a non-object root): jsonb text */
	TAG_OBJECT					/* object: its children carry the values */
};

/* What a dictionary holds: record keys, or names (origins, sources). */
typedef enum DictKind
{
	DICT_KEYS, DICT_NAMES
} DictKind;

typedef struct Reader
{
	const uint8 *p;
	const uint8 *end;
	int64		segment_id;
	int			frame_no;
} Reader;

typedef struct DictItem
{
	const char *s;
	int			len;
	int			row;
} DictItem;

typedef struct DictEntry
{
	char	   *s;
	int			len;
} DictEntry;

typedef struct DecPath
{
	int			parent;
	const char *key;
	int			keylen;
	char	   *key_text;		/* the key as the payload's text form prints it, then ": " */
	int			key_text_len;
	const uint8 *tags;
	Reader		ints;
	Reader		strs;
	int		   *children;
	int			nchildren;
} DecPath;

typedef struct RowBuilder
{
	StringInfoData bin;			/* the payload's jsonb, varlena header first */
	StringInfoData text;		/* the payload's canonical text */
	StringInfoData scratch;		/* NUL-terminated copy for escape_json */
	const char *rid_log;		/* non-NULL: the text is written inside the canonical encoding
								 * of the row, whose rid is computed (TlFrameWant.rid_log) */
	bool		in_place;		/* the row's payload and payload_text point into `bin` and
								 * `text` (valid until the next rebuild) instead of copies */
} RowBuilder;


/* A cursor over one frame's rows (tl_frame_cursor_*). */
struct TlFrameCursor
{
	char	   *raw;			/* the uncompressed frame, the cursor's own */
	int			nrows;
	TlArchiveRow *rows;			/* fixed columns of every row; payloads when rebuilt */
	DecPath    *paths;			/* NULL: rows come without payloads */
	int			npaths;
	int			next;			/* the next row to hand out */
	int			batch_end;		/* rows before it are rebuilt or skipped: the streams are there */
	TlArena    *arena;			/* the raw frame, rows, paths and batches */
	char	   *batch;			/* the payloads (and texts) of rows [next, batch_end) */
	Size		batch_cap;
};

/* The row builder a merge's cursors share (tl_frame_builder_create). */
struct TlFrameBuilder
{
	RowBuilder	b;
};

static inline uint64
tl_arc_zigzag(int64 v)
{
	return ((uint64) v << 1) ^ (uint64) (v >> 63);
}

static inline int64
tl_arc_unzigzag(uint64 v)
{
	return (int64) (v >> 1) ^ -(int64) (v & 1);
}

extern void tl_arc_put_varint(StringInfo b, uint64 v);
extern void tl_arc_put_bytes(StringInfo b, const char *p, int len);
extern void tl_arc_corrupt(const Reader *r, const char *what) pg_attribute_noreturn();
/* A varint (at most 10 bytes; inline: it is the decoder's innermost step). */
static inline uint64
tl_arc_get_varint(Reader *r)
{
	uint64		v = 0;
	int			shift = 0;

	if (likely(r->p < r->end) && !(*r->p & 0x80))
		return *r->p++;
	for (;;)
	{
		uint8		c;

		if (r->p >= r->end || shift > 63)
			tl_arc_corrupt(r, "truncated or overlong integer");
		c = *r->p++;
		v |= (uint64) (c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
		shift += 7;
	}
}

extern int tl_arc_get_count(Reader *r, int limit, const char *what);
extern const char *tl_arc_get_bytes(Reader *r, int *len);
extern Reader tl_arc_get_blob(Reader *r);
extern int tl_arc_cmp_bytes(const char *a, int alen, const char *b, int blen);
extern void tl_arc_write_dict(StringInfo b, DictItem *items, int n, bool front, int first_id, int *ids, int *ndistinct);
extern DictEntry *tl_arc_read_dict(Reader *r, bool front, DictKind kind, int max_entries, int *n);
extern DictEntry *tl_arc_find_key_in_dict(Reader *r, int max_entries, const char *key, int keylen, int *n, int *found);
extern void tl_arc_write_payloads(StringInfo b, const TlArchiveRow *rows, int n);
extern void tl_arc_rebuild_row(DecPath *paths, int row, RowBuilder *b, TlArchiveRow *out);
extern DecPath *tl_arc_read_paths(Reader *r, int nrows, int *npaths_out, TlArena *arena);
extern bytea *tl_arc_build_key_filter(const DictItem *items, int n, int ndistinct);

#endif							/* TIEREDLOG_ARCHIVE_INT_H */
