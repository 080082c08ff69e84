"""The lean-server paper's five experiments, redone on this machine, side by side with nginx.

The paper (a master's defence of a small PHP web server, measured against nginx) ran five
experiments: (1) the setup: steps, installation time, disk space; (2) response time with
`curl -w %{time_total}`; (3) connection time with `curl -w %{time_connect}`; (4) header
compression with HPACK on three sample header sets; (5) ApacheBench over TLS, `ab -n 1000
-c 10`. This module redoes each one the same way, for the stage that fits (stage06 for
HTTPS/1.1, stage07 for HTTP/2 and HPACK when it exists) and for nginx, and writes a Markdown
page with the paper's numbers beside ours (`paper.md`, and the raw numbers as `paper.json`).

Entry point: `httperf/paper` (see its --help). Python 3.11 standard library, plus what it
installs: Debian's apache2-utils (ab), curl, wrk, nghttp2-client (h2load) and nginx if missing,
and Python's `hpack` from PyPI in a venv of its own (for experiment 4).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .scenarios import TLS
from .servers import Server, StageServer, user_line
from .util import LIVE_GROUPS, REPO, HarnessError, apt_install, find_program, free_port, \
    kill_group, log, run_cmd

# =================================================================================================
# The paper's numbers, as it reports them (its server: PHP, over HTTPS; its machine: unknown).
# =================================================================================================
PAPER = {
    "setup": {"nginx": ("10 steps", "20 minutes", "2.6 MB"),
              "theirs": ("5 steps", "5 minutes", "145 KB")},
    "time_total": {"nginx": 0.069, "theirs": 0.089},
    "time_connect": {"nginx": 0.000413, "theirs": 0.000387},
    # Header sets of 104, 255 and 2,339 bytes, compressed to 30, 169 and 702 bytes.
    "hpack": [(104, 30), (255, 169), (2339, 702)],
    "ab": {"rps": 53.63, "failed": 0, "mean_ms": 186,
           "tls": "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256"},
}

# The paper's cipher: TLS 1.2, ECDHE key exchange, an RSA certificate, AES-128-GCM. rustls
# offers it (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) with its `tls12` feature, which stage06 has.
PAPER_CIPHER = "ECDHE-RSA-AES128-GCM-SHA256"
PAGE = "/index.html"  # what is fetched: the sample site's front page (the paper's is unknown)


@dataclass(frozen=True)
class Profile:
    curls: int  # fetches per server for experiments 2 and 3
    ab_n: int
    ab_c: int
    wrk_secs: int


FULL = Profile(curls=200, ab_n=1000, ab_c=10, wrk_secs=10)
QUICK = Profile(curls=5, ab_n=50, ab_c=10, wrk_secs=1)


# =================================================================================================
# The servers: each stage on its one HTTPS port, and nginx with one worker and with `auto`.
# =================================================================================================
@dataclass(frozen=True)
class RsaCert:
    cert: Path
    key: Path
    der: bytes = b""


def make_rsa_cert(folder: Path) -> RsaCert:
    """A self-signed RSA-2048 certificate for localhost: the paper's cipher suite signs with RSA,
    so the harness's usual ECDSA certificate would not offer it."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "rsa-cert.pem", folder / "rsa-key.pem"
    r = run_cmd(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                 "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], 60)
    if r.rc != 0 or not cert.exists():
        raise HarnessError(f"openssl req failed: {(r.err or r.out).strip()[-200:]}")
    key.chmod(0o644)  # nginx's workers read it after dropping root
    return RsaCert(cert, key)


class PaperNginx(Server):
    """nginx as the paper ran it: HTTPS (and HTTP/2) on one port, barely configured."""
    kind = "nginx"

    def __init__(self, *a, workers: str, **kw):
        super().__init__(*a, **kw)
        self.workers = workers

    def command(self) -> list[str]:
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
        conf = self.render("nginx-paper.conf", {
            "WORKERS": self.workers, "DIR": str(self.dir), "ROOT": str(self.root),
            "USER_LINE": user_line("nginx")})
        return ["nginx", "-p", f"{self.dir}/", "-e", str(self.dir / "error.log"), "-c", str(conf),
                "-g", "daemon off;"]


class PaperH2o(Server):
    """h2o, one thread: only its HPACK encoder is measured here (experiment 4)."""
    kind = "h2o"

    def command(self) -> list[str]:
        conf = self.render("h2o-paper.conf", {"DIR": str(self.dir), "ROOT": str(self.root)})
        return ["h2o", "-c", str(conf)]


def build(stage: str) -> Path:
    """The release binary of `stage`, built now (incremental: quick when nothing changed)."""
    r = run_cmd(["cargo", "build", "--release", "--quiet", "-p", stage], 1800, cwd=REPO)
    if r.rc != 0:
        first = next((ln for ln in r.err.splitlines() if ln.startswith("error")), r.err[-300:])
        raise HarnessError(f"cargo build -p {stage} failed: {first}")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / stage


def stage_package(name: str) -> bool:
    return any(p.name.startswith(name + "-") or p.name == name for p in (REPO / "stages").iterdir())


# =================================================================================================
# Experiments 2 and 3: curl, one fresh process (and connection, and TLS handshake) per fetch.
# =================================================================================================
CURL_FORMAT = "%{time_connect} %{time_appconnect} %{time_total} %{http_version} %{http_code}\\n"


def curl_times(port: int, count: int, h2: bool) -> dict:
    """`count` fetches of PAGE with a new curl each time, as the paper did (it printed one
    number; we take the median of many, and the 90th percentile, since one number on a shared
    machine says little). Seconds."""
    rows = []
    for _ in range(count):
        cmd = ["curl", "-k", "-s", "-o", "/dev/null", "-w", CURL_FORMAT,
               "--http2" if h2 else "--http1.1", f"https://localhost:{port}{PAGE}"]
        r = run_cmd(cmd, 20)
        fields = r.out.split()
        if r.rc != 0 or len(fields) != 5 or fields[4] != "200":
            raise HarnessError(f"curl failed (rc {r.rc}): {r.out.strip()} {r.err.strip()}")
        rows.append(fields)
    connect = [float(f[0]) for f in rows]
    handshake = [float(f[1]) - float(f[0]) for f in rows]
    total = [float(f[2]) for f in rows]
    return {"connect": summary(connect), "tls": summary(handshake), "total": summary(total),
            "version": rows[-1][3], "count": count}


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"median": statistics.median(ordered), "p90": p90, "min": ordered[0]}


