/*-------------------------------------------------------------------------
 * spi_rows.c
 *		Reading the rows of the last SPI result (SPI_tuptable) as C values: the one place for the
 *		SPI_getvalue / SPI_getbinval idiom that store/'s table access repeats. Text and other
 *		by-reference values are copied into the context that was current when SPI was connected
 *		(SPI_palloc's "upper" context), so they outlive SPI_finish and the caller's switch back
 *		from the extension's owner.
 *
 * Locking: none; the caller holds an SPI connection with a result.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/timestamp.h"

#include "store/spi_rows.h"

static Datum
value(uint64 row, int col, bool *isnull)
{
	Assert(SPI_tuptable != NULL && row < SPI_processed);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

bool
tl_spi_isnull(uint64 row, int col)
{
	bool		isnull;

	(void) value(row, col, &isnull);
	return isnull;
}

/* The column's text form (its type's output function), or NULL. */
char *
tl_spi_text(uint64 row, int col)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
	char	   *copy;
	size_t		len;

	if (v == NULL)
		return NULL;
	len = strlen(v) + 1;
	copy = SPI_palloc(len);
	memcpy(copy, v, len);
	return copy;
}

/* An int8 column; NULL reads as 0. */
int64
tl_spi_int8(uint64 row, int col)
{
	bool		isnull;
	Datum		d = value(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* An int4 column; NULL reads as 0. */
int32
tl_spi_int4(uint64 row, int col)
{
	bool		isnull;
	Datum		d = value(row, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* An oid column; NULL reads as InvalidOid. */
Oid
tl_spi_oid(uint64 row, int col)
{
	bool		isnull;
	Datum		d = value(row, col, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/* A timestamptz column; NULL reads as 0 (the epoch 2000-01-01). */
TimestampTz
tl_spi_timestamptz(uint64 row, int col)
{
	bool		isnull;
	Datum		d = value(row, col, &isnull);

	return isnull ? 0 : DatumGetTimestampTz(d);
}

/* Zeroed memory for result rows, in the same context as the copies above. */
void *
tl_spi_rows_alloc(Size size)
{
	void	   *p = SPI_palloc(Max(size, 1));

	memset(p, 0, Max(size, 1));
	return p;
}
