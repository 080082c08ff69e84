"""The raw TCP chat (18081) again: a name, two lines and a FIN in one write (the last line
without its newline still counts), and an nc member that never reads while 30 WebSocket
members send 600 messages: the others get all of them.

    tcp_chat_stall.py
"""
import sys, time, json, socket, threading

from wsclient import Ws
P, T = 18080, 18081
w = Ws(P, "/ws/chat/lobby?name=watch2"); w.json()
def seen(n=20, t=3):
    out = []
    end = time.time() + t
    while time.time() < end:
        try: out.append(w.json(0.5))
        except Exception: pass
    return out
# pipelined name + messages + FIN, last line without newline
s = socket.create_connection(("127.0.0.1", T)); s.sendall(b"pipe\nhello\nlast words"); s.shutdown(socket.SHUT_WR)
print("pipelined:", [ (m.get("type"), m.get("name") or m.get("text")) for m in seen()])
# a line client that never reads, while the watcher keeps reading and someone talks a lot
s2 = socket.socket(); s2.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); s2.connect(("127.0.0.1", T)); s2.sendall(b"deaf\n")
time.sleep(0.3)
talkers = [Ws(P, "/ws/chat/lobby?name=t%d" % i) for i in range(30)]
def drain(x):
    try:
        while x.sock.recv(1 << 20): pass
    except Exception: pass
for x in talkers: threading.Thread(target=drain, args=(x,), daemon=True).start()
msg = json.dumps({"text": "\x01" * 2000})
cnt = {"m": 0, "deaf_left": False}
def watch():
    while True:
        try: m = w.json(5)
        except Exception: return
        if m.get("type") == "message": cnt["m"] += 1
        if m.get("type") == "leave" and m.get("name") == "deaf": cnt["deaf_left"] = True
th = threading.Thread(target=watch, daemon=True); th.start()
for x in talkers:
    for _ in range(20): x.say(msg)
time.sleep(4)
print("watcher got", cnt["m"], "of 600 messages; deaf dropped:", cnt["deaf_left"])
s2.settimeout(2)
data = b""
try:
    while True:
        c = s2.recv(1 << 20)
        if not c: break
        data += c
except Exception as e: print("deaf:", repr(e))
print("deaf got", len(data), "bytes, ends with", data[-60:])
