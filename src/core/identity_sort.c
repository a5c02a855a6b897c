/*-------------------------------------------------------------------------
 * identity_sort.c
 *		Find the record identities (origin, seq) given more than once (the scrub's check that no
 *		two records of a segment share one).
 *
 * Locking: none (memory and temporary files of the caller's transaction).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "common/hashfn.h"
#include "utils/memutils.h"
#include "utils/tuplesort.h"

#include "core/identity_sort.h"

/*
 * The identities (origin, seq) fed in, sorted to find any given twice (adjacent equal ones after
 * the sort). A segment has few origins: each gets a number, in the order first seen. An identity whose origin number is below ID_PACKED_ORIGINS and whose seq lies in
 * [0, 2^ID_SEQ_BITS) (every seq a node hands out, in practice) is packed into one int8, number <<
 * ID_SEQ_BITS | seq, and sorted as a datum: no tuple per row, a third of the memory. Any other
 * identity goes to a second sort of (origin, seq) tuples, made when first needed. A given
 * identity always goes to the same sort, so every duplicate lies within one of them.
 */
#define ID_SEQ_BITS			48
#define ID_PACKED_ORIGINS	(1 << 15)

/*
 * Origin name -> number. The names come from stored rows, so there may be any number of them: a
 * hash table keeps numbering a row O(1) however many origins a damaged or hostile segment holds
 * (a list searched per row was O(origins)).
 */
typedef struct OriginNumber
{
	const char *origin;			/* the entry's own copy */
	int			number;
	uint32		hash;
	char		status;			/* simplehash's */
} OriginNumber;

#define SH_PREFIX				originmap
#define SH_ELEMENT_TYPE			OriginNumber
#define SH_KEY_TYPE				const char *
#define SH_KEY					origin
#define SH_HASH_KEY(tb, key)	hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b)		(strcmp((a), (b)) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)		((a)->hash)
#define SH_SCOPE				static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct TlIdentitySort
{
	Tuplesortstate *packed;		/* int8 datums */
	Tuplesortstate *other;		/* (origin text, seq int8) tuples, or NULL */
	TupleTableSlot *slot;		/* a row going into `other` (virtual) */
	TupleTableSlot *sorted;		/* a row coming out of `other` (minimal tuple) */
	List	   *origins;		/* origin names (char *), by number */
	originmap_hash *numbers;	/* origin name -> its number */
	int			last_origin;	/* the number of the previous row's origin, or -1 */
	MemoryContext row_cxt;		/* one row's origin text for `other`, reset per row */
	StringInfoData named;		/* the duplicates named so far */
	int			max_named;
	int64		duplicates;
};

TlIdentitySort *
tl_identity_sort_begin(void)
{
	TlIdentitySort *ids = palloc0(sizeof(TlIdentitySort));

	ids->packed = tuplesort_begin_datum(INT8OID, Int8LessOperator, InvalidOid, false,
										maintenance_work_mem, NULL, TUPLESORT_NONE);
	ids->numbers = originmap_create(CurrentMemoryContext, 16, NULL);
	ids->last_origin = -1;
	initStringInfo(&ids->named);
	return ids;
}

/* The sort of identities that cannot be packed, made on the first one. */
static void
identity_sort_other_begin(TlIdentitySort *ids)
{
	TupleDesc	desc = CreateTemplateTupleDesc(2);
	AttrNumber	cols[2] = {1, 2};
	Oid			ops[2] = {TextLessOperator, Int8LessOperator};
	Oid			colls[2] = {C_COLLATION_OID, InvalidOid};
	bool		nulls_first[2] = {false, false};

	TupleDescInitEntry(desc, 1, "origin", TEXTOID, -1, 0);
	TupleDescInitEntryCollation(desc, 1, C_COLLATION_OID);
	TupleDescInitEntry(desc, 2, "seq", INT8OID, -1, 0);
	ids->other = tuplesort_begin_heap(desc, 2, cols, ops, colls, nulls_first, maintenance_work_mem,
									  NULL, TUPLESORT_NONE);
	ids->slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	ids->sorted = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	ids->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "tieredlog identity sort",
										 ALLOCSET_SMALL_SIZES);
}

