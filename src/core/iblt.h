/*-------------------------------------------------------------------------
 * iblt.h
 *		Invertible Bloom lookup tables over 64-bit ids (reconciliation inside a leaf).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_IBLT_H
#define TIEREDLOG_IBLT_H

#include "postgres.h"
#include "lib/stringinfo.h"

#define IBLT_CELL_BYTES	16
#define IBLT_HASHES		3

/*
 * The most cells a peer may ask for in one call, all leaves together (about 75 MB of tables), and
 * so for one leaf; a larger difference is reconciled by exchanging the leaf's ids.
 */
#define IBLT_MAX_CELLS	(IBLT_HASHES * 1048576)

typedef struct IbltCell
{
	int32		count;
	uint64		key;			/* XOR of ids */
	uint32		check;			/* XOR of a second (32-bit) hash of the ids */
} IbltCell;

extern int	tl_iblt_cells_for(int64 dn);
extern void tl_iblt_add(IbltCell *t, int m, uint64 id, int sign);
extern bool tl_iblt_peel(IbltCell *t, int m, uint64 **here, int *nhere, uint64 **there, int *nthere);
extern void tl_iblt_put(StringInfo out, const IbltCell *t, int m);

#endif							/* TIEREDLOG_IBLT_H */
