# Shared by scripts/*.sh: dependencies, build, the unprivileged server user. Source it, don't run it.
# Everything here is safe to repeat.

set -euo pipefail

TL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=15
# TL_PG_ROOT: run the servers from a PostgreSQL unpacked elsewhere (dpkg -x of another minor's
# postgresql-15 package into that folder) and install tieredlog only there. If that folder also
# holds the same minor's postgresql-client-15 and postgresql-server-dev-15, tieredlog is built
# with its pg_config and headers (a module built with a newer minor's headers may need symbols an
# older minor lacks); otherwise with the installed ones. Empty: the installed server.
TL_PG_ROOT=${TL_PG_ROOT:-}
PG_BIN=$TL_PG_ROOT/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
TL_DESTDIR=$TL_PG_ROOT	# what `make install` puts in front of pg_config's paths
if [ -n "$TL_PG_ROOT" ] && [ -x "$PG_BIN/pg_config" ]; then
	PG_CONFIG=$PG_BIN/pg_config	# relocatable: its paths already lie inside TL_PG_ROOT
	TL_DESTDIR=
fi
PGXS_DIR=/usr/lib/postgresql/$PG_MAJOR/lib/pgxs
# The installed client (psql): found on PATH after PG_BIN, for a TL_PG_ROOT that holds only the server.
PG_CLIENT_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
# TL_ASAN=1: tieredlog built with AddressSanitizer, and every program as_pg runs (so every server)
# started with the ASan runtime preloaded (asan_env). A module built so loads only into a process
# that has the runtime: it is installed only into a separate tree, so TL_PG_ROOT must be set.
TL_ASAN=${TL_ASAN:-0}
TL_COPT=	# extra compiler and linker flags (PGXS's COPT)
if [ "$TL_ASAN" = 1 ]; then
	TL_COPT="-fsanitize=address -fno-omit-frame-pointer -g"
	if [ -z "$TL_PG_ROOT" ]; then
		echo "TL_ASAN=1 needs TL_PG_ROOT: the ASan build must not replace the installed server's tieredlog" >&2
		exit 2
	fi
fi
# TL_WERROR=1 (the test command's default): warnings are errors, -Wall -Wextra without the two
# warnings PostgreSQL's own idioms raise (unused PG_FUNCTION_ARGS, partly initialised structs).
if [ "${TL_WERROR:-0}" = 1 ]; then
	TL_COPT="${TL_COPT:+$TL_COPT }-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror"
fi
TL_PG_ENV=()	# VAR=value that as_pg puts in its command's environment (asan_env fills it)
# PostgreSQL refuses to run as root: servers run as this user (created by the postgresql package).
TL_RUN_USER=${TL_RUN_USER:-postgres}
TL_PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libpq-dev libzstd-dev libxxhash-dev libssl-dev libipc-run-perl zstd sqlsmith prometheus-postgres-exporter"

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
		case " ${missing[*]} " in *" prometheus-postgres-exporter "*) exporter_service_off ;; esac
	fi
	id "$TL_RUN_USER" >/dev/null 2>&1 || as_root useradd --system --create-home "$TL_RUN_USER"
}

# The exporter package starts its own daemon on :9187 (every interface) where the service manager
# lets it; TAP 026 runs its own on loopback only. Stop and disable the package's daemon.
exporter_service_off() {
	if [ -d /run/systemd/system ]; then
		as_root systemctl disable --now prometheus-postgres-exporter.service >/dev/null 2>&1 || true
	elif [ -x /etc/init.d/prometheus-postgres-exporter ]; then
		as_root /etc/init.d/prometheus-postgres-exporter stop >/dev/null 2>&1 || true
		as_root update-rc.d prometheus-postgres-exporter disable >/dev/null 2>&1 || true
	fi
}

# Build (from scratch when the last build used other headers or flags) and install. With
# TL_PG_ROOT, only into that tree: the installed server keeps what it had.
build_install() {
	local stamp="$TL_ROOT/.built-with" headers
	headers="$("$PG_CONFIG" --version) $("$PG_CONFIG" --includedir-server)${TL_COPT:+ $TL_COPT}"
	say "building and installing tieredlog ($headers)"
	if [ "$(cat "$stamp" 2>/dev/null)" != "$headers" ]; then
		make -s -C "$TL_ROOT" PG_CONFIG="$PG_CONFIG" clean >/dev/null
	fi
	make -s -C "$TL_ROOT" PG_CONFIG="$PG_CONFIG" COPT="$TL_COPT" >/dev/null
	echo "$headers" >"$stamp"
	as_root make -s -C "$TL_ROOT" PG_CONFIG="$PG_CONFIG" COPT="$TL_COPT" ${TL_DESTDIR:+DESTDIR="$TL_DESTDIR"} install >/dev/null
}

