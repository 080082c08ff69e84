"""Unit tests for httperf/run: the parsers, the capability table, scenario selection, the TLS
setup (certificate, config templates, checks over TLS), the round order, the timeout guard, the
readiness check and the three outputs (on made-up results, no servers started).

    python3 -m unittest discover -s httperf -p 'test_*.py'

The end-to-end check is `httperf/run --quick`, which starts real servers.
"""

import argparse
import importlib.machinery
import importlib.util
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
_loader = importlib.machinery.SourceFileLoader("httperf_run", str(HERE / "run"))
_spec = importlib.util.spec_from_loader("httperf_run", _loader)
run = importlib.util.module_from_spec(_spec)
sys.modules["httperf_run"] = run  # dataclasses look their module up there
_loader.exec_module(run)

HTTPERF_OUTPUT = """\
httperf --hog --timeout=5 --client=0/1 --server=127.0.0.1 --port=21080 --uri=/bench/1k.bin --rate=500 --send-buffer=4096 --recv-buffer=16384 --wsess=1000,10,0.000 --burst-length=10
Maximum connect burst length: 7

Total: connections 1000 requests 10000 replies 9990 test-duration 2.052 s

Connection rate: 487.3 conn/s (2.1 ms/conn, <=21 concurrent connections)
Connection time [ms]: min 0.2 avg 8.8 max 62.1 median 0.5 stddev 16.3
Connection time [ms]: connect 0.1
Connection length [replies/conn]: 10.000

Request rate: 4873.5 req/s (0.2 ms/req)
Request size [B]: 74.0

Reply rate [replies/s]: min 0.0 avg 0.0 max 0.0 stddev 0.0 (0 samples)
Reply time [ms]: response 3.3 transfer 0.0
Reply size [B]: header 247.0 content 1024.0 footer 0.0 (total 1271.0)
Reply status: 1xx=0 2xx=9980 3xx=0 4xx=10 5xx=0

CPU time [s]: user 0.20 system 1.24 (user 9.7% system 60.5% total 70.2%)
Net I/O: 6401.2 KB/s (52.4*10^6 bps)

Errors: total 10 client-timo 4 socket-timo 0 connrefused 0 connreset 6
Errors: fd-unavail 0 addrunavail 0 ftab-full 0 other 0
"""

STRACE_OUTPUT = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 63.77    0.000484         121      1000         2 epoll_wait
 24.51    0.000186          14      2000      1000 read
  3.16    0.000024           0      1000           writev
