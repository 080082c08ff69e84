#!/usr/bin/env python3
"""h2spec-like conformance cases (RFC 9113 and RFC 7541), written by hand over raw frames.

h2spec cannot be installed here, so each case below does what h2spec's case of the same
number does and accepts what h2spec accepts: for a connection error, a GOAWAY with one of
the codes (or, as h2spec allows, the connection closing); for a stream error, RST_STREAM with
one of the codes on that stream, or the same as a connection error; otherwise a response, or
a PING answered after the frame (the connection is still usable). A pass that relied only on
the close is reported as `pass(close)`, so a missing GOAWAY is visible.

    h2spec_like.py --port N [--tls] [--path /index.html] [--only 6.5] [-v]

Runs against any server (stage07's --plain-port or its TLS port, nginx, h2o): differential runs.
"""

import argparse
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from h2raw import *  # noqa: E402,F401,F403

CASES = []


def case(section, title):
    def wrap(fn):
        CASES.append((section, title, fn))
        return fn
    return wrap


# Outcomes -----------------------------------------------------------------------------------

def conn_error(c, *codes):
    got = c.connection_error()
    names = [code_name(x) for x in codes]
    if got in names:
        return "pass", got
    if got == "closed":
        return "pass(close)", "closed without GOAWAY"
    return "FAIL", "expected GOAWAY %s, got %s" % ("/".join(names), got)


def stream_error(c, stream, *codes):
    got = c.stream_error(stream)
    names = [code_name(x) for x in codes]
    if got in names or (got or "").replace("GOAWAY:", "") in names:
        return "pass", got
    if got == "closed":
        return "pass(close)", "closed without RST_STREAM/GOAWAY"
    return "FAIL", "expected RST_STREAM %s on %d, got %s" % ("/".join(names), stream, got)


def answered(c, stream):
    r = c.response(stream)
    if r and isinstance(r[0], int):
        return "pass", "status %d" % r[0]
    return "FAIL", "expected a response on %d, got %r" % (stream, r and r[:2])


def still_open(c):
    c.send(ping(b"stillok!"))
    f = c.until(lambda f: (f.kind == PING and f.flags & ACK and f.payload == b"stillok!") or f.kind == GOAWAY)
    if f is not None and f.kind == PING:
        return "pass", "PING answered"
    return "FAIL", "connection not usable afterwards: %r" % (f if f else ("closed" if c.closed else "timeout"))


# Helpers ------------------------------------------------------------------------------------

def block(c, fields):
    return c.encoder.encode(fields)


def req(c, path=None, method="GET", extra=()):
    return request_fields(method, path or ARGS.path, "localhost", c.scheme, extra)


def hframe(c, stream, fields, flags):
    return frame(HEADERS, flags, stream, block(c, fields))


def open_stream(c, stream, method="POST"):
    """A request whose body is still to come: the stream stays open (remote side)."""
    c.send(hframe(c, stream, req(c, method=method), END_HEADERS))


def half_closed_remote(c, stream):
    """A request without body, and its response read whole (so the stream is closed)."""
    c.send(hframe(c, stream, req(c), END_HEADERS | END_STREAM))


# 3.5 Connection preface ----------------------------------------------------------------------

@case("3.5/1", "Sends client connection preface")
def _(port, tls):
    c = Conn(port, tls)
    return still_open(c)


@case("3.5/2", "Sends invalid connection preface")
def _(port, tls):
    c = Conn(port, tls, preface=False)
    c.send(b"INVALID CONNECTION PREFACE\r\n\r\n")
    return conn_error(c, PROTOCOL_ERROR)


# 4.1 Frame format ----------------------------------------------------------------------------

@case("4.1/1", "Sends a frame with unknown type")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(0x16, 0, 0, b"\0" * 8))
    return still_open(c)


@case("4.1/2", "Sends a frame with undefined flag")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(PING, 0x16, 0, b"\0" * 8))
    return still_open(c)


@case("4.1/3", "Sends a frame with reserved field bit")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(PING, 0, 0x80000000, b"\0" * 8))
    return still_open(c)


# 4.2 Frame size ------------------------------------------------------------------------------

@case("4.2/1", "Sends a DATA frame with 2^14 octets in length")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(frame(DATA, END_STREAM, 1, b"x" * 16384))
    return answered(c, 1)


@case("4.2/2", "Sends a large size DATA frame that exceeds the SETTINGS_MAX_FRAME_SIZE")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(frame(DATA, END_STREAM, 1, b"x" * 16385))
    return stream_error(c, 1, FRAME_SIZE_ERROR)


