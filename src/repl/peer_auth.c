/*-------------------------------------------------------------------------
 * peer_auth.c
 *		A peer is who its connection says it is, not who a parameter says it is.
 *
 * What a peer sends this node in a session of its own (records to store through _ae_store,
 * ledger digests through _ae_witness) is accepted only from the role that peer logs in as here:
 * tieredlog.peer.peer_role, or, while that is NULL, the user in the peer's conninfo (the usual
 * symmetric set-up: every node reaches every other as the same role), or else the server's OS
 * user (libpq's default). The sender is the peer whose role is the session's current role; a
 * claimed node name must be one of those peers, or the call is refused.
 *
 * A superuser can write tieredlog's tables directly anyway: its claim is taken as it is (the
 * regression tests, an operator repairing by hand). Peers that log in as a superuser are
 * therefore trusted with everything; give each peer a role of its own (README, Privileges).
 *
 * Streamed records are checked in apply.c: a peer's stream carries only records it originated.
 *
 * Locking: reads tieredlog.peer (AccessShareLock) through SPI as the extension's owner.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/username.h"
#include "executor/spi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "store/catalog.h"
#include "store/peer_store.h"
#include "log/ledger.h"
#include "repl/peer_auth.h"
#include "core/json.h"
#include "core/validate.h"

/* The role a peer logs in as here: its peer_role, else its conninfo's user, else the OS user. */
static char *
peer_login_role(const char *peer_role, const char *conninfo)
{
	PQconninfoOption *opts;
	char	   *role = NULL;

	if (peer_role != NULL)
		return pstrdup(peer_role);
	opts = PQconninfoParse(conninfo, NULL);
	if (opts != NULL)
	{
		for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, "user") == 0 && o->val != NULL && o->val[0] != '\0')
				role = pstrdup(o->val);
		PQconninfoFree(opts);
	}
	if (role == NULL)
	{
		char	   *errstr = NULL;
		const char *os_user = get_user_name(&errstr);

		role = pstrdup(os_user ? os_user : "");
	}
	return role;
}

/*
 * The peer that role `caller` (the caller's GetUserId(), taken before any switch to the owner)
 * speaks for, checked against the node it claims to be (NULL: no claim; the role must then
 * stand for exactly one peer). Errors when the role speaks for none of them.
 */
TlSender
tl_authenticate_sender(Oid caller, const char *claimed_node)
{
	const char *role = GetUserNameFromId(caller, false);
	bool		is_super = superuser_arg(caller);
	TlSender	found = {NULL, NULL};
	TlSender	named = {NULL, NULL};
	int			matches = 0;
	StringInfoData speaks_for;
	MemoryContext outer = CurrentMemoryContext;
	TlAsOwner	save;
	TlPeerRow  *peers;
	int			npeers;

	initStringInfo(&speaks_for);
	tl_become_owner(&save);
	peers = tl_peer_all(&npeers);
	for (int i = 0; i < npeers; i++)
	{
		const TlPeerRow *p = &peers[i];
		MemoryContext spi = MemoryContextSwitchTo(outer);
		char	   *login = peer_login_role(p->peer_role, p->conninfo);

		if (claimed_node != NULL && strcmp(p->node_name, claimed_node) == 0)
			named = (TlSender) {p->name, p->node_name};
		if (strcmp(login, role) == 0)
		{
			appendStringInfo(&speaks_for, "%s\"%s\"", matches > 0 ? ", " : "", p->node_name);
			if (claimed_node == NULL || strcmp(p->node_name, claimed_node) == 0)
				found = (TlSender) {p->name, p->node_name};
			matches++;
		}
		MemoryContextSwitchTo(spi);
	}
	tl_restore_user(&save);

	if (found.node_name != NULL && (claimed_node != NULL || matches == 1))
		return found;
	if (is_super)
	{
		if (named.node_name != NULL)
			return named;
		if (claimed_node != NULL)
			return (TlSender) {pstrdup(claimed_node), pstrdup(claimed_node)};
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 claimed_node != NULL
			 ? errmsg("role \"%s\" may not speak for node \"%s\"", role, claimed_node)
			 : errmsg("role \"%s\" does not stand for exactly one peer", role),
			 matches > 0
			 ? errdetail("Role \"%s\" is the role of peer node(s) %s.", role, speaks_for.data)
			 : errdetail("Role \"%s\" is the role of no peer of this node.", role),
			 errhint("A peer is accepted only as the role it logs in as here: tieredlog.set_peer_role().")));
	return found;				/* not reached */
}

/* set_peer_role(peer_name, role): the role the peer logs in as here (NULL: its conninfo's user). */
void
tl_set_peer_role(const char *peer_name, const char *role)
{
	TlAsOwner	save;
	TlJson		j;

	tl_check_name("peer", peer_name);
	if (role != NULL && !OidIsValid(get_role_oid(role, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist", role)));
	tl_become_owner(&save);
	if (!tl_peer_set_role(peer_name, role))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("peer \"%s\" does not exist", peer_name)));
	tl_restore_user(&save);
	tl_json_init(&j);
	tl_json_text(&j, "peer", peer_name);
	tl_json_text(&j, "peer_role", role);
	tl_ledger_config("set_peer_role", NULL, tl_json_finish(&j));
}
