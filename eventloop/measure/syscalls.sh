#!/usr/bin/env bash
# System calls per keep-alive request, and TLS keep-alive throughput, for the loop chapter
# ("From a program to a library"). Loopback only, bounded: 20,000 requests per server under
# strace, and two short wrk runs.
#
#   bash eventloop/measure/syscalls.sh [OLD_STAGE06]
#
# For each server: start it on a scratch folder holding a 1 KB file, attach `strace -c -f`,
# run `httperf --num-conns 10 --num-calls 2000` (`--ssl` for stage06), detach, and divide the
# calls strace counted by the 20,000 requests. Servers: stage05 (its own loop, `polling`),
# eventloop's plain example (the library's loop, TCP), stage06 (the library's loop, TLS), and
# OLD_STAGE06 when given (a stage06 binary built from before the library, e.g. from `main`).
# Then, with OLD_STAGE06, wrk over TLS as httperf/run's scenario 9 does (one thread, 50
# connections, the 1 KB file), the old binary and the new one taking turns (ROUNDS, default 5).
# Needs httperf, strace and wrk (apt-get install httperf strace wrk).
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD=${1:-}
REQUESTS=20000
WRK_SECS=${WRK_SECS:-4}

cargo build --release -q -p stage05 -p stage06
cargo build --release -q -p eventloop --example plain

ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
head -c 1024 /dev/urandom >"$ROOT/1k.bin"

# start NAME BINARY: runs it on a free port; sets PID and PORT.
start() {
    "$2" 0 "$ROOT" --quiet >"$ROOT/$1.out" 2>"$ROOT/$1.err" &
    PID=$!
    for _ in $(seq 100); do
        PORT=$(grep -o 'localhost:[0-9]*' "$ROOT/$1.out" | head -1 | cut -d: -f2 || true)
        [ -n "$PORT" ] && return
        sleep 0.05
    done
    echo "$1 did not start: $(cat "$ROOT/$1.err")" >&2
    exit 1
}

# syscalls NAME BINARY [--ssl]
syscalls() {
    start "$1" "$2"
    strace -c -f -p "$PID" -o "$ROOT/strace-$1.txt" &
    local tracer=$!
    sleep 0.5
    httperf --server 127.0.0.1 --port "$PORT" --uri /1k.bin --num-conns 10 --num-calls 2000 \
        ${3:-} >"$ROOT/httperf-$1.txt" 2>&1
    kill -INT "$tracer"
    wait "$tracer" || true
    kill -TERM "$PID"
    wait "$PID" || true
    local replies calls
    replies=$(grep -o 'Reply status: 1xx=[0-9]* 2xx=[0-9]*' "$ROOT/httperf-$1.txt" | grep -o '[0-9]*$')
    calls=$(awk '$NF == "total" {print $4}' "$ROOT/strace-$1.txt")
    echo "$1: $calls system calls for $replies replies (of $REQUESTS) = $(echo "scale=2; $calls / $REQUESTS" | bc) per request"
    grep -E '^ +[0-9]' "$ROOT/strace-$1.txt" | sort -k4 -nr | head -6 | sed 's/^/    /'
}

syscalls stage05 target/release/stage05
syscalls eventloop-plain target/release/examples/plain
syscalls stage06 target/release/stage06 --ssl
[ -n "$OLD" ] || exit 0
syscalls stage06-old "$OLD" --ssl

# wrk NAME BINARY: TLS keep-alive throughput, scenario 9's command, and the server's CPU time
# per request (utime + stime from /proc, in clock ticks): on a shared machine the rate swings
# with everyone else's load, the CPU a request costs much less.
wrk_tls() {
    start "$1" "$2"
    wrk -t 1 -c 50 -d "${WRK_SECS}s" --timeout 5s "https://127.0.0.1:$PORT/1k.bin" >"$ROOT/wrk-$1.txt"
    local ticks requests
    ticks=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    kill -TERM "$PID"
    wait "$PID" || true
    requests=$(awk '/requests in/ {print $1}' "$ROOT/wrk-$1.txt")
    echo "$1: $(grep 'Requests/sec' "$ROOT/wrk-$1.txt" | tr -s ' '), server CPU" \
        "$(echo "scale=1; $ticks * 1000000 / $(getconf CLK_TCK) / $requests" | bc) us per request"
}
for round in $(seq "${ROUNDS:-5}"); do
    echo "wrk round $round"
    wrk_tls stage06-old "$OLD"
    wrk_tls stage06 target/release/stage06
done