@case("4.2/3", "Sends a large size HEADERS frame that exceeds the SETTINGS_MAX_FRAME_SIZE")
def _(port, tls):
    c = Conn(port, tls)
    fields = req(c) + [("x-dummy%d" % i, "x" * 90) for i in range(200)]
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"".join(literal(n, v) for n, v in fields)[:16385].ljust(16385, b"\0")))
    return conn_error(c, FRAME_SIZE_ERROR)


# 4.3 Header compression ----------------------------------------------------------------------

@case("4.3/1", "Sends invalid header block fragment")
def _(port, tls):
    c = Conn(port, tls)
    # A literal with indexing whose name length says 15 bytes that never come.
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x40\x0f\x61"))
    return conn_error(c, COMPRESSION_ERROR)


@case("4.3/2", "Sends a PRIORITY frame while sending the header blocks")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 1, req(c), END_STREAM))
    c.send(priority(1, 0))
    return conn_error(c, PROTOCOL_ERROR)


@case("4.3/3", "Sends a HEADERS frame to another stream while sending the header blocks")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 1, req(c), END_STREAM))
    c.send(hframe(c, 3, req(c), END_STREAM | END_HEADERS))
    return conn_error(c, PROTOCOL_ERROR)


# 5.1 Stream states ---------------------------------------------------------------------------

@case("5.1/1", "idle: Sends a DATA frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(DATA, END_STREAM, 1, b"test"))
    return conn_error(c, PROTOCOL_ERROR)


@case("5.1/2", "idle: Sends a RST_STREAM frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(rst_stream(1, CANCEL))
    return conn_error(c, PROTOCOL_ERROR)


@case("5.1/3", "idle: Sends a WINDOW_UPDATE frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(window_update(1, 100))
    return conn_error(c, PROTOCOL_ERROR)


@case("5.1/4", "idle: Sends a CONTINUATION frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(CONTINUATION, END_HEADERS, 1, block(c, req(c))))
    return conn_error(c, PROTOCOL_ERROR)


@case("5.1/5", "half closed (remote): Sends a DATA frame")
def _(port, tls):
    c = Conn(port, tls)
    half_closed_remote(c, 1)
    c.send(frame(DATA, END_STREAM, 1, b"test"))
    return stream_error(c, 1, STREAM_CLOSED)


@case("5.1/6", "half closed (remote): Sends a HEADERS frame")
def _(port, tls):
    c = Conn(port, tls)
    half_closed_remote(c, 1)
    c.send(hframe(c, 1, req(c), END_STREAM | END_HEADERS))
    return stream_error(c, 1, STREAM_CLOSED)


@case("5.1/7", "half closed (remote): Sends a CONTINUATION frame")
def _(port, tls):
    c = Conn(port, tls)
    half_closed_remote(c, 1)
    c.send(frame(CONTINUATION, END_HEADERS, 1, block(c, [("x-test", "ok")])))
    return stream_error(c, 1, STREAM_CLOSED, PROTOCOL_ERROR)


@case("5.1/8", "closed: Sends a DATA frame after sending RST_STREAM frame")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(rst_stream(1, CANCEL))
    c.send(frame(DATA, END_STREAM, 1, b"test"))
    return stream_error(c, 1, STREAM_CLOSED)


@case("5.1/9", "closed: Sends a HEADERS frame after sending RST_STREAM frame")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(rst_stream(1, CANCEL))
    c.send(hframe(c, 1, req(c), END_STREAM | END_HEADERS))
    return stream_error(c, 1, STREAM_CLOSED)


@case("5.1/10", "closed: Sends a CONTINUATION frame after sending RST_STREAM frame")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(rst_stream(1, CANCEL))
    c.send(frame(CONTINUATION, END_HEADERS, 1, block(c, [("x-test", "ok")])))
    return stream_error(c, 1, STREAM_CLOSED, PROTOCOL_ERROR)


@case("5.1/11", "closed: Sends a DATA frame")
def _(port, tls):
    c = Conn(port, tls)
    half_closed_remote(c, 1)
    c.response(1)
    c.send(frame(DATA, END_STREAM, 1, b"test"))
    return stream_error(c, 1, STREAM_CLOSED)


@case("5.1/12", "closed: Sends a HEADERS frame")
def _(port, tls):
    c = Conn(port, tls)
    half_closed_remote(c, 1)
    c.response(1)
    c.send(hframe(c, 1, req(c), END_STREAM | END_HEADERS))
    return stream_error(c, 1, STREAM_CLOSED)


@case("5.1/13", "closed: Sends a CONTINUATION frame")
def _(port, tls):
    c = Conn(port, tls)
    half_closed_remote(c, 1)
    c.response(1)
    c.send(frame(CONTINUATION, END_HEADERS, 1, block(c, [("x-test", "ok")])))
    return stream_error(c, 1, STREAM_CLOSED, PROTOCOL_ERROR)


@case("5.1.1/1", "Sends even-numbered stream identifier")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 2, req(c), END_STREAM | END_HEADERS))
    return conn_error(c, PROTOCOL_ERROR)


@case("5.1.1/2", "Sends stream identifier that is numerically smaller than previous")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 5, req(c), END_STREAM | END_HEADERS))
    c.response(5)
    c.send(hframe(c, 3, req(c), END_STREAM | END_HEADERS))
    return conn_error(c, PROTOCOL_ERROR)


