"""SIGTERM while a 16 MiB echo is on its way back: the echo must arrive whole, then a 1001
close, within the grace period. Starts its own stage08 (STAGE08 or /tmp/attack-ws/stage08).

    sigterm_busy.py
"""
import os
import signal
import subprocess
import sys
import time

from differential import text
from wsclient import Ws

here = os.path.dirname(os.path.abspath(__file__))
binary = os.environ.get("STAGE08", "/tmp/attack-ws/stage08")
p = subprocess.Popen([binary, "18680", os.path.join(here, "../../../www"), "--quiet"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
p.stdout.readline()
ws = Ws(18680, "/ws/echo", rcvbuf=65536)
ws.send(text(b"z" * (16 << 20)))
time.sleep(1)
p.send_signal(signal.SIGTERM)
start = time.time()
frames = []
try:
    while True:
        op, payload = ws.recv(15)
        frames.append((op, len(payload), payload[:2]))
        if op == 8:
            break
except Exception as e:  # noqa: BLE001
    frames.append(repr(e))
print("after SIGTERM:", frames, f"in {time.time() - start:.1f} s; exit", p.wait(20))
echoed = frames[:1] == [(1, 16 << 20, b"zz")]
going_away = len(frames) == 2 and frames[1][0] == 8 and frames[1][2] == b"\x03\xe9"  # 1001
sys.exit(0 if echoed and going_away else 1)
