/*-------------------------------------------------------------------------
 * quarantine.h
 *		tieredlog.quarantine: two versions of one record identity (origin, seq), kept side by side.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_QUARANTINE_H
#define TIEREDLOG_QUARANTINE_H

#include "postgres.h"
#include "datatype/timestamp.h"

#include "store/catalog.h"
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

extern void tl_quarantine_insert(const TlQuarantineEntry *e);
extern int	tl_quarantine_resolve_restored(const TlLog *log, const TlSegment *seg, const char *peer_name);

#endif							/* TIEREDLOG_QUARANTINE_H */
