/*-------------------------------------------------------------------------
 * xact.h
 *		A background worker's own transactions: start one with a snapshot (and SPI, with the
 *		pinned search_path), commit it; or run a function in one and catch its error; or run one
 *		when the current transaction commits; a hash table for the current transaction. See xact.c.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_XACT_H
#define TIEREDLOG_XACT_H

#include "postgres.h"

#include "storage/lock.h"
#include "utils/hsearch.h"

typedef struct TlXact
{
	bool		spi;			/* connected to SPI */
	int			guc_level;		/* tl_spi_connect's, to undo the pinned search_path */
} TlXact;

typedef void (*TlXactFn) (void *arg);

/* A function to run when the current transaction commits: static TlAtCommit x = TL_AT_COMMIT(fn). */
typedef struct TlAtCommit
{
	void		(*fn) (void);
	bool		pending;		/* run it at this transaction's commit */
	bool		registered;		/* the transaction callback is in place */
} TlAtCommit;

#define TL_AT_COMMIT(fn)	{(fn), false, false}

/*
 * A backend-local hash table that lives as long as the current transaction (in
 * TopTransactionContext) and is forgotten when a subtransaction aborts:
 * static TlXactMemo m = TL_XACT_MEMO("name", KeyType, EntryType).
 */
typedef struct TlXactMemo
{
	const char *name;
	Size		keysize;
	Size		entrysize;
	HTAB	   *table;			/* NULL, or valid while lxid is the current transaction's */
	LocalTransactionId lxid;
	bool		registered;		/* the subtransaction callback is in place */
} TlXactMemo;

#define TL_XACT_MEMO(name, keytype, entrytype) \
	{(name), sizeof(keytype), sizeof(entrytype), NULL, InvalidLocalTransactionId, false}

extern void tl_xact_begin(TlXact *x, bool spi);
extern void tl_xact_commit(TlXact *x);
extern int	tl_backoff_seconds(int failures, int base_s, int max_s);
extern bool tl_xact_run(TlXactFn fn, void *arg, bool spi, MemoryContext cxt, char **error);
extern bool tl_subxact_run(TlXactFn fn, void *arg, char **error);
extern bool tl_subxact_try(TlXactFn fn, void *arg, ErrorData **edata);
extern void tl_at_commit(TlAtCommit *a);
extern HTAB *tl_xact_memo(TlXactMemo *m, bool create);

#endif							/* TIEREDLOG_XACT_H */
