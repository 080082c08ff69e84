"""A violation followed by a stream of bytes the client keeps sending: the server's close
frame must still reach the client (it reads the rest away before closing, so no reset
destroys the close frame in the client's receive buffer).

    close_under_flood.py PORT [SECONDS]
"""
import sys
import threading
import time

from differential import frame
from wsclient import Ws


def main():
    port = int(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 4
    ws = Ws(port, "/ws/echo")
    got = {}

    def reader():
        try:
            got["frame"] = ws.recv(seconds + 10)
        except Exception as e:  # noqa: BLE001
            got["frame"] = repr(e)

    t = threading.Thread(target=reader)
    t.start()
    ws.send(frame(3, b""))  # reserved opcode: 1002
    junk = b"\x00" * 65536
    sent, end = 0, time.time() + seconds
    try:
        while time.time() < end:
            ws.sock.sendall(junk)
            sent += len(junk)
    except OSError as e:
        print("sending stopped:", repr(e))
    t.join()
    print(f"sent {sent} bytes after the violation; first frame back: {got['frame']!r}")
    return 0 if got["frame"] == (8, b"\x03\xeareserved opcode 0x3") else 1


if __name__ == "__main__":
    sys.exit(main())
