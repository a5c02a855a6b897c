/*-------------------------------------------------------------------------
 * safe_spi.h
 *		SPI with a pinned search_path, and the pin for background workers.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_SAFE_SPI_H
#define TIEREDLOG_SAFE_SPI_H

#include "executor/spi.h"

/* the only search_path tieredlog's own queries ever run with */
#define TL_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

extern int	tl_spi_connect(void);
extern void tl_spi_finish(int guc_level);
extern void tl_pin_search_path_for_process(void);
extern void tl_pin_search_path(void);
extern SPIPlanPtr tl_spi_prepare_once(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types);

#endif							/* TIEREDLOG_SAFE_SPI_H */
