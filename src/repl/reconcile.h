/*-------------------------------------------------------------------------
 * reconcile.h
 *		Anti-entropy with peers: the peer-side protocol functions and the coordinator.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_RECONCILE_H
#define TIEREDLOG_RECONCILE_H

#include "postgres.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "core/record.h"

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

typedef void (*TlReconcileEmit) (const TlReconcileResult *r, void *arg);

extern void tl_reconcile(const char *log_name, const char *peer_name, TimestampTz from_ts,
						 TimestampTz to_ts, bool include_archive, TlReconcileEmit emit, void *arg);

#define TL_RECONCILE_NCOLS	16
extern void tl_reconcile_result_values(const TlReconcileResult *r, Datum *v, bool *n);
extern void tl_reconcile_log_result(const TlReconcileResult *r);
extern char *tl_reconcile_close_gaps(const char *peer_name);

/* the peer's side */
extern bytea *tl_ae_roots(const char *log_name, TimestampTz from_ts, TimestampTz to_ts,
						  bool include_archive);
extern bytea *tl_ae_leaves(const char *log_name, TimestampTz range_start);
extern bytea *tl_ae_iblt(const char *log_name, TimestampTz range_start, ArrayType *leaves,
						 ArrayType *cells, int64 salt);
extern bytea *tl_ae_ids(const char *log_name, TimestampTz range_start, ArrayType *leaves, int64 salt);
extern bytea *tl_ae_fetch(const char *log_name, TimestampTz range_start, ArrayType *leaves, int64 salt,
						  bytea *ids);
extern void tl_ae_store(bytea *records, const char *peer_name, const char *sender_node, int64 *counts);

#endif							/* TIEREDLOG_RECONCILE_H */
