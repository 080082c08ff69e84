"""Rooms come and go: N members each in a room of its own, all closed, three times over; the
server's RSS after each round must not climb (empty rooms and their history are forgotten).

    rooms_freed.py PID PORT N
"""
import json
import sys
import time

from differential import close
from wsclient import Ws


def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def main():
    pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rounds = []
    for r in range(3):
        members = []
        for i in range(n):
            ws = Ws(port, f"/ws/chat/room{r}x{i}?name=u")
            members.append(ws)
        for ws in members:
            assert ws.json()["type"] == "welcome"
            ws.say(json.dumps({"text": "x" * 1000}))  # a message in each room's history
        for ws in members:
            ws.json()
            ws.send(close(1000))
            ws.sock.close()
        time.sleep(1)
        rounds.append(rss(pid))
    print(f"{n} rooms with one member and one message, opened and left, 3 rounds: RSS after each "
          f"{rounds} KiB")


if __name__ == "__main__":
    main()