@case("5.1.2/1", "Sends HEADERS frames that causes their advertised concurrent stream limit to be exceeded")
def _(port, tls):
    c = Conn(port, tls)
    limit = c.server_settings.get(S_MAX_CONCURRENT_STREAMS)
    if limit is None or limit > 1000:
        return "skip", "no SETTINGS_MAX_CONCURRENT_STREAMS (%r)" % limit
    c.send(settings((S_INITIAL_WINDOW_SIZE, 0)))
    for i in range(limit):
        open_stream(c, 1 + 2 * i)
    extra = 1 + 2 * limit
    open_stream(c, extra)
    return stream_error(c, extra, PROTOCOL_ERROR, REFUSED_STREAM)


@case("5.3.1/1", "Sends HEADERS frame that depends on itself")
def _(port, tls):
    c = Conn(port, tls)
    payload = struct.pack(">IB", 3, 15) + block(c, req(c))
    c.send(frame(HEADERS, END_STREAM | END_HEADERS | PRIORITY_FLAG, 3, payload))
    return stream_error(c, 3, PROTOCOL_ERROR)


@case("5.3.1/2", "Sends PRIORITY frame that depend on itself")
def _(port, tls):
    c = Conn(port, tls)
    c.send(priority(3, 3))
    return stream_error(c, 3, PROTOCOL_ERROR)


@case("5.4.1/1", "Sends an invalid PING frame for connection close")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(PING, 0, 3, b"\0" * 8))
    return conn_error(c, PROTOCOL_ERROR)


@case("5.4.1/2", "Sends an invalid PING frame to receive GOAWAY frame (and the close)")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(PING, 0, 0, b"\0" * 6))
    got = c.connection_error()
    if got != "FRAME_SIZE_ERROR":
        return "FAIL", "expected GOAWAY FRAME_SIZE_ERROR, got %s" % got
    deadline = time.monotonic() + 3
    while not c.closed and time.monotonic() < deadline:
        if c.next_frame(0.5) is None and not c.closed:
            continue
    return ("pass", "GOAWAY then close") if c.closed else ("FAIL", "GOAWAY but no close within 3 s")


@case("5.5/1", "Sends an unknown extension frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(0xFF, 0, 0, b"\0" * 8))
    return still_open(c)


@case("5.5/2", "Sends an unknown extension frame in the middle of a header block")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 1, req(c), END_STREAM))
    c.send(frame(0xFF, 0, 1, b"\0" * 8))
    return conn_error(c, PROTOCOL_ERROR)


# 6.1 DATA ------------------------------------------------------------------------------------

@case("6.1/1", "Sends a DATA frame with 0x0 stream identifier")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(DATA, END_STREAM, 0, b"test"))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.1/2", "Sends a DATA frame on the stream that is not in 'open' or 'half-closed (local)' state")
def _(port, tls):
    c = Conn(port, tls)
    half_closed_remote(c, 1)
    c.send(frame(DATA, END_STREAM, 1, b"test"))
    return stream_error(c, 1, STREAM_CLOSED)


@case("6.1/3", "Sends a DATA frame with invalid pad length")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(frame(DATA, END_STREAM | PADDED, 1, b"\x06" + b"x" * 5))
    return conn_error(c, PROTOCOL_ERROR)


# 6.2 HEADERS ---------------------------------------------------------------------------------