# =================================================================================================
# Experiment 5: ab over TLS with the paper's cipher, then with keep-alive, then wrk.
# =================================================================================================
def ab(port: int, n: int, c: int, keepalive: bool) -> dict:
    cmd = ["ab", "-n", str(n), "-c", str(c), "-f", "TLS1.2", "-Z", PAPER_CIPHER]
    cmd += ["-k"] if keepalive else []
    cmd += [f"https://127.0.0.1:{port}{PAGE}"]
    r = run_cmd(cmd, 300)
    if r.rc != 0:
        raise HarnessError(f"ab failed (rc {r.rc}): {(r.err or r.out).strip()[-300:]}")
    return parse_ab(r.out)


def parse_ab(text: str) -> dict:
    """The lines of ab's report that the paper quotes."""
    def grab(pattern: str, cast=float):
        m = re.search(pattern, text, re.M)
        if not m:
            raise HarnessError(f"ab printed no {pattern!r}")
        return cast(m.group(1))
    return {
        "rps": grab(r"^Requests per second:\s+([\d.]+)"),
        "failed": grab(r"^Failed requests:\s+(\d+)", int),
        "mean_ms": grab(r"^Time per request:\s+([\d.]+) \[ms\] \(mean\)$"),
        "tls": grab(r"^SSL/TLS Protocol:\s+(\S+)", str),
        "keepalive": grab(r"^Keep-Alive requests:\s+(\d+)", int) if "Keep-Alive requests" in text
        else 0,
        "non2xx": grab(r"^Non-2xx responses:\s+(\d+)", int) if "Non-2xx" in text else 0,
    }


