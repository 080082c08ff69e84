import sys, time, json, socket, threading

from wsclient import Ws, text
P = int(sys.argv[1]) if len(sys.argv) > 1 else 18080
room = "/ws/chat/stall%d" % int(time.time())
stalled = Ws(P, room + "?name=slow", rcvbuf=4096)
print(stalled.json()["type"])
watcher = Ws(P, room + "?name=watch")
print(watcher.json()["type"])
senders = []
def drain(s):
    try:
        while True:
            s.sock.settimeout(60)
            if not s.sock.recv(1 << 20): return
    except Exception: pass
for i in range(40):
    s = Ws(P, room + "?name=s%d" % i)
    threading.Thread(target=drain, args=(s,), daemon=True).start()
    senders.append(s)
count = {"n": 0, "end": None}
def watch():
    try:
        while True:
            m = watcher.json(20)
            if m.get("type") == "message": count["n"] += 1
            if "close" in m: count["end"] = m; return
    except Exception as e: count["end"] = repr(e)
wt = threading.Thread(target=watch, daemon=True); wt.start()
msg = json.dumps({"text": "\x01" * 2000})
t = time.time()
sent = 0
for s in senders:
    for _ in range(20):
        s.say(msg); sent += 1
print("sent", sent, "in", round(time.time()-t, 2))
deadline = time.time() + 30
while count["n"] < sent and time.time() < deadline and count["end"] is None: time.sleep(0.05)
print("watcher got", count["n"], "of", sent, "end", count["end"], "in", round(time.time()-t, 2))
n = 0; last = None
try:
    while True:
        m = stalled.json(5)
        n += 1
        if "close" in m: last = m; break
except Exception as e:
    last = repr(e)
print("stalled read", n, "frames, end:", last)