@case("6.2/1", "Sends a HEADERS frame without the END_HEADERS flag, and a PRIORITY frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 1, req(c), END_STREAM))
    c.send(priority(1, 0))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.2/2", "Sends a HEADERS frame to another stream while sending a HEADERS frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 1, req(c), END_STREAM))
    c.send(hframe(c, 3, req(c), END_STREAM | END_HEADERS))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.2/3", "Sends a HEADERS frame with 0x0 stream identifier")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 0, req(c), END_STREAM | END_HEADERS))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.2/4", "Sends a HEADERS frame with invalid pad length")
def _(port, tls):
    c = Conn(port, tls)
    b = block(c, req(c))
    c.send(frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, bytes([len(b) + 1]) + b))
    return conn_error(c, PROTOCOL_ERROR)


# 6.3 PRIORITY --------------------------------------------------------------------------------

@case("6.3/1", "Sends a PRIORITY frame with 0x0 stream identifier")
def _(port, tls):
    c = Conn(port, tls)
    c.send(priority(0, 1))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.3/2", "Sends a PRIORITY frame with a length other than 5 octets")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(frame(PRIORITY, 0, 1, b"\0\0\0\0"))
    return stream_error(c, 1, FRAME_SIZE_ERROR)


# 6.4 RST_STREAM ------------------------------------------------------------------------------

@case("6.4/1", "Sends a RST_STREAM frame with 0x0 stream identifier")
def _(port, tls):
    c = Conn(port, tls)
    c.send(rst_stream(0, CANCEL))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.4/2", "Sends a RST_STREAM frame on a idle stream")
def _(port, tls):
    c = Conn(port, tls)
    c.send(rst_stream(1, CANCEL))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.4/3", "Sends a RST_STREAM frame with a length other than 4 octets")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(frame(RST_STREAM, 0, 1, b"\0\0\0"))
    return conn_error(c, FRAME_SIZE_ERROR)


# 6.5 SETTINGS --------------------------------------------------------------------------------

@case("6.5/1", "Sends a SETTINGS frame with ACK flag and payload")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(SETTINGS, ACK, 0, b"\0" * 6))
    return conn_error(c, FRAME_SIZE_ERROR)


@case("6.5/2", "Sends a SETTINGS frame with a stream identifier other than 0x0")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(SETTINGS, 0, 1, struct.pack(">HI", S_MAX_CONCURRENT_STREAMS, 100)))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.5/3", "Sends a SETTINGS frame with a length other than a multiple of 6 octets")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(SETTINGS, 0, 0, b"\0\x03\0\0"))
    return conn_error(c, FRAME_SIZE_ERROR)


@case("6.5.2/1", "SETTINGS_ENABLE_PUSH (0x2): Sends the value other than 0 or 1")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((S_ENABLE_PUSH, 2)))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.5.2/2", "SETTINGS_INITIAL_WINDOW_SIZE (0x4): Sends the value above the maximum flow control window size")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((S_INITIAL_WINDOW_SIZE, 2**31)))
    return conn_error(c, FLOW_CONTROL_ERROR)


@case("6.5.2/3", "SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value below the initial value")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((S_MAX_FRAME_SIZE, 16383)))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.5.2/4", "SETTINGS_MAX_FRAME_SIZE (0x5): Sends the value above the maximum allowed frame size")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((S_MAX_FRAME_SIZE, 2**24)))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.5.2/5", "Sends a SETTINGS frame with unknown identifier")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((0xFF, 1)))
    return still_open(c)


@case("6.5.3/1", "Sends multiple values of SETTINGS_INITIAL_WINDOW_SIZE")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((S_INITIAL_WINDOW_SIZE, 100), (S_INITIAL_WINDOW_SIZE, 1)))
    c.send(hframe(c, 1, req(c), END_STREAM | END_HEADERS))
    f = c.until(lambda f: f.kind == DATA and f.stream == 1)
    if f is None:
        return "FAIL", "no DATA"
    return ("pass", "1-byte DATA") if len(f.payload) == 1 else ("FAIL", "DATA of %d bytes" % len(f.payload))


@case("6.5.3/2", "Sends a SETTINGS frame without ACK flag (expects an ACK)")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((S_ENABLE_PUSH, 0)))
    f = c.until(lambda f: f.kind == SETTINGS and f.flags & ACK)
    return ("pass", "ACK") if f else ("FAIL", "no SETTINGS ACK")


# 6.7 PING ------------------------------------------------------------------------------------

