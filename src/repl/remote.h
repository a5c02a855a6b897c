/*-------------------------------------------------------------------------
 * remote.h
 *		Storing a record that came from a peer (streaming or reconciliation).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_REMOTE_H
#define TIEREDLOG_REMOTE_H

#include "log/append.h"
#include "repl/wire.h"

extern TlApplyResult tl_store_remote_record(TlWireRecord *wr, const char *via, const char *peer_name,
											const char *sender_node);

#endif							/* TIEREDLOG_REMOTE_H */
