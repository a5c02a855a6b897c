# Shared by scripts/*.sh: dependencies, build, the unprivileged server user. Source it, don't run it.
# Everything here is safe to repeat.

set -euo pipefail

TL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=$PG_BIN/pg_config
PGXS_DIR=/usr/lib/postgresql/$PG_MAJOR/lib/pgxs
# PostgreSQL refuses to run as root: servers run as this user (created by the postgresql package).
TL_RUN_USER=${TL_RUN_USER:-postgres}
TL_PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libpq-dev libzstd-dev libxxhash-dev libipc-run-perl zstd"

say() { printf '==> %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install the Debian packages that are missing (nothing when all are there).
install_deps() {
	local missing=()
	for p in $TL_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing ${missing[*]}"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	id "$TL_RUN_USER" >/dev/null 2>&1 || as_root useradd --system --create-home "$TL_RUN_USER"
}

build_install() {
	say "building and installing tieredlog"
	make -s -C "$TL_ROOT" PG_CONFIG="$PG_CONFIG" >/dev/null
	as_root make -s -C "$TL_ROOT" PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# Run a command as the server user, with PostgreSQL's binaries first on PATH.
as_pg() {
	local cmd
	printf -v cmd '%q ' "$@"
	if [ "$(id -un)" = "$TL_RUN_USER" ]; then
		env PATH="$PG_BIN:$PATH" bash -c "$cmd"
	else
		as_root runuser -u "$TL_RUN_USER" -- env PATH="$PG_BIN:$PATH" bash -c "$cmd"
	fi
}

# A fresh directory owned by the server user.
fresh_dir() {
	as_root rm -rf "$1"
	as_root mkdir -p "$1"
	as_root chown "$TL_RUN_USER" "$1"
}

# The postgresql.conf lines tieredlog needs (also in the README).
tieredlog_conf() {
	cat <<CONF
shared_preload_libraries = 'tieredlog'
wal_level = logical
output_plugin_libraries = 'pgoutput, test_decoding, tieredlog'
CONF
}

# Create and start a server: start_node <dir> <port> <node_name> [extra postgresql.conf line...]
start_node() {
	local dir=$1 port=$2 name=$3
	shift 3
	as_pg initdb -D "$dir/data" -A trust -U postgres --no-instructions >/dev/null
	{
		tieredlog_conf
		echo "tieredlog.node_name = '$name'"
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir'"
		local line
		for line in "$@"; do echo "$line"; done
	} | as_root tee -a "$dir/data/postgresql.conf" >/dev/null
	as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}

stop_node() {
	local dir=$1
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg pg_ctl -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
}
