/*-------------------------------------------------------------------------
 * verify.c
 *		tieredlog.verify(log_name, trusted_digests): recompute the ledger and the seals from the
 *		raw rows, in the caller's one snapshot, trusting no stored intermediate, and report every
 *		check as a row (check_name, object, ok, expected, actual).
 *
 *		Ledger (always, it is one chain):
 *			block_sequence	block ids run 1, 2, 3, ... without a hole
 *			block_entries	a block's entry count and first/last entry ids match its entries
 *			block_root		a block's entries_root equals the Merkle root recomputed from its entries
 *			block_link		a block's previous_block_hash equals the hash of the block before it,
 *							recomputed with that block's recomputed root
 *			entry_hash		(pointer) an entry whose hash differs from the one stored when its
 *							block closed: names the entry that changed, the root decides
 *			entry_block		no entry names a block that does not exist
 *			trusted_digest	each digest given (ledger_digest() output, or peers' WITNESS bodies)
 *							names a block of this node whose recomputed hash it equals
 *			pending_entries	(information) entries no block covers yet
 *		Seals (the log's segments, or all):
 *			seal_state		the segment is sealed exactly when its latest SEAL/RESEAL/REOPEN
 *							entry says so; a sealed segment has a seal entry; a sealed segment
 *							still exists (unless its log was dropped)
 *			seal_records, seal_root, seal_digest
 *							the records, read again (rids recomputed from their content), match
 *							the seal entry's count, Merkle root and XXH3 digest
 *			segment_digest	the stored digest cells agree with the records
 *			repair_records	every record a REPAIR entry added is still there (or was quarantined
 *							later)
 *		Ledger checks report failures one by one and one summary row when all pass; seal checks
 *		report one row per segment and check.
 *
 * Locking: reads only, through read-only SPI and segrows.c under the active snapshot.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"

#include "core/shmem.h"
#include "core/safe_spi.h"
#include "store/catalog.h"
#include "store/digest.h"
#include "log/ledger.h"
#include "store/seal.h"
#include "store/segment.h"
#include "core/tieredlog.h"
#include "core/validate.h"

PG_FUNCTION_INFO_V1(tieredlog_verify);

typedef struct VerifyOut
{
	ReturnSetInfo *rsinfo;
	int64		failures;
} VerifyOut;

static void
emit(VerifyOut *out, const char *check, const char *object, bool ok, const char *expected,
	 const char *actual)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, expected == NULL, actual == NULL};

	values[0] = CStringGetTextDatum(check);
	values[1] = CStringGetTextDatum(object);
	values[2] = BoolGetDatum(ok);
	values[3] = expected ? CStringGetTextDatum(expected) : (Datum) 0;
	values[4] = actual ? CStringGetTextDatum(actual) : (Datum) 0;
	tuplestore_putvalues(out->rsinfo->setResult, out->rsinfo->setDesc, values, nulls);
	if (!ok)
		out->failures++;
}

/* A read-only query under the active snapshot. */
static void
ro_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, true, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "tieredlog verify query failed (%s): %s", SPI_result_code_string(rc), sql);
}

/* ---- the ledger's chain --------------------------------------------------------------------- */

/* A block as stored, with the root and hash recomputed. */
typedef struct CheckedBlock
{
	TlLedgerBlock stored;
	TlHash		root;			/* recomputed from the entries */
	TlHash		hash;			/* recomputed: the stored header with the recomputed root */
} CheckedBlock;

/*
 * The hash each entry had when its block closed is stored with it, only to point at the entry
 * that changed: the block's root, not this column, decides whether the block verifies.
 */
