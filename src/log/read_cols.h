/*-------------------------------------------------------------------------
 * read_cols.h
 *		Which output columns of read() the running query uses (read_cols.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_READ_COLS_H
#define TIEREDLOG_READ_COLS_H

#include "postgres.h"
#include "fmgr.h"

/* Bit (attno - 1) set for every output column the query reads; all of them when it cannot tell. */
extern uint32 tl_read_needed_columns(FunctionCallInfo fcinfo, int natts);

#endif							/* TIEREDLOG_READ_COLS_H */
