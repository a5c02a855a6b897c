#!/usr/bin/env bash
# The live half of bench/predict (issue 8, item 4): three local nodes in a full mesh, log 'ev' with
# SEGMENTS one-minute segments, and each cycle
#   writes    every node appends records with Zipf-distributed keys (the same hot keys on every
#             node: concurrent writes to the same keys, conflicts) into the segments, skewed to the
#             later ones;
#   faults    (seeded) a burst of writes on one node that streaming misses (its session carries a
#             replication origin, so its decoder skips them: what a partition loses), and now and
#             then rows deleted behind tieredlog's back on one node; and partitions: n1 loses its
#             stream from n2 or n3 for the cycle's writes and the slot is dropped meanwhile (what
#             max_slot_wal_keep_size does), so n1 records a gap and its worker reconciles it;
#   settle    until every slot has confirmed the writes, and the access statistics are flushed;
#   truth     which of n1's (segment, peer) pairs differ: digests recomputed from the rows on every
#             node;
#   checks    the policy picks pairs of n1 within BUDGET of the full-check cost and checks them with
#             tieredlog._run_check (reconcile_segment), which repairs what it finds.
# Policies, each on a fresh cluster with the same seeded writes and faults: random, oldest_first,
# dirty, hand_rule (as in the simulator, from the extension's own features), signals_rule (the hand
# rule after the pairs with a direct sign of a difference: unstreamed writes, row changes, a
# divergence found with another peer), and model: the
# extension's scheduler (_log_checks: floor, exploration, exploitation) with train_model() every 5
# cycles. Recall is measured after WARMUP cycles (in which the floor checks every pair once).
#
#   bench/predict.d/live.sh          (bench/predict runs it after the simulator)
#
# Environment: TL_BENCH_LIVE_DIR [/var/tmp/tieredlog-bench-live], TL_BENCH_LIVE_PORT [55500],
#   TL_BENCH_LIVE_CYCLES [40], TL_BENCH_LIVE_WARMUP [12], TL_BENCH_LIVE_SEED [1],
#   TL_BENCH_LIVE_SEGMENTS [60], TL_BENCH_LIVE_POLICIES ["random oldest_first dirty hand_rule signals_rule model"],
#   TL_BENCH_BUDGET [0.1], TL_BENCH_LIVE_KEEP [0] (1: leave the last policy's cluster running),
#   TL_BENCH_LIVE_CONF [] (one more postgresql.conf line for every node, e.g. a tieredlog setting),
#   TL_PG_ROOT [] (a PostgreSQL unpacked there runs the servers, see scripts/common.sh; tieredlog must
#   be installed in it)
source "$(dirname "$0")/../../scripts/common.sh"

LDIR=${TL_BENCH_LIVE_DIR:-/var/tmp/tieredlog-bench-live}
LPORT=${TL_BENCH_LIVE_PORT:-55500}
CYCLES=${TL_BENCH_LIVE_CYCLES:-40}
WARMUP=${TL_BENCH_LIVE_WARMUP:-12}
SEED=${TL_BENCH_LIVE_SEED:-1}
SEGMENTS=${TL_BENCH_LIVE_SEGMENTS:-60}
POLICIES=${TL_BENCH_LIVE_POLICIES:-random oldest_first dirty hand_rule signals_rule model}
BUDGET=${TL_BENCH_BUDGET:-0.1}
# the segments' windows: the last SEGMENTS minutes before the run (so their ages are realistic)
BASE=$(date -u -d "-$((SEGMENTS + 10)) min" '+%Y-%m-%d %H:%M:00+00')
RESULTS=$LDIR-results.txt

nq() {	# nq <node 1..3> <psql args...>
	local i=$1
	shift
	as_pg psql -X -Atq -v ON_ERROR_STOP=1 -h "$LDIR/n$i" -p $((LPORT + i - 1)) -U postgres -d postgres "$@"
}

stop_cluster() { for i in 1 2 3; do stop_node "$LDIR/n$i"; done; }

