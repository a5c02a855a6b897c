/*-------------------------------------------------------------------------
 * ledger.c
 *		The integrity ledger (modelled on SQL Server Ledger's transactions and blocks).
 *
 *		Entries (tieredlog.ledger_entry) record what changes history: SEAL and RESEAL (with the
 *		seal's Merkle root), REOPEN, REPAIR (records a reconciliation added, with their rids),
 *		QUARANTINE, CONFIG (logs, tiers, peers, rules) and WITNESS (a peer's digest). An entry is
 *		written in the transaction that makes the change, so both commit or neither does, and
 *		stays pending (block_id NULL) until a block closes over it.
 *
 *		A block (tieredlog.ledger_block) closes over the pending entries in entry_id order: its
 *		entries_root is the RFC 9162 Merkle Tree Hash over the entries' leaf hashes, and it holds
 *		the SHA-256 of the previous block, so the blocks form a hash chain. The worker closes a
 *		block every tieredlog.ledger_interval when entries are pending, and ledger_digest() closes
 *		one before it reports the head.
 *
 *		Canonical encodings, version 1 (integers big-endian, str = u32 length + bytes, timestamps
 *		in microseconds since 1970-01-01 UTC), each starting with its own magic so an entry can
 *		never be read as a block or a record:
 *			entry: "TLLE" 0x01 | i64 entry_id | str kind | u8 has_log [str log] |
 *			       i64 segment_id (0: none) | i64 created_at | str body (jsonb text form)
 *			       leaf hash = SHA-256(0x00 || entry)
 *			block: "TLLB" 0x01 | i64 block_id | i64 first_entry | i64 last_entry | i64 entries |
 *			       entries_root | previous | i64 closed_at
 *			       block hash = SHA-256(block)
 *
 *		A digest is the head block's id and hash. The worker sends it to every enabled peer when
 *		something other than witnesses has changed, and the peer keeps it as a WITNESS entry in
 *		its own ledger: a node that rewrites its history disagrees with the digests its peers
 *		hold. Exchanging digests with peers is repl/ledger_witness.c; the tables' rows are read
 *		and written through store/ledger_store.c.
 *
 * Locking: entries are inserted under RowExclusiveLock like any row. Closing a block takes the
 * ledger lock (TL_LOCK_LEDGER, to the end of the transaction), so blocks close one at a time and
 * each sees the entries committed before it. Repairs noted during a transaction are kept in
 * transaction memory until tl_ledger_flush_repairs() writes them (forgotten on abort).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "store/catalog.h"
#include "log/ledger.h"
#include "core/shmem.h"
#include "core/json.h"
#include "core/record.h"
#include "store/segment.h"
#include "core/tieredlog.h"
#include "core/validate.h"

/* Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01). */
#define UNIX_OFFSET_US	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* ---- writing entries ------------------------------------------------------------------------- */

/*
 * The genesis entry (entry 0): what this ledger's encodings are. Written with the first entry,
 * not by the install script, so that a restored ledger (pg_restore) finds the table empty; a
 * ledger from version 1.0 has it as entry 1. SPI connected, as the extension's owner.
 */
static char *
extension_version(void)
{
	SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'tieredlog'", true, 1);
	return SPI_processed > 0 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : "?";
}

static void
add_genesis_if_empty(void)
{
	TlJson		j;

	if (!tl_ledger_store_is_empty())
		return;
	tl_json_init(&j);
	tl_json_text(&j, "action", "create_extension");
	tl_json_text(&j, "node", tl_node_name());
	tl_json_text(&j, "version", extension_version());
	tl_json_int(&j, "record_encoding", 1);
	tl_json_int(&j, "entry_encoding", 1);
	tl_json_text(&j, "hash", "sha-256");
	tl_json_text(&j, "tree", "rfc9162");
	tl_ledger_store_add_genesis(tl_json_finish(&j));
}

/* Add an entry in the caller's transaction; log_name may be NULL and segment_id 0. */
void
tl_ledger_add(const char *kind, const char *log_name, int64 segment_id, const char *body_json)
{
	TlAsOwner	save;

	tl_become_owner(&save);
	add_genesis_if_empty();
	tl_ledger_store_add(kind, log_name, segment_id, body_json);
	tl_restore_user(&save);
}

/* A configuration change: {"action": action, ...detail} (detail_json: a JSON object or NULL). */
void
tl_ledger_config(const char *action, const char *log_name, const char *detail_json)
{
	TlJson		j;

	tl_json_init(&j);
	tl_json_text(&j, "action", action);
	tl_json_text(&j, "node", tl_node_name());
	if (detail_json)
		tl_json_raw(&j, "detail", detail_json);
	tl_ledger_add("CONFIG", log_name, 0, tl_json_finish(&j));
}

/* ---- canonical encodings and hashes ---------------------------------------------------------- */

