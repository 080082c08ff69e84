"""A page whose connection drops without a FIN (laptop asleep, Wi-Fi changed) reconnects as
itself, and its own ghost holds the name: refused with "name taken" and close 1008, which
www/chat/chat.js takes as a refusal on purpose and stops reconnecting.

    ghost.py PORT        (a stage08 started with --ping-interval 2, to see the name freed)

The old connection is simply left open and silent (what the server sees of a dead peer until
its pings go unanswered). Prints what the reconnect gets, and when the name is free again.
Since stage08's e0489dc the page retries a "name taken" that follows a drop with its back-off
(1, 2, 4 ... 30 s: past the 2 x --ping-interval the ghost can live), so the refusal printed
here is expected; what matters is that the name frees within 2 x --ping-interval.
"""
import sys
import time

from wsclient import Ws


def main():
    port = int(sys.argv[1])
    room = f"/ws/chat/ghost{int(time.time())}?name=ann"
    ghost = Ws(port, room)
    assert ghost.json()["type"] == "welcome"
    start = time.time()
    time.sleep(1)  # chat.js's first retry: 1 s (x 0.75..1.25)
    again = Ws(port, room)
    first, then = again.json(), again.json()
    print(f"reconnect after 1 s: {first} then {then}")
    while True:
        time.sleep(0.5)
        again = Ws(port, room)
        if again.json()["type"] == "welcome":
            print(f"the name is free again {time.time() - start:.1f} s after the drop")
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
