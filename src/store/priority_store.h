/*-------------------------------------------------------------------------
 * priority_store.h
 *		Rows of tieredlog.source_priority. See priority_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PRIORITY_STORE_H
#define TIEREDLOG_PRIORITY_STORE_H

#include "postgres.h"

extern void tl_source_priority_set(text *source, const int32 *priority);
extern int	tl_source_priority_get(const char *source);

#endif							/* TIEREDLOG_PRIORITY_STORE_H */
