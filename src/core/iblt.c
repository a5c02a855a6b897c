/*-------------------------------------------------------------------------
 * iblt.c
 *		Invertible Bloom lookup tables over 64-bit record ids: reconciliation sends one per
 *		mismatched leaf, sized for the leaf's count difference, and the difference of two tables
 *		peels into the ids only one side holds (about 16 bytes per differing record).
 *
 * Three hash functions, one partition of the table each; a cell holds a count, the XOR of the ids
 * and the XOR of a 32-bit check hash, so a pure cell (count +-1 whose check matches) names one id.
 *
 * Locking: none.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <xxhash.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "core/iblt.h"
#include "core/bytes.h"

/* Cells for a leaf whose counts differ by `dn`: a multiple of 3 (one partition per hash). */
int
tl_iblt_cells_for(int64 dn)
{
	int64		d = Max(1, dn < 0 ? -dn : dn);

	return IBLT_HASHES * (int) Min(d + 1, 1000000);
}

static uint32
iblt_check(uint64 id)
{
	return (uint32) XXH3_64bits_withSeed(&id, sizeof(id), 0x74696c7442);
}

void
tl_iblt_add(IbltCell *t, int m, uint64 id, int sign)
{
	int			part = m / IBLT_HASHES;
	uint32		chk = iblt_check(id);

	for (int k = 0; k < IBLT_HASHES; k++)
	{
		IbltCell   *c = &t[k * part + (int) (XXH3_64bits_withSeed(&id, sizeof(id), k + 1) % part)];

		c->count += sign;
		c->key ^= id;
		c->check ^= chk;
	}
}

/*
 * Peel t (local minus remote) into ids only here (count +1) and only there (-1). Returns false
 * if the table does not decode (too small for the difference): the caller falls back to ids.
 */
#define IBLT_MAX_PASSES		64

bool
tl_iblt_peel(IbltCell *t, int m, uint64 **here, int *nhere, uint64 **there, int *nthere)
{
	bool		progress = true;
	int			passes = 0;

	*here = palloc(sizeof(uint64) * m);
	*there = palloc(sizeof(uint64) * m);
	*nhere = *nthere = 0;
	while (progress)
	{
		/*
		 * A table sized for its difference peels in a few passes; one a peer built to peel one
		 * cell per pass would take m passes of m cells. Past IBLT_MAX_PASSES it counts as not
		 * decoding, and the caller exchanges ids (linear) instead.
		 */
		if (++passes > IBLT_MAX_PASSES)
			return false;
		CHECK_FOR_INTERRUPTS();
		progress = false;
		for (int i = 0; i < m; i++)
		{
			IbltCell   *c = &t[i];

			if ((c->count == 1 || c->count == -1) && c->check == iblt_check(c->key))
			{
				uint64		id = c->key;
				int			sign = c->count;

				if (sign > 0 && *nhere < m)
					(*here)[(*nhere)++] = id;
				else if (sign < 0 && *nthere < m)
					(*there)[(*nthere)++] = id;
				else
					return false;
				tl_iblt_add(t, m, id, -sign);
				progress = true;
			}
		}
	}
	for (int i = 0; i < m; i++)
		if (t[i].count != 0 || t[i].key != 0 || t[i].check != 0)
			return false;
	return true;
}

void
tl_iblt_put(StringInfo out, const IbltCell *t, int m)
{
	for (int i = 0; i < m; i++)
	{
		tl_wire_put_u32(out, (uint32) t[i].count);
		tl_wire_put_u64(out, t[i].key);
		tl_wire_put_u32(out, t[i].check);
	}
}
