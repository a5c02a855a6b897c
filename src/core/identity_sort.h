/*-------------------------------------------------------------------------
 * identity_sort.h
 *		Find the record identities (origin, seq) given more than once: fed one by one, sorted
 *		within maintenance_work_mem (spilling to disk beyond it).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_IDENTITY_SORT_H
#define TIEREDLOG_IDENTITY_SORT_H

#include "postgres.h"

typedef struct TlIdentitySort TlIdentitySort;

extern TlIdentitySort *tl_identity_sort_begin(void);
extern void tl_identity_sort_add(TlIdentitySort *ids, const char *origin, int64 seq);
extern int64 tl_identity_sort_finish(TlIdentitySort *ids, int max_named, char **named);

#endif							/* TIEREDLOG_IDENTITY_SORT_H */
