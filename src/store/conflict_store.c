/*-------------------------------------------------------------------------
 * conflict_store.c
 *		tieredlog.conflict (one row per episode: a key's concurrent heads of two origins, their
 *		decision, its status) and the pruning of old tieredlog.seen witnesses: every query log/conflict*.c makes on them, as typed functions. What a
 *		conflict is and how it is decided stays in log/conflict*.c.
 *
 * Every function runs its SQL as the extension's owner with search_path pinned
 * (tl_become_owner: its own SPI connection), and copies what it returns into the caller's
 * memory context. The episode writes are prepared once per backend.
 *
 * Locking: the ordinary row locks of the statements; tl_conflict_store_lock() takes the row
 * FOR UPDATE until the transaction ends (a person's decision). The write that moves an episode
 * applies only if the row still holds the pair the caller read, and runs in a subtransaction: a
 * concurrent writer that gave another row the same pair (the unique index waits for it, then
 * raises 23505) means the same as finding that row, so the move is left out.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "core/safe_spi.h"
#include "core/xact.h"
#include "store/catalog.h"
#include "store/conflict_store.h"

static SPIPlanPtr plan_insert_episode;
static SPIPlanPtr plan_move_episode;
static SPIPlanPtr plan_find_episode;

/* The side in columns first_col .. first_col + 5 (rid, origin, seq, ts, source, payload) of an SPI row. */
static TlSide *
side_of_row(SPITupleTable *tt, uint64 row, int first_col)
{
	TlSide	   *s = palloc0(sizeof(TlSide));
	bool		isnull;
	Datum		src;

	memcpy(s->rid.bytes, DatumGetUUIDP(SPI_getbinval(tt->vals[row], tt->tupdesc, first_col, &isnull))->data, TL_RID_LEN);
	s->origin = SPI_getvalue(tt->vals[row], tt->tupdesc, first_col + 1);
	s->seq = DatumGetInt64(SPI_getbinval(tt->vals[row], tt->tupdesc, first_col + 2, &isnull));
	s->ts = DatumGetTimestampTz(SPI_getbinval(tt->vals[row], tt->tupdesc, first_col + 3, &isnull));
	src = SPI_getbinval(tt->vals[row], tt->tupdesc, first_col + 4, &isnull);
	s->source = isnull ? NULL : TextDatumGetCString(src);
	s->payload = DatumGetJsonbPCopy(SPI_getbinval(tt->vals[row], tt->tupdesc, first_col + 5, &isnull));
	return s;
}

static void
put_side(Datum *values, char *nulls, const TlSide *s)
{
	values[0] = tl_rid_datum(&s->rid);
	values[1] = CStringGetTextDatum(s->origin);
	values[2] = Int64GetDatum(s->seq);
	values[3] = TimestampTzGetDatum(s->ts);
	values[4] = s->source ? CStringGetTextDatum(s->source) : (Datum) 0;
	nulls[4] = s->source ? ' ' : 'n';
	values[5] = JsonbPGetDatum(s->payload);
}

/* The decision stored for the pair (rid_a, rid_b) of `key`: 1 = a wins, 0 = b wins, -1 = none. */
int
tl_conflict_store_decision(const char *log_name, const char *key, const TlRid *rid_a, const TlRid *rid_b)
{
	int			result = -1;
	TlAsOwner	save;

	tl_become_owner(&save);
	tl_spi_run("SELECT winner = 'a' FROM tieredlog.conflict WHERE log_name = $1 AND key = $2"
			   " AND rid_a = $3 AND rid_b = $4",
			   SPI_OK_SELECT, 4, TEXTOID, CStringGetTextDatum(log_name), TEXTOID, CStringGetTextDatum(key),
			   UUIDOID, tl_rid_datum(rid_a), UUIDOID, tl_rid_datum(rid_b));
	if (SPI_processed == 1)
	{
		bool		isnull;

		result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) ? 1 : 0;
	}
	tl_restore_user(&save);
	return result;
}

