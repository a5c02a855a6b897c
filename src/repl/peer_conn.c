/*-------------------------------------------------------------------------
 * peer_conn.c
 *		Every connection tieredlog makes to a peer goes through here: add_peer, drop_peer, the
 *		apply worker's replication connection, slot recreation, reconciliation, compare_seals,
 *		votes, ledger witnesses and access statistics.
 *
 * The rule is postgres_fdw's and dblink's. A connection runs as this server's operating-system
 * user, so a peer added by a non-superuser (tieredlog.peer.owner) must authenticate with a
 * password that its conninfo gives, and the peer's server must really have asked for it
 * (PQconnectionUsedPassword). Its conninfo may not name files of this server (passfile, sslkey,
 * sslcert, sslrootcert, sslcrl, sslcrldir), a service, or a Unix-domain socket. A superuser's
 * peers are not limited. The rule is applied when the peer is added and again at every
 * connection, so a peer whose server later stops asking for the password is refused too.
 *
 * Connecting waits on the socket and the process latch (PQconnectStartParams/PQconnectPoll), so
 * a hung peer can be cancelled. Once connected, the remote session gets search_path =
 * pg_catalog, pg_temp and a fixed DateStyle, IntervalStyle and TimeZone: values travel as text.
 * Timestamps sent to a peer are written by tl_peer_timestamp(), whatever this session's DateStyle.
 *
 * Secrets are what libpq marks as such (dispchar '*': password, sslpassword) and the paths
 * passfile, sslkey and sslcert. tl_mask_conninfo() hides them in a conninfo, tl_peer_scrub() in
 * a message; errors about a conninfo never quote it.
 *
 * Locking: none. A short transaction is opened, when the caller has none, to look up the owner.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "repl/peer_conn.h"

#define TL_SECRET_MASK "********"

/* Options that make this server read its own files or service definitions: superusers only. */
static const char *const superuser_only_options[] = {
	"passfile", "sslkey", "sslcert", "sslrootcert", "sslcrl", "sslcrldir", "service", NULL
};

/* Paths that are masked besides the options libpq marks secret. */
static const char *const secret_path_options[] = {"passfile", "sslkey", "sslcert", NULL};

/*
 * The pinned remote session (postgres_fdw's configure_remote_session). lock_timeout breaks
 * deadlocks that span two nodes: two nodes reconciling the same segment with each other each
 * store the other's records in an open transaction, then push theirs to the other, whose
 * _ae_store waits for that transaction (the same (origin, seq) being inserted). The call that
 * times out fails that check, its transaction ends, and the next cycle checks again.
 */
static const char *const session_sql =
"SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false),"
" pg_catalog.set_config('datestyle', 'ISO', false),"
" pg_catalog.set_config('intervalstyle', 'postgres', false),"
" pg_catalog.set_config('timezone', 'UTC', false),"
" pg_catalog.set_config('lock_timeout', '10s', false)";

/* Why a connection was not made; reported as an ERROR or returned as one line. */
typedef struct ConnFailure
{
	int			code;
	bool		unreachable;	/* msg is libpq's: "could not connect to peer ..." goes first */
	char	   *msg;
	char	   *detail;
	char	   *hint;
} ConnFailure;

static void
set_failure(ConnFailure *f, int code, char *msg, char *detail, char *hint)
{
	f->code = code;
	f->unreachable = false;
	f->msg = msg;
	f->detail = detail;
	f->hint = hint;
}

static void
report_failure(const char *peer_name, const ConnFailure *f)
{
	ereport(ERROR,
			(errcode(f->code),
			 f->unreachable
			 ? errmsg("could not connect to peer \"%s\": %s", peer_name, f->msg)
			 : errmsg("%s", f->msg),
			 f->detail ? errdetail("%s", f->detail) : 0,
			 f->hint ? errhint("%s", f->hint) : 0));
}

static char *
failure_line(const char *peer_name, const ConnFailure *f)
{
	return psprintf("could not connect to peer \"%s\": %s%s%s%s", peer_name, f->msg,
					f->detail ? " (" : "", f->detail ? f->detail : "", f->detail ? ")" : "");
}

/* ---- conninfo ------------------------------------------------------------------------------- */

static bool
in_list(const char *const *list, const char *keyword)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, keyword) == 0)
			return true;
	return false;
}

static bool
option_is_secret(const PQconninfoOption *o)
{
	return (o->dispchar != NULL && o->dispchar[0] == '*') || in_list(secret_path_options, o->keyword);
}

static const char *
option_value(const PQconninfoOption *opts, const char *keyword)
{
	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return (o->val != NULL && o->val[0] != '\0') ? o->val : NULL;
	return NULL;
}

