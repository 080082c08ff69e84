"""The servers: every stage and every peer it is measured against. One class per kind says how
it is installed (Debian packages), configured (a published template in httperf/conf/, filled in
at the @FIELDS@), started (in the foreground, in its own process group, checked to answer the
exact bytes), stopped, and described in the report. Adding a peer is a class and a line in
`PEERS` here, and its template in httperf/conf/.

Which stage can do what is `STAGE_CAPS`; a scenario (scenarios.py) names the capability it needs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .measure import process_tree
from .scenarios import (ALL_CAPS, CAP_NAMES, CLOSE, H2, H2_CAPS, H2C, KEEPALIVE, PLAIN_CAPS, TLS,
                        bench_uri)
from .util import CONF_DIR, LIVE_GROUPS, HarnessError, die_with_parent, find_program, kill_group, \
    log, run_cmd

# =================================================================================================
# The capability table: the one place that says which stage can do what (the peers can do
# HTTP/1 over plain TCP and TLS; nginx and h2o HTTP/2 too). A stage up to stage06 has one port:
# plain HTTP or TLS, never both. stage07 has two: PORT is TLS (ALPN h2 and http/1.1) and
# `--plain-port N` is cleartext, where the preface picks HTTP/2 (prior knowledge) or HTTP/1.1.
# The peers serve TLS on a second port (a second server block in the same config).
# =================================================================================================
STAGE_CAPS: dict[str, frozenset[str]] = {
    "stage01": frozenset({CLOSE}),  # HTTP/1.0, one connection at a time
    "stage02": frozenset({CLOSE, KEEPALIVE}),  # keep-alive, no pipelining
    "stage03": PLAIN_CAPS,  # pipelining from here on
    "stage04": PLAIN_CAPS,
    "stage05": PLAIN_CAPS,
    "stage06": frozenset({TLS}),  # HTTPS only: started with --cert/--key, measured in scenario 9
    "stage07": ALL_CAPS | H2_CAPS,  # HTTP/2 and HTTP/1.1, on its TLS port and its plain port
    # Two listeners from the config file the harness writes (conf/stage09.toml), as stage07's
    # two ports; HTTP/2 only when the binary accepts `http2 = true` (Stage09Server.probe_caps).
    "stage09": ALL_CAPS | H2_CAPS,
}
STAGE_CAPS_NOTE = {
    "stage06": "serves TLS only: measured in scenario 9 alone",
    "stage07": "TLS port (ALPN h2, http/1.1) and --plain-port (h2 prior knowledge or HTTP/1.1)",
}
PEER_CAPS_NOTE = {
    "h2o": "here for HTTP/2: measured in scenarios 10 and 11 only",
    "static-web-server": "HTTP/2 over TLS only (no cleartext HTTP/2): a second process for TLS",
}
NEWER_STAGE_CAPS = PLAIN_CAPS  # a stage the table does not list yet (stage07+): plain HTTP


def caps_note(server: str) -> str:
    """The capability table's note on a server (stage06: TLS only), or ""."""
    return STAGE_CAPS_NOTE.get(server) or PEER_CAPS_NOTE.get(server, "")


def na_note(server: str, needs: str) -> str:
    """Why a server gets n/a in a scenario: its own note if it has one, else what it lacks."""
    return caps_note(server) or f"no {CAP_NAMES.get(needs, needs)}"