@case("6.7/1", "Sends a PING frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(ping(b"h2spec\0\0"))
    f = c.until(lambda f: f.kind == PING and f.flags & ACK)
    return ("pass", "ACK") if f and f.payload == b"h2spec\0\0" else ("FAIL", repr(f))


@case("6.7/2", "Sends a PING frame with ACK")
def _(port, tls):
    c = Conn(port, tls)
    c.send(ping(b"unknown!", ack=True))
    c.send(ping(b"h2spec\0\0"))
    f = c.until(lambda f: f.kind == PING and f.flags & ACK)
    return ("pass", "only our PING answered") if f and f.payload == b"h2spec\0\0" else ("FAIL", repr(f))


@case("6.7/3", "Sends a PING frame with a stream identifier field value other than 0x0")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(PING, 0, 1, b"\0" * 8))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.7/4", "Sends a PING frame with a length field value other than 8")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(PING, 0, 0, b"\0" * 6))
    return conn_error(c, FRAME_SIZE_ERROR)


# 6.8 GOAWAY ----------------------------------------------------------------------------------

@case("6.8/1", "Sends a GOAWAY frame with a stream identifier other than 0x0")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(GOAWAY, 0, 1, struct.pack(">II", 0, 0)))
    return conn_error(c, PROTOCOL_ERROR)


# 6.9 WINDOW_UPDATE ---------------------------------------------------------------------------

@case("6.9/1", "Sends a WINDOW_UPDATE frame with a flow control window increment of 0")
def _(port, tls):
    c = Conn(port, tls)
    c.send(window_update(0, 0))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.9/2", "Sends a WINDOW_UPDATE frame with a flow control window increment of 0 on a stream")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(window_update(1, 0))
    return stream_error(c, 1, PROTOCOL_ERROR)


@case("6.9/3", "Sends a WINDOW_UPDATE frame with a length other than 4 octets")
def _(port, tls):
    c = Conn(port, tls)
    c.send(frame(WINDOW_UPDATE, 0, 0, b"\0\0\x01"))
    return conn_error(c, FRAME_SIZE_ERROR)


@case("6.9.1/1", "Sends SETTINGS frame to set the initial window size to 1 and sends HEADERS frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((S_INITIAL_WINDOW_SIZE, 1)))
    c.send(hframe(c, 1, req(c), END_STREAM | END_HEADERS))
    f = c.until(lambda f: f.kind == DATA and f.stream == 1)
    return ("pass", "1-byte DATA") if f and len(f.payload) == 1 else ("FAIL", repr(f))


@case("6.9.1/2", "Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1")
def _(port, tls):
    c = Conn(port, tls)
    c.send(window_update(0, 2**31 - 1))
    c.send(window_update(0, 2**31 - 1))
    return conn_error(c, FLOW_CONTROL_ERROR)


@case("6.9.1/3", "Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1 on a stream")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(window_update(1, 2**31 - 1))
    c.send(window_update(1, 2**31 - 1))
    return stream_error(c, 1, FLOW_CONTROL_ERROR)


@case("6.9.2/1", "Changes SETTINGS_INITIAL_WINDOW_SIZE after sending HEADERS frame")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((S_INITIAL_WINDOW_SIZE, 0)))
    c.until(lambda f: f.kind == SETTINGS and f.flags & ACK)
    c.send(hframe(c, 1, req(c), END_STREAM | END_HEADERS))
    c.until(lambda f: f.kind == HEADERS and f.stream == 1)
    c.send(settings((S_INITIAL_WINDOW_SIZE, 1)))
    f = c.until(lambda f: f.kind == DATA and f.stream == 1)
    return ("pass", "1-byte DATA") if f and len(f.payload) == 1 else ("FAIL", repr(f))


@case("6.9.2/2", "Sends a SETTINGS frame for window size to be negative")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 1, req(c, path=ARGS.big), END_STREAM | END_HEADERS))
    got = 0
    while got < 65535 - 16384:
        f = c.until(lambda f: f.kind == DATA and f.stream == 1)
        if f is None:
            return "FAIL", "only %d bytes before the window shut" % got
        got += len(f.payload)
    # The remaining credit may be on its way; lowering the window by 64 KiB takes it below 0.
    c.send(settings((S_INITIAL_WINDOW_SIZE, 0)))
    c.until(lambda f: f.kind == SETTINGS and f.flags & ACK)
    while c.next_frame(0.3) is not None:
        pass
    c.send(window_update(1, 1))
    f = c.until(lambda f: f.kind == DATA and f.stream == 1, timeout=1.0)
    if f is not None:
        return "FAIL", "DATA sent while the stream window is negative: %r" % f
    return still_open(c)


