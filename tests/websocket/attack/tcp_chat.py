"""The raw TCP chat (stage08 on 18080 with --tcp-chat 18081) against a WebSocket member of
lobby: names, terminal escapes both ways (ESC, OSC, BEL, NUL, C1 CSI, U+202E), a name taken
across kinds, a name line that never ends, a line over 1000 bytes, binary junk.

    tcp_chat.py
"""
import sys, time, json, socket

from wsclient import Ws, text, frame
P, T = 18080, 18081
def nc(name=None):
    s = socket.create_connection(("127.0.0.1", T)); s.settimeout(2)
    s.recv(100)
    if name: s.sendall(name + b"\n"); time.sleep(0.2)
    return s
def rd(s, t=1.0):
    s.settimeout(t); out = b""
    try:
        while True:
            c = s.recv(65536)
            if not c: return out + b"<EOF>"
            out += c
    except socket.timeout: return out
w = Ws(P, "/ws/chat/lobby?name=webby"); print("ws welcome", w.json())
x = nc(b"xena"); print("xena:", rd(x))
print("ws sees", w.json())
y = nc(b"\x1b[31mmal\x1b[0m"); print("y:", rd(y))
x.sendall(b"hello \x1b[2J\x1b]0;pwned\x07 \x00 bell\x07 \xff\xfe \xc2\x9b31m c1-csi \r\n"); 
print("y sees:", rd(y)); print("ws sees:", w.json())
w.say({"text": "from web \x1b[2J\u009b31m \u202eevil\r\n* root joined"}); print("x sees:", rd(x)); w.json()
# name taken across kinds
z = nc(b"WEBBY"); print("z:", rd(z))
# a name line that never ends
q = nc(); q.sendall(b"a" * 5000); print("long name:", rd(q))
q = nc(b"longliner"); rd(q); q.sendall(b"b" * 1001 + b"\n"); print("long line:", rd(q))
q = nc(b"okliner"); rd(q); q.sendall(b"c" * 1000 + b"\n"); print("1000 line:", rd(q)[:60]); 
# binary junk
j = nc(b"junk"); rd(j); j.sendall(bytes(range(256)) + b"\n"); print("junk echo:", rd(j)[:300])
