/*-------------------------------------------------------------------------
 * spi_rows.h
 *		Typed reads of the last SPI result, copied out of SPI's memory. See spi_rows.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SPI_ROWS_H
#define TIEREDLOG_SPI_ROWS_H

#include "postgres.h"
#include "datatype/timestamp.h"

extern bool tl_spi_isnull(uint64 row, int col);
extern char *tl_spi_text(uint64 row, int col);
extern int64 tl_spi_int8(uint64 row, int col);
extern int32 tl_spi_int4(uint64 row, int col);
extern Oid	tl_spi_oid(uint64 row, int col);
extern TimestampTz tl_spi_timestamptz(uint64 row, int col);
extern void *tl_spi_rows_alloc(Size size);

#endif							/* TIEREDLOG_SPI_ROWS_H */