start_cluster() {
	stop_cluster
	fresh_dir "$LDIR"
	for i in 1 2 3; do
		fresh_dir "$LDIR/n$i"
		start_node "$LDIR/n$i" $((LPORT + i - 1)) "n$i" "tieredlog.naptime = 1" "tieredlog.check_interval = 0" \
			"tieredlog.train_interval = 0" "tieredlog.seal_grace = '10000d'" "tieredlog.adaptive_tiering = off" \
			"tieredlog.ledger_interval = 0" "tieredlog.stats_flush_interval = 1" "tieredlog.scrub_interval = 0" \
			"max_wal_size = '2GB'" ${TL_BENCH_LIVE_CONF:+"$TL_BENCH_LIVE_CONF"}
	done
	for i in 1 2 3; do
		nq "$i" -c "CREATE EXTENSION tieredlog" -c "SELECT tieredlog.create_log('ev', '1 minute')" >/dev/null
		nq "$i" -c "SELECT pg_replication_origin_create('lost')" >/dev/null
	done
	for i in 1 2 3; do
		for j in 1 2 3; do
			[ "$i" = "$j" ] && continue
			nq "$i" -c "SELECT tieredlog.add_peer('n$j', 'host=$LDIR/n$j port=$((LPORT + j - 1)) dbname=postgres user=postgres')" >/dev/null
		done
	done
	for _ in $(seq 1 100); do
		[ "$(nq 1 -c "SELECT count(*) FROM tieredlog.peers WHERE state = 'streaming'")" = 2 ] &&
			[ "$(nq 2 -c "SELECT count(*) FROM tieredlog.peers WHERE state = 'streaming'")" = 2 ] &&
			[ "$(nq 3 -c "SELECT count(*) FROM tieredlog.peers WHERE state = 'streaming'")" = 2 ] && break
		sleep 0.3
	done
	nq 1 -f - <"$TL_ROOT/bench/predict.d/live.sql" >/dev/null
}

# Normal writes of one node: n records, Zipf keys, ts skewed to the later segments.
write_normal() {
	local i=$1 n=$2 s=$3
	nq "$i" -c "SELECT setseed($s)" -c "SELECT tieredlog.append_many('ev',
		array_agg('k' || floor(exp(random() * ln(300)))::int), array_agg(jsonb_build_object('v', g, 'node', $i)),
		array_agg((ARRAY['app', 'batch', 'api'])[1 + (g % 3)]),
		array_agg('$BASE'::timestamptz + (1 - random() ^ 2) * interval '$SEGMENTS min'))
		FROM generate_series(1, $n) g" >/dev/null
}

# A burst into one segment on node i: half streamed, half missed by streaming (replication origin set).
write_lost() {
	local i=$1 window=$2 n=$3 s=$4
	nq "$i" -c "SELECT setseed($s)" -c "SELECT tieredlog.append_many('ev',
		array_agg('k' || floor(exp(random() * ln(300)))::int), array_agg(jsonb_build_object('burst', g)), NULL,
		array_agg('$BASE'::timestamptz + interval '$window min' + random() * interval '59 s'))
		FROM generate_series(1, $n) g" \
		-c "SELECT pg_replication_origin_session_setup('lost')" \
		-c "SELECT tieredlog.append_many('ev',
		array_agg('k' || floor(exp(random() * ln(300)))::int), array_agg(jsonb_build_object('lost', g)), NULL,
		array_agg('$BASE'::timestamptz + interval '$window min' + random() * interval '59 s'))
		FROM generate_series(1, $n) g" >/dev/null
}

# n1's stream from node j stops (peer disabled) and its slot on j is dropped: j's writes until
# partition_end are lost to n1's streaming; re-enabled, n1 recreates the slot and records a gap.
partition_start() {
	local j=$1 slot
	slot=$(nq 1 -c "SELECT slot_name FROM tieredlog.peer WHERE peer_name = 'n$j'")
	nq 1 -c "SELECT tieredlog.set_peer_enabled('n$j', false)" >/dev/null
	for _ in $(seq 1 100); do
		nq "$j" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$slot' AND NOT active" >/dev/null 2>&1
		[ "$(nq "$j" -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" = 0 ] && return 0
		sleep 0.1
	done
}

partition_end() { nq 1 -c "SELECT tieredlog.set_peer_enabled('n$1', true)" >/dev/null; }

