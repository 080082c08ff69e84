"""Unit tests for results.py, report.py and chart.py: the outputs of a run, written from
made-up results (no server started), and read back by --report-only to the same report.

    python3 -m unittest discover -s httperf -p 'test_*.py'
"""

import shutil
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

from harness import chart, main as H, report as R
from harness.results import Result, read_csv
from harness.scenarios import ALL_CAPS, H2_CAPS, PLAIN_CAPS, QUESTIONS, scenarios_for
from harness.servers import STAGE_CAPS, Server
from harness.test_main import make_harness

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg_path: Path) -> str:
    root = ET.parse(svg_path).getroot()
    return " ".join("".join(t.itertext()) for t in root.iter(SVG + "text"))


class Outputs(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.h = make_harness(self.tmp)
        www = self.tmp / "www"
        caps = {"stage01": STAGE_CAPS["stage01"], "stage05": PLAIN_CAPS,
                "stage06": STAGE_CAPS["stage06"], "nginx": ALL_CAPS | H2_CAPS, "h2o": H2_CAPS}
        for i, name in enumerate(["stage01", "stage05", "stage06", "nginx", "apache", "h2o"]):
            self.h.servers.append(Server(name, 30000 + i, self.tmp / name, www,
                                         caps.get(name, ALL_CAPS)))
        self.h.servers[2].tls_port, self.h.servers[2].tls_info = 30002, "TLSv1.3, X, the cert"
        self.h.servers[3].tls_port, self.h.servers[3].tls_info = 30005, "TLSv1.3, X, the cert"
        self.h.servers[4].tls_error = "no TLS: mod_ssl.so is not installed"
        self.h.servers[5].tls_port, self.h.servers[5].tls_info = 30006, "TLSv1.3, X, the cert"
        self.h.cert_error = "made"
        self.h.cert = object()  # any certificate: the report only asks whether there was one
        self.h.calibration = ["not measured this run (--no-calibrate); used the defaults"]
        self.h.events = ['**apache**: server died before "4. wrk", round 1; restarted, and '
                         'measured from there on']
        for rnd in (1, 2):
            for sc in self.h.scenarios:
                self.h.measurer.commands[sc.key] = f"tool --for {sc.key} --port PORT"
                for srv in self.h.servers:
                    res = Result(rnd, sc, srv.name, "ok")
                    if sc.needs not in srv.caps:
                        res.status, res.note = "n/a", f"no {sc.needs}"
                    elif srv.name == "apache" and sc.group == 5:
                        res.status, res.note = "fail", "wrk exited 1: boom"
                    else:
                        base = {"stage01": 0.5, "stage05": 2.0, "stage06": 0.9, "nginx": 1.0,
                                "apache": 0.7, "h2o": 3.8}
                        res.value = 1000 * base[srv.name] * (1 + 0.1 * rnd)
                        res.requests, res.errors = 1000, 0
                        res.server_cpu_s = 0.05 / base[srv.name]  # faster: less CPU per request
                        res.server_rss_kib, res.client_cpu_s, res.latency_ms = 4096, 0.3, 1.5
                        if sc.tool == "h2load":
                            saved = {"nginx": "39.8%, header bytes 112.0", "h2o": "92.6%, header bytes 14.1"}
                            res.detail = f"header space savings {saved[srv.name]}/response"
                        if sc.group == 1:
                            res.detail = f"conn ms median 0.{rnd} max 4.{rnd}"
                    self.h.results.append(res)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.h.cleanup()

    def write(self):
        H.write_outputs(self.h.record())
        return (self.tmp / "report.md").read_text()

    def test_files(self):
        report = self.write()
        for name in ("results.csv", "report.md", "machine.md"):
            self.assertTrue((self.tmp / name).stat().st_size > 0, name)
        self.assertFalse((self.tmp / "chart.svg").exists())  # one chart per question instead
        self.assertIn("n/a", report)
        self.assertIn("**FAIL**", report)
        self.assertIn("wrk exited 1: boom", report)
        self.assertIn("2.00x", report)  # stage05 over nginx: medians of 1.1/1.2 x 2 over 1.1/1.2
        rows = (self.tmp / "results.csv").read_text().splitlines()
        self.assertEqual(len(rows), 1 + len(self.h.results))

    def test_one_chart_per_question(self):
        report = self.write()
        for q in QUESTIONS:
            path = self.tmp / R.chart_file(q.slug)
            self.assertIn(f"![{q.title}]({path.name})", report)
            words = texts(path)
            self.assertIn(q.title, words)
            self.assertIn("nginx = 1.00x", words)
            self.assertIn("nginx", words)
            root = ET.parse(path).getroot()
            self.assertEqual(root.get("width"), str(chart.WIDTH))
            # The chapter's stage is the one drawn in the highlight colour, when it has a bar.
            bars = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
            lit = [r.find(SVG + "title").text.split(":")[0] for r in bars
                   if r.get("fill") == chart.HIGHLIGHT]
            self.assertLessEqual(set(lit), {q.highlight}, q.slug)

    def test_chart_values_and_absent_servers(self):
        self.write()
        words = texts(self.tmp / "chart-keepalive.svg")
        self.assertIn("2.00x", words)  # stage05's bar says its ratio...
        self.assertIn("2,300 req/s", words)  # ...and its number (median of 2,200 and 2,400)
        self.assertIn("stage01, stage06, h2o (no keep-alive)", words)  # n/a: no bar, said once below
        words = texts(self.tmp / "chart-pipelining.svg")
        self.assertIn("FAIL", words)  # apache failed scenario 5
        words = texts(self.tmp / "chart-connection-cost.svg")
        self.assertIn("µs/req", words)  # the paced scenario draws CPU per request
        self.assertIn("0.50x", words)  # stage05: half nginx's CPU per request
        self.assertIn("stage01", words)

    def test_a_run_without_a_questions_scenario_draws_no_chart_for_it(self):
        self.h.scenarios = [sc for sc in self.h.scenarios if sc.group == 9]
        self.h.results = [r for r in self.h.results if r.scenario.group == 9]
        (self.tmp / "chart-keepalive.svg").write_text("<svg/>")  # left from an earlier run
        report = self.write()
        self.assertEqual(sorted(p.name for p in self.tmp.glob("chart*.svg")), ["chart-tls.svg"])
        self.assertNotIn("chart-keepalive", report)

    def test_no_chart_of_nginx_alone(self):
        self.h.results = [r for r in self.h.results if r.server == "nginx" or r.scenario.group != 9]
        self.write()
        self.assertFalse((self.tmp / "chart-tls.svg").exists())
        self.assertTrue((self.tmp / "chart-keepalive.svg").exists())

    def test_paced_section(self):
        report = self.write()
        paced = report[report.index("ANCHOR: paced"):report.index("ANCHOR_END: paced")]
        # CPU per request: nginx 0.05 s / 1000 requests = 50 µs; stage05 25 µs, half of it.
        self.assertIn("| stage05 | 25.0 µs (0.50x) |", paced)
        self.assertIn("| nginx | 50.0 µs (1.00x) |", paced)
        self.assertIn("1.50 (median 0.15, max 4.20) |", paced)  # the connection time's spread
        self.assertNotIn("| stage06 |", paced)  # TLS only: nothing paced to show

    def test_tls_scenario_in_every_output(self):
        report = self.write()
        self.assertIn("| server | close | keep-alive | pipelining | tls | h2 | h2c | note |", report)
        self.assertIn("| stage06 | - | - | - | yes | - | - |", report)
        ratios = report[report.index("ANCHOR: ratios"):report.index("ANCHOR_END: ratios")]
        self.assertRegex(ratios, r"\| 9\. TLS keep-alive, 50 connections, 1 KB file \| n/a \| "
                                 r"n/a \| 0\.90x \| 1\.00x \| 0\.70x \|")
        own = report[report.index("ANCHOR: server-stage06"):report.index("ANCHOR_END: server-stage06")]
        self.assertIn("| 9. TLS keep-alive, 50 connections, 1 KB file (wrk over https) | 1,035 req/s "
                      "| 0.90x |", own)
        self.assertIn("### 9. TLS keep-alive", report)
        self.assertIn("| stage06 TLS keep-alive >= 0.8x nginx | 0.90x | met |", report)
        self.assertIn("  - stage06: TLSv1.3, X, the cert", report)
        self.assertIn("  - apache: no TLS port: no TLS: mod_ssl.so is not installed", report)
        csv_rows = [r for r in (self.tmp / "results.csv").read_text().splitlines()
                    if r.split(",")[2] == "9-tls-keepalive-c50"]
        self.assertEqual(len(csv_rows), 2 * len(self.h.servers))  # two rounds

    def test_http2_rows_savings_and_targets(self):
        report = self.write()
        self.assertIn("| h2o | - | - | - | - | yes | yes | here for HTTP/2", report)
        ratios = report[report.index("ANCHOR: ratios"):report.index("ANCHOR_END: ratios")]
        self.assertRegex(ratios, r"\| 10\. HTTP/2 over TLS, 50 connections x 10 streams, 1 KB "
                                 r"file \| n/a \| n/a \| n/a \| 1\.00x \| n/a \| 3\.80x \|")
        savings = report[report.index("ANCHOR: h2-savings"):report.index("ANCHOR_END: h2-savings")]
        self.assertIn("| scenario | nginx | h2o |", savings)  # only the servers that speak HTTP/2
        self.assertIn("| 11. HTTP/2 cleartext, 10 MiB file, 4 connections | 39.8% (112.0 B) | "
                      "92.6% (14.1 B) |", savings)
        self.assertIn("| stage07 header space savings >= h2o's | - | not measured (stage07 absent) |",
                      report)
        self.assertIn("mean ms", report)  # h2load's latency column
        self.assertIn("  - h2o: TLSv1.3, X, the cert", report)

    def test_report_only_renders_the_same_report(self):
        """--report-only reads the run back (CSV, machine.md, report.md) to the same report."""
        first = self.write()
        charts = {p.name: p.read_text() for p in self.tmp.glob("chart*.svg")}
        machine = (self.tmp / "machine.md").read_text()
        for p in self.tmp.glob("chart*.svg"):
            p.unlink()
        self.assertEqual(H.main(["--report-only", str(self.tmp)]), 0)
        self.assertEqual((self.tmp / "report.md").read_text(), first)
        self.assertEqual({p.name: p.read_text() for p in self.tmp.glob("chart*.svg")}, charts)
        self.assertEqual((self.tmp / "machine.md").read_text(), machine)  # left as it was

    def test_csv_round_trip(self):
        self.write()
        started, scenarios, results = read_csv(self.tmp / "results.csv", scenarios_for(self.h.profile))
        self.assertEqual([sc.key for sc in scenarios], [sc.key for sc in self.h.scenarios])
        self.assertEqual(len(results), len(self.h.results))
        for a, b in zip(results, self.h.results):
            self.assertEqual((a.round, a.server, a.status, a.value, a.requests, a.detail, a.note),
                             (b.round, b.server, b.status, b.value, b.requests, b.detail, b.note))


if __name__ == "__main__":
    unittest.main()


class EveryPeer(unittest.TestCase):
    """Issue 15's "stage09 >= 1.0x every peer on every other row": the worst ratio wins, a row
    another stage09 target names is left out, and fewer syscalls count as better."""

    def verdict(self, values: dict[tuple[str, str], float]) -> tuple[str, str]:
        import datetime as dt
        from harness.results import summarize
        from harness.scenarios import FULL, TARGETS
        scs = [sc for sc in scenarios_for(FULL) if sc.key in
               ("4-wrk-keepalive-c50", "5-wrk-pipeline-16", "7-syscalls-conn-per-request")]
        names = ["stage09", "nginx", "h2o-2"]
        results = []
        for sc in scs:
            for name in names:
                res = Result(1, sc, name, "ok")
                res.value = values.get((sc.key, name), 100.0)
                results.append(res)
        run = R.RunRecord(dt.datetime(2026, 12, 1), False, FULL, scs,
                          [R.ServerRow(n, ALL_CAPS) for n in names], results, Path("."))
        (every,) = [t for t in TARGETS if t.how == "every"]
        return R.every_peer(run, summarize(scs, names, results), every)

    def test_the_worst_row_decides(self):
        measured, verdict = self.verdict({("5-wrk-pipeline-16", "stage09"): 90.0})
        self.assertEqual(verdict, "not met")
        self.assertIn("0.90x", measured)
        # Keep-alive has a 1.2x target of its own: a loss there is not this target's.
        measured, verdict = self.verdict({("4-wrk-keepalive-c50", "stage09"): 50.0})
        self.assertEqual(verdict, "met")

    def test_fewer_syscalls_is_better(self):
        _, verdict = self.verdict({("7-syscalls-conn-per-request", "stage09"): 80.0})
        self.assertEqual(verdict, "met")
        measured, verdict = self.verdict({("7-syscalls-conn-per-request", "h2o-2"): 80.0})
        self.assertEqual(verdict, "not met")
        self.assertIn("0.80x (h2o-2, 7-syscalls-conn-per-request", measured)
