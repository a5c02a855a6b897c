#!/usr/bin/env bash
# Install what is needed, build and install tieredlog, then run the whole test suite as an
# unprivileged user: pg_regress (test/sql, expected/) against a temporary server, then the TAP
# tests (test/t/*.pl), then the quick start as a new user meets it (test/quickstart.sh: the demo
# from a clone the server user cannot read, on the installed PostgreSQL and on an older 15 minor).
# Ends with "N passed, N failed"; exits non-zero when anything failed.
#   scripts/test.sh                 everything
#   scripts/test.sh checks          source checks only (the layering rule)
#   scripts/test.sh regress         pg_regress only
#   scripts/test.sh tap [FILE...]   TAP only (optionally some files, e.g. test/t/001_basics.pl)
#   scripts/test.sh quickstart      the quick start only
# `all` ends with pg_regress a second time under AddressSanitizer (run_asan_regress).
# TL_ASAN=1 (with TL_PG_ROOT, a separate install): the chosen suites under AddressSanitizer, every
# ASan report counted as a failure, e.g.
#   TL_ASAN=1 TL_PG_ROOT=/opt/pg-h1 scripts/test.sh tap test/t/001_basics.pl
export TL_WERROR=${TL_WERROR:-1}	# the test command builds with warnings as errors (common.sh)
source "$(dirname "$0")/common.sh"

WORK=${TL_TEST_DIR:-/var/tmp/tieredlog-test}	# TL_TEST_DIR (and TL_REGRESS_PORT, TL_PG_ROOT): run several suites side by side
what=${1:-all}
shift || true
passed=0
failed=0

if [ "${TL_SKIP_BUILD:-0}" != 1 ]; then	# TL_SKIP_BUILD=1: test what is installed
	install_deps
	build_install
fi
! mountpoint -q "$WORK/smallfs/mnt" || as_root umount -l "$WORK/smallfs/mnt"	# left by an interrupted run
fresh_dir "$WORK"
as_root cp -r "$TL_ROOT/test/sql" "$TL_ROOT/expected" "$TL_ROOT/test/t" "$TL_ROOT/test/regress.conf" "$TL_ROOT/monitoring" "$TL_ROOT/META.json" "$TL_ROOT/tieredlog.control" "$TL_ROOT/README.md" "$WORK/"
tieredlog_conf | grep '^output_plugin_libraries' | as_root tee -a "$WORK/regress.conf" >/dev/null || true
as_root chown -R "$TL_RUN_USER" "$WORK"
if [ "$TL_ASAN" = 1 ]; then
	as_pg mkdir "$WORK/asan"
	asan_env "$WORK/asan"
fi

run_regress() {
	local tests out rc notok
	tests=$(make -s -C "$TL_ROOT" PG_CONFIG="$PG_CONFIG" regress-list)
	say "pg_regress: $tests"
	set +e
	out=$(cd "$WORK" && as_pg "$PGXS_DIR/src/test/regress/pg_regress" \
		--temp-instance="$WORK/regress-instance" --temp-config="$WORK/regress.conf" \
		--bindir= --inputdir="$WORK" --outputdir="$WORK/regress" \
		--port="${TL_REGRESS_PORT:-57530}" --dbname=contrib_regression $tests 2>&1)
	rc=$?
	set -e
	printf '%s\n' "$out"
	count_asan pg_regress
	notok=$(printf '%s\n' "$out" | grep -cE '\.\.\. +FAILED|failed \(ignored\)' || true)
	passed=$((passed + $(printf '%s\n' "$out" | grep -cE '\.\.\. +ok' || true)))
	failed=$((failed + notok))
	if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then	# it could not run its tests (no server, say)
		failed=$((failed + 1))
		say "pg_regress exited with status $rc; its server log is in $WORK/regress/log"
	fi
	if [ -s "$WORK/regress/regression.diffs" ]; then
		say "differences (from $WORK/regress/regression.diffs):"
		head -100 "$WORK/regress/regression.diffs"
	fi
}

# A small file system for TAP 025 to fill (a tablespace's disk full during a move): a 32 MB ext4
# image on a loop device, mounted as root and given to the test user; its path goes to the test as
# TL_SMALL_FS. Where loop devices cannot be mounted it stays unset and the test says it skips that part.
SMALL_FS=
small_fs_up() {
	local dir="$WORK/smallfs"
	as_root mkdir -p "$dir/mnt"
	mountpoint -q "$dir/mnt" && as_root umount "$dir/mnt"
	as_root rm -f "$dir/img"
	if as_root truncate -s 32M "$dir/img" && as_root mkfs.ext4 -q -m 0 "$dir/img" &&
		as_root mount -o loop "$dir/img" "$dir/mnt" 2>/dev/null; then
		as_root chown "$TL_RUN_USER" "$dir/mnt"
		SMALL_FS="$dir/mnt"
	else
		say "no loop-mounted file system here: TAP 025 skips the disk-full part"
	fi
}
small_fs_down() {
	[ -n "$SMALL_FS" ] || return 0
	as_root umount "$SMALL_FS" || as_root umount -l "$SMALL_FS"
	as_root rm -f "$WORK/smallfs/img"
	SMALL_FS=
}

