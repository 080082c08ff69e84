"""An upgrade pipelined behind a request for a big file (the upgrade waits in the HTTP session's
input while the file goes out with sendfile, or through TLS records), and frames pipelined
behind the upgrade: the file must arrive whole, then the 101, then the echo.

    pipelined_upgrade.py PORT TLS_PORT PATH SIZE
"""
import socket
import ssl
import sys

from differential import close, text

UPGRADE = (b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def run(sock, path, size):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() + UPGRADE + text("behind") + close(1000))
    data = b""
    sock.settimeout(10)
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ssl.SSLError, ConnectionResetError) as e:
        print("   ", repr(e))
    head_end = data.index(b"\r\n\r\n") + 4
    body = data[head_end:head_end + size]
    rest = data[head_end + size:]
    ok = data.startswith(b"HTTP/1.1 200") and len(body) == size and rest.startswith(b"HTTP/1.1 101")
    frames = rest[rest.index(b"\r\n\r\n") + 4:] if b"\r\n\r\n" in rest else b""
    return ok and frames == b"\x81\x06behind\x88\x02\x03\xe8", frames


def main():
    port, tls_port, path, size = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    print("ws: ", run(socket.create_connection(("127.0.0.1", port)), path, size))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)), server_hostname="localhost")
    print("wss:", run(tls, path, size))


if __name__ == "__main__":
    main()
