#!/usr/bin/env bash
# The README's quick start as a new user meets it: the demo run from a clone that the server user
# cannot read, in a path with a space, then `demo.sh stop`; and, where Debian still offers a
# PostgreSQL 15 minor older than 15.19 (no output_plugin_libraries), the same on that minor.
# Prints TAP-style "ok N - ..." / "not ok N - ..." lines (scripts/test.sh counts them).
#   test/quickstart.sh [--full]     --full: the whole demo (default: set-up, node1's part and
#                                   replication among the three nodes, which is what can break)
# Run as root or as a user with sudo; it takes the ports 55460-55462.
source "$(dirname "$0")/../scripts/common.sh"

n=0
failures=0
check() {	# check <description> <command...>
	local desc=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; failures=$((failures + 1)); fi
}

PART=${TL_QUICKSTART_PART:-replication}
[ "${1:-}" = --full ] && PART=all
PORT=${TL_QUICKSTART_PORT:-55460}	# TL_QUICKSTART_PORT, _DIR: run beside another copy of this test
TOP=$(as_root mktemp -d "/var/tmp/tieredlog quickstart.XXXXXX")
CLONE="$TOP/my clone/tieredlog"
DEMO_DIR=${TL_QUICKSTART_DIR:-/var/tmp/tieredlog-quickstart}-demo
LOG=${TL_QUICKSTART_DIR:-/var/tmp/tieredlog-quickstart}.log

cleanup() {
	TL_DEMO_DIR=$DEMO_DIR TL_DEMO_PORT=$PORT "$CLONE/scripts/demo.sh" stop >/dev/null 2>&1 || true
	as_root rm -rf "$TOP"
}
trap cleanup EXIT

# A copy of this tree (what is committed and what is not, as a new clone of it would hold) in a
# directory only root can enter, as /root is.
as_root mkdir -p "$CLONE"
as_root chmod 700 "$TOP"
(cd "$TL_ROOT" && git ls-files -z --cached --others --exclude-standard | as_root xargs -0 cp -P --parents -t "$CLONE")
check "the server user cannot read the clone" bash -c '! runuser -u "$0" -- test -r "$1"' "$TL_RUN_USER" "$CLONE/scripts/demo.sql"

# run_demo <tag> [env...]: the demo from the clone; its output goes to $LOG.<tag>
run_demo() {
	local tag=$1
	shift
	as_root env "$@" TL_DEMO_DIR="$DEMO_DIR" TL_DEMO_PORT="$PORT" TL_DEMO_PART="$PART" \
		"$CLONE/scripts/demo.sh" >"$LOG.$tag" 2>&1
}

node1_sql() {
	as_pg psql -X -At -h "$DEMO_DIR/node1" -p "$PORT" -U postgres -d postgres -c "$1"
}
server_is() { [[ "$(node1_sql 'SHOW server_version')" == "$1"* ]]; }
node1_has_chat() { [ "$(node1_sql "SELECT count(*) FROM tieredlog.read('chat')")" = 300 ]; }
demo_stops() {
	TL_DEMO_DIR="$DEMO_DIR" TL_DEMO_PORT="$PORT" "$CLONE/scripts/demo.sh" stop >/dev/null &&
		[ ! -e "$DEMO_DIR" ] && ! pgrep -f -- "-D $DEMO_DIR/" >/dev/null
}

demo_checks() {	# demo_checks <tag> <label> <expected server version> [env for the demo...]
	local tag=$1 label=$2 version=$3
	shift 3
	check "$label: the demo ran from the unreadable clone (rc 0; output in $LOG.$tag)" run_demo "$tag" "$@"
	check "$label: it ran scripts/demo.sql on node1 (its queries printed rows)" grep -q 'backfilled' "$LOG.$tag"
	check "$label: every node holds the 300 replicated records" grep -q 'every node holds the same 300 records' "$LOG.$tag"
	check "$label: the server is PostgreSQL $version" server_is "$version"
	check "$label: the nodes keep running, and psql reaches node1 as the README says" node1_has_chat
	check "$label: demo.sh stop stops the nodes and removes their data" demo_stops
}

installed=$(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR" 2>/dev/null || true)
demo_checks installed "installed PostgreSQL $installed" "${installed%%-*}"

# The oldest PostgreSQL 15 minor Debian's archive offers, if it is older than 15.19.
old=$(apt-cache madison "postgresql-$PG_MAJOR" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -V | head -1)
if [ -n "$old" ] && dpkg --compare-versions "$old" lt "$PG_MAJOR.19"; then
	OLD_ROOT=/var/tmp/tieredlog-pg-$old
	# the server, and the same minor's pg_config, PGXS and headers to build tieredlog with (libpq's
	# headers, which are not versioned by minor, come from the installed libpq-dev)
	if [ ! -x "$OLD_ROOT/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" ]; then
		as_root rm -rf "$OLD_ROOT" && as_root mkdir -p "$OLD_ROOT/debs"
		(cd "$OLD_ROOT/debs" && as_root apt-get download -q "postgresql-$PG_MAJOR=$old" \
			"postgresql-client-$PG_MAJOR=$old" "postgresql-server-dev-$PG_MAJOR=$old" >/dev/null 2>&1 &&
			for deb in *.deb; do as_root dpkg -x "$deb" "$OLD_ROOT" || exit 1; done &&
			as_root cp -n /usr/include/postgresql/*.h "$OLD_ROOT/usr/include/postgresql/") || true
	fi
	if [ -x "$OLD_ROOT/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" ]; then
		check "PostgreSQL $old has no output_plugin_libraries" \
			bash -c '! "$1/usr/lib/postgresql/15/bin/postgres" --describe-config | cut -f1 | grep -qx output_plugin_libraries' _ "$OLD_ROOT"
		demo_checks older-minor "PostgreSQL $old" "${old%%-*}" TL_PG_ROOT="$OLD_ROOT"
	else
		echo "# could not download postgresql-$PG_MAJOR $old: the older-minor run is skipped"
	fi
else
	echo "# Debian offers no PostgreSQL $PG_MAJOR minor older than 15.19 here: the older-minor run is skipped"
fi

echo "1..$n"
[ "$failures" -eq 0 ]
