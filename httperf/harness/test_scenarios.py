"""Unit tests for scenarios.py: the table of scenarios, the book's questions, the DESIGN.md
targets and the planned length of a run.

    python3 -m unittest discover -s httperf -p 'test_*.py'
"""

import unittest

from harness import scenarios as S
from harness.main import peer_caps
from harness.servers import NEWER_STAGE_CAPS, PEERS, REFERENCE_SERVERS, STAGE_CAPS


class Table(unittest.TestCase):
    def test_every_scenario_needs_a_known_capability(self):
        for profile in (S.FULL, S.QUICK):
            scs = S.scenarios_for(profile)
            self.assertEqual({sc.group for sc in scs}, {1, 2, 3, 4, 5, 6, 7, 9, 10, 11})
            self.assertEqual(len({sc.key for sc in scs}), len(scs))
            for sc in scs:
                self.assertIn(sc.needs, S.ALL_CAPS | S.H2_CAPS)
                self.assertIn(sc.workload, S.SENDFILE_WORKLOADS)

    def test_scenario_9_is_wrk_over_tls(self):
        for profile in (S.FULL, S.QUICK):
            (sc,) = [sc for sc in S.scenarios_for(profile) if sc.group == 9]
            self.assertEqual((sc.needs, sc.tool, sc.unit), (S.TLS, "wrk", "req/s"))
            self.assertEqual((sc.opts["conns"], sc.opts["depth"], sc.opts["file"]), (50, 1, "1k"))
            self.assertTrue(sc.higher_is_better)
            self.assertEqual([s.key for s in S.scenarios_for(profile) if s.needs == S.TLS],
                             [sc.key])

    def test_http2_is_h2load_over_tls_then_cleartext(self):
        """10 and 11: the same three h2load runs, over TLS (h2) and cleartext (h2c)."""
        for profile in (S.FULL, S.QUICK):
            scs = S.scenarios_for(profile)
            for group, cap, tls in ((10, S.H2, True), (11, S.H2C, False)):
                runs = [sc for sc in scs if sc.group == group]
                self.assertEqual([(sc.opts["conns"], sc.opts["streams"], sc.opts["file"])
                                  for sc in runs], [(50, 10, "1k"), (1, 100, "1k"), (4, 1, "10m")])
                for sc in runs:
                    self.assertEqual((sc.needs, sc.tool, sc.opts["tls"]), (cap, "h2load", tls))
                self.assertEqual([sc.unit for sc in runs], ["req/s", "req/s", "MB/s"])
                self.assertEqual(runs[2].workload, "large")

    def test_paced_scenarios_are_the_fixed_rate_ones(self):
        """Paced means the client offers a fixed rate: --rate, and nothing else."""
        for sc in S.scenarios_for(S.FULL):
            fixed_rate = sc.tool == "httperf" and "--rate" in sc.opts["args"]
            self.assertEqual(sc.paced, fixed_rate, sc.key)

    def test_httperf_stays_below_fd_setsize(self):
        """Debian's httperf uses select(): offered concurrency must stay well below 1024."""
        for profile in (S.FULL, S.QUICK):
            self.assertLessEqual(max(profile.rates) * 0.1, 1024)  # 100 ms of backlog at most
            self.assertLess(profile.wsess[1] * 0.1, 1024)

    def test_scenario_numbers(self):
        self.assertEqual(S.scenario_numbers(), [1, 2, 3, 4, 5, 6, 7, 9, 10, 11])


class Questions(unittest.TestCase):
    def test_every_question_draws_scenarios_that_exist(self):
        keys = [sc.key for sc in S.scenarios_for(S.FULL)]
        for q in S.QUESTIONS:
            for prefix in q.scenarios:
                self.assertTrue(any(k.startswith(prefix) for k in keys), (q.slug, prefix))
            self.assertIn(q.metric, ("ratio", "cpu", "value"))
            self.assertIn(q.highlight, STAGE_CAPS, q.slug)
        self.assertEqual(len({q.slug for q in S.QUESTIONS}), len(S.QUESTIONS))

    def test_every_stage_chapter_asks_one(self):
        chapters = {q.chapter for q in S.QUESTIONS}
        for stage in STAGE_CAPS:
            self.assertIn(f"stage{stage[-2:]}.md", chapters)

    def test_cpu_questions_are_about_paced_scenarios(self):
        """CPU per request replaces the rate exactly where the rate is the client's."""
        scs = S.scenarios_for(S.FULL)
        for q in S.QUESTIONS:
            if q.metric == "cpu":
                for prefix in q.scenarios:
                    self.assertTrue(all(sc.paced for sc in scs if sc.key.startswith(prefix)))

    def test_targets_name_real_scenarios(self):
        keys = {sc.key for sc in S.scenarios_for(S.FULL)}
        for t in S.TARGETS:
            if t.how == "every":  # every peer of the run, on every row no other target names
                self.assertEqual((t.scenario, t.against), ("*", S.EVERY_PEER))
                continue
            self.assertIn(t.scenario, keys)
            self.assertIn(t.how, ("ratio", "max", "savings"))
            self.assertIn(t.against, PEERS)


class Plan(unittest.TestCase):
    """Issue 11: the full run stays under 15 minutes on 2 cores with today's servers."""

    def caps(self):
        return [STAGE_CAPS.get(f"stage0{i}", NEWER_STAGE_CAPS) for i in range(1, 8)] + \
            [peer_caps(n) for n in REFERENCE_SERVERS]

    def test_full_run_under_15_minutes(self):
        secs = S.plan_seconds(S.FULL, S.scenarios_for(S.FULL), self.caps())
        self.assertLess(secs, 15 * 60)
        # The published run (2026-11-21) took 8 min 28 s; the plan must not promise less.
        self.assertGreater(secs, 8.5 * 60)

    def test_quick_run_about_a_minute_or_two(self):
        self.assertLess(S.plan_seconds(S.QUICK, S.scenarios_for(S.QUICK), self.caps()), 3 * 60)

    def test_na_costs_nothing(self):
        scs = S.scenarios_for(S.FULL)
        tls_only = S.plan_seconds(S.FULL, scs, [frozenset({S.TLS})], calibrate=False)
        (tls,) = [sc for sc in scs if sc.needs == S.TLS]
        one_wrk = S.FULL.rounds * S.cell_seconds(tls, S.FULL)
        self.assertAlmostEqual(tls_only, one_wrk + 1.0)  # scenario 9's rounds, and its start


if __name__ == "__main__":
    unittest.main()
