"""Join/leave churn in one big room: what it costs everyone else (joins are not rate-limited).

    churn.py PORT MEMBERS CYCLES

MEMBERS idle members sit in room `big` (never reading: each join/leave is ~30 bytes, which
their socket buffers hold). Then one client opens and closes CYCLES connections to `big` as
fast as it can, each costing the hub 2 x MEMBERS deliveries (its join, its leave). Meanwhile a
member of another room, `probe`, sends a message every 100 ms and times its own echo: the hub
is one thread for every room, so its backlog is everyone's latency.
"""
import sys
import threading
import time

from differential import close
from wsclient import Ws


def main():
    port, members, cycles = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    tag = int(time.time())
    idle = []
    for i in range(members):
        idle.append(Ws(port, f"/ws/chat/big{tag}?name=m{i}"))
    probe = Ws(port, f"/ws/chat/probe{tag}?name=probe")
    assert probe.json()["type"] == "welcome"
    # the last member's welcome: the room is complete
    while idle[-1].json(30)["type"] != "welcome":
        pass
    worst, samples, stop = [0.0], [], [False]

    def probing():
        k = 0
        while not stop[0]:
            k += 1
            sent = time.time()
            probe.say({"text": f"p{k}"})
            while True:
                m = probe.json(60)
                if m.get("type") == "message" and m["text"] == f"p{k}":
                    break
            rtt = time.time() - sent
            samples.append(rtt)
            worst[0] = max(worst[0], rtt)
            time.sleep(0.1)

    quiet = []
    for k in range(5):
        sent = time.time()
        probe.say({"text": f"q{k}"})
        while probe.json(10).get("text") != f"q{k}":
            pass
        quiet.append(time.time() - sent)
        time.sleep(0.1)
    t = threading.Thread(target=probing, daemon=True)
    t.start()
    start = time.time()
    for c in range(cycles):
        ws = Ws(port, f"/ws/chat/big{tag}?name=churn{c}")
        ws.send(close(1000))
        ws.sock.close()
    churn_time = time.time() - start
    time.sleep(1)
    stop[0] = True
    t.join(70)
    print(f"{members} members, {cycles} join/leave cycles in {churn_time:.1f} s "
          f"({2 * members * cycles} deliveries asked of the hub): probe round trip in another room "
          f"{max(quiet) * 1000:.1f} ms quiet, worst {worst[0] * 1000:.0f} ms during the churn "
          f"({len(samples)} samples)")


if __name__ == "__main__":
    main()