static void
put_i64(StringInfo buf, int64 v)
{
	uint64		be = pg_hton64((uint64) v);

	appendBinaryStringInfo(buf, (char *) &be, sizeof(be));
}

static void
put_str(StringInfo buf, const char *s)
{
	uint32		len = strlen(s);
	uint32		be = pg_hton32(len);

	appendBinaryStringInfo(buf, (char *) &be, sizeof(be));
	appendBinaryStringInfo(buf, s, len);
}

void
tl_ledger_entry_hash(TlSha *s, int64 entry_id, const char *kind, const char *log_name, int64 segment_id,
					 TimestampTz created_at, const char *body_text, TlHash *out)
{
	StringInfoData buf;
	uint8		has_log = log_name != NULL;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, "TLLE\x01", 5);
	put_i64(&buf, entry_id);
	put_str(&buf, kind);
	appendBinaryStringInfo(&buf, (char *) &has_log, 1);
	if (log_name)
		put_str(&buf, log_name);
	put_i64(&buf, segment_id);
	put_i64(&buf, created_at + UNIX_OFFSET_US);
	put_str(&buf, body_text);
	tl_merkle_leaf(s, buf.data, buf.len, out);
	pfree(buf.data);
}

void
tl_ledger_block_hash(TlSha *s, const TlLedgerBlock *b, TlHash *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, "TLLB\x01", 5);
	put_i64(&buf, b->block_id);
	put_i64(&buf, b->first_entry);
	put_i64(&buf, b->last_entry);
	put_i64(&buf, b->entries);
	appendBinaryStringInfo(&buf, (char *) b->entries_root.b, TL_HASH_LEN);
	appendBinaryStringInfo(&buf, (char *) b->previous.b, TL_HASH_LEN);
	put_i64(&buf, b->closed_at + UNIX_OFFSET_US);
	tl_sha_begin(s);
	tl_sha_update(s, buf.data, buf.len);
	tl_sha_end(s, out);
	pfree(buf.data);
}

/* ---- blocks ------------------------------------------------------------------------------------ */

/*
 * Close a block over the committed pending entries (at most TL_LEDGER_BLOCK_MAX); returns its
 * id, or 0 when nothing was pending.
 */
int64
tl_ledger_close_block(void)
{
	TlAsOwner	save;
	TlLedgerBlock prev;
	TlLedgerBlock b;
	TlLedgerEntryRow *entries;
	TlHash	   *leaves;
	TlSha		sha;
	bool		have_prev;
	int			n;

	PreventCommandIfReadOnly("closing a tieredlog ledger block");
	tl_lock_object(TL_LOCK_LEDGER, 0);
	tl_become_owner(&save);
	entries = tl_ledger_store_unblocked(TL_LEDGER_BLOCK_MAX, &n);
	if (n == 0)
	{
		tl_restore_user(&save);
		return 0;
	}
	leaves = palloc(sizeof(TlHash) * n);
	tl_sha_open(&sha);
	for (int i = 0; i < n; i++)
		tl_ledger_entry_hash(&sha, entries[i].entry_id, entries[i].kind, entries[i].log_name,
							 entries[i].segment_id, entries[i].created_at, entries[i].body, &leaves[i]);
	b.first_entry = entries[0].entry_id;
	b.last_entry = entries[n - 1].entry_id;
	b.entries = n;
	{
		/* the root is computed in place: the entries' own hashes are stored from a copy */
		TlHash	   *work = palloc(sizeof(TlHash) * n);

		memcpy(work, leaves, sizeof(TlHash) * n);
		tl_merkle_root(&sha, work, n, &b.entries_root);
		pfree(work);
	}
	have_prev = tl_ledger_store_newest_block(&prev);
	b.block_id = have_prev ? prev.block_id + 1 : 1;
	memset(b.previous.b, 0, TL_HASH_LEN);
	if (have_prev)
		tl_ledger_block_hash(&sha, &prev, &b.previous);
	tl_sha_close(&sha);
	b.closed_at = GetCurrentTimestamp();
	tl_ledger_store_close_block(&b, entries, leaves, n);
	tl_restore_user(&save);
	return b.block_id;
}

/*
 * The ledger's head as JSON, after closing a block over what is pending (when the transaction
 * may write): {"node", "block_id", "block_hash", "last_entry", "closed_at", "digest_time"}.
 */
char *
tl_ledger_digest_json(void)
{
	TlAsOwner	save;
	TlLedgerBlock head;
	TlHash		hash;
	TlSha		sha;
	TlJson		j;
	bool		found;

	if (!XactReadOnly && !RecoveryInProgress())
		(void) tl_ledger_close_block();
	tl_become_owner(&save);
	found = tl_ledger_store_newest_block(&head);
	tl_restore_user(&save);
	tl_json_init(&j);
	tl_json_text(&j, "node", tl_node_name());
	if (!found)
	{
		tl_json_raw(&j, "block_id", "null");
		tl_json_raw(&j, "block_hash", "null");
	}
	else
	{
		tl_sha_open(&sha);
		tl_ledger_block_hash(&sha, &head, &hash);
		tl_sha_close(&sha);
		tl_json_int(&j, "block_id", head.block_id);
		tl_json_text(&j, "block_hash", tl_hash_to_hex(&hash));
		tl_json_int(&j, "last_entry", head.last_entry);
		tl_json_text(&j, "closed_at", timestamptz_to_str(head.closed_at));
	}
	tl_json_text(&j, "digest_time", timestamptz_to_str(GetCurrentTimestamp()));
	return tl_json_finish(&j);
}

