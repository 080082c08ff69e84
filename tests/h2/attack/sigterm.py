#!/usr/bin/env python3
"""SIGTERM during an HTTP/2 download: the two-step GOAWAY, the open stream finishes, and the
server exits within --grace.

Starts its own stage07 (cleartext port, --grace G) on a root with a 10 MiB file, so the signal
can go to a server nobody else uses:

    sigterm.py --binary target/release/stage07 --root DIR --big /big.bin [--grace 3]

Case 1: a download in flight (stalled on the first 64 KiB window); SIGTERM, then the windows open; expect GOAWAY
(2^31-1, NO_ERROR) and a PING; we answer the PING; expect the final GOAWAY naming stream 1;
the whole file arrives; the server closes; the process exits 0 within the grace.
Case 2: a client that stops reading mid-download; SIGTERM; the process exits (code 1) once
the grace is over, not later.
"""

import argparse
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from h2raw import *  # noqa: E402,F401,F403


def start(a, grace):
    p = subprocess.Popen([a.binary, "0", a.root, "--plain-port", "0", "--quiet", "--grace", str(grace),
                          "--bind", "127.0.0.1"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in p.stderr:
        m = re.search(r"cleartext at http://[^:]+:(\d+)/", line)
        if m:
            # stderr is read to its end by a thread, so the server never blocks on it; the exit's
            # time is noted when it comes.
            p.exited_at = None

            def wait():
                for _ in p.stderr:
                    pass
                p.wait()
                p.exited_at = time.monotonic()
            threading.Thread(target=wait, daemon=True).start()
            return p, int(m.group(1))
    raise RuntimeError("no cleartext port")


def exit_after(p, t0, limit):
    """The exit code and seconds from t0 to the exit (None, None if still running at t0+limit)."""
    while p.exited_at is None and time.monotonic() - t0 < limit:
        time.sleep(0.05)
    if p.exited_at is None:
        p.kill()
        return "still running", None
    return p.returncode, p.exited_at - t0


def case1(a):
    # A grace long enough for this Python reader to take 10 MiB.
    grace = a.grace * 4
    p, port = start(a, grace)
    c = Conn(port, timeout=5)
    c.auto_ping = False
    c.send(c.headers(1, request_fields("GET", a.big, "localhost", "http"), end_stream=True))
    body = bytearray()
    while len(body) < 65535:
        f = c.until(lambda f: f.kind == DATA)
        body += f.payload
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    events = []
    final = None
    # The rest of the file may come now: open both windows wide.
    c.send(window_update(0, 2**30) + window_update(1, 2**30))
    while True:
        f = c.next_frame(5)
        if os.environ.get("DEBUG"):
            print("   ", f, len(body), file=sys.stderr)
        if f is None:
            break
        if f.kind == DATA:
            body += f.payload
            if f.flags & END_STREAM:
                events.append("END_STREAM after %d bytes" % len(body))
        elif f.kind == RST_STREAM:
            events.append("RST_STREAM(%s) after %d bytes" % (code_name(f.code), len(body)))
        elif f.kind == GOAWAY:
            events.append("GOAWAY(last=%d,%s)" % (f.last_stream, code_name(f.code)))
            final = f.last_stream if f.last_stream != 0x7FFFFFFF else final
        elif f.kind == PING and not f.flags & ACK:
            events.append("PING")
            c.send(ping(f.payload, ack=True))
    closed = c.closed
    code, took = exit_after(p, t0, grace + 5)
    want = hashlib.sha256(open(os.path.join(a.root, a.big.lstrip("/")), "rb").read()).hexdigest()
    whole = hashlib.sha256(body).hexdigest() == want
    ok = whole and closed and code == 0 and final == 1 and events[:2] == ["GOAWAY(last=2147483647,NO_ERROR)", "PING"]
    print("sigterm_download   %s -- %s; body whole=%s (%d bytes); closed=%s; exit %s after %s s (grace %s)" % (
        "ok" if ok else "FAIL", " ".join(events), whole, len(body), closed, code, took and round(took, 1), grace))
    return ok


def case2(a):
    p, port = start(a, a.grace)
    c = Conn(port, timeout=5, settings_pairs=[(S_INITIAL_WINDOW_SIZE, 2**31 - 1)], rcvbuf=4096)
    c.send(window_update(0, 2**31 - 1 - 65535))
    c.send(c.headers(1, request_fields("GET", a.big, "localhost", "http"), end_stream=True))
    c.until(lambda f: f.kind == DATA)
    # Stop reading: the server's socket fills.
    time.sleep(0.5)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    code, took = exit_after(p, t0, a.grace + 10)
    ok = code == 1 and took is not None and took < a.grace + 2
    print("sigterm_stuck      %s -- a client that stopped reading: exit %s after %s s (grace %s)" % (
        "ok" if ok else "FAIL", code, took and round(took, 1), a.grace))
    c.close()
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/stage07")
    ap.add_argument("--root", required=True)
    ap.add_argument("--big", default="/big.bin")
    ap.add_argument("--grace", type=int, default=3)
    a = ap.parse_args()
    results = [case1(a), case2(a)]
    print("%d passed, %d failed" % (sum(results), len(results) - sum(results)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
