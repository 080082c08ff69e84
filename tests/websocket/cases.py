"""tests/websocket/cases.py: a conformance run against /ws/echo modelled on the Autobahn
testsuite's cases 1-7 and 9, with a raw client written here (Python sockets, standard library).

Autobahn (https://github.com/crossbario/autobahn-testsuite) drives a server with crafted frames
and grades what comes back. Its numbering is kept: 1 framing, 2 pings and pongs, 3 reserved
bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close handling, 9 limits and performance. Each
case here asserts one outcome: the echo, byte for byte and opcode for opcode, or the close code
the server must fail the connection with, followed by the server closing TCP. Where Autobahn
accepts a "non-strict" outcome (failing a bad UTF-8 message only at its end), this run wants
the strict one (failing at the first bad fragment, before the rest is sent).

The client is deliberately simple and blocking: one socket per case, every read with a
deadline, frames masked with a random key as a browser's are. `run_all(host, port)` returns
(passed, failed) lists of (case id, description, failure message).
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
WAIT = 10.0  # seconds: the deadline of every read


class CaseFailed(Exception):
    pass


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise CaseFailed(what)


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0,
          mask: bool = True, length: int | None = None) -> bytes:
    """One client frame; `length` overrides the payload length field (for lying headers)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def mask_bytes(payload: bytes, key: bytes) -> bytes:
    # XOR as big integers: fast enough in Python for the 16 MiB cases.
    if not payload:
        return b""
    repeat = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeat, "big")).to_bytes(len(payload), "big")


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack(">H", code) + reason


