# bench/replication, case multiwriter: three nodes in a full mesh append to the same 100 keys at
# once; time to converge, conflict rows, the apply workers' memory (issue 17, item 3). Described in
# bench/replication's header. Sourced by bench/replication, after its common set-up: uses its
# BENCH_DIR, PORT_B, TIMEOUT, KEEP, OUT_DIR, SCRIPT_DIR, TL_SO, problem() and failed, and
# scripts/common.sh. The servers never read this clone: SQL reaches psql on standard input.

MW_RECORDS=${TL_BENCH_MW_RECORDS:-10000}
MW_KEYS=${TL_BENCH_MW_KEYS:-100}
MW_BATCH=${TL_BENCH_MW_BATCH:-100}
MW_LOG=hot
MW_CONV_TARGET=10	# seconds after the last append (for 3 × 10 000 records)
MW_CONFLICT_TARGET=1	# conflict rows per remote record
MW_RSS_EVERY=0.2	# seconds between samples of the apply workers' memory

[ "$MW_BATCH" -ge 1 ] && [ "$MW_KEYS" -ge 1 ] && [ "$MW_RECORDS" -ge "$MW_BATCH" ] &&
	[ $((MW_RECORDS % MW_BATCH)) -eq 0 ] ||
	{ echo "TL_BENCH_MW_RECORDS must be a positive multiple of TL_BENCH_MW_BATCH" >&2; exit 2; }

declare -A MW_DIR MW_PORT MW_PM
for i in 1 2 3; do
	MW_DIR[$i]=$BENCH_DIR/mw$i
	MW_PORT[$i]=$((PORT_B + i))
done
MW_TOTAL=$((3 * MW_RECORDS))
MW_REMOTE=$((2 * MW_RECORDS))	# records each node receives from its peers

mw_psql() {
	local i=$1
	shift
	as_pg psql -X -q -v ON_ERROR_STOP=1 -h "${MW_DIR[$i]}" -p "${MW_PORT[$i]}" -U postgres -d postgres "$@"
}
mw_val() { mw_psql "$1" -Atc "$2"; }
mw_conninfo() { echo "host=127.0.0.1 port=${MW_PORT[$1]} dbname=postgres user=postgres"; }

MW_SAMPLER=
mw_cleanup() {
	[ -z "$MW_SAMPLER" ] || kill "$MW_SAMPLER" 2>/dev/null || true
	MW_SAMPLER=
	if [ "$KEEP" = 1 ]; then
		for i in 1 2 3; do say "multiwriter: mw$i left running: psql -h ${MW_DIR[$i]} -p ${MW_PORT[$i]} -U postgres"; done
	else
		for i in 3 2 1; do stop_node "${MW_DIR[$i]}"; done
	fi
}

# Every MW_RSS_EVERY s, one line per apply worker of mw1..mw3 to <file>:
# "epoch node peer pid VmRSS_kB RssAnon_kB". The workers are found among the postmasters' children
# by their title (refreshed every second: a worker that fails is started again with a new pid).
mw_sample_rss() {
	local out=$1 n=0 i pid args vm an k v
	local -A who
	while :; do
		if [ $((n % 5)) -eq 0 ]; then
			who=()
			for i in 1 2 3; do
				while read -r pid args; do
					case $args in
					*"tieredlog apply worker for peer "*) args=${args##*for peer }; who[$pid]="mw$i ${args%% *}" ;;
					esac
				done < <(ps -o pid=,args= --ppid "${MW_PM[$i]}" 2>/dev/null || true)
			done
		fi
		for pid in "${!who[@]}"; do
			vm='' an=''
			{ while read -r k v _; do
				case $k in VmRSS:) vm=$v ;; RssAnon:) an=$v ;; esac
			done </proc/"$pid"/status; } 2>/dev/null || true
			[ -z "$vm" ] || echo "$EPOCHREALTIME ${who[$pid]} $pid $vm ${an:--}"
		done >>"$out"
		n=$((n + 1))
		sleep "$MW_RSS_EVERY"
	done
}

# ---- servers, mesh -------------------------------------------------------------------------------