@case("6.9.2/3", "Sends a SETTINGS_INITIAL_WINDOW_SIZE settings with an exceeded maximum window size value")
def _(port, tls):
    c = Conn(port, tls)
    c.send(settings((S_INITIAL_WINDOW_SIZE, 2**31)))
    return conn_error(c, FLOW_CONTROL_ERROR)


# 6.10 CONTINUATION ---------------------------------------------------------------------------

@case("6.10/1", "Sends multiple CONTINUATION frames preceded by a HEADERS frame")
def _(port, tls):
    c = Conn(port, tls)
    b = block(c, req(c, extra=[("x-dummy", "x" * 100)]))
    c.send(frame(HEADERS, END_STREAM, 1, b[:5]) + frame(CONTINUATION, 0, 1, b[5:10]) +
           frame(CONTINUATION, END_HEADERS, 1, b[10:]))
    return answered(c, 1)


@case("6.10/2", "Sends a CONTINUATION frame followed by any frame other than CONTINUATION")
def _(port, tls):
    c = Conn(port, tls)
    b = block(c, req(c))
    c.send(frame(HEADERS, END_STREAM, 1, b[:5]) + frame(CONTINUATION, 0, 1, b[5:]) +
           frame(DATA, 0, 1, b"test"))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.10/3", "Sends a CONTINUATION frame with 0x0 stream identifier")
def _(port, tls):
    c = Conn(port, tls)
    b = block(c, req(c))
    c.send(frame(HEADERS, END_STREAM, 1, b[:5]) + frame(CONTINUATION, END_HEADERS, 0, b[5:]))
    return conn_error(c, PROTOCOL_ERROR)


@case("6.10/4", "Sends a CONTINUATION frame preceded by a HEADERS frame with END_HEADERS flag")
def _(port, tls):
    c = Conn(port, tls)
    c.send(hframe(c, 1, req(c), END_STREAM | END_HEADERS))
    c.send(frame(CONTINUATION, END_HEADERS, 1, block(c, [("x-dummy", "x")])))
    return conn_error(c, PROTOCOL_ERROR, STREAM_CLOSED)


@case("6.10/5", "Sends a CONTINUATION frame preceded by a CONTINUATION frame with END_HEADERS flag")
def _(port, tls):
    c = Conn(port, tls)
    b = block(c, req(c))
    c.send(frame(HEADERS, END_STREAM, 1, b[:5]) + frame(CONTINUATION, END_HEADERS, 1, b[5:]))
    c.send(frame(CONTINUATION, END_HEADERS, 1, block(c, [("x-dummy", "x")])))
    return conn_error(c, PROTOCOL_ERROR, STREAM_CLOSED)


@case("6.10/6", "Sends a CONTINUATION frame preceded by a DATA frame")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(frame(DATA, 0, 1, b"test"))
    c.send(frame(CONTINUATION, END_HEADERS, 1, block(c, [("x-dummy", "x")])))
    return conn_error(c, PROTOCOL_ERROR)


# 7 Error codes -------------------------------------------------------------------------------

@case("7/1", "Sends a GOAWAY frame with unknown error code")
def _(port, tls):
    c = Conn(port, tls)
    c.send(goaway(0, 0xFF))
    return still_open(c)


@case("7/2", "Sends a RST_STREAM frame with unknown error code")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(rst_stream(1, 0xFF))
    return still_open(c)


# 8.1 HTTP request/response exchange ----------------------------------------------------------

@case("8.1/1", "Sends a second HEADERS frame without the END_STREAM flag")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(frame(DATA, 0, 1, b"test"))
    c.send(hframe(c, 1, [("x-trailer", "x")], END_HEADERS))
    return stream_error(c, 1, PROTOCOL_ERROR)


def malformed(fields, data=None, end_stream=True):
    def run(port, tls):
        c = Conn(port, tls)
        fs = fields(c)
        c.send(frame(HEADERS, END_HEADERS | (END_STREAM if end_stream and data is None else 0), 1,
                     b"".join(literal(n, v) for n, v in fs)))
        if data is not None:
            for i, d in enumerate(data):
                c.send(frame(DATA, END_STREAM if i == len(data) - 1 else 0, 1, d))
        return stream_error(c, 1, PROTOCOL_ERROR)
    return run


