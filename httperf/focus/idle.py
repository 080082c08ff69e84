#!/usr/bin/env python3
"""idle.py PORT PID [N] [--request] [--steps K]: what N (10,000) idle connections cost a server.

Opens N connections to 127.0.0.1:PORT and leaves them idle, then prints the resident memory,
threads and descriptors of process PID (the server) and the status line of one new request.
The book's one idle-connection script: stage02, stage04, stage05 and `compare.sh` all use it.

  --request  each connection first sends one keep-alive request and reads its answer (whose
             status is counted), then stays idle: a browser between page loads. Without it
             the connections say nothing at all: a client that never finishes a head.
  --steps K  open the N in K equal steps and print the server's threads and memory after each.

The server must allow N connections (`ulimit -n` in its shell); this script raises its own."""
import os, resource, socket, sys, time

args, request, steps = [], False, 1
words = iter(sys.argv[1:])
for word in words:
    if word == "--request":
        request = True
    elif word == "--steps":
        steps = int(next(words, "0"))  # --steps takes the next word as its count
    elif word.startswith("--"):
        sys.exit(__doc__.split("\n")[0])
    else:
        args.append(word)
if len(args) not in (2, 3) or steps < 1:
    sys.exit(__doc__.split("\n")[0])
port, pid = int(args[0]), int(args[1])
n = int(args[2]) if len(args) > 2 else 10_000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))


def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])


def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))


HEAD = b"GET /notes.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
before = status("VmRSS")
conns, answers = [], {}
for step in range(steps):
    opened = [socket.create_connection(("127.0.0.1", port)) for _ in range(n // steps)]
    if request:
        for s in opened:
            s.sendall(HEAD)
        for s in opened:
            # The first bytes hold the status line; a refused client (503) is then closed.
            s.settimeout(10)
            try:
                code = s.recv(65536).split(b" ")[1].decode()
            except (OSError, IndexError) as e:
                code = type(e).__name__
            answers[code] = answers.get(code, 0) + 1
    conns += opened
    if steps > 1:
        print(f"{len(conns)} connections: {status('Threads')} threads, resident {status('VmRSS')}"
              f" KiB, address space {status('VmSize')} KiB")
if not request:
    # The server accepts asynchronously: wait until it holds them all (or 10 s pass). With
    # --request every answer has already shown that it took them.
    deadline = time.time() + 10
    while fds() < n and time.time() < deadline:
        time.sleep(0.05)
probe = socket.create_connection(("127.0.0.1", port))
probe.sendall(HEAD)
answer = probe.recv(64).split(b"\r\n")[0].decode()
said = f" (answers: {dict(sorted(answers.items()))})" if request else ""
print(f"{len(conns)} idle connections{said}: resident {before} KiB before, {status('VmRSS')} KiB"
      f" with them open; {status('Threads')} threads; {fds()} fds; a new request: {answer}")
