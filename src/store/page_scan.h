/*-------------------------------------------------------------------------
 * page_scan.h
 *		Reading the heap pages of a relation written since an LSN. See page_scan.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PAGE_SCAN_H
#define TIEREDLOG_PAGE_SCAN_H

#include "postgres.h"
#include "access/htup.h"
#include "access/xlogdefs.h"
#include "storage/buf.h"
#include "utils/relcache.h"

typedef struct TlPageScanStats
{
	BlockNumber pages;			/* in the relation */
	BlockNumber skipped_visible;	/* marked all-visible */
	BlockNumber skipped_lsn;	/* not written since the LSN floor */
} TlPageScanStats;

/* A normal tuple of a page being read, the page share-locked (tup points into it). */
typedef void (*TlPageTupleFn) (HeapTuple tup, Buffer buf, void *arg);
/* The page's lock and pin are released (work that must not hold a page lock goes here). */
typedef void (*TlPageDoneFn) (void *arg);

extern void tl_scan_changed_pages(Relation rel, XLogRecPtr lsn_floor, TlPageTupleFn tuple_fn,
								  TlPageDoneFn page_done, void *arg, TlPageScanStats *stats);

#endif							/* TIEREDLOG_PAGE_SCAN_H */