# With TL_ASAN=1, what as_pg adds to the environment: asan_env <report dir>. The runtime is
# preloaded into every program as_pg starts (PostgreSQL is not built with ASan, and the runtime
# must be the first library loaded); each process that finds an error writes one file <report
# dir>/asan.<pid> and aborts, so a backend's error is a crash the postmaster recovers from.
# No leak detection: PostgreSQL frees memory contexts, and at exit, nothing, by design.
# A preloaded runtime starts at the first malloc, which in PostgreSQL's programs comes from
# libp11-kit's constructor inside newlocale(), under glibc's locale lock; there the runtime looks
# up swift_demangle, and the dlerror() after the failed lookup takes the same lock, which leaves
# it broken and hangs the process later (bindtextdomain, freelocale). A stub swift_demangle
# (returning NULL: "not a Swift name") in a second preloaded library makes the lookup succeed.
asan_env() {
	[ "$TL_ASAN" = 1 ] || return 0
	local lib stub="$1/swift_demangle_stub.so"
	lib=$(readlink -f "$(gcc -print-file-name=libasan.so)")
	[ -f "$lib" ] || { echo "no ASan runtime ($lib): install gcc's libasan" >&2; exit 2; }
	printf '%s\n' '#include <stddef.h>' \
		'char *swift_demangle(const char *, size_t, char *, size_t *, unsigned);' \
		'char *swift_demangle(const char *n, size_t l, char *o, size_t *ol, unsigned f) { return NULL; }' |
		as_root gcc -shared -fPIC -O2 -Wall -x c -o "$stub" -
	TL_PG_ENV=(LD_PRELOAD="$lib $stub"
		ASAN_OPTIONS="log_path=$1/asan:detect_leaks=0:abort_on_error=1:disable_coredump=1:detect_stack_use_after_return=0")
}

# Where the servers load tieredlog.so from (after install_deps).
tl_so_path() {
	echo "$TL_DESTDIR$("$PG_CONFIG" --pkglibdir)/tieredlog.so"
}

# Run a command as the server user, with PostgreSQL's binaries first on PATH (then the installed
# client's) and TL_PG_ENV in its environment. The server user may
# not be able to read the clone (a clone in /root, say): it runs in the caller's directory only if
# it can enter it, otherwise in /, and it is never handed a path inside the clone. Give it files
# on standard input instead (psql -f - <file).
as_pg() {
	local cmd
	printf -v cmd '%q ' "$@"
	cmd="cd -- \"\$PWD\" 2>/dev/null || cd /; $cmd"	# entering the path fails where a parent is closed
	if [ "$(id -un)" = "$TL_RUN_USER" ]; then
		env "${TL_PG_ENV[@]}" PATH="$PG_BIN:$PG_CLIENT_BIN:$PATH" bash -c "$cmd"
	else
		as_root runuser -u "$TL_RUN_USER" -- env "${TL_PG_ENV[@]}" PATH="$PG_BIN:$PG_CLIENT_BIN:$PATH" bash -c "$cmd"
	fi
}

# A fresh directory owned by the server user.
fresh_dir() {
	as_root rm -rf "$1"
	as_root mkdir -p "$1"
	as_root chown "$TL_RUN_USER" "$1"
}

# Whether the installed server knows a setting: server_has_setting <name>. Asks the server binary
# itself (postgres --describe-config, which root may run and which needs no data directory).
server_has_setting() {
	local settings
	settings=$("$PG_BIN/postgres" --describe-config | cut -f1) || return 2
	grep -qxF "$1" <<<"$settings"
}

# The postgresql.conf lines tieredlog needs (also in the README). output_plugin_libraries exists
# only from 15.19 (16.15, 17.11, 18.6): older minors refuse to start with it, and do not need it.
tieredlog_conf() {
	cat <<CONF
shared_preload_libraries = 'tieredlog'
wal_level = logical
CONF
	if server_has_setting output_plugin_libraries; then
		echo "output_plugin_libraries = 'pgoutput, test_decoding, tieredlog'"
	fi
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

# Benchmarks that measure a server with its shared memory in huge pages (bench/ledger, bench/append):
# restart the running server of <node dir> (whose port is <port>) with huge_pages = <mode> (off,
# on), reserving for "on" the 2 MB pages it needs (its shared_memory_size_in_huge_pages) on top of
# what vm.nr_hugepages held before the first call; release_huge_pages puts that back (call it after
# the server stopped). Fails (1), with the server left as it was, when the pages cannot be reserved.
TL_HUGEPAGES_ORIG=""
restart_with_huge_pages() {
	local dir=$1 port=$2 mode=$3 need free
	local psql=(as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres)
	if [ "$mode" = on ]; then
		need=$("${psql[@]}" -Atc 'SHOW shared_memory_size_in_huge_pages') || return 1
		[ -n "$TL_HUGEPAGES_ORIG" ] || TL_HUGEPAGES_ORIG=$(cat /proc/sys/vm/nr_hugepages)
		as_root sysctl -q -w vm.nr_hugepages=$(( TL_HUGEPAGES_ORIG + need + 8 )) || return 1
		free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
		if [ "$free" -lt "$need" ]; then
			say "only $free huge pages could be reserved of the $need needed"
			release_huge_pages
			return 1
		fi
	fi
	"${psql[@]}" -c "ALTER SYSTEM SET huge_pages = '$mode'" >/dev/null || return 1
	if ! as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w -m fast restart >/dev/null; then
		"${psql[@]}" -c 'ALTER SYSTEM RESET huge_pages' >/dev/null 2>&1 ||
			as_root sed -i '/^huge_pages/d' "$dir/data/postgresql.auto.conf"
		as_pg pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null 2>&1 || true
		[ "$mode" != on ] || release_huge_pages
		return 1
	fi
}
release_huge_pages() {
	[ -z "$TL_HUGEPAGES_ORIG" ] || as_root sysctl -q -w vm.nr_hugepages="$TL_HUGEPAGES_ORIG" || true
}
