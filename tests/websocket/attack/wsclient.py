"""A tiny raw WebSocket client for the attack scripts (no library: the frames are ours)."""
import base64
import json
import os
import socket
import ssl
import struct

from differential import answers, close, frame, read_exact, text  # noqa: F401


class Ws:
    def __init__(self, port, path, rcvbuf=None, host="127.0.0.1", tls=False):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect((host, port))
        if tls or os.environ.get("WSS"):
            # wss:// to a self-signed stage08: encryption without verification (attack use only)
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = bytearray()
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("closed during handshake")
            self.buf += chunk
        end = self.buf.index(b"\r\n\r\n") + 4
        self.head = bytes(self.buf[:end]).decode()
        self.buf = self.buf[end:]

    def send(self, data):
        self.sock.sendall(data)

    def say(self, obj):
        self.sock.sendall(text(json.dumps(obj) if not isinstance(obj, (str, bytes)) else obj))

    def recv(self, timeout=5):
        """(opcode, payload) of the next frame; raises EOFError / socket.timeout."""
        self.sock.settimeout(timeout)
        self.buf = read_exact(self.sock, 2, self.buf)
        op, n, at = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
        if n == 126:
            self.buf = read_exact(self.sock, 4, self.buf)
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self.buf = read_exact(self.sock, 10, self.buf)
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        self.buf = read_exact(self.sock, at + n, self.buf)
        payload = bytes(self.buf[at:at + n])
        self.buf = self.buf[at + n:]
        return op, payload

    def json(self, timeout=5):
        while True:
            op, payload = self.recv(timeout)
            if op == 1:
                return json.loads(payload)
            if op == 8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                return {"close": code, "reason": payload[2:].decode(errors="replace")}
            if op == 9:
                self.send(frame(10, payload))
