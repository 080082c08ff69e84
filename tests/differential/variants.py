"""tests/differential/variants.py: the generated variants of the differential check.

`run` holds the hand-written variants, one per hole issue 17 named. This module generates many
more of each class, the way an attacker would: every position of a bad byte (bare CR or LF,
NUL, VT, FF, NBSP, obs-text) in a chunked body and in the framing fields' names and values,
every spelling of a transfer-coding list, a Content-Length, a Host, a Connection option, a
version; every encoded spelling of a slash or a dot in front of the directory redirect; HEAD on
every error path, pipelined too. `run` sends each to nginx and to every stage and compares.

A generated variant lists what must agree with nginx. Where the two may differ by design, the
variant names the one outcome of ours it accepts (`allowed`), as the hand-written ones do;
what is never allowed (one side answering the follow-up while the other waits for it as body,
a redirect off this host, bytes after a HEAD response, an answer after a framing refusal) is
checked by `run` for every variant whatever it allows.
"""

from __future__ import annotations

from dataclasses import dataclass

# The allowed differences of generated variants. The first element is the boundary of ours the
# difference accepts ("closed": we refused and closed where nginx read on).
STRICTER_CHUNKED = ("closed", "we refuse a chunk line or trailer that RFC 9112 7.1 does not allow; nginx reads past some such bytes")
STRICTER_FIELD = ("closed", "we refuse a framing field that is not exactly valid (RFC 9112 6.1, 6.3); nginx reads some of them on")
STRICTER_HOST = ("closed", "we hold Host to RFC 3986 authority syntax; nginx accepts more bytes in a host name")
STRICTER_EXT = ("closed", "we refuse control bytes and obs-text in chunk extensions, and extensions past 1 KiB; nginx skips extensions unread")
STRICTER_HEAD = ("closed", "we refuse a field line httparse rejects (control bytes, a space before the colon); nginx skips some such lines")
LAXER_HOST = ("answered", "RFC 3986 allows this authority (a reg-name may hold any number of dots, a port any digits); nginx refuses it")
NGINX_HTAB = ("answered", "nginx 1.22 strips SP but not HTAB around a value and refuses; HTAB is OWS (RFC 9110 5.6.3), we strip it")
NGINX_DUPLICATE_IMS = ("answered", "nginx refuses a repeated If-Modified-Since with 400; RFC 9110 13.1.3 says ignore it, as we do")
STRICTER_VERSION = ("closed", "HTTP-version is one digit each side of the dot (RFC 9112 2.3): 400; nginx reads HTTP/1.10 and HTTP/1.01 as 1.1")
NGINX_DUPLICATE_CL = ("answered", "identical Content-Lengths are one (RFC 9110 8.6 lets a recipient take them so); nginx refuses any repeated Content-Length")
OUR_SLASH = ("answered", "we never decode %2F into a path separator (a 404); nginx merges it into the path and redirects")
OUR_CLAMP = ("answered", ".. above the root stays at the root (DESIGN 5); nginx refuses it with 400")
OUR_ABSOLUTE = ("answered", "our redirect is a path on this host; nginx builds its Location from an absolute-form target's host")
NGINX_SUBSTRING = ("answered", "nginx finds `close` as a substring of any option (`closed`); an option is a whole token")
CLOSE_WINS = ("closed", "close wins over keep-alive in any field, and an option that is not a token reads as close (RFC 9112 9.6); nginx keeps the last field")
INVALID_DATE = ("answered", "not one valid HTTP-date (RFC 9110 5.6.7, 13.1.3): ignored, 200; nginx reads a date out of it and sends 304")
RANGE_IGNORED = ("answered", "an invalid range is ignored with a 200 (DESIGN 5) and an empty list element is allowed (RFC 9110 5.6.1); nginx answers 416")
PATH_400 = ("answered", "a 400 for the path (%00, a bad %-escape) is the file lookup's answer: the framing is known, so the connection stays open; nginx closes after every 400")


