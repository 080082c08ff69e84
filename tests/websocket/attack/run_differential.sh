#!/usr/bin/env bash
# The differential: stage08's /ws/echo, Node's ws and Python's websockets, each on 127.0.0.1,
# sent the same crafted frames (differential.py, random_diff.py) and handshakes (handshake.py).
#   tests/websocket/attack/run_differential.sh [--big]     (--big adds the 16 MiB cases)
# Needs node/npm and python3; installs ws into a temporary folder and websockets into
# target/attack-ws-venv (both from their registries, once).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
venv=$repo/target/attack-ws-venv
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q websockets; }
node_dir=${NODE_WS_DIR:-/tmp/attack-ws-node}
if [ ! -d "$node_dir/node_modules/ws" ]; then
    mkdir -p "$node_dir" && (cd "$node_dir" && npm init -y >/dev/null && npm install -q ws@8 >/dev/null)
fi
(cd "$repo" && cargo build --release -q -p stage08)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
"$repo/target/release/stage08" 18780 "$repo/www" --quiet >/dev/null 2>&1 & pids+=($!)
NODE_PATH=$node_dir/node_modules node "$here/echo_node.js" 18790 >/dev/null 2>&1 & pids+=($!)
"$venv/bin/python" "$here/echo_py.py" 18791 >/dev/null 2>&1 & pids+=($!)
sleep 2
cd "$here"
status=0
BIG=$([ "${1:-}" = --big ] && echo 1 || true) "$venv/bin/python" differential.py stage08=18780 node=18790 python=18791 || status=$?
"$venv/bin/python" random_diff.py 18780 18790 150 1 | tail -1
"$venv/bin/python" handshake.py stage08=18780 node=18790 python=18791
exit $status
