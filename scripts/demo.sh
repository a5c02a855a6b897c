#!/usr/bin/env bash
# Install what is needed, build and install tieredlog, start three local nodes (three tablespaces
# each: hot, warm, archive) as an unprivileged user and show logs, segments, digests, tiers and the
# worker at work on node1, then replication among the three and reconciliation of history a node
# never streamed; then a workload of TL_DEMO_SECONDS (60) on every node with a partition and
# conflicting writes, printed as it goes (tiers filling, segments moving, lag, conflicts, checks),
# the conflicts decided by rule and by a person, the scheduler's scores and picks, tamper evidence,
# a clean verify() and the health view. Safe to run again: it stops
# and recreates its nodes. The nodes keep running afterwards; `scripts/demo.sh stop` stops them
# and removes their data.
#   scripts/demo.sh            (as root, or a user with sudo)
#   scripts/demo.sh stop       stop the three nodes and remove $DEMO_DIR
# TL_DEMO_DIR, TL_DEMO_PORT: where the nodes live (/var/tmp/tieredlog-demo, ports 55440-55442).
# The server user never reads this clone (which may sit where it cannot, /root say): SQL files go
# to psql on its standard input.
source "$(dirname "$0")/common.sh"

DEMO_DIR=${TL_DEMO_DIR:-/var/tmp/tieredlog-demo}
DEMO_PORT=${TL_DEMO_PORT:-55440}

stop_demo() {
	for i in 1 2 3; do stop_node "$DEMO_DIR/node$i"; done
}

case "${1:-run}" in
	run) ;;
	stop)
		stop_demo
		as_root rm -rf "$DEMO_DIR"
		say "the demo's nodes are stopped and $DEMO_DIR is removed"
		exit 0 ;;
	*) echo "usage: $0 [run|stop]" >&2; exit 2 ;;
esac

install_deps
build_install
stop_demo
fresh_dir "$DEMO_DIR"
for i in 1 2 3; do
	port=$((DEMO_PORT + i - 1))
	fresh_dir "$DEMO_DIR/node$i"
	say "starting node$i on port $port (data in $DEMO_DIR/node$i)"
	# short worker settings, so the demo shows the worker sealing (and witnessing) within seconds
	start_node "$DEMO_DIR/node$i" "$port" "node$i" "tieredlog.naptime = 1" "tieredlog.seal_grace = 5" \
		"tieredlog.ledger_interval = 2"
done

on_node() {	# on_node <i> <psql args...>
	local i=$1
	shift
	as_pg psql -X -v ON_ERROR_STOP=1 -h "$DEMO_DIR/node$i" -p $((DEMO_PORT + i - 1)) -U postgres -d postgres "$@"
}

say "each node gets three tablespaces: hot (tier 0), warm (tier 1) and archive (tier 2)"
for i in 1 2 3; do
	for ts in hot warm archive; do
		as_root mkdir -p "$DEMO_DIR/node$i/tablespaces/$ts"
		as_root chown "$TL_RUN_USER" "$DEMO_DIR/node$i/tablespaces/$ts"
	done
	on_node "$i" -q -c "CREATE EXTENSION IF NOT EXISTS tieredlog" \
		-c "CREATE TABLESPACE hot LOCATION '$DEMO_DIR/node$i/tablespaces/hot'" \
		-c "CREATE TABLESPACE warm LOCATION '$DEMO_DIR/node$i/tablespaces/warm'" \
		-c "CREATE TABLESPACE archive LOCATION '$DEMO_DIR/node$i/tablespaces/archive'" \
		-c "SELECT tieredlog.set_tier(0, 'hot'), tieredlog.set_tier(1, 'warm'), tieredlog.set_tier(2, 'archive')" >/dev/null
done
on_node 1 -c "SELECT tier, tablespace, pg_tablespace_location(oid) AS location FROM tieredlog.tiers JOIN pg_tablespace ON spcname = tablespace ORDER BY tier"

say "running the single-node demo on node1 (scripts/demo.sql)"
on_node 1 -f - <"$TL_ROOT/scripts/demo.sql"

say "replication: every node adds the other two as peers (full mesh)"
for i in 1 2 3; do
	on_node "$i" -q -c "CREATE EXTENSION IF NOT EXISTS tieredlog" -c "SELECT tieredlog.create_log('chat', '10 minutes')" >/dev/null
done
for i in 1 2 3; do
	for j in 1 2 3; do
		[ "$i" = "$j" ] && continue
		on_node "$i" -q -c "SELECT tieredlog.add_peer('node$j', 'host=$DEMO_DIR/node$j port=$((DEMO_PORT + j - 1)) dbname=postgres user=postgres')" >/dev/null
	done