------ ----------- ----------- --------- --------- ----------------
100.00    0.000694           0      4000      1002 total
"""


class Parsers(unittest.TestCase):
    def test_httperf(self):
        h = run.parse_httperf(HTTPERF_OUTPUT)
        self.assertEqual((h["conns"], h["requests"], h["replies"]), (1000, 10000, 9990))
        self.assertAlmostEqual(h["duration"], 2.052)
        self.assertEqual((h["2xx"], h["non2xx"], h["errors"]), (9980, 10, 10))
        self.assertEqual(h["content"], 1024.0)
        self.assertEqual(h["conn_ms"], 8.8)
        self.assertEqual(h["reply_ms"], 3.3)
        self.assertEqual(h["error_kinds"], "client-timo 4, connreset 6")
        self.assertIsNone(run.parse_httperf("httperf: connection refused\n"))

    def test_wrk(self):
        w = run.parse_wrk("Running 1s test\nHARNESS requests=100 bytes=127100 duration_us=1000000 "
                          "connect=0 read=2 write=0 status=1 timeout=0 mean_us=50.5 p50_us=40 "
                          "p99_us=900\nRequests/sec: 100\n")
        self.assertEqual(w["requests"], 100)
        self.assertEqual(w["errors"], 3)
        self.assertEqual(w["p99_us"], 900)
        self.assertIsNone(run.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n"))

    def test_strace(self):
        total, per = run.parse_strace(STRACE_OUTPUT)
        self.assertEqual(total, 4000)
        self.assertEqual(per, {"epoll_wait": 1000, "read": 2000, "writev": 1000})
        self.assertIsNone(run.parse_strace(""))


class Table(unittest.TestCase):
    def test_capabilities_only_grow(self):
        """Stage N claims everything stage N-1 did (DESIGN.md section 7), TLS-only stages aside."""
        previous = frozenset()
        for name in sorted(run.STAGE_CAPS):
            caps = run.STAGE_CAPS[name]
            if name in run.STAGE_CAPS_NOTE:
                continue
            self.assertTrue(previous <= caps, name)
            previous = caps
        self.assertEqual(run.STAGE_CAPS["stage01"], {run.CLOSE})
        self.assertNotIn(run.PIPELINE, run.STAGE_CAPS["stage02"])

    def test_every_scenario_needs_a_known_capability(self):
        for profile in (run.FULL, run.QUICK):
            scs = run.scenarios_for(profile)
            self.assertEqual({sc.group for sc in scs}, {1, 2, 3, 4, 5, 6, 7, 9})
            self.assertEqual(len({sc.key for sc in scs}), len(scs))
            for sc in scs:
                self.assertIn(sc.needs, run.ALL_CAPS)

    def test_tls_is_stage06s_alone(self):
        """stage06 serves HTTPS only; stages 01-05 have no TLS; the reference servers may."""
        self.assertEqual(run.STAGE_CAPS["stage06"], {run.TLS})
        for name in ("stage01", "stage02", "stage03", "stage04", "stage05"):
            self.assertNotIn(run.TLS, run.STAGE_CAPS[name], name)
        self.assertNotIn(run.TLS, run.NEWER_STAGE_CAPS)  # one port: plain unless it says so
        self.assertIn(run.TLS, run.ALL_CAPS)

    def test_scenario_9_is_wrk_over_tls(self):
        for profile in (run.FULL, run.QUICK):
            (sc,) = [sc for sc in run.scenarios_for(profile) if sc.group == 9]
            self.assertEqual((sc.needs, sc.tool, sc.unit), (run.TLS, "wrk", "req/s"))
            self.assertEqual((sc.opts["conns"], sc.opts["depth"], sc.opts["file"]), (50, 1, "1k"))
            self.assertTrue(sc.higher_is_better)
            self.assertEqual([s.key for s in run.scenarios_for(profile) if s.needs == run.TLS],
                             [sc.key])

    def test_na_notes(self):
        self.assertEqual(run.na_note("stage01", run.TLS), "no TLS")
        self.assertEqual(run.na_note("stage01", run.KEEPALIVE), "no keep-alive")
        self.assertIn("TLS only", run.na_note("stage06", run.KEEPALIVE))

    def test_httperf_stays_below_fd_setsize(self):
        """Debian's httperf uses select(): offered concurrency must stay well below 1024."""
        for profile in (run.FULL, run.QUICK):
            self.assertLessEqual(max(profile.rates) * 0.1, 1024)  # 100 ms of backlog at most
            self.assertLess(profile.wsess[1] * 0.1, 1024)


def make_harness(out: Path, **kw) -> "run.Harness":
    args = argparse.Namespace(quick=True, out=str(out), stages=None, servers=None, scenarios=None,
                              rounds=None, base_port=21080, no_install=True, no_build=True,
                              no_calibrate=True, keep=False, strict=False)
    for k, v in kw.items():
        setattr(args, k, v)
    h = run.Harness(args)
    h.out = out
    return h


class Selection(unittest.TestCase):
    def test_scenario_numbers(self):
        self.assertEqual(run._groups("9"), [9])
        self.assertEqual(run._groups("1,4,9"), [1, 4, 9])
        for bad in ("8", "0", "10"):
            with self.assertRaises(argparse.ArgumentTypeError):
                run._groups(bad)
        self.assertEqual(run.parse_args(["--scenarios", "9"]).scenarios, [9])

    def test_scenarios_9_selects_the_tls_scenario(self):
        tmp = Path(tempfile.mkdtemp())
        h = make_harness(tmp, scenarios=[9])
        try:
            self.assertEqual([sc.key for sc in h.scenarios], ["9-tls-keepalive-c50"])
            self.assertIn("--scenarios 9", run.rerun_command(h))
        finally:
            h.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_no_sendfile_calibration_for_tls_alone(self):
        tmp = Path(tempfile.mkdtemp())
        try:
            for groups, skipped in (([9], True), ([4, 9], False), (None, False)):
                h = make_harness(tmp, scenarios=groups, no_calibrate=False)
                self.assertEqual(bool(h.calibration_skipped()), skipped, groups)
                h.cleanup()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_na_without_starting_anything(self):
        """n/a is decided from the capabilities alone, before any server is touched."""
        tmp = Path(tempfile.mkdtemp())
        h = make_harness(tmp)
        try:
            tls = next(sc for sc in h.scenarios if sc.needs == run.TLS)
            plain = next(sc for sc in h.scenarios if sc.group == 4)
            stage01 = run.Server("stage01", 30000, tmp / "s1", tmp, run.STAGE_CAPS["stage01"])
            stage06 = run.Server("stage06", 30001, tmp / "s6", tmp, run.STAGE_CAPS["stage06"])
            r = h.measure(1, tls, stage01)
            self.assertEqual((r.status, r.note), ("n/a", "no TLS"))
            r = h.measure(1, plain, stage06)
            self.assertEqual(r.status, "n/a")
            self.assertIn("TLS only", r.note)
        finally:
            h.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_no_certificate_or_module_is_a_fail_not_a_crash(self):
        """Without a certificate (or TLS module) a server keeps plain HTTP, a TLS-only stage
        does not start, and their TLS cells FAIL with the reason."""
        tmp = Path(tempfile.mkdtemp())
        h = make_harness(tmp, scenarios=[9])
        try:
            h.cert_error = "openssl req failed: boom"
            nginx = run.NginxServer("nginx", 30000, tmp / "n", tmp, run.ALL_CAPS)
            self.assertFalse(h.tls_ready(nginx))
            self.assertIn("boom", nginx.tls_error)
            self.assertEqual(nginx.endpoints(), [(30000, False)])
            r = h.measure(1, h.scenarios[0], nginx)
            self.assertEqual(r.status, "fail")
            self.assertIn("boom", r.note)
            h.cert = run.Cert(tmp / "c.pem", tmp / "k.pem", b"")
            lighttpd = run.LighttpdServer("lighttpd", 30001, tmp / "l", tmp, run.ALL_CAPS)
            lighttpd.tls_module = str(tmp / "no-such-module.so")
            self.assertFalse(h.tls_ready(lighttpd))
            self.assertIn("not installed", lighttpd.tls_error)
        finally:
            h.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_wrk_over_https(self):
        tmp = Path(tempfile.mkdtemp())
        h = make_harness(tmp)
        try:
            cmd = h.wrk_cmd(21443, "1k", 50, 1, 4, tls=True)
            self.assertEqual(cmd[-1], "https://127.0.0.1:21443/bench/1k.bin")  # no depth: scenario 4's
            self.assertIn(str(run.WRK_SCRIPT), cmd)
            self.assertTrue(h.wrk_cmd(21080, "1k", 50, 1, 4)[-1].startswith("http://"))
        finally:
            h.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


