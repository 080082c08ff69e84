#!/usr/bin/env python3
"""What wrong passwords cost stage06, for the Robustness chapter's bcrypt section.

    python3 eventloop/measure/bcrypt.py [--cost 14] [--flood-cost 12] [--seconds 10] BINARY...

For each stage06 BINARY (e.g. target/release/stage06, and one built from before the
verifier pool), on a scratch folder with a 1 KB file and an htpasswd file made by
`htpasswd -B -C COST` (apache2-utils):

1. The issue's scenario: connection A sends five wrong passwords pipelined in one write (about
   400 bytes; two of them for user names nobody has), then connection B, whose password is
   already verified, asks for the file. Prints how long B waited for its answer, and how long
   A waited for its five 401s.
2. A flood at --flood-cost: four connections send wrong passwords one after another for
   --seconds, while B asks for the file once every 50 ms. Prints the checks per second the
   server made (401s), the 503s it answered instead, and B's slowest and median answer.

Loopback only, bounded in time. Extra arguments after a binary's path (e.g.
"target/release/stage06 --verify-threads 1") are passed to it.
"""

import argparse
import base64
import os
import shlex
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def basic(user_pass):
    return "Authorization: Basic " + base64.b64encode(user_pass.encode()).decode() + "\r\n"


def get(auth):
    return f"GET /1k.bin HTTP/1.1\r\nHost: localhost\r\n{auth}\r\n".encode()


def connect(port):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection(("127.0.0.1", port))
    tls = context.wrap_socket(sock, server_hostname="localhost")
    tls.settimeout(120)
    return tls


def read_response(tls, buffer):
    """Reads one response (Content-Length framed); returns (status, rest of buffer)."""
    while b"\r\n\r\n" not in buffer:
        chunk = tls.recv(65536)
        if not chunk:
            raise EOFError("closed")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = tls.recv(65536)
        if not chunk:
            raise EOFError("closed in a body")
        rest += chunk
    return status, rest[length:]


def start(command, root, htpasswd):
    args = shlex.split(command) + ["0", root, "--htpasswd", htpasswd, "--quiet"]
    # The binary's own options go after PORT and ROOT too; clap takes them anywhere.
    binary, extra = args[0], args[1:]
    server = subprocess.Popen([binary] + extra, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    port = int(line.split("localhost:")[1].split("/")[0])
    return server, port


def scenario(port):
    good = basic("bob:secret")
    b = connect(port)
    b.sendall(get(good))
    status, _ = read_response(b, b"")
    assert status == 200, status
    a = connect(port)
    a.do_handshake()
    wrong = ["bob:wrong1", "nobody:guess", "bob:wrong2", "admin:admin", "bob:wrong3"]
    batch = b"".join(get(basic(w)) for w in wrong)
    started = time.monotonic()
    a.sendall(batch)
    done_a = {}

    def read_a():
        buffer = b""
        for _ in wrong:
            status, buffer = read_response(a, buffer)
            assert status == 401, status
        done_a["at"] = time.monotonic()

    reader = threading.Thread(target=read_a)
    reader.start()
    b_sent = time.monotonic()
    b.sendall(get(good))
    status, _ = read_response(b, b"")
    b_waited = time.monotonic() - b_sent
    assert status == 200, status
    reader.join()
    a.close()
    b.close()
    return len(batch), b_waited, done_a["at"] - started


def flood(port, seconds):
    stop = time.monotonic() + seconds
    counts = {401: 0, 503: 0}
    lock = threading.Lock()

    def attacker(n):
        tls = connect(port)
        buffer = b""
        i = 0
        while time.monotonic() < stop:
            tls.sendall(get(basic(f"bob:wrong-{n}-{i}")))
            status, buffer = read_response(tls, buffer)
            i += 1
            with lock:
                counts[status] = counts.get(status, 0) + 1
            if status == 503:
                time.sleep(0.01)
        tls.close()

    good = basic("bob:secret")
    b = connect(port)
    b.sendall(get(good))
    read_response(b, b"")
    attackers = [threading.Thread(target=attacker, args=(n,)) for n in range(4)]
    started = time.monotonic()
    for t in attackers:
        t.start()
    waits = []
    while time.monotonic() < stop:
        sent = time.monotonic()
        b.sendall(get(good))
        status, _ = read_response(b, b"")
        assert status == 200, status
        waits.append(time.monotonic() - sent)
        time.sleep(0.05)
    for t in attackers:
        t.join()
    elapsed = time.monotonic() - started
    b.close()
    return counts, elapsed, waits


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cost", type=int, default=14)
    parser.add_argument("--flood-cost", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("binaries", nargs="+")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = os.path.join(scratch, "www")
        os.mkdir(root)
        with open(os.path.join(root, "1k.bin"), "wb") as f:
            f.write(os.urandom(1024))
        files = {}
        for cost in {options.cost, options.flood_cost}:
            line = subprocess.run(["htpasswd", "-nbB", "-C", str(cost), "bob", "secret"],
                                  check=True, capture_output=True, text=True).stdout.strip()
            files[cost] = os.path.join(scratch, f"cost{cost}.htpasswd")
            with open(files[cost], "w") as f:
                f.write(line + "\n")
        for command in options.binaries:
            server, port = start(command, root, files[options.cost])
            try:
                size, b_waited, a_waited = scenario(port)
            finally:
                server.kill()
                server.wait()
            print(f"{command}: cost {options.cost}: {size} bytes of wrong passwords; "
                  f"the other connection waited {b_waited * 1000:.1f} ms, the pipelined one {a_waited:.2f} s")
            server, port = start(command, root, files[options.flood_cost])
            try:
                counts, elapsed, waits = flood(port, options.seconds)
            finally:
                server.kill()
                server.wait()
            print(f"{command}: cost {options.flood_cost}, 4 connections of wrong passwords for "
                  f"{elapsed:.1f} s: {counts[401] / elapsed:.1f} checks/s, {counts.get(503, 0)} answered 503; "
                  f"a remembered password meanwhile: {len(waits)} answers, median {statistics.median(waits) * 1000:.1f} ms, "
                  f"slowest {max(waits) * 1000:.1f} ms")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
