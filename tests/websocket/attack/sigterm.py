"""SIGTERM with an idle echo connection, an idle chat member and an nc member open: what each
sees (finding 1: no 1001 close frame). Starts its own stage08 (STAGE08 or /tmp/attack-ws/stage08).

    sigterm.py
"""
import os, sys, time, subprocess, signal

from wsclient import Ws
p = subprocess.Popen([os.environ.get("STAGE08", "/tmp/attack-ws/stage08"), "18180", os.path.join(os.path.dirname(__file__), "../../../www"), "--quiet", "--tcp-chat", "18181"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
p.stdout.readline()
e = Ws(18180, "/ws/echo")
c = Ws(18180, "/ws/chat/lobby?name=ann")
print("welcome", c.json())
import socket
n = socket.create_connection(("127.0.0.1", 18181)); n.settimeout(3)
print(n.recv(100)); n.sendall(b"bob\n"); time.sleep(0.3); print(n.recv(1000))
print("ann sees", c.json())
t = time.time()
p.send_signal(signal.SIGTERM)
for name, w in (("echo", e), ("chat", c)):
    try:
        print(name, w.json())
    except Exception as ex:
        print(name, "->", repr(ex))
try:
    print("nc", n.recv(1000))
except Exception as ex:
    print("nc ->", repr(ex))
print("exit", p.wait(15), "after", round(time.time() - t, 2), "s")
