"""Unit tests for measure.py and util.py: what httperf, wrk and strace print, the client
command lines, and the timeout guard every external command runs under.

    python3 -m unittest discover -s httperf -p 'test_*.py'
"""

import tempfile
import time
import unittest
from pathlib import Path

from harness import measure as M
from harness.results import Result
from harness.scenarios import QUICK, scenarios_for
from harness.util import WRK_SCRIPT, HarnessError, run_cmd

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
        h = M.parse_httperf(HTTPERF_OUTPUT)
        self.assertEqual((h["conns"], h["requests"], h["replies"]), (1000, 10000, 9990))
        self.assertAlmostEqual(h["duration"], 2.052)
        self.assertEqual((h["2xx"], h["non2xx"], h["errors"]), (9980, 10, 10))
        self.assertEqual(h["content"], 1024.0)
        self.assertEqual(h["conn_ms"], 8.8)
        self.assertEqual((h["conn_median_ms"], h["conn_max_ms"]), (0.5, 62.1))
        self.assertEqual(h["reply_ms"], 3.3)
        self.assertEqual(h["error_kinds"], "client-timo 4, connreset 6")
        self.assertIsNone(M.parse_httperf("httperf: connection refused\n"))

    def test_wrk(self):
        w = M.parse_wrk("Running 1s test\nHARNESS requests=100 bytes=127100 duration_us=1000000 "
                        "connect=0 read=2 write=0 status=1 timeout=0 mean_us=50.5 p50_us=40 "
                        "p99_us=900\nRequests/sec: 100\n")
        self.assertEqual(w["requests"], 100)
        self.assertEqual(w["errors"], 3)
        self.assertEqual(w["p99_us"], 900)
        self.assertIsNone(M.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n"))

    def test_strace(self):
        total, per = M.parse_strace(STRACE_OUTPUT)
        self.assertEqual(total, 4000)
        self.assertEqual(per, {"epoll_wait": 1000, "read": 2000, "writev": 1000})
        self.assertIsNone(M.parse_strace(""))


class Filling(unittest.TestCase):
    def setUp(self):
        self.m = M.Measurer(QUICK, Path(tempfile.gettempdir()), {"1k": b"x" * 1024})
        self.scs = {sc.key: sc for sc in scenarios_for(QUICK)}

    def test_connection_per_request_keeps_its_latency_spread(self):
        """Scenario 1 is paced: the report compares latency, so the median and max are kept."""
        sc = self.scs["1-conn-per-request-1000"]
        res = Result(1, sc, "nginx", "ok")
        h = M.parse_httperf(HTTPERF_OUTPUT)
        h["errors"] = h["non2xx"] = 0
        h["error_kinds"] = ""
        h["replies"] = h["2xx"] = sc.opts["expect"]
        self.m.fill_httperf(sc, res, h)
        self.assertEqual(res.status, "ok")
        self.assertEqual(res.latency_ms, 8.8)
        self.assertEqual(res.detail, "conn ms median 0.5 max 62.1")

    def test_errors_and_wrong_sizes(self):
        sc = self.scs["2-persistent-10-calls"]
        res = Result(1, sc, "nginx", "ok")
        self.m.fill_httperf(sc, res, M.parse_httperf(HTTPERF_OUTPUT))
        self.assertEqual(res.detail, "client-timo 4, connreset 6")  # no latency spread: not paced
        self.assertEqual(res.errors, 10 + 10)  # httperf's errors and the 4xx; none missing
        wrong = HTTPERF_OUTPUT.replace("content 1024.0", "content 512.0").replace("4xx=10", "4xx=0")
        res = Result(1, sc, "nginx", "ok")
        self.m.fill_httperf(sc, res, M.parse_httperf(wrong))
        self.assertEqual(res.status, "fail")
        self.assertIn("expected 1024", res.note)

    def test_wrk_over_https(self):
        cmd = self.m.wrk_cmd(21443, "1k", 50, 1, 4, tls=True)
        self.assertEqual(cmd[-1], "https://127.0.0.1:21443/bench/1k.bin")  # no depth: scenario 4's
        self.assertIn(str(WRK_SCRIPT), cmd)
        self.assertTrue(self.m.wrk_cmd(21080, "1k", 50, 1, 4)[-1].startswith("http://"))
        self.assertEqual(self.m.wrk_cmd(21080, "1k", 50, 16, 4)[-2:], ["--", "16"])


class Guards(unittest.TestCase):
    def test_timeout_kills(self):
        t = time.monotonic()
        r = run_cmd(["sleep", "30"], 0.5)
        self.assertTrue(r.timed_out)
        self.assertIsNone(r.rc)
        self.assertLess(time.monotonic() - t, 10)

    def test_missing_program_is_an_error_not_a_crash(self):
        with self.assertRaises(HarnessError):
            run_cmd(["/nonexistent/tool"], 5)

    def test_proc_readings_of_this_process(self):
        import os
        pids = M.process_tree(os.getpid())
        self.assertEqual(pids[0], os.getpid())
        self.assertGreaterEqual(M.cpu_seconds(pids), 0)
        self.assertGreater(M.peak_rss_kib(pids), 0)


if __name__ == "__main__":
    unittest.main()
