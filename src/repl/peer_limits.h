/*-------------------------------------------------------------------------
 * peer_limits.h
 *		The database worker's look at limits it cannot enforce itself (peer_limits.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_PEER_LIMITS_H
#define TIEREDLOG_PEER_LIMITS_H

#include "postgres.h"

extern void tl_limits_check(MemoryContext cxt);

#endif							/* TIEREDLOG_PEER_LIMITS_H */