/* Parse a conninfo; NULL and a failure that does not quote it (libpq's message may). */
static PQconninfoOption *
parse_conninfo(const char *conninfo, ConnFailure *f)
{
	char	   *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

	if (err != NULL)
		PQfreemem(err);
	if (opts == NULL)
		set_failure(f, ERRCODE_INVALID_PARAMETER_VALUE, pstrdup("invalid conninfo for a peer"),
					pstrdup("It is neither key=value pairs nor a postgresql:// URI; libpq's message is not repeated because it may quote a password."),
					NULL);
	return opts;
}

/*
 * Whether libpq may reach the server through a Unix-domain socket: no host and no hostaddr, or a
 * host (of a comma-separated list) that is empty, a path or an abstract socket ('@'), with no
 * hostaddr in its place.
 */
static bool
uses_socket(const char *host, const char *hostaddr)
{
	const char *h = host ? host : "";
	const char *a = hostaddr ? hostaddr : "";

	for (;;)
	{
		size_t		hlen = strcspn(h, ",");
		size_t		alen = strcspn(a, ",");

		if (alen == 0 && (hlen == 0 || h[0] == '/' || h[0] == '@'))
			return true;
		if (h[hlen] == '\0' && a[alen] == '\0')
			return false;
		h += h[hlen] != '\0' ? hlen + 1 : hlen;
		a += a[alen] != '\0' ? alen + 1 : alen;
	}
}

/* For a non-superuser's peer: false and why, if its conninfo breaks the rule. */
static bool
conninfo_allowed(const PQconninfoOption *opts, ConnFailure *f)
{
	for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val != NULL && o->val[0] != '\0' && in_list(superuser_only_options, o->keyword))
		{
			set_failure(f, ERRCODE_INSUFFICIENT_PRIVILEGE,
						psprintf("only superusers may use the connection option \"%s\" for a peer", o->keyword),
						pstrdup("It makes this server read its own files or service definitions."),
						pstrdup("Give the password in the conninfo, or have a superuser add the peer (a superuser may keep the password in a passfile)."));
			return false;
		}
	}
	if (uses_socket(option_value(opts, "host"), option_value(opts, "hostaddr")))
	{
		set_failure(f, ERRCODE_INSUFFICIENT_PRIVILEGE,
					pstrdup("only superusers may connect to a peer through a Unix-domain socket"),
					pstrdup("A socket connection may be authenticated as this server's operating-system user."),
					pstrdup("Give host or hostaddr with a network address."));
		return false;
	}
	if (option_value(opts, "password") == NULL)
	{
		set_failure(f, ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED, pstrdup("password is required"),
					pstrdup("Non-superusers must provide a password in the conninfo."),
					pstrdup("Add password=... to the conninfo, or have a superuser add the peer."));
		return false;
	}
	return true;
}

/* superuser_arg() in a transaction of its own if the caller (the apply worker) has none. */
static bool
owner_is_superuser(Oid owner)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		in_xact = IsTransactionState();
	bool		result;

	if (!in_xact)
		StartTransactionCommand();
	result = superuser_arg(owner);
	if (!in_xact)
		CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return result;
}

/* add_peer's check: an ERROR if the role owner may not use this conninfo. */
void
tl_peer_check_conninfo(const char *conninfo, Oid owner)
{
	ConnFailure f;
	PQconninfoOption *opts = parse_conninfo(conninfo, &f);
	bool		ok = opts != NULL && (superuser_arg(owner) || conninfo_allowed(opts, &f));

	if (opts != NULL)
		PQconninfoFree(opts);
	if (!ok)
		report_failure(NULL, &f);
}

/* ---- connecting ----------------------------------------------------------------------------- */

