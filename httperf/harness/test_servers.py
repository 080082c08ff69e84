"""Unit tests for servers.py: the capability table, the peers' registry, the config templates
(the TLS section there with a certificate and gone without one), the stages' command lines and
the readiness checks over plain HTTP and TLS (against small servers in threads).

    python3 -m unittest discover -s httperf -p 'test_*.py'
"""

import shutil
import socket
import ssl
import sys
import tempfile
import threading
import unittest
from pathlib import Path

from harness import servers as V
from harness.scenarios import ALL_CAPS, CLOSE, H2, H2_CAPS, H2C, KEEPALIVE, PIPELINE, TLS
from harness.util import CONF_DIR, free_port


class Table(unittest.TestCase):
    def test_capabilities_only_grow(self):
        """Stage N claims everything stage N-1 did (DESIGN.md section 7), TLS-only stages aside."""
        previous = frozenset()
        for name in sorted(V.STAGE_CAPS):
            caps = V.STAGE_CAPS[name]
            if name in V.STAGE_CAPS_NOTE:
                continue
            self.assertTrue(previous <= caps, name)
            previous = caps
        self.assertEqual(V.STAGE_CAPS["stage01"], {CLOSE})
        self.assertNotIn(PIPELINE, V.STAGE_CAPS["stage02"])

    def test_tls_is_stage06s_alone(self):
        """stage06 serves HTTPS only; stages 01-05 have no TLS; the reference servers may."""
        self.assertEqual(V.STAGE_CAPS["stage06"], {TLS})
        for name in ("stage01", "stage02", "stage03", "stage04", "stage05"):
            self.assertNotIn(TLS, V.STAGE_CAPS[name], name)
        self.assertNotIn(TLS, V.NEWER_STAGE_CAPS)  # one port: plain unless it says so
        self.assertIn(TLS, ALL_CAPS)

    def test_na_notes(self):
        self.assertEqual(V.na_note("stage01", TLS), "no TLS")
        self.assertEqual(V.na_note("stage01", KEEPALIVE), "no keep-alive")
        self.assertIn("TLS only", V.na_note("stage06", KEEPALIVE))