@dataclass
class Variant:
    name: str
    raw: bytes
    # What must agree: "follow-up" (was it answered), "statuses" (every status, in order),
    # "head-junk" (bytes after a HEAD's response head), "location" (stays on this host).
    compare: tuple[str, ...] = ("follow-up",)
    # (our boundary, reason): a difference is accepted only when our side ended that way.
    allowed: tuple[str, str] | None = None
    # The class it belongs to, for the counts.
    group: str = "hand-written"
    # Which requests in `raw` are HEAD, in order (their responses carry no body); by default
    # only the first request's method is looked at.
    heads: tuple[bool, ...] | None = None
    # Only stage06 implements Range: statuses are compared there only.
    range_only: bool = False

    def head_flags(self) -> tuple[bool, ...]:
        return self.heads if self.heads is not None else (self.raw.lstrip(b"\r\n").startswith(b"HEAD "),)


# Bytes that are not what they look like, or not allowed where they are put.
BAD_BYTES = [
    ("CR", b"\r"), ("LF", b"\n"), ("NUL", b"\x00"), ("VT", b"\x0b"), ("FF", b"\x0c"),
    ("NBSP", b"\xc2\xa0"), ("A0", b"\xa0"), ("85", b"\x85"), ("FF-byte", b"\xff"),
    ("SP", b" "), ("HTAB", b"\t"),
]

CHUNKED_HEAD = b"GET /style.css HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
# A body with every part of the chunked grammar: a size, an extension, data, a last chunk
# with an extension, a trailer field, the final empty line.
CHUNKED_BODY = b"5;a=b\r\nhello\r\n0;z\r\nX-T: v\r\n\r\n"


def chunked_positions() -> list[Variant]:
    out = []
    for i in range(len(CHUNKED_BODY) + 1):
        for name, bad in BAD_BYTES:
            for how, body in [("insert", CHUNKED_BODY[:i] + bad + CHUNKED_BODY[i:]),
                              ("replace", CHUNKED_BODY[:i] + bad + CHUNKED_BODY[i + 1:])]:
                if how == "replace" and i == len(CHUNKED_BODY):
                    continue
                out.append(Variant(f"chunked {how} {name} at {i}", CHUNKED_HEAD + body,
                                   allowed=STRICTER_CHUNKED, group="chunked bad byte"))
    return out


