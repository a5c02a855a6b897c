/*-------------------------------------------------------------------------
 * spi_rows.h
 *		Typed reads of the last SPI result, copied out of SPI's memory. See spi_rows.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SPI_ROWS_H
#define TIEREDLOG_SPI_ROWS_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "nodes/execnodes.h"

/* How to read one column of an SPI result into a field of a C struct (tl_spi_read_rows). */
typedef enum TlSpiType
{
	TL_SPI_TEXT,				/* char *, NULL when null */
	TL_SPI_INT8,				/* int64, 0 when null */
	TL_SPI_INT4,				/* int32, 0 when null */
	TL_SPI_OID,					/* Oid, InvalidOid when null */
	TL_SPI_TIMESTAMPTZ			/* TimestampTz, 0 when null */
} TlSpiType;

typedef struct TlSpiColumn
{
	TlSpiType	type;
	Size		offset;			/* of the field in the row struct */
} TlSpiColumn;

#define TL_SPI_COL(type, rowtype, field)	{(type), offsetof(rowtype, field)}

extern void *tl_spi_read_rows(const TlSpiColumn *cols, int ncols, Size rowsize, int *n);
extern bool tl_spi_isnull(uint64 row, int col);
extern char *tl_spi_text(uint64 row, int col);
extern int64 tl_spi_int8(uint64 row, int col);
extern int32 tl_spi_int4(uint64 row, int col);
extern Oid	tl_spi_oid(uint64 row, int col);
extern TimestampTz tl_spi_timestamptz(uint64 row, int col);
extern void *tl_spi_rows_alloc(Size size);
extern void tl_spi_rows_to_tuplestore(ReturnSetInfo *rsinfo);

#endif							/* TIEREDLOG_SPI_ROWS_H */