/* Conflict conflict_id, locked FOR UPDATE until the transaction ends; false if there is none. */
bool
tl_conflict_store_lock(int64 conflict_id, TlConflictRow *row)
{
	MemoryContext outer = CurrentMemoryContext;
	TlAsOwner	save;
	bool		found;

	tl_become_owner(&save);
	tl_spi_run("SELECT log_name, key, status, arrived, rid_a, origin_a, seq_a, ts_a, source_a, payload_a,"
			   " rid_b, origin_b, seq_b, ts_b, source_b, payload_b"
			   " FROM tieredlog.conflict WHERE conflict_id = $1 FOR UPDATE",
			   SPI_OK_SELECT, 1, INT8OID, Int64GetDatum(conflict_id));
	found = SPI_processed == 1;
	if (found)
	{
		SPITupleTable *tt = SPI_tuptable;
		MemoryContext spi = MemoryContextSwitchTo(outer);	/* what is read must outlive SPI_finish */

		row->conflict_id = conflict_id;
		row->log_name = SPI_getvalue(tt->vals[0], tt->tupdesc, 1);
		row->key = SPI_getvalue(tt->vals[0], tt->tupdesc, 2);
		row->status = SPI_getvalue(tt->vals[0], tt->tupdesc, 3);
		row->arrived = SPI_getvalue(tt->vals[0], tt->tupdesc, 4)[0];
		row->a = side_of_row(tt, 0, 5);
		row->b = side_of_row(tt, 0, 11);
		MemoryContextSwitchTo(spi);
	}
	tl_restore_user(&save);
	return found;
}

/* A person decided conflict_id: side `winner` ('a' or 'b'), recorded as decision_record. */
void
tl_conflict_store_decide(int64 conflict_id, char winner, const char *decision_record)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	TlAsOwner	save;

	values[0] = Int64GetDatum(conflict_id);
	values[1] = CStringGetTextDatum(winner == 'a' ? "a" : "b");
	values[2] = CStringGetTextDatum(decision_record);
	tl_become_owner(&save);
	tl_spi_exec("UPDATE tieredlog.conflict SET status = 'resolved', winner = $2, resolved_at = now(),"
				" resolved_by = session_user, decision_record = $3,"
				" reason = reason || '; decided by ' || session_user"
				" WHERE conflict_id = $1", 3, types, values, SPI_OK_UPDATE);
	tl_restore_user(&save);
}

/* tieredlog itself settled conflict_id (why is appended to its reason; decision_record may be NULL). */
void
tl_conflict_store_mark_resolved(int64 conflict_id, const char *why, const char *decision_record)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', decision_record ? ' ' : 'n'};
	TlAsOwner	save;

	values[0] = Int64GetDatum(conflict_id);
	values[1] = CStringGetTextDatum(why);
	values[2] = decision_record ? CStringGetTextDatum(decision_record) : (Datum) 0;
	tl_become_owner(&save);
	if (SPI_execute_with_args("UPDATE tieredlog.conflict SET status = 'resolved', resolved_at = now(),"
							  " resolved_by = 'tieredlog', decision_record = $3,"
							  " reason = reason || '; ' || $2 WHERE conflict_id = $1",
							  3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tieredlog.conflict");
	tl_restore_user(&save);
}

void
tl_conflict_store_delete(int64 conflict_id)
{
	TlAsOwner	save;

	tl_become_owner(&save);
	tl_spi_run("DELETE FROM tieredlog.conflict WHERE conflict_id = $1",
			   SPI_OK_DELETE, 1, INT8OID, Int64GetDatum(conflict_id));
	tl_restore_user(&save);
}

/*
 * Settled conflicts resolved more than retention_s ago go; so do witnesses older than that,
 * except each writer's newest about each origin (it answers for every later record): a record
 * that old arriving now can only be taken for concurrent, the safe side.
 */
void
tl_conflict_store_prune(int retention_s)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(retention_s)};
	TlAsOwner	save;

	tl_become_owner(&save);
	tl_spi_exec("DELETE FROM tieredlog.conflict WHERE status <> 'pending'"
				" AND resolved_at < now() - make_interval(secs => $1)", 1, types, values, SPI_OK_DELETE);
	tl_spi_exec("DELETE FROM tieredlog.seen s WHERE s.stored_at < now() - make_interval(secs => $1)"
				" AND EXISTS (SELECT 1 FROM tieredlog.seen n WHERE n.writer = s.writer AND n.about = s.about"
				"             AND n.writer_seq > s.writer_seq)", 1, types, values, SPI_OK_DELETE);
	tl_restore_user(&save);
}

/*
 * Up to `limit` conflicts to look at again, oldest first (TlConflictRow, without `arrived`):
 * pending ones, and ones resolved by their rule within the last window_s.
 */
