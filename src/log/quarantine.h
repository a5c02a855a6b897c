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
#include "store/quarantine_store.h"

extern void tl_quarantine_insert(const char *log_name, const TlRecord *other, const char *other_payload,
								 const TlRid *local_rid, const char *local_payload, const char *via,
								 const char *peer_name, const char *resolution);
extern int	tl_quarantine_resolve_restored(const TlLog *log, const TlSegment *seg, const char *peer_name);

#endif							/* TIEREDLOG_QUARANTINE_H */
