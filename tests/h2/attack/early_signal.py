#!/usr/bin/env python3
"""A SIGTERM right after stage07's startup line (what a supervisor or a test waits for) must
stop it gracefully (exit 0), not kill it by the signal's default action (exit -15).

    early_signal.py [--binary target/release/stage07] [--plain] [--tries 20]
"""

import argparse
import signal
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--binary", default="target/release/stage07")
ap.add_argument("--plain", action="store_true", help="with --plain-port 0 (two loops and a signal thread)")
ap.add_argument("--tries", type=int, default=20)
a = ap.parse_args()
codes = {}
for _ in range(a.tries):
    args = [a.binary, "0", "www", "--quiet", "--bind", "127.0.0.1"] + (["--plain-port", "0"] if a.plain else [])
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    p.stdout.readline()  # the startup line
    p.send_signal(signal.SIGTERM)
    code = p.wait(timeout=15)
    codes[code] = codes.get(code, 0) + 1
bad = sum(n for c, n in codes.items() if c != 0)
print("exit codes after a SIGTERM right after the startup line: %r" % codes)
print("%d passed, %d failed" % (a.tries - bad, bad))
sys.exit(1 if bad else 0)
