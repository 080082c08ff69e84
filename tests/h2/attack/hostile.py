#!/usr/bin/env python3
"""Hostile HTTP/2 clients against one server, each bounded in count and time.

For every attack: what the server answered (the GOAWAY or RST_STREAM code, or a close), its
RSS before and after (from /proc/PID/status, when --pid is given), and whether a second
client is served a small file while (or right after) the attack runs. Loopback only.

    hostile.py --port N [--tls] --pid PID [--small /notes.txt] [--big /big.bin] [--only NAME] [--send-timeout S]

Each attack prints one line: NAME verdict -- detail. The verdict is `ok` when the server
defended itself as the attack's comment says, `FAIL` otherwise; the exit status is 1 if any
attack failed.
"""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from h2raw import *  # noqa: E402,F401,F403

ATTACKS = []


def attack(fn):
    ATTACKS.append(fn)
    return fn


def second_client_ok():
    """A fresh connection gets the small file (status 200) within 5 s."""
    try:
        c = Conn(ARGS.port, ARGS.tls, timeout=5)
        c.get(1, ARGS.small, authority="localhost")
        r = c.response(1, timeout=5)
        c.close()
        return bool(r) and r[0] == 200
    except Exception:
        return False


def rss():
    return rss_kib(ARGS.pid) if ARGS.pid else None


def goaway_seen(c):
    """Reads what has come (without waiting): the GOAWAY frame if one is among it."""
    while True:
        f = c.next_frame(0)
        if f is None:
            return None
        if f.kind == GOAWAY:
            return f


def block_with(c, fields):
    return c.encoder.encode(fields)


def req_fields(c, path, method="GET", extra=()):
    return request_fields(method, path, "localhost", c.scheme, extra)


# Each attack returns (verdict, detail). --------------------------------------------------

@attack
def rapid_reset(n=20000):
    """CVE-2023-44487: HEADERS then RST_STREAM, back to back. Expected: GOAWAY ENHANCE_YOUR_CALM."""
    c = Conn(ARGS.port, ARGS.tls)
    c.auto_ping = False
    batch = b""
    sent = 0
    for i in range(n):
        sid = 1 + 2 * i
        batch += c.headers(sid, req_fields(c, ARGS.big), end_stream=True) + rst_stream(sid, CANCEL)
        if len(batch) > 32768:
            if not c.send(batch):
                break
            sent = i + 1
            batch = b""
            g = goaway_seen(c)
            if g is not None:
                return ("ok" if g.code == ENHANCE_YOUR_CALM else "FAIL"), "GOAWAY %s after %d pairs sent, last stream %d" % (
                    code_name(g.code), sent, g.last_stream)
    got = c.connection_error(timeout=5)
    return ("ok" if got == "ENHANCE_YOUR_CALM" else "FAIL"), "after %d pairs sent: %s" % (sent, got)


@attack
def rapid_reset_interleaved(n=5000):
    """Rapid reset with one cheap finished request (HEAD) between resets, 40 pairs per write
    and their HEAD answers read before the next write (so no more than 80 streams are ever
    open): half the streams are reset. Expected: still seen as an attack at some bound."""
    c = Conn(ARGS.port, ARGS.tls)
    sent = 0
    t0 = time.monotonic()
    for batch_start in range(0, n, 40):
        batch = b""
        heads = []
        for i in range(batch_start, batch_start + 40):
            sid = 1 + 4 * i
            # The HEAD first: when a reset is counted, the streams opened are twice the resets.
            batch += c.headers(sid, req_fields(c, ARGS.small, method="HEAD"), end_stream=True)
            batch += c.headers(sid + 2, req_fields(c, ARGS.big), end_stream=True) + rst_stream(sid + 2, CANCEL)
            heads.append(sid)
        if not c.send(batch):
            break
        sent = batch_start + 40
        last = heads[-1]
        f = c.until(lambda f: f.kind == GOAWAY or (f.stream == last and f.flags & END_STREAM), timeout=5)
        if f is None or f.kind == GOAWAY:
            verdict = "ok" if f is not None and f.code == ENHANCE_YOUR_CALM else "FAIL"
            return verdict, "%r after %d reset+HEAD pairs" % (f, sent)
    return "FAIL", "%d resets (each a GET of the big file, opened and cancelled) in %.1f s, no GOAWAY" % (
        sent, time.monotonic() - t0)


