/*-------------------------------------------------------------------------
 * policy.h
 *		What the database worker should do next: seals, moves, checks, training. See policy.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_POLICY_H
#define TIEREDLOG_POLICY_H

#include "postgres.h"
#include "nodes/pg_list.h"

extern List *tl_policy_plan(List *queue, bool flush_due);

#endif							/* TIEREDLOG_POLICY_H */