done
on_node 1 -v demo_dir="$DEMO_DIR" -v demo_port="$DEMO_PORT" -f - <"$TL_ROOT/scripts/demo_replication.sql"
for i in 2 3; do
	on_node "$i" -q -c "SELECT tieredlog.append('chat', 'from-node$i-' || g, jsonb_build_object('n', g)) FROM generate_series(1, 100) g" >/dev/null
done
say "each node appended 100 records to log 'chat'; waiting for them to reach every node"
for _ in $(seq 1 100); do
	done_nodes=0
	for i in 1 2 3; do
		[ "$(on_node "$i" -At -c "SELECT count(*) FROM tieredlog.read('chat')")" = 300 ] && done_nodes=$((done_nodes + 1))
	done
	[ "$done_nodes" = 3 ] && break
	sleep 0.2
done
if [ "$done_nodes" != 3 ]; then
	say "after 20 s, only $done_nodes of the 3 nodes hold all 300 records; see $DEMO_DIR/node*/server.log"
	exit 1
fi
say "every node holds the same 300 records: equal counts and equal segment digests"
for i in 1 2 3; do
	on_node "$i" -c "SELECT tieredlog.node_name() AS node,
		(SELECT count(*) FROM tieredlog.read('chat')) AS records,
		(SELECT count(DISTINCT origin) FROM tieredlog.read('chat')) AS origins,
		(SELECT md5(string_agg(range_start || '=' || digest, ',' ORDER BY range_start))
		   FROM tieredlog.segments WHERE log_name = 'chat') AS md5_of_digests"
done
if [ "${TL_DEMO_PART:-all}" = replication ]; then	# test/quickstart.sh: set-up and replication only
	say "stopping here (TL_DEMO_PART=replication); the nodes keep running: stop them with $(printf %q "$0") stop"
	exit 0
fi
say "reconciliation: node2 never streamed node1's older log 'orders' (it existed before the peers did);"
say "reconcile() compares digests and copies what is missing, tier 2 included"
on_node 2 -c "SELECT range_start, status, records_received, bytes, round_trips
	FROM tieredlog.reconcile('orders', 'node1', include_archive => true) ORDER BY range_start"
on_node 2 -c "SELECT count(*) AS orders_records_on_node2 FROM tieredlog.read('orders')"

# poll every node until a query returns t (at most 20 s)
wait_all() {
	for _ in $(seq 1 100); do
		ok=0
		for i in 1 2 3; do
			[ "$(on_node "$i" -At -c "$1")" = t ] && ok=$((ok + 1))
		done
		[ "$ok" = 3 ] && return 0
		sleep 0.2
	done
	say "timed out waiting for: $1"
	return 1
}
# One line per node: its tiers, moves, the lag of each peer, conflicts, the scheduler's checks.
status_line() {	# status_line <i>
	on_node "$1" -At -c "SELECT format('%s | %s | moves %s | peers %s | conflicts %s by rule, %s pending | checks %s (%s)',
		tieredlog.node_name(),
		(SELECT string_agg(format('%s %s seg %s', tablespace, segments, stored_size), ', ' ORDER BY tier) FROM tieredlog.tiers),
		(SELECT count(*) FROM tieredlog.moves),
		(SELECT COALESCE(string_agg(peer_name || ' ' || CASE WHEN state = 'streaming' THEN round(COALESCE(lag_seconds, 0)::numeric, 1) || ' s'
															ELSE state END, ', ' ORDER BY peer_name), '-') FROM tieredlog.peers),
		(SELECT count(*) FROM tieredlog.conflicts WHERE status = 'resolved_by_rule'),
		(SELECT count(*) FROM tieredlog.conflicts WHERE status = 'pending'),
		(SELECT count(*) FROM tieredlog.check_log),
		(SELECT pg_size_pretty(COALESCE(sum(bytes), 0)) FROM tieredlog.check_log))"
}
partition() {	# partition <true|false>: node3 and the other two stop (or resume) streaming from each other
	local on=$1
	on_node 3 -q -c "SELECT tieredlog.set_peer_enabled('node1', $on), tieredlog.set_peer_enabled('node2', $on)" >/dev/null
	on_node 1 -q -c "SELECT tieredlog.set_peer_enabled('node3', $on)" >/dev/null
	on_node 2 -q -c "SELECT tieredlog.set_peer_enabled('node3', $on)" >/dev/null
}