static void
point_at_entry(VerifyOut *out, int64 entry_id, bytea *b, const TlHash *now)
{
	TlHash		then;

	if (b == NULL || VARSIZE_ANY_EXHDR(b) != TL_HASH_LEN)
	{
		emit(out, "entry_hash", psprintf("entry %lld", (long long) entry_id), false, "a stored entry hash",
			 tl_hash_to_hex(now));
		return;
	}
	memcpy(then.b, VARDATA_ANY(b), TL_HASH_LEN);
	if (memcmp(then.b, now->b, TL_HASH_LEN) != 0)
		emit(out, "entry_hash", psprintf("entry %lld", (long long) entry_id), false, tl_hash_to_hex(&then),
			 tl_hash_to_hex(now));
}

/* Recompute a block's root from its entries; checks count and first/last ids. */
static void
recompute_block(VerifyOut *out, TlSha *sha, CheckedBlock *b, int64 *entry_failures)
{
	TlLedgerEntryRow *entries;
	TlHash	   *leaves;
	int64		n;
	int64		first = 0;
	int64		last = 0;
	TlLedgerBlock with_root;

	entries = tl_ledger_store_block_entries(b->stored.block_id, &n);
	leaves = palloc(sizeof(TlHash) * Max(n, 1));
	for (int64 i = 0; i < n; i++)
	{
		const TlLedgerEntryRow *e = &entries[i];

		if (i == 0)
			first = e->entry_id;
		last = e->entry_id;
		tl_ledger_entry_hash(sha, e->entry_id, e->kind, e->log_name, e->segment_id, e->created_at, e->body,
							 &leaves[i]);
		point_at_entry(out, e->entry_id, e->stored_hash, &leaves[i]);
	}
	tl_merkle_root(sha, leaves, n, &b->root);
	pfree(leaves);
	if (n != b->stored.entries || first != b->stored.first_entry || last != b->stored.last_entry)
	{
		emit(out, "block_entries", psprintf("block %lld", (long long) b->stored.block_id), false,
			 psprintf("%lld entries, %lld..%lld", (long long) b->stored.entries,
					  (long long) b->stored.first_entry, (long long) b->stored.last_entry),
			 psprintf("%lld entries, %lld..%lld", (long long) n, (long long) first, (long long) last));
		(*entry_failures)++;
	}
	with_root = b->stored;
	with_root.entries_root = b->root;
	tl_ledger_block_hash(sha, &with_root, &b->hash);
}

/* Verify the whole chain; returns the checked blocks (for trusted digests) in *blocks. */
static int64
verify_chain(VerifyOut *out, TlSha *sha, CheckedBlock **blocks_out)
{
	CheckedBlock *blocks;
	int64		n;
	int64		fail_seq = 0;
	int64		fail_entries = 0;
	int64		fail_root = 0;
	int64		fail_link = 0;
	TlHash		zeros;
	TlLedgerBlock *stored = tl_ledger_store_blocks(&n);

	blocks = palloc0(sizeof(CheckedBlock) * Max(n, 1));
	for (int64 i = 0; i < n; i++)
		blocks[i].stored = stored[i];
	memset(zeros.b, 0, TL_HASH_LEN);
	for (int64 i = 0; i < n; i++)
	{
		CheckedBlock *b = &blocks[i];
		const TlHash *want_prev = i == 0 ? &zeros : &blocks[i - 1].hash;
		char	   *object = psprintf("block %lld", (long long) b->stored.block_id);

		CHECK_FOR_INTERRUPTS();
		if (b->stored.block_id != (i == 0 ? 1 : blocks[i - 1].stored.block_id + 1))
		{
			emit(out, "block_sequence", object, false,
				 psprintf("block %lld", (long long) (i == 0 ? 1 : blocks[i - 1].stored.block_id + 1)),
				 psprintf("block %lld", (long long) b->stored.block_id));
			fail_seq++;
		}
		recompute_block(out, sha, b, &fail_entries);
		if (memcmp(b->root.b, b->stored.entries_root.b, TL_HASH_LEN) != 0)
		{
			emit(out, "block_root", object, false, tl_hash_to_hex(&b->stored.entries_root), tl_hash_to_hex(&b->root));
			fail_root++;
		}
		if (memcmp(want_prev->b, b->stored.previous.b, TL_HASH_LEN) != 0)
		{
			emit(out, "block_link", object, false, tl_hash_to_hex(want_prev), tl_hash_to_hex(&b->stored.previous));
			fail_link++;
		}
	}
	if (fail_seq == 0)
		emit(out, "block_sequence", "ledger", true, NULL, psprintf("%lld blocks", (long long) n));
	if (fail_entries == 0)
		emit(out, "block_entries", "ledger", true, NULL, psprintf("%lld blocks", (long long) n));
	if (fail_root == 0)
		emit(out, "block_root", "ledger", true, NULL, psprintf("%lld blocks", (long long) n));
	if (fail_link == 0)
		emit(out, "block_link", "ledger", true, NULL, psprintf("%lld blocks", (long long) n));
	*blocks_out = blocks;
	return n;
}

