"""Three members (two over ws://, one over wss:// on the other loop) send at once; every member
must see the room's messages in one order, its own included.

    order.py PORT TLS_PORT
"""
import sys
import threading
import time

from wsclient import Ws


def main():
    port, tls_port = int(sys.argv[1]), int(sys.argv[2])
    room = f"/ws/chat/order{int(time.time())}"
    members = [Ws(port, f"{room}?name=a"), Ws(port, f"{room}?name=b"), Ws(tls_port, f"{room}?name=c", tls=True)]
    for m in members:
        while m.json()["type"] != "welcome":
            pass
    # let the joins arrive everywhere
    time.sleep(0.3)
    for m in members:
        m.sock.settimeout(0.2)
        try:
            while True:
                m.json(0.2)
        except Exception:
            pass
    seen = [[] for _ in members]

    def reader(i):
        while len(seen[i]) < 60:
            m = members[i].json(10)
            if m.get("type") == "message":
                seen[i].append((m["from"], m["text"]))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for k in range(20):
        for i, m in enumerate(members):
            m.say({"text": f"{i}-{k}"})
        time.sleep(0.12)  # under the flood rule's 10 a second
    for t in threads:
        t.join()
    same = seen[0] == seen[1] == seen[2]
    own = all([t for f, t in s if t.startswith(str(i))] == [f"{i}-{k}" for k in range(20)] for i, s in enumerate(seen))
    print(f"60 messages each: one order for all three: {same}; each sender's own in its order: {own}")
    sys.exit(0 if same and own else 1)


if __name__ == "__main__":
    main()