MW_STARTED=$(date +%s)
MW_LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
trap mw_cleanup EXIT
for i in 1 2 3; do
	fresh_dir "${MW_DIR[$i]}"
	say "multiwriter: starting mw$i on port ${MW_PORT[$i]} (data in ${MW_DIR[$i]})"
	start_node "${MW_DIR[$i]}" "${MW_PORT[$i]}" "mw$i" \
		"wal_level = logical" \
		"tieredlog.naptime = 1" \
		"tieredlog.seal_grace = '10000d'" \
		"tieredlog.adaptive_tiering = off" \
		"max_worker_processes = 16" \
		"max_replication_slots = 10" \
		"max_wal_senders = 10" \
		${TL_BENCH_CONF:+"$TL_BENCH_CONF"}
	MW_PM[$i]=$(as_root head -1 "${MW_DIR[$i]}/data/postmaster.pid")
done
for i in 1 2 3; do
	mw_psql "$i" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION tieredlog' \
		-c "SELECT tieredlog.create_log('$MW_LOG', '1 hour')" >/dev/null
	mw_psql "$i" -f - <"$SCRIPT_DIR/multiwriter.sql" >/dev/null
done
mw_psql 1 -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION dblink' >/dev/null
say "multiwriter: full mesh (each node adds the other two as peers)"
for i in 1 2 3; do
	for j in 1 2 3; do
		[ "$i" = "$j" ] || mw_val "$i" "SELECT tieredlog.add_peer('mw$j', '$(mw_conninfo "$j")')" >/dev/null
	done
done
mw_streaming() { mw_val "$1" "SELECT count(*) FROM tieredlog.peers WHERE state = 'streaming'"; }
for _ in $(seq 1 600); do
	[ "$(mw_streaming 1)" = 2 ] && [ "$(mw_streaming 2)" = 2 ] && [ "$(mw_streaming 3)" = 2 ] && break
	sleep 0.1
done
for i in 1 2 3; do
	[ "$(mw_streaming "$i")" = 2 ] || {
		problem "multiwriter: mw$i does not stream from its two peers after 60 s: $(mw_val "$i" "SELECT string_agg(peer_name || ' ' || state || ' ' || COALESCE(last_error, ''), '; ') FROM tieredlog.peers")"
		exit 1
	}
done

# ---- the run -------------------------------------------------------------------------------------

MW_RSS_FILE=$OUT_DIR/multiwriter-rss.txt
: >"$MW_RSS_FILE"
mw_sample_rss "$MW_RSS_FILE" &
MW_SAMPLER=$!
sleep 1	# a sample of the idle workers first

say "multiwriter: mw1, mw2 and mw3 each append $MW_RECORDS records ($((MW_RECORDS / MW_BATCH)) transactions of $MW_BATCH) over $MW_KEYS keys, at once"
declare -A MW_APPENDER
for i in 1 2 3; do
	mw_psql "$i" -At -c "SELECT extract(epoch FROM clock_timestamp())" \
		-c "CALL mw_append('$MW_LOG', 'mw$i', $MW_RECORDS, $MW_BATCH, $MW_KEYS)" \
		-c "SELECT extract(epoch FROM clock_timestamp())" \
		>"$OUT_DIR/multiwriter-append-mw$i.txt" 2>"$OUT_DIR/multiwriter-append-mw$i.err" &
	MW_APPENDER[$i]=$!
done
mw_append_failed=0
for i in 1 2 3; do
	wait "${MW_APPENDER[$i]}" || {
		mw_append_failed=1
		problem "multiwriter: the appends on mw$i failed: $(tail -3 "$OUT_DIR/multiwriter-append-mw$i.err")"
	}
done
[ "$mw_append_failed" = 0 ] || exit 1
declare -A MW_T0 MW_T1
for i in 1 2 3; do
	MW_T0[$i]=$(sed -n 1p "$OUT_DIR/multiwriter-append-mw$i.txt")
	MW_T1[$i]=$(sed -n 2p "$OUT_DIR/multiwriter-append-mw$i.txt")
done
MW_FIRST=$(printf '%s\n' "${MW_T0[@]}" | sort -g | head -1)
MW_LAST=$(printf '%s\n' "${MW_T1[@]}" | sort -g | tail -1)

say "multiwriter: appends done in $(awk -v a="$MW_FIRST" -v b="$MW_LAST" 'BEGIN {printf "%.2f", b - a}') s; waiting for convergence (every 100 ms, at most ${TIMEOUT} s)"
mw_psql 1 -c "CALL mw_wait_converged('mw', '$MW_LOG', $MW_TOTAL, $MW_KEYS,
	ARRAY['$(mw_conninfo 2)', '$(mw_conninfo 3)'], $MW_LAST, $TIMEOUT)"
