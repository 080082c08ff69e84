"""Unit tests for httperf/run: the parsers, the capability table, the round order, the timeout
guard, the readiness check and the three outputs (on made-up results, no servers started).

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
            self.assertEqual({sc.group for sc in scs}, set(range(1, 8)))
            self.assertEqual(len({sc.key for sc in scs}), len(scs))
            for sc in scs:
                self.assertIn(sc.needs, run.ALL_CAPS)

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


class Outputs(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.h = make_harness(self.tmp)
        www = self.tmp / "www"
        caps = {"stage01": run.STAGE_CAPS["stage01"], "stage05": run.ALL_CAPS}
        for i, name in enumerate(["stage01", "stage05", "nginx", "apache"]):
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
                        base = {"stage01": 0.5, "stage05": 2.0, "nginx": 1.0, "apache": 0.7}
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


if __name__ == "__main__":
    unittest.main()
