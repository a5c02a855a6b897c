#!/usr/bin/env bash
# Install what is needed, build and install tieredlog, then run the whole test suite as an
# unprivileged user: pg_regress (test/sql, expected/) against a temporary server, then the TAP
# tests (test/t/*.pl), then the quick start as a new user meets it (test/quickstart.sh: the demo
# from a clone the server user cannot read, on the installed PostgreSQL and on an older 15 minor).
# Ends with "N passed, N failed"; exits non-zero when anything failed.
#   scripts/test.sh                 everything
#   scripts/test.sh regress         pg_regress only
#   scripts/test.sh tap [FILE...]   TAP only (optionally some files, e.g. test/t/001_basics.pl)
#   scripts/test.sh quickstart      the quick start only
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
fresh_dir "$WORK"
as_root cp -r "$TL_ROOT/test/sql" "$TL_ROOT/expected" "$TL_ROOT/test/t" "$TL_ROOT/test/regress.conf" "$WORK/"
tieredlog_conf | grep '^output_plugin_libraries' | as_root tee -a "$WORK/regress.conf" >/dev/null || true
as_root chown -R "$TL_RUN_USER" "$WORK"

run_regress() {
	local tests out rc notok
	tests=$(make -s -C "$TL_ROOT" PG_CONFIG="$PG_CONFIG" regress-list)
	say "pg_regress: $tests"
	set +e
	out=$(cd "$WORK" && as_pg "$PGXS_DIR/src/test/regress/pg_regress" \
		--temp-instance="$WORK/regress-instance" --temp-config="$WORK/regress.conf" \
		--bindir="$PG_BIN" --inputdir="$WORK" --outputdir="$WORK/regress" \
		--port="${TL_REGRESS_PORT:-57530}" --dbname=contrib_regression $tests 2>&1)
	rc=$?
	set -e
	printf '%s\n' "$out"
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

# Each TAP assertion counts once; a script that dies without a failed assertion counts as one failure.
run_tap() {
	local files=("$@") f out rc
	[ ${#files[@]} -gt 0 ] || files=($(cd "$WORK" && ls t/*.pl))
	as_pg mkdir -p "$WORK/tap/tmp_check/log"
	for f in "${files[@]}"; do
		f=t/$(basename "$f")
		say "TAP: $f"
		set +e
		out=$(cd "$WORK" && as_pg env TESTDIR="$WORK/tap" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
			PERL5LIB="$PGXS_DIR/src/test/perl:$WORK/t" PG_TEST_TIMEOUT_DEFAULT=120 \
			prove -v "$f" 2>&1)
		rc=$?
		set -e
		printf '%s\n' "$out" | grep -vE '^\s*#\s*$' | tail -n 60
		count_tap "$out" "$rc" "$f" "; server logs in $WORK/tap/tmp_check/log"
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
	all) run_regress; run_tap; run_quickstart ;;
	regress) run_regress ;;
	tap) run_tap "$@" ;;
	quickstart) run_quickstart ;;
	*) echo "usage: $0 [all|regress|tap [FILE...]|quickstart]" >&2; exit 2 ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
