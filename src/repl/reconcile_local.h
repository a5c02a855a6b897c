/*-------------------------------------------------------------------------
 * reconcile_local.h
 *		This node's side of reconciliation (reconcile_local.c), shared with the coordinator.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_RECONCILE_LOCAL_H
#define TIEREDLOG_RECONCILE_LOCAL_H

#include "postgres.h"

#include "store/catalog.h"
#include "store/digest.h"
#include "store/archive.h"
#include "core/iblt.h"
#include "repl/wire.h"

typedef struct IdCollect
{
	const TlLog *log;
	const TlSegment *seg;
	bool		leaves[TL_LEAVES];
	uint64		salt;
	uint64	   *ids;
	uint8	   *id_leaf;		/* the leaf of each id (before sorting) */
	int			n;
	int			cap;
	/* fetch mode: collect rows whose id is in want[] */
	const uint64 *want;
	int			nwant;
	struct BatchRow *batch;
	int			nbatch;
	int			batch_cap;
	int			encoded;
	int			damaged;		/* local copies whose content does not match their rid */
} IdCollect;

extern bool tl_rl_find_segment(const char *log_name, TimestampTz range_start, TlLog *log, TlSegment *seg);
extern void tl_rl_fresh_digest(const TlLog *log, const TlSegment *seg, TlSegmentDigest *d);
extern int	tl_rl_cmp_u64(const void *a, const void *b);
extern void tl_rl_collect_ids(const TlLog *log, const TlSegment *seg, const bool *leaves, uint64 salt,
							  IdCollect *c);
extern IbltCell **tl_rl_iblt_build(const TlLog *log, const TlSegment *seg, const bool *leaves,
								   const int *cells, uint64 salt, bool have_segment);
extern bytea *tl_rl_encode_records(const TlLog *log, const TlSegment *seg, const bool *leaves,
								   uint64 salt, const uint64 *want, int nwant, int *count, int *damaged);
extern void tl_rl_store_records(const char *data, int len, const char *peer_name,
								const char *sender_node, int64 *counts);
extern uint64 *tl_rl_ids_from_bytes(const char *p, int len, int *n);
extern bytea *tl_rl_read_batch_frame(TlWire *w, TlFrameMeta *meta);

#endif							/* TIEREDLOG_RECONCILE_LOCAL_H */
