#!/usr/bin/env python3
"""Frame and HPACK edge cases that a parser may trip on (index arithmetic, lengths, integer
overflow): each must get a GOAWAY or RST_STREAM with an RFC code (the two legal ones, a full SETTINGS
and a PRIORITY on an idle stream, no error at all), never a crash or a hang, and the server
must still serve a fresh client afterwards.

    edge_frames.py --port PLAIN --pid PID
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from h2raw import *  # noqa: E402,F401,F403

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--pid", type=int, required=True)
a = ap.parse_args()

REQ = bytes([0x82, 0x86, 0x84]) + literal(":authority", "localhost")
CASES = [
    ("HEADERS PADDED, empty payload", frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1, b"")),
    ("HEADERS PRIORITY, 3-byte payload", frame(HEADERS, END_HEADERS | END_STREAM | PRIORITY_FLAG, 1, b"\0\0\0")),
    ("HEADERS PADDED+PRIORITY, pad = rest", frame(HEADERS, END_HEADERS | END_STREAM | PADDED | PRIORITY_FLAG, 1,
                                                 b"\x05" + b"\0\0\0\0\x0f")),
    ("HEADERS PADDED+PRIORITY, pad past the end", frame(HEADERS, END_HEADERS | END_STREAM | PADDED | PRIORITY_FLAG, 1,
                                                       b"\x06" + b"\0\0\0\0\x0f" + REQ[:5])),
    ("DATA PADDED, empty payload", frame(HEADERS, END_HEADERS, 1, bytes([0x83, 0x86, 0x84]) + literal(":authority", "l"))
     + frame(DATA, END_STREAM | PADDED, 1, b"")),
    ("DATA PADDED, pad length 255 of 255", frame(HEADERS, END_HEADERS, 1, bytes([0x83, 0x86, 0x84]) + literal(":authority", "l"))
     + frame(DATA, END_STREAM | PADDED, 1, b"\xff" + b"\0" * 254)),
    ("HPACK integer overflow (index)", frame(HEADERS, END_HEADERS | END_STREAM, 1, REQ + b"\xff" + b"\xff" * 10 + b"\x01")),
    ("HPACK integer overflow (string length)", frame(HEADERS, END_HEADERS | END_STREAM, 1, REQ + b"\x00\x7f" + b"\xff" * 10 + b"\x01")),
    ("HPACK string longer than the block", frame(HEADERS, END_HEADERS | END_STREAM, 1, REQ + b"\x00\x7f\x80\x7f" + b"a" * 10)),
    ("HPACK size update 2^32", frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x3f\xe1\xff\xff\xff\x0f" + REQ)),
    ("HPACK size update after a field", frame(HEADERS, END_HEADERS | END_STREAM, 1, REQ[:1] + b"\x20" + REQ[1:])),
    ("HPACK three size updates at the start", frame(HEADERS, END_HEADERS | END_STREAM, 1, b"\x20\x20\x3f\xe1\x1f" + REQ)),
    ("HPACK Huffman string of 1 byte 0x00", frame(HEADERS, END_HEADERS | END_STREAM, 1, REQ + b"\x00\x81\x00\x01a")),
    ("HPACK empty name literal", frame(HEADERS, END_HEADERS | END_STREAM, 1, REQ + b"\x00\x00\x01a")),
    ("HPACK dynamic index 62 on an empty table", frame(HEADERS, END_HEADERS | END_STREAM, 1, REQ + b"\xbe")),
    ("WINDOW_UPDATE with the reserved bit and 0", frame(WINDOW_UPDATE, 0, 0, b"\x80\0\0\0")),
    # Legal: only an ACK comes back (no error), and the connection goes on.
    ("SETTINGS 16384 bytes of MAX_FRAME_SIZE 2^24-1", settings(*[(S_MAX_FRAME_SIZE, 2**24 - 1)] * 2730)),
    ("GOAWAY 8 bytes last stream 2^31-1 with reserved bit", frame(GOAWAY, 0, 0, b"\xff\xff\xff\xff\0\0\0\0")),
    ("GOAWAY 7 bytes", frame(GOAWAY, 0, 0, b"\0" * 7)),
    ("RST_STREAM on stream 2^31-1 (idle)", rst_stream(2**31 - 1, 0)),
    ("PRIORITY 5 bytes on stream 2^31-1", priority(2**31 - 1, 1)),
    ("frame length 2^24-1", b"\xff\xff\xff\x00\x00\x00\x00\x00\x01"),
    ("CONTINUATION of 16384 bytes with no HEADERS", frame(CONTINUATION, END_HEADERS, 1, b"\0" * 16384)),
]

bad = 0
for label, data in CASES:
    c = Conn(a.port, timeout=3)
    c.send(data)
    f = c.until(lambda f: f.kind in (GOAWAY, RST_STREAM) or (f.kind == HEADERS and f.stream == 1), timeout=3)
    outcome = ("%s %s" % (NAMES[f.kind], code_name(f.code) if f.code is not None else dict(f.fields or []).get(":status"))) if f else (
        "closed" if c.closed else "no answer")
    c.close()
    alive = os.path.exists("/proc/%d" % a.pid)
    probe = Conn(a.port, timeout=3)
    probe.get(1, "/notes.txt")
    r = probe.response(1)
    probe.close()
    legal = label.startswith(("SETTINGS", "PRIORITY"))
    ok = alive and r and r[0] == 200 and (outcome == "no answer") == legal
    bad += not ok
    print("%-4s %-48s -> %s%s" % ("ok" if ok else "FAIL", label, outcome, "" if alive else " SERVER GONE"))
print("%d passed, %d failed" % (len(CASES) - bad, bad))
sys.exit(1 if bad else 0)