static void
verify_entries_have_blocks(VerifyOut *out)
{
	int			n;
	TlLedgerOrphans *orphans = tl_ledger_store_orphans(&n);

	for (int i = 0; i < n; i++)
		emit(out, "entry_block", psprintf("block %s", orphans[i].block_id), false, "a block row",
			 psprintf("%s entries name a missing block", orphans[i].entries));
	if (n == 0)
		emit(out, "entry_block", "ledger", true, NULL, NULL);
	emit(out, "pending_entries", "ledger", true, NULL,
		 psprintf("%s entries not in a block yet", tl_ledger_store_unblocked_count()));
}

static CheckedBlock *
find_block(CheckedBlock *blocks, int64 n, int64 block_id)
{
	for (int64 i = 0; i < n; i++)
		if (blocks[i].stored.block_id == block_id)
			return &blocks[i];
	return NULL;
}

/* Each trusted digest: {"node", "block_id", "block_hash"} (an object or an array of them). */
static void
verify_digests(VerifyOut *out, Jsonb *digests, CheckedBlock *blocks, int64 nblocks)
{
	Oid			types[1] = {JSONBOID};
	Datum		values[1] = {JsonbPGetDatum(digests)};
	SPITupleTable *tab;
	uint64		n;

	ro_exec("SELECT d->>'node', CASE WHEN d->>'block_id' ~ '^[0-9]{1,18}$' THEN (d->>'block_id')::bigint END,"
			" d->>'block_hash', d::text"
			" FROM jsonb_array_elements(CASE jsonb_typeof($1) WHEN 'array' THEN $1 ELSE jsonb_build_array($1) END) d",
			1, types, values, NULL);
	tab = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *node = SPI_getvalue(tab->vals[i], tab->tupdesc, 1);
		char	   *id_text = SPI_getvalue(tab->vals[i], tab->tupdesc, 2);
		char	   *hash_text = SPI_getvalue(tab->vals[i], tab->tupdesc, 3);
		int64		id = id_text ? strtoi64(id_text, NULL, 10) : 0;
		TlHash		want;
		CheckedBlock *b;
		char	   *object = psprintf("digest of block %s", id_text ? id_text : "?");

		if (id_text == NULL || !tl_hash_from_hex(hash_text, &want))
			emit(out, "trusted_digest", object, false, "{\"node\", \"block_id\", \"block_hash\"}",
				 SPI_getvalue(tab->vals[i], tab->tupdesc, 4));
		else if (node == NULL || strcmp(node, tl_node_name()) != 0)
			emit(out, "trusted_digest", object, false, psprintf("node %s", tl_node_name()),
				 psprintf("node %s", node ? node : "(none)"));
		else if ((b = find_block(blocks, nblocks, id)) == NULL)
			emit(out, "trusted_digest", object, false, hash_text, "no such block");
		else
			emit(out, "trusted_digest", object, memcmp(want.b, b->hash.b, TL_HASH_LEN) == 0,
				 hash_text, tl_hash_to_hex(&b->hash));
	}
}

