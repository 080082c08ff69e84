"""The same crafted client frames to several WebSocket echo servers; what each answers.

    differential.py NAME=PORT [NAME=PORT ...]   (each an echo server on 127.0.0.1 at /ws/echo or /)

For every case: the frames sent (masked, as a client must, unless the case says otherwise),
then what came back: the messages echoed (kind and length) and the close code, or `EOF`
(closed without a close frame) or `TIMEOUT` (nothing more within 3 s). Servers that agree
print one row; a disagreement prints every server's answer. Exit 1 when stage08 (the first
NAME) disagrees with all of the others.
"""
import base64
import os
import socket
import struct
import sys
import time

KEY = [0x11, 0x22, 0x33, 0x44]


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None, ext=None):
    """One client frame; `length`/`ext` force a length field ('16' or '64') for non-minimal cases."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if ext == "16" or (ext is None and 126 <= n <= 0xFFFF):
        head = bytes([first, mbit | 126]) + struct.pack(">H", n)
    elif ext == "64" or (ext is None and n > 0xFFFF):
        head = bytes([first, mbit | 127]) + struct.pack(">Q", n)
    else:
        head = bytes([first, mbit | n])
    if not mask:
        return head + payload
    body = bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))
    return head + bytes(KEY) + body


def close(code=None, reason=b""):
    return frame(8, b"" if code is None else struct.pack(">H", code) + reason)


def connect(port, path):
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise RuntimeError("no handshake answer")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode(errors="replace"))
    return sock


def read_exact(sock, n, buf):
    while len(buf) < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def answers(sock, deadline=3.0):
    """Frames the server sends until its close frame, EOF or a quiet `deadline`."""
    got, buf = [], bytearray()
    sock.settimeout(deadline)
    try:
        while True:
            buf = read_exact(sock, 2, buf)
            op, n = buf[0] & 0x0F, buf[1] & 0x7F
            at = 2
            if n == 126:
                buf = read_exact(sock, 4, buf)
                n, at = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127:
                buf = read_exact(sock, 10, buf)
                n, at = struct.unpack(">Q", buf[2:10])[0], 10
            buf = read_exact(sock, at + n, buf)
            payload, buf = bytes(buf[at:at + n]), buf[at + n:]
            if op == 8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else "none"
                got.append(f"close {code}")
                return got
            if op == 9:
                got.append(f"ping{len(payload)}")
            elif op == 10:
                got.append(f"pong:{payload[:20]!r}")
            elif op == 1:
                got.append(f"text{len(payload)}" if len(payload) > 20 else f"text:{payload.decode(errors='replace')!r}")
            elif op == 2:
                got.append(f"bin{len(payload)}")
            else:
                got.append(f"op{op}")
    except EOFError:
        got.append("EOF")
    except socket.timeout:
        got.append("TIMEOUT")
    except ConnectionResetError:
        got.append("RST")
    return got


def text(s, **kw):
    return frame(1, s if isinstance(s, bytes) else s.encode(), **kw)


BIG = 16 * 1024 * 1024
CASES = {
    "text hello": [text("hello"), close(1000)],
    "unmasked text": [text("hello", mask=False)],
    "rsv1 text": [text("hello", rsv=4)],
    "rsv2 text": [text("hello", rsv=2)],
    "rsv3 ping": [frame(9, b"x", rsv=1)],
    "opcode 3": [frame(3, b"x")],
    "opcode 7": [frame(7, b"x")],
    "opcode 0xB": [frame(0xB, b"x")],
    "opcode 0xF": [frame(0xF, b"")],
    "ping 125": [frame(9, b"p" * 125), close(1000)],
    "ping 126": [frame(9, b"p" * 126)],
    "pong 126": [frame(10, b"p" * 126)],
    "close 126": [frame(8, struct.pack(">H", 1000) + b"r" * 124)],
    "fragmented ping": [frame(9, b"a", fin=False), frame(0, b"b")],
    "fragmented close": [frame(8, struct.pack(">H", 1000), fin=False)],
    "continuation alone": [frame(0, b"x")],
    "continuation fin=0 alone": [frame(0, b"x", fin=False)],
    "text inside fragmented text": [text("a", fin=False), text("b")],
    "binary inside fragmented text": [text("a", fin=False), frame(2, b"b")],
    "fragments with pings": [text("He", fin=False), frame(9, b"1"), frame(0, b"l", fin=False), frame(9, b"2"), frame(0, b"lo"), close(1000)],
    "fragments, close in the middle": [text("He", fin=False), close(1000)],
    "empty fragments": [text("", fin=False), frame(0, b"", fin=False), frame(0, b""), close(1000)],
    "utf8 valid 4-byte split": [text("a\xf0\x9f".encode("latin1"), fin=False), frame(0, b"\x8e\x89"), close(1000)],
    "utf8 invalid byte ff": [text(b"ab\xff")],
    "utf8 overlong c0 80": [text(b"\xc0\x80")],
    "utf8 overlong e0 80 80": [text(b"\xe0\x80\x80")],
    "utf8 surrogate ed a0 80": [text(b"\xed\xa0\x80")],
    "utf8 above 10ffff": [text(b"\xf4\x90\x80\x80")],
    "utf8 truncated at end": [text(b"ok\xe2\x82")],
    "utf8 truncated across fin": [text(b"ok\xe2", fin=False), frame(0, b"\x82")],
    "utf8 bad in 2nd fragment, fin=0": [text(b"ok", fin=False), frame(0, b"\xc0", fin=False)],
    "utf8 bad in 1st fragment, fin=0 (fail fast)": [text(b"\xc0ok", fin=False)],
    "binary invalid utf8 ok": [frame(2, b"\xff\xfe"), close(1000)],
    "close empty": [frame(8, b"")],
    "close 1 byte": [frame(8, b"\x03")],
    "close 1000": [close(1000)],
    "close 1000 reason": [close(1000, b"bye")],
    "close 1001": [close(1001)],
    "close 1003": [close(1003)],
    "close 1004": [close(1004)],
    "close 1005": [close(1005)],
    "close 1006": [close(1006)],
    "close 1007": [close(1007)],
    "close 1011": [close(1011)],
    "close 1012": [close(1012)],
    "close 1013": [close(1013)],
    "close 1014": [close(1014)],
    "close 1015": [close(1015)],
    "close 1016": [close(1016)],
    "close 999": [close(999)],
    "close 0": [close(0)],
    "close 2000": [close(2000)],
    "close 2999": [close(2999)],
    "close 3000": [close(3000)],
    "close 4999": [close(4999)],
    "close 5000": [close(5000)],
    "close 65535": [close(65535)],
    "close bad utf8 reason": [close(1000, b"\xff")],
    "close truncated utf8 reason": [close(1000, b"\xe2\x82")],
    "non-minimal 16-bit length": [text("x" * 5, ext="16")],
    "non-minimal 64-bit length": [text("x" * 5, ext="64")],
    "non-minimal 64 for 200": [text("x" * 200, ext="64")],
    "64-bit length top bit": [frame(2, b"", length=1 << 63, ext="64")],
    "2^62 length announced": [frame(2, b"", length=1 << 62, ext="64")],
    "16 MiB + 1 announced": [frame(2, b"", length=BIG + 1)],
    "16 MiB + 1 in two fragments": [frame(2, b"a" * 10, fin=False), frame(0, b"", length=BIG - 9)],
    "len 0": [text(""), close(1000)],
    "len 125/126/127": [frame(2, b"a" * 125), frame(2, b"a" * 126), frame(2, b"a" * 127), close(1000)],
    "len 65535/65536": [frame(2, b"a" * 65535), frame(2, b"a" * 65536), close(1000)],
    "message after close": [close(1000), text("after")],
    "text then bad frame": [text("before"), frame(3)],
    "ping empty": [frame(9), close(1000)],
    "pong unsolicited": [frame(10, b"hb"), text("x"), close(1000)],
}


# Where stage08 is knowingly stricter than both references (RFC 6455 MUSTs they let pass):
# a length not in its fewest bytes (5.2), a 64-bit length with the top bit set (5.2: 1002, not
# 1009), and a bad UTF-8 byte in a text fragment without FIN (8.1: fail at once, not at FIN).
STRICTER = {
    "non-minimal 16-bit length",
    "non-minimal 64-bit length",
    "non-minimal 64 for 200",
    "64-bit length top bit",
    "utf8 bad in 2nd fragment, fin=0",
    "utf8 bad in 1st fragment, fin=0 (fail fast)",
}


def run_case(port, path, frames, drip=False):
    try:
        sock = connect(port, path)
    except Exception as e:  # noqa: BLE001 - reported as the row
        return [f"handshake: {e}"]
    data = b"".join(frames)
    try:
        if drip:
            for i in range(len(data)):
                sock.sendall(data[i:i + 1])
        else:
            sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    got = answers(sock)
    sock.close()
    return got


def main():
    servers = []
    for arg in sys.argv[1:]:
        name, port = arg.split("=")
        path = "/ws/echo" if name == "stage08" else "/"
        servers.append((name, int(port), path))
    cases = dict(CASES)
    only = os.environ.get("CASES")
    if os.environ.get("BIG"):
        cases["16 MiB text"] = [text(b"a" * BIG), close(1000)]
        cases["16 MiB + 1 text (sent)"] = [text(b"a" * (BIG + 1))]
    alone = 0
    for name, frames in cases.items():
        if only and only not in name:
            continue
        rows = {}
        for server, port, path in servers:
            rows[server] = run_case(port, path, frames)
        if name in ("fragments with pings", "utf8 valid 4-byte split", "text hello"):
            for server, port, path in servers:
                rows[server + " (dripped)"] = run_case(port, path, frames, drip=True)
        values = [" ".join(v) for v in rows.values()]
        if len(set(values)) == 1:
            print(f"same   {name:45} {values[0]}")
        else:
            others = [" ".join(v) for k, v in rows.items() if not k.startswith("stage08")]
            ours = " ".join(rows.get("stage08", []))
            flag = "DIFF*" if others and ours not in others else "diff "
            if flag == "DIFF*" and name in STRICTER:
                flag = "strict"
            alone += flag == "DIFF*"
            print(f"{flag}  {name}")
            for k, v in rows.items():
                print(f"         {k:22} {' '.join(v)}")
        sys.stdout.flush()
    print(f"{alone} case(s) where stage08 agrees with no reference (beside the {len(STRICTER)} known stricter ones)")
    sys.exit(1 if alone else 0)


if __name__ == "__main__":
    main()