SECONDS_TOTAL=${TL_DEMO_SECONDS:-60}
say "a workload for ${SECONDS_TOTAL} s: every node appends to log 'events' (15-second segments) every second;"
say "the workers seal each window 5 s after it ends, demote segments nobody touched for 15 s (hot -> warm -> archive),"
say "and the scheduler checks (segment, peer) pairs every 5 s within its budget. From a third to two thirds of the"
say "run node3 is cut off from node1 and node2 (a partition), and both sides write the same keys:"
say "'accounts' (last_writer_wins: decided by the rule) and 'approvals' (manual: waits for a person)"
for i in 1 2 3; do
	on_node "$i" -q -c "SELECT tieredlog.create_log('events', '15 seconds'), tieredlog.create_log('accounts', '1 hour'),
			tieredlog.create_log('approvals', '1 hour', 'manual')" \
		-c "ALTER SYSTEM SET tieredlog.demote_after = '15s'" -c "ALTER SYSTEM SET tieredlog.min_residency = '5s'" \
		-c "ALTER SYSTEM SET tieredlog.check_interval = '5s'" -c "ALTER SYSTEM SET tieredlog.adaptive_tiering = on" \
		-c "SELECT pg_reload_conf()" >/dev/null
done
on_node 1 -q -c "SELECT tieredlog.append('accounts', 'acct-7', '{\"balance\": 100}'), tieredlog.append('approvals', 'PO-1001', '{\"state\": \"requested\"}')" >/dev/null
cut_at=$((SECONDS_TOTAL / 3))
heal_at=$((2 * SECONDS_TOTAL / 3))
start=$(date +%s)
next_status=0
cut=0
while :; do
	t=$(($(date +%s) - start))
	[ "$t" -ge "$SECONDS_TOTAL" ] && break
	for i in 1 2 3; do
		on_node "$i" -q -c "SELECT tieredlog.append_many('events', array_agg('node$i-device-' || (g % 20)),
			array_agg(jsonb_build_object('reading', g, 'at', clock_timestamp())))
			FROM generate_series(1, 200) g" >/dev/null
	done
	if [ "$cut" = 0 ] && [ "$t" -ge "$cut_at" ]; then
		say "t=${t}s: partition: node3 no longer streams from node1 and node2, nor they from it"
		partition false
		on_node 1 -q -c "SELECT tieredlog.append('accounts', 'acct-7', '{\"balance\": 80}'),
			tieredlog.append('approvals', 'PO-1001', '{\"state\": \"approved\", \"by\": \"alice\"}')" >/dev/null
		on_node 3 -q -c "SELECT tieredlog.append('accounts', 'acct-7', '{\"balance\": 130}'),
			tieredlog.append('approvals', 'PO-1001', '{\"state\": \"rejected\", \"by\": \"bob\"}')" >/dev/null
		say "t=${t}s: node1 sets acct-7 to 80 and approves PO-1001; node3 sets acct-7 to 130 and rejects PO-1001"
		cut=1
	fi
	if [ "$cut" = 1 ] && [ "$t" -ge "$heal_at" ]; then
		say "t=${t}s: the partition heals: the slots kept the WAL, the apply workers catch up"
		partition true
		cut=2
	fi
	if [ "$t" -ge "$next_status" ]; then
		echo "--- t=${t}s"
		for i in 1 2 3; do status_line "$i"; done
		next_status=$((t + 10))
	fi
	sleep 0.5
done
say "the workload stops; the workers go back to the demo's quiet settings (no automatic moves or checks)"
for i in 1 2 3; do
	on_node "$i" -q -c "ALTER SYSTEM RESET tieredlog.demote_after" -c "ALTER SYSTEM RESET tieredlog.min_residency" \
		-c "ALTER SYSTEM RESET tieredlog.check_interval" -c "ALTER SYSTEM RESET tieredlog.adaptive_tiering" \
		-c "SELECT pg_reload_conf()" >/dev/null
done
wait_all "SELECT count(*) = 0 FROM tieredlog.peers WHERE state <> 'streaming' OR lag_seconds > 5"
for _ in $(seq 1 150); do	# the three nodes hold as many 'events' (at most 30 s)
	counts=$(for i in 1 2 3; do on_node "$i" -At -c "SELECT count(*) FROM tieredlog.read('events')"; done | sort -u | wc -l)
	[ "$counts" = 1 ] && break
	sleep 0.2