/* ---- seals ----------------------------------------------------------------------------------- */

typedef TlLedgerSealEntry SealEntry;

/* The latest SEAL/RESEAL/REOPEN entry of every segment (of one log, or all). */
static List *
latest_seal_entries(const char *log_name)
{
	int			n;
	SealEntry  *entries = tl_ledger_store_seal_entries(log_name, &n);
	List	   *out = NIL;

	for (int i = 0; i < n; i++)
		out = lappend(out, &entries[i]);
	return out;
}

static int
rid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, TL_RID_LEN);
}

/* Every rid a REPAIR entry of the segment added is still there, or was quarantined after it. */
static void
verify_repairs(VerifyOut *out, const SealEntry *e, const TlSealScan *scan)
{
	int			nrepaired;
	char	  **repaired = tl_ledger_store_repaired_rids(e->segment_id, e->log_name, &nrepaired);
	TlRid	   *rids = NULL;
	int64		checked = 0;
	int64		missing = 0;
	char	   *first_missing = NULL;
	char	   *object = psprintf("segment %lld", (long long) e->segment_id);

	if (nrepaired == 0)
		return;
	rids = palloc(sizeof(TlRid) * Max(scan->n, 1));
	for (int64 i = 0; i < scan->n; i++)
		rids[i] = scan->leaves[i].rid;
	qsort(rids, scan->n, sizeof(TlRid), rid_cmp);
	for (int i = 0; i < nrepaired; i++)
	{
		char	   *hex = repaired[i];
		TlRid		rid;

		checked++;
		if (!tl_hex_decode(hex, rid.bytes, TL_RID_LEN) ||
			bsearch(&rid, rids, scan->n, sizeof(TlRid), rid_cmp) == NULL)
		{
			missing++;
			if (first_missing == NULL)
				first_missing = hex;
		}
	}
	emit(out, "repair_records", object, missing == 0, psprintf("%lld repaired records present", (long long) checked),
		 missing == 0 ? psprintf("%lld present", (long long) checked)
		 : psprintf("%lld missing (first: %s)", (long long) missing, first_missing));
	pfree(rids);
}

/* Recompute one sealed segment and compare it with its seal entry and its stored digest. */
static void
verify_sealed_segment(VerifyOut *out, const SealEntry *e, const TlSegment *seg, const TlLog *log)
{
	TlSealScan	scan;
	TlHash		root;
	TlSegmentDigest *stored = palloc0(sizeof(TlSegmentDigest));
	char	   *object = psprintf("segment %lld", (long long) seg->segment_id);
	char	   *records;
	char	   *root_hex;
	char	   *digest;

	tl_seal_scan(log, seg, GetActiveSnapshot(), &scan);
	tl_seal_root(&scan, &root);
	records = psprintf("%lld", (long long) scan.n);
	root_hex = tl_hash_to_hex(&root);
	digest = tl_digest_to_text(&scan.digest);
	emit(out, "seal_records", object, e->records && strcmp(e->records, records) == 0, e->records, records);
	emit(out, "seal_root", object, e->root && strcmp(e->root, root_hex) == 0, e->root, root_hex);
	emit(out, "seal_digest", object, e->digest && strcmp(e->digest, digest) == 0, e->digest, digest);
	tl_digest_load_snapshot(seg->segment_id, GetActiveSnapshot(), stored);
	emit(out, "segment_digest", object, tl_digest_equal(&stored->root, &scan.digest),
		 digest, tl_digest_to_text(&stored->root));
	verify_repairs(out, e, &scan);
	tl_seal_free(&scan);
	pfree(stored);
}

static const char *
state_name(TlSegmentState s)
{
	return s == TL_SEG_SEALED ? "sealed" : s == TL_SEG_REOPENED ? "reopened" : "open";
}