List *
tl_conflict_store_to_recheck(int window_s, int limit)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext spi;
	TlAsOwner	save;
	List	   *out = NIL;

	tl_become_owner(&save);
	tl_spi_run("SELECT conflict_id, log_name, key, status, rid_a, origin_a, seq_a, ts_a, source_a, payload_a,"
			   " rid_b, origin_b, seq_b, ts_b, source_b, payload_b"
			   " FROM tieredlog.conflict WHERE status = 'pending'"
			   "    OR (status = 'resolved_by_rule' AND updated_at > now() - make_interval(secs => $1))"
			   " ORDER BY conflict_id LIMIT $2",
			   SPI_OK_SELECT, 2, INT4OID, Int32GetDatum(window_s), INT4OID, Int32GetDatum(limit));
	spi = MemoryContextSwitchTo(outer);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		TlConflictRow *r = palloc0(sizeof(TlConflictRow));
		bool		isnull;

		r->conflict_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		r->log_name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		r->key = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		r->status = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);
		r->a = side_of_row(SPI_tuptable, i, 5);
		r->b = side_of_row(SPI_tuptable, i, 11);
		out = lappend(out, r);
	}
	MemoryContextSwitchTo(spi);
	tl_restore_user(&save);
	return out;
}

/*
 * The (log, key)s of up to `limit` episodes written since `since` and not decided by a person,
 * each with the newest ts of its sides (*anchors). Returns how many.
 */
