#!/usr/bin/env bash
# Install what is needed, build and install tieredlog, start a local node as an unprivileged user
# and show logs, segments and digests at work. Safe to run again: it stops and recreates its node.
#   scripts/demo.sh            (as root, or a user with sudo)
source "$(dirname "$0")/common.sh"

DEMO_DIR=${TL_DEMO_DIR:-/var/tmp/tieredlog-demo}
DEMO_PORT=${TL_DEMO_PORT:-55440}

install_deps
build_install
stop_node "$DEMO_DIR/node1"
fresh_dir "$DEMO_DIR"
fresh_dir "$DEMO_DIR/node1"
say "starting node1 on port $DEMO_PORT (data in $DEMO_DIR/node1)"
# short worker settings, so the demo shows the worker sealing within seconds
start_node "$DEMO_DIR/node1" "$DEMO_PORT" node1 "tieredlog.naptime = 1" "tieredlog.seal_grace = 5"

say "running the demo (scripts/demo.sql)"
as_pg psql -X -v ON_ERROR_STOP=1 -h "$DEMO_DIR/node1" -p "$DEMO_PORT" -U postgres -d postgres \
	-f "$TL_ROOT/scripts/demo.sql"

say "node1 keeps running: psql -h $DEMO_DIR/node1 -p $DEMO_PORT -U postgres"
say "stop it with: runuser -u $TL_RUN_USER -- $PG_BIN/pg_ctl -D $DEMO_DIR/node1/data stop"
