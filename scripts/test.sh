#!/usr/bin/env bash
# Install what is needed, build and install tieredlog, then run the whole test suite as an
# unprivileged user: pg_regress (test/sql, expected/) against a temporary server, then the TAP
# tests (test/t/*.pl). Ends with "N passed, N failed"; exits non-zero when anything failed.
#   scripts/test.sh                 everything
#   scripts/test.sh regress         pg_regress only
#   scripts/test.sh tap [FILE...]   TAP only (optionally some files, e.g. test/t/001_basics.pl)
source "$(dirname "$0")/common.sh"

WORK=${TL_TEST_DIR:-/var/tmp/tieredlog-test}	# TL_TEST_DIR: run several suites side by side
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
as_root chown -R "$TL_RUN_USER" "$WORK"

run_regress() {
	local tests out
	tests=$(make -s -C "$TL_ROOT" PG_CONFIG="$PG_CONFIG" regress-list)
	say "pg_regress: $tests"
	set +e
	out=$(cd "$WORK" && as_pg "$PGXS_DIR/src/test/regress/pg_regress" \
		--temp-instance="$WORK/regress-instance" --temp-config="$WORK/regress.conf" \
		--bindir="$PG_BIN" --inputdir="$WORK" --outputdir="$WORK/regress" \
		--port=57530 --dbname=contrib_regression $tests 2>&1)
	set -e
	printf '%s\n' "$out"
	passed=$((passed + $(printf '%s\n' "$out" | grep -cE '\.\.\. +ok' || true)))
	failed=$((failed + $(printf '%s\n' "$out" | grep -cE '\.\.\. +FAILED|failed \(ignored\)' || true)))
	if [ -s "$WORK/regress/regression.diffs" ]; then
		say "differences (from $WORK/regress/regression.diffs):"
		head -100 "$WORK/regress/regression.diffs"
	fi
}

# Each TAP assertion counts once; a script that dies without a failed assertion counts as one failure.
run_tap() {
	local files=("$@") f out rc ok notok
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
		ok=$(printf '%s\n' "$out" | grep -cE '^ok [0-9]+' || true)
		notok=$(printf '%s\n' "$out" | grep -cE '^not ok [0-9]+' || true)
		passed=$((passed + ok))
		failed=$((failed + notok))
		if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
			failed=$((failed + 1))
			say "$f exited with status $rc; server logs in $WORK/tap/tmp_check/log"
		fi
	done
}

case "$what" in
	all) run_regress; run_tap ;;
	regress) run_regress ;;
	tap) run_tap "$@" ;;
	*) echo "usage: $0 [all|regress|tap [FILE...]]" >&2; exit 2 ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
