/*-------------------------------------------------------------------------
 * peer_limits.c
 *		The database worker's look at the limits it cannot enforce itself: the WAL this node
 *		keeps for each peer (the peer's slot here) against max_slot_wal_keep_size.
 *
 * The peers view computes each peer's wal_state ('ok', 'warning' at 80 % of
 * max_slot_wal_keep_size, 'critical' beyond it, 'lost' once the slot is invalidated) and
 * status().last_error names the peers that are not 'ok'. Here the worker also writes a WARNING to
 * the server log when a peer's state changes to one of those (once per change, not every
 * cycle), so that the log says it before the slot is lost.
 *
 * Locking: none of its own (a read of the peers view, in a transaction of its own).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "repl/peer_limits.h"
#include "core/safe_spi.h"
#include "store/peer_store.h"
#include "core/xact.h"

/* "peer\tstate" of the peers not 'ok' at the last look, in TopMemoryContext */
static List *said = NIL;

static bool
said_before(const char *entry)
{
	ListCell   *lc;

	foreach(lc, said)
		if (strcmp((const char *) lfirst(lc), entry) == 0)
			return true;
	return false;
}

static void
warn(const char *peer, const char *state, const char *retained, const char *percent)
{
	if (strcmp(state, "lost") == 0)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("tieredlog: the slot of peer \"%s\" on this node was invalidated (max_slot_wal_keep_size)", peer),
				 errdetail("When the peer returns it recreates the slot and records the time it missed as a gap, which reconciliation repairs."),
				 errhint("Raise max_slot_wal_keep_size if peers are often down this long.")));
	else
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("tieredlog: this node keeps %s of WAL for peer \"%s\", %s%% of max_slot_wal_keep_size",
						retained, peer, percent),
				 strcmp(state, "critical") == 0
				 ? errdetail("The next checkpoint invalidates the peer's slot; the peer then records a gap.")
				 : errdetail("Beyond max_slot_wal_keep_size the peer's slot is invalidated; the peer then records a gap."),
				 errhint("Bring the peer back, drop_peer() it on this node if it is gone for good, or raise max_slot_wal_keep_size.")));
}

/* One look; runs in its own transaction (the worker's, between cycles). */
static void
check_wal_kept(void)
{
	int			guc_level = tl_spi_connect();
	List	   *now = NIL;
	MemoryContext old;
	int			n;
	TlPeerWalAlert *alerts = tl_peer_wal_alerts(&n);

	for (int i = 0; i < n; i++)
	{
		const TlPeerWalAlert *a = &alerts[i];
		char	   *entry = psprintf("%s\t%s", a->peer_name, a->wal_state);

		if (!said_before(entry))
			warn(a->peer_name, a->wal_state, a->retained ? a->retained : "?", a->percent ? a->percent : "?");
		old = MemoryContextSwitchTo(TopMemoryContext);
		now = lappend(now, pstrdup(entry));
		MemoryContextSwitchTo(old);
	}
	tl_spi_finish(guc_level);
	list_free_deep(said);
	said = now;
}

static void
check_wal_kept_step(void *arg)
{
	check_wal_kept();
}

void
tl_limits_check(MemoryContext cxt)
{
	MemoryContext old = CurrentMemoryContext;
	char	   *error = NULL;

	if (!tl_xact_run(check_wal_kept_step, NULL, false, cxt, &error))
		ereport(LOG, (errmsg("tieredlog: checking the WAL kept for peers failed: %s", error)));
	MemoryContextSwitchTo(old);
}
