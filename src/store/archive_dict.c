/*-------------------------------------------------------------------------
 * archive_dict.c
 *		A segment's zstd dictionary: trained by the move from samples of the segment's own frames
 *		(before compression), stored once with the segment's frames, and used to compress and
 *		decompress every frame of that archive attempt.
 *
 * Small frames make key reads cheap (a lookup decompresses a few hundred records, not a few
 * thousand), but each compresses worse alone; a dictionary trained on the segment gives each frame
 * the context the others share (object keys, repeated values, the columns' shapes). The move
 * trains one only where it pays: the estimated saving over the segment must exceed the
 * dictionary's own size (train_dictionary in archive_store.c).
 *
 * A dictionary read back from storage is not trusted: its bytes are checked against the stored
 * checksum, it must be a zstd dictionary with an id, and zstd digests it (any error is
 * ERRCODE_DATA_CORRUPTED naming the segment). A frame names the id of the dictionary it was
 * compressed with in its zstd header; archive.c refuses a frame whose id is not the segment's.
 *
 * The zstd states (ZSTD_CDict, ZSTD_DDict) are malloc'ed by zstd; each TlArchiveDict frees them
 * when the memory context it was made in is reset or deleted (a reset callback), so an error
 * frees them with everything else.
 *
 * Locking: none (pure encoding).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>
#include <zdict.h>
#include <xxhash.h>

#include "utils/memutils.h"

#include "store/archive.h"

struct TlArchiveDict
{
	uint32		id;				/* the dictionary's zstd id (never 0) */
	ZSTD_DDict *ddict;			/* for decompression; NULL until needed */
	ZSTD_CDict *cdict;			/* for compression (the writer's); NULL on the read side */
	bytea	   *bytes;			/* the dictionary itself, in the context of this struct */
	MemoryContextCallback free_cb;
};

static void
dict_free(void *arg)
{
	TlArchiveDict *d = arg;

	if (d->ddict)
		ZSTD_freeDDict(d->ddict);
	if (d->cdict)
		ZSTD_freeCDict(d->cdict);
	d->ddict = NULL;
	d->cdict = NULL;
}

static TlArchiveDict *
dict_new(bytea *bytes, uint32 id)
{
	TlArchiveDict *d = palloc0(sizeof(TlArchiveDict));

	d->id = id;
	d->bytes = bytes;
	d->free_cb.func = dict_free;
	d->free_cb.arg = d;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &d->free_cb);
	return d;
}

static void pg_attribute_noreturn()
dict_corrupt(int64 segment_id, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("archive dictionary of segment %lld is corrupted", (long long) segment_id),
			 errdetail("%s", what),
			 errhint("Repair the segment from a peer with tieredlog.reconcile_segment() once replication is configured.")));
}

/*
 * Train a dictionary of at most `capacity` bytes from `nsamples` samples laid end to end in
 * `samples` (sizes[i] bytes each). NULL when zstd cannot make one from them (too few or too
 * small samples): the frames are then compressed without.
 */
bytea *
tl_archive_dict_train(const char *samples, const size_t *sizes, int nsamples, Size capacity)
{
	bytea	   *out = palloc(VARHDRSZ + capacity);
	size_t		len;

	if (nsamples < 8)
		return NULL;
	len = ZDICT_trainFromBuffer(VARDATA(out), capacity, samples, sizes, (unsigned) nsamples);
	if (ZDICT_isError(len) || ZDICT_getDictID(VARDATA(out), len) == 0)
	{
		elog(DEBUG1, "tieredlog: no archive dictionary: %s",
			 ZDICT_isError(len) ? ZDICT_getErrorName(len) : "no dictionary id");
		pfree(out);
		return NULL;
	}
	SET_VARSIZE(out, VARHDRSZ + len);
	return out;
}

/* XXH3-64 of a dictionary's bytes, as the directory stores it. */
int64
tl_archive_dict_checksum(const bytea *bytes)
{
	return (int64) XXH3_64bits(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));
}

/* A dictionary the writer compresses with, at `level` (bytes are kept, not copied). */
TlArchiveDict *
tl_archive_dict_for_writing(bytea *bytes, int level)
{
	TlArchiveDict *d = dict_new(bytes, ZDICT_getDictID(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes)));

	d->cdict = ZSTD_createCDict(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes), level);
	if (d->cdict == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a zstd dictionary")));
	return d;
}

/*
 * A dictionary read back from storage (copied into the current memory context): checked against
 * its directory checksum, then digested by zstd.
 */
TlArchiveDict *
tl_archive_dict_load(const bytea *stored, int64 checksum, int64 segment_id)
{
	bytea	   *bytes;
	uint32		id;
	TlArchiveDict *d;

	if (VARSIZE_ANY_EXHDR(stored) < 8 || VARSIZE_ANY_EXHDR(stored) > TL_ARCHIVE_DICT_MAX_BYTES)
		dict_corrupt(segment_id, psprintf("its size of %d bytes is outside 8 to %d",
										  (int) VARSIZE_ANY_EXHDR(stored), TL_ARCHIVE_DICT_MAX_BYTES));
	if (tl_archive_dict_checksum(stored) != checksum)
		dict_corrupt(segment_id, "checksum does not match the frame directory");
	id = ZDICT_getDictID(VARDATA_ANY(stored), VARSIZE_ANY_EXHDR(stored));
	if (id == 0)
		dict_corrupt(segment_id, "not a zstd dictionary");
	bytes = palloc(VARSIZE_ANY_EXHDR(stored) + VARHDRSZ);
	SET_VARSIZE(bytes, VARSIZE_ANY_EXHDR(stored) + VARHDRSZ);
	memcpy(VARDATA(bytes), VARDATA_ANY(stored), VARSIZE_ANY_EXHDR(stored));
	d = dict_new(bytes, id);
	d->ddict = ZSTD_createDDict(VARDATA(bytes), VARSIZE_ANY_EXHDR(bytes));
	if (d->ddict == NULL)
		dict_corrupt(segment_id, "zstd cannot read it");
	if (ZSTD_getDictID_fromDDict(d->ddict) != id)
		dict_corrupt(segment_id, "its id does not survive zstd's reading");
	return d;
}

/* Free the zstd states now, before the memory context goes (which then frees nothing more). */
void
tl_archive_dict_free(TlArchiveDict *d)
{
	if (d != NULL)
		dict_free(d);
}

uint32
tl_archive_dict_id(const TlArchiveDict *d)
{
	return d->id;
}

const bytea *
tl_archive_dict_bytes(const TlArchiveDict *d)
{
	return d->bytes;
}

/* zstd's states, for archive.c (typed void to keep zstd.h out of archive.h) */
const void *
tl_archive_dict_cdict(const TlArchiveDict *d)
{
	return d->cdict;
}

const void *
tl_archive_dict_ddict(const TlArchiveDict *d)
{
	return d->ddict;
}
