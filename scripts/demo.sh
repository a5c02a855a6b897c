#!/usr/bin/env bash
# Install what is needed, build and install tieredlog, start three local nodes as an unprivileged
# user and show logs, segments, digests, tiers and the worker at work on node1, then replication
# among the three and reconciliation of history a node never streamed. Safe to run again: it stops
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
say "conflicts: 'tickets' is decided by a person (rule manual), 'prices' by last_writer_wins"
for i in 1 2 3; do
	on_node "$i" -q -c "SELECT tieredlog.create_log('tickets', '1 hour', 'manual'), tieredlog.create_log('prices', '1 hour')" >/dev/null
done
on_node 1 -q -c "SELECT tieredlog.append('tickets', 'T-1', '{\"status\": \"open\"}'), tieredlog.append('prices', 'p-1', '{\"eur\": 10}')" >/dev/null
wait_all "SELECT count(*) = 1 FROM tieredlog.read('tickets')"
say "node2 and node3 stop applying each other's records; both change T-1 and p-1 (node1 sees both sides)"
on_node 2 -q -c "SELECT tieredlog.set_peer_enabled('node3', false)" >/dev/null
on_node 3 -q -c "SELECT tieredlog.set_peer_enabled('node2', false)" >/dev/null
on_node 2 -q -c "SELECT tieredlog.append('tickets', 'T-1', '{\"status\": \"closed\"}'), tieredlog.append('prices', 'p-1', '{\"eur\": 12}')" >/dev/null
on_node 3 -q -c "SELECT tieredlog.append('tickets', 'T-1', '{\"status\": \"escalated\"}'), tieredlog.append('prices', 'p-1', '{\"eur\": 11}')" >/dev/null
on_node 2 -q -c "SELECT tieredlog.set_peer_enabled('node3', true)" >/dev/null
on_node 3 -q -c "SELECT tieredlog.set_peer_enabled('node2', true)" >/dev/null
wait_all "SELECT count(*) = 3 FROM tieredlog.read('tickets')"
wait_all "SELECT count(*) = 2 FROM tieredlog.conflicts"
say "every node found the same two conflicts (node1's first record was seen by both: no conflict with it)"
on_node 1 -c "SELECT conflict_id, log_name, key, status, rule, winner, loser, reason FROM tieredlog.conflicts ORDER BY log_name"
for i in 1 2 3; do
	on_node "$i" -c "SELECT tieredlog.node_name() AS node,
		(SELECT payload FROM tieredlog.latest('prices', 'p-1')) AS latest_price,
		(SELECT payload FROM tieredlog.latest('tickets', 'T-1')) AS latest_ticket_provisional,
		(SELECT conflicts_pending FROM tieredlog.status()) AS pending"
done
say "a person on node1 decides for node3's 'escalated': the decision is a new record that reaches every node"
on_node 1 -c "SELECT tieredlog.resolve_conflict(conflict_id, CASE WHEN winner LIKE 'node3:%' THEN winner ELSE loser END) AS decision_record
	FROM tieredlog.conflicts WHERE log_name = 'tickets'"
wait_all "SELECT count(*) = 4 FROM tieredlog.read('tickets')"
wait_all "SELECT conflicts_pending = 0 FROM tieredlog.status()"
for i in 1 2 3; do
	on_node "$i" -c "SELECT tieredlog.node_name() AS node, (SELECT payload FROM tieredlog.latest('tickets', 'T-1')) AS latest_ticket,
		(SELECT status || ': ' || reason FROM tieredlog.conflicts WHERE log_name = 'tickets') AS conflict"
done

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

say "peers of node1 (tieredlog.peers), its slots (tieredlog.slots) and status()"
on_node 1 -c "SELECT peer_name, state, slot_name, lag_bytes, lag_seconds, records_applied, last_error FROM tieredlog.peers" \
	-c "SELECT slot_name, active, wal_status, retained_bytes FROM tieredlog.slots" \
	-c "SELECT node_name, logs, segments, worker_state, tasks_failed FROM tieredlog.status()"

say "the nodes keep running: psql -h $DEMO_DIR/node1 -p $DEMO_PORT -U postgres (node2, node3: ports $((DEMO_PORT + 1)), $((DEMO_PORT + 2)))"
say "stop them and remove their data with: $(printf %q "$0") stop"
