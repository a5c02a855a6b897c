/*-------------------------------------------------------------------------
 * vote.h
 *		Which copy of a damaged record the other nodes hold. See vote.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_VOTE_H
#define TIEREDLOG_VOTE_H

#include "postgres.h"

#include "core/record.h"

extern int	tl_vote_on_conflict(const char *log_name, const TlRecord *rec, const TlRid *local,
								const char *sender_node, TlRid *winner, char **why);

#endif							/* TIEREDLOG_VOTE_H */