int
tl_conflict_store_recent_keys(TimestampTz since, int limit, char ***log_names, char ***keys, TimestampTz **anchors)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext spi;
	TlAsOwner	save;
	int			n;

	tl_become_owner(&save);
	tl_spi_run("SELECT log_name, key, max(greatest(ts_a, ts_b)) FROM tieredlog.conflict"
			   " WHERE updated_at >= $1 AND status <> 'resolved' GROUP BY log_name, key LIMIT $2",
			   SPI_OK_SELECT, 2, TIMESTAMPTZOID, TimestampTzGetDatum(since), INT4OID, Int32GetDatum(limit));
	n = (int) SPI_processed;
	spi = MemoryContextSwitchTo(outer);
	*log_names = palloc(sizeof(char *) * (n + 1));
	*keys = palloc(sizeof(char *) * (n + 1));
	*anchors = palloc(sizeof(TimestampTz) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		(*log_names)[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		(*keys)[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		(*anchors)[i] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
	}
	MemoryContextSwitchTo(spi);
	tl_restore_user(&save);
	return n;
}

/* The move of one episode's row, run by move_episode() in a subtransaction. */
typedef struct EpisodeMove
{
	Datum	   *values;
	const char *nulls;
	Oid		   *types;
	int			rc;
	uint64		rows;			/* rows updated: 0 or 1 */
} EpisodeMove;

static void
run_episode_move(void *arg)
{
	EpisodeMove *m = arg;

	m->rc = SPI_execute_plan(tl_spi_prepare_once(&plan_move_episode,
										  "UPDATE tieredlog.conflict c SET rid_a = $3, origin_a = $4, seq_a = $5, ts_a = $6,"
										  " source_a = $7, payload_a = $8, rid_b = $9, origin_b = $10, seq_b = $11, ts_b = $12,"
										  " source_b = $13, payload_b = $14, arrived = $15, via = $16, rule = $17, status = $18,"
										  " winner = $19, reason = $20, pairs = c.pairs + $22, updated_at = now(),"
										  " resolved_at = CASE WHEN $18 = 'pending' THEN NULL ELSE now() END"
										  " WHERE c.conflict_id = $21 AND c.status <> 'resolved' AND c.log_name = $1 AND c.key = $2"
										  " AND ((c.origin_a = $23 AND c.seq_a = $24 AND c.seq_b = $25)"
										  "      OR (c.origin_b = $23 AND c.seq_b = $24 AND c.seq_a = $25))"
										  " AND NOT EXISTS (SELECT 1 FROM tieredlog.conflict o WHERE o.log_name = $1"
										  "                 AND o.key = $2 AND o.rid_a = $3 AND o.rid_b = $9)",
										  25, m->types), m->values, m->nulls, false, 0);
	m->rows = SPI_processed;
}

/*
 * Move row $21's episode to the pair in `values`, unless it no longer holds the pair the caller
 * read, or another row holds the new pair (an older episode: the uniqueness of the pair would
 * break; leave it). NOT EXISTS sees only what committed before the statement: a transaction that
 * gave another row the same pair and committed meanwhile, or is still running, makes the unique
 * index raise 23505 (after waiting for it). That is the same answer as NOT EXISTS finding the
 * row, so the UPDATE runs in a subtransaction, and a unique violation is taken as "leave it".
 * Any other error is raised as it is. Returns the rows updated, 0 or 1.
 */
static uint64
move_episode(Datum *values, const char *nulls, Oid *types)
{
	EpisodeMove m = {values, nulls, types, 0, 0};
	ErrorData  *edata;

	if (tl_subxact_try(run_episode_move, &m, &edata))
	{
		if (m.rc != SPI_OK_UPDATE)
			elog(ERROR, "could not record a conflict");
		return m.rows;
	}
	if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
		ReThrowError(edata);
	FreeErrorData(edata);
	return 0;
}

/*
 * Write an episode: a new row (w->episode_id 0; nothing if the pair already has one), or the
 * row episode_id moved to this pair, if it still holds the pair the caller read and no other row
 * holds the new pair. Returns the row's conflict_id, 0 if nothing was written.
 */
int64
tl_conflict_store_write(const TlConflictWrite *w)
{
	Oid			types[25] = {TEXTOID, TEXTOID,
		UUIDOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, JSONBOID,
		UUIDOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID, JSONBOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT4OID, TEXTOID, INT8OID, INT8OID};
	Datum		values[25];
	char		nulls[26] = "                         ";
	TlAsOwner	save;
	int64		id = 0;
	int			rc;

	values[0] = CStringGetTextDatum(w->log_name);
	values[1] = CStringGetTextDatum(w->key);
	put_side(values + 2, nulls + 2, w->a);
	put_side(values + 8, nulls + 8, w->b);
	values[14] = CStringGetTextDatum(w->arrived_is_a ? "a" : "b");
	values[15] = CStringGetTextDatum(w->via);
	values[16] = CStringGetTextDatum(w->rule);
	values[17] = CStringGetTextDatum(w->pending ? "pending" : "resolved_by_rule");
	values[18] = CStringGetTextDatum(w->a_wins ? "a" : "b");
	values[19] = CStringGetTextDatum(w->reason);
	values[20] = Int64GetDatum(w->episode_id);
	values[21] = Int32GetDatum(w->pairs);
	values[22] = CStringGetTextDatum(w->was_origin);
	values[23] = Int64GetDatum(w->was_seq);
	values[24] = Int64GetDatum(w->other_seq);
	tl_become_owner(&save);
	if (w->episode_id == 0)
		rc = SPI_execute_plan(tl_spi_prepare_once(&plan_insert_episode,
												  "INSERT INTO tieredlog.conflict (log_name, key, rid_a, origin_a, seq_a, ts_a, source_a,"
												  " payload_a, rid_b, origin_b, seq_b, ts_b, source_b, payload_b, arrived, via, rule,"
												  " status, winner, reason, resolved_at, pairs)"
												  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
												  " $18, $19, $20, CASE WHEN $18 = 'pending' THEN NULL ELSE now() END, $22)"
												  " ON CONFLICT (log_name, key, rid_a, rid_b) DO NOTHING RETURNING conflict_id",
												  25, types), values, nulls, false, 0);
	else
	{
		if (move_episode(values, nulls, types) == 1)
			id = w->episode_id;
		tl_restore_user(&save);
		return id;
	}
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record a conflict");
	if (SPI_processed == 1)
	{
		bool		isnull;

		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	tl_restore_user(&save);
	return id;
}

/* The newest episode of `key` between origin_x and origin_y (conflict_id, status, a, b), if any. */
bool
tl_conflict_store_find_episode(const char *log_name, const char *key, const char *origin_x,
							   const char *origin_y, TlConflictRow *row)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	MemoryContext outer = CurrentMemoryContext;
	TlAsOwner	save;
	bool		found;

	values[0] = CStringGetTextDatum(log_name);
	values[1] = CStringGetTextDatum(key);
	values[2] = CStringGetTextDatum(origin_x);
	values[3] = CStringGetTextDatum(origin_y);
	tl_become_owner(&save);
	if (SPI_execute_plan(tl_spi_prepare_once(&plan_find_episode,
											 "SELECT conflict_id, status, rid_a, origin_a, seq_a, ts_a, source_a, payload_a,"
											 " rid_b, origin_b, seq_b, ts_b, source_b, payload_b FROM tieredlog.conflict"
											 " WHERE log_name = $1 AND key = $2"
											 "   AND ((origin_a = $3 AND origin_b = $4) OR (origin_a = $4 AND origin_b = $3))"
											 " ORDER BY conflict_id DESC LIMIT 1", 4, types),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tieredlog.conflict");
	found = SPI_processed == 1;
	if (found)
	{
		MemoryContext spi = MemoryContextSwitchTo(outer);
		bool		isnull;

		memset(row, 0, sizeof(*row));
		row->conflict_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		row->status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		row->a = side_of_row(SPI_tuptable, 0, 3);
		row->b = side_of_row(SPI_tuptable, 0, 9);
		MemoryContextSwitchTo(spi);
	}
	tl_restore_user(&save);
	return found;
}