def chunked_shapes() -> list[Variant]:
    shapes = [
        ("hex lower", b"a\r\n0123456789\r\n0\r\n\r\n"),
        ("hex upper", b"A\r\n0123456789\r\n0\r\n\r\n"),
        ("hex mixed 1aB", b"1aB\r\n" + b"x" * 0x1AB + b"\r\n0\r\n\r\n"),
        ("size 0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n"),
        ("size +5", b"+5\r\nhello\r\n0\r\n\r\n"),
        ("size -0", b"-0\r\n\r\n"),
        ("size 16 hex digits", b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        ("size 17 hex digits", b"1" * 17 + b"\r\nhello\r\n0\r\n\r\n"),
        ("size 17 digits, leading zeros", b"0" * 16 + b"5\r\nhello\r\n0\r\n\r\n"),
        ("size 40 digits, leading zeros", b"0" * 39 + b"5\r\nhello\r\n0\r\n\r\n"),
        ("size 8000000000000000", b"8000000000000000\r\nhello\r\n0\r\n\r\n"),
        ("size 7fffffffffffffff", b"7fffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        ("size 10000000000000005 (wraps to 5)", b"10000000000000005\r\nhello\r\n0\r\n\r\n"),
        ("size empty", b"\r\nhello\r\n0\r\n\r\n"),
        ("only extension", b";a\r\nhello\r\n0\r\n\r\n"),
        ("extension 1000 bytes", b"5;" + b"a" * 1000 + b"\r\nhello\r\n0\r\n\r\n"),
        ("extension 1100 bytes", b"5;" + b"a" * 1100 + b"\r\nhello\r\n0\r\n\r\n"),
        ("extension 20000 bytes", b"5;" + b"a" * 20000 + b"\r\nhello\r\n0\r\n\r\n"),
        ("extension quoted with CRLF", b"5;a=\"x\r\ny\"\r\nhello\r\n0\r\n\r\n"),
        ("extension quoted", b"5;a=\"x y\"\r\nhello\r\n0\r\n\r\n"),
        ("extension many", b"5;a;b;c=d;e=\"f\"\r\nhello\r\n0\r\n\r\n"),
        ("BWS after ;", b"5; a\r\nhello\r\n0\r\n\r\n"),
        ("space after size, then CRLF", b"5 \r\nhello\r\n0\r\n\r\n"),
        ("tab after size, then CRLF", b"5\t\r\nhello\r\n0\r\n\r\n"),
        ("space before size", b" 5\r\nhello\r\n0\r\n\r\n"),
        ("data longer than size", b"5\r\nhelloo\r\n0\r\n\r\n"),
        ("data shorter than size", b"5\r\nhell\r\n0\r\n\r\n"),
        ("no last chunk, next request", b"5\r\nhello\r\n"),
        ("last chunk without final CRLF", b"5\r\nhello\r\n0\r\n"),
        ("trailer without final CRLF", b"0\r\nX: y\r\n"),
        ("trailer obs-fold", b"0\r\nX: y\r\n z\r\n\r\n"),
        ("trailer no colon", b"0\r\nnocolon\r\n\r\n"),
        ("trailer Content-Length", b"0\r\nContent-Length: 5\r\n\r\nhello"),
        ("trailer Transfer-Encoding", b"0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("trailer 20 KiB", b"0\r\n" + b"X: " + b"y" * 20000 + b"\r\n\r\n"),
        ("two chunks bare LF", b"2\nhe\n3\nllo\n0\n\n"),
        ("data end bare CR only", b"5\r\nhello\r0\r\n\r\n"),
        ("data end LF CR", b"5\r\nhello\n\r0\r\n\r\n"),
        ("last chunk 00", b"00\r\n\r\n"),
        ("last chunk 0 with ext and BWS", b"0 ;x=y\r\n\r\n"),
        ("CRLF before size", b"\r\n5\r\nhello\r\n0\r\n\r\n"),
    ]
    out = [Variant(f"chunked {name}", CHUNKED_HEAD + body, allowed=STRICTER_CHUNKED,
                   group="chunked shapes") for name, body in shapes]
    return out


def framed(field_lines: bytes, body: bytes, version: bytes = b"1.1") -> bytes:
    return (b"POST /style.css HTTP/" + version + b"\r\nHost: localhost\r\n" + field_lines
            + b"\r\n" + body)


def framing_field_positions() -> list[Variant]:
    """A bad byte at every position of the framing fields' names and values."""
    out = []
    for name, value, body in [(b"Content-Length", b"5", b"hello"),
                              (b"Transfer-Encoding", b"chunked", b"5\r\nhello\r\n0\r\n\r\n")]:
        line = name + b": " + value
        for i in range(len(line) + 1):
            for bad_name, bad in BAD_BYTES:
                mutated = line[:i] + bad + line[i:]
                label = name.decode()
                at_edge = i in (len(name) + 1, len(name) + 2, len(line))
                allowed = NGINX_HTAB if bad_name == "HTAB" and at_edge else STRICTER_FIELD
                out.append(Variant(f"{label} insert {bad_name} at {i}",
                                   framed(mutated + b"\r\n", body),
                                   allowed=allowed, group="framing field bad byte"))
    return out


def transfer_encodings() -> list[Variant]:
    body = b"5\r\nhello\r\n0\r\n\r\n"
    lists = [
        "chunked", "Chunked", "CHUNKED", "gzip, chunked", "chunked, chunked", "chunked;q=1",
        "chunked ;q=1", "identity", "identity, chunked", "chunked, identity", "chunked,", ",chunked",
        ", chunked", "chunked, ", "\"chunked\"", "chunked\"", "x-chunked", "chunke", "chunkedx",
        "chunked chunked", "gzip", "deflate, chunked", "gzip,chunked", "chunked,,", ",,chunked",
        "chunked\t", "\tchunked",
    ]
    out = []
    for version in (b"1.1", b"1.0"):
        for value in lists:
            raw = framed(b"Transfer-Encoding: " + value.encode() + b"\r\n", body, version)
            allowed = NGINX_HTAB if "\t" in value else STRICTER_FIELD
            out.append(Variant(f"HTTP/{version.decode()} TE: {value!r}", raw, ("follow-up",),
                               allowed, group="transfer-encoding lists"))
        for fields in [
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: \r\n",
            b"Transfer-Encoding: \r\nTransfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: \r\n",
            b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n",
            b"transfer-encoding: chunked\r\n",
            b"TRANSFER-ENCODING: chunked\r\n",
            b"Transfer-Encoding : chunked\r\n",
            b"Transfer-Encoding\t: chunked\r\n",
            b" Transfer-Encoding: chunked\r\n",
            b"Transfer_Encoding: chunked\r\n",
            b"Transfer-Encoding: chunked\r\n x\r\n",
            b"X: y\r\n Transfer-Encoding: chunked\r\n",
            b"Transfer-Encoding:\r\n chunked\r\n",
        ]:
            raw = framed(fields, body, version)
            out.append(Variant(f"HTTP/{version.decode()} fields {fields!r}", raw, ("follow-up",),
                               STRICTER_FIELD, group="transfer-encoding fields"))
    return out


def content_lengths() -> list[Variant]:
    out = []
    values = ["5", "05", "005", "0000000000000000000005", "+5", "-5", "5.0", "5e0", "0x5", "1,1",
              "1, 1", "1, 2", "5,5", "5, 5", "5 5", "5;", "", "99999999999999999999",
              "18446744073709551615", "18446744073709551616", "9223372036854775807", "2000000",
              "1048576", "1048577", "\"5\"", "٥", "５"]
    for version in (b"1.1", b"1.0"):
        for value in values:
            raw = framed(b"Content-Length: " + value.encode() + b"\r\n", b"hello", version)
            out.append(Variant(f"HTTP/{version.decode()} CL: {value!r}", raw, ("follow-up",),
                               STRICTER_FIELD, group="content-length values"))
        for fields in [
            b"Content-Length: 5\r\nContent-Length: 5\r\n",
            b"Content-Length: 5\r\nContent-Length: 6\r\n",
            b"Content-Length: 5\r\nContent-Length: 05\r\n",
            b"Content-Length: 5\r\nContent-Length: \r\n",
            b"Content-Length : 5\r\n",
            b"Content-Length\x00: 5\r\n",
            b" Content-Length: 5\r\n",
            b"X: y\r\n Content-Length: 5\r\n",
            b"Content-Length: 5\r\n 6\r\n",
            b"Content-Length:\r\n 5\r\n",
            b"Content_Length: 5\r\n",
            b"Content-Length: 5\rX: y\r\n",
            b"Content-Length: 5\nX: y\r\n",
        ]:
            raw = framed(fields, b"hello", version)
            same = fields.count(b"Content-Length: 5\r\n") == 2 or b"05" in fields
            out.append(Variant(f"HTTP/{version.decode()} fields {fields!r}", raw, ("follow-up",),
                               NGINX_DUPLICATE_CL if same else STRICTER_FIELD,
                               group="content-length fields"))
    return out


def field_lines() -> list[Variant]:
    """obs-fold, a space before the colon, names with non-token bytes, on a harmless field."""
    out = []
    lines = [b"X: a\r\n b", b"X: a\r\n\tb", b" X: a", b"\tX: a", b"X : a", b"X\t: a", b"X@Y: a",
             b"X Y: a", b"X\"Y: a", b"\xc3\x84: a", b"X\x7f: a", b": a", b"X: a\x7fb",
             b"X: a\x00b", b"X: a\x01b", b"X: \xff", b"X: a\rb", b"X", b"X:a"]
    for line in lines:
        raw = b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n" + line + b"\r\n\r\n"
        out.append(Variant(f"field line {line!r}", raw, ("follow-up",), STRICTER_HEAD,
                           group="field lines"))
    return out


def hosts() -> list[Variant]:
    out = []
    valid = ["localhost", "LOCALHOST", "localhost:80", "localhost:", "127.0.0.1", "[::1]",
             "[::1]:80", "[::ffff:127.0.0.1]", "a.b.c", "a-b", "localhost.", "xn--caf-dma"]
    odd = ["a:99999", "a:65536", "a:0", "a:080", "a%41b", "a..b", "..", ".", "-", "a_b",
           "[::1]:", "[::1]:99999"]
    invalid = ["a b", "a/b", "a\\b", "a@b", "u:p@a", "a:b", "a:80:90", "[::1", "::1", "[x]",
               "[]", "a%4", "a%zz", "a?b", "a#b", "a\tb", "a,b", "a\"b", "a<b", "a:-1",
               "a: 80", "[::1]x", "a\xc2\xa0", "caf\u00e9"]
    for host in valid:
        out.append(Variant(f"Host: {host!r}", f"GET /style.css HTTP/1.1\r\nHost: {host}\r\n\r\n"
                           .encode(), ("follow-up", "statuses"), None, group="host"))
    for host in odd:
        out.append(Variant(f"Host: {host!r}", f"GET /style.css HTTP/1.1\r\nHost: {host}\r\n\r\n"
                           .encode(), ("follow-up",), LAXER_HOST, group="host"))
    for host in invalid:
        out.append(Variant(f"Host: {host!r}", f"GET /style.css HTTP/1.1\r\nHost: {host}\r\n\r\n"
                           .encode(), ("follow-up",), STRICTER_HOST, group="host"))
    for name, raw in [
        ("two Hosts same", b"GET /style.css HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n"),
        ("two Hosts differ", b"GET /style.css HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n"),
        ("1.0 without Host", b"GET /style.css HTTP/1.0\r\n\r\n"),
        ("1.0 bad Host", b"GET /style.css HTTP/1.0\r\nHost: a b\r\nConnection: keep-alive\r\n\r\n"),
        ("absolute-form, Host differs", b"GET http://other.example/style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("absolute-form, no Host", b"GET http://localhost/style.css HTTP/1.1\r\n\r\n"),
        ("absolute-form, bad Host", b"GET http://localhost/style.css HTTP/1.1\r\nHost: a b\r\n\r\n"),
        ("absolute-form, IPv6", b"GET http://[::1]:80/style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("absolute-form, userinfo", b"GET http://u@localhost/style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("absolute-form, empty authority", b"GET http:///style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("absolute-form, HTTPS", b"GET HTTPS://localhost/style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("absolute-form, no path", b"GET http://localhost HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("absolute-form, query only", b"GET http://localhost?x HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ]:
        out.append(Variant(name, raw, ("follow-up",), STRICTER_HOST, group="host"))
    return out


def line_endings() -> list[Variant]:
    out = []
    for name, raw in [
        ("bare LF everywhere", b"GET /style.css HTTP/1.1\nHost: localhost\n\n"),
        ("bare LF request line only", b"GET /style.css HTTP/1.1\nHost: localhost\r\n\r\n"),
        ("bare LF final line", b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n\n"),
        ("LF CR final line", b"GET /style.css HTTP/1.1\r\nHost: localhost\n\r\n"),
        ("bare CR request line", b"GET /style.css HTTP/1.1\rHost: localhost\r\n\r\n"),
        ("bare CR final line", b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r"),
        ("CRLF before request line", b"\r\nGET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("LF before request line", b"\nGET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("two CRLF before request line", b"\r\n\r\nGET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("bare CR before request line", b"\rGET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("space before request line", b" GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("two spaces after method", b"GET  /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("tab after method", b"GET\t/style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("trailing space after version", b"GET /style.css HTTP/1.1 \r\nHost: localhost\r\n\r\n"),
        ("lower-case method", b"get /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("bare LF chunked body", CHUNKED_HEAD.replace(b"\r\n", b"\n") + b"5\nhello\n0\n\n"),
        ("CL body then bare LF head", b"POST /style.css HTTP/1.1\nHost: localhost\nContent-Length: 5\n\nhello"),
    ]:
        out.append(Variant(name, raw, ("follow-up",), STRICTER_HEAD, group="line endings"))
    return out


def redirects() -> list[Variant]:
    targets = [
        "/docs", "//docs", "///docs", "/%2fdocs", "/%2Fdocs", "/%5cdocs", "/%5Cdocs", "/\\docs",
        "/\\\\docs", "/./docs", "/docs/.", "/docs/..%2fdocs", "/x/%2e%2e/docs", "/x/%2E%2E/docs",
        "/x/.%2e/docs", "/x/%2e./docs", "/%2e%2e/docs", "/%2e/docs", "/..//docs", "/.//docs",
        "//evil.example/../docs", "//evil.example/%2e%2e/docs", "/\\evil.example/../docs",
        "/%5c%5cevil.example/..%2fdocs", "/%2f%2fevil.example/../docs", "//evil.example/..%2fdocs",
        "/\\/evil.example/../docs", "/%09/evil.example/../docs", "/docs%EF%BC%8F", "/%E2%88%95docs",
        "/docs?\"<>'", "/docs?caf\u00e9", "/docs?a\\b", "/docs?a=<script>alert(1)</script>",
        "/docs?'onmouseover='x", "/docs?%0d%0aX:y",
        "/docs?//evil.example", "/docs#frag", "http://evil.example/docs", "http://localhost//docs",
        "/docs;x", "/docs%3f", "/DOCS",
    ]
    out = []
    for target in targets:
        for method in ("GET", "HEAD"):
            raw = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
            lower = target.lower()
            allowed = (OUR_SLASH if "%2f" in lower else OUR_CLAMP if lower.startswith(("/%2e%2e", "/.."))
                       else OUR_ABSOLUTE if lower.startswith("http") else STRICTER_HEAD)
            out.append(Variant(f"{method} {target}", raw, ("follow-up", "location", "head-junk"),
                               allowed, group="redirect"))
    return out


def head_errors() -> list[Variant]:
    many_fields = b"".join(b"X-%d: y\r\n" % i for i in range(101))
    big_field = b"X: " + b"y" * 17000 + b"\r\n"
    cases = [
        ("404", b"HEAD /missing HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("404 hidden", b"HEAD /.git HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("400 %00", b"HEAD /a%00 HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("400 bad %", b"HEAD /a%zz HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("400 no Host", b"HEAD / HTTP/1.1\r\n\r\n"),
        ("400 bad Host", b"HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        ("400 two CL", b"HEAD / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        ("400 CL+TE", b"HEAD / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("400 obs-fold", b"HEAD / HTTP/1.1\r\nHost: localhost\r\nX: a\r\n b\r\n\r\n"),
        ("400 bare CR", b"HEAD / HTTP/1.1\r\nHost: localhost\rX: y\r\n\r\n"),
        ("400 after CRLF", b"\r\nHEAD / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        ("400 after LF", b"\nHEAD / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        ("400 TE 1.0", b"HEAD / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("400 bad chunk", b"HEAD / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r3\r\n"),
        ("501 TE gzip, chunked", b"HEAD / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        ("505 HTTP/2.0", b"HEAD / HTTP/2.0\r\nHost: localhost\r\n\r\n"),
        ("505 HTTP/3", b"HEAD / HTTP/3\r\nHost: localhost\r\n\r\n"),
        ("414", b"HEAD /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("431 fields", b"HEAD / HTTP/1.1\r\nHost: localhost\r\n" + many_fields + b"\r\n"),
        ("431 size", b"HEAD / HTTP/1.1\r\nHost: localhost\r\n" + big_field + b"\r\n"),
        ("413 CL 2000000", b"HEAD /style.css HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n"),
        ("304", b"HEAD /style.css HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: *\r\n\r\n"),
        ("416", b"HEAD /style.css HTTP/1.1\r\nHost: localhost\r\nRange: bytes=900-\r\n\r\n"),
        ("206", b"HEAD /style.css HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-1\r\n\r\n"),
        ("301", b"HEAD /docs HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ]
    out = []
    for name, raw in cases:
        allowed = PATH_400 if name.startswith("400 %00") or name.startswith("400 bad %") else STRICTER_HEAD
        out.append(Variant(f"HEAD {name}", raw, ("follow-up", "head-junk"), allowed,
                           group="HEAD errors"))
        # The same after a HEAD that succeeded, and after a GET, on one connection.
        ok_head = b"HEAD /notes.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
        ok_get = b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n"
        out.append(Variant(f"HEAD, then HEAD {name}", ok_head + raw, ("follow-up", "head-junk"),
                           allowed, group="HEAD errors pipelined", heads=(True, True)))
        out.append(Variant(f"GET, then HEAD {name}", ok_get + raw, ("follow-up", "head-junk"),
                           allowed, group="HEAD errors pipelined", heads=(False, True)))
    return out


def connections() -> list[Variant]:
    options = ["close", "Close", "CLOSE", " close ", "close,", ",close", "close, ", "keep-alive,close",
               "keep-alive, close", "close, keep-alive", "upgrade, close", "Upgrade,Close",
               "keep-alive", "Keep-Alive", "KEEP-ALIVE", "keep-alive, keep-alive", "keep-alive,",
               "keep-alive, upgrade", "close\t", "\tclose", "clos e", "close;", "\"close\"", "closed",
               "keepalive", "", "te, close", "close\xc2\xa0", "keep-alive\xc2\xa0"]
    out = []
    for version in ("1.0", "1.1"):
        for option in options:
            fields = f"Connection: {option}\r\n".encode("latin-1") if "\xc2" in option else \
                f"Connection: {option}\r\n".encode()
            raw = f"GET /style.css HTTP/{version}\r\nHost: localhost\r\n".encode() + fields + b"\r\n"
            allowed = NGINX_HTAB if "\t" in option else NGINX_SUBSTRING if option == "closed" else CLOSE_WINS
            out.append(Variant(f"HTTP/{version} Connection: {option!r}", raw, ("follow-up", "statuses"),
                               allowed, group="connection"))
        for fields in [b"Connection: keep-alive\r\nConnection: close\r\n",
                       b"Connection: close\r\nConnection: keep-alive\r\n",
                       b"Connection: keep-alive\r\nConnection: Close\r\n",
                       b"Connection: keep-alive\r\nConnection: \r\n",
                       b"Connection: keep-alive\r\nProxy-Connection: close\r\n"]:
            raw = f"GET /style.css HTTP/{version}\r\nHost: localhost\r\n".encode() + fields + b"\r\n"
            out.append(Variant(f"HTTP/{version} fields {fields!r}", raw, ("follow-up", "statuses"),
                               CLOSE_WINS, group="connection"))
    return out


def if_modified_since(last_modified: str) -> list[Variant]:
    old = "Sun, 06 Nov 1994 08:49:37 GMT"
    cases = [
        ("one", [last_modified], None),
        ("one, old", [old], None),
        ("two same", [last_modified, last_modified], NGINX_DUPLICATE_IMS),
        ("two, old then new", [old, last_modified], NGINX_DUPLICATE_IMS),
        ("two, new then old", [last_modified, old], NGINX_DUPLICATE_IMS),
        ("list of two", [f"{last_modified}, {last_modified}"], INVALID_DATE),
        ("empty", [""], INVALID_DATE),
        ("garbage", ["yesterday"], INVALID_DATE),
        ("trailing space", [last_modified + " "], INVALID_DATE),
        ("with NBSP", [last_modified + "\u00a0"], INVALID_DATE),
        ("lower-case gmt", [last_modified.replace("GMT", "gmt")], INVALID_DATE),
        ("no GMT", [last_modified.replace(" GMT", "")], INVALID_DATE),
    ]
    out = []
    for name, dates, allowed in cases:
        fields = "".join(f"If-Modified-Since: {d}\r\n" for d in dates)
        raw = f"GET /style.css HTTP/1.1\r\nHost: localhost\r\n{fields}\r\n".encode()
        out.append(Variant(f"If-Modified-Since {name}", raw, ("follow-up", "statuses"), allowed,
                           group="if-modified-since"))
    return out


def versions() -> list[Variant]:
    out = []
    for version in ["HTTP/1.0", "HTTP/1.1", "HTTP/1.2", "HTTP/1.5", "HTTP/1.9", "HTTP/1.10",
                    "HTTP/1.01", "HTTP/01.1", "HTTP/1", "HTTP/1.", "http/1.1", "Http/1.1",
                    "HTTP/2", "HTTP/2.0", "HTTP/3.0", "HTTP/0.9", "HTTP/9.9", "HTTP/1.1a",
                    "HTTP /1.1", "HTTP/ 1.1", "HTTP/1.x"]:
        raw = f"GET /style.css {version}\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n".encode()
        out.append(Variant(f"version {version}", raw, ("follow-up", "statuses"), STRICTER_VERSION,
                           group="versions"))
    return out


def ranges() -> list[Variant]:
    out = []
    for spec in ["bytes=0-3", "Bytes=0-3", "BYTES=0-3", "bYtEs=0-3", "bytes = 0-3", " bytes=0-3",
                 "bytes=0-3,", "bytes=0-3, 5-6", "bytes=-3", "bytes=3-", "bytes=3-1",
                 "bytes=0-3\u00a0", "bytes\u00a0=0-3", "items=0-3", "bytes=0x0-3", "bytes=+0-3"]:
        fields = f"Range: {spec}\r\n".encode()
        raw = b"GET /style.css HTTP/1.1\r\nHost: localhost\r\n" + fields + b"\r\n"
        out.append(Variant(f"Range: {spec!r}", raw, ("follow-up", "statuses"), RANGE_IGNORED,
                           group="range units", range_only=True))
    return out


def targets_and_bodies() -> list[Variant]:
    """Odd bytes in the request target, Expect, and bodies pipelined back to back."""
    out = []
    for name, target in [("NUL", b"/a\x00b"), ("DEL", b"/a\x7fb"), ("obs-text 80", b"/a\x80b"),
                         ("obs-text ff", b"/\xff"), ("UTF-8 e9", b"/caf\xc3\xa9"), ("VT", b"/a\x0bb"),
                         ("FF", b"/a\x0cb"), ("CR", b"/a\rb"), ("HTAB", b"/a\tb"), ("query DEL", b"/?\x7f"),
                         ("fragment", b"/style.css#x"), ("%00", b"/style.css%00"),
                         ("%2e%2e%2f", b"/%2e%2e%2fstyle.css"), ("empty", b""), ("*", b"*")]:
        raw = b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
        allowed = PATH_400 if name == "%00" else OUR_SLASH if "%2f" in name else STRICTER_HEAD
        out.append(Variant(f"target {name}", raw, ("follow-up",), allowed, group="targets"))
    two = (b"POST /style.css HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\n")
    for name, raw in [
        ("two chunked POSTs", two + two),
        ("chunked POST then CL POST", two + b"POST /style.css HTTP/1.1\r\nHost: localhost\r\n"
                                            b"Content-Length: 3\r\n\r\nabc"),
        ("Expect 100-continue with body", b"POST /style.css HTTP/1.1\r\nHost: localhost\r\n"
                                          b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"),
        ("Expect odd with body", b"POST /style.css HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Expect: 100-continuex\r\nContent-Length: 5\r\n\r\nhello"),
        ("GET with CL body", b"GET /style.css HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"),
        ("HEAD with CL body", b"HEAD /style.css HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"),
        ("HEAD with chunked body", b"HEAD /style.css HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked"
                                   b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("big file, bad chunk", b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked"
                                b"\r\n\r\n5\r3\r\n"),
        ("big file, good chunks", b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked"
                                  b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("big file HEAD, bad chunk", b"HEAD /big.bin HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked"
                                     b"\r\n\r\n5\r3\r\n"),
    ]:
        out.append(Variant(name, raw, ("follow-up",), STRICTER_CHUNKED, group="bodies"))
    return out


def generated(last_modified: str) -> list[Variant]:
    return (chunked_positions() + chunked_shapes() + framing_field_positions()
            + transfer_encodings() + content_lengths() + field_lines() + hosts()
            + line_endings() + redirects() + head_errors() + connections()
            + if_modified_since(last_modified) + versions() + ranges() + targets_and_bodies())
