#!/usr/bin/env python3
"""Descriptor exhaustion through HTTP/2 streams: each stream of a file holds the file open
while its window is shut, so K connections x 100 streams need K x 100 descriptors. Against a
server started with a low limit (ulimit -n 256), the streams past the limit must get an
answer (503 or a reset), the server must go on, and a client must be served once the send
timeout has closed the stuck connections.

    fd_exhaustion.py --port PLAIN --pid PID [--connections 4] [--send-timeout 5]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from h2raw import *  # noqa: E402,F401,F403

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--pid", type=int, required=True)
ap.add_argument("--connections", type=int, default=4)
ap.add_argument("--big", default="/big.bin")
ap.add_argument("--send-timeout", type=float, default=5)
a = ap.parse_args()
conns, stat = [], {}
refused_at = None
for k in range(a.connections):
    try:
        c = Conn(a.port, settings_pairs=[(S_INITIAL_WINDOW_SIZE, 0)], timeout=3)
    except RuntimeError:
        # Not accepted: the server ran out of descriptors and paused accepting (its backlog
        # holds us); the send timeout frees the stuck ones.
        refused_at = k
        break
    c.send(b"".join(c.headers(1 + 2 * i, request_fields("GET", a.big, "localhost", "http")) for i in range(100)))
    conns.append(c)
for c in conns:
    n, t0 = 0, time.monotonic()
    while n < 100 and time.monotonic() - t0 < 5:
        f = c.next_frame(2)
        if f is None:
            break
        if f.kind == HEADERS and f.fields:
            s = dict(f.fields)[":status"]
            stat[s] = stat.get(s, 0) + 1
            n += 1
        elif f.kind in (RST_STREAM, GOAWAY):
            k = "%s %s" % (NAMES[f.kind], code_name(f.code))
            stat[k] = stat.get(k, 0) + 1
            n += 1
fds = len(os.listdir("/proc/%d/fd" % a.pid))
t0 = time.monotonic()
c3 = Conn(a.port, timeout=a.send_timeout + 10)
c3.get(1, "/notes.txt")
r = c3.response(1)
after = r and r[0]
alive = os.path.exists("/proc/%d" % a.pid)
waited = time.monotonic() - t0
print("%d connections x 100 streams of %s held by zero windows: answers %r; connection %s not accepted; "
      "server fds %d; a new client served %s after %.1f s (send timeout %.0f s); server alive: %s" % (
          len(conns), a.big, stat, refused_at, fds, after, waited, a.send_timeout, alive))
ok = alive and after == 200 and sum(stat.values()) == 100 * len(conns)
print("%d passed, %d failed" % (ok, not ok))
sys.exit(0 if ok else 1)
