"""The flood rule (25 messages at once on 18080), and the ping rule on a stage08 of its own with
--ping-interval 1: a silent member is pinged at 1 s and closed 1008 at 2 s; one that answers
stays.

    flood_and_ping.py
"""
import os, sys, time, json, socket, subprocess

from wsclient import Ws, text, frame
P = 18080
R = "/ws/chat/f%d" % int(time.time())
a = Ws(P, R + "?name=a"); a.json()
for i in range(25): a.say({"text": "m%d" % i})
got = []
while True:
    m = a.json()
    got.append(m.get("type") if "close" not in m else m)
    if "close" in m: break
print(len([g for g in got if g == "message"]), "messages then", got[-1])
# ping timeout on a separate server with --ping-interval 1
p = subprocess.Popen([os.environ.get("STAGE08", "/tmp/attack-ws/stage08"), "18380", os.path.join(os.path.dirname(__file__), "../../../www"), "--quiet", "--ping-interval", "1"], stdout=subprocess.PIPE)
p.stdout.readline()
s = Ws(18380, "/ws/chat/x?name=silent"); s.json()
t = time.time()
frames = []
try:
    while True:
        op, pl = s.recv(10)
        frames.append((op, pl[:30], round(time.time() - t, 2)))
        if op == 8: break
except Exception as e: frames.append(repr(e))
print("silent:", frames)
# one that answers pongs stays
s2 = Ws(18380, "/ws/chat/x?name=alive"); s2.json()
t = time.time(); n = 0
s2.sock.settimeout(1)
while time.time() - t < 5:
    try:
        op, pl = s2.recv(1)
    except socket.timeout: continue
    if op == 9: s2.send(frame(10, pl)); n += 1
    if op == 8: print("alive closed!", pl); break
print("alive answered", n, "pings in 5 s, still open")
p.terminate(); p.wait()