def wrk(port: int, c: int, secs: int) -> dict:
    """wrk's view of the same page: `c` keep-alive connections over TLS (its own OpenSSL
    default, TLS 1.3), as many requests as they will carry in `secs`."""
    r = run_cmd(["wrk", "-t1", f"-c{c}", f"-d{secs}s", "--latency",
                 f"https://127.0.0.1:{port}{PAGE}"], secs + 30)
    if r.rc != 0:
        raise HarnessError(f"wrk failed (rc {r.rc}): {(r.err or r.out).strip()[-300:]}")
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", r.out, re.M)
    mean = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s)\b", r.out, re.M)
    errors = re.search(r"Socket errors: (.*)$", r.out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.out)
    if not rps or not mean:
        raise HarnessError(f"wrk printed no summary: {r.out.strip()[-200:]}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[mean.group(2)]
    return {"rps": float(rps.group(1)), "mean_ms": float(mean.group(1)) * scale,
            "errors": errors.group(1) if errors else "none",
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


# =================================================================================================
# Experiment 4: HPACK. The paper compressed three sample header sets (104, 255 and 2,339 bytes).
# We compress the same kinds of set, modelled on what Chromium sends when it opens a page, with
# two encoders given the same fields in the same order on one connection: ours
# (common::h2::hpack, through common's `hpack` example) and Python's `hpack` (the one python-h2
# uses). Then the servers' own encoders, on their responses, as h2load reports them.
# =================================================================================================
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36")
PAGE_REQUEST = [
    (":method", "GET"), (":authority", "localhost:8443"), (":scheme", "https"), (":path", "/"),
    ("sec-ch-ua", '"Chromium";v="120", "Not?A_Brand";v="8"'), ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'), ("upgrade-insecure-requests", "1"), ("user-agent", UA),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
               "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"),
    ("sec-fetch-site", "none"), ("sec-fetch-mode", "navigate"), ("sec-fetch-user", "?1"),
    ("sec-fetch-dest", "document"), ("accept-encoding", "gzip, deflate, br"),
    ("accept-language", "en-US,en;q=0.9"),
]
STYLE_REQUEST = [
    (":method", "GET"), (":authority", "localhost:8443"), (":scheme", "https"),
    (":path", "/style.css"), ("sec-ch-ua", '"Chromium";v="120", "Not?A_Brand";v="8"'),
    ("sec-ch-ua-mobile", "?0"), ("user-agent", UA), ("sec-ch-ua-platform", '"Linux"'),
    ("accept", "text/css,*/*;q=0.1"), ("sec-fetch-site", "same-origin"),
    ("sec-fetch-mode", "no-cors"), ("sec-fetch-dest", "style"),
    ("referer", "https://localhost:8443/"), ("accept-encoding", "gzip, deflate, br"),
    ("accept-language", "en-US,en;q=0.9"),
]


def cookie_jar() -> str:
    """A cookie field of about 2 KB, as a site with analytics, a session and consent leaves:
    deterministic (seeded) so every run compresses the same bytes."""
    rng = random.Random(7541)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    def token(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))
    crumbs = [f"_ga=GA1.1.{rng.randrange(10**9)}.{rng.randrange(10**9)}",
              f"_ga_{token(10)}=GS1.1.{rng.randrange(10**10)}.4.1.{rng.randrange(10**10)}.0.0.0",
              f"session={token(700)}", f"csrftoken={token(64)}",
              f"consent={token(300)}", f"prefs=theme%3Ddark%26lang%3Den%26tz%3D{token(20)}",
              f"ab_test={token(400)}", f"_fbp=fb.1.{rng.randrange(10**13)}.{rng.randrange(10**9)}",
              f"cart={token(280)}"]
    return "; ".join(crumbs)


COOKIE_REQUEST = PAGE_REQUEST + [("cookie", cookie_jar())]

# Each case: a name, and the header lists one connection sends in order; the size reported is
# the last list's. "repeated" is the page request again on the same connection (a reload).
HPACK_CASES = [
    ("a browser's first request (a page)", [PAGE_REQUEST]),
    ("the same request again, same connection", [PAGE_REQUEST, PAGE_REQUEST]),
    ("the next request: the page's stylesheet", [PAGE_REQUEST, STYLE_REQUEST]),
    ("a request with 2 KB of cookies, first", [COOKIE_REQUEST]),
    ("the same with cookies, again", [COOKIE_REQUEST, COOKIE_REQUEST]),
]


def h1_size(fields: list[tuple[str, str]]) -> int:
    """The same request as HTTP/1.1 text: the request line, Host, one line per field, the
    blank line. What the paper's byte counts appear to be."""
    pseudo = dict(f for f in fields if f[0].startswith(":"))
    text = f"{pseudo[':method']} {pseudo[':path']} HTTP/1.1\r\nHost: {pseudo[':authority']}\r\n"
    text += "".join(f"{n}: {v}\r\n" for n, v in fields if not n.startswith(":"))
    return len((text + "\r\n").encode())


