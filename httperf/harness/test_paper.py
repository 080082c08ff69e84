"""Unit tests for httperf/paper: reading ab's report, sizing a request as HTTP/1.1 text, and
drawing the page from saved numbers (no server runs here)."""

import unittest

from . import paper

AB_OUTPUT = """\
Server Software:        nginx/1.22.1
SSL/TLS Protocol:       TLSv1.2,ECDHE-RSA-AES128-GCM-SHA256,2048,128
Complete requests:      1000
Failed requests:        0
Keep-Alive requests:    990
Non-2xx responses:      3
Requests per second:    563.41 [#/sec] (mean)
Time per request:       17.749 [ms] (mean)
Time per request:       1.775 [ms] (mean, across all concurrent requests)
"""


class Ab(unittest.TestCase):
    def test_the_lines_the_paper_quotes(self):
        got = paper.parse_ab(AB_OUTPUT)
        self.assertEqual(got["rps"], 563.41)
        self.assertEqual(got["failed"], 0)
        self.assertEqual(got["mean_ms"], 17.749)  # the first, per request, not across all
        self.assertEqual(got["tls"], "TLSv1.2,ECDHE-RSA-AES128-GCM-SHA256,2048,128")
        self.assertEqual(got["keepalive"], 990)
        self.assertEqual(got["non2xx"], 3)

    def test_a_report_without_a_rate_is_an_error(self):
        with self.assertRaises(paper.HarnessError):
            paper.parse_ab("Failed requests: 0\n")


class Hpack(unittest.TestCase):
    def test_h1_size_counts_the_request_as_text(self):
        fields = [(":method", "GET"), (":authority", "a"), (":scheme", "https"), (":path", "/"),
                  ("x", "y")]
        self.assertEqual(paper.h1_size(fields), len(b"GET / HTTP/1.1\r\nHost: a\r\nx: y\r\n\r\n"))

    def test_cookies_are_about_two_kilobytes_and_the_same_every_run(self):
        self.assertEqual(paper.cookie_jar(), paper.cookie_jar())
        self.assertTrue(1800 < len(paper.cookie_jar()) < 2400)


class Render(unittest.TestCase):
    def test_the_page_has_every_experiment_and_the_papers_numbers(self):
        curl = {"connect": {"median": 0.0002, "p90": 0.0003, "min": 0.0001},
                "tls": {"median": 0.005, "p90": 0.006, "min": 0.004},
                "total": {"median": 0.006, "p90": 0.007, "min": 0.005}, "version": "1.1",
                "count": 5}
        ab = {"rps": 800.0, "failed": 0, "mean_ms": 12.5, "keepalive": 0, "non2xx": 0,
              "tls": "TLSv1.2,ECDHE-RSA-AES128-GCM-SHA256,2048,128"}
        res = {
            "machine": {"when": "2026-12-01 10:00 UTC", "cpu": "x", "cores": 2, "kernel": "6",
                        "load": 0.5, "quick": False,
                        "versions": {"nginx": "nginx/1.22.1", "curl": "curl 7.88.1 (x)",
                                     "ab": "ab 2.3", "wrk": "wrk 4.1.0 [epoll]"},
                        "profile": {"curls": 5, "ab_n": 1000, "ab_c": 10, "wrk_secs": 10}},
            "servers": {"stage06": {"curl_h1": curl, "ab": ab, "ab_k": dict(ab, keepalive=990),
                                    "wrk": {"rps": 40000.0, "mean_ms": 0.2, "errors": "none",
                                            "non2xx": 0}}},
            "hpack": {"cases": [{"name": n, "h1": 500} for n, _ in paper.HPACK_CASES],
                      "python": [400, 16, 79, 1965, 17]},
            "hpack_responses": {"h2o": {"first": {"bytes": 93, "savings": 46.9, "n": 1},
                                        "hundred": {"bytes": 1479, "savings": 91.5, "n": 100}}},
        }
        page = paper.render(res)
        for title in ("### 1.", "### 2 and 3.", "### 4.", "### 5."):
            self.assertIn(title, page)
        self.assertIn("| the paper's server | 53.63 | 0 | 186 ms |", page)
        self.assertIn("| stage06 | 800 | 0 | 12.50 ms |", page)
        self.assertIn("| h2o | 93 B | 46.9% | 1,479 B | 14.8 B | 91.5% |", page)
        self.assertNotIn("ours (", page)  # no column for an encoder that was not measured


if __name__ == "__main__":
    unittest.main()
