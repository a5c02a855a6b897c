/*-------------------------------------------------------------------------
 * proof.c
 *		Inclusion proofs (RFC 9162 §2.1.3): a record's audit path to its segment's seal root,
 *		and the SQL-callable Merkle primitives (tree head and proof over raw leaves, checking a
 *		path) that let anyone check a proof without trusting this node.
 *
 * Locking: reads only (segrows.c under the active snapshot).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/shmem.h"
#include "core/json.h"
#include "core/safe_spi.h"
#include "store/catalog.h"
#include "store/ledger_store.h"
#include "log/ledger.h"
#include "core/merkle.h"
#include "store/seal.h"
#include "core/tieredlog.h"

PG_FUNCTION_INFO_V1(tieredlog_inclusion_proof);
PG_FUNCTION_INFO_V1(tieredlog_merkle_verify);
PG_FUNCTION_INFO_V1(tieredlog_record_leaf_hash);
PG_FUNCTION_INFO_V1(tieredlog_merkle_root);
PG_FUNCTION_INFO_V1(tieredlog_merkle_proof);

static Datum
json_datum(const char *json)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/* {"leaf_index", "tree_size", "leaf_hash", "path": [...], "root"} plus the caller's fields in j. */
static char *
proof_json(TlJson *j, TlSha *sha, const TlHash *leaves, int64 n, int64 index, const TlHash *root)
{
	TlHash		path[TL_MERKLE_MAX_PATH];
	int			npath = tl_merkle_path(sha, leaves, n, index, path);
	StringInfoData arr;

	initStringInfo(&arr);
	appendStringInfoChar(&arr, '[');
	for (int i = 0; i < npath; i++)
		appendStringInfo(&arr, "%s\"%s\"", i > 0 ? ", " : "", tl_hash_to_hex(&path[i]));
	appendStringInfoChar(&arr, ']');
	tl_json_int(j, "leaf_index", index);
	tl_json_int(j, "tree_size", n);
	tl_json_text(j, "leaf_hash", tl_hash_to_hex(&leaves[index]));
	tl_json_raw(j, "path", arr.data);
	tl_json_text(j, "root", tl_hash_to_hex(root));
	return tl_json_finish(j);
}

/* The root the ledger's latest seal entry gives the segment, or NULL when it is not sealed. */
static char *
sealed_root(int64 segment_id)
{
	TlAsOwner	save;
	char	   *root;

	tl_become_owner(&save);		/* the ledger is the owner's: EXECUTE is the permission */
	root = tl_ledger_sealed_root(segment_id);
	if (root)
		root = MemoryContextStrdup(TopTransactionContext, root);
	tl_restore_user(&save);
	return root;
}

