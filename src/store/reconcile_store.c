/*-------------------------------------------------------------------------
 * reconcile_store.c
 *		tieredlog.reconcile_log (what reconciliations did, per segment; the reconcile_history
 *		view), the 16 columns a reconciliation result has there and in reconcile(), and the names
 *		of the local logs a reconciliation compares with the peer's.
 *
 * Every function that queries runs inside the caller's SPI connection, which carries the pinned
 * search_path (tl_spi_connect, or tl_become_owner when the caller acts as the extension's owner);
 * results are allocated in the context that was current when SPI was connected.
 *
 * Locking: RowExclusiveLock on reconcile_log to insert, AccessShareLock on log to read.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "store/reconcile_store.h"
#include "store/spi_rows.h"

/* A result as the 16 columns of reconcile() (and of tieredlog.reconcile_log). */
void
tl_reconcile_result_values(const TlReconcileResult *r, Datum *v, bool *n)
{
	int64		bytes = 0;

	for (int p = 0; p < 4; p++)
		bytes += r->phase_bytes[p];
	memset(n, 0, sizeof(bool) * TL_RECONCILE_NCOLS);
	v[0] = CStringGetTextDatum(r->log_name);
	v[1] = TimestampTzGetDatum(r->range_start);
	v[2] = Int64GetDatum(r->segment_id);
	n[2] = r->segment_id == 0;
	v[3] = CStringGetTextDatum(r->peer_name);
	v[4] = CStringGetTextDatum(r->status);
	v[5] = Int64GetDatum(r->records_sent);
	v[6] = Int64GetDatum(r->records_received);
	v[7] = Int64GetDatum(r->conflicts);
	v[8] = Int32GetDatum(r->leaves_differing);
	v[9] = Int64GetDatum(bytes);
	v[10] = Int32GetDatum(r->round_trips);
	for (int p = 0; p < 4; p++)
		v[11 + p] = Int64GetDatum(r->phase_bytes[p]);
	v[15] = Float8GetDatum(r->duration_ms);
}

/* A segment's outcome as a row of tieredlog.reconcile_log. */
void
tl_reconcile_log_insert(const TlReconcileResult *r)
{
	Oid			types[TL_RECONCILE_NCOLS] = {TEXTOID, TIMESTAMPTZOID, INT8OID, TEXTOID, TEXTOID, INT8OID,
	INT8OID, INT8OID, INT4OID, INT8OID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, FLOAT8OID};
	Datum		v[TL_RECONCILE_NCOLS];
	bool		n[TL_RECONCILE_NCOLS];
	char		nulls[TL_RECONCILE_NCOLS];

	tl_reconcile_result_values(r, v, n);
	for (int i = 0; i < TL_RECONCILE_NCOLS; i++)
		nulls[i] = n[i] ? 'n' : ' ';
	if (SPI_execute_with_args("INSERT INTO tieredlog.reconcile_log (log_name, range_start, segment_id,"
							  " peer_name, status, records_sent, records_received, conflicts, leaves_differing,"
							  " bytes, round_trips, detect_bytes, localize_bytes, reconcile_bytes, repair_bytes,"
							  " duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
							  " $14, $15, $16)", TL_RECONCILE_NCOLS, types, v, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a reconciliation");
}

/* The names of this node's logs, in order. */
char	  **
tl_log_names(int *n)
{
	static const TlSpiColumn name_col[] = {{TL_SPI_TEXT, 0}};

	if (SPI_execute("SELECT log_name FROM tieredlog.log ORDER BY log_name", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list logs");
	return tl_spi_read_rows(name_col, 1, sizeof(char *), n);
}
