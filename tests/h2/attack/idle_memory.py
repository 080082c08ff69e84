#!/usr/bin/env python3
"""RSS of N idle HTTP/2 connections (preface, SETTINGS exchanged, one small request served).

    idle_memory.py --port PLAIN --pid PID [--connections 1000] [--tls]
"""

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from h2raw import *  # noqa: E402,F401,F403

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--pid", type=int, required=True)
ap.add_argument("--connections", type=int, default=1000)
ap.add_argument("--tls", action="store_true")
a = ap.parse_args()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.connections + 100), hard))
before = rss_kib(a.pid)
conns = []
for i in range(a.connections):
    c = Conn(a.port, a.tls, timeout=5)
    c.get(1, "/notes.txt")
    r = c.response(1)
    assert r and r[0] == 200, r
    conns.append(c)
time.sleep(0.5)
after = rss_kib(a.pid)
print("%d idle h2 connections%s: RSS %d -> %d KiB (+%.2f KiB a connection)" % (
    a.connections, " over TLS" if a.tls else "", before, after, (after - before) / a.connections))
for c in conns:
    c.close()