static int
segment_id_cmp(const ListCell *a, const ListCell *b)
{
	int64		x = ((const TlSegment *) lfirst(a))->segment_id;
	int64		y = ((const TlSegment *) lfirst(b))->segment_id;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* A segment's latest seal entry, checked against the segment. */
static void
verify_entry_of(VerifyOut *out, const SealEntry *e, const TlSegment *seg)
{
	bool		sealed = strcmp(e->kind, "REOPEN") != 0;
	TlLog		log;

	if (sealed != (seg->state == TL_SEG_SEALED))
		emit(out, "seal_state", psprintf("segment %lld", (long long) seg->segment_id), false,
			 sealed ? "sealed" : "reopened", state_name(seg->state));
	if (sealed && tl_catalog_find_log_by_id(seg->log_id, &log))
		verify_sealed_segment(out, e, seg, &log);
}

/*
 * Walk the latest seal entries and the segments together, both in segment_id order: an entry
 * without its segment (unless the log was dropped), a sealed segment without an entry, and every
 * pair.
 */
static void
verify_seals(VerifyOut *out, const TlLog *only)
{
	List	   *entries = latest_seal_entries(only ? only->name : NULL);
	List	   *segs = only ? tl_catalog_log_segments(only->log_id, DT_NOBEGIN, DT_NOEND, GetActiveSnapshot())
		: tl_catalog_all_segments(GetActiveSnapshot());
	ListCell   *ec;
	ListCell   *sc;

	list_sort(segs, segment_id_cmp);
	ec = list_head(entries);
	sc = list_head(segs);
	while (ec != NULL || sc != NULL)
	{
		SealEntry  *e = ec ? lfirst(ec) : NULL;
		TlSegment  *seg = sc ? lfirst(sc) : NULL;

		CHECK_FOR_INTERRUPTS();
		if (e != NULL && (seg == NULL || e->segment_id < seg->segment_id))
		{
			if (!tl_ledger_store_log_dropped_after(e->log_name, e->entry_id))
				emit(out, "seal_state", psprintf("segment %lld", (long long) e->segment_id), false,
					 psprintf("segment of log %s", e->log_name ? e->log_name : "?"), "no such segment");
			ec = lnext(entries, ec);
		}
		else if (e == NULL || seg->segment_id < e->segment_id)
		{
			if (seg->state == TL_SEG_SEALED)
				emit(out, "seal_state", psprintf("segment %lld", (long long) seg->segment_id), false,
					 "a SEAL entry in the ledger", "sealed without one");
			sc = lnext(segs, sc);
		}
		else
		{
			verify_entry_of(out, e, seg);
			ec = lnext(entries, ec);
			sc = lnext(segs, sc);
		}
	}
}

Datum
tieredlog_verify(PG_FUNCTION_ARGS)
{
	TlAsOwner	save;
	VerifyOut	out;
	TlLog		log;
	bool		one_log = !PG_ARGISNULL(0);
	CheckedBlock *blocks;
	int64		nblocks;
	TlSha		sha;

	tl_require_preload();
	if (one_log)
	{
		char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

		tl_check_wire_log_name(name);
		tl_lookup_log(name, &log);
	}
	InitMaterializedSRF(fcinfo, 0);
	out.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	out.failures = 0;
	/*
	 * As the extension's owner (with the pinned path): the ledger and segment tables are its own,
	 * and a reader granted EXECUTE on verify() (README, Privileges) may not read them itself.
	 */
	tl_become_owner(&save);
	tl_sha_open(&sha);
	nblocks = verify_chain(&out, &sha, &blocks);
	verify_entries_have_blocks(&out);
	if (!PG_ARGISNULL(1))
		verify_digests(&out, PG_GETARG_JSONB_P(1), blocks, nblocks);
	tl_sha_close(&sha);
	verify_seals(&out, one_log ? &log : NULL);
	tl_restore_user(&save);
	return (Datum) 0;
}
