"""Random frame sequences to stage08 and Node's ws: the messages echoed and the close code must
agree, except where stage08 is knowingly stricter: a bad UTF-8 byte in a text fragment without
FIN fails at once with 1007 in stage08 (RFC 6455 section 8.1, Autobahn's "fail fast"), while ws
checks only the whole message, so a later violation in the same sequence gives ws its 1002.
Seed 1, 150 rounds: 4 differences, all of that kind.

    random_diff.py STAGE08_PORT NODE_PORT [ROUNDS] [SEED]
"""
import random
import struct
import sys

from differential import frame, run_case


def piece(rng):
    kind = rng.choice(["text", "bin", "cont", "ping", "pong", "close", "bad"])
    fin = rng.random() < 0.7
    if kind == "text":
        s = rng.choice([b"a", b"\xc3\xa9", b"\xf0\x9f\x8e\x89", b"", b"\xe2\x82", b"\xac", b"\xff", b"ok"])
        return frame(1, s * rng.randint(1, 3), fin=fin)
    if kind == "bin":
        return frame(2, bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 4))), fin=fin)
    if kind == "cont":
        s = rng.choice([b"a", b"\x82\xac", b"\x9f\x8e\x89", b"", b"\xff", b"\xe2"])
        return frame(0, s, fin=fin)
    if kind == "ping":
        return frame(9, b"p" * rng.choice([0, 1, 125, 126]), fin=rng.random() < 0.9)
    if kind == "pong":
        return frame(10, b"q" * rng.choice([0, 3]))
    if kind == "close":
        code = rng.choice([None, 1000, 1001, 1005, 1016, 3000, 4999, 5000])
        body = b"" if code is None else struct.pack(">H", code) + rng.choice([b"", b"bye", b"\xff"])
        return frame(8, body)
    return frame(rng.choice([3, 7, 0xB]), b"", fin=True, rsv=rng.choice([0, 0, 1, 4]))


def main():
    s8, node = int(sys.argv[1]), int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    diffs = 0
    for r in range(rounds):
        frames = [piece(rng) for _ in range(rng.randint(1, 6))]
        a = run_case(s8, "/ws/echo", frames)
        b = run_case(node, "/", frames)
        if a != b:
            diffs += 1
            print(f"round {r}: {b''.join(frames).hex()}\n    stage08 {' '.join(a)}\n    node    {' '.join(b)}")
    print(f"{rounds} rounds, {diffs} differences")


if __name__ == "__main__":
    main()
