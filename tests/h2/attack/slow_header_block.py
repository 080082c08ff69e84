#!/usr/bin/env python3
"""Slowloris over HTTP/2: header blocks that never end, dripped one byte per CONTINUATION.

HTTP/1.1 bounds a request head in time (--header-timeout, 408) and size (16 KiB). Over h2 a
HEADERS frame without END_HEADERS, followed by a 1-byte CONTINUATION every few seconds (less
than the idle timeout), keeps a connection and its buffered block (up to MAX_HEADER_BLOCK,
64 KiB) as long as the client likes. N connections each hold about 60 KiB: RSS grows by
N x 60 KiB and stays there while the drip goes on.

    slow_header_block.py --port PLAIN --pid PID [--connections 200] [--seconds 24] [--every 3]
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
ap.add_argument("--connections", type=int, default=200)
ap.add_argument("--seconds", type=float, default=24)
ap.add_argument("--every", type=float, default=3)
ap.add_argument("--header-timeout", type=float, default=10, help="the server's --header-timeout")
a = ap.parse_args()

before = rss_kib(a.pid)
conns = []
# Literals of 100-byte values: 600 of them are ~62 KiB of block, under the 64 KiB bound.
pad = b"".join(literal("x-pad%03d" % i, "v" * 90) for i in range(600))
for _ in range(a.connections):
    c = Conn(a.port, timeout=5)
    start = b"".join(literal(n, v) for n, v in request_fields("GET", "/notes.txt", "localhost", "http"))
    block = start + pad
    c.send(frame(HEADERS, END_STREAM, 1, block[:16000]) + frame(CONTINUATION, 0, 1, block[16000:32000]) +
           frame(CONTINUATION, 0, 1, block[32000:48000]) + frame(CONTINUATION, 0, 1, block[48000:-1]))
    c.rest = block[-1:]
    conns.append(c)
time.sleep(1)
holding = rss_kib(a.pid)
t0 = time.monotonic()
while time.monotonic() - t0 < a.seconds:
    time.sleep(a.every)
    for c in conns:
        c.send(frame(CONTINUATION, 0, 1, b""))  # an empty CONTINUATION is enough to look alive
alive = 0
for c in conns:
    f = c.next_frame(0)
    while f is not None and f.kind != GOAWAY:
        f = c.next_frame(0)
    alive += not c.closed and f is None
after = rss_kib(a.pid)
print("%d connections holding a ~62 KiB header block; after %.0f s (header timeout %.0f s) %d still open; "
      "RSS %d -> %d KiB while holding, %d KiB at the end (+%d KiB, %.0f KiB a connection)" % (
          a.connections, a.seconds, a.header_timeout, alive, before, holding, after, after - before,
          (after - before) / a.connections))
ok = alive == 0
print("%d passed, %d failed" % (ok, not ok))
for c in conns:
    c.close()
sys.exit(0 if ok else 1)
