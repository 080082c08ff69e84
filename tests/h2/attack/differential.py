#!/usr/bin/env python3
"""HTTP meaning over HTTP/2, differentially: the same requests over h2 and over HTTP/1.1.

For each request: stage07 over h2 (raw frames, Python's hpack) and over HTTP/1.1 on the same
server's cleartext port (stage06's code path), compared on status, the fields that carry
meaning (content-type, content-length, location, allow, content-range, www-authenticate,
etag, last-modified) and the body's bytes. Other h2 servers (nginx, h2o) can be added as
columns with --other NAME=PORT[:tls]: only their status is shown, for reference.

    differential.py --plain PORT [--other h2o=19080 --other nginx=19081] [--auth user:pass]

A request whose h2 and HTTP/1.1 answers differ is printed with DIFF; h2-only requests (pseudo
headers HTTP/1.1 cannot express) print what h2 answered, with the status expected.
"""

import argparse
import base64
import hashlib
import socket
import sys
import os

sys.path.insert(0, os.path.dirname(__file__))
from h2raw import *  # noqa: E402,F401,F403

MEANING = ["content-type", "content-length", "location", "allow", "content-range", "www-authenticate",
           "etag", "last-modified", "accept-ranges"]


def h2_request(port, method, path, extra=(), authority="localhost", body=None, tls=False, raw_fields=None):
    # Windows wide open: a whole file comes without WINDOW_UPDATEs from us.
    c = Conn(port, tls, timeout=5, settings_pairs=[(S_INITIAL_WINDOW_SIZE, 2**31 - 1)])
    c.send(window_update(0, 2**31 - 1 - 65535))
    if raw_fields is not None:
        fields = raw_fields(c)
    else:
        fields = request_fields(method, path, authority, c.scheme, extra)
    blk = b"".join(literal(n, v) for n, v in fields)
    c.send(frame(HEADERS, END_HEADERS | (0 if body is not None else END_STREAM), 1, blk))
    if body is not None:
        c.send(frame(DATA, END_STREAM, 1, body))
    r = c.response(1, timeout=30)
    c.close()
    if r is None:
        return None
    if r[0] == "RST":
        return {"status": "RST " + r[1]}
    out = {"status": r[0], "body": r[2]}
    for n, v in r[1]:
        n = n.decode() if isinstance(n, bytes) else n
        v = v.decode() if isinstance(v, bytes) else v
        out.setdefault(n, v)
    return out


