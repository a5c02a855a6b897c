/*-------------------------------------------------------------------------
 * upkeep_store.c
 *		The worker's planning queries over tieredlog.segment (bgw/policy.c decides the policy
 *		and passes its settings): open segments past their window and grace, or reopened ones that
 *		went quiet (seal); tier 2 segments that took late records (re-archive); segments read
 *		often (promote) or not at all for long (demote), never one that moved too recently; the
 *		longest unscrubbed segment (scrub). The last access of a segment on this node is the
 *		newest of its live counters (_stat_live()), its flushed access_history, its seal, its
 *		move and its creation. Also: segments with many digest cells (fold), and noting a scrub.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path;
 * results are allocated in the context that was current when SPI was connected.
 *
 * Locking: AccessShareLock on the tables read; RowExclusiveLock on segment to note a scrub.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "store/catalog.h"
#include "store/spi_rows.h"
#include "core/safe_spi.h"
#include "store/upkeep_store.h"

/*
 * last access known on this node: live counters, flushed history, seal, move. The history's is
 * one probe of access_history_segment_last_access per segment it is asked for (a join with the
 * history grouped by segment read the whole table every cycle).
 */
#define LAST_ACCESS_SQL \
	"GREATEST(l.last_access, (SELECT max(a.last_access) FROM tieredlog.access_history a" \
	"                         WHERE a.segment_id = s.segment_id), s.sealed_at, s.moved_at, s.created_at)"
#define ACCESS_JOINS_SQL \
	" LEFT JOIN tieredlog._stat_live() l USING (segment_id)"

/* Each kind's query: $1 = the segments to skip (int8[]), $2.. = its args; rows (segment_id, tier). */
static const struct
{
	const char *sql;
	int			nargs;
}			due_query[] =
{
	[TL_DUE_SEAL] = {
		/* open segments past their window + grace; reopened ones once no write came for the grace */
		"SELECT s.segment_id, s.tier FROM tieredlog.segment s" ACCESS_JOINS_SQL
		" WHERE s.segment_id <> ALL ($1) AND ("
		"   (s.state = 'open' AND s.range_end <= now() - make_interval(secs => $2))"
		"   OR (s.state = 'reopened' AND " LAST_ACCESS_SQL " <= now() - make_interval(secs => $2)))"
		" ORDER BY s.range_end, s.segment_id", 1
	},
	[TL_DUE_REARCHIVE] = {
		/* tier 2 segments that took late records: back into frames once sealed again */
		"SELECT s.segment_id, 2 FROM tieredlog.segment s"
		" WHERE s.tier = 2 AND s.state = 'sealed' AND s.relname IS NOT NULL"
		"   AND s.segment_id <> ALL ($1) ORDER BY s.segment_id", 0
	},
	[TL_DUE_PROMOTE] = {
		"SELECT s.segment_id, s.tier - 1 FROM tieredlog.segment s"
		" JOIN tieredlog._stat_live() l USING (segment_id)"
		" WHERE s.tier > 0 AND l.reads_in_window >= $2 AND s.segment_id <> ALL ($1)"
		"   AND (s.moved_at IS NULL OR s.moved_at <= now() - make_interval(secs => $3))"
		" ORDER BY l.reads_in_window DESC, s.segment_id", 2
	},
	[TL_DUE_DEMOTE] = {
		/* tier 1 -> 2 needs a sealed segment; tier 0 -> 1 too: open segments are being written */
		"SELECT s.segment_id, s.tier + 1 FROM tieredlog.segment s" ACCESS_JOINS_SQL
		" WHERE s.tier < 2 AND s.state = 'sealed' AND s.segment_id <> ALL ($1)"
		"   AND " LAST_ACCESS_SQL " <= now() - make_interval(secs => $2)"
		"   AND (s.moved_at IS NULL OR s.moved_at <= now() - make_interval(secs => $3))"
		" ORDER BY " LAST_ACCESS_SQL ", s.segment_id", 2
	},
	[TL_DUE_SCRUB] = {
		/* the longest unscrubbed first; frames-only segments too (checksums) */
		"SELECT s.segment_id, s.tier FROM tieredlog.segment s"
		" WHERE s.segment_id <> ALL ($1)"
		"   AND COALESCE(s.scrubbed_at, s.created_at) <= now() - make_interval(secs => $2)"
		" ORDER BY COALESCE(s.scrubbed_at, s.created_at), s.segment_id", 1
	},
};

/* Up to `limit` segments due for `kind` (0: no limit), not in `skip`, with the kind's args. */
TlDueSegment *
tl_segments_due(TlDueKind kind, ArrayType *skip, const int *args, int limit, int *n)
{
	const char *sql = due_query[kind].sql;
	int			nargs = due_query[kind].nargs;
	Oid			types[3];
	Datum		values[3];
	static const TlSpiColumn cols[] = {
		TL_SPI_COL(TL_SPI_INT8, TlDueSegment, segment_id), TL_SPI_COL(TL_SPI_INT4, TlDueSegment, tier)
	};

	Assert(nargs < 3);
	types[0] = INT8ARRAYOID;
	values[0] = PointerGetDatum(skip);
	for (int i = 0; i < nargs; i++)
	{
		types[i + 1] = INT4OID;
		values[i + 1] = Int32GetDatum(args[i]);
	}
	if (SPI_execute_with_args(sql, nargs + 1, types, values, NULL, true, limit) != SPI_OK_SELECT)
		elog(ERROR, "tieredlog: planning query failed: %s", sql);
	return tl_spi_read_rows(cols, lengthof(cols), sizeof(TlDueSegment), n);
}

/*
 * The segments with more than `min_cells` digest cells (to fold): of those that are not sealed
 * (open or reopened: the only ones appends, apply and repairs write; their cells are counted
 * through digest_cell's index, a few milliseconds however many segments there are), or of every
 * segment when `sealed_too` (a read of the whole table, about 0.2 s at 10 000 segments).
 */
int64 *
tl_segments_to_fold(int min_cells, bool sealed_too, int *n)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(min_cells)};
	static const TlSpiColumn id_col[] = {{TL_SPI_INT8, 0}};
	const char *sql = sealed_too ?
		"SELECT segment_id FROM tieredlog.digest_cell GROUP BY segment_id HAVING count(*) > $1" :
		"SELECT c.segment_id FROM tieredlog.segment s JOIN tieredlog.digest_cell c ON c.segment_id = s.segment_id"
		" WHERE s.state <> 'sealed' GROUP BY c.segment_id HAVING count(*) > $1";

	if (SPI_execute_with_args(sql, 1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list digest cells");
	return tl_spi_read_rows(id_col, 1, sizeof(int64), n);
}

/*
 * How many prepared transactions this database has (they may hold rows whose cells a crash lost).
 * Connects to SPI itself.
 */
int
tl_prepared_xacts_here(void)
{
	int			guc_level = tl_spi_connect();
	bool		isnull;
	int64		count;

	if (SPI_execute("SELECT count(*) FROM pg_catalog.pg_prepared_xacts "
					"WHERE database = pg_catalog.current_database()", true, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not count prepared transactions");
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(guc_level);
	return (int) count;
}

/* The scrub went over the segment now. */
void
tl_segment_note_scrubbed(int64 segment_id)
{
	tl_spi_run("UPDATE tieredlog.segment SET scrubbed_at = now() WHERE segment_id = $1",
			   SPI_OK_UPDATE, 1, INT8OID, Int64GetDatum(segment_id));
}
