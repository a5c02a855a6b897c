/*-------------------------------------------------------------------------
 * reconcile_store.h
 *		A reconciliation's outcome per segment as a row of tieredlog.reconcile_log, and the local
 *		logs' names. See reconcile_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_RECONCILE_STORE_H
#define TIEREDLOG_RECONCILE_STORE_H

#include "postgres.h"
#include "datatype/timestamp.h"

typedef struct TlReconcileResult
{
	const char *log_name;
	const char *peer_name;
	TimestampTz range_start;
	int64		segment_id;		/* 0 if this node has no such segment (yet) */
	const char *status;			/* in_sync, repaired, diverged, damaged, skipped_archive */
	int64		records_sent;
	int64		records_received;
	int64		conflicts;
	int			leaves_differing;
	int			round_trips;
	int64		phase_bytes[4];	/* detect, localize, reconcile, repair */
	double		duration_ms;
} TlReconcileResult;

#define TL_RECONCILE_NCOLS	16
extern void tl_reconcile_result_values(const TlReconcileResult *r, Datum *v, bool *n);
extern void tl_reconcile_log_insert(const TlReconcileResult *r);
extern char **tl_log_names(int *n);

#endif							/* TIEREDLOG_RECONCILE_STORE_H */
