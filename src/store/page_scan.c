/*-------------------------------------------------------------------------
 * page_scan.c
 *		The pages of a heap relation that may hold rows written since a moment: every page the
 *		visibility map does not mark all-visible, and with an LSN floor only those whose LSN is
 *		above it. A move's catch-up rounds read a segment's new rows this way (log/tier.c), and
 *		the digest cells that changed during a move are summed this way (digest_store.c); the
 *		caller decides, tuple by tuple, what its snapshots make of each one.
 *
 * Locking: the caller holds a lock on the relation. Each page is pinned, its LSN read with the
 * pin only (a row the caller must see was inserted by a committed transaction, whose page LSN
 * was set before the scan began), then share-locked while its tuples are visited; the lock and
 * the pin are released before page_done runs.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/visibilitymap.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "store/page_scan.h"

void
tl_scan_changed_pages(Relation rel, XLogRecPtr lsn_floor, TlPageTupleFn tuple_fn, TlPageDoneFn page_done,
					  void *arg, TlPageScanStats *stats)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	Buffer		vmbuf = InvalidBuffer;
	bool		use_lsn = !XLogRecPtrIsInvalid(lsn_floor) && RelationNeedsWAL(rel);

	memset(stats, 0, sizeof(*stats));
	stats->pages = nblocks;
	for (BlockNumber blk = 0; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;

		if ((blk & 63) == 0)
			CHECK_FOR_INTERRUPTS();
		if (VM_ALL_VISIBLE(rel, blk, &vmbuf))
		{
			stats->skipped_visible++;
			continue;
		}
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, strategy);
		if (use_lsn && BufferGetLSNAtomic(buf) <= lsn_floor)
		{
			ReleaseBuffer(buf);
			stats->skipped_lsn++;
			continue;
		}
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
		{
			ItemId		id = PageGetItemId(page, off);
			HeapTupleData tup;

			if (!ItemIdIsNormal(id))
				continue;
			tup.t_data = (HeapTupleHeader) PageGetItem(page, id);
			tup.t_len = ItemIdGetLength(id);
			tup.t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tup.t_self, blk, off);
			tuple_fn(&tup, buf, arg);
		}
		UnlockReleaseBuffer(buf);
		if (page_done)
			page_done(arg);
	}
	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
	FreeAccessStrategy(strategy);
}
