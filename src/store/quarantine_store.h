/*-------------------------------------------------------------------------
 * quarantine_store.h
 *		Rows of tieredlog.quarantine. See quarantine_store.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_QUARANTINE_STORE_H
#define TIEREDLOG_QUARANTINE_STORE_H

#include "postgres.h"
#include "datatype/timestamp.h"

#include "core/record.h"

typedef struct TlQuarantineEntry
{
	const char *log_name;
	const char *origin;
	int64		seq;
	TimestampTz ts;
	text	   *key;
	TlRid		local_rid;		/* the rid stored with this node's copy */
	const char *local_payload;	/* this node's copy as jsonb text; NULL if not read */
	TlRid		other_rid;		/* the peer's copy's rid, or (scrub) the rid the row's content has */
	const char *other_payload;	/* the peer's copy, or (scrub) the damaged content found here */
	const char *via;			/* 'streaming', 'reconciliation' or 'scrub' */
	const char *peer_name;		/* NULL for the scrub */
	const char *resolution;		/* NULL: unresolved, waits for a decision */
} TlQuarantineEntry;

/* An unresolved scrub entry: which record, and the rid it should have. */
typedef struct TlQuarantineScrub
{
	int64		quarantine_id;
	char	   *origin;
	int64		seq;
	TimestampTz ts;
	text	   *key;
	TlRid		local_rid;
} TlQuarantineScrub;

extern void tl_quarantine_row_insert(const TlQuarantineEntry *e);
extern TlQuarantineScrub *tl_quarantine_unresolved_scrubs(const char *log_name, TimestampTz from_ts,
														  TimestampTz to_ts, int *n);
extern void tl_quarantine_mark_resolved(int64 quarantine_id, const char *resolution);

#endif							/* TIEREDLOG_QUARANTINE_STORE_H */
