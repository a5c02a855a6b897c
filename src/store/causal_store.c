/*-------------------------------------------------------------------------
 * causal_store.c
 *		tieredlog.seen holds one row (writer, writer_seq, about, seen_seq) per "_seen" record stored
 *		here (written here or received), so that log/causal.c's questions are two index descents
 *		rather than a scan of the log. Plans are prepared once per backend.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path;
 * causal.c connects as the extension's owner (tl_become_owner).
 *
 * Locking: the row is written in the caller's transaction (RowExclusiveLock); reads take
 * AccessShareLock and a fresh snapshot, which also sees rows written earlier in the transaction.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "core/safe_spi.h"
#include "store/causal_store.h"
#include "store/spi_rows.h"

static SPIPlanPtr plan_insert;
static SPIPlanPtr plan_seen_range;

/* Index a "_seen" record: `writer` wrote, as its record `writer_seq`, that it had `about` up to seen_seq. */
void
tl_seen_insert(const char *writer, int64 writer_seq, const char *about, int64 seen_seq)
{
	Oid			types[4] = {TEXTOID, INT8OID, TEXTOID, INT8OID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(writer);
	values[1] = Int64GetDatum(writer_seq);
	values[2] = CStringGetTextDatum(about);
	values[3] = Int64GetDatum(seen_seq);
	if (SPI_execute_plan(tl_spi_prepare_once(&plan_insert,
								 "INSERT INTO tieredlog.seen (writer, writer_seq, about, seen_seq)"
								 " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", 4, types),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not index a _seen record");
}

/* The writer's "_seen" records about `about` on both sides of its record `writer_seq`. */
void
tl_seen_around(const char *writer, const char *about, int64 writer_seq, TlSeenAround *out)
{
	Oid			types[3] = {TEXTOID, TEXTOID, INT8OID};
	Datum		values[3];

	values[0] = CStringGetTextDatum(writer);
	values[1] = CStringGetTextDatum(about);
	values[2] = Int64GetDatum(writer_seq);
	/* not read-only: a fresh snapshot that also sees witnesses stored earlier in this transaction */
	if (SPI_execute_plan(tl_spi_prepare_once(&plan_seen_range,
								 "SELECT b.writer_seq, b.seen_seq,"
								 " (SELECT min(a.writer_seq) FROM tieredlog.seen a WHERE a.writer = $1 AND a.about = $2"
								 "   AND a.writer_seq >= $3)"
								 " FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT writer_seq, seen_seq FROM tieredlog.seen"
								 "   WHERE writer = $1 AND about = $2 AND writer_seq < $3"
								 "   ORDER BY writer_seq DESC LIMIT 1) b ON true", 3, types),
						 values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read tieredlog.seen");
	out->after_seq = PG_INT64_MIN;
	out->seen_seq = -1;
	out->before_seq = PG_INT64_MAX;
	if (!tl_spi_isnull(0, 1))
	{
		out->after_seq = tl_spi_int8(0, 1);
		out->seen_seq = tl_spi_int8(0, 2);
	}
	if (!tl_spi_isnull(0, 3))
		out->before_seq = tl_spi_int8(0, 3);
}
