"""Unit tests for main.py: the command line, scenario selection, n/a decided before any server
is touched, a missing certificate or TLS module becoming a FAIL, and the round order.

    python3 -m unittest discover -s httperf -p 'test_*.py'

The end-to-end check is `httperf/run --quick`, which starts real servers.
"""

import argparse
import shutil
import tempfile
import unittest
from pathlib import Path

from harness import main as H
from harness.scenarios import ALL_CAPS, TLS
from harness.servers import STAGE_CAPS, Cert, LighttpdServer, NginxServer, Server


def make_harness(out: Path, **kw) -> H.Harness:
    """A harness as `httperf/run --quick --out OUT` makes it, without installing or building."""
    args = H.parse_args(["--quick", "--out", str(out), "--no-install", "--no-build",
                         "--no-calibrate"])
    for k, v in kw.items():
        setattr(args, k, v)
    h = H.Harness(args)
    h.out = out
    return h


class CommandLine(unittest.TestCase):
    def test_scenario_numbers(self):
        self.assertEqual(H._groups("9"), [9])
        self.assertEqual(H._groups("1,4,9"), [1, 4, 9])
        for bad in ("8", "0", "12"):
            with self.assertRaises(argparse.ArgumentTypeError):
                H._groups(bad)
        self.assertEqual(H.parse_args(["--scenarios", "9"]).scenarios, [9])

    def test_report_only_and_plan_options(self):
        self.assertEqual(H.parse_args(["--report-only", "x"]).report_only, "x")
        self.assertTrue(H.parse_args(["--plan"]).plan)
        self.assertIsNone(H.parse_args([]).report_only)

    def test_report_only_of_a_folder_without_results(self):
        tmp = Path(tempfile.mkdtemp())
        try:
            self.assertEqual(H.main(["--report-only", str(tmp)]), 2)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Selection(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_scenarios_9_selects_the_tls_scenario(self):
        h = make_harness(self.tmp, scenarios=[9])
        try:
            self.assertEqual([sc.key for sc in h.scenarios], ["9-tls-keepalive-c50"])
            self.assertIn("--scenarios 9", H.rerun_command(h.args))
        finally:
            h.cleanup()

    def test_no_sendfile_calibration_for_tls_alone(self):
        for groups, skipped in (([9], True), ([4, 9], False), (None, False)):
            h = make_harness(self.tmp, scenarios=groups, no_calibrate=False)
            self.assertEqual(bool(h.calibration_skipped()), skipped, groups)
            h.cleanup()

    def test_na_without_starting_anything(self):
        """n/a is decided from the capabilities alone, before any server is touched."""
        h = make_harness(self.tmp)
        try:
            tls = next(sc for sc in h.scenarios if sc.needs == TLS)
            plain = next(sc for sc in h.scenarios if sc.group == 4)
            stage01 = Server("stage01", 30000, self.tmp / "s1", self.tmp, STAGE_CAPS["stage01"])
            stage06 = Server("stage06", 30001, self.tmp / "s6", self.tmp, STAGE_CAPS["stage06"])
            r = h.measure(1, tls, stage01)
            self.assertEqual((r.status, r.note), ("n/a", "no TLS"))
            r = h.measure(1, plain, stage06)
            self.assertEqual(r.status, "n/a")
            self.assertIn("TLS only", r.note)
        finally:
            h.cleanup()

    def test_no_certificate_or_module_is_a_fail_not_a_crash(self):
        """Without a certificate (or TLS module) a server keeps plain HTTP, a TLS-only stage
        does not start, and their TLS cells FAIL with the reason."""
        h = make_harness(self.tmp, scenarios=[9])
        try:
            h.cert_error = "openssl req failed: boom"
            nginx = NginxServer("nginx", 30000, self.tmp / "n", self.tmp, ALL_CAPS)
            self.assertFalse(h.tls_ready(nginx))
            self.assertIn("boom", nginx.tls_error)
            self.assertEqual(nginx.endpoints(), [(30000, False)])
            r = h.measure(1, h.scenarios[0], nginx)
            self.assertEqual(r.status, "fail")
            self.assertIn("boom", r.note)
            h.cert = Cert(self.tmp / "c.pem", self.tmp / "k.pem", b"")
            lighttpd = LighttpdServer("lighttpd", 30001, self.tmp / "l", self.tmp, ALL_CAPS)
            lighttpd.tls_module = str(self.tmp / "no-such-module.so")
            self.assertFalse(h.tls_ready(lighttpd))
            self.assertIn("not installed", lighttpd.tls_error)
        finally:
            h.cleanup()

    def test_round_order_alternates(self):
        h = make_harness(self.tmp)
        try:
            for i, name in enumerate(["stage01", "stage05", "nginx", "apache"]):
                h.servers.append(Server(name, 30000 + i, self.tmp / name, self.tmp, ALL_CAPS))
            names = [s.name for s in h.servers]
            self.assertEqual([s.name for s in h.order(0)], names)
            self.assertEqual([s.name for s in h.order(1)], names[::-1])
            self.assertEqual(sorted(s.name for s in h.order(2)), sorted(names))
        finally:
            h.cleanup()


if __name__ == "__main__":
    unittest.main()