IFS='|' read -r MW_HELD MW_DONE MW_GOT MW_FPS MW_POLLS < <(mw_val 1 "SELECT COALESCE(round(held_s::numeric, 2)::text, '-'),
	COALESCE(round(done_s::numeric, 2)::text, '-'), got, COALESCE(fingerprints::text, '-'), polls FROM mw_wait WHERE run = 'mw'")
mw_psql 1 -c "\\copy (SELECT trace FROM mw_wait WHERE run = 'mw') TO STDOUT" | tr ',' '\n' >"$OUT_DIR/multiwriter-trace.txt"
if [ "$MW_DONE" = - ]; then
	problem "multiwriter: not converged ${TIMEOUT} s after the last append (records per node: $MW_GOT; distinct latest() fingerprints: $MW_FPS)"
	# what it reached, as one snapshot: stop the apply workers (their open transaction rolls back)
	say "multiwriter: stopping the apply workers to report what they reached"
	for i in 1 2 3; do
		mw_val "$i" "SELECT tieredlog.set_peer_enabled(peer_name, false) FROM tieredlog.peers" >/dev/null ||
			problem "multiwriter: could not stop the apply workers of mw$i"
	done
fi

# ---- what each node holds ------------------------------------------------------------------------

sleep 1	# one more second of samples after convergence
kill "$MW_SAMPLER" 2>/dev/null || true
wait "$MW_SAMPLER" 2>/dev/null || true
MW_SAMPLER=

mw_fp() { mw_val "$1" "$(mw_val 1 "SELECT mw_state_sql('$MW_LOG', $MW_TOTAL, $MW_KEYS)")" | cut -d'|' -f2; }
declare -A MW_ORIGINS MW_CONF MW_CONF_BYTES MW_CONF_STATUS MW_PEERS MW_FP MW_HELD_REMOTE MW_LIVE
for i in 1 2 3; do
	seg=$(mw_val "$i" "SELECT COALESCE(sum(records), 0) FROM tieredlog.segments WHERE log_name = '$MW_LOG'")
	rd=$(mw_val "$i" "SELECT count(*) FROM tieredlog.read('$MW_LOG')")
	per_origin=$(mw_val "$i" "SELECT string_agg(origin || ':' || n, ' ' ORDER BY origin) FROM (SELECT origin, count(*) n FROM tieredlog.read('$MW_LOG') GROUP BY origin) o")
	MW_HELD_REMOTE[$i]=$(mw_val "$i" "SELECT count(*) FROM tieredlog.read('$MW_LOG') WHERE origin <> 'mw$i'")
	# (not converged: the problem above says so, and the table what each node holds)
	[ "$MW_DONE" = - ] || { [ "$seg" = "$MW_TOTAL" ] && [ "$rd" = "$MW_TOTAL" ] &&
		[ "$per_origin" = "mw1:$MW_RECORDS mw2:$MW_RECORDS mw3:$MW_RECORDS" ]; } ||
		problem "multiwriter: mw$i holds $seg records (segments), $rd (read()), by origin $per_origin; expected $MW_RECORDS of each origin"
	read -r MW_CONF[$i] MW_CONF_BYTES[$i] < <(mw_val "$i" "SELECT count(*), pg_total_relation_size('tieredlog.conflict') FROM tieredlog.conflict" | tr '|' ' ')
	MW_CONF_STATUS[$i]=$(mw_val "$i" "SELECT COALESCE(string_agg(status || ' ' || n, ', ' ORDER BY status), 'none') FROM (SELECT status, count(*) n FROM tieredlog.conflict GROUP BY status) s")
	MW_ORIGINS[$i]=$per_origin
	MW_PEERS[$i]=$(mw_val "$i" "SELECT string_agg(peer_name || ': ' || state || ', applied ' || records_applied || ', skipped ' || records_skipped || COALESCE(', last_error ' || last_error, ''), '; ' ORDER BY peer_name) FROM tieredlog.peers")
	MW_FP[$i]=$(mw_fp "$i")
	# the episodes between current heads (each origin's newest record of a key): the same on every node
	MW_LIVE[$i]=$(mw_val "$i" "WITH h AS (SELECT DISTINCT ON (key, origin) key, origin || ':' || seq AS side FROM tieredlog.read('$MW_LOG')
		ORDER BY key, origin, ts DESC, seq DESC)
		SELECT count(*) || ' ' || md5(COALESCE(string_agg(c.key || ' ' || c.winner || '>' || c.loser || ' ' || c.status, ',' ORDER BY c.key, c.winner, c.loser), ''))
		FROM tieredlog.conflicts c WHERE c.log_name = '$MW_LOG'
		AND EXISTS (SELECT 1 FROM h WHERE h.key = c.key AND h.side = c.winner) AND EXISTS (SELECT 1 FROM h WHERE h.key = c.key AND h.side = c.loser)")
done
if [ "$MW_DONE" != - ] && { [ "${MW_LIVE[1]}" != "${MW_LIVE[2]}" ] || [ "${MW_LIVE[1]}" != "${MW_LIVE[3]}" ]; }; then
	problem "multiwriter: the episodes between current heads differ between nodes (${MW_LIVE[1]} / ${MW_LIVE[2]} / ${MW_LIVE[3]})"
fi
if [ "$MW_DONE" != - ] && { [ "${MW_FP[1]}" != "${MW_FP[2]}" ] || [ "${MW_FP[1]}" != "${MW_FP[3]}" ]; }; then
	problem "multiwriter: latest() agreed on every key at convergence, no longer afterwards (fingerprints ${MW_FP[1]:0:8} ${MW_FP[2]:0:8} ${MW_FP[3]:0:8})"
fi

# Peak memory per apply worker (node, peer): "node peer peak_vmrss_kB peak_rssanon_kB samples pids first_vmrss_kB first_rssanon_kB"
mw_rss_summary() {
	awk '{ k = $2 " " $3
		if (!(k in n)) { first_vm[k] = $5; first_an[k] = $6 }
		n[k]++; if ($5 > vm[k]) vm[k] = $5; if ($6 != "-" && $6 > an[k]) an[k] = $6
		if (!((k, $4) in seen)) { seen[k, $4] = 1; pids[k]++ } }
		END { for (k in n) print k, vm[k], an[k] + 0, n[k], pids[k], first_vm[k], first_an[k] }' "$MW_RSS_FILE" | sort
}
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# ---- results -------------------------------------------------------------------------------------

