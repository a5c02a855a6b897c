/*-------------------------------------------------------------------------
 * rowinsert.h
 *		Inserting a heap tuple and its index entries without the executor. See rowinsert.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_ROWINSERT_H
#define TIEREDLOG_ROWINSERT_H

#include "postgres.h"
#include "access/heapam.h"
#include "catalog/indexing.h"

extern void tl_tuple_insert(Relation rel, CatalogIndexState ind, HeapTuple tup, int options,
							BulkInsertState bistate);
extern bool tl_tuple_insert_unless_duplicate(Relation rel, CatalogIndexState ind, HeapTuple tup,
											 int options, BulkInsertState bistate);

extern void tl_tuples_multi_insert(Relation rel, CatalogIndexState ind, TupleTableSlot **slots, int n,
								   int options, BulkInsertState bistate);
extern bool tl_tuple_delete(Relation rel, ItemPointer tid, bool gone_ok);

#endif							/* TIEREDLOG_ROWINSERT_H */
