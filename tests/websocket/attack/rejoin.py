"""A member that drops its connection and reconnects at once with the same name: is it let in?

    rejoin.py PORT N [close|rst|fin] [TLS_PORT]

With TLS_PORT, every old connection is wss:// on TLS_PORT and every new one ws:// on PORT: two
loops, two senders to the hub, so nothing orders the old one's leave before the new one's join.

`close`: sends a close frame and closes the socket without waiting for the reply (what a page
being reloaded does); `rst`: the connection is reset; `fin`: a bare FIN. Each of N rounds then
reconnects as the same name to the same room at once and counts welcomes and refusals.
"""
import socket
import struct
import sys
import time

from differential import close
from wsclient import Ws


def main():
    port, n, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    tls_port = int(sys.argv[4]) if len(sys.argv) > 4 else None
    old = (lambda: Ws(tls_port, room, tls=True)) if tls_port else (lambda: Ws(port, room))
    room = f"/ws/chat/rejoin{int(time.time())}?name=same"
    watcher = Ws(port, room.replace("same", "watcher"))
    watcher.json()
    ws = old()
    assert ws.json()["type"] == "welcome"
    refused = 0
    for _ in range(n):
        if how == "close":
            ws.send(close(1000))
        elif how == "rst":
            ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.sock.close()
        ws = Ws(port, room)
        first = ws.json()
        if first["type"] != "welcome":
            refused += 1
            ws.json()  # its close
            ws.sock.close()
            time.sleep(0.05)
            ws = Ws(port, room)
            assert ws.json()["type"] == "welcome", "refused twice"
        if tls_port:
            ws.send(close(1000))
            ws.json()
            ws.sock.close()
            time.sleep(0.02)
            ws = old()
            assert ws.json()["type"] == "welcome", "tls rejoin refused"
    print(f"{how}: {refused} of {n} immediate reconnects refused as 'name taken'")


if __name__ == "__main__":
    main()
