/*-------------------------------------------------------------------------
 * xact.c
 *		A background worker's own transactions, the one copy of the start/snapshot/SPI and
 *		commit sequence every worker step needs (database worker, tasks, apply worker).
 *
 *		tl_xact_begin() sets the statement start time (now() and statement_timeout count from
 *		it), starts a transaction, pushes a fresh snapshot and, when asked, connects SPI with
 *		search_path pinned to pg_catalog, pg_temp (safe_spi.c); tl_xact_commit() undoes them in
 *		order and commits. tl_xact_run() runs a function between the two and turns an ERROR into
 *		a false return with the message copied into the caller's memory context, the
 *		transaction aborted and the error state flushed, so a worker's loop goes on;
 *		tl_subxact_run() does the same in a subtransaction of the current transaction.
 *		tl_backoff_seconds() is how long a worker waits before retrying what failed.
 *		tl_at_commit() runs a function once when the current transaction (any backend's) commits,
 *		and forgets it when the transaction aborts; such a transaction cannot be prepared. tl_xact_memo() is a backend's hash table for
 *		the current transaction, dropped when a subtransaction aborts (what it remembered may
 *		have been rolled back).
 *
 * Locking: none of its own; the transaction's locks are released at its commit or abort.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "storage/proc.h"
#include "utils/resowner.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "core/safe_spi.h"
#include "core/xact.h"

void
tl_xact_begin(TlXact *x, bool spi)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	x->spi = spi;
	x->guc_level = spi ? tl_spi_connect() : 0;
}

void
tl_xact_commit(TlXact *x)
{
	if (x->spi)
		tl_spi_finish(x->guc_level);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * fn(arg) in a transaction of its own (SPI connected if spi). Returns true when it committed; false after
 * an ERROR, with *error (if not NULL) the message, allocated in cxt. Leaves cxt current.
 */
bool
tl_xact_run(TlXactFn fn, void *arg, bool spi, MemoryContext cxt, char **error)
{
	TlXact		x;
	volatile bool ok = true;

	PG_TRY();
	{
		tl_xact_begin(&x, spi);
		MemoryContextSwitchTo(cxt);
		fn(arg);
		tl_xact_commit(&x);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		if (error != NULL)
			*error = edata->message;
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return ok;
}

/*
 * fn(arg) in an internal subtransaction of the current transaction. Returns true when it returned
 * (the subtransaction released); false after an ERROR (the subtransaction rolled back, the error
 * state flushed), with *error the message, allocated in the caller's memory context, which is
 * current again either way.
 */
bool
tl_subxact_run(TlXactFn fn, void *arg, char **error)
{
	ErrorData  *edata;

	if (tl_subxact_try(fn, arg, &edata))
		return true;
	*error = edata->message;
	return false;
}

/*
 * As tl_subxact_run(), with the whole error (its errcode among others) in *edata when `fn`
 * failed: for callers that treat one kind of error as an answer and raise the others again
 * (ReThrowError).
 */
bool
tl_subxact_try(TlXactFn fn, void *arg, ErrorData **edata)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		*edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* Seconds to wait after the given number of consecutive failures: base, doubled each time, capped. */
int
tl_backoff_seconds(int failures, int base_s, int max_s)
{
	int			s = Max(base_s, 1);

	for (int i = 1; i < failures && s < max_s; i++)
		s *= 2;
	return Min(s, max_s);
}

static void
at_commit_callback(XactEvent event, void *arg)
{
	TlAtCommit *a = arg;

	/*
	 * A prepared transaction commits later (COMMIT PREPARED, maybe in another backend), and no
	 * transaction callback runs then: what it changed would never be announced. It is refused, as
	 * PostgreSQL refuses to prepare one that used temporary objects.
	 */
	if (event == XACT_EVENT_PRE_PREPARE && a->pending)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that changed tieredlog's segments, logs or peers"),
				 errdetail("A move, a seal, a log, a rule or a peer takes effect for other sessions when its transaction commits in this session."),
				 errhint("Run it in a transaction that commits without PREPARE TRANSACTION.")));
	if (event == XACT_EVENT_COMMIT && a->pending)
		a->fn();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		a->pending = false;
}

/* Run a->fn when the current transaction commits (once, however often this is called in it). */
void
tl_at_commit(TlAtCommit *a)
{
	if (!a->registered)
	{
		RegisterXactCallback(at_commit_callback, a);
		a->registered = true;
	}
	a->pending = true;
}

static void
memo_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid,
					  void *arg)
{
	TlXactMemo *m = arg;

	if (event == SUBXACT_EVENT_ABORT_SUB)
		m->table = NULL;		/* its memory goes with TopTransactionContext */
}

/*
 * The memo's table for the current transaction: a new, empty one when it has none yet (or a
 * subtransaction aborted) and `create`, else NULL.
 */
HTAB *
tl_xact_memo(TlXactMemo *m, bool create)
{
	HASHCTL		ctl;

	if (m->table != NULL && m->lxid == MyProc->lxid)
		return m->table;
	if (!create)
		return NULL;
	if (!m->registered)
	{
		RegisterSubXactCallback(memo_subxact_callback, m);
		m->registered = true;
	}
	/* an older table went away with its transaction's TopTransactionContext */
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = m->keysize;
	ctl.entrysize = m->entrysize;
	ctl.hcxt = TopTransactionContext;
	m->table = hash_create(m->name, 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	m->lxid = MyProc->lxid;
	return m->table;
}