done
wait_all "SELECT count(*) = 2 FROM tieredlog.conflicts WHERE log_name IN ('accounts', 'approvals')"
sleep 2
echo "--- after the workload"
for i in 1 2 3; do status_line "$i"; done
say "segments of 'events' on node1: sealed windows went down the tiers, the newest are still hot"
on_node 1 -c "SELECT range_start::time AS window, state, tier, tablespace, records, stored_size, moved_at::time(0) AS moved
	FROM tieredlog.segments WHERE log_name = 'events' ORDER BY range_start" \
	-c "SELECT from_tier, to_tier, count(*) AS moves, pg_size_pretty(sum(bytes_before)) AS before, pg_size_pretty(sum(bytes_after)) AS after
	FROM tieredlog.moves GROUP BY 1, 2 ORDER BY 1, 2"
say "every node holds the same 'events': same records, same digests"
for i in 1 2 3; do
	on_node "$i" -At -c "SELECT tieredlog.node_name() || ': ' || count(*) || ' records, digests md5 ' ||
		(SELECT md5(string_agg(range_start || '=' || digest, ',' ORDER BY range_start)) FROM tieredlog.segments WHERE log_name = 'events')
		FROM tieredlog.read('events')"
done

say "the conflicts of the partition, the same on every node: acct-7 decided by the rule, PO-1001 waits for a person"
on_node 1 -c "SELECT conflict_id, log_name, key, status, rule, winner, loser, reason FROM tieredlog.conflicts
	WHERE log_name IN ('accounts', 'approvals') ORDER BY log_name"
for i in 1 2 3; do
	on_node "$i" -At -c "SELECT tieredlog.node_name() || ': acct-7 ' || (SELECT payload FROM tieredlog.latest('accounts', 'acct-7'))
		|| ', PO-1001 (provisional) ' || (SELECT payload FROM tieredlog.latest('approvals', 'PO-1001'))
		|| ', pending ' || (SELECT conflicts_pending FROM tieredlog.status())"
done
say "what node2's health says meanwhile (tieredlog.health)"
on_node 2 -c "SELECT check_name, object, status, reason FROM tieredlog.health WHERE check_name IN ('conflicts', 'peer', 'worker')"
say "a person on node2 decides for alice's approval: the decision is a new record that reaches every node"
on_node 2 -c "SELECT tieredlog.resolve_conflict(conflict_id, CASE WHEN winner LIKE 'node1:%' THEN winner ELSE loser END) AS decision_record
	FROM tieredlog.conflicts WHERE log_name = 'approvals' AND status = 'pending'"
wait_all "SELECT conflicts_pending = 0 FROM tieredlog.status()"
for i in 1 2 3; do
	on_node "$i" -At -c "SELECT tieredlog.node_name() || ': PO-1001 ' || (SELECT payload FROM tieredlog.latest('approvals', 'PO-1001'))
		|| ' (' || (SELECT status || ' by ' || resolved_by FROM tieredlog.conflicts WHERE log_name = 'approvals') || ')'"
done

say "reconciliations the scheduler ran during the workload, with the bytes they moved (tieredlog.check_log)"
on_node 1 -c "SELECT peer_name, reason, count(*) AS checks, count(*) FILTER (WHERE diverged) AS diverged,
	sum(records_moved) AS records_moved, pg_size_pretty(sum(bytes)) AS bytes FROM tieredlog.check_log
	GROUP BY 1, 2 ORDER BY 1, 2"

say "the scheduler: which (segment, peer) checks it would run now, by predicted risk per cost (tieredlog.schedule),"
say "and what it has checked on its own so far (tieredlog.check_log, every tieredlog.check_interval)"
on_node 1 -c "SELECT log_name, range_start, peer_name, round(score::numeric, 4) AS score, cost, reason FROM tieredlog.schedule LIMIT 8" \
	-c "SELECT reason, count(*) AS checks, count(*) FILTER (WHERE diverged) AS diverged FROM tieredlog.check_log GROUP BY reason" \
	-c "SELECT model_id, state, algo, note FROM tieredlog.models"

say "tamper evidence: every seal wrote a Merkle root into node1's ledger; blocks chain the entries by SHA-256,"
say "and the worker gives the ledger's digest to the peers, which keep it as a WITNESS entry"
on_node 1 -c "SELECT kind, count(*) AS entries, count(block_id) AS in_blocks FROM tieredlog.ledger GROUP BY kind ORDER BY kind" \
	-c "SELECT tieredlog.ledger_digest() AS digest_to_keep_elsewhere"
node2_roots=$(on_node 2 -At -c "SELECT string_agg(range_start || '=' || seal_root, ',' ORDER BY range_start) FROM tieredlog.segments WHERE log_name = 'orders' AND state = 'sealed'")
for _ in $(seq 1 100); do
	[ "$(on_node 2 -At -c "SELECT count(*) > 0 FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = 'node1'
		AND (body->>'block_id')::bigint >= (SELECT max(block_id) FROM tieredlog.ledger_blocks)")" = t ] && break
	sleep 0.2
