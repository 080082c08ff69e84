"""20 members, one sender, 100 messages: 2000 deliveries (for fanout_syscalls.sh).

    fanout.py PORT GO_FILE   (GO_FILE is written when the sending starts)
"""
import sys, time, json, threading

from wsclient import Ws
P = int(sys.argv[1]); M = 20; N = 100
room = "/ws/chat/fan%d" % int(time.time())
members = [Ws(P, room + "?name=m%d" % i) for i in range(M)]
for m in members:
    while m.json()["type"] != "welcome": pass
time.sleep(0.5)
for m in members:
    try:
        while True: m.json(0.1)
    except Exception: pass
counts = [0] * M
def rd(i):
    while counts[i] < N:
        if members[i].json(10).get("type") == "message": counts[i] += 1
ts = [threading.Thread(target=rd, args=(i,)) for i in range(M)]
[t.start() for t in ts]
open(sys.argv[2], "w").write("go")
for k in range(N):
    members[0].say({"text": "x%d" % k}); time.sleep(0.11)
[t.join() for t in ts]
print("delivered", sum(counts))
