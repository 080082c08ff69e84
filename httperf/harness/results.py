"""Results: one `Result` per server, scenario and round (a row of results.csv), and the
`Cell` of the report (the median over the rounds). results.csv is written here and read back
here, so `httperf/run --report-only DIR` can draw a published run again without measuring.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .scenarios import BASELINE, Scenario


@dataclass
class Result:
    round: int
    scenario: Scenario
    server: str
    status: str  # ok | n/a | fail
    value: float | None = None
    requests: int | None = None
    errors: int | None = None
    duration_s: float | None = None
    server_cpu_s: float | None = None
    server_rss_kib: int | None = None
    client_cpu_s: float | None = None
    latency_ms: float | None = None
    detail: str = ""
    note: str = ""


def fail(res: Result, why: str) -> Result:
    """Marks a result failed, with the reason the report's Failures section gives."""
    res.status = "fail"
    res.note = why
    return res


def describe(res: Result) -> str:
    if res.status == "n/a":
        return f"n/a ({res.note})"
    if res.status == "fail":
        return f"FAIL: {res.note}"
    extra = f", {res.errors} errors" if res.errors else ""
    return f"{fmt(res.value)} {res.scenario.unit}{extra}"


def fmt(v: float | None, digits: int | None = None) -> str:
    if v is None:
        return "-"
    if digits is not None:
        return f"{v:,.{digits}f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:,.2f}"


CSV_FIELDS = ["started", "round", "scenario", "group", "server", "status", "value", "unit",
              "requests", "errors", "duration_s", "server_cpu_s", "server_peak_rss_kib",
              "client_cpu_s", "latency_ms", "detail", "note"]


@dataclass
class Cell:
    status: str  # ok | n/a | fail | none
    value: float | None = None
    spread: float | None = None  # (max - min) / median over rounds
    runs: list[Result] = field(default_factory=list)
    note: str = ""

    def mean_of(self, attr: str) -> float | None:
        vals = [getattr(r, attr) for r in self.runs if r.status == "ok" and getattr(r, attr) is not None]
        return statistics.median(vals) if vals else None


def summarize(scenarios: list[Scenario], names: list[str],
              results: list[Result]) -> dict[tuple[str, str], Cell]:
    """One cell per (scenario, server): the median over the rounds that succeeded."""
    cells: dict[tuple[str, str], Cell] = {}
    for sc in scenarios:
        for name in names:
            runs = [r for r in results if r.scenario.key == sc.key and r.server == name]
            ok = [r for r in runs if r.status == "ok" and r.value is not None]
            if ok:
                vals = [r.value for r in ok]
                med = statistics.median(vals)
                spread = (max(vals) - min(vals)) / med if len(vals) > 1 and med else None
                fails = [r for r in runs if r.status == "fail"]
                note = f"{len(fails)} of {len(runs)} rounds failed: {fails[0].note}" if fails else ""
                cells[(sc.key, name)] = Cell("ok", med, spread, runs, note)
            elif any(r.status == "fail" for r in runs):
                cells[(sc.key, name)] = Cell("fail", runs=runs,
                                                 note=next(r.note for r in runs if r.status == "fail"))
            elif runs:
                cells[(sc.key, name)] = Cell("n/a", runs=runs, note=runs[0].note)
            else:
                cells[(sc.key, name)] = Cell("none", note="not measured (run interrupted)")
    return cells


def ratio(cells, sc: Scenario, server: str, against: str = BASELINE) -> float | None:
    c, base = cells.get((sc.key, server)), cells.get((sc.key, against))
    if not c or not base or c.status != "ok" or base.status != "ok" or not base.value:
        return None
    return c.value / base.value


def _blank(v) -> str:
    return "" if v is None else str(v)


def write_csv(path: Path, started: str, results: list[Result]) -> None:
    """results.csv: one row per server, scenario and round, in the order they were measured."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for r in results:
            w.writerow([started, r.round, r.scenario.key, r.scenario.group, r.server, r.status,
                        "" if r.value is None else r.value, r.scenario.unit,
                        _blank(r.requests), _blank(r.errors), _blank(r.duration_s),
                        _blank(r.server_cpu_s), _blank(r.server_rss_kib), _blank(r.client_cpu_s),
                        _blank(r.latency_ms), r.detail, r.note])


def read_csv(path: Path, scenarios: list[Scenario]) -> tuple[str, list[Scenario], list[Result]]:
    """results.csv back into results: (started, the scenarios in the run's order, results).
    A scenario key this version of the harness does not know (renamed since) keeps its key as
    its title, so an old run still renders."""
    known = {sc.key: sc for sc in scenarios}
    order: dict[str, Scenario] = {}
    results: list[Result] = []
    started = ""

    def num(text: str, cast=float):
        return cast(text) if text != "" else None

    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            started = started or row["started"]
            key = row["scenario"]
            if key not in order:
                order[key] = known.get(key) or Scenario(
                    key, int(row["group"]), key, key, "?", row["unit"], "?")
            results.append(Result(
                int(row["round"]), order[key], row["server"], row["status"], num(row["value"]),
                num(row["requests"], int), num(row["errors"], int), num(row["duration_s"]),
                num(row["server_cpu_s"]), num(row["server_peak_rss_kib"], int),
                num(row["client_cpu_s"]), num(row["latency_ms"]), row["detail"], row["note"]))
    return started, list(order.values()), results