class Peers(unittest.TestCase):
    """A peer is a class, a line in PEERS and a template: everything else follows from them."""

    def test_registry(self):
        self.assertEqual(V.REFERENCE_SERVERS[0], "nginx")  # the baseline comes first
        tmp = Path(tempfile.mkdtemp())
        try:
            for name in V.REFERENCE_SERVERS:
                srv = V.make_peer(name, 30000, tmp / name, tmp)
                self.assertEqual(srv.caps, V.PEERS[name][1].get("caps", type(srv).caps), name)
                cls = type(srv)
                self.assertTrue(cls.packages, name)  # how it is installed
                self.assertTrue(cls.version_row, name)  # machine.md's row
                self.assertTrue(cls.setup_note and cls.tls_note, name)  # the report's lines
                self.assertTrue(cls.root_user_line, name)
            self.assertEqual(V.make_peer("nginx-auto", 1, tmp / "a", tmp).workers, "auto")
            self.assertEqual(V.make_peer("nginx", 1, tmp / "b", tmp).workers, "1")
            # HTTP/2: nginx (one worker), nginx-auto (over TLS: stage09's target) and h2o;
            # Apache and lighttpd stay HTTP/1.
            h2 = [n for n in V.REFERENCE_SERVERS if H2 in V.make_peer(n, 1, tmp / n, tmp).caps]
            self.assertEqual(h2, ["nginx", "nginx-auto", "h2o"])
            self.assertNotIn(H2C, V.make_peer("nginx-auto", 1, tmp / "a", tmp).caps)
            self.assertEqual(V.make_peer("h2o", 1, tmp / "h", tmp).caps, {H2, H2C})
            # Issue 15's peers of stage09, on request only: not in the default run.
            self.assertFalse(set(V.ON_REQUEST) & set(V.REFERENCE_SERVERS))
            h2o2 = V.make_peer("h2o-2", 1, tmp / "h2", tmp)
            self.assertEqual((h2o2.threads, h2o2.caps), ("2", ALL_CAPS | {H2, H2C}))
            sws = V.make_peer("static-web-server", 1, tmp / "s", tmp)
            self.assertEqual(sws.caps, ALL_CAPS | {H2})  # no cleartext HTTP/2
            self.assertEqual(type(sws).cargo_install[0], "static-web-server")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_every_template_is_used(self):
        """Every file in httperf/conf/ is the template of some peer, of httperf/paper's servers,
        or a WebSocket peer httperf/websocket/run starts (none left behind)."""
        from . import paper
        tmp = Path(tempfile.mkdtemp())
        try:
            used = set()
            servers = [V.make_peer(name, 30000, tmp / name, tmp) for name in V.PEERS]
            servers.append(V.Stage09Server("stage09", 30000, tmp / "stage09", tmp, ALL_CAPS,
                                           binary=tmp / "stage09"))
            for cls, kw in ((paper.PaperNginx, {"workers": "1"}), (paper.PaperH2o, {})):
                srv = cls(cls.kind, 30001, tmp / f"paper-{cls.kind}", tmp, frozenset(), **kw)
                srv.serve_tls(30002, paper.RsaCert(tmp / "c.pem", tmp / "k.pem"))
                servers.append(srv)
            for srv in servers:
                srv.command()
                if not isinstance(srv, V.SwsServer):  # its options are flags, not a file
                    used.add(srv.config.name)
            # The WebSocket peers' servers, which httperf/websocket/run starts by name.
            runner = (CONF_DIR.parent / "websocket" / "run").read_text()
            used |= {p.name for p in CONF_DIR.iterdir() if p.name in runner}
            self.assertEqual(used, {p.name for p in CONF_DIR.iterdir() if p.is_file()})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Configs(unittest.TestCase):
    """The templates: the TLS section is there with a certificate and gone without one, and the
    plain part is the same either way."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        key = self.tmp / "key.pem"
        self.cert = V.Cert(self.tmp / "cert.pem", key, b"")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def render(self, cls, tls: bool) -> str:
        srv = cls(cls.kind, 30000, self.tmp / f"{cls.kind}-{tls}", self.tmp, ALL_CAPS)
        if tls:
            srv.serve_tls(30001, self.cert)
        srv.command()
        return srv.config.read_text()

    def test_tls_section(self):
        for cls in (V.NginxServer, V.ApacheServer, V.LighttpdServer, V.H2oServer):
            with_tls, plain = self.render(cls, True), self.render(cls, False)
            self.assertIn("30001", with_tls, cls.kind)
            self.assertIn(str(self.cert.key), with_tls, cls.kind)
            self.assertNotIn("30001", plain, cls.kind)
            settings = [ln for ln in plain.lower().splitlines() if not ln.startswith("#")]
            self.assertFalse([ln for ln in settings if "ssl" in ln], cls.kind)
            self.assertNotIn("# BEGIN TLS", plain, cls.kind)
            # Without the TLS section the two are the same file but for the temp dir's name.
            start = with_tls.rindex("\n", 0, with_tls.index("# BEGIN TLS")) + 1
            end = with_tls.index("\n", with_tls.index("# END TLS")) + 1
            strip = with_tls[:start] + with_tls[end:]
            self.assertEqual(strip.replace("-True", "-X"), plain.replace("-False", "-X"), cls.kind)

    def test_nginx_tls_block(self):
        conf = self.render(V.NginxServer, True)
        self.assertRegex(conf, r"listen 127\.0\.0\.1:30001 ssl")
        self.assertIn("ssl_protocols TLSv1.2 TLSv1.3;", conf)
        self.assertIn("ssl_session_cache shared:SSL:10m;", conf)
        self.assertRegex(conf, r"listen 127\.0\.0\.1:30000 backlog=4096;")

    def test_nginx_http2(self):
        """HTTP/2 on the TLS listener, and cleartext HTTP/2 on a port of its own, only when
        it has one (the HTTP/1 port is never an HTTP/2 one: nginx cannot share it)."""
        srv = V.NginxServer("nginx", 30000, self.tmp / "n2", self.tmp, ALL_CAPS | H2_CAPS)
        srv.serve_tls(30001, self.cert)
        srv.h2c_port = 30002
        srv.command()
        conf = srv.config.read_text()
        self.assertRegex(conf, r"listen 127\.0\.0\.1:30001 ssl http2 backlog=4096;")
        self.assertRegex(conf, r"listen 127\.0\.0\.1:30002 http2 backlog=4096;")
        self.assertRegex(conf, r"listen 127\.0\.0\.1:30000 backlog=4096;")
        self.assertIn("keepalive_requests 10000000;", conf)
        self.assertNotIn("30002", self.render(V.NginxServer, True))
        self.assertNotIn("# BEGIN H2C", self.render(V.NginxServer, True))
        self.assertEqual(srv.endpoints(), [(30000, False), (30001, True)])

    def test_h2o_config(self):
        srv = V.H2oServer("h2o", 30000, self.tmp / "h", self.tmp, V.H2oServer.caps)
        srv.serve_tls(30001, self.cert)
        srv.h2c_port = 30000  # h2o speaks HTTP/1.1 and h2c on its plain port
        self.assertEqual(srv.command(), ["h2o", "-c", str(srv.config)])
        conf = srv.config.read_text()
        self.assertIn("num-threads: 1", conf)
        self.assertRegex(conf, r"port: 30000\n")
        self.assertRegex(conf, r"port: 30001\n  ssl:\n    certificate-file: ")
        self.assertIn(f"file.dir: {self.tmp}", conf)
        self.assertNotIn("access-log", conf)
        self.assertEqual(srv.endpoints(), [(30000, False), (30001, True)])

    def test_stage07_gets_both_ports(self):
        srv = V.StageServer("stage07", 30000, self.tmp / "s7", self.tmp, V.STAGE_CAPS["stage07"],
                            binary=Path("/bin/true"))
        srv.serve_tls(30001, self.cert)
        srv.h2c_port = 30000
        cmd = srv.command()
        self.assertEqual(cmd[cmd.index("--plain-port") + 1], "30000")
        self.assertEqual(cmd[-2:], ["30001", str(self.tmp)])
        self.assertEqual(cmd[cmd.index("--cert") + 1], str(self.cert.cert))
        self.assertEqual(srv.endpoints(), [(30000, False), (30001, True)])
        # Without the harness's certificate (no TLS scenario) it still gets its TLS port.
        srv.cert = None
        cmd = srv.command()
        self.assertNotIn("--cert", cmd)
        self.assertEqual(cmd[-3:], ["30000", "30001", str(self.tmp)])

    def test_stage_gets_cert_and_key(self):
        srv = V.StageServer("stage06", 30000, self.tmp / "s6", self.tmp, V.STAGE_CAPS["stage06"],
                            binary=Path("/bin/true"))
        self.assertNotIn("--cert", srv.command())
        srv.serve_tls(30000, self.cert)
        cmd = srv.command()
        self.assertEqual(cmd[cmd.index("--cert") + 1], str(self.cert.cert))
        self.assertEqual(cmd[cmd.index("--key") + 1], str(self.cert.key))
        self.assertEqual(srv.endpoints(), [(30000, True)])  # TLS only: no plain check
        nginx = V.NginxServer("nginx", 30002, self.tmp / "n", self.tmp, ALL_CAPS)
        nginx.serve_tls(30003, self.cert)
        self.assertEqual(nginx.endpoints(), [(30002, False), (30003, True)])


class PythonServer(V.Server):
    """A stand-in peer: Python's own static server, started and stopped like any other."""
    kind = "python"

    def command(self):
        return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(self.port),
                "--directory", str(self.root)]