done
witnessed=$(on_node 2 -At -c "SELECT jsonb_agg(body) FROM tieredlog.ledger WHERE kind = 'WITNESS' AND body->>'node' = 'node1'")
say "node1's ledger and seals, recomputed from the rows, against what node2 witnessed ($(echo "$witnessed" | grep -o block_hash | wc -l) digest(s)): verify()"
on_node 1 -c "SELECT check_name, count(*) AS checks, bool_and(ok) AS all_ok FROM tieredlog.verify(NULL, \$\$$witnessed\$\$) GROUP BY 1 ORDER BY 1"
say "node2 sealed the 'orders' segments it reconciled: the same Merkle roots as node1's ($(on_node 1 -At -c "SELECT CASE WHEN string_agg(range_start || '=' || seal_root, ',' ORDER BY range_start) = \$\$$node2_roots\$\$ THEN 'equal' ELSE 'different' END FROM tieredlog.segments WHERE log_name = 'orders' AND state = 'sealed' AND range_start IN (SELECT range_start FROM tieredlog.segments WHERE log_name = 'orders')"))"
say "a record of a sealed segment altered behind tieredlog's back on node1 (then rolled back): verify() names it"
rel=$(on_node 1 -At -c "SELECT relation FROM tieredlog.segments WHERE log_name = 'orders' AND state = 'sealed' AND relation IS NOT NULL ORDER BY range_start LIMIT 1")
if [ -n "$rel" ]; then
	on_node 1 -c "BEGIN" -c "UPDATE tieredlog_data.$rel SET payload = '{\"status\": \"refunded\"}' WHERE ctid = (SELECT min(ctid) FROM tieredlog_data.$rel)" \
		-c "SELECT check_name, object, left(expected, 20) AS expected, left(actual, 20) AS actual FROM tieredlog.verify('orders') WHERE NOT ok" -c "ROLLBACK"
fi
say "an inclusion proof: one record of a sealed 'orders' segment, checked against node2's seal root of that segment"
proof=$(on_node 1 -At -c "SELECT tieredlog.inclusion_proof(r.segment_id, r.rid) FROM tieredlog.read('orders') r
	JOIN tieredlog.segments s USING (segment_id) WHERE s.state = 'sealed' ORDER BY r.ts LIMIT 1")
on_node 2 -c "SELECT (\$\$$proof\$\$::jsonb)->>'leaf_index' AS leaf, (\$\$$proof\$\$::jsonb)->>'tree_size' AS of,
	jsonb_array_length((\$\$$proof\$\$::jsonb)->'path') AS hashes_in_path,
	tieredlog.check_inclusion(\$\$$proof\$\$, s.seal_root) AS proven_against_node2s_root
	FROM tieredlog.segments s WHERE s.log_name = 'orders' AND s.range_start = ((\$\$$proof\$\$::jsonb)->>'range_start')::timestamptz"

say "a clean verify() on every node: the ledger chain and every seal recomputed from the rows"
for i in 1 2 3; do
	on_node "$i" -At -c "SELECT tieredlog.node_name() || ': ' || count(*) || ' checks, ' || count(*) FILTER (WHERE NOT ok) || ' failed'
		FROM tieredlog.verify()"
done
say "the operator's first query, on every node: SELECT * FROM tieredlog.health WHERE status <> 'OK' (nothing: all OK)"
for i in 1 2 3; do
	on_node "$i" -At -c "SELECT tieredlog.node_name() || ': ' || count(*) || ' checks, ' ||
		COALESCE(string_agg(check_name || ' ' || status || ': ' || reason, '; ') FILTER (WHERE status <> 'OK'), 'all OK')
		FROM tieredlog.health"
done

say "peers of node1 (tieredlog.peers), its slots (tieredlog.slots) and status()"
on_node 1 -c "SELECT peer_name, state, slot_name, lag_bytes, lag_seconds, records_applied, last_error FROM tieredlog.peers" \
	-c "SELECT slot_name, active, wal_status, retained_bytes, retained_size FROM tieredlog.slots" \
	-c "SELECT node_name, logs, segments, worker_state, tasks_failed FROM tieredlog.status()"

say "the nodes keep running: psql -h $DEMO_DIR/node1 -p $DEMO_PORT -U postgres (node2, node3: ports $((DEMO_PORT + 1)), $((DEMO_PORT + 2)))"
say "stop them and remove their data with: $(printf %q "$0") stop"