/* The number of an origin (the previous row's, most of the time), numbered when first seen. */
static int
origin_number(TlIdentitySort *ids, const char *origin)
{
	OriginNumber *e;
	bool		found;

	if (ids->last_origin >= 0 && strcmp(list_nth(ids->origins, ids->last_origin), origin) == 0)
		return ids->last_origin;
	e = originmap_insert(ids->numbers, origin, &found);
	if (!found)
	{
		char	   *copy = pstrdup(origin);

		e->origin = copy;		/* (insert stored the caller's pointer) */
		e->number = list_length(ids->origins);
		ids->origins = lappend(ids->origins, copy);
	}
	return ids->last_origin = e->number;
}

void
tl_identity_sort_add(TlIdentitySort *ids, const char *origin, int64 seq)
{
	int			number = origin_number(ids, origin);
	MemoryContext old;

	if (number < ID_PACKED_ORIGINS && seq >= 0 && seq < ((int64) 1 << ID_SEQ_BITS))
	{
		tuplesort_putdatum(ids->packed, Int64GetDatum(((int64) number << ID_SEQ_BITS) | seq), false);
		return;
	}
	if (ids->other == NULL)
		identity_sort_other_begin(ids);
	old = MemoryContextSwitchTo(ids->row_cxt);
	ExecClearTuple(ids->slot);
	ids->slot->tts_values[0] = CStringGetTextDatum(origin);
	ids->slot->tts_isnull[0] = false;
	ids->slot->tts_values[1] = Int64GetDatum(seq);
	ids->slot->tts_isnull[1] = false;
	ExecStoreVirtualTuple(ids->slot);
	tuplesort_puttupleslot(ids->other, ids->slot);
	MemoryContextSwitchTo(old);
	MemoryContextReset(ids->row_cxt);
}

static void
note_duplicate(TlIdentitySort *ids, const char *origin, int64 seq)
{
	if (ids->duplicates++ < ids->max_named)
		appendStringInfo(&ids->named, "%s%s:%lld", ids->named.len > 0 ? ", " : "", origin,
						 (long long) seq);
}

static void
find_packed_duplicates(TlIdentitySort *ids)
{
	Datum		value;
	bool		isnull;
	int64		prev = -1;

	tuplesort_performsort(ids->packed);
	while (tuplesort_getdatum(ids->packed, true, &value, &isnull, NULL))
	{
		int64		id = DatumGetInt64(value);

		CHECK_FOR_INTERRUPTS();
		if (id == prev)
			note_duplicate(ids, list_nth(ids->origins, (int) (id >> ID_SEQ_BITS)),
						   id & (((int64) 1 << ID_SEQ_BITS) - 1));
		prev = id;
	}
	tuplesort_end(ids->packed);
}

static void
find_other_duplicates(TlIdentitySort *ids)
{
	char	   *prev_origin = NULL;
	int64		prev_seq = 0;

	tuplesort_performsort(ids->other);
	while (tuplesort_gettupleslot(ids->other, true, false, ids->sorted, NULL))
	{
		bool		isnull;
		char	   *origin = TextDatumGetCString(slot_getattr(ids->sorted, 1, &isnull));
		int64		seq = DatumGetInt64(slot_getattr(ids->sorted, 2, &isnull));

		CHECK_FOR_INTERRUPTS();
		if (prev_origin != NULL && seq == prev_seq && strcmp(origin, prev_origin) == 0)
		{
			note_duplicate(ids, origin, seq);
			pfree(origin);
			continue;
		}
		if (prev_origin != NULL)
			pfree(prev_origin);
		prev_origin = origin;
		prev_seq = seq;
	}
	tuplesort_end(ids->other);
	ExecDropSingleTupleTableSlot(ids->slot);
	ExecDropSingleTupleTableSlot(ids->sorted);
	MemoryContextDelete(ids->row_cxt);
}

/*
 * Sort what was added and count the identities given more than once (each repeat counts once:
 * an identity given three times counts two). *named gets the first max_named of them,
 * "origin:seq" joined by ", ", in (origin number, seq) order ("" when there are none). Frees
 * everything else the sort held.
 */
int64
tl_identity_sort_finish(TlIdentitySort *ids, int max_named, char **named)
{
	int64		duplicates;

	ids->max_named = max_named;
	find_packed_duplicates(ids);
	if (ids->other != NULL)
		find_other_duplicates(ids);
	duplicates = ids->duplicates;
	*named = ids->named.data;
	originmap_destroy(ids->numbers);
	list_free_deep(ids->origins);
	pfree(ids);
	return duplicates;
}
