#!/usr/bin/env python3
"""idle.py PORT PID [N]: opens N (10,000) idle connections to 127.0.0.1:PORT, then prints the
resident memory of process PID (the server) once it holds them all, and one request's answer."""
import os, resource, socket, sys, time

port, pid = int(sys.argv[1]), int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))

def status(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

def rss_kib(pid):
    return status(pid, "VmRSS")

before = rss_kib(pid)
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
# The server accepts asynchronously: wait until it holds them all (or 10 s pass).
deadline = time.time() + 10
while len(os.listdir(f"/proc/{pid}/fd")) < n and time.time() < deadline:
    time.sleep(0.05)
probe = socket.create_connection(("127.0.0.1", port))
probe.sendall(b"GET /notes.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
answer = probe.recv(64).split(b"\r\n")[0].decode()
print(f"{n} idle connections: resident {before} KiB before, {rss_kib(pid)} KiB with them open;"
      f" {status(pid, 'Threads')} threads; {len(os.listdir(f'/proc/{pid}/fd'))} fds;"
      f" a new request: {answer}")