class Lifecycle(unittest.TestCase):
    def test_start_check_stop(self):
        """start() returns once the exact bytes come back; stop() ends the process group."""
        tmp = Path(tempfile.mkdtemp())
        try:
            (tmp / "www" / "bench").mkdir(parents=True)
            (tmp / "www" / "bench" / "1k.bin").write_bytes(b"z" * 1024)
            port = free_port(31080, set())
            srv = PythonServer("python", port, tmp / "run", tmp / "www", frozenset({CLOSE}))
            srv.start(timeout=20)
            self.assertTrue(srv.running())
            pid = srv.proc.pid
            self.assertIn(pid, srv.pids())
            self.assertIsNone(srv.check(b"z" * 1024))
            self.assertIn("body is", srv.check(b"y" * 1000))
            srv.stop()
            self.assertFalse(srv.running())
            self.assertFalse(Path(f"/proc/{pid}").exists())  # stopped and reaped
            self.assertIn("no answer", V.http_check(port, "/bench/1k.bin", b"z" * 1024, timeout=1))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def fake_h2_server(sock: socket.socket, body: bytes, status_byte: bytes, conns: int,
                   ctx: ssl.SSLContext | None = None) -> None:
    """Just enough of an HTTP/2 server for h2_check: reads the preface and the request, sends
    SETTINGS, a HEADERS block starting with `status_byte`, and the body in two DATA frames."""
    for _ in range(conns):
        conn, _ = sock.accept()
        try:
            s = ctx.wrap_socket(conn, server_side=True) if ctx else conn
            data = b""
            while b"\x01\x05\x00\x00\x00\x01" not in data:  # the request's HEADERS frame head
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.sendall(V.h2_frame(4, 0, 0) + V.h2_frame(1, 4, 1, status_byte + b"\x5f\x00")
                      + V.h2_frame(0, 0, 1, body[:600]) + V.h2_frame(0, 1, 1, body[600:]))
            s.close()
        except OSError:
            conn.close()