def client_tls() -> ssl.SSLContext:
    """A TLS client that, like wrk, does not verify the certificate (it is our own, self-signed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_check(port: int, uri: str, expect: bytes, timeout: float = 3.0,
               tls: bool = False) -> str | None:
    """One HTTP/1.0 GET over a fresh connection (HTTPS when `tls`); None when the server answers
    200 with exactly the expected body, else what went wrong."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            # A server that closes without close_notify still counts (suppress_ragged_eofs).
            with client_tls().wrap_socket(raw, server_hostname="localhost") if tls else raw as s:
                s.settimeout(timeout)
                s.sendall(f"GET {uri} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
                data = b""
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
    except OSError as e:  # ssl.SSLError is one
        what = "TLS " if tls else ""
        return f"no {what}answer on port {port} ({e.strerror or e})"
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if not re.match(r"HTTP/1\.[01] 200\b", status):
        return f"GET {uri} answered {status!r}"
    if body != expect:
        return f"GET {uri} body is {len(body)} bytes, expected {len(expect)}"
    return None


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def h2_check(port: int, uri: str, expect: bytes, timeout: float = 3.0,
             tls: bool = False) -> str | None:
    """One HTTP/2 GET (over TLS with ALPN h2, or cleartext with prior knowledge) on a fresh
    connection; None when the answer is 200 with exactly the expected body, else what went
    wrong. Just enough HTTP/2 for that, in the standard library: the request's header block
    uses the static table and raw literals only (RFC 7541 needs no table for that), and the
    status is read from the response's first header byte, 0x88 (`:status: 200`, static index
    8), which every server sends for a 200 (decoding the rest would need a whole HPACK)."""
    path, auth = uri.encode(), b"localhost"
    # :method GET (2), :scheme (7 https / 6 http), :path and :authority by static name.
    block = bytes([0x82, 0x87 if tls else 0x86, 0x04, len(path)]) + path \
        + bytes([0x01, len(auth)]) + auth
    body, status = b"", None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            if tls:
                ctx = client_tls()
                ctx.set_alpn_protocols(["h2"])
                conn = ctx.wrap_socket(raw, server_hostname="localhost")
                if conn.selected_alpn_protocol() != "h2":
                    return f"ALPN on port {port} chose {conn.selected_alpn_protocol()!r}, not h2"
            else:
                conn = raw
            with conn as s:
                s.settimeout(timeout)
                # Headers flagged END_STREAM (1) | END_HEADERS (4) on stream 1.
                s.sendall(PREFACE + h2_frame(4, 0, 0) + h2_frame(1, 0x05, 1, block))
                buf, deadline = b"", time.monotonic() + timeout
                while time.monotonic() < deadline:
                    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                        n = int.from_bytes(buf[:3], "big")
                        kind, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big")
                        payload, buf = buf[9:9 + n], buf[9 + n:]
                        if kind == 4 and not flags & 1:  # their SETTINGS: acknowledge
                            s.sendall(h2_frame(4, 1, 0))
                        elif kind == 7:  # GOAWAY
                            return f"GOAWAY on port {port} (code {payload[4:8].hex()})"
                        elif kind == 3 and stream == 1:  # RST_STREAM
                            return f"stream reset on port {port} (code {payload.hex()})"
                        elif kind == 1 and stream == 1:
                            status = "200" if payload[:1] == b"\x88" else f"not 200 ({payload[:1].hex()})"
                        elif kind == 0 and stream == 1:
                            body += payload
                        if stream == 1 and kind in (0, 1) and flags & 1:  # END_STREAM
                            deadline = 0
                            break
                    if deadline == 0:
                        break
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
    except OSError as e:
        return f"no HTTP/2 answer on port {port} ({e.strerror or e})"
    if status != "200":
        return f"HTTP/2 GET {uri} on port {port}: status {status or 'missing'}"
    if body != expect:
        return f"HTTP/2 GET {uri} on port {port}: body is {len(body)} bytes, expected {len(expect)}"
    return None


def tls_session(port: int, cert_der: bytes, timeout: float = 3.0) -> str:
    """The protocol and cipher a default OpenSSL client (Python's, like wrk's) gets from this
    port, and whether the server showed the harness's certificate: the report shows that every
    TLS server did the same crypto."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with client_tls().wrap_socket(raw, server_hostname="localhost") as s:
                name, version, _ = s.cipher()
                same = s.getpeercert(binary_form=True) == cert_der
                return f"{version}, {name}, " + ("the harness's certificate" if same
                                                  else "**another certificate**")
    except OSError as e:
        return f"no TLS handshake ({e})"



# =================================================================================================
# The servers: each writes its config into its own temp folder, starts in the foreground in its
# own process group (so stopping it stops its workers), and is checked to answer.
# =================================================================================================
@dataclass(frozen=True)
class Cert:
    cert: Path  # PEM certificate
    key: Path  # PEM private key (PKCS#8)
    der: bytes = field(repr=False)  # the certificate, to recognize it in a handshake


CERT_DAYS = 2
CERT_SAN = "subjectAltName=DNS:localhost,IP:127.0.0.1"


def make_cert(folder: Path) -> Cert:
    """One self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, valid two days: the
    same certificate and key for every TLS server, so they all do the same crypto (a P-256
    signature per full handshake). Raises HarnessError if openssl cannot make it."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    r = run_cmd(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(CERT_DAYS),
                 "-subj", "/CN=localhost", "-addext", CERT_SAN], 30)
    if r.rc != 0 or not cert.exists() or not key.exists():
        raise HarnessError("openssl req failed: "
                           + (" | ".join((r.err or r.out).strip().splitlines()[-2:]) or "no output"))
    # A throwaway key for localhost: readable by the servers' unprivileged workers, which may
    # read it again after dropping root (lighttpd checks its certificate files for changes).
    key.chmod(0o644)
    try:
        der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    except ValueError as e:
        raise HarnessError(f"openssl wrote no PEM certificate: {e}") from None
    return Cert(cert, key, der)