def base(c, path=None):
    return [(":method", "GET"), (":scheme", c.scheme), (":path", path or ARGS.path), (":authority", "localhost")]


for number, title, fields in [
    ("8.1.2/1", "Sends a HEADERS frame that contains the header field name in uppercase letters",
     lambda c: base(c) + [("X-TEST", "ok")]),
    ("8.1.2.1/1", "Sends a HEADERS frame that contains a unknown pseudo-header field",
     lambda c: base(c) + [(":test", "ok")]),
    ("8.1.2.1/2", "Sends a HEADERS frame that contains the pseudo-header field defined for response",
     lambda c: base(c) + [(":status", "200")]),
    ("8.1.2.1/4", "Sends a HEADERS frame that contains a pseudo-header field that appears in a header block after a regular header field",
     lambda c: base(c)[:3] + [("x-test", "ok"), (":authority", "localhost")]),
    ("8.1.2.2/1", "Sends a HEADERS frame that contains the connection-specific header field",
     lambda c: base(c) + [("connection", "keep-alive")]),
    ("8.1.2.2/2", "Sends a HEADERS frame that contains the TE header field with any value other than \"trailers\"",
     lambda c: base(c) + [("trailers", "test"), ("te", "trailers, deflate")]),
    ("8.1.2.3/1", "Sends a HEADERS frame with empty \":path\" pseudo-header field",
     lambda c: [(":method", "GET"), (":scheme", c.scheme), (":path", ""), (":authority", "localhost")]),
    ("8.1.2.3/2", "Sends a HEADERS frame that omits \":method\" pseudo-header field",
     lambda c: base(c)[1:]),
    ("8.1.2.3/3", "Sends a HEADERS frame that omits \":scheme\" pseudo-header field",
     lambda c: [base(c)[0]] + base(c)[2:]),
    ("8.1.2.3/4", "Sends a HEADERS frame that omits \":path\" pseudo-header field",
     lambda c: base(c)[:2] + base(c)[3:]),
    ("8.1.2.3/5", "Sends a HEADERS frame with duplicated \":method\" pseudo-header field",
     lambda c: base(c)[:1] + base(c)),
    ("8.1.2.3/6", "Sends a HEADERS frame with duplicated \":scheme\" pseudo-header field",
     lambda c: base(c)[:2] + base(c)[1:]),
    ("8.1.2.3/7", "Sends a HEADERS frame with duplicated \":path\" pseudo-header field",
     lambda c: base(c)[:3] + base(c)[2:]),
]:
    case(number, title)(malformed(fields))


@case("8.1.2.1/3", "Sends a HEADERS frame that contains a pseudo-header field as trailers")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(frame(DATA, 0, 1, b"test"))
    c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, literal(":method", "GET")))
    return stream_error(c, 1, PROTOCOL_ERROR)


case("8.1.2.6/1", "Sends a HEADERS frame with the \"content-length\" header field which does not equal the DATA frame payload length")(
    malformed(lambda c: [(":method", "POST")] + base(c)[1:] + [("content-length", "1")], data=[b"test"]))
case("8.1.2.6/2", "Sends a HEADERS frame with the \"content-length\" header field which does not equal the sum of the multiple DATA frames payload length")(
    malformed(lambda c: [(":method", "POST")] + base(c)[1:] + [("content-length", "1")], data=[b"test", b"test"]))


@case("8.2/1", "Sends a PUSH_PROMISE frame")
def _(port, tls):
    c = Conn(port, tls)
    open_stream(c, 1)
    c.send(frame(PUSH_PROMISE, END_HEADERS, 1, struct.pack(">I", 2) + block(c, req(c))))
    return conn_error(c, PROTOCOL_ERROR)


# HPACK (RFC 7541) ----------------------------------------------------------------------------

def compression(block_bytes):
    def run(port, tls):
        c = Conn(port, tls)
        c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block_bytes(c)))
        return conn_error(c, COMPRESSION_ERROR)
    return run


def static_req(c):
    # :method GET (2), :scheme http/https (6/7), :path / (4), :authority literal.
    return bytes([0x82, 0x86 if c.scheme == "http" else 0x87, 0x84]) + literal(":authority", "localhost")


