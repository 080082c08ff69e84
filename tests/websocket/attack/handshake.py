"""Opening handshakes, good and bad, to several servers; the status line each answers.

    handshake.py NAME=PORT [NAME=PORT ...]   (stage08 first: its path is /ws/echo, others /)
"""
import socket
import sys

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def head(path="{path}", method="GET", version="HTTP/1.1", extra="", key=KEY, ws_version="13",
         upgrade="websocket", connection="Upgrade"):
    lines = [f"{method} {path} {version}", "Host: 127.0.0.1"]
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if ws_version is not None:
        lines.append(f"Sec-WebSocket-Version: {ws_version}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


CASES = {
    "valid": head(),
    "no key": head(key=None),
    "key 15 bytes": head(key="AAAAAAAAAAAAAAAAAAAA"),
    "key not base64": head(key="!!!!!!!!!!!!!!!!!!!!!!=="),
    "key unpadded": head(key="dGhlIHNhbXBsZSBub25jZQ"),
    "key with non-zero pad bits": head(key="dGhlIHNhbXBsZSBub25jZR=="),
    "two keys": head(extra=f"Sec-WebSocket-Key: {KEY}\r\n"),
    "version 8": head(ws_version="8"),
    "no version": head(ws_version=None),
    "version 13 twice": head(extra="Sec-WebSocket-Version: 13\r\n"),
    "POST": head(method="POST", extra="Content-Length: 0\r\n"),
    "HEAD": head(method="HEAD"),
    "HTTP/1.0": head(version="HTTP/1.0"),
    "Connection: keep-alive, Upgrade": head(connection="keep-alive, Upgrade"),
    "Upgrade: WebSocket": head(upgrade="WebSocket"),
    "Upgrade: h2c, websocket": head(upgrade="h2c, websocket"),
    "no Upgrade": head(upgrade=None),
    "no Connection": head(connection=None),
    "Content-Length: 0": head(extra="Content-Length: 0\r\n"),
    "Content-Length: 5 + body": head(extra="Content-Length: 5\r\n") + b"hello",
    "chunked body": head(extra="Transfer-Encoding: chunked\r\n") + b"0\r\n\r\n",
    "Origin": head(extra="Origin: http://evil.example\r\n"),
    "extensions offered": head(extra="Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
    "protocol offered": head(extra="Sec-WebSocket-Protocol: chat, superchat\r\n"),
    "path /ws/other": head(path="/ws/other"),
    "path /index.html": head(path="/index.html"),
    "absolute-form target": head(path="http://127.0.0.1/ws/echo"),
    "pipelined GET before": b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n" + head(),
}


def ask(port, data):
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    sock.sendall(data)
    got = b""
    try:
        while b"\r\n\r\n" not in got or (got.startswith(b"HTTP/1.1 200") and got.count(b"HTTP/1.1") < 2 and len(got) < 100000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    sock.close()
    heads = [part.split(b"\r\n")[0].decode(errors="replace") for part in got.split(b"\r\n\r\n") if part.startswith(b"HTTP/")]
    extra = []
    for name in (b"sec-websocket-version:", b"sec-websocket-extensions:", b"sec-websocket-protocol:", b"sec-websocket-accept:"):
        for line in got.split(b"\r\n"):
            if line.lower().startswith(name):
                extra.append(line.decode())
    return " | ".join(heads or ["(nothing)"]) + ("  [" + "; ".join(extra) + "]" if extra else "")


def main():
    servers = [(a.split("=")[0], int(a.split("=")[1])) for a in sys.argv[1:]]
    for name, data in CASES.items():
        print(name)
        for server, port in servers:
            path = b"/ws/echo" if server.startswith("stage08") else b"/"
            print(f"    {server:10} {ask(port, data.replace(b'{path}', path))}")


if __name__ == "__main__":
    main()