/* PQconnectStartParams and poll until done or timeout_s, waiting on the latch too. */
static PGconn *
start_and_wait(const char *const *keys, const char *const *vals, int timeout_s)
{
	PGconn	   *conn = PQconnectStartParams(keys, vals, true);
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_s * 1000);
	PostgresPollingStatusType status = PGRES_POLLING_WRITING;

	if (conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	PG_TRY();
	{
		while (PQstatus(conn) != CONNECTION_BAD && status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED)
		{
			int			io = status == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
			long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
			int			rc;

			if (left <= 0)
				break;
			rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | io,
								   PQsocket(conn), left, PG_WAIT_EXTENSION);
			if (rc & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
			if (rc & io)
				status = PQconnectPoll(conn);
		}
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return conn;
}

/* The connection, checked against the rule and with its session pinned; NULL and why if not. */
static PGconn *
open_peer(const TlPeerAddr *peer, const char *const *keys, const char *const *vals, int timeout_s,
		  ConnFailure *f)
{
	PQconninfoOption *opts = parse_conninfo(peer->conninfo, f);
	bool		limited;
	PGconn	   *conn;
	PGresult   *res;

	if (opts == NULL)
		return NULL;
	limited = !owner_is_superuser(peer->owner);
	if (limited && !conninfo_allowed(opts, f))
	{
		PQconninfoFree(opts);
		return NULL;
	}
	PQconninfoFree(opts);

	conn = start_and_wait(keys, vals, timeout_s);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		set_failure(f, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
					tl_peer_scrub(peer->conninfo, PQstatus(conn) == CONNECTION_BAD
								  ? pchomp(PQerrorMessage(conn)) : "timeout expired"),
					NULL, NULL);
		f->unreachable = true;
		PQfinish(conn);
		return NULL;
	}
	if (limited && !PQconnectionUsedPassword(conn))
	{
		set_failure(f, ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED, pstrdup("password is required"),
					pstrdup("Non-superuser cannot connect if the server does not request a password."),
					psprintf("Peer \"%s\" was added by a non-superuser: its server must authenticate the conninfo's user with a password (md5 or scram-sha-256 in its pg_hba.conf), or a superuser must add the peer.",
							 peer->name));
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, session_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		set_failure(f, ERRCODE_CONNECTION_FAILURE,
					psprintf("could not set up the session on peer \"%s\": %s", peer->name,
							 tl_peer_scrub(peer->conninfo, pchomp(PQerrorMessage(conn)))),
					NULL, NULL);
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

/* An ordinary (not replication) connection to a peer; an ERROR if it cannot be made. */
PGconn *
tl_peer_connect(const TlPeerAddr *peer, const char *application_name)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {peer->conninfo, application_name, NULL};
	ConnFailure f;
	PGconn	   *conn = open_peer(peer, keys, vals, TL_PEER_CONNECT_TIMEOUT, &f);

	if (conn == NULL)
		report_failure(peer->name, &f);
	return conn;
}

/* The same, for callers that go on without the peer: NULL and a one-line reason in *error. */
PGconn *
tl_peer_try_connect(const TlPeerAddr *peer, const char *application_name, int timeout_s, char **error)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {peer->conninfo, application_name, NULL};
	ConnFailure f;
	PGconn	   *conn = open_peer(peer, keys, vals, timeout_s, &f);

	*error = conn ? NULL : failure_line(peer->name, &f);
	return conn;
}

/* A logical replication connection (the apply worker); NULL and a one-line reason in *error. */
PGconn *
tl_peer_connect_replication(const TlPeerAddr *peer, const char *application_name, char **error)
{
	/* after dbname, so that the conninfo cannot override them */
	const char *keys[] = {"dbname", "replication", "fallback_application_name", "keepalives",
	"keepalives_idle", "keepalives_interval", "keepalives_count", NULL};
	const char *vals[] = {peer->conninfo, "database", application_name, "1", "20", "20", "5", NULL};
	ConnFailure f;
	PGconn	   *conn = open_peer(peer, keys, vals, TL_PEER_CONNECT_TIMEOUT, &f);

	*error = conn ? NULL : failure_line(peer->name, &f);
	return conn;
}

/* A timestamp as a peer reads it: ISO 8601 in UTC, whatever this session's DateStyle and TimeZone. */
char *
tl_peer_timestamp(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		buf[MAXDATELEN + 1];

	if (TIMESTAMP_NOT_FINITE(ts))
		EncodeSpecialTimestamp(ts, buf);
	else if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) == 0)
		EncodeDateTime(&tm, fsec, true, 0, NULL, USE_ISO_DATES, buf);
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return pstrdup(buf);
}

/* ---- masking -------------------------------------------------------------------------------- */

/* The conninfo (key=value form) with every secret replaced by ********. */
char *
tl_mask_conninfo(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	StringInfoData out;

	if (opts == NULL)
		return pstrdup("(invalid conninfo)");
	initStringInfo(&out);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (out.len > 0)
			appendStringInfoChar(&out, ' ');
		appendStringInfo(&out, "%s=", o->keyword);
		if (option_is_secret(o))
		{
			appendStringInfoString(&out, TL_SECRET_MASK);
			continue;
		}
		appendStringInfoChar(&out, '\'');
		for (const char *c = o->val; *c; c++)
		{
			if (*c == '\'' || *c == '\\')
				appendStringInfoChar(&out, '\\');
			appendStringInfoChar(&out, *c);
		}
		appendStringInfoChar(&out, '\'');
	}
	PQconninfoFree(opts);
	return out.data;
}

/* text with every secret of conninfo in it replaced by ******** (for libpq's messages). */
char *
tl_peer_scrub(const char *conninfo, const char *text)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	char	   *out = pstrdup(text);

	if (opts == NULL)
		return out;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		StringInfoData buf;
		const char *from = out;
		const char *hit;

		if (o->val == NULL || o->val[0] == '\0' || !option_is_secret(o))
			continue;
		initStringInfo(&buf);
		while ((hit = strstr(from, o->val)) != NULL)
		{
			appendBinaryStringInfo(&buf, from, hit - from);
			appendStringInfoString(&buf, TL_SECRET_MASK);
			from = hit + strlen(o->val);
		}
		appendStringInfoString(&buf, from);
		out = buf.data;
	}
	PQconninfoFree(opts);
	return out;
}
