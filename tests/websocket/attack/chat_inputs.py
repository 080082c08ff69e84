"""Chat inputs a client controls, against a stage08 on PORT (default 18080): a taken name in
another case, invalid names and rooms (empty, HTML, too long, NUL, %-encoded, non-ASCII, "..",
a slash), and JSON edge cases (not JSON, text not a string, extra and duplicate fields, HTML,
control characters, 2000 and 2001 characters, a lone surrogate, 200 levels of nesting, binary).
Prints what each gets.

    chat_inputs.py
"""
import sys, time, json, socket

from wsclient import Ws, text, frame
P = 18080
R = "/ws/chat/t%d" % int(time.time())
a = Ws(P, R + "?name=Ann"); print("a", a.json())
# taken name, other case
b = Ws(P, R + "?name=ann"); print("taken:", b.json(), b.json())
for q in ["", "?name=", "?name=%3Cb%3E", "?name=" + "x"*25, "?name=a%00b", "?name=al%20ice", "?name=caf%C3%A9"]:
    c = Ws(P, R + q); print(repr(q), c.json(), c.json())
for room in ["/ws/chat/", "/ws/chat/a.b", "/ws/chat/" + "r"*33, "/ws/chat/a/b", "/ws/chat/%2e%2e"]:
    try:
        c = Ws(P, room + "?name=zed"); print(room, c.json(), c.json())
    except Exception as e: print(room, repr(e), getattr(c, 'head', '')[:40] if 'c' in dir() else '')
# JSON edge cases
for m in ['not json', '{"text": 5}', '{"text": null}', '[1]', '{"text":"x","from":"Bob","type":"leave"}', '{"text":{"a":1}}', '{"text":"<img src=x onerror=alert(1)>"}', '{"text":"\\u0000\\u001b[2J"}', '"text"', '{"text":"' + "é"*2000 + '"}', '{"text":"' + "é"*2001 + '"}', '{"text":"\\ud800"}', '{"Text":"x"}', '{"text":"a","text":"b"}', '[' * 200 + ']' * 200]:
    a.say(m); r = a.json(); print(m[:50], "->", json.dumps(r)[:160])
a.send(frame(2, b"\x00\x01")); print("binary ->", a.json())
