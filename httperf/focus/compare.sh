#!/usr/bin/env bash
# stage05 side by side with nginx (one worker, tuned): the numbers in book/src/stage05.md.
#
#   bash httperf/focus/compare.sh [ROUNDS] [CONNECTIONS]
#
# Needs nginx, wrk, strace, python3 (and perf, optional: server CPU and syscalls per request).
# Loopback only; every wrk run lasts 5 s; one load test at a time. The two servers take turns,
# ROUNDS times (default 3), and the medians and ratios are printed as a Markdown table. On a
# 2-core machine wrk shares the CPU with the server: compare ratios from one run, not numbers
# across runs.
#
# nginx runs from httperf/run's own template, httperf/conf/nginx.conf, filled in the way the
# harness fills it (one worker, sendfile off for the 1 KB file, `user www-data;` as root), with
# one change: worker_connections 16384 instead of 8192, so that it can hold idle.py's 10,000
# connections. Pipelining uses the harness's httperf/pipeline.lua.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
CONNS=${2:-50}
FOCUS=httperf/focus
DIR=$(mktemp -d /tmp/stage05-bench.XXXXXX)
NGINX_PORT=${NGINX_PORT:-28181} STAGE05_PORT=${STAGE05_PORT:-28182}
FILE=/notes.txt   # www/notes.txt: exactly 1024 bytes

for port in $NGINX_PORT $STAGE05_PORT; do
    if ss -ltnH "sport = :$port" | grep -q .; then
        echo "port $port is in use; set NGINX_PORT / STAGE05_PORT" >&2
        exit 1
    fi
done
cargo build --release --quiet -p stage05
# As httperf/run's user_line(): as root, nginx's worker drops to www-data.
USER_LINE=
if [ "$(id -u)" = 0 ]; then USER_LINE="user www-data;"; fi
# The HTTPS block (BEGIN TLS ... END TLS) is the harness's scenario 9; plain HTTP here, so it
# is left out, as httperf/run leaves it out for a server without a TLS port.
sed -e '/# BEGIN TLS/,/# END TLS/d' \
    -e "s#@WORKERS@#1#; s#@USER_LINE@#$USER_LINE#; s#@SENDFILE_SMALL@#off#; s#@SENDFILE_LARGE@#on#" \
    -e "s#@ROOT@#$PWD/www#; s#@PORT@#$NGINX_PORT#; s#@DIR@#$DIR#g" \
    -e "s#worker_connections 8192;#worker_connections 16384;#" \
    httperf/conf/nginx.conf >"$DIR/nginx.conf"
if grep -o '@[A-Z_]*@' "$DIR/nginx.conf" >&2 ||
    ! grep -q 'worker_connections 16384;' "$DIR/nginx.conf"; then
    echo "httperf/conf/nginx.conf changed: unfilled fields or no worker_connections 8192" >&2
    rm -rf "$DIR"
    exit 1
fi
nginx -p "$DIR" -e "$DIR/error.log" -c "$DIR/nginx.conf" -g 'daemon off;' &
target/release/stage05 --quiet --bind 127.0.0.1 --max-connections 10100 --idle-timeout 60 \
    "$STAGE05_PORT" www >"$DIR/stage05.out" &
sleep 0.5
# The processes that hold the listening sockets (`$!` may name a wrapper, not the server).
listeners() { ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u; }
STAGE05=$(listeners "$STAGE05_PORT")
NGINX_MASTER=$(cat "$DIR/nginx.pid" 2>/dev/null || true)
if [ -z "$STAGE05" ] || [ -z "$NGINX_MASTER" ]; then
    # httperf --hog, for one, takes local ports from the whole range while it runs.
    echo "a server did not start (a port taken?); set NGINX_PORT / STAGE05_PORT" >&2
    [ -n "$STAGE05" ] && kill "$STAGE05"
    [ -n "$NGINX_MASTER" ] && kill "$NGINX_MASTER"
    exit 1
fi
NGINX=$(pgrep -P "$NGINX_MASTER")   # the worker: the process that serves
trap 'kill $NGINX_MASTER $STAGE05 2>/dev/null; sleep 0.5; rm -rf "$DIR"' EXIT
declare -A PID=([nginx]=$NGINX [stage05]=$STAGE05)
declare -A PORT=([nginx]=$NGINX_PORT [stage05]=$STAGE05_PORT)