class Server:
    kind = "?"
    tls_module: str | None = None  # a module file the server needs for TLS, if any
    # What a peer needs from Debian: {program it runs: package}, plus packages for files
    # (a TLS module) that are not programs; machine.md's version row; the report's setup lines.
    title = "?"  # how the report names its kind
    packages: dict[str, str] = {}
    file_packages: dict[str, str] = {}  # {file that must exist: package}
    version_row: tuple[str, list[str]] | None = None  # (row name, command printing the version)
    setup_note = ""  # the report's "How the servers were set up" bullet (Markdown)
    tls_note = ""  # the same for TLS (scenario 9)
    caps = ALL_CAPS  # what a peer of this kind claims (make_peer); a stage's come from STAGE_CAPS
    h2c_own_port = False  # cleartext HTTP/2 on a port of its own (nginx), not on the plain one

    def __init__(self, name: str, port: int, workdir: Path, root: Path, caps: frozenset[str]):
        self.name, self.port, self.dir, self.root, self.caps = name, port, workdir, root, caps
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "output.log"
        self.start_error: str | None = None  # why it could not start, if it could not
        self.config: Path | None = None
        self.restarts = 0
        self.tls_port: int | None = None  # where it serves HTTPS, when it does (see serve_tls)
        self.h2c_port: int | None = None  # where it serves cleartext HTTP/2, when it does
        self.cert: Cert | None = None
        self.tls_error = "no TLS port"  # why it has none although it claims TLS
        self.tls_info = ""  # protocol and cipher, for the report
        workdir.mkdir(parents=True, exist_ok=True)

    def serve_tls(self, port: int, cert: Cert) -> None:
        """Serve HTTPS on `port` (a stage: its only port) with the harness's certificate."""
        self.tls_port, self.cert = port, cert

    def endpoints(self) -> list[tuple[int, bool]]:
        """(port, tls) for every port it answers HTTP/1 on: the plain one unless it is
        TLS-only (or HTTP/2-only there: nginx's cleartext HTTP/2 has a port of its own)."""
        plain = [(self.port, False)] if self.caps & PLAIN_CAPS or self.port == self.h2c_port \
            else []
        return plain + ([(self.tls_port, True)] if self.tls_port else [])

    def check(self, expect: bytes, timeout: float = 3.0) -> str | None:
        """Every port it serves answers GET /bench/1k.bin with these bytes, in every protocol
        it claims there (HTTP/1 and, where claimed, HTTP/2); else what is wrong."""
        for port, tls in self.endpoints():
            problem = http_check(port, bench_uri("1k"), expect, timeout=timeout, tls=tls)
            if problem:
                return problem
        h2 = [(self.tls_port, True)] if H2 in self.caps and self.tls_port else []
        h2 += [(self.h2c_port, False)] if H2C in self.caps and self.h2c_port else []
        for port, tls in h2:
            problem = h2_check(port, bench_uri("1k"), expect, timeout=timeout, tls=tls)
            if problem:
                return problem
        return None

    # Subclasses provide the command (and write their config).
    def command(self) -> list[str]:
        raise NotImplementedError

    def spawn(self, cmd: list[str]) -> subprocess.Popen:
        """Starts `cmd` in the foreground in its own process group, its output in the log."""
        if not find_program(cmd[0]) and not Path(cmd[0]).exists():
            raise HarnessError(f"{cmd[0]} is not installed")
        logf = open(self.log_path, "ab")
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    cwd=self.dir, start_new_session=True,
                                    preexec_fn=die_with_parent)
        except OSError as e:
            raise HarnessError(f"cannot start {cmd[0]}: {e.strerror}") from None
        finally:
            logf.close()
        LIVE_GROUPS.add(proc.pid)
        return proc

    def start(self, timeout: float = 20.0) -> None:
        self.proc = self.spawn(self.command())
        deadline = time.monotonic() + timeout
        expect = (self.root / bench_uri("1k").lstrip("/")).read_bytes()
        problem = "did not answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.stop()
                raise HarnessError(f"exited with code {code} at start: {self.log_tail()}")
            # Ready means answering with the right bytes (the startup line is not required).
            problem = self.check(expect, timeout=2.0)
            if problem is None:
                return
            time.sleep(0.05)
        self.stop()
        raise HarnessError(f"not ready after {timeout:.0f}s: {problem}; {self.log_tail()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.running() else []

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after 5 seconds."""
        if self.proc is None:
            return
        stop_group(self.proc)
        self.proc = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self) -> str:
        text = self.log_text().strip()
        for extra in sorted(self.dir.glob("*error*.log")):
            try:
                text += "\n" + extra.read_text(errors="replace").strip()
            except OSError:
                pass
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return " | ".join(lines[-3:]) if lines else "(no output)"

    def render(self, template: str, values: dict[str, str]) -> Path:
        """Fills @NAME@ fields of a template from httperf/conf/ and writes it to the temp dir.
        Without a TLS port, the lines from `# BEGIN TLS` to `# END TLS` are left out, so a
        server without a certificate or TLS module still serves plain HTTP exactly as before;
        the same for `# BEGIN H2C` to `# END H2C` without a cleartext HTTP/2 port."""
        text = (CONF_DIR / template).read_text()
        if self.tls_port and self.cert:
            values = {**values, "TLS_PORT": str(self.tls_port), "CERT": str(self.cert.cert),
                      "KEY": str(self.cert.key)}
        else:
            text = re.sub(r"^[ \t]*# BEGIN TLS\b.*?^[ \t]*# END TLS\b[^\n]*\n", "", text,
                          flags=re.M | re.S)
        if self.h2c_port:
            values = {**values, "H2C_PORT": str(self.h2c_port)}
        else:
            text = re.sub(r"^[ \t]*# BEGIN H2C\b.*?^[ \t]*# END H2C\b[^\n]*\n", "", text,
                          flags=re.M | re.S)
        for k, v in values.items():
            text = text.replace(f"@{k}@", v)
        left = re.findall(r"@[A-Z_]+@", text)
        if left:
            raise HarnessError(f"{template}: unfilled fields {left}")
        path = self.dir / template
        path.write_text(text)
        self.config = path
        return path


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process's whole group, SIGKILL after 5 seconds."""
    pgid = proc.pid
    kill_group(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        kill_group(pgid, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    kill_group(pgid, signal.SIGKILL)  # workers that outlived their master
    LIVE_GROUPS.discard(pgid)


def user_line(kind: str) -> str:
    """As root, workers drop to www-data (Apache refuses to serve as root); otherwise nothing."""
    if os.geteuid() != 0:
        return ""
    return PEER_CLASSES[kind].root_user_line if kind in PEER_CLASSES else ""


class StageServer(Server):
    kind = "stage"
    makes_own_cert = True  # stage07: without the harness's certificate it makes its own
    title = "stages"
    setup_note = ("`target/release/stageNN --quiet --bind 127.0.0.1 PORT ROOT`, "
                  "built with `cargo build --release -p stageNN`; stage06, which serves HTTPS only, "
                  "with `--cert FILE --key FILE` (the certificate below); stage07 with "
                  "`--cert FILE --key FILE --plain-port PLAIN TLS_PORT ROOT` (HTTP/2 and "
                  "HTTP/1.1 on both ports); stage09 with `--config FILE` from "
                  "conf/stage09.toml: `workers = 2`, a plain and a TLS `[[listener]]`, no "
                  "access log, `http2 = true` when the build accepts it (HTTP/2 n/a if not).")
    tls_note = ("stage06: rustls, on its one port; stage07 and stage09: rustls, ALPN h2 (when "
                "built with it) and http/1.1")

    def __init__(self, *a, binary: Path, **kw):
        super().__init__(*a, **kw)
        self.binary = binary

    def command(self) -> list[str]:
        tls = ["--cert", str(self.cert.cert), "--key", str(self.cert.key)] if self.cert else []
        if self.tls_port and self.tls_port != self.port:
            # stage07: PORT is TLS, the cleartext listener is --plain-port (without the
            # harness's certificate, when no TLS scenario runs, it makes its own).
            return [str(self.binary), "--quiet", "--bind", "127.0.0.1", *tls, "--plain-port",
                    str(self.port), str(self.tls_port), str(self.root)]
        return [str(self.binary), "--quiet", "--bind", "127.0.0.1", *tls, str(self.port),
                str(self.root)]


class Stage09Server(StageServer):
    """stage09, the production server, from a config file the harness writes from
    conf/stage09.toml: 2 worker processes (issue 15 measures it so, against nginx-auto's one
    worker per core on 2 cores), a plain [[listener]] on PORT (HTTP/1.1, and cleartext HTTP/2
    when built with it) and a TLS one on TLS_PORT with the harness's certificate, no access
    log (like every server here), `user = "www-data"` when started as root."""
    makes_own_cert = False  # without the harness's certificate it has no TLS listener
    workers = 2
    root_user_line = 'user = "www-data"'

    @staticmethod
    def probe_caps(binary: Path, workdir: Path, root: Path) -> frozenset[str]:
        """What this build can do: HTTP/1.1 plain and over TLS always; HTTP/2 when
        `stage09 --check-config` accepts `http2 = true` (a build without it refuses that line
        with exit 2), so the harness follows the binary, not a guess about a branch."""
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / "probe-http2.toml"
        probe.write_text(f'root = "{root}"\nhttp2 = true\n[[listener]]\nport = 1\n')
        try:
            r = run_cmd([str(binary), "--check-config", str(probe)], 30)
        except HarnessError:
            return ALL_CAPS
        return ALL_CAPS | H2_CAPS if r.rc == 0 else ALL_CAPS

    def command(self) -> list[str]:
        conf = self.render("stage09.toml", {
            "ROOT": str(self.root), "WORKERS": str(self.workers), "PORT": str(self.port),
            "HTTP2": "true" if H2_CAPS & self.caps else "false",
            "USER_LINE": self.root_user_line if os.geteuid() == 0 else ""})
        return [str(self.binary), "--config", str(conf)]


class NginxServer(Server):
    kind = "nginx"
    title = "nginx"
    caps = ALL_CAPS | H2_CAPS
    h2c_own_port = True  # `listen PORT http2` without ssl speaks HTTP/2 only
    packages = {"nginx": "nginx"}
    version_row = ("nginx", ["nginx", "-v"])
    root_user_line = "user www-data;"
    # The sendfile lines are filled in by the report from the measurement (main.py).
    setup_note = ("`worker_processes 1` (**nginx-auto**: `auto`, one per core), "
                  "`access_log off`, `open_file_cache`, `keepalive_requests` 10,000,000, "
                  "`tcp_nopush`/`tcp_nodelay` on. Sendfile per workload, as measured at the start "
                  "of this run (nginx, one worker, off and on alternately; nginx is restarted with "
                  "the setting of each scenario's workload: {workloads}):")
    tls_note = ("nginx: a second `server` block in the same config (`listen PORT ssl`, "
                "`ssl_protocols TLSv1.2 TLSv1.3`, `ssl_ecdh_curve X25519:prime256v1:secp384r1`, "
                "ECDSA AES-GCM/ChaCha20 ciphers for TLS 1.2, `ssl_session_cache shared:SSL:10m`, "
                "Mozilla's intermediate profile, OpenSSL), `http2` on that listener (ALPN h2 "
                "or http/1.1), and a third `server` block `listen PORT http2` for cleartext "
                "HTTP/2 (prior knowledge). nginx 1.22 has no `http2 on;` (1.25.1+); its "
                "HTTP/2 connections end at `keepalive_requests` (10,000,000 here, so never "
                "mid-run), 128 concurrent streams by default")

    def __init__(self, *a, workers: str = "1", sendfile_small: str = "off",
                 sendfile_large: str = "on", **kw):
        super().__init__(*a, **kw)
        self.workers = workers
        self.sendfile_small = sendfile_small  # the 1 KB file (everything but /bench/100k, 10m)
        self.sendfile_large = sendfile_large  # the large files' location

    def use_sendfile(self, small: str) -> None:
        """Switches the small-file sendfile setting, restarting nginx if it runs."""
        if small == self.sendfile_small:
            return
        self.sendfile_small = small
        if self.running():
            log(f"  {self.name}: restarting with sendfile {small} for this workload")
            self.stop()
            self.start()

    def command(self) -> list[str]:
        conf = self.render("nginx.conf", {
            "WORKERS": self.workers, "DIR": str(self.dir), "PORT": str(self.port),
            "ROOT": str(self.root), "USER_LINE": user_line("nginx"),
            "SENDFILE_SMALL": self.sendfile_small, "SENDFILE_LARGE": self.sendfile_large})
        return ["nginx", "-p", f"{self.dir}/", "-e", str(self.dir / "error.log"), "-c", str(conf),
                "-g", "daemon off;"]


class ApacheServer(Server):
    kind = "apache"
    title = "Apache"
    tls_module = "/usr/lib/apache2/modules/mod_ssl.so"
    packages = {"apache2": "apache2"}
    version_row = ("Apache", ["apache2", "-v"])
    root_user_line = "User www-data\nGroup www-data"
    setup_note = ("event MPM (2 processes of 64 threads to start, up to 256 workers), "
                  "`EnableSendfile On`, `EnableMMAP On`, `MaxKeepAliveRequests 0` (unlimited), "
                  "`AllowOverride None`, no access log, only the modules a static site needs.")
    tls_note = "Apache: mod_ssl on a second port, the same settings"

    def command(self) -> list[str]:
        conf = self.render("apache2.conf", {
            "DIR": str(self.dir), "PORT": str(self.port), "ROOT": str(self.root),
            "USER_LINE": user_line("apache")})
        return ["apache2", "-D", "FOREGROUND", "-f", str(conf)]


class LighttpdServer(Server):
    kind = "lighttpd"
    title = "lighttpd"
    tls_module = "/usr/lib/lighttpd/mod_openssl.so"  # Debian's lighttpd-mod-openssl
    packages = {"lighttpd": "lighttpd"}
    file_packages = {tls_module: "lighttpd-mod-openssl"}  # its own package, only recommended
    version_row = ("lighttpd", ["lighttpd", "-v"])
    root_user_line = 'server.username = "www-data"\nserver.groupname = "www-data"'
    setup_note = ("one process (its default, like nginx with one worker), "
                  "`linux-sysepoll`, `network-backend sendfile`, stat cache, "
                  "`max-keep-alive-requests 65535`, no access log.")
    tls_note = "lighttpd: mod_openssl on a second port (`MinProtocol TLSv1.2`)"

    def command(self) -> list[str]:
        if os.geteuid() == 0:  # lighttpd opens its error log after dropping to www-data
            try:
                import pwd
                pw = pwd.getpwnam("www-data")
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            except (KeyError, OSError):
                pass
        conf = self.render("lighttpd.conf", {
            "DIR": str(self.dir), "PORT": str(self.port), "ROOT": str(self.root),
            "USER_LINE": user_line("lighttpd")})
        return ["lighttpd", "-D", "-f", str(conf)]


class H2oServer(Server):
    kind = "h2o"
    title = "h2o"
    # h2o is here for HTTP/2 (it is issue 13's reference there): measured in scenarios 10 and
    # 11 only; HTTP/1 rows for it would cost the full run time it does not have (15 minutes).
    caps = H2_CAPS
    packages = {"h2o": "h2o"}
    version_row = ("h2o", ["h2o", "--version"])
    root_user_line = "user: www-data"
    setup_note = ("`num-threads: 1` (one event loop, like nginx with one worker; **h2o-2**: "
                  "`num-threads: 2`, measured in every scenario, issue 15's peer of stage09 "
                  "with 2 workers), `file.dir` for the site, no access log; its plain port speaks HTTP/1.1 and cleartext "
                  "HTTP/2 (prior knowledge) alike; HTTP/2 settings at h2o's defaults "
                  "(100 concurrent streams, its own HPACK encoder).")
    tls_note = ("h2o: a second `listen` with `ssl` (`min-version: TLSv1.2`, OCSP stapling "
                "off: the certificate is self-signed), ALPN h2 and http/1.1, OpenSSL")

    def __init__(self, *a, threads: str = "1", **kw):
        super().__init__(*a, **kw)
        self.threads = threads

    def command(self) -> list[str]:
        conf = self.render("h2o.conf", {
            "DIR": str(self.dir), "PORT": str(self.port), "ROOT": str(self.root),
            "THREADS": self.threads, "USER_LINE": user_line("h2o")})
        return ["h2o", "-c", str(conf)]


# static-web-server is not in Debian: `cargo install --locked static-web-server` builds it
# (minutes on 2 cores) into this folder, only when --servers asks for it and it is missing.
SWS_ROOT = Path(__file__).resolve().parents[2] / "target" / "sws"
SWS_BIN = SWS_ROOT / "bin" / "static-web-server"


class SwsServer(Server):
    """static-web-server (Rust: hyper on tokio, rustls), from crates.io. One process serves
    one port: plain HTTP/1.1, or with `--http2` TLS with ALPN h2 and http/1.1 (it has no
    cleartext HTTP/2). So it runs twice from the same binary and options, the TLS one beside
    the plain one; its CPU, RSS and system calls are those of both processes."""
    kind = "static-web-server"
    title = "static-web-server"
    caps = ALL_CAPS | {H2}
    cargo_install = ("static-web-server", SWS_ROOT)  # (crate, --root): see main.install_tools
    version_row = ("static-web-server", [str(SWS_BIN), "--version"])
    root_user_line = ""
    setup_note = ("`cargo install --locked static-web-server` into target/sws/; "
                  "`--threads-multiplier 1` (tokio worker threads = cores x 1, 2 here), "
                  "`--log-level error`, `--compression false` (no client here asks for it), "
                  "its other defaults (cache-control and security headers on); a second "
                  "process with `--http2 --http2-tls-cert --http2-tls-key` serves TLS.")
    tls_note = ("static-web-server: `--http2` with the harness's certificate (rustls, ALPN h2 "
                "and http/1.1)")

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.tls_proc: subprocess.Popen | None = None

    def options(self, port: int) -> list[str]:
        return [str(SWS_BIN), "--host", "127.0.0.1", "--port", str(port), "--root",
                str(self.root), "--threads-multiplier", "1", "--log-level", "error",
                "--compression", "false"]

    def command(self) -> list[str]:
        return self.options(self.port)

    def start(self, timeout: float = 20.0) -> None:
        # The TLS process first: Server.start then waits until every port answers.
        if self.tls_port and self.cert:
            self.tls_proc = self.spawn(self.options(self.tls_port) + [
                "--http2", "true", "--http2-tls-cert", str(self.cert.cert),
                "--http2-tls-key", str(self.cert.key)])
        super().start(timeout)

    def running(self) -> bool:
        tls_up = self.tls_proc is None or self.tls_proc.poll() is None
        return super().running() and tls_up

    def pids(self) -> list[int]:
        tls = process_tree(self.tls_proc.pid) if self.tls_proc and self.running() else []
        return super().pids() + tls

    def stop(self) -> None:
        if self.tls_proc is not None:
            stop_group(self.tls_proc)
            self.tls_proc = None
        super().stop()


# =================================================================================================
# The peers, in the order of the report's columns: name -> (class, its constructor's options).
# The report and machine.md describe each kind once (PEER_CLASSES, in this order).
# =================================================================================================
PEERS: dict[str, tuple[type[Server], dict]] = {
    "nginx": (NginxServer, {"workers": "1"}),  # the baseline: every ratio is to it
    # One worker per core; HTTP/1 only (its HTTP/2 would say little more than nginx's and
    # would cost the full run a minute).
    # One worker per core; HTTP/2 over TLS too (issue 15's target for stage09 is against it
    # there), not cleartext (a port of its own that no target asks about).
    "nginx-auto": (NginxServer, {"workers": "auto", "caps": ALL_CAPS | {H2}}),
    "apache": (ApacheServer, {}),
    "lighttpd": (LighttpdServer, {}),
    "h2o": (H2oServer, {}),
    # Issue 15's peers of stage09 (2 workers), on request only (`--servers`): with them the
    # default full run would pass its 15 minutes, and static-web-server takes minutes to build.
    "h2o-2": (H2oServer, {"threads": "2", "caps": ALL_CAPS | H2_CAPS}),
    "static-web-server": (SwsServer, {}),
}
ON_REQUEST = ("h2o-2", "static-web-server")
REFERENCE_SERVERS = [n for n in PEERS if n not in ON_REQUEST]  # the run without --servers
PEER_CLASSES: dict[str, type[Server]] = {cls.kind: cls for cls, _ in PEERS.values()}


def make_peer(name: str, port: int, workdir: Path, root: Path) -> Server:
    """A reference server by its name in PEERS, with the capabilities its kind claims (every
    HTTP/1 one; nginx and h2o HTTP/2 too)."""
    cls, kw = PEERS[name]
    kw = dict(kw)
    caps = kw.pop("caps", cls.caps)
    return cls(name, port, workdir, root, caps, **kw)