class Configs(unittest.TestCase):
    """The templates: the TLS section is there with a certificate and gone without one, and the
    plain part is the same either way."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        key = self.tmp / "key.pem"
        self.cert = run.Cert(self.tmp / "cert.pem", key, b"")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def render(self, cls, tls: bool) -> str:
        srv = cls(cls.kind, 30000, self.tmp / f"{cls.kind}-{tls}", self.tmp, run.ALL_CAPS)
        if tls:
            srv.serve_tls(30001, self.cert)
        srv.command()
        return srv.config.read_text()

    def test_tls_section(self):
        for cls in (run.NginxServer, run.ApacheServer, run.LighttpdServer):
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
        conf = self.render(run.NginxServer, True)
        self.assertRegex(conf, r"listen 127\.0\.0\.1:30001 ssl")
        self.assertIn("ssl_protocols TLSv1.2 TLSv1.3;", conf)
        self.assertIn("ssl_session_cache shared:SSL:10m;", conf)
        self.assertRegex(conf, r"listen 127\.0\.0\.1:30000 backlog=4096;")

    def test_stage_gets_cert_and_key(self):
        srv = run.StageServer("stage06", 30000, self.tmp / "s6", self.tmp, run.STAGE_CAPS["stage06"],
                              binary=Path("/bin/true"))
        self.assertNotIn("--cert", srv.command())
        srv.serve_tls(30000, self.cert)
        cmd = srv.command()
        self.assertEqual(cmd[cmd.index("--cert") + 1], str(self.cert.cert))
        self.assertEqual(cmd[cmd.index("--key") + 1], str(self.cert.key))
        self.assertEqual(srv.endpoints(), [(30000, True)])  # TLS only: no plain check
        nginx = run.NginxServer("nginx", 30002, self.tmp / "n", self.tmp, run.ALL_CAPS)
        nginx.serve_tls(30003, self.cert)
        self.assertEqual(nginx.endpoints(), [(30002, False), (30003, True)])


class Outputs(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.h = make_harness(self.tmp)
        www = self.tmp / "www"
        caps = {"stage01": run.STAGE_CAPS["stage01"], "stage05": run.PLAIN_CAPS,
                "stage06": run.STAGE_CAPS["stage06"]}
        for i, name in enumerate(["stage01", "stage05", "stage06", "nginx", "apache"]):
            self.h.servers.append(run.Server(name, 30000 + i, self.tmp / name, www,
                                             caps.get(name, run.ALL_CAPS)))
        for rnd in (1, 2):
            for sc in self.h.scenarios:
                for srv in self.h.servers:
                    res = run.Result(rnd, sc, srv.name, "ok")
                    if sc.needs not in srv.caps:
                        res.status, res.note = "n/a", f"no {sc.needs}"
                    elif srv.name == "apache" and sc.group == 5:
                        res.status, res.note = "fail", "wrk exited 1: boom"
                    else:
                        base = {"stage01": 0.5, "stage05": 2.0, "stage06": 0.9, "nginx": 1.0,
                                "apache": 0.7}
                        res.value = 1000 * base[srv.name] * (1 + 0.1 * rnd)
                        res.requests, res.errors, res.server_cpu_s = 1000, 0, 0.5
                        res.server_rss_kib, res.client_cpu_s, res.latency_ms = 4096, 0.3, 1.5
                    self.h.results.append(res)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.h.cleanup()

    def test_three_files_and_machine(self):
        run.write_outputs(self.h)
        for name in ("results.csv", "report.md", "chart.svg", "machine.md"):
            self.assertTrue((self.tmp / name).stat().st_size > 0, name)
        report = (self.tmp / "report.md").read_text()
        self.assertIn("n/a", report)
        self.assertIn("**FAIL**", report)
        self.assertIn("wrk exited 1: boom", report)
        self.assertIn("2.00x", report)  # stage05 over nginx: medians of 1.1/1.2 x 2 over 1.1/1.2
        svg = ET.parse(self.tmp / "chart.svg").getroot()
        texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
        for word in ("ratio to nginx", "stage05", "apache", "n/a", "fail", "higher is better"):
            self.assertIn(word, texts)
        rows = (self.tmp / "results.csv").read_text().splitlines()
        self.assertEqual(len(rows), 1 + len(self.h.results))

    def test_tls_scenario_in_every_output(self):
        run.write_outputs(self.h)
        report = (self.tmp / "report.md").read_text()
        self.assertIn("| server | close | keep-alive | pipelining | tls | note |", report)
        self.assertIn("| stage06 | - | - | - | yes |", report)
        ratios = report[report.index("ANCHOR: ratios"):report.index("ANCHOR_END: ratios")]
        self.assertRegex(ratios, r"\| 9\. TLS keep-alive, 50 connections, 1 KB file \| n/a \| "
                                 r"n/a \| 0\.90x \| 1\.00x \| 0\.70x \|")
        own = report[report.index("ANCHOR: server-stage06"):report.index("ANCHOR_END: server-stage06")]
        self.assertIn("| 9. TLS keep-alive, 50 connections, 1 KB file (wrk over https) | 1,035 req/s "
                      "| 0.90x |", own)
        self.assertIn("### 9. TLS keep-alive", report)
        self.assertIn("| stage06 TLS keep-alive >= 0.8x nginx | 0.90x | met |", report)
        svg = ET.parse(self.tmp / "chart.svg").getroot()
        texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
        self.assertIn("TLS keep-alive (scenario 9)", texts)
        csv_rows = [r for r in (self.tmp / "results.csv").read_text().splitlines()
                    if r.split(",")[2] == "9-tls-keepalive-c50"]
        self.assertEqual(len(csv_rows), 2 * len(self.h.servers))  # two rounds

    def test_round_order_alternates(self):
        names = [s.name for s in self.h.servers]
        self.assertEqual([s.name for s in self.h.order(0)], names)
        self.assertEqual([s.name for s in self.h.order(1)], names[::-1])
        self.assertEqual(sorted(s.name for s in self.h.order(2)), sorted(names))


class Guards(unittest.TestCase):
    def test_timeout_kills(self):
        t = time.monotonic()
        r = run.run_cmd(["sleep", "30"], 0.5)
        self.assertTrue(r.timed_out)
        self.assertIsNone(r.rc)
        self.assertLess(time.monotonic() - t, 10)

    def test_missing_program_is_an_error_not_a_crash(self):
        with self.assertRaises(run.HarnessError):
            run.run_cmd(["/nonexistent/tool"], 5)

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
        self.assertIsNone(run.http_check(port, "/bench/1k.bin", body))
        self.assertIn("404", run.http_check(port, "/bench/1k.bin", body))
        srv.close()
        self.assertIn("no answer", run.http_check(port, "/bench/1k.bin", body, timeout=1))

    @unittest.skipUnless(shutil.which("openssl"), "needs openssl")
    def test_http_check_over_tls(self):
        """make_cert's certificate serves, and http_check speaks TLS (without verifying)."""
        tmp = Path(tempfile.mkdtemp())
        try:
            cert = run.make_cert(tmp)
            ctx = run.ssl.SSLContext(run.ssl.PROTOCOL_TLS_SERVER)
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
            self.assertIsNone(run.http_check(port, "/bench/1k.bin", body, tls=True))
            self.assertIsNotNone(run.http_check(port, "/bench/1k.bin", body, timeout=1))
            info = run.tls_session(port, cert.der)
            self.assertIn("the harness's certificate", info)
            self.assertRegex(info, r"^TLSv1\.[23], ")
            srv.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
