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
#include "store/reconcile_store.h"

typedef void (*TlReconcileEmit) (const TlReconcileResult *r, void *arg);

extern void tl_reconcile(const char *log_name, const char *peer_name, TimestampTz from_ts,
						 TimestampTz to_ts, bool include_archive, TlReconcileEmit emit, void *arg);

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