def h1_request(port, method, path, extra=(), body=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost", "Connection: close"]
    lines += ["%s: %s" % (n, v) for n, v in extra]
    if body is not None:
        lines.append("Content-Length: %d" % len(body))
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        out = {"status": int(lines[0].split()[1])}
    except (IndexError, ValueError):
        return {"status": "no answer %r" % data[:40]}
    for line in lines[1:]:
        n, _, v = line.partition(":")
        out.setdefault(n.strip().lower(), v.strip())
    out["body"] = b"" if method == "HEAD" else rest
    return out


def summary(r):
    if r is None:
        return "no response"
    if not isinstance(r["status"], int):
        return r["status"]
    body = r.get("body", b"")
    parts = [str(r["status"])] + ["%s=%s" % (k, r[k]) for k in MEANING if k in r]
    parts.append("body %d bytes sha %s" % (len(body), hashlib.sha256(body).hexdigest()[:10]))
    return " ".join(parts)


def comparable(r):
    if r is None or not isinstance(r["status"], int):
        return r and r["status"]
    keep = {k: r[k] for k in MEANING if k in r}
    if "boundary=" in keep.get("content-type", ""):
        # A multipart boundary is random per response: compare the shape, not the token.
        keep["content-type"] = keep["content-type"].split("boundary=")[0]
        return (r["status"], tuple(sorted(keep.items())), len(r.get("body", b"")))
    return (r["status"], tuple(sorted(keep.items())), hashlib.sha256(r.get("body", b"")).hexdigest())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--plain", type=int, required=True)
    p.add_argument("--other", action="append", default=[])
    p.add_argument("--auth", default=None, help="user:pass of a server started with --auth (adds the auth rows)")
    a = p.parse_args()
    others = []
    for o in a.other:
        name, _, rest = o.partition("=")
        port, _, tls = rest.partition(":")
        others.append((name, int(port), tls == "tls"))

    first = h2_request(a.plain, "GET", "/index.html")
    etag = first.get("etag", '"none"')
    lm = first.get("last-modified", "")

    both = [
        ("GET", "/index.html", []),
        ("GET", "/notes.txt", []),
        ("GET", "/media/clip.mp4", []),
        ("GET", "/big.bin", []),
        ("GET", "/dir", []),
        ("GET", "/dir/", []),
        ("GET", "/dir?x=1", []),
        ("GET", "/nope.html", []),
        ("DELETE", "/index.html", []),
        ("PUT", "/index.html", []),
        ("OPTIONS", "/index.html", []),
        ("HEAD", "/index.html", []),
        ("HEAD", "/nope.html", []),
        ("HEAD", "/dir", []),
        ("GET", "/index.html", [("if-none-match", etag)]),
        ("GET", "/index.html", [("if-none-match", '"other", ' + etag)]),
        ("GET", "/index.html", [("if-modified-since", lm)]),
        ("HEAD", "/index.html", [("if-none-match", etag)]),
        ("GET", "/media/clip.mp4", [("range", "bytes=0-9")]),
        ("GET", "/media/clip.mp4", [("range", "bytes=-5")]),
        ("GET", "/media/clip.mp4", [("range", "bytes=276590-")]),
        ("GET", "/media/clip.mp4", [("range", "bytes=999999999-")]),
        ("GET", "/media/clip.mp4", [("range", "bytes=0-1,5-6")]),
        ("GET", "/media/clip.mp4", [("range", "bytes=0-9"), ("if-range", etag)]),
        ("GET", "/index.html", [("range", "bytes=0-9"), ("if-range", etag)]),
        ("HEAD", "/media/clip.mp4", [("range", "bytes=0-9")]),
        ("GET", "/%2e%2e/%2e%2e/etc/passwd", []),
        ("GET", "/../../etc/passwd", []),
        ("GET", "/dir/../../etc/passwd", []),
        ("GET", "/%2e%2e%2fetc%2fpasswd", []),
        ("GET", "/.git/config", []),
        ("GET", "/index.html%00.txt", []),
        ("GET", "/dir/%2e%2e/index.html", []),
        ("GET", "/index.html?q=%zz", []),
        ("POST", "/index.html", []),
    ]
    print("== both protocols (h2 on the cleartext port, HTTP/1.1 on the same port) ==")
    diffs = 0
    for method, path, extra in both:
        r2 = h2_request(a.plain, method, path, extra)
        r1 = h1_request(a.plain, method, path, extra)
        same = comparable(r2) == comparable(r1)
        diffs += not same
        cols = []
        for name, port, tls in others:
            ro = h2_request(port, method, path, extra, tls=tls)
            cols.append("%s:%s" % (name, ro and ro["status"]))
        label = "%s %s %s" % (method, path, " ".join("%s: %s" % e for e in extra))
        print("%-4s %s" % ("ok" if same else "DIFF", label.strip()))
        print("       h2  %s" % summary(r2))
        if not same:
            print("       h1  %s" % summary(r1))
        if cols:
            print("       others over h2: %s" % " ".join(cols))

    print("== h2 only ==")
    h2_only = [
        ("absolute-form :path", lambda c: request_fields("GET", "http://localhost/index.html", "localhost", c.scheme), "400 or RST"),
        (":path without /", lambda c: request_fields("GET", "index.html", "localhost", c.scheme), "400 or RST"),
        ("OPTIONS *", lambda c: request_fields("OPTIONS", "*", "localhost", c.scheme), "200/204 or 400"),
        ("GET *", lambda c: request_fields("GET", "*", "localhost", c.scheme), "400 or RST"),
        (":authority vs host conflict", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("host", "evil.example")]), "400 or RST"),
        (":authority and same host", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("host", "localhost")]), "200"),
        ("host only, no :authority", lambda c: request_fields("GET", "/index.html", None, c.scheme, [("host", "localhost")]), "200"),
        ("no :authority, no host", lambda c: request_fields("GET", "/index.html", None, c.scheme), "200 or 400"),
        (":authority with userinfo", lambda c: request_fields("GET", "/index.html", "user@localhost", c.scheme), "RST PROTOCOL_ERROR or 400"),
        (":authority bad", lambda c: request_fields("GET", "/index.html", "local host", c.scheme), "RST or 400"),
        ("uppercase field name", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("Accept", "*/*")]), "RST PROTOCOL_ERROR"),
        ("connection: keep-alive", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("connection", "keep-alive")]), "RST PROTOCOL_ERROR"),
        ("transfer-encoding: chunked", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("transfer-encoding", "chunked")]), "RST PROTOCOL_ERROR"),
        ("te: trailers", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("te", "trailers")]), "200"),
        ("te: gzip", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("te", "gzip")]), "RST PROTOCOL_ERROR"),
        ("two :path", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme) + [(":path", "/x")], "RST PROTOCOL_ERROR"),
        ("cookie crumbs", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("cookie", "a=1"), ("cookie", "b=2")]), "200"),
        ("method lowercase get", lambda c: request_fields("get", "/index.html", "localhost", c.scheme), "405 or 501 or 400"),
        ("unknown method FOO", lambda c: request_fields("FOO", "/index.html", "localhost", c.scheme), "405 or 501"),
        ("CONNECT", lambda c: [(":method", "CONNECT"), (":authority", "localhost:443")], "405 or RST"),
        ("scheme ftp", lambda c: request_fields("GET", "/index.html", "localhost", "ftp"), "400 or 200"),
        ("value with leading space", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("accept", " */*")]), "RST PROTOCOL_ERROR"),
        ("value with NUL", lambda c: request_fields("GET", "/index.html", "localhost", c.scheme, [("accept", "a\0b")]), "RST PROTOCOL_ERROR"),
        ("path with space", lambda c: request_fields("GET", "/index .html", "localhost", c.scheme), "RST or 400"),
        ("path with non-ASCII", lambda c: request_fields("GET", "/\u00e9.html", "localhost", c.scheme), "RST or 400 or 404"),
    ]
    for label, fields, expected in h2_only:
        r2 = h2_request(a.plain, None, None, raw_fields=fields)
        cols = []
        for name, port, tls in others:
            ro = h2_request(port, None, None, raw_fields=fields, tls=tls)
            cols.append("%s:%s" % (name, ro and ro["status"]))
        print("     %-32s expected %-26s stage07 %s" % (label, expected, summary(r2)))
        if cols:
            print("       others over h2: %s" % " ".join(cols))

    print("== bodies ==")
    for label, method, extra, body, expected in [
        ("GET with a body", "GET", [], b"hello", "200"),
        ("POST content-length 5, 5 bytes", "POST", [("content-length", "5")], b"hello", "405"),
        ("POST content-length 3, 5 bytes", "POST", [("content-length", "3")], b"hello", "RST PROTOCOL_ERROR"),
        ("POST content-length 9, 5 bytes", "POST", [("content-length", "9")], b"hello", "RST PROTOCOL_ERROR"),
        ("GET content-length 0 with END_STREAM on HEADERS", "GET", [("content-length", "0")], None, "200"),
    ]:
        r2 = h2_request(a.plain, method, "/index.html", extra, body=body)
        print("     %-48s expected %-20s stage07 %s" % (label, expected, summary(r2)))

    if a.auth:
        user_pass = base64.b64encode(a.auth.encode()).decode()
        wrong = base64.b64encode(b"user:wrong").decode()
        print("== auth ==")
        for label, extra in [("no credentials", []), ("right", [("authorization", "Basic " + user_pass)]),
                             ("wrong", [("authorization", "Basic " + wrong)]),
                             ("garbage", [("authorization", "Basic !!!")])]:
            r2 = h2_request(a.plain, "GET", "/index.html", extra)
            r1 = h1_request(a.plain, "GET", "/index.html", extra)
            same = comparable(r2) == comparable(r1)
            diffs += not same
            print("%-4s %-20s h2 %s" % ("ok" if same else "DIFF", label, summary(r2)))
            if not same:
                print("     %-20s h1 %s" % ("", summary(r1)))
    print("%d differences between h2 and HTTP/1.1" % diffs)


if __name__ == "__main__":
    main()