PY_HPACK = """
import json, sys, hpack
cases = json.load(sys.stdin)
out = []
for lists in cases:
    enc = hpack.Encoder()
    sizes = [len(enc.encode([tuple(f) for f in fields])) for fields in lists]
    out.append(sizes)
json.dump(out, sys.stdout)
"""


def python_hpack_sizes(venv: Path) -> list[list[int]]:
    """Python's `hpack` (PyPI) on every case: the bytes of each block, in order."""
    python = venv / "bin" / "python"
    if not python.exists():
        log("making a venv with Python's hpack (PyPI)")
        r = run_cmd([sys.executable, "-m", "venv", str(venv)], 120)
        if r.rc != 0:
            raise HarnessError(f"python3 -m venv failed: {r.err.strip()[-200:]}")
        r = run_cmd([str(venv / "bin" / "pip"), "install", "-q", "hpack"], 300)
        if r.rc != 0:
            raise HarnessError(f"pip install hpack failed: {r.err.strip()[-200:]}")
    done = subprocess.run([str(python), "-c", PY_HPACK], input=json.dumps(
        [lists for _, lists in HPACK_CASES]), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise HarnessError(f"python hpack failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


def our_hpack_sizes() -> list[list[int]]:
    """Our encoder (common::h2::hpack::Encoder, the one stage07 uses) on every case, through
    common's `hpack` example (one line per block: `encode shorter NAME:VALUE ...` in hex, and
    `reset` for a new connection; see common/examples/hpack.rs)."""
    r = run_cmd(["cargo", "build", "--release", "--quiet", "-p", "common", "--features", "h2",
                 "--example", "hpack"], 1800, cwd=REPO)
    if r.rc != 0:
        raise HarnessError(f"cargo build --example hpack failed: {r.err.strip()[-300:]}")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    lines = []
    for _, lists in HPACK_CASES:
        lines.append("reset")
        for fields in lists:
            lines.append("encode shorter " + " ".join(
                f"{n.encode().hex()}:{v.encode().hex()}" for n, v in fields))
    done = subprocess.run([str(target / "release" / "examples" / "hpack")],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    replies = done.stdout.splitlines()
    if done.returncode != 0 or len(replies) != len(lines):
        raise HarnessError(f"the hpack example failed: {done.stderr.strip()[-300:]}")
    sizes: list[list[int]] = []
    for line, reply in zip(lines, replies):
        if line == "reset":
            sizes.append([])
        elif reply.startswith("block "):
            sizes[-1].append(len(reply.split(" ", 1)[1].strip()) // 2)
        else:
            raise HarnessError(f"the hpack example answered {reply!r}")
    return sizes


def h2load_headers(url: str, n: int) -> dict:
    """h2load over one connection, `n` requests one after another: the header bytes it received
    and the "space savings" it computes (1 - bytes on the wire / bytes decoded)."""
    r = run_cmd(["h2load", "-n", str(n), "-c", "1", "-m", "1", url], 60)
    m = re.search(r"^traffic: .*?, \S+ \((\d+)\) headers \(space savings ([\d.]+)%\)", r.out, re.M)
    ok = re.search(r"^requests: .* (\d+) succeeded", r.out, re.M)
    if r.rc != 0 or not m or not ok or int(ok.group(1)) != n:
        raise HarnessError(f"h2load {url} failed: {r.out.strip()[-300:]}")
    return {"bytes": int(m.group(1)), "savings": float(m.group(2)), "n": n}


# =================================================================================================
# Running it all.
# =================================================================================================
class Paper:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.profile = QUICK if args.quick else FULL
        self.scratch = Path(tempfile.mkdtemp(prefix="paper-"))
        self.scratch.chmod(0o755)  # nginx's workers run as www-data and must read the site
        self.servers: list[tuple[Server, bool]] = []  # (server, speaks h2)
        self.results: dict = {"servers": {}}
        self.h2o: Server | None = None  # for experiment 4 only

    def install(self) -> None:
        """What the experiments run, from Debian if missing (as the main harness does)."""
        want = {"ab": "apache2-utils", "curl": "curl", "wrk": "wrk", "nginx": "nginx",
                "openssl": "openssl", "h2load": "nghttp2-client", "h2o": "h2o"}
        missing = [pkg for prog, pkg in want.items() if not find_program(prog)]
        if missing:
            apt_install(missing)
        still = [prog for prog in want if not find_program(prog)]
        if still:
            raise HarnessError(f"missing after apt-get install: {' '.join(still)}")

    def site(self) -> Path:
        """A scratch copy of www/ plus bench/1k.bin, which Server.start checks for."""
        www = self.scratch / "www"
        shutil.copytree(REPO / "www", www)
        (www / "bench").mkdir()
        (www / "bench" / "1k.bin").write_bytes(random.Random(2024).randbytes(1024))
        return www

    def start(self) -> None:
        www = self.site()
        cert = make_rsa_cert(self.scratch / "tls")
        taken: set[int] = set()
        for stage, h2 in (("stage06", False), ("stage07", True)):
            if not stage_package(stage):
                continue
            binary = build(stage)
            port = free_port(19400, taken)
            srv = StageServer(stage, port, self.scratch / stage, www, frozenset({TLS}),
                              binary=binary)
            srv.serve_tls(port, cert)
            self.servers.append((srv, h2))
        for name, workers in (("nginx", "1"), ("nginx-auto", "auto")):
            port = free_port(19400, taken)
            srv = PaperNginx(name, port, self.scratch / name, www, frozenset({TLS}),
                             workers=workers)
            srv.serve_tls(port, cert)
            self.servers.append((srv, True))
        if find_program("h2o"):  # installed above; only experiment 4 uses it
            port = free_port(19400, taken)
            self.h2o = PaperH2o("h2o", port, self.scratch / "h2o", www, frozenset({TLS}))
            self.h2o.serve_tls(port, cert)
        for srv in [s for s, _ in self.servers] + ([self.h2o] if self.h2o else []):
            log(f"starting {srv.name} on {srv.tls_port}")
            srv.start()

    def experiments(self) -> None:
        p = self.profile
        for srv, h2 in self.servers:
            port = srv.tls_port
            row: dict = {}
            log(f"{srv.name}: curl x{p.curls} over HTTP/1.1")
            row["curl_h1"] = curl_times(port, p.curls, h2=False)
            if h2:
                log(f"{srv.name}: curl x{p.curls} over HTTP/2")
                row["curl_h2"] = curl_times(port, p.curls, h2=True)
            log(f"{srv.name}: ab -n {p.ab_n} -c {p.ab_c} ({PAPER_CIPHER}), then -k")
            row["ab"] = ab(port, p.ab_n, p.ab_c, keepalive=False)
            row["ab_k"] = ab(port, p.ab_n, p.ab_c, keepalive=True)
            log(f"{srv.name}: wrk -c {p.ab_c} for {p.wrk_secs}s")
            row["wrk"] = wrk(port, p.ab_c, p.wrk_secs)
            self.results["servers"][srv.name] = row

    def hpack(self) -> None:
        """Experiment 4: the request header sets through two encoders, then each HTTP/2 server's
        own encoder on its responses (h2load: the first response alone, then 100 in a row)."""
        venv = REPO / "target" / "paper-venv"
        sets = {"cases": [{"name": name, "h1": h1_size(lists[-1])} for name, lists in HPACK_CASES],
                "python": [sizes[-1] for sizes in python_hpack_sizes(venv)]}
        sets["ours"] = [sizes[-1] for sizes in our_hpack_sizes()]
        self.results["hpack"] = sets
        servers = [(srv, srv.name) for srv, h2 in self.servers if h2]
        if self.h2o:
            servers.append((self.h2o, "h2o"))
        responses = {}
        for srv, name in servers:
            url = f"https://127.0.0.1:{srv.tls_port}{PAGE}"
            log(f"{name}: h2load -c 1 -n 1, then -n 100")
            responses[name] = {"first": h2load_headers(url, 1), "hundred": h2load_headers(url, 100)}
        self.results["hpack_responses"] = responses

    def setup_table(self) -> None:
        """Experiment 1 reuses the footprint measurement (httperf/focus/footprint): a fresh clone
        and build take minutes, so its last committed result is read, not remade."""
        saved = REPO / "httperf" / "focus" / "results" / "footprint.json"
        if saved.exists():
            self.results["footprint"] = json.loads(saved.read_text())

    def machine(self) -> None:
        cpu = "?"
        try:
            for line in open("/proc/cpuinfo", encoding="utf-8"):
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        versions = {}
        for name, cmd in (("nginx", ["nginx", "-v"]), ("curl", ["curl", "--version"]),
                          ("ab", ["ab", "-V"]), ("wrk", ["wrk", "-v"])):
            r = run_cmd(cmd, 10)
            text = (r.out + r.err).strip().splitlines()
            versions[name] = text[0] if text else "?"
        self.results["machine"] = {
            "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "load": os.getloadavg()[0], "versions": versions, "quick": self.args.quick,
            "profile": self.profile.__dict__,
        }

    def stop(self) -> None:
        for srv in [s for s, _ in self.servers] + ([self.h2o] if self.h2o else []):
            srv.stop()
        for pgid in list(LIVE_GROUPS):
            kill_group(pgid, 9)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def run(self) -> int:
        try:
            self.install()
            self.machine()
            self.start()
            self.experiments()
            self.hpack()
            self.setup_table()
        finally:
            self.stop()
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "paper.json").write_text(json.dumps(self.results, indent=1))
        (out / "paper.md").write_text(render(self.results))
        print(out)
        return 0


# =================================================================================================
# The page.
# =================================================================================================
def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds >= 0.001 else f"{seconds * 1e6:.0f} µs"


def render(res: dict) -> str:
    m = res["machine"]
    servers = res["servers"]
    lines = [
        f"Measured {m['when']} by `httperf/paper{' --quick' if m['quick'] else ''}` on "
        f"{m['cores']} cores ({m['cpu']}, Linux {m['kernel']}, load average {m['load']:.1f} at "
        "the start), every server on 127.0.0.1, HTTPS with one self-signed RSA-2048 "
        f"certificate. Tools: {m['versions']['nginx']}; {m['versions']['curl'].split(' (')[0]}; "
        f"{m['versions']['ab']}; {m['versions']['wrk'].split(' [')[0]}.",
        "",
    ]
    if m["quick"]:
        lines += ["**Quick run** (tiny counts, for CI): these numbers check that the script "
                  "works, nothing more.", ""]
    # --- 1: setup
    lines += ["### 1. Setting up", "",
              "| | steps | installation time | disk |", "|---|---|---|---|"]
    for who, label in (("nginx", "the paper's nginx"), ("theirs", "the paper's server")):
        steps, time_, disk = PAPER["setup"][who]
        lines.append(f"| {label} | {steps} | {time_} | {disk} |")
    fp = res.get("footprint")
    if fp:
        stripped = {row["stage"]: row["stripped"] for row in fp["stages"]}
        wall, cpu = fp["workspace"]
        for stage in ("stage06", "stage07"):
            if stage in stripped:
                lines.append(f"| our {stage} | {len(fp['commands'])} commands (the README's) | "
                             f"first build of the workspace {wall:.0f} s ({cpu:.0f} s CPU) | "
                             f"{stripped[stage] / (1 << 20):.1f} MiB binary (stripped) |")
        ng = fp["nginx"]
        lines.append(f"| nginx {ng['version']} from Debian, here | 1 command (`apt-get install "
                     f"nginx`) | seconds (a package) | {ng['binary'] / (1 << 20):.1f} MiB "
                     f"binary; {ng['all_kib'] / 1024:.0f} MiB with its packages |")
        lines += ["", f"From `httperf/focus/footprint` (its run of {fp['started']}, commit "
                  f"`{fp['commit']}`), not remade here: a fresh clone and build take minutes."]
    lines.append("")
    # --- 2 and 3: curl
    lines += ["### 2 and 3. Response time and connection time (curl)", "",
              f"`curl -k -s -o /dev/null -w '{CURL_FORMAT.strip()}' https://localhost:PORT"
              f"{PAGE}`, one new curl process per fetch (a new connection and a full TLS "
              "handshake each time), medians (90th percentile) of "
              f"{m['profile']['curls']} fetches per row.", "",
              "| server | protocol | time_connect | TLS handshake | time_total |",
              "|---|---|---:|---:|---:|",
              f"| the paper's nginx | HTTPS | {ms(PAPER['time_connect']['nginx'])} | | "
              f"{ms(PAPER['time_total']['nginx'])} |",
              f"| the paper's server | HTTPS | {ms(PAPER['time_connect']['theirs'])} | | "
              f"{ms(PAPER['time_total']['theirs'])} |"]
    for name, row in servers.items():
        for key in ("curl_h1", "curl_h2"):
            if key not in row:
                continue
            c = row[key]
            proto = "HTTP/2" if c["version"] == "2" else f"HTTP/{c['version']}"
            lines.append(f"| {name} | {proto} | {ms(c['connect']['median'])} "
                         f"({ms(c['connect']['p90'])}) | {ms(c['tls']['median'])} "
                         f"({ms(c['tls']['p90'])}) | {ms(c['total']['median'])} "
                         f"({ms(c['total']['p90'])}) |")
    lines.append("")
    # --- 4: HPACK
    hp = res.get("hpack")
    if hp:
        lines += ["### 4. Header compression (HPACK)", "",
                  "The paper's three sample sets: "
                  + ", ".join(f"{a:,} bytes compressed to {b:,}" for a, b in PAPER["hpack"])
                  + ". Ours: request header lists modelled on Chromium 120 opening this site "
                  "(`HPACK_CASES` in `httperf/harness/paper.py`); *as HTTP/1.1* is the same "
                  "request as HTTP/1.1 text; each encoder starts a fresh connection per case "
                  "and the row's size is its last block.", ""]
        head = "| request | as HTTP/1.1 | Python `hpack` |"
        rule = "|---|---:|---:|"
        if "ours" in hp:
            head += " ours (`common::h2::hpack`) |"
            rule += "---:|"
        lines += [head, rule]
        for i, case in enumerate(hp["cases"]):
            row = f"| {case['name']} | {case['h1']:,} B | {hp['python'][i]:,} B |"
            if "ours" in hp:
                row += f" {hp['ours'][i]:,} B |"
            lines.append(row)
        resp = res.get("hpack_responses", {})
        if resp:
            lines += ["", f"The servers' encoders, on their responses to `GET {PAGE}` over one "
                      "connection (`h2load -c 1 -m 1 -n N`): header bytes received and h2load's "
                      "*space savings* (1 - bytes on the wire / bytes decoded).", "",
                      "| server | first response | its savings | 100 responses | per response | "
                      "savings |", "|---|---:|---:|---:|---:|---:|"]
            for name, r in resp.items():
                f, h = r["first"], r["hundred"]
                lines.append(f"| {name} | {f['bytes']} B | {f['savings']:.1f}% | {h['bytes']:,} B "
                             f"| {h['bytes'] / h['n']:.1f} B | {h['savings']:.1f}% |")
        lines.append("")
    # --- 5: ab and wrk
    p = m["profile"]
    lines += ["### 5. ApacheBench over TLS", "",
              f"`ab -n {p['ab_n']} -c {p['ab_c']} -f TLS1.2 -Z {PAPER_CIPHER} "
              f"https://127.0.0.1:PORT{PAGE}`; then the same with `-k` (keep-alive); then "
              f"`wrk -t1 -c{p['ab_c']} -d{p['wrk_secs']}s` (keep-alive, TLS 1.3).", "",
              "| server | ab: requests/s | failed | mean | ab -k: requests/s | mean | "
              "wrk: requests/s | mean | TLS (ab) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---|",
              f"| the paper's server | {PAPER['ab']['rps']} | {PAPER['ab']['failed']} | "
              f"{PAPER['ab']['mean_ms']} ms | | | | | {PAPER['ab']['tls']} |"]
    for name, row in servers.items():
        a, k, w = row["ab"], row["ab_k"], row["wrk"]
        failed = a["failed"] + a["non2xx"]
        lines.append(f"| {name} | {a['rps']:,.0f} | {failed} | {a['mean_ms']:.2f} ms | "
                     f"{k['rps']:,.0f} | {k['mean_ms']:.2f} ms | {w['rps']:,.0f} | "
                     f"{w['mean_ms']:.2f} ms | {a['tls'].replace(',', ' ', 1).split(',')[0]} |")
    lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="httperf/paper", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny counts (CI's smoke test): checks the script, not the servers")
    parser.add_argument("--out", default=None,
                        help="where paper.md and paper.json go (default httperf/results/paper)")
    parser.add_argument("--render", metavar="DIR",
                        help="measure nothing: write DIR/paper.md again from DIR/paper.json")
    args = parser.parse_args(argv)
    if args.render:
        folder = Path(args.render)
        (folder / "paper.md").write_text(render(json.loads((folder / "paper.json").read_text())))
        print(folder / "paper.md")
        return 0
    if args.out is None:
        args.out = str(REPO / "httperf" / "results" / "paper")
    try:
        return Paper(args).run()
    except HarnessError as e:
        print(f"httperf/paper: {e}", file=sys.stderr)
        return 1