@attack
def continuation_flood():
    """HEADERS without END_HEADERS, then 16 KiB CONTINUATIONs. Expected: GOAWAY ENHANCE_YOUR_CALM
    (or a connection error) within a bounded number of bytes, and flat RSS."""
    before = rss()
    c = Conn(ARGS.port, ARGS.tls)
    c.send(frame(HEADERS, END_STREAM, 1, block_with(c, req_fields(c, ARGS.small))))
    sent = 0
    chunk = frame(CONTINUATION, 0, 1, literal("x-a", "b" * 16000)[:16384])
    while sent < 64 * 1024 * 1024:
        if not c.send(chunk * 16):
            break
        sent += len(chunk) * 16
        f = c.next_frame(0)
        if f is not None and f.kind == GOAWAY:
            return "ok", "GOAWAY %s after %d KiB; RSS %s -> %s KiB" % (code_name(f.code), sent // 1024, before, rss())
    got = c.connection_error(timeout=3)
    ok = got not in (None,)
    return ("ok" if ok else "FAIL"), "after %d KiB: %s; RSS %s -> %s KiB" % (sent // 1024, got, before, rss())


@attack
def continuation_empty_flood():
    """HEADERS without END_HEADERS, then empty CONTINUATIONs forever. Expected: GOAWAY."""
    c = Conn(ARGS.port, ARGS.tls)
    c.send(frame(HEADERS, END_STREAM, 1, block_with(c, req_fields(c, ARGS.small))))
    sent = 0
    for _ in range(200):
        if not c.send(frame(CONTINUATION, 0, 1) * 1000):
            break
        sent += 1000
    got = c.connection_error(timeout=3)
    return ("ok" if got not in (None,) else "FAIL"), "after %d empty CONTINUATIONs: %s" % (sent, got)


@attack
def hpack_bomb(streams=200):
    """One ~4 KB entry in the dynamic table, then blocks of 1-byte references to it: each block
    decodes to megabytes. Expected: 431 (or a reset) per stream, flat RSS, server responsive."""
    before = rss()
    c = Conn(ARGS.port, ARGS.tls)
    # Literal with incremental indexing: name x-bb, a value that nearly fills the 4096 table.
    vlen = 4096 - 32 - 4 - 100
    value = b"v" * vlen
    n = vlen - 127
    vint = bytes([0x7f, 0x80 | (n & 0x7f), n >> 7])
    big = b"\x40\x04x-bb" + vint + value
    refs = b"\xbe" * 12000  # index 62: the newest dynamic entry
    statuses = {}
    start = time.monotonic()
    for i in range(streams):
        sid = 1 + 2 * i
        blk = (big if i == 0 else b"") + bytes([0x82, 0x86 if c.scheme == "http" else 0x87, 0x84]) + \
            literal(":authority", "localhost") + refs
        if not c.send(frame(HEADERS, END_STREAM | END_HEADERS, sid, blk)):
            break
        r = c.response(sid, timeout=5)
        key = r[0] if r else None
        if key == "RST":
            key = "RST " + r[1]
        statuses[key] = statuses.get(key, 0) + 1
        if r is None:
            break
    took = time.monotonic() - start
    ok = None not in statuses and 200 not in statuses
    return ("ok" if ok else "FAIL"), "%d blocks of 12000 refs to a 3.9 KB entry in %.1f s: %r; RSS %s -> %s KiB" % (
        sum(statuses.values()), took, statuses, before, rss())


def flood(kind, make, n=200000):
    before = rss()
    c = Conn(ARGS.port, ARGS.tls, rcvbuf=4096)
    c.auto_ping = False
    one = make()
    sent = 0
    c.sock.settimeout(2)
    # Never read: the replies pile up on the server's side.
    batch = one * 1000
    t0 = time.monotonic()
    while sent < n and time.monotonic() - t0 < 20:
        try:
            c.sock.sendall(batch)
        except (socket.timeout, OSError):
            break
        sent += 1000
    during = rss()
    ok2 = second_client_ok()
    got = c.connection_error(timeout=5)
    # Bounded either way: GOAWAY ENHANCE_YOUR_CALM, or the server stops reading a client whose
    # replies are stuck (TCP back-pressure) and the idle or send timeout ends it later.
    grew = (rss() or 0) - (before or 0)
    verdict = "ok" if ok2 and grew < 16 * 1024 else "FAIL"
    if got is None:
        got = "no GOAWAY yet; our sends blocked (the server stopped reading)"
    return verdict, "%s x%d sent without reading: %s; second client %s; RSS %s -> %s -> %s KiB" % (
        kind, sent, got, "served" if ok2 else "NOT served", before, during, rss())


@attack
def ping_flood():
    """PINGs from a client that never reads. Expected: bounded replies, GOAWAY or back-pressure."""
    return flood("PING", lambda: ping(b"flooding"))


@attack
def settings_flood():
    """SETTINGS from a client that never reads. Expected: as the PING flood."""
    return flood("SETTINGS", lambda: settings((S_MAX_CONCURRENT_STREAMS, 100)))


@attack
def huge_settings():
    """A 16 KiB SETTINGS frame of 2730 pairs, 2000 times. Expected: no harm (ACKed), or GOAWAY."""
    before = rss()
    c = Conn(ARGS.port, ARGS.tls)
    pairs = [(S_INITIAL_WINDOW_SIZE, 65535 - (i % 7)) for i in range(2730)]
    one = settings(*pairs)
    acks = 0
    for _ in range(2000):
        if not c.send(one):
            break
        while True:
            f = c.next_frame(0)
            if f is None:
                break
            if f.kind == SETTINGS and f.flags & ACK:
                acks += 1
    c.send(ping(b"afterset"))
    f = c.until(lambda f: (f.kind == PING and f.flags & ACK) or f.kind == GOAWAY, timeout=10)
    ok2 = second_client_ok()
    return ("ok" if ok2 else "FAIL"), "2000 x 16 KiB SETTINGS: %d ACKs read, then %r; second client %s; RSS %s -> %s KiB" % (
        acks, f, "served" if ok2 else "NOT served", before, rss())


@attack
def empty_data_flood():
    """Empty DATA frames without END_STREAM on an open stream. Expected: GOAWAY ENHANCE_YOUR_CALM."""
    c = Conn(ARGS.port, ARGS.tls)
    c.send(c.headers(1, req_fields(c, ARGS.small, method="POST"), end_stream=False))
    sent = 0
    for _ in range(100):
        if not c.send(frame(DATA, 0, 1) * 100):
            break
        sent += 100
        g = goaway_seen(c)
        if g is not None:
            return ("ok" if g.code == ENHANCE_YOUR_CALM else "FAIL"), "GOAWAY %s after %d empty DATA" % (code_name(g.code), sent)
    got = c.connection_error(timeout=3)
    return ("ok" if got == "ENHANCE_YOUR_CALM" else "FAIL"), "%d empty DATA: %s" % (sent, got)


@attack
def empty_data_flood_refreshed():
    """Empty DATA flood, with a refused (malformed) HEADERS every 100 frames to reset the counter.
    Expected: still stopped at some bound."""
    c = Conn(ARGS.port, ARGS.tls)
    c.send(c.headers(1, req_fields(c, ARGS.small, method="POST"), end_stream=False))
    sent = 0
    sid = 3
    t0 = time.monotonic()
    while sent < 200000 and time.monotonic() - t0 < 15:
        batch = frame(DATA, 0, 1) * 100 + frame(HEADERS, END_HEADERS | END_STREAM, sid, literal(":bogus", "x"))
        sid += 2
        if not c.send(batch * 10):
            break
        sent += 1000
        while True:
            f = c.next_frame(0)
            if f is None:
                break
            if f.kind == GOAWAY:
                return "ok", "GOAWAY %s after %d empty DATA" % (code_name(f.code), sent)
    got = c.connection_error(timeout=2)
    return ("ok" if got in ("ENHANCE_YOUR_CALM", "closed") else "FAIL"), "%d empty DATA (counter refreshed by %d malformed HEADERS): %s" % (sent, (sid - 3) // 2, got)


@attack
def window_update_overflow():
    """WINDOW_UPDATE past 2^31-1 on the connection and on a stream."""
    c = Conn(ARGS.port, ARGS.tls)
    c.send(c.headers(1, req_fields(c, ARGS.big, method="GET"), end_stream=True))
    # Two, as h2spec does: one alone fits if the first 64 KiB already went (window 0).
    c.send(window_update(1, 2**31 - 1) * 2)
    s = c.stream_error(1)
    c2 = Conn(ARGS.port, ARGS.tls)
    c2.send(window_update(0, 2**31 - 1) * 2)
    g = c2.connection_error()
    ok = s in ("FLOW_CONTROL_ERROR", "GOAWAY:FLOW_CONTROL_ERROR") and g == "FLOW_CONTROL_ERROR"
    return ("ok" if ok else "FAIL"), "stream: %s, connection: %s" % (s, g)


@attack
def zero_window_never_opens():
    """INITIAL_WINDOW_SIZE 0 and a big file, then silence. Expected: closed after the send
    timeout (+ slack), a second client served meanwhile."""
    c = Conn(ARGS.port, ARGS.tls, settings_pairs=[(S_INITIAL_WINDOW_SIZE, 0)], timeout=ARGS.send_timeout + 30)
    c.send(c.headers(1, req_fields(c, ARGS.big), end_stream=True))
    t0 = time.monotonic()
    ok2 = second_client_ok()
    while not c.closed and time.monotonic() - t0 < ARGS.send_timeout + 30:
        f = c.next_frame(1)
        if f is not None and f.kind == DATA and len(f.payload):
            return "FAIL", "DATA through a zero window: %r" % f
    took = time.monotonic() - t0
    ok = c.closed and took < ARGS.send_timeout + 15 and ok2
    return ("ok" if ok else "FAIL"), "closed=%s after %.1f s (send timeout %s s); second client %s" % (
        c.closed, took, ARGS.send_timeout, "served" if ok2 else "NOT served")


@attack
def window_zero_then_raised():
    """INITIAL_WINDOW_SIZE 0, request, then raise it to 65535 by SETTINGS: the body must flow."""
    c = Conn(ARGS.port, ARGS.tls, settings_pairs=[(S_INITIAL_WINDOW_SIZE, 0)])
    c.send(c.headers(1, req_fields(c, ARGS.small), end_stream=True))
    c.until(lambda f: f.kind == HEADERS and f.stream == 1)
    c.send(settings((S_INITIAL_WINDOW_SIZE, 65535)))
    body = b""
    while True:
        f = c.until(lambda f: f.kind in (DATA, RST_STREAM, GOAWAY))
        if f is None or f.kind != DATA:
            return "FAIL", "no body after raising the window: %r (%d bytes)" % (f, len(body))
        body += f.payload
        if f.flags & END_STREAM:
            return "ok", "%d bytes after the window was raised" % len(body)


@attack
def stream_id_exhaustion():
    """HEADERS on stream 2^31-1. Expected: answered, then GOAWAY NO_ERROR (no more ids), close."""
    c = Conn(ARGS.port, ARGS.tls)
    sid = 2**31 - 1
    c.send(c.headers(sid, req_fields(c, ARGS.small), end_stream=True))
    r = c.response(sid)
    # The GOAWAY may come before the response (it is queued when the stream opens).
    seen = [f for f in c.frames if f.kind == GOAWAY]
    g = code_name(seen[0].code) if seen else c.connection_error(timeout=5)
    ok = r is not None and r[0] == 200 and g == "NO_ERROR"
    return ("ok" if ok else "FAIL"), "response %r, then %s" % (r and r[0], g)


@attack
def dripped_request():
    """The preface, SETTINGS and a request, one byte per write. Expected: a 200."""
    c = Conn(ARGS.port, ARGS.tls, preface=False, timeout=10)
    data = PREFACE + settings() + c.headers(1, req_fields(c, ARGS.small), end_stream=True)
    for i in range(len(data)):
        c.send(data[i:i + 1])
        time.sleep(0.002)
    r = c.response(1, timeout=10)
    return ("ok" if r and r[0] == 200 else "FAIL"), "response %r" % ((r and (r[0], len(r[2]))),)


@attack
def close_mid_response():
    """Ask for the big file and close after the first DATA, 20 times. Expected: server fine."""
    for _ in range(20):
        c = Conn(ARGS.port, ARGS.tls)
        c.send(c.headers(1, req_fields(c, ARGS.big), end_stream=True))
        c.until(lambda f: f.kind == DATA)
        c.close()
    ok2 = second_client_ok()
    return ("ok" if ok2 else "FAIL"), "second client %s" % ("served" if ok2 else "NOT served")


@attack
def reset_mid_download():
    """RST_STREAM in the middle of the big file; then the same connection serves a small one."""
    c = Conn(ARGS.port, ARGS.tls)
    c.send(window_update(0, 2**30))
    c.send(c.headers(1, req_fields(c, ARGS.big), end_stream=True))
    got = 0
    while got < 40000:
        f = c.until(lambda f: f.kind == DATA and f.stream == 1)
        if f is None:
            return "FAIL", "no DATA"
        got += len(f.payload)
    c.send(rst_stream(1, CANCEL))
    c.send(c.headers(3, req_fields(c, ARGS.small), end_stream=True))
    r = c.response(3)
    return ("ok" if r and r[0] == 200 else "FAIL"), "after %d bytes, reset; stream 3: %r" % (got, r and r[0])


@attack
def refused_stream_101():
    """101 streams that stay open (no END_STREAM). Expected: REFUSED_STREAM on the 101st."""
    c = Conn(ARGS.port, ARGS.tls)
    out = b""
    for i in range(101):
        out += c.headers(1 + 2 * i, req_fields(c, ARGS.small, method="POST"), end_stream=False)
    c.send(out)
    got = c.stream_error(201)
    return ("ok" if got == "REFUSED_STREAM" else "FAIL"), "stream 201: %s" % got


@attack
def many_big_streams():
    """100 concurrent requests for the big file, windows wide open, read slowly.
    Expected: RSS bounded (no whole body in memory)."""
    before = rss()
    c = Conn(ARGS.port, ARGS.tls, settings_pairs=[(S_INITIAL_WINDOW_SIZE, 2**31 - 1)], rcvbuf=65536)
    c.send(window_update(0, 2**31 - 1 - 65535))
    out = b""
    for i in range(100):
        out += c.headers(1 + 2 * i, req_fields(c, ARGS.big), end_stream=True)
    c.send(out)
    peak = before or 0
    t0 = time.monotonic()
    got = 0
    ended = 0
    while time.monotonic() - t0 < 20 and ended < 100:
        f = c.next_frame(2)
        if f is None:
            break
        if f.kind == DATA:
            got += len(f.payload)
            ended += bool(f.flags & END_STREAM)
        if got % (1 << 20) < 16384:
            r = rss()
            peak = max(peak, r or 0)
            time.sleep(0.01)
    c.close()
    return "ok" if ARGS.pid is None or peak - (before or 0) < 64 * 1024 else "FAIL", \
        "%d MiB read, %d streams ended in 20 s; RSS %s KiB, peak %s KiB" % (got >> 20, ended, before, peak)


@attack
def fairness_small_after_big():
    """A big download and a small file asked just after it on one connection: the small one ends first."""
    c = Conn(ARGS.port, ARGS.tls, settings_pairs=[(S_INITIAL_WINDOW_SIZE, 2**31 - 1)])
    c.send(window_update(0, 2**31 - 1 - 65535))
    c.send(c.headers(1, req_fields(c, ARGS.big), end_stream=True) + c.headers(3, req_fields(c, ARGS.small), end_stream=True))
    order = []
    while len(order) < 2:
        f = c.until(lambda f: f.kind in (DATA, HEADERS) and f.flags & END_STREAM, timeout=30)
        if f is None:
            break
        order.append(f.stream)
    return ("ok" if order[:1] == [3] else "FAIL"), "streams ended in order %r" % order


@attack
def goaway_then_ping():
    """h2spec 7/1's shape: the client sends GOAWAY, then a PING. Expected: the PING is answered."""
    c = Conn(ARGS.port, ARGS.tls)
    c.send(goaway(0, NO_ERROR))
    time.sleep(0.05)
    c.send(ping(b"afterga!"))
    f = c.until(lambda f: f.kind == PING and f.flags & ACK)
    return ("ok" if f else "FAIL"), "PING ACK after the client's GOAWAY: %r (closed=%s)" % (f, c.closed)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--pid", type=int)
    p.add_argument("--small", default="/notes.txt")
    p.add_argument("--big", default="/media/clip.mp4")
    p.add_argument("--only", default="")
    p.add_argument("--send-timeout", type=float, default=30)
    ARGS = p.parse_args()
    failed = 0
    passed = 0
    for fn in ATTACKS:
        if ARGS.only and not any(fn.__name__.startswith(o) for o in ARGS.only.split(",")):
            continue
        t0 = time.monotonic()
        try:
            verdict, detail = fn()
        except Exception as e:
            verdict, detail = "FAIL", "exception %r" % e
        alive = ARGS.pid is None or os.path.exists("/proc/%d" % ARGS.pid)
        if not alive:
            verdict, detail = "FAIL", detail + " -- SERVER PROCESS GONE"
        print("%-28s %-4s %5.1fs -- %s" % (fn.__name__, verdict, time.monotonic() - t0, detail), flush=True)
        failed += verdict == "FAIL"
        passed += verdict == "ok"
        if not alive:
            break
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


ARGS = None
if __name__ == "__main__":
    main()
