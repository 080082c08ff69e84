"""Raw HTTP/2 frames over a socket, for the attack scripts of tests/h2/attack/.

Nothing here comes from the server under test: frames are packed by hand and header blocks
are encoded by Python's `hpack` (an independent HPACK), or spelled out as literals when a
test needs a block no encoder would produce. A connection reads frames back with a deadline,
so every check ends: a frame arrives, the server closes, or the time is up.
"""

import socket
import ssl
import struct
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY",
         "WINDOW_UPDATE", "CONTINUATION"]
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, ENHANCE_YOUR_CALM, \
    INADEQUATE_SECURITY, HTTP_1_1_REQUIRED = range(14)
CODES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
         "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
         "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]

S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, \
    S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = range(1, 7)


def code_name(code):
    return CODES[code] if code < len(CODES) else "0x%x" % code


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def settings(*pairs, ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def window_update(stream, increment):
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


def rst_stream(stream, code):
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def ping(payload=b"attackh2", ack=False):
    return frame(PING, ACK if ack else 0, 0, payload)


def goaway(last, code, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last, code) + debug)


def priority(stream, depends_on, weight=15, exclusive=False):
    return frame(PRIORITY, 0, stream, struct.pack(">IB", depends_on | (0x80000000 if exclusive else 0), weight))


def literal(name, value):
    """A literal field without indexing, new name, no Huffman: bytes no encoder chooses."""
    name, value = _b(name), _b(value)
    return b"\x00" + _int7(len(name)) + name + _int7(len(value)) + value


def _int7(n):
    if n < 127:
        return bytes([n])
    out, n = [127], n - 127
    while n >= 128:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def _b(s):
    return s if isinstance(s, bytes) else s.encode()


def request_fields(method="GET", path="/", authority="localhost", scheme="http", extra=()):
    fields = [(":method", method), (":scheme", scheme), (":path", path)]
    if authority is not None:
        fields.append((":authority", authority))
    return fields + list(extra)


class Frame:
    def __init__(self, kind, flags, stream, payload):
        self.kind, self.flags, self.stream, self.payload = kind, flags, stream, payload

    @property
    def code(self):
        if self.kind == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        if self.kind == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        return None

    @property
    def last_stream(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    def __repr__(self):
        name = NAMES[self.kind] if self.kind < len(NAMES) else str(self.kind)
        extra = ""
        if self.code is not None:
            extra = " " + code_name(self.code)
        if self.kind == GOAWAY:
            extra += " last=%d debug=%r" % (self.last_stream, self.payload[8:60])
        return "<%s flags=%#x stream=%d len=%d%s>" % (name, self.flags, self.stream, len(self.payload), extra)


class Conn:
    """One client connection: TLS with ALPN h2, or cleartext with prior knowledge."""

    def __init__(self, port, tls=False, host="127.0.0.1", timeout=3.0, preface=True, settings_pairs=(),
                 rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
            assert self.sock.selected_alpn_protocol() == "h2", self.sock.selected_alpn_protocol()
        self.scheme = "https" if tls else "http"
        self.timeout = timeout
        self.buf = b""
        self.closed = False
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self.server_settings = {}
        self.frames = []
        if preface:
            self.send(PREFACE + settings(*settings_pairs))
            self.handshake()

    def handshake(self):
        """Reads the server's SETTINGS and ACKs it (its ACK of ours may come later)."""
        f = self.until(lambda f: f.kind == SETTINGS and not f.flags & ACK)
        if f is None:
            raise RuntimeError("no SETTINGS from the server")
        for i in range(0, len(f.payload), 6):
            k, v = struct.unpack(">HI", f.payload[i:i + 6])
            self.server_settings[k] = v
        self.send(settings(ack=True))

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.closed = True
            return False

    def headers(self, stream, fields, end_stream=True, end_headers=True, flags=0):
        block = self.encoder.encode(fields)
        f = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0) | flags
        return frame(HEADERS, f, stream, block)

    def get(self, stream, path="/", method="GET", extra=(), end_stream=True, authority="localhost"):
        self.send(self.headers(stream, request_fields(method, path, authority, self.scheme, extra), end_stream))

    def next_frame(self, timeout=None):
        """The next frame, or None when the server closed or nothing came in time."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        polled = False
        while True:
            if len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + length:
                    kind, flags = self.buf[3], self.buf[4]
                    stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                    f = Frame(kind, flags, stream, self.buf[9:9 + length])
                    self.buf = self.buf[9 + length:]
                    self.frames.append(f)
                    self._decode(f)
                    if kind == PING and not flags & ACK and self.auto_ping:
                        self.send(ping(f.payload, ack=True))
                    return f
            if self.closed:
                return None
            left = deadline - time.monotonic()
            if left <= 0 and polled:
                return None
            # A zero timeout still looks once at what has arrived.
            polled = True
            self.sock.settimeout(max(left, 0.0))
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, BlockingIOError, ssl.SSLWantReadError):
                return None
            except (ConnectionResetError, ssl.SSLError, OSError):
                self.closed = True
                return None
            if not chunk:
                self.closed = True
            self.buf += chunk

    auto_ping = True
    _block = b""

    def _decode(self, f):
        """Every header block goes through our decoder, in order, so its table stays in sync."""
        f.fields = None
        if f.kind == HEADERS:
            self._block = strip_headers(f)
        elif f.kind == CONTINUATION:
            self._block += f.payload
        else:
            return
        if f.flags & END_HEADERS:
            f.fields = self.decoder.decode(self._block)
            self._block = b""

    def until(self, match, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            f = self.next_frame(left)
            if f is None:
                return None
            if match(f):
                return f

    def response(self, stream, timeout=None):
        """(status, headers, body) of one stream, ("RST", code, body), or None."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        head, body = None, bytearray()
        while True:
            f = self.next_frame(max(deadline - time.monotonic(), 0))
            if f is None:
                return None
            if f.kind == GOAWAY and f.last_stream < stream:
                return None
            if f.stream != stream:
                continue
            if f.kind == RST_STREAM:
                return ("RST", code_name(f.code), bytes(body))
            if f.kind in (HEADERS, CONTINUATION) and f.fields is not None and head is None:
                head = f.fields
            if f.kind == DATA:
                body += strip_data(f)
            if f.kind in (HEADERS, DATA) and f.flags & END_STREAM:
                break
        status = dict(head).get(":status") if head else None
        return (int(status) if status else None, head, bytes(body))

    def connection_error(self, timeout=None):
        """The GOAWAY code ('closed' if it closed without one, None if it stayed open)."""
        f = self.until(lambda f: f.kind == GOAWAY, timeout)
        if f is not None:
            return code_name(f.code)
        return "closed" if self.closed else None

    def stream_error(self, stream, timeout=None):
        """RST_STREAM's code on `stream`, or 'GOAWAY:<code>', or 'closed', or None."""
        f = self.until(lambda f: (f.kind == RST_STREAM and f.stream == stream) or f.kind == GOAWAY, timeout)
        if f is None:
            return "closed" if self.closed else None
        if f.kind == GOAWAY:
            return "GOAWAY:" + code_name(f.code)
        return code_name(f.code)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def strip_headers(f):
    p = f.payload
    pad = 0
    if f.flags & PADDED:
        pad = p[0]
        p = p[1:]
    if f.flags & PRIORITY_FLAG:
        p = p[5:]
    return p[:len(p) - pad] if pad else p


def strip_data(f):
    p = f.payload
    if f.flags & PADDED:
        pad = p[0]
        return p[1:len(p) - pad]
    return p


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None
