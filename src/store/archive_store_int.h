/*-------------------------------------------------------------------------
 * archive_store_int.h
 *		Shared by archive_store.c (reading frames) and archive_writer.c (writing them): the name of
 *		a log's archive relation and its optional key_filter column. Not for use outside them.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_ARCHIVE_STORE_INT_H
#define TIEREDLOG_ARCHIVE_STORE_INT_H

#include "postgres.h"

#include "access/attnum.h"

extern char *tl_archive_relname(int32 log_id);
extern char *tl_archive_qualified(int32 log_id);
extern AttrNumber tl_archive_key_filter_attnum(Oid relid);

#endif							/* TIEREDLOG_ARCHIVE_STORE_INT_H */
