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
from harness.scenarios import FULL, QUICK, scenarios_for
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

H2LOAD_OUTPUT = """\
starting benchmark...
spawning thread #0: 50 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for each client.
TLS Protocol: TLSv1.3
Cipher: TLS_AES_128_GCM_SHA256
Server Temp Key: X25519 253 bits
Application protocol: h2
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 2.02s, 45460.00 req/s, 45.79MB/s
requests: 90920 total, 91420 started, 90920 done, 90900 succeeded, 20 failed, 0 errored, 0 timeout
status codes: 90900 2xx, 0 3xx, 20 4xx, 0 5xx
traffic: 91.57MB (96019720) total, 1.22MB (1279580) headers (space savings 92.59%), 88.79MB (93102080) data
                     min         max         mean         sd        +/- sd
time for request:      327us     40.07ms     10.72ms      2.56ms    91.51%
time for connect:     8.68ms     19.90ms     14.20ms      3.26ms    56.00%
time to 1st byte:    18.43ms     29.40ms     24.30ms      3.18ms    56.00%
req/s           :     880.23      940.28      909.19       17.27    62.00%
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


    def test_h2load(self):
        h = M.parse_h2load(H2LOAD_OUTPUT)
        self.assertEqual((h["duration"], h["2xx"], h["non2xx"], h["failed"]), (2.02, 90900, 20, 20))
        self.assertEqual((h["bytes"], h["header_bytes"], h["data_bytes"]),
                         (96019720, 1279580, 93102080))
        self.assertEqual((h["savings"], h["mean_ms"], h["protocol"]), (92.59, 10.72, "h2"))
        us = H2LOAD_OUTPUT.replace("finished in 2.02s", "finished in 250.5ms") \
            .replace("10.72ms      2.56ms", "720us      2.56ms")
        self.assertEqual((M.parse_h2load(us)["duration"], M.parse_h2load(us)["mean_ms"]),
                         (0.2505, 0.72))
        self.assertIsNone(M.parse_h2load("h2load: connection refused"))
        self.assertEqual(M.savings_of("header space savings 92.59%, header bytes 14.1/response"),
                         92.59)
        self.assertIsNone(M.savings_of("client-timo 4"))


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


    def test_h2load_run_and_its_savings(self):
        sc = self.scs["10-h2-c50-m10"]
        res = Result(1, sc, "h2o", "ok")
        self.m.fill_h2load(sc, res, M.parse_h2load(H2LOAD_OUTPUT))
        self.assertEqual(res.status, "ok")
        # 90,900 succeeded, 20 of them 4xx: 90,880 good ones in 2.02 s.
        self.assertEqual((res.value, res.errors, res.latency_ms), (round(90880 / 2.02, 1), 40, 10.72))
        self.assertEqual(res.detail, "header space savings 92.59%, header bytes 14.1/response")
        # Over TLS, a server that answered HTTP/1.1 to ALPN is no HTTP/2 row.
        res = Result(1, sc, "x", "ok")
        self.m.fill_h2load(sc, res, M.parse_h2load(H2LOAD_OUTPUT.replace("protocol: h2",
                                                                           "protocol: http/1.1")))
        self.assertEqual(res.status, "fail")
        self.assertIn("not h2", res.note)
        # Short bodies: fewer DATA bytes than the responses that completed.
        res = Result(1, self.scs["11-h2c-c50-m10"], "x", "ok")
        self.m.fill_h2load(res.scenario, res, M.parse_h2load(H2LOAD_OUTPUT.replace(
            "(93102080) data", "(1000) data").replace("20 4xx", "0 4xx")))
        self.assertEqual(res.status, "fail")
        self.assertIn("bytes of DATA", res.note)

    def test_h2load_cmd(self):
        """A timed run in the full profile, a count in the quick one (a few 10 MiB requests,
        one per connection at least); https for h2, http (prior knowledge) for h2c."""
        full = M.Measurer(FULL, Path(tempfile.gettempdir()), {})
        scs = {sc.key: sc for sc in scenarios_for(FULL)}
        cmd = full.h2load_cmd(21443, scs["10-h2-c50-m10"])
        self.assertEqual(cmd, ["h2load", "-t", "1", "-c", "50", "-m", "10", "-D", "2",
                               "https://127.0.0.1:21443/bench/1k.bin"])
        cmd = self.m.h2load_cmd(21080, self.scs["11-h2c-c1-m100"])
        self.assertEqual(cmd[-3:], ["-n", "2000", "http://127.0.0.1:21080/bench/1k.bin"])
        cmd = self.m.h2load_cmd(21080, self.scs["11-h2c-10m"])
        self.assertEqual(cmd[-5:], ["-m", "1", "-n", "4", "http://127.0.0.1:21080/bench/10m.bin"])


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