# One 5 s wrk run (one wrk thread, $CONNS connections) against $1 at pipeline depth $2; prints "req/s cpu_us/req syscalls/req".
run() {
    local name=$1 depth=$2 perf_out="$DIR/perf.txt" out reqs rps
    local script=()
    [ "$depth" -gt 1 ] && script=(-s httperf/pipeline.lua)
    local perf_job=
    if command -v perf >/dev/null; then
        perf stat -e raw_syscalls:sys_enter,task-clock -p "${PID[$name]}" -o "$perf_out" -- sleep 5.5 &
        perf_job=$!
    fi
    sleep 0.2
    out=$(wrk -t1 -c"$CONNS" -d5s "${script[@]}" "http://127.0.0.1:${PORT[$name]}$FILE" -- "$depth")
    [ -n "$perf_job" ] && wait "$perf_job"
    # wrk's own summary; pipeline.lua's extra "HARNESS requests=..." line matches neither pattern.
    reqs=$(awk '/ requests in / {print $1}' <<<"$out")
    rps=$(awk '/^Requests\/sec:/ {printf "%d", $2}' <<<"$out")
    if [ -s "$perf_out" ]; then
        awk -v reqs="$reqs" -v rps="$rps" '
            /sys_enter/ {gsub(",", "", $1); sys = $1}
            /task-clock/ {gsub(",", "", $1); cpu = $1}
            END {printf "%d %.2f %.2f\n", rps, cpu * 1000 / reqs, sys / reqs}' "$perf_out"
        rm -f "$perf_out"
    else
        echo "$rps - -"
    fi
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "wrk -t1 -c$CONNS -d5s, $ROUNDS rounds, servers alternating"
echo
echo "| workload | server | req/s (median of $ROUNDS) | server CPU µs/req | syscalls/req (perf) |"
echo "|---|---|---:|---:|---:|"
for depth in 1 16; do
    declare -A RPS=() CPU=() SYS=() MEDIAN=()
    for round in $(seq "$ROUNDS"); do
        for name in nginx stage05; do
            read -r rps cpu sys < <(run $name $depth)
            RPS[$name]+="$rps " CPU[$name]+="$cpu " SYS[$name]+="$sys "
            echo "round $round depth $depth $name: $rps req/s, $cpu µs/req, $sys syscalls/req" >&2
        done
    done
    workload=$([ $depth = 1 ] && echo "keep-alive, 1 KB" || echo "pipelined x16, 1 KB")
    for name in nginx stage05; do
        m_rps=$(tr ' ' '\n' <<<"${RPS[$name]}" | grep . | median)
        m_cpu=$(tr ' ' '\n' <<<"${CPU[$name]}" | grep . | median)
        m_sys=$(tr ' ' '\n' <<<"${SYS[$name]}" | grep . | median)
        MEDIAN[$name]=$m_rps
        echo "| $workload | $name | $m_rps | $m_cpu | $m_sys |"
    done
    echo "| $workload | **stage05 / nginx** | **$(echo "scale=2; ${MEDIAN[stage05]} / ${MEDIAN[nginx]}" | bc)x** | | |"
done

# Syscalls over a fixed number of requests (50,000 over 50 keep-alive connections).
[ -n "${SKIP_EXTRAS:-}" ] && exit 0
echo
for name in nginx stage05; do
    strace -c -f -p "${PID[$name]}" -o "$DIR/strace-$name.txt" &
    STRACE=$!
    sleep 0.5
    wrk -t1 -c50 -d20s -s $FOCUS/stop.lua "http://127.0.0.1:${PORT[$name]}$FILE" -- 50000 >/dev/null
    kill -INT $STRACE
    wait $STRACE || true
    calls=$(awk '$NF == "total" {print $4}' "$DIR/strace-$name.txt")
    echo "strace -c, $name: $calls syscalls for 50,000 requests = $(echo "scale=2; $calls / 50000" | bc) per request"
    grep -E "^ +[0-9]" "$DIR/strace-$name.txt" | sort -k4 -nr | head -6 | sed 's/^/    /'
done

echo
for name in nginx stage05; do
    echo -n "$name: "
    python3 $FOCUS/idle.py "${PORT[$name]}" "${PID[$name]}" 10000
done
