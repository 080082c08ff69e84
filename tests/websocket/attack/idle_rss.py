"""Opens N idle WebSocket connections to a stage08 and prints its resident memory.

    idle_rss.py PID PORT N PATH [tls]     (PATH /ws/echo, or /ws/chat/R: rooms R0, R1... of 100 members, names uI)

Run with `ulimit -n` above N. Every handshake is checked (101); RSS is read from /proc/PID/status
before, after, and after a ping round on every connection.
"""
import base64
import os
import selectors
import socket
import ssl
import sys
import time


def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def main():
    pid, port, n, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    tls = len(sys.argv) > 5 and sys.argv[5] == "tls"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    before = rss(pid)
    socks = []
    key = base64.b64encode(os.urandom(16)).decode()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            s = ctx.wrap_socket(s, server_hostname="localhost")
        target = path if not path.startswith("/ws/chat/") else f"{path}{i // 100}?name=u{i}"
        s.sendall((f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        socks.append(s)
        if len(socks) % 500 == 0:
            # read the 101s of the last batch, so the backlog never overflows
            for t in socks[-500:]:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = t.recv(4096)
                    if not chunk:
                        raise SystemExit(f"closed during handshake at {len(socks)}")
                    head += chunk
                if not head.startswith(b"HTTP/1.1 101"):
                    raise SystemExit(head[:100])
    # drain what else came (chat welcomes and joins), without blocking
    for s in socks:
        s.setblocking(False)
        try:
            while s.recv(1 << 16):
                pass
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
    time.sleep(1)
    after = rss(pid)
    print(f"{n} idle connections on {path}{' over TLS' if tls else ''}: RSS {before} KiB before, {after} KiB after "
          f"({(after - before) / n:.2f} KiB each), {after / 1024:.1f} MiB total")


if __name__ == "__main__":
    main()