/* ---- repairs ----------------------------------------------------------------------------------- */

typedef struct PendingRepair
{
	char	   *log_name;
	TimestampTz window_start;
	char	   *peer;
	StringInfoData rids;		/* JSON array body, without brackets */
	int64		n;
} PendingRepair;

static List *pending_repairs = NIL;

/* A record a reconciliation stored (a repair); written as REPAIR entries by tl_ledger_flush_repairs. */
void
tl_ledger_note_repair(const char *log_name, TimestampTz window_start, const char *peer, const TlRid *rid)
{
	ListCell   *lc;
	PendingRepair *r = NULL;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	foreach(lc, pending_repairs)
	{
		PendingRepair *p = lfirst(lc);

		if (p->window_start == window_start && strcmp(p->log_name, log_name) == 0 &&
			strcmp(p->peer, peer) == 0)
		{
			r = p;
			break;
		}
	}
	if (r == NULL)
	{
		r = palloc0(sizeof(PendingRepair));
		r->log_name = pstrdup(log_name);
		r->window_start = window_start;
		r->peer = pstrdup(peer);
		initStringInfo(&r->rids);
		pending_repairs = lappend(pending_repairs, r);
	}
	if (r->n > 0)
		appendStringInfoString(&r->rids, ", ");
	appendStringInfo(&r->rids, "\"%s\"", tl_rid_to_hex(rid));
	r->n++;
	MemoryContextSwitchTo(old);
}

/* Write one REPAIR entry per (segment, peer) noted since the last flush. */
void
tl_ledger_flush_repairs(void)
{
	ListCell   *lc;
	List	   *todo = pending_repairs;

	pending_repairs = NIL;
	foreach(lc, todo)
	{
		PendingRepair *r = lfirst(lc);
		TlLog		log;
		TlSegment	seg;
		TlJson		j;

		if (!tl_lookup_log_if_exists(r->log_name, &log) || !tl_segment_lookup(&log, r->window_start, &seg))
			continue;
		tl_json_init(&j);
		tl_json_text(&j, "peer", r->peer);
		tl_json_text(&j, "range_start", timestamptz_to_str(seg.range_start));
		tl_json_int(&j, "records", r->n);
		tl_json_raw(&j, "rids", psprintf("[%s]", r->rids.data));
		tl_ledger_add("REPAIR", r->log_name, seg.segment_id, tl_json_finish(&j));
	}
}

/*
 * Forget repairs noted but not written: those of a store that failed (its records were rolled
 * back with the subtransaction that caught the error, if any), called before a store notes its
 * own. The list lives in TopTransactionContext, which a subtransaction's abort keeps.
 */
void
tl_ledger_forget_repairs(void)
{
	pending_repairs = NIL;
}

static void
ledger_xact_callback(XactEvent event, void *arg)
{
	/* (TopTransactionContext goes at PREPARE too) */
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PREPARE)
		pending_repairs = NIL;
}

void
tl_ledger_register_callbacks(void)
{
	RegisterXactCallback(ledger_xact_callback, NULL);
}

/* ---- SQL functions ------------------------------------------------------------------------------ */

PG_FUNCTION_INFO_V1(tieredlog_ledger_digest);
PG_FUNCTION_INFO_V1(tieredlog_ledger_close);

/* ledger_digest(): close a block over what is pending and return the head, for safekeeping. */
Datum
tieredlog_ledger_digest(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(tl_ledger_digest_json())));
}

/* _ledger_close(): close a block now; its id, or 0 when nothing was pending. */
Datum
tieredlog_ledger_close(PG_FUNCTION_ARGS)
{
	tl_require_preload();
	PG_RETURN_INT64(tl_ledger_close_block());
}

/*
 * A CONFIG entry for a log created (create_log, or a log first seen from a peer) or dropped, in
 * the transaction that changes the catalog.
 */
void
tl_ledger_log_created(const char *name, int64 interval_us, const char *rule)
{
	TlJson		j;

	tl_json_init(&j);
	tl_json_int(&j, "segment_interval_s", interval_us / USECS_PER_SEC);
	tl_json_text(&j, "rule", rule);
	tl_ledger_config("create_log", name, tl_json_finish(&j));
}

void
tl_ledger_log_dropped(const char *name)
{
	tl_ledger_config("drop_log", name, NULL);
}