for number, title, make in [
    ("hpack/2.3.3/1", "Sends a indexed header field representation with invalid index",
     lambda c: static_req(c) + bytes([0x80 | 70])),
    ("hpack/2.3.3/2", "Sends a literal header field representation with invalid index",
     lambda c: static_req(c) + bytes([0x40 | 0x3F, 70 - 63]) + b"\x04test"),
    ("hpack/4.2/1", "Sends a dynamic table size update at the end of header block",
     lambda c: static_req(c) + b"\x3f\xe1\x1f"),
    ("hpack/5.2/1", "Sends a Huffman-encoded string literal representation with padding longer than 7 bits",
     lambda c: static_req(c) + b"\x00\x04test\x84\x49\x50\x9f\xff"),
    ("hpack/5.2/2", "Sends a Huffman-encoded string literal representation padded by zero",
     lambda c: static_req(c) + b"\x00\x04test\x83\x49\x50\x90"),
    ("hpack/5.2/3", "Sends a Huffman-encoded string literal representation containing the EOS symbol",
     lambda c: static_req(c) + b"\x00\x04test\x87\x49\x50\x9f\xff\xff\xff\xff"),
    ("hpack/6.1/1", "Sends a indexed header field representation with index 0",
     lambda c: static_req(c) + b"\x80"),
    ("hpack/6.3/1", "Sends a dynamic table size update larger than the value of SETTINGS_HEADER_TABLE_SIZE",
     lambda c: b"\x3f\xe2\x1f" + static_req(c)),  # 4097
]:
    case(number, title)(compression(make))


# Generic (h2spec's generic section, condensed) -----------------------------------------------

@case("generic/1", "Sends a GET request, a HEAD, a POST with a body, trailers: all answered")
def _(port, tls):
    c = Conn(port, tls)
    half_closed_remote(c, 1)
    r1 = c.response(1)
    c.send(hframe(c, 3, req(c, method="HEAD"), END_STREAM | END_HEADERS))
    r3 = c.response(3)
    open_stream(c, 5)
    c.send(frame(DATA, END_STREAM, 5, b"hello"))
    r5 = c.response(5)
    open_stream(c, 7)
    c.send(frame(DATA, 0, 7, b"hello"))
    c.send(hframe(c, 7, [("x-trailer", "ok")], END_HEADERS | END_STREAM))
    r7 = c.response(7)
    got = [r and r[0] for r in (r1, r3, r5, r7)]
    ok = all(isinstance(s, int) for s in got) and r3[2] == b""
    return ("pass" if ok else "FAIL"), "statuses %r, HEAD body %r" % (got, r3 and r3[2][:20])


@case("generic/2", "Sends a PRIORITY frame on an idle stream, then uses it")
def _(port, tls):
    c = Conn(port, tls)
    c.send(priority(3, 0))
    half_closed_remote(c, 3)
    return answered(c, 3)


@case("generic/3", "Padded HEADERS and DATA, priority in HEADERS")
def _(port, tls):
    c = Conn(port, tls)
    b = block(c, req(c, method="POST"))
    c.send(frame(HEADERS, END_HEADERS | PADDED | PRIORITY_FLAG, 1, b"\x04" + struct.pack(">IB", 0, 15) + b + b"\0" * 4))
    c.send(frame(DATA, END_STREAM | PADDED, 1, b"\x03abc\0\0\0"))
    return answered(c, 1)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--path", default="/index.html")
    p.add_argument("--big", default="/media/clip.mp4", help="a file larger than 64 KiB")
    p.add_argument("--only", default="")
    p.add_argument("-v", action="store_true")
    ARGS = p.parse_args()
    counts = {}
    failed = []
    for number, title, fn in CASES:
        if ARGS.only and not number.startswith(ARGS.only):
            continue
        try:
            verdict, detail = fn(ARGS.port, ARGS.tls)
        except Exception as e:  # a case that crashed is a failure of the case, not of the run
            verdict, detail = "FAIL", "exception %r" % e
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict == "FAIL" or ARGS.v or verdict != "pass":
            print("%-12s %-11s %s -- %s" % (number, verdict, title[:70], detail))
        if verdict == "FAIL":
            failed.append(number)
    total = sum(counts.values())
    passed = counts.get("pass", 0) + counts.get("pass(close)", 0)
    print("%d passed, %d failed" % (passed, counts.get("FAIL", 0)) +
          (", %d skipped" % counts["skip"] if "skip" in counts else ""))
    print("h2spec-like: %d cases, %d strict passes, %d passes by close only, failed: %s" % (
        total, counts.get("pass", 0), counts.get("pass(close)", 0), " ".join(failed) or "none"))
    sys.exit(1 if failed else 0)


ARGS = None
if __name__ == "__main__":
    main()