{
	echo "## replication, multiwriter: 3 nodes in a full mesh append to $MW_KEYS keys at once"
	echo
	echo "- servers: mw1–mw3 on ports ${MW_PORT[1]}–${MW_PORT[3]}, $(mw_val 1 'SHOW server_version'), fresh initdb each, one machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GB RAM; load average before: $MW_LOAD_BEFORE"
	echo "- tieredlog $(mw_val 1 "SELECT extversion FROM pg_extension WHERE extname = 'tieredlog'"): $TL_SO (installed $(date -u -r "$TL_SO" '+%Y-%m-%d %H:%M:%S UTC'), md5 $(md5sum <"$TL_SO" | cut -c1-12)); source tree $(git -C "$TL_ROOT" describe --always --dirty 2>/dev/null || echo '?')"
	echo "- settings: $(mw_val 1 "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
		WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'tieredlog.conflict_window', 'tieredlog.naptime')")${TL_BENCH_CONF:+; TL_BENCH_CONF: $TL_BENCH_CONF}; log '$MW_LOG': rule $(mw_val 1 "SELECT conflict_rule FROM tieredlog.logs WHERE log_name = '$MW_LOG'")"
	echo "- each node: $MW_RECORDS records in $((MW_RECORDS / MW_BATCH)) transactions of $MW_BATCH (append_many), record j to key k<j mod $MW_KEYS>; all three at once"
	for i in 1 2 3; do
		echo "  - mw$i appended from +$(awk -v a="$MW_FIRST" -v b="${MW_T0[$i]}" 'BEGIN {printf "%.2f", b - a}') s to +$(awk -v a="$MW_FIRST" -v b="${MW_T1[$i]}" 'BEGIN {printf "%.2f", b - a}') s ($(awk -v n="$MW_RECORDS" -v a="${MW_T0[$i]}" -v b="${MW_T1[$i]}" 'BEGIN {printf "%.0f", n / (b - a)}') records/s)"
	done
	echo "- raw output: ${OUT_DIR#"$TL_ROOT"/}/multiwriter-*"
	echo
	echo "| what | result | target | verdict |"
	echo "|---|---:|---:|---|"
	echo "| every node holds all $MW_TOTAL records, s after the last append | $MW_HELD | | |"
	if [ "$MW_DONE" != - ]; then
		verdict=$(awk -v x="$MW_DONE" -v t="$MW_CONV_TARGET" 'BEGIN {print (x <= t) ? "PASS" : "BELOW"}')
		echo "| converged (all records, latest() equal on every key), s after the last append | $MW_DONE | ≤ $MW_CONV_TARGET s | $verdict |"
	else
		echo "| converged (all records, latest() equal on every key), s after the last append | not within ${TIMEOUT} s (records: $MW_GOT; distinct fingerprints: $MW_FPS) | ≤ $MW_CONV_TARGET s | BELOW |"
	fi
	worst=0
	for i in 1 2 3; do
		r=$(awk -v c="${MW_CONF[$i]}" -v n="$MW_REMOTE" 'BEGIN {printf "%.2f", c / n}')
		worst=$(awk -v a="$worst" -v b="$r" 'BEGIN {print (b > a) ? b : a}')
		echo "| mw$i: conflict rows / remote records | ${MW_CONF[$i]} / $MW_REMOTE = $r | ≤ $MW_CONFLICT_TARGET | $(awk -v x="$r" -v t="$MW_CONFLICT_TARGET" 'BEGIN {print (x <= t) ? "PASS" : "BELOW"}') |"
	done
	echo
	[ "$MW_DONE" != - ] || echo "not converged: the apply workers were stopped at the timeout; what follows is what the nodes held then"
	[ "$MW_DONE" != - ] || echo
	echo "| node | records held, by origin | conflict rows | per remote record held | by status | tieredlog.conflict size | peers |"
	echo "|---|---|---:|---:|---|---:|---|"
	for i in 1 2 3; do
		echo "| mw$i | ${MW_ORIGINS[$i]} | ${MW_CONF[$i]} | $(awk -v c="${MW_CONF[$i]}" -v n="${MW_HELD_REMOTE[$i]}" 'BEGIN {if (n > 0) printf "%.2f", c / n; else print "-"}') | ${MW_CONF_STATUS[$i]} | $(mb $((MW_CONF_BYTES[$i] / 1024))) MB | ${MW_PEERS[$i]} |"
	done
	echo
	echo "apply workers' memory (sampled every ${MW_RSS_EVERY} s from 1 s before the appends until 1 s after the end of the wait; idle = the first sample):"
	echo
	echo "| node | apply worker for peer | peak VmRSS, MB | peak RssAnon, MB | idle VmRSS / RssAnon, MB | samples | pids |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	mw_rss_summary | while read -r node peer vm an n pids fvm fan; do
		echo "| $node | $peer | $(mb "$vm") | $(mb "$an") | $(mb "$fvm") / $(mb "${fan/-/0}") | $n | $pids |"
	done
	echo
	echo "- peak over all apply workers: VmRSS $(mb "$(mw_rss_summary | awk 'BEGIN {m = 0} $3 > m {m = $3} END {print m}')") MB, RssAnon $(mb "$(mw_rss_summary | awk 'BEGIN {m = 0} $4 > m {m = $4} END {print m}')") MB"
	echo "- episodes between current heads (count, md5 of key/winner/loser/status): mw1 ${MW_LIVE[1]}, mw2 ${MW_LIVE[2]}, mw3 ${MW_LIVE[3]}$( [ "${MW_LIVE[1]}" = "${MW_LIVE[2]}" ] && [ "${MW_LIVE[1]}" = "${MW_LIVE[3]}" ] && echo ': the same on every node' || echo ': DIFFERENT')"
	echo "  (the rest are episodes that ended: history, recorded by the nodes that saw them open)"
	echo "- polls of the wait: $MW_POLLS (trace in multiwriter-trace.txt: seconds, records per node, distinct fingerprints)"
	for i in 1 2 3; do
		crashes=$(as_root cat "${MW_DIR[$i]}/server.log" | grep -c 'terminated by signal' || true)
		errors=$(as_root cat "${MW_DIR[$i]}/server.log" | grep -c 'ERROR:' || true)
		echo "- mw$i: server processes that crashed: $crashes; ERROR lines in server.log: $errors$( [ "$errors" -gt 0 ] && echo " (first: $(as_root cat "${MW_DIR[$i]}/server.log" | grep -m1 'ERROR:' | cut -c1-200))")"
	done
	echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg); the case took $(($(date +%s) - MW_STARTED)) s"
	echo
} | tee "$OUT_DIR/multiwriter.md"

for i in 1 2 3; do as_root cat "${MW_DIR[$i]}/server.log" >"$OUT_DIR/multiwriter-server-mw$i.log"; done
mw_cleanup
trap - EXIT