/* inclusion_proof(segment_id, rid): the record's audit path to the segment's seal root. */
Datum
tieredlog_inclusion_proof(PG_FUNCTION_ARGS)
{
	int64		segment_id;
	char	   *rid_hex;
	TlRid		rid;
	TlSegment	seg;
	TlLog		log;
	TlSealScan	scan;
	TlHash	   *leaves;
	TlHash	   *scratch;
	TlHash		root;
	TlSha		sha;
	int64		index = -1;
	char	   *sealed;
	char	   *json;
	TlJson		j;

	tl_require_preload();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("segment_id and rid must not be null")));
	segment_id = PG_GETARG_INT64(0);
	rid_hex = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!tl_hex_decode(rid_hex, rid.bytes, TL_RID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a record id", rid_hex),
				 errhint("A rid is 32 hexadecimal digits, as tieredlog.read() shows it.")));
	if (!tl_catalog_get_segment(segment_id, &seg) || !tl_catalog_find_log_by_id(seg.log_id, &log))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment %lld does not exist", (long long) segment_id)));
	sealed = sealed_root(segment_id);
	if (sealed == NULL || seg.state != TL_SEG_SEALED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segment %lld is not sealed", (long long) segment_id),
				 errdetail("Only a sealed segment has a seal root to prove records against."),
				 errhint("Seal it with tieredlog.seal(%lld).", (long long) segment_id)));
	tl_seal_scan(&log, &seg, GetActiveSnapshot(), &scan);
	leaves = palloc_extended(sizeof(TlHash) * Max(scan.n, 1), MCXT_ALLOC_HUGE);
	scratch = palloc_extended(sizeof(TlHash) * Max(scan.n, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < scan.n; i++)
	{
		leaves[i] = scan.leaves[i].hash;
		if (memcmp(scan.leaves[i].rid.bytes, rid.bytes, TL_RID_LEN) == 0)
			index = i;
	}
	if (index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("segment %lld holds no record %s", (long long) segment_id, rid_hex)));
	memcpy(scratch, leaves, sizeof(TlHash) * scan.n);
	tl_sha_open(&sha);
	tl_merkle_root(&sha, scratch, scan.n, &root);
	if (strcmp(sealed, tl_hash_to_hex(&root)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("segment %lld no longer matches its seal", (long long) segment_id),
				 errdetail("Its records hash to %s, its seal says %s.", tl_hash_to_hex(&root), sealed),
				 errhint("Run tieredlog.verify() to see what changed.")));
	tl_json_init(&j);
	tl_json_text(&j, "log_name", log.name);
	tl_json_int(&j, "segment_id", segment_id);
	tl_json_text(&j, "range_start", timestamptz_to_str(seg.range_start));
	tl_json_text(&j, "rid", rid_hex);
	json = proof_json(&j, &sha, leaves, scan.n, index, &root);
	tl_sha_close(&sha);
	tl_seal_free(&scan);
	PG_RETURN_DATUM(json_datum(json));
}

static void
arg_hash(const char *what, text *arg, TlHash *out)
{
	char	   *s = text_to_cstring(arg);

	if (!tl_hash_from_hex(s, out))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is not a SHA-256 hash", what, s),
				 errhint("A hash is 64 hexadecimal digits.")));
}

/* _merkle_verify(leaf_hash, leaf_index, tree_size, path text[], root): RFC 9162 §2.1.3.2. */
Datum
tieredlog_merkle_verify(PG_FUNCTION_ARGS)
{
	TlHash		leaf;
	TlHash		root;
	TlHash		path[TL_MERKLE_MAX_PATH];
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	TlSha		sha;
	bool		ok;

	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the proof lacks leaf_hash, leaf_index, tree_size, path or root")));
	arg_hash("leaf_hash", PG_GETARG_TEXT_PP(0), &leaf);
	arg_hash("root", PG_GETARG_TEXT_PP(4), &root);
	arr = PG_GETARG_ARRAYTYPE_P(3);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > TL_MERKLE_MAX_PATH)
		PG_RETURN_BOOL(false);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the proof's path holds a null")));
		arg_hash("path element", DatumGetTextPP(elems[i]), &path[i]);
	}
	tl_sha_open(&sha);
	ok = tl_merkle_verify(&sha, &leaf, PG_GETARG_INT64(1), PG_GETARG_INT64(2), path, n, &root);
	tl_sha_close(&sha);
	PG_RETURN_BOOL(ok);
}

/* The Merkle leaf hash a record with these fields has: SHA-256(0x00 || canonical encoding). */
Datum
tieredlog_record_leaf_hash(PG_FUNCTION_ARGS)
{
	TlRecord	rec;
	StringInfoData buf;
	TlSha		sha;
	TlHash		h;

	tl_record_from_args(fcinfo, &rec);
	initStringInfo(&buf);
	tl_record_encode(&buf, &rec, NULL, 0);
	tl_sha_open(&sha);
	tl_merkle_leaf(&sha, buf.data, buf.len, &h);
	tl_sha_close(&sha);
	PG_RETURN_TEXT_P(cstring_to_text(tl_hash_to_hex(&h)));
}