delete_behind() {
	local i=$1 window=$2 rel
	rel=$(nq "$i" -c "SELECT relation FROM tieredlog.segments WHERE log_name = 'ev'
		AND range_start = '$BASE'::timestamptz + interval '$window min'")
	[ -n "$rel" ] && nq "$i" -c "DELETE FROM tieredlog_data.$rel WHERE ctid IN (SELECT ctid FROM tieredlog_data.$rel LIMIT 2)" >/dev/null
	return 0
}

# Until every node's slots have confirmed what it wrote, then one statistics flush.
settle() {
	local lsn i
	for i in 1 2 3; do
		lsn=$(nq "$i" -c "SELECT pg_current_wal_lsn()")
		for _ in $(seq 1 200); do
			[ "$(nq "$i" -c "SELECT COALESCE(bool_and(confirmed_flush_lsn >= '$lsn'), true) FROM pg_replication_slots WHERE slot_name LIKE 'tieredlog%'")" = t ] && break
			sleep 0.1
		done
	done
	sleep 2.2
}

record_truth() {
	local t=$1 i
	for i in 1 2 3; do
		nq "$i" -c "SELECT 'n$i', s.range_start, d.recomputed FROM tieredlog.check_digests('ev') d JOIN tieredlog.segments s USING (segment_id)" \
			| nq 1 -c "\\copy live_digest FROM STDIN WITH (FORMAT text, DELIMITER '|')"
	done
	nq 1 -c "SELECT live_record_truth($t)"
}

run_policy() {
	local policy=$1 t i r n_div budget ids rnd
	say "live: policy $policy ($CYCLES cycles, the first $WARMUP not counted)"
	start_cluster
	for t in $(seq 1 "$CYCLES"); do
		read -r part_u part_j <<<"$(awk -v s="$SEED" -v t="$t" 'BEGIN {srand(s * 100003 + t + 7777); printf "%.4f %d", rand(), 2 + int(rand() * 2)}')"
		part=0
		if awk -v u="$part_u" 'BEGIN {exit !(u < 0.15)}'; then part=$part_j; partition_start "$part"; fi
		for i in 1 2 3; do write_normal "$i" $((40 + 30 * i)) "$(awk -v s="$SEED" -v t="$t" -v i="$i" 'BEGIN {printf "%.6f", ((s * 7919 + t * 104729 + i * 31) % 1000003) / 1000003}')"; done
		read -r rnd <<<"$(awk -v s="$SEED" -v t="$t" 'BEGIN {srand(s * 100003 + t); printf "%d %d %d %.4f %d %d %.4f", 1 + int(rand() * 3), int(rand() * '"$SEGMENTS"'), 5 + int(rand() * 20), rand(), 1 + int(rand() * 3), int(rand() * '"$SEGMENTS"'), rand()}')"
		set -- $rnd
		if awk -v u="$4" 'BEGIN {exit !(u < 0.6)}'; then write_lost "$1" "$2" "$3" "0.$t$SEED"; fi
		if awk -v u="$7" 'BEGIN {exit !(u < 0.25)}'; then delete_behind "$5" "$6"; fi
		[ "$part" != 0 ] && partition_end "$part"
		settle
		n_div=$(record_truth "$t")
		nq 1 -c "SELECT live_record_features($t)" >/dev/null
		budget=$(nq 1 -c "SELECT round(live_full_cost() * $BUDGET)")
		if [ "$policy" = model ]; then
			nq 1 -c "ALTER SYSTEM SET tieredlog.reconcile_budget = '${budget}B'" -c "SELECT pg_reload_conf()" >/dev/null
			sleep 0.1
			[ $((t % 5)) = 0 ] && nq 1 -c "SELECT tieredlog.train_model()" >/dev/null 2>&1
			ids=$(nq 1 -c "SELECT tieredlog._log_checks()")
		else
			ids=$(nq 1 -c "SELECT live_pick_baseline('$policy', $budget)")
		fi
		r=$(nq 1 -c "SELECT live_run($t, '$ids')")
		printf '  cycle %2d: %2d pairs diverged, %2d checked%s\n' "$t" "$n_div" "$r" "$([ "$part" != 0 ] && echo ", partition from n$part")"
	done
	nq 1 -F ' | ' -c "SELECT '$policy', round(recall::numeric, 3), cycles, diverged_pairs, ttd_median, round(ttd_p95::numeric, 1), episodes,
		undetected, checks, (SELECT count(*) FROM tieredlog.models WHERE state = 'active' AND algo = 'irls'),
		(SELECT count(*) || ' / ' || count(closed_at) FROM tieredlog.gap), round(with_sign::numeric, 2)
		FROM live_result($WARMUP)" >>"$RESULTS"
	[ "${TL_BENCH_LIVE_KEEP:-0}" = 1 ] || stop_cluster
}

install_deps
# where the servers load tieredlog from (with TL_PG_ROOT: inside that tree)
TL_SO=$(tl_so_path)
[ -f "$TL_SO" ] || {
	echo "tieredlog is not installed in $(dirname "$TL_SO"); $( [ -z "$TL_PG_ROOT" ] &&
		echo "run make install (or scripts/demo.sh) first" || echo "install it there first (TL_PG_ROOT=$TL_PG_ROOT scripts/demo.sh does)")" >&2
	exit 2
}
as_root rm -f "$RESULTS"
as_root touch "$RESULTS"
as_root chmod 666 "$RESULTS"
[ "${TL_BENCH_LIVE_KEEP:-0}" = 1 ] || trap stop_cluster EXIT
for p in $POLICIES; do run_policy "$p"; done
echo "## prediction: live, 3 nodes, $SEGMENTS segments x 2 peers of n1, $CYCLES cycles ($WARMUP warm-up), seed $SEED, budget $BUDGET of the full-check cost per cycle ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "| policy | recall (mean over cycles) | cycles with divergence | diverged pairs (sum over cycles) | time to detect, median (cycles) | p95 | episodes | never detected | checks | trained model active | gaps recorded / closed by the worker | diverged pairs with a direct sign |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
sed 's/^/| /; s/$/ |/' "$RESULTS"