# Each TAP assertion counts once; a script that dies without a failed assertion counts as one failure.
run_tap() {
	local files=("$@") f out rc
	[ ${#files[@]} -gt 0 ] || files=($(cd "$WORK" && ls t/*.pl))
	as_pg mkdir -p "$WORK/tap/tmp_check/log"
	for f in "${files[@]}"; do
		f=t/$(basename "$f")
		say "TAP: $f"
		[ "$f" != t/025_limits.pl ] || small_fs_up
		set +e
		out=$(cd "$WORK" && as_pg env TESTDIR="$WORK/tap" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
			PERL5LIB="$PGXS_DIR/src/test/perl:$WORK/t" PG_TEST_TIMEOUT_DEFAULT=120 TL_SMALL_FS="$SMALL_FS" \
			prove -v "$f" 2>&1)
		rc=$?
		set -e
		small_fs_down
		printf '%s\n' "$out" | grep -vE '^\s*#\s*$' | tail -n 60
		count_tap "$out" "$rc" "$f" "; server logs in $WORK/tap/tmp_check/log"
		count_asan "$f"
	done
}

# count_tap <output> <exit status> <name> [where to look]: add its "ok N" / "not ok N" lines to
# the totals; a script that failed without a failed assertion counts as one failure.
count_tap() {
	local ok notok
	ok=$(printf '%s\n' "$1" | grep -cE '^ok [0-9]+' || true)
	notok=$(printf '%s\n' "$1" | grep -cE '^not ok [0-9]+' || true)
	passed=$((passed + ok))
	failed=$((failed + notok))
	if [ "$2" -ne 0 ] && [ "$notok" -eq 0 ]; then
		failed=$((failed + 1))
		say "$3 exited with status $2${4:-}"
	fi
}

# With TL_ASAN=1: count_asan <suite>. Each file the suite left in $WORK/asan is one process's
# ASan report and counts as a failure; they move to $WORK/asan/<suite>, and the first is shown.
count_asan() {
	[ "$TL_ASAN" = 1 ] || return 0
	local dir="$WORK/asan/${1//\//_}" reports
	reports=$(find "$WORK/asan" -maxdepth 1 -type f -name 'asan.*' | sort)
	if [ -z "$reports" ]; then
		say "$1: no AddressSanitizer reports"
		return 0
	fi
	failed=$((failed + $(wc -l <<<"$reports")))
	as_root mkdir -p "$dir"
	as_root mv $reports "$dir/"
	say "$1: $(wc -l <<<"$reports") AddressSanitizer report(s) in $dir; the first:"
	head -80 "$dir/$(basename "$(head -1 <<<"$reports")")"
}

# pg_regress again, under AddressSanitizer: this script with TL_ASAN=1 on a private copy of the
# server (the ASan build must not replace the module of the server under test), its own folder
# and port; its "N passed, N failed" is added to the totals.
run_asan_regress() {
	local root=/var/tmp/tieredlog-asan-pg src=$TL_PG_ROOT out rc counts
	[ "$TL_ASAN" != 1 ] || return 0	# the first run already was
	if ! cmp -s "$src/usr/lib/postgresql/$PG_MAJOR/bin/postgres" "$root/usr/lib/postgresql/$PG_MAJOR/bin/postgres"; then
		say "copying the server to $root for the ASan run"
		as_root rm -rf "$root"
		as_root mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql"
		as_root cp -a "$src/usr/lib/postgresql/$PG_MAJOR" "$root/usr/lib/postgresql/"
		as_root cp -a "$src/usr/share/postgresql/$PG_MAJOR" "$root/usr/share/postgresql/"
		if [ -z "$src" ]; then	# built with the installed pg_config, installed with DESTDIR
			as_root rm -f "$root/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
		elif [ -d "$src/usr/include/postgresql" ]; then	# its own pg_config's headers
			as_root mkdir -p "$root/usr/include"
			as_root cp -a "$src/usr/include/postgresql" "$root/usr/include/"
		fi
	fi
	say "pg_regress under AddressSanitizer"
	set +e
	out=$(TL_ASAN=1 TL_SKIP_BUILD=0 TL_PG_ROOT="$root" TL_TEST_DIR="$WORK-asan" \
		TL_REGRESS_PORT=$((${TL_REGRESS_PORT:-57530} + 1)) "$0" regress 2>&1)
	rc=$?
	set -e
	printf '%s\n' "$out"
	counts=$(printf '%s\n' "$out" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' | tail -1)
	if [ -z "$counts" ]; then
		failed=$((failed + 1))
		say "the ASan run ended with status $rc and no counts"
		return 0
	fi
	passed=$((passed + ${counts% *}))
	failed=$((failed + ${counts#* }))
}

# Source checks: the layering rule (scripts/check_layers.sh), one test.
run_checks() {
	say "layering: scripts/check_layers.sh"
	if "$TL_ROOT/scripts/check_layers.sh"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
}

# TAP-style lines from test/quickstart.sh, counted like the TAP tests.
run_quickstart() {
	local out rc
	say "quick start: test/quickstart.sh"
	set +e
	out=$("$TL_ROOT/test/quickstart.sh" 2>&1)
	rc=$?
	set -e
	printf '%s\n' "$out"
	count_tap "$out" "$rc" test/quickstart.sh
}

case "$what" in
	all) run_checks; run_regress; run_tap; run_quickstart; run_asan_regress ;;
	checks) run_checks ;;
	regress) run_regress ;;
	tap) run_tap "$@" ;;
	quickstart) run_quickstart ;;
	*) echo "usage: $0 [all|checks|regress|tap [FILE...]|quickstart]" >&2; exit 2 ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