class Client:
    """One WebSocket connection to the server, spoken by hand."""

    def __init__(self, host: str, port: int, path: str = "/ws/echo",
                 tls: ssl.SSLContext | None = None):
        self.sock = socket.create_connection((host, port), timeout=WAIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(
            b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n")
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        expect(lines[0].startswith("HTTP/1.1 101 "), f"a 101, got {lines[0]!r}")
        fields = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        expect(fields.get("sec-websocket-accept") == accept, "the right Sec-WebSocket-Accept")

    def _fill(self, deadline: float | None = None) -> None:
        if deadline is not None:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError
        self.buf += data

    def send(self, data: bytes, chunk: int | None = None, delay: float = 0.0) -> None:
        """Sends bytes at once, or in pieces of `chunk` bytes (a pause of `delay` between)."""
        if chunk is None:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            if delay:
                time.sleep(delay)

    def read_frame(self, wait: float = WAIT) -> tuple[bool, int, int, bytes]:
        """The next server frame: (fin, rsv, opcode, payload). Server frames are never masked."""
        deadline = time.monotonic() + wait
        while len(self.buf) < 2:
            self._fill(deadline)
        b0, b1 = self.buf[0], self.buf[1]
        expect(b1 & 0x80 == 0, "an unmasked server frame")
        n, used = b1 & 0x7F, 2
        if n >= 126:
            extra = 2 if n == 126 else 8
            while len(self.buf) < 2 + extra:
                self._fill(deadline)
            n = int.from_bytes(self.buf[2:2 + extra], "big")
            used += extra
        while len(self.buf) < used + n:
            self._fill(deadline)
        payload = self.buf[used:used + n]
        self.buf = self.buf[used + n:]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload

    def read_message(self, wait: float = WAIT) -> tuple[int, bytes]:
        """The next data message (fragments joined); pongs in between are skipped."""
        opcode, parts = None, []
        while True:
            fin, rsv, op, payload = self.read_frame(wait)
            expect(rsv == 0, "no RSV bits from the server")
            if op == PONG:
                continue
            expect(op != CLOSE, f"a message, got a close {payload[:2].hex()} {payload[2:]!r}")
            if opcode is None:
                opcode = op
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    def expect_echo(self, opcode: int, payload: bytes, wait: float = WAIT) -> None:
        got_op, got = self.read_message(wait)
        expect(got_op == opcode, f"opcode {opcode}, got {got_op}")
        expect(got == payload, f"the echo of {len(payload)} bytes, got {len(got)} bytes"
               + ("" if len(got) > 64 else f" {got!r}"))

    def expect_pong(self, payload: bytes) -> None:
        fin, _, op, got = self.read_frame()
        expect((op, got) == (PONG, payload), f"a pong with {payload!r}, got opcode {op} {got!r}")

    def expect_close(self, codes: set[int | None], wait: float = WAIT) -> None:
        """The server's close frame with one of `codes` (None: no code), then TCP closed."""
        try:
            while True:
                fin, _, op, payload = self.read_frame(wait)
                if op == CLOSE:
                    break
                expect(op == PONG, f"a close, got opcode {op} with {payload[:40]!r}")
        except EOFError:
            raise CaseFailed("a close frame, got the TCP connection closed") from None
        except ConnectionResetError:
            raise CaseFailed("a close frame, got the TCP connection reset") from None
        code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
        expect(code in codes, f"close code in {sorted(codes, key=str)}, got {code}")
        # Echo a close if the server started it (as a client would); then TCP must close.
        try:
            if code is not None and code != 1000:
                self.sock.sendall(frame(CLOSE, close_payload(1000)))
            deadline = time.monotonic() + wait
            while True:
                self._fill(deadline)
        except (EOFError, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
            return
        except socket.timeout:
            raise CaseFailed("the server to close TCP after the close handshake") from None

    def expect_silence(self, wait: float = 0.3) -> None:
        """Nothing arrives for `wait` seconds (no answer to an unsolicited pong)."""
        try:
            fin, _, op, payload = self.read_frame(wait)
        except socket.timeout:
            return
        raise CaseFailed(f"nothing, got opcode {op} with {payload[:40]!r}")

    def close(self) -> None:
        self.sock.close()


# Each case: (id, description, function(client)). A case that opens no connection of its own
# gets one made before; cases return nothing and raise CaseFailed.
CASES: list[tuple[str, str, object]] = []


def case(number: str, description: str):
    def register(function):
        CASES.append((number, description, function))
        return function
    return register


def echo_case(number: str, opcode: int, payload: bytes, chunk: int | None = None,
              description: str = ""):
    @case(number, description or f"{'text' if opcode == TEXT else 'binary'} of {len(payload)} bytes"
          + (f", sent in {chunk}-byte pieces" if chunk else ""))
    def run(c: Client) -> None:
        c.send(frame(opcode, payload), chunk)
        c.expect_echo(opcode, payload)
        c.send(frame(CLOSE, close_payload(1000)))
        c.expect_close({1000})


# 1. Framing: lengths at each boundary of the 7-, 16- and 64-bit forms.
for i, n in enumerate([0, 125, 126, 127, 128, 65535, 65536]):
    echo_case(f"1.1.{i + 1}", TEXT, b"*" * n)
    echo_case(f"1.2.{i + 1}", BINARY, bytes([0xFE]) * n)
echo_case("1.1.8", TEXT, b"*" * 65536, chunk=997)
echo_case("1.2.8", BINARY, bytes([0xFE]) * 65536, chunk=997)


# 2. Pings and pongs.
def ping_case(number: str, payload: bytes, chunk: int | None = None, description: str = ""):
    @case(number, description or f"ping with {len(payload)} bytes, answered by the same pong")
    def run(c: Client) -> None:
        c.send(frame(PING, payload), chunk)
        c.expect_pong(payload)
        c.send(frame(CLOSE, close_payload(1000)))
        c.expect_close({1000})


ping_case("2.1", b"")
ping_case("2.2", b"Hello, world!")
ping_case("2.3", bytes([0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF]))
ping_case("2.4", b"*" * 125)


@case("2.5", "ping with 126 bytes: 1002")
def _(c: Client) -> None:
    c.send(frame(PING, b"*" * 126))
    c.expect_close({1002})


ping_case("2.6", b"*" * 125, chunk=1, description="ping with 125 bytes sent one byte at a time")


@case("2.7", "unsolicited pong without payload: no answer")
def _(c: Client) -> None:
    c.send(frame(PONG))
    c.expect_silence()
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("2.8", "unsolicited pong with payload: no answer")
def _(c: Client) -> None:
    c.send(frame(PONG, b"unsolicited pong payload"))
    c.expect_silence()
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("2.9", "unsolicited pong, then a ping: only the ping is answered")
def _(c: Client) -> None:
    c.send(frame(PONG, b"unsolicited") + frame(PING, b"solicited"))
    c.expect_pong(b"solicited")
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("2.10", "10 pings, 10 pongs in order")
def _(c: Client) -> None:
    c.send(b"".join(frame(PING, b"payload-%d" % i) for i in range(10)))
    for i in range(10):
        c.expect_pong(b"payload-%d" % i)
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("2.11", "10 pings sent in 1-byte pieces, 10 pongs")
def _(c: Client) -> None:
    c.send(b"".join(frame(PING, b"payload-%d" % i) for i in range(10)), chunk=1)
    for i in range(10):
        c.expect_pong(b"payload-%d" % i)
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


# 3. Reserved bits: with no extension negotiated, any RSV bit is a 1002. As in Autobahn, a
# good message goes first (it must be echoed) and a ping after (it must not be answered).
for i, (rsv, opcode) in enumerate([(1, TEXT), (2, TEXT), (3, TEXT), (4, TEXT),
                                   (5, BINARY), (6, PING), (7, CLOSE)]):
    def rsv_case(c: Client, rsv=rsv, opcode=opcode) -> None:
        payload = close_payload(1000) if opcode == CLOSE else b"Hello, world!"
        c.send(frame(TEXT, b"Hello, world!") + frame(opcode, payload, rsv=rsv) + frame(PING))
        c.expect_echo(TEXT, b"Hello, world!")
        c.expect_close({1002})
    case(f"3.{i + 1}", f"RSV={rsv} on a {['', 'text', 'binary'][opcode] if opcode < 3 else 'control'}"
         f" frame: 1002")(rsv_case)


# 4. Opcodes: 3-7 (data) and B-F (control) are reserved.
for i, opcode in enumerate([3, 4, 5, 6, 7]):
    def op_case(c: Client, opcode=opcode) -> None:
        c.send(frame(TEXT, b"Hello") + frame(opcode, b"reserved") + frame(PING))
        c.expect_echo(TEXT, b"Hello")
        c.expect_close({1002})
    case(f"4.1.{i + 1}", f"reserved data opcode {opcode:#x}: 1002")(op_case)
for i, opcode in enumerate([0xB, 0xC, 0xD, 0xE, 0xF]):
    def op_case(c: Client, opcode=opcode) -> None:
        c.send(frame(TEXT, b"Hello") + frame(opcode, b"reserved") + frame(PING))
        c.expect_echo(TEXT, b"Hello")
        c.expect_close({1002})
    case(f"4.2.{i + 1}", f"reserved control opcode {opcode:#x}: 1002")(op_case)


# 5. Fragmentation.
@case("5.1", "a fragmented ping: 1002")
def _(c: Client) -> None:
    c.send(frame(PING, b"frag1", fin=False) + frame(CONT, b"frag2"))
    c.expect_close({1002})


@case("5.2", "a fragmented pong: 1002")
def _(c: Client) -> None:
    c.send(frame(PONG, b"frag1", fin=False) + frame(CONT, b"frag2"))
    c.expect_close({1002})


def fragments_case(number: str, chunk: int | None, delay: float, ping: bool, description: str):
    @case(number, description)
    def run(c: Client) -> None:
        parts = [frame(TEXT, b"fragment1", fin=False)]
        if ping:
            parts.append(frame(PING, b"pongme!"))
        parts.append(frame(CONT, b"fragment2"))
        for part in parts:
            c.send(part, chunk, delay)
        if ping:
            c.expect_pong(b"pongme!")
        c.expect_echo(TEXT, b"fragment1fragment2")
        c.send(frame(CLOSE, close_payload(1000)))
        c.expect_close({1000})


fragments_case("5.3", None, 0, False, "text in two fragments")
fragments_case("5.4", 1, 0, False, "text in two fragments, sent in 1-byte pieces")
fragments_case("5.5", 1, 0.001, False, "text in two fragments, sent slowly")
fragments_case("5.6", None, 0, True, "text in two fragments, a ping in between")
fragments_case("5.7", 1, 0, True, "text in two fragments, a ping in between, 1-byte pieces")
fragments_case("5.8", 1, 0.001, True, "text in two fragments, a ping in between, slowly")


@case("5.9", "a continuation (FIN) with nothing to continue: 1002")
def _(c: Client) -> None:
    c.send(frame(CONT, b"non-continuation payload") + frame(TEXT, b"Hello, world!"))
    c.expect_close({1002})


@case("5.10", "the same, sent in 1-byte pieces: 1002")
def _(c: Client) -> None:
    c.send(frame(CONT, b"non-continuation payload"), chunk=1)
    c.expect_close({1002})


@case("5.12", "a continuation (no FIN) with nothing to continue: 1002")
def _(c: Client) -> None:
    c.send(frame(CONT, b"non-continuation payload", fin=False))
    c.expect_close({1002})


@case("5.15", "a whole fragmented message, then a continuation: echo, then 1002")
def _(c: Client) -> None:
    c.send(frame(TEXT, b"fragment1", fin=False) + frame(CONT, b"fragment2")
           + frame(CONT, b"fragment3", fin=False) + frame(TEXT, b"fragment4"))
    c.expect_echo(TEXT, b"fragment1fragment2")
    c.expect_close({1002})


@case("5.17", "a continuation with FIN before any message, twice: 1002")
def _(c: Client) -> None:
    c.send(frame(CONT, b"fragment1") + frame(TEXT, b"fragment2", fin=False) + frame(CONT, b"x"))
    c.expect_close({1002})


@case("5.18", "a text fragment, then a new text frame inside it: 1002")
def _(c: Client) -> None:
    c.send(frame(TEXT, b"fragment1", fin=False) + frame(TEXT, b"fragment2"))
    c.expect_close({1002})


@case("5.19", "five fragments with pings between, sent over time: pongs, then the echo")
def _(c: Client) -> None:
    c.send(frame(TEXT, b"fragment1", fin=False) + frame(CONT, b"fragment2", fin=False))
    c.send(frame(PING, b"pongme 1!"))
    c.expect_pong(b"pongme 1!")
    c.send(frame(CONT, b"fragment3", fin=False) + frame(CONT, b"fragment4", fin=False))
    c.send(frame(PING, b"pongme 2!"))
    c.expect_pong(b"pongme 2!")
    c.send(frame(CONT, b"fragment5"))
    c.expect_echo(TEXT, b"fragment1fragment2fragment3fragment4fragment5")
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("5.20", "a binary message in fragments with an empty one in the middle")
def _(c: Client) -> None:
    c.send(frame(BINARY, b"\x00\x01", fin=False) + frame(CONT, b"", fin=False) + frame(CONT, b"\x02"))
    c.expect_echo(BINARY, b"\x00\x01\x02")
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


# 6. UTF-8 handling: the vectors of Markus Kuhn's UTF-8 decoder stress test that Autobahn
# uses (6.5-6.22), as hex, each with what the server must do: echo it, or close with 1007.
VALID = [
    "", "cebae1bdb9cf83cebcceb5", "f09f9880", "7f", "dfbf", "efbfbf", "f48fbfbf",
    "00", "c280", "e0a080", "f0908080", "ed9fbf", "ee8080", "efbfbd", "efbfbe",
    "48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d382121",
]
INVALID = [
    "cebae1bdb9cf83cebcceb5eda080656469746564",  # a surrogate inside valid text
    "80", "bf", "80bf", "c0", "c020", "e0", "e080", "f0", "f08080", "f8888080af",
    "fc8480808080af", "fe", "ff", "fefeffff", "c0af", "e080af", "f08080af", "c1bf",
    "e09fbf", "f08fbfbf", "c080", "e08080", "f0808080", "eda080", "edadbf", "edb080",
    "edbfbf", "eda080edb080", "edbfbfedbfbf", "f4908080", "f7bfbfbf", "cebae1bd",
]


@case("6.1", "empty text fragments make an empty message")
def _(c: Client) -> None:
    c.send(frame(TEXT, b"", fin=False) + frame(CONT, b"", fin=False) + frame(CONT, b""))
    c.expect_echo(TEXT, b"")
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("6.2", "valid text split into fragments at every byte offset")
def _(c: Client) -> None:
    text = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 🎉".encode()
    for cut in range(1, len(text)):
        c.send(frame(TEXT, text[:cut], fin=False) + frame(CONT, text[cut:]))
        c.expect_echo(TEXT, text)
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("6.3", "valid text, one frame per byte")
def _(c: Client) -> None:
    text = "κόσμε 🎉".encode()
    frames = [frame(TEXT if i == 0 else CONT, text[i:i + 1], fin=i == len(text) - 1)
              for i in range(len(text))]
    c.send(b"".join(frames))
    c.expect_echo(TEXT, text)
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("6.4.1", "fail fast: a first fragment already invalid closes 1007 before the rest")
def _(c: Client) -> None:
    c.send(frame(TEXT, bytes.fromhex("cebae1bdb9cf83cebcceb5f4908080"), fin=False))
    c.expect_close({1007}, wait=2.0)


@case("6.4.2", "fail fast: invalid bytes in the middle of a frame whose rest never comes")
def _(c: Client) -> None:
    payload = bytes.fromhex("cebae1bdb9cf83cebcceb5f4908080656469746564") + b"x" * 1000
    whole = frame(TEXT, payload)
    c.send(whole[: len(whole) - 1000])  # header, the text and the bad bytes; not the rest
    c.expect_close({1007}, wait=2.0)


@case("6.4.3", "fail fast: a code point cut by fragments becomes invalid in the second")
def _(c: Client) -> None:
    c.send(frame(TEXT, b"\xce", fin=False))
    c.send(frame(CONT, b"\x41", fin=False))
    c.expect_close({1007}, wait=2.0)


for i, hexed in enumerate(VALID):
    def valid_case(c: Client, hexed=hexed) -> None:
        text = bytes.fromhex(hexed)
        c.send(frame(TEXT, text))
        c.expect_echo(TEXT, text)
        # And fragmented at every byte.
        for cut in range(1, len(text)):
            c.send(frame(TEXT, text[:cut], fin=False) + frame(CONT, text[cut:]))
            c.expect_echo(TEXT, text)
        c.send(frame(CLOSE, close_payload(1000)))
        c.expect_close({1000})
    case(f"6.5.{i + 1}", f"valid UTF-8 {hexed[:24] or '(empty)'}: echoed")(valid_case)

for i, hexed in enumerate(INVALID):
    def invalid_case(c: Client, hexed=hexed) -> None:
        c.send(frame(TEXT, bytes.fromhex(hexed)))
        c.expect_close({1007})
    case(f"6.6.{i + 1}", f"invalid UTF-8 {hexed[:24]}: 1007")(invalid_case)


@case("6.7", "invalid UTF-8 in a fragmented message, sent one byte per frame: 1007")
def _(c: Client) -> None:
    text = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")
    frames = [frame(TEXT if i == 0 else CONT, text[i:i + 1], fin=i == len(text) - 1)
              for i in range(len(text))]
    c.send(b"".join(frames))
    c.expect_close({1007})


# 7. Close handling.
@case("7.1.1", "a message, then a close: echo, then close 1000")
def _(c: Client) -> None:
    c.send(frame(TEXT, b"Hello World!") + frame(CLOSE, close_payload(1000)))
    c.expect_echo(TEXT, b"Hello World!")
    c.expect_close({1000})


@case("7.1.2", "two closes: one close back")
def _(c: Client) -> None:
    c.send(frame(CLOSE, close_payload(1000)) + frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("7.1.3", "a close, then a ping: no pong")
def _(c: Client) -> None:
    c.send(frame(CLOSE, close_payload(1000)) + frame(PING, b"Hello"))
    c.expect_close({1000})


@case("7.1.4", "a close, then a message: no echo")
def _(c: Client) -> None:
    c.send(frame(CLOSE, close_payload(1000)) + frame(TEXT, b"Hello World!"))
    c.expect_close({1000})


@case("7.1.5", "a fragment, a close, the last fragment: close, no echo")
def _(c: Client) -> None:
    c.send(frame(TEXT, b"fragment1", fin=False) + frame(CLOSE, close_payload(1000))
           + frame(CONT, b"fragment2"))
    c.expect_close({1000})


@case("7.1.6", "a 256 KiB message, a ping, a close: echo, pong, close")
def _(c: Client) -> None:
    payload = b"BAsd7&jh23" * 26214
    c.send(frame(TEXT, payload) + frame(PING, b"ping") + frame(CLOSE, close_payload(1000)))
    c.expect_echo(TEXT, payload)
    c.expect_pong(b"ping")
    c.expect_close({1000})


@case("7.3.1", "a close without payload: a close without code")
def _(c: Client) -> None:
    c.send(frame(CLOSE))
    c.expect_close({None, 1000})


@case("7.3.2", "a close with a 1-byte payload: 1002")
def _(c: Client) -> None:
    c.send(frame(CLOSE, b"\x00"))
    c.expect_close({1002})


@case("7.3.3", "a close with 1000: 1000 back")
def _(c: Client) -> None:
    c.send(frame(CLOSE, close_payload(1000)))
    c.expect_close({1000})


@case("7.3.4", "a close with 1000 and a reason: 1000 back")
def _(c: Client) -> None:
    c.send(frame(CLOSE, close_payload(1000, b"Hello World!")))
    c.expect_close({1000})


@case("7.3.5", "a close with 1000 and a 123-byte reason: 1000 back")
def _(c: Client) -> None:
    c.send(frame(CLOSE, close_payload(1000, b"*" * 123)))
    c.expect_close({1000})


@case("7.3.6", "a close with a 124-byte reason (126-byte payload): 1002")
def _(c: Client) -> None:
    c.send(frame(CLOSE, close_payload(1000, b"*" * 124)))
    c.expect_close({1002})


@case("7.5.1", "a close whose reason is not UTF-8: 1007")
def _(c: Client) -> None:
    c.send(frame(CLOSE, close_payload(1000, bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564"))))
    c.expect_close({1007})


for i, code in enumerate([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]):
    def valid_code(c: Client, code=code) -> None:
        c.send(frame(CLOSE, close_payload(code)))
        c.expect_close({code})
    case(f"7.7.{i + 1}", f"a close with {code}: echoed")(valid_code)

for i, code in enumerate([0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 1015,
                          5000, 65535]):
    def invalid_code(c: Client, code=code) -> None:
        c.send(frame(CLOSE, close_payload(code)))
        c.expect_close({1002})
    case(f"7.9.{i + 1}", f"a close with {code}: 1002")(invalid_code)


# Framing the Autobahn suite cannot send through its own framer, but a hostile client can.
@case("7.x.1", "an unmasked client frame: 1002")
def _(c: Client) -> None:
    c.send(frame(TEXT, b"Hello", mask=False))
    c.expect_close({1002})


@case("7.x.2", "a 64-bit length with the top bit set: 1002")
def _(c: Client) -> None:
    c.send(bytes([0x82, 0xFF]) + b"\x80" + b"\x00" * 7 + os.urandom(4))
    c.expect_close({1002})


@case("7.x.3", "a message over the limit, refused from its header (no payload sent): 1009")
def _(c: Client) -> None:
    c.send(bytes([0x82, 0xFF]) + struct.pack(">Q", (16 << 20) + 1) + os.urandom(4))
    c.expect_close({1009})


@case("7.x.4", "fragments adding up to more than the limit: 1009")
def _(c: Client) -> None:
    c.send(frame(BINARY, b"\x00" * (8 << 20), fin=False))
    c.send(frame(CONT, b"\x00" * (8 << 20), fin=False))
    c.send(bytes([0x80, 0x81]) + os.urandom(4) + b"\x00")
    c.expect_close({1009})


# 9. Limits and performance (the timings are printed, never asserted).
for i, n in enumerate([64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20]):
    echo_case(f"9.1.{i + 1}", TEXT, b"*" * n)
    echo_case(f"9.2.{i + 1}", BINARY, b"\xfe" * n)


def fragmented_case(number: str, opcode: int, size: int, fragment: int):
    @case(number, f"{'text' if opcode == TEXT else 'binary'} of {size >> 20} MiB in "
          f"{fragment}-byte fragments")
    def run(c: Client) -> None:
        payload = (b"*" if opcode == TEXT else b"\xfe") * size
        frames = [frame(opcode if i == 0 else CONT, payload[i:i + fragment],
                        fin=i + fragment >= size) for i in range(0, size, fragment)]
        c.send(b"".join(frames))
        c.expect_echo(opcode, payload)
        c.send(frame(CLOSE, close_payload(1000)))
        c.expect_close({1000})


for i, fragment in enumerate([64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10,
                              1 << 20, 4 << 20]):
    fragmented_case(f"9.3.{i + 1}", TEXT, 4 << 20, fragment)
    fragmented_case(f"9.4.{i + 1}", BINARY, 4 << 20, fragment)

for i, chunk in enumerate([64, 128, 256, 512, 1024, 2048]):
    echo_case(f"9.5.{i + 1}", TEXT, b"*" * (1 << 20), chunk=chunk * 16,
              description=f"text of 1 MiB sent in {chunk * 16}-byte pieces")
    echo_case(f"9.6.{i + 1}", BINARY, b"\xfe" * (1 << 20), chunk=chunk * 16,
              description=f"binary of 1 MiB sent in {chunk * 16}-byte pieces")


def round_trips_case(number: str, opcode: int, size: int):
    @case(number, f"1000 {'text' if opcode == TEXT else 'binary'} messages of {size} bytes,"
          " one at a time")
    def run(c: Client) -> None:
        payload = (b"*" if opcode == TEXT else b"\xfe") * size
        message = frame(opcode, payload)
        for _ in range(1000):
            c.send(message)
            c.expect_echo(opcode, payload)
        c.send(frame(CLOSE, close_payload(1000)))
        c.expect_close({1000})


for i, size in enumerate([0, 16, 64, 256, 1024, 4096]):
    round_trips_case(f"9.7.{i + 1}", TEXT, size)
    round_trips_case(f"9.8.{i + 1}", BINARY, size)


def run_all(host: str, port: int, tls: ssl.SSLContext | None = None,
            log=print) -> tuple[list, list]:
    passed, failed = [], []
    for number, description, function in CASES:
        started = time.monotonic()
        client = None
        try:
            client = Client(host, port, tls=tls)
            function(client)
            passed.append((number, description, ""))
            outcome = "ok"
        except (CaseFailed, OSError, EOFError) as error:
            message = f"{type(error).__name__}: {error}" if not isinstance(error, CaseFailed) else str(error)
            failed.append((number, description, message))
            outcome = f"FAILED: {message}"
        finally:
            if client is not None:
                client.close()
        log(f"  {number:<8} {description} ... {outcome} ({time.monotonic() - started:.2f} s)")
    return passed, failed
