#!/usr/bin/env bash
# System calls per delivered chat message: 20 members in one room, one of them sends 100
# messages (under the flood rule), so the server delivers 2000; strace -c counts the calls
# of every server thread while that happens.
#   tests/websocket/attack/fanout_syscalls.sh [STAGE08_BINARY]
# Measured (11:35, branch attack-ws at 21db41e): 1989 sendto (one socket write a delivery)
# and 2150 write (the hub waking the loop's eventfd once per delivery, Handle::send_to).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../../target/release/stage08}
py=${PYTHON:-$here/../../../target/attack-ws-venv/bin/python}
port=18580
"$bin" $port "$here/../../../www" --quiet >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
rm -f /tmp/fanout-go
"$py" "$here/fanout.py" $port /tmp/fanout-go > /tmp/fanout.out 2>&1 &
client=$!
while [ ! -f /tmp/fanout-go ]; do sleep 0.1; done
timeout 14 strace -c -f -p $server -o /tmp/fanout-strace.txt || true
wait $client
cat /tmp/fanout.out
head -12 /tmp/fanout-strace.txt
