/*-------------------------------------------------------------------------
 * spi_rows.c
 *		Reading the rows of the last SPI result (SPI_tuptable) as C values: the one place for the
 *		SPI_getvalue / SPI_getbinval idiom that store/'s table access repeats. Text and other
 *		by-reference values are copied into the context that was current when SPI was connected
 *		(SPI_palloc's "upper" context), so they outlive SPI_finish and the caller's switch back
 *		from the extension's owner.
 *
 * tl_spi_read_rows reads a whole result into an array of C structs, column i + 1 into the
 * field cols[i] names, so that a store/ function states only its SQL and its columns;
 * tl_spi_rows_to_tuplestore hands a whole result to a set-returning function's caller.
 *
 * Locking: none; the caller holds an SPI connection with a result.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/tuplestore.h"
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

/*
 * Every row of the last SPI result as an array of `rowsize`-byte structs (zeroed first), column
 * i + 1 read into the field cols[i] names; *n is the number of rows.
 */
void *
tl_spi_read_rows(const TlSpiColumn *cols, int ncols, Size rowsize, int *n)
{
	char	   *rows = tl_spi_rows_alloc(rowsize * SPI_processed);

	Assert(SPI_tuptable != NULL && ncols <= SPI_tuptable->tupdesc->natts);
	*n = (int) SPI_processed;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *row = rows + r * rowsize;

		for (int c = 0; c < ncols; c++)
		{
			void	   *field = row + cols[c].offset;

			switch (cols[c].type)
			{
				case TL_SPI_TEXT:
					*(char **) field = tl_spi_text(r, c + 1);
					break;
				case TL_SPI_INT8:
					*(int64 *) field = tl_spi_int8(r, c + 1);
					break;
				case TL_SPI_INT4:
					*(int32 *) field = tl_spi_int4(r, c + 1);
					break;
				case TL_SPI_OID:
					*(Oid *) field = tl_spi_oid(r, c + 1);
					break;
				case TL_SPI_TIMESTAMPTZ:
					*(TimestampTz *) field = tl_spi_timestamptz(r, c + 1);
					break;
			}
		}
	}
	return rows;
}

/*
 * Every row of the last SPI result into a materialized SRF's tuplestore (InitMaterializedSRF),
 * whose columns are the result's first ones, in order. The tuplestore copies the values, so SPI
 * may be finished after.
 */
void
tl_spi_rows_to_tuplestore(ReturnSetInfo *rsinfo)
{
	int			natts = rsinfo->setDesc->natts;
	Datum	   *out = palloc(sizeof(Datum) * natts);
	bool	   *outnull = palloc(sizeof(bool) * natts);

	Assert(SPI_tuptable != NULL && SPI_tuptable->tupdesc->natts >= natts);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		for (int c = 0; c < natts; c++)
			out[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &outnull[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnull);
	}
	pfree(out);
	pfree(outnull);
}