/* Leaf hashes of raw leaves (bytea[], no nulls). */
static TlHash *
raw_leaves(TlSha *sha, ArrayType *arr, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	TlHash	   *out;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("leaves must be a one-dimensional array")));
	deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(TlHash) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		bytea	   *b;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("leaf %d is null", i)));
		b = DatumGetByteaPP(elems[i]);
		tl_merkle_leaf(sha, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), &out[i]);
	}
	return out;
}

/* merkle_root(leaves bytea[]): the RFC 9162 Merkle Tree Hash of raw leaves, as hex. */
Datum
tieredlog_merkle_root(PG_FUNCTION_ARGS)
{
	TlSha		sha;
	TlHash		root;
	int			n;
	TlHash	   *leaves;

	tl_sha_open(&sha);
	leaves = raw_leaves(&sha, PG_GETARG_ARRAYTYPE_P(0), &n);
	tl_merkle_root(&sha, leaves, n, &root);
	tl_sha_close(&sha);
	PG_RETURN_TEXT_P(cstring_to_text(tl_hash_to_hex(&root)));
}

/* merkle_proof(leaves bytea[], leaf_index): the audit path of one raw leaf, as inclusion_proof's jsonb. */
Datum
tieredlog_merkle_proof(PG_FUNCTION_ARGS)
{
	TlSha		sha;
	TlHash		root;
	int			n;
	TlHash	   *leaves;
	TlHash	   *scratch;
	int64		index = PG_GETARG_INT64(1);
	char	   *json;
	TlJson		j;

	tl_sha_open(&sha);
	leaves = raw_leaves(&sha, PG_GETARG_ARRAYTYPE_P(0), &n);
	if (index < 0 || index >= n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leaf_index %lld is outside a tree of %d leaves", (long long) index, n)));
	scratch = palloc(sizeof(TlHash) * n);
	memcpy(scratch, leaves, sizeof(TlHash) * n);
	tl_merkle_root(&sha, scratch, n, &root);
	tl_json_init(&j);
	json = proof_json(&j, &sha, leaves, n, index, &root);
	tl_sha_close(&sha);
	PG_RETURN_DATUM(json_datum(json));
}

PG_FUNCTION_INFO_V1(tieredlog_sha256_rate);

/*
 * _sha256_rate(messages, bytes): Merkle leaf hashes per second of `bytes`-byte messages through
 * the same SHA-256 path the seal uses (merkle.c: the message behind its 0x00 in one buffer, two
 * messages hashed side by side; a benchmark's yardstick, bench/ledger).
 */
Datum
tieredlog_sha256_rate(PG_FUNCTION_ARGS)
{
	int64		messages = PG_GETARG_INT64(0);
	int32		bytes = PG_GETARG_INT32(1);
	char	   *buf[2];
	TlHash		h[2];
	instr_time	start;
	instr_time	elapsed;

	if (messages < 1 || messages > INT64CONST(100000000) || bytes < 0 || bytes > 1024 * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages must be 1 to 100000000 and bytes 0 to 1048576")));
	for (int b = 0; b < 2; b++)
	{
		buf[b] = palloc(bytes + 1);
		buf[b][0] = 0x00;		/* the leaf prefix */
		for (int i = 0; i < bytes; i++)
			buf[b][1 + i] = (char) (i * 31 + 7 + b);
	}
	INSTR_TIME_SET_CURRENT(start);
	for (int64 i = 0; i < messages; i += 2)
	{
		if (bytes > 0)
		{
			buf[0][1] = (char) i;
			buf[1][1] = (char) (i + 1);
		}
		if (i + 1 < messages)
			tl_merkle_leaf_prefixed_x2(buf[0], bytes + 1, &h[0], buf[1], bytes + 1, &h[1]);
		else
			tl_merkle_leaf_prefixed(NULL, buf[0], bytes + 1, &h[0]);
		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	PG_RETURN_FLOAT8((double) messages / Max(INSTR_TIME_GET_DOUBLE(elapsed), 1e-9));
}