class Checks(unittest.TestCase):
    def test_h2_check(self):
        """h2_check speaks cleartext HTTP/2 (prior knowledge): 200 and the exact body."""
        body = b"h" * 1024
        for status, expect, want in ((b"\x88", body, None), (b"\x8d", body, "status not 200"),
                                     (b"\x88", b"x" * 1024, "body is 1024 bytes")):
            srv = socket.socket()
            srv.bind(("127.0.0.1", 0))
            srv.listen()
            port = srv.getsockname()[1]
            threading.Thread(target=fake_h2_server, args=(srv, body, status, 1),
                             daemon=True).start()
            problem = V.h2_check(port, "/bench/1k.bin", expect)
            if want is None:
                self.assertIsNone(problem)
            else:
                self.assertIn(want, problem)
            srv.close()

    @unittest.skipUnless(shutil.which("openssl"), "needs openssl")
    def test_h2_check_over_tls_needs_alpn_h2(self):
        tmp = Path(tempfile.mkdtemp())
        try:
            cert = V.make_cert(tmp)
            body = b"t" * 1024
            for alpn, want in ((["h2"], None), (["http/1.1"], "not h2")):
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(cert.cert, cert.key)
                ctx.set_alpn_protocols(alpn)
                srv = socket.socket()
                srv.bind(("127.0.0.1", 0))
                srv.listen()
                port = srv.getsockname()[1]
                threading.Thread(target=fake_h2_server, args=(srv, body, b"\x88", 1, ctx),
                                 daemon=True).start()
                problem = V.h2_check(port, "/bench/1k.bin", body, tls=True)
                if want is None:
                    self.assertIsNone(problem)
                else:
                    self.assertIn(want, problem)
                srv.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_http_check(self):
        body = b"x" * 1024
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n" + body,
                   b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]

        def serve():
            for answer in answers:
                conn, _ = srv.accept()
                conn.recv(4096)
                conn.sendall(answer)
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        self.assertIsNone(V.http_check(port, "/bench/1k.bin", body))
        self.assertIn("404", V.http_check(port, "/bench/1k.bin", body))
        srv.close()
        self.assertIn("no answer", V.http_check(port, "/bench/1k.bin", body, timeout=1))

    @unittest.skipUnless(shutil.which("openssl"), "needs openssl")
    def test_http_check_over_tls(self):
        """make_cert's certificate serves, and http_check speaks TLS (without verifying)."""
        tmp = Path(tempfile.mkdtemp())
        try:
            cert = V.make_cert(tmp)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert.cert, cert.key)
            body = b"y" * 1024
            srv = socket.socket()
            srv.bind(("127.0.0.1", 0))
            srv.listen()
            port = srv.getsockname()[1]

            def serve():
                for _ in range(3):
                    conn, _ = srv.accept()
                    try:
                        with ctx.wrap_socket(conn, server_side=True) as tls:
                            tls.recv(4096)
                            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n" + body)
                    except OSError:
                        conn.close()  # the plain-HTTP check: not a TLS client

            threading.Thread(target=serve, daemon=True).start()
            self.assertIsNone(V.http_check(port, "/bench/1k.bin", body, tls=True))
            self.assertIsNotNone(V.http_check(port, "/bench/1k.bin", body, timeout=1))
            info = V.tls_session(port, cert.der)
            self.assertIn("the harness's certificate", info)
            self.assertRegex(info, r"^TLSv1\.[23], ")
            srv.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
