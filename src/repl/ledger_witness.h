/*-------------------------------------------------------------------------
 * ledger_witness.h
 *		Giving this node's ledger digest to its peers, and keeping theirs. See ledger_witness.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_LEDGER_WITNESS_H
#define TIEREDLOG_LEDGER_WITNESS_H

extern char *tl_ledger_push_witness(void);

#endif							/* TIEREDLOG_LEDGER_WITNESS_H */
