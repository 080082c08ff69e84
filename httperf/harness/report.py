"""report.md (the medians, the ratios, the tables the book includes by anchor), machine.md (the
machine, the versions, the run's parameters) and the `RunRecord` both are written from.

A `RunRecord` is everything report.md says: a live run makes one from what it measured
(main.py); `--report-only DIR` makes one from the files a run left (results.csv, machine.md and
the old report.md, for the few facts the CSV does not hold), so a published run can be
rendered again, with new charts, without measuring it again.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .results import Cell, Result, fmt, ratio, summarize
from .scenarios import (BASELINE, BIG_FILE_CONNS, CAPS_IN_ORDER, FULL, H2, PIPELINE_DEPTH,
                        SENDFILE_WORKLOADS, TARGETS, TLS, WRK_KEEPALIVE_CONNS, WRK_THREADS,
                        Profile, Scenario, scenarios_for)
from .util import CONF_DIR, REPO, HarnessError, find_program, run_cmd


@dataclass
class ServerRow:
    """A server as the report sees it: its name, what it can do, and its TLS line."""
    name: str
    caps: frozenset[str]
    note: str = ""  # the capability table's note (stage06: TLS only)
    tls: str | None = None  # what it negotiated, or why it has no TLS port; None: not a TLS server


@dataclass
class RunRecord:
    started: dt.datetime
    quick: bool
    profile: Profile
    scenarios: list[Scenario]
    servers: list[ServerRow]
    results: list[Result]
    out: Path
    commands: dict[str, str] = field(default_factory=dict)  # scenario key -> its command line
    calibration: list[str] = field(default_factory=list)  # nginx's sendfile measurement
    events: list[str] = field(default_factory=list)  # restarts
    build_failures: dict[str, str] = field(default_factory=dict)
    missing_tools: set[str] = field(default_factory=set)
    interrupted: bool = False
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at the start and the end
    cpu: str = ""
    cores: int = 0
    kernel: str = ""  # the release, as platform.release() says it
    cert_error: str | None = None  # None: every TLS server got the harness's certificate
    rerun: str = "httperf/run"

    def names(self) -> list[str]:
        return [s.name for s in self.servers]

    def cells(self) -> dict[tuple[str, str], Cell]:
        return summarize(self.scenarios, self.names(), self.results)


def cell_text(c: Cell | None, unit: str = "", with_unit: bool = False) -> str:
    if c is None or c.status == "none":
        return "-"
    if c.status == "n/a":
        return "n/a"
    if c.status == "fail":
        return "**FAIL**"
    text = fmt(c.value) + (f" {unit}" if with_unit else "")
    return text + (" (!)" if c.note else "")


def ratio_text(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def anchor(name: str) -> str:
    """An mdBook anchor, invisible in the rendered report: the book includes the report's
    tables by name (`{{#include .../report.md:ratios}}`) instead of copying them."""
    return f"<!-- ANCHOR: {name} -->"


def anchor_end(name: str) -> str:
    return f"<!-- ANCHOR_END: {name} -->"


def cpu_per_request(c: Cell | None) -> str:
    """Server CPU microseconds per request, from the mean of the rounds ('-' when unknown)."""
    if c is None or c.status != "ok":
        return "-"
    reqs, cpu = c.mean_of("requests"), c.mean_of("server_cpu_s")
    return f"{cpu / reqs * 1e6:,.1f}" if cpu is not None and reqs else "-"



def cpu_us_per_request(c: Cell | None) -> float | None:
    """Server CPU microseconds per request, from the medians over the rounds."""
    if c is None or c.status != "ok":
        return None
    reqs, cpu = c.mean_of("requests"), c.mean_of("server_cpu_s")
    return cpu / reqs * 1e6 if cpu is not None and reqs else None


def _and(items: list) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def workloads_text() -> str:
    """Which scenarios run with which of nginx's sendfile choices, from the scenarios' table."""
    parts = []
    for w in SENDFILE_WORKLOADS:
        scs = [sc for sc in scenarios_for(FULL) if sc.workload == w]
        plain = sorted({sc.group for sc in scs if sc.needs not in (TLS, H2)})
        tls = sorted({sc.group for sc in scs if sc.needs in (TLS, H2)})
        text = f"*{w}* for {'scenarios ' if len(plain) > 1 and not parts else ''}{_and(plain)}"
        if tls:
            text += f" (and {_and(tls)}, where over TLS it does not apply)"
        parts.append(text)
    return ", ".join(parts)


def peer_titles() -> str:
    """'nginx, Apache and lighttpd': the kinds of peer, as the report's title names them."""
    from .servers import PEER_CLASSES

    return _and([cls.title for cls in PEER_CLASSES.values()])


def chart_file(slug: str) -> str:
    return f"chart-{slug}.svg"


def report_md(run: RunRecord, charts: list[tuple[str, str]]) -> str:
    """The report; `charts` are the (file, question) pairs chart.py drew for this run."""
    from .servers import PEER_CLASSES, StageServer

    cells = run.cells()
    names = run.names()
    mode = "quick (smoke test: tiny counts, numbers mean little)" if run.quick else "full"
    L: list[str] = []
    L.append(f"# The stages side by side with {peer_titles()}")
    L.append("")
    L.append(f"Run {run.started:%Y-%m-%d %H:%M}, {mode} mode, {run.profile.rounds} round(s), "
             f"on {run.cpu} ({run.cores} cores), Linux {run.kernel}. "
             "Machine and versions: [machine.md](machine.md). Every number: "
             "[results.csv](results.csv).")
    L.append("")
    L.append("Client and servers share this machine's cores: **compare the ratios measured in "
             "one run, never absolute numbers from different runs.** Each ratio is to nginx with "
             "one worker (= 1.00). A cell is the median over the rounds; `n/a` means the server "
             "cannot do that scenario (not zero), **FAIL** means it should have and did not "
             "(see Failures). `(!)` marks a cell where some rounds failed.")
    if run.interrupted:
        L += ["", "**This run was interrupted: the tables hold only what was measured before.**"]
    before, after = run.load
    if max(before, after) > 0.5 * (run.cores or 1):
        L += ["", f"**The machine was busy** (load average {before:.2f} at the start, "
                  f"{after:.2f} at the end): expect noise."]
    L.append("")

    # The charts: one per question a chapter asks.
    L.append("## Charts")
    L.append("")
    L.append("One chart per question the book asks: each bar is a server's ratio to nginx with "
             "one worker (the dashed line), with its value written on it, and the stage of the "
             "chapter that asks the question highlighted.")
    L.append("")
    for file, question in charts:
        L.append(f"![{question}]({file})")
        L.append("")

    # Summary: ratios.
    L.append("## Ratio to nginx (1 worker)")
    L.append("")
    L.append("Higher is better, except syscalls per request (lower is better).")
    L.append("")
    L.append(anchor("ratios"))
    L.append("| scenario | " + " | ".join(names) + " |")
    L.append("|---|" + "---:|" * len(names))
    for sc in run.scenarios:
        row = []
        for n in names:
            c = cells.get((sc.key, n))
            r = ratio(cells, sc, n)
            row.append(ratio_text(r) if r is not None else cell_text(c) if c and c.status != "ok"
                       else "-")
        L.append(f"| {sc.title.split(' (')[0]} | " + " | ".join(row) + " |")
    L.append(anchor_end("ratios"))
    L.append("")
    L += paced_section(run, cells)
    # One table per server: what a stage's chapter quotes as its own row.
    L.append("## Each server on its own")
    L.append("")
    for n in names:
        L.append(f"### {n}")
        L.append("")
        L.append(anchor(f"server-{n}"))
        L.append("| scenario | result | ratio to nginx | server CPU µs/req |")
        L.append("|---|---:|---:|---:|")
        for sc in run.scenarios:
            c = cells.get((sc.key, n))
            r = ratio(cells, sc, n)
            L.append(f"| {sc.title} | {cell_text(c, sc.unit, with_unit=True)} | "
                     f"{ratio_text(r) if r is not None else '-'} | "
                     f"{cpu_per_request(c) if sc.tool != 'strace' else '-'} |")
        L.append(anchor_end(f"server-{n}"))
        L.append("")

    # Absolute numbers.
    L.append("## Absolute numbers")
    L.append("")
    L.append("Per run: the headline number, errors (failed or non-2xx requests), latency "
             "(httperf: average connection time for scenario 1, reply time otherwise; wrk: 99th "
             "percentile), the server's CPU seconds (all its processes and threads, from "
             "/proc/PID/stat) and CPU per request, its peak RSS (VmHWM summed over its "
             "processes, reset before each run), and the load generator's CPU seconds. "
             "Spread: (max - min) / median over the rounds.")
    L.append("")
    L.append(anchor("absolute"))
    for sc in run.scenarios:
        L.append("")
        L.append(f"### {sc.title}")
        L.append("")
        cmd = run.commands.get(sc.key)
        if cmd:
            L.append(f"`{cmd}`")
            L.append("")
        lat = {"wrk": "p99 ms", "h2load": "mean ms"}.get(
            sc.tool, "conn ms" if sc.group == 1 else "reply ms")
        L.append(f"| server | {sc.unit} | ratio | errors | {lat} | server CPU s | CPU µs/req | "
                 "peak RSS MiB | client CPU s | spread |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in names:
            c = cells.get((sc.key, n))
            if c is None or c.status != "ok":
                L.append(f"| {n} | {cell_text(c)} | | | | | | | | |")
                continue
            cpu = c.mean_of("server_cpu_s")
            per_req = cpu_per_request(c)
            rss = c.mean_of("server_rss_kib")
            errs = c.mean_of("errors")
            spread = f"{c.spread * 100:.0f}%" if c.spread is not None else "-"
            L.append(f"| {n} | {cell_text(c)} | {ratio_text(ratio(cells, sc, n))} | "
                     f"{fmt(errs, 0) if errs is not None else '-'} | {fmt(c.mean_of('latency_ms'))} | "
                     f"{fmt(cpu)} | {per_req} | {fmt(rss / 1024 if rss else None, 1)} | "
                     f"{fmt(c.mean_of('client_cpu_s'))} | {spread} |")
        if sc.tool == "strace":
            L.append("")
            L.append("Syscalls per request, most frequent first:")
            L.append("")
            for n in names:
                c = cells.get((sc.key, n))
                if c and c.status == "ok":
                    detail = next((r.detail for r in c.runs if r.status == "ok"), "")
                    L.append(f"- {n}: {detail}")
    L.append("")
    L.append(anchor_end("absolute"))
    L.append("")
    L += savings_section(run, cells)

    # Targets from DESIGN.md section 9.
    L.append("## Targets (DESIGN.md section 9)")
    L.append("")
    L.append(anchor("targets"))
    L.append("| target | measured | verdict |")
    L.append("|---|---:|---|")
    for t in TARGETS:
        label, key, server, goal, better = t.label, t.scenario, t.server, t.goal, t.how
        if better == "every":
            measured, verdict = every_peer(run, cells, t)
            L.append(f"| {label} | {measured} | {verdict} |")
            continue
        sc = next((s for s in run.scenarios if s.key == key), None)
        c = cells.get((key, server)) if sc else None
        if not sc or not c or c.status != "ok":
            L.append(f"| {label} | - | not measured ({server} "
                     f"{'absent' if server not in names else cell_text(c).strip('*').lower()}) |")
            continue
        against = t.against
        other = cells.get((key, against))
        if better in ("ratio", "savings") and (not other or other.status != "ok"):
            L.append(f"| {label} | - | not measured ({against} "
                     f"{'absent' if against not in names else cell_text(other).strip('*').lower()}) |")
            continue
        if better == "ratio":
            r = ratio(cells, sc, server, against)
            measured = ratio_text(r) + ("" if against == BASELINE else f" {against}")
            ok = r is not None and r >= goal
        elif better == "savings":
            mine, theirs = cell_savings(c), cell_savings(other)
            if mine is None or theirs is None:
                L.append(f"| {label} | - | not measured (no space savings in h2load's output) |")
                continue
            measured = f"{mine:.1f}% vs {theirs:.1f}%"
            ok = mine >= theirs
        else:
            measured = fmt(c.value)
            ok = c.value <= goal
        L.append(f"| {label} | {measured} | {'met' if ok else 'not met'} |")
    L.append(anchor_end("targets"))
    L.append("")

    # Failures.
    fails = [(sc, n, c) for sc in run.scenarios for n in names
             if (c := cells.get((sc.key, n))) and (c.status == "fail" or (c.status == "ok" and c.note))]
    L.append("## Failures")
    L.append("")
    L.append(anchor("failures"))
    if not fails and not run.build_failures and not run.missing_tools and not run.events:
        L.append("None: every server answered every scenario it claims.")
    for event in run.events:
        L.append(f"- {event}")
    for name, why in run.build_failures.items():
        L.append(f"- **{name}** could not be built or found: {why}")
    if run.missing_tools:
        L.append(f"- tools not installed: {', '.join(sorted(run.missing_tools))}")
    seen_start = set()
    for sc, n, c in fails:
        if c.note.startswith("not running:"):
            if n in seen_start or n in run.build_failures:
                continue
            seen_start.add(n)
            L.append(f"- **{n}** could not be measured ({sc.title.split(' (')[0]} and the "
                     f"scenarios after it): {c.note}")
            continue
        L.append(f"- **{n}**, {sc.title.split(' (')[0]}: {c.note}")
    L.append(anchor_end("failures"))
    L.append("")

    # Capabilities.
    L.append("## What each server is asked to do")
    L.append("")
    L.append("From the capability table in `httperf/harness/servers.py` (`STAGE_CAPS`). A "
             "scenario a server "
             "cannot do shows `n/a`.")
    L.append("")
    L.append("| server | " + " | ".join(CAPS_IN_ORDER) + " | note |")
    L.append("|---|" + ":-:|" * len(CAPS_IN_ORDER) + "---|")
    for s in run.servers:
        marks = ["yes" if cap in s.caps else "-" for cap in CAPS_IN_ORDER]
        L.append(f"| {s.name} | " + " | ".join(marks) + f" | {s.note} |")
    L.append("")

    # Fairness.
    L.append("## How the servers were set up")
    L.append("")
    L.append("Each server serves the same scratch copy of `www/` plus `bench/1k.bin`, "
             "`bench/100k.bin` and `bench/10m.bin`, on its own port on 127.0.0.1, with its own "
             f"config rendered from the templates in [`httperf/conf/`]({conf_link(run.out)}) "
             "(published with the results). Nobody writes an access log.")
    L.append("")
    L.append(anchor("setup"))
    L.append(f"- **stages**: {StageServer.setup_note}")
    for kind, cls in PEER_CLASSES.items():
        note = cls.setup_note.format(workloads=workloads_text())
        L.append(f"- **{cls.title}**: {note}")
        if kind == "nginx":
            for line in run.calibration:
                L.append(f"  - {line}")
    L += tls_setup(run)
    L.append(f"- **clients**: httperf (Debian's build uses select(), so it stays well below 1024 "
             f"open connections; `--timeout {run.profile.httperf_timeout:g}`), wrk with "
             f"{WRK_THREADS} thread (the other core is the server's) and "
             "`httperf/pipeline.lua` for depth-16 pipelining and its summary line; h2load "
             "(nghttp2) with one thread for HTTP/2, `https://` with ALPN h2, `http://` with "
             "prior knowledge.")
    L.append(f"- **order**: {run.profile.rounds} round(s); in each round every scenario runs on "
             "every server in turn, the order reversed (then rotated) from round to round so "
             "that drift hits every server alike. Syscall counts run in the first round only "
             "(they are counts, not timings).")
    L.append(anchor_end("setup"))
    L.append("")
    L.append("Rerun: `" + run.rerun + "`")
    L.append("")
    return "\n".join(L)


def every_peer(run: RunRecord, cells: dict[tuple[str, str], Cell], t) -> tuple[str, str]:
    """An "every" target: the server against every peer (every server that is not a stage) in
    every scenario both measured that no other target of the server names. A ratio below 1
    means the peer did better (for syscalls, where fewer is better, the ratio is turned
    round). Returns the measured column (the worst ratio and where) and the verdict."""
    named = {o.scenario for o in TARGETS if o.server == t.server and o.how != "every"}
    peers = [n for n in run.names() if not re.fullmatch(r"stage\d+", n)]
    worst: tuple[float, str, str] | None = None
    compared = 0
    for sc in run.scenarios:
        if sc.key in named:
            continue
        for peer in peers:
            r = ratio(cells, sc, t.server, peer)
            if r is None or r <= 0:
                continue
            r = r if sc.higher_is_better else 1 / r
            compared += 1
            if worst is None or r < worst[0]:
                worst = (r, peer, sc.key)
    if worst is None:
        return "-", f"not measured ({t.server} and no peer both measured a row)"
    r, peer, key = worst
    return (f"worst {ratio_text(r)} ({peer}, {key}; {compared} comparisons)",
            "met" if r >= t.goal else "not met")


def cell_savings(c: Cell | None) -> float | None:
    """The median header space savings (h2load) over a cell's good rounds, or None."""
    from .measure import savings_of

    if c is None or c.status != "ok":
        return None
    found = [v for r in c.runs if r.status == "ok" and (v := savings_of(r.detail)) is not None]
    return statistics.median(found) if found else None


def savings_section(run: RunRecord, cells: dict[tuple[str, str], Cell]) -> list[str]:
    """HTTP/2's header compression: h2load's "space savings" (1 - header bytes on the wire /
    the same headers as text) per server and scenario, and the header bytes per response."""
    scs = [sc for sc in run.scenarios if sc.tool == "h2load"]
    names = [s.name for s in run.servers if any(sc.needs in s.caps for sc in scs)]
    if not scs or not names:
        return []
    L = ["## HTTP/2 header compression", "",
         "h2load's header \"space savings\": how much smaller the header blocks were on the "
         "wire than the same headers as text (HPACK: the static table, the dynamic table, "
         "Huffman), then the header bytes per response; higher savings is better. Every "
         "request asks for the same file, so a server that indexes its response fields "
         "sends each one as one byte from the second response on.", "",
         anchor("h2-savings"),
         "| scenario | " + " | ".join(names) + " |",
         "|---|" + "---:|" * len(names)]
    for sc in scs:
        row = []
        for n in names:
            c = cells.get((sc.key, n))
            v = cell_savings(c)
            if v is None:
                row.append(cell_text(c) if c and c.status != "ok" else "-")
                continue
            detail = next((r.detail for r in c.runs if r.status == "ok"), "")
            m = re.search(r"header bytes ([\d.]+)/response", detail)
            row.append(f"{v:.1f}%" + (f" ({m.group(1)} B)" if m else ""))
        L.append(f"| {sc.title.split(' (')[0]} | " + " | ".join(row) + " |")
    L += [anchor_end("h2-savings"), ""]
    return L


def tls_setup(run: RunRecord) -> list[str]:
    """The setup of scenario 9: the certificate, each TLS server's config, what it negotiated."""
    if not any(sc.needs in (TLS, H2) for sc in run.scenarios):
        return []
    from .servers import CERT_DAYS, PEER_CLASSES, StageServer

    if run.cert_error is not None:
        return [f"- **TLS** (scenario 9): no certificate, so no TLS server ran: {run.cert_error}"]
    L = [f"- **TLS** (scenario 9): one certificate and key for every TLS server, made at the "
         f"start with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256`: "
         f"self-signed ECDSA P-256, CN `localhost`, SAN `localhost` and `127.0.0.1`, valid "
         f"{CERT_DAYS} days (wrk over https does not verify it). TLS 1.2 and 1.3 only. "
         + "; ".join([StageServer.tls_note] + [c.tls_note for c in PEER_CLASSES.values()])
         + ". What a default OpenSSL client "
         "(Python's ssl, like wrk) negotiated with each:"]
    for srv in run.servers:
        if srv.tls is not None:
            L.append(f"  - {srv.name}: {srv.tls}")
    return L


def conf_link(out: Path) -> str:
    """httperf/conf/ as seen from the output folder (relative inside the repository)."""
    try:
        out.resolve().relative_to(REPO)
        return os.path.relpath(CONF_DIR, out.resolve()) + "/"
    except ValueError:
        return str(CONF_DIR) + "/"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def version_of(cmd: list[str], pattern: str = r"(\S*\d+\.\d+[\w.+~-]*)") -> str:
    """The first line of a tool's version output that names a version."""
    if not find_program(cmd[0]):
        return "not installed"
    try:
        r = run_cmd(cmd, 10)
    except HarnessError as e:
        return str(e)
    text = (r.out + "\n" + r.err).strip()
    for line in text.splitlines():
        if re.search(pattern, line) and "warning" not in line.lower():
            return line.strip()
    return text.splitlines()[0].strip() if text else "unknown"




# =================================================================================================
# Where the client sets the pace: the scenarios whose rate is the client's (Scenario.paced).
# =================================================================================================
def paced_section(run: RunRecord, cells: dict[tuple[str, str], Cell]) -> list[str]:
    """For the paced scenarios, what does differ between servers: the CPU each request cost
    the server (from /proc, ratio to nginx's: lower is better) and the client's wait."""
    paced = [sc for sc in run.scenarios if sc.paced]
    if not paced:
        return []
    L = ["## Where the client sets the pace", "",
         "In these scenarios httperf offers a fixed rate (connections or sessions per second) "
         "and every server that keeps up answers exactly that many requests per second, so "
         "their ratios above are 1.00x: the client is the limit, not the server. What differs "
         "is what each request cost the server: its CPU microseconds per request (all its "
         "processes, from /proc/PID/stat, at 10 ms resolution: meaningful for the full run's "
         "seconds-long runs, not for `--quick`), and in brackets the ratio to nginx's (lower is "
         "better). The last column is the client's average connection time at the highest "
         "rate, with its median and maximum when the run recorded them.", "",
         anchor("paced")]
    last_conn = next((sc for sc in reversed(paced) if sc.group == 1), None)
    head = [f"{sc.group}. {sc.label}" for sc in paced]
    if last_conn:
        head += [f"conn ms, {last_conn.label}"]
    L.append("| server | " + " | ".join(head) + " |")
    L.append("|---|" + "---:|" * len(head))
    for n in run.names():
        row, any_ok = [], False
        for sc in paced:
            c = cells.get((sc.key, n))
            us, base = cpu_us_per_request(c), cpu_us_per_request(cells.get((sc.key, BASELINE)))
            if us is None:
                row.append(cell_text(c) if c and c.status != "ok" else "-")
                continue
            any_ok = True
            row.append(f"{us:,.1f} µs" + (f" ({us / base:.2f}x)" if base else ""))
        if last_conn:
            row.append(conn_latency(cells.get((last_conn.key, n))))
        if any_ok:
            L.append(f"| {n} | " + " | ".join(row) + " |")
    L.append(anchor_end("paced"))
    L.append("")
    return L


def conn_latency(c: Cell | None) -> str:
    """'0.3 (median 0.2, max 4.1)': the average connection time, and its spread when the
    run's detail column has it (measure.py writes 'conn ms median M max X')."""
    if c is None or c.status != "ok" or c.mean_of("latency_ms") is None:
        return "-"
    text = fmt(c.mean_of("latency_ms"))
    medians, maxes = [], []
    for r in c.runs:
        m = re.search(r"conn ms median ([\d.]+) max ([\d.]+)", r.detail or "")
        if r.status == "ok" and m:
            medians.append(float(m.group(1)))
            maxes.append(float(m.group(2)))
    if medians:
        text += f" (median {fmt(statistics.median(medians))}, max {fmt(max(maxes))})"
    return text


def machine_md(run: RunRecord) -> str:
    """The machine, the versions of every server and tool, the settings and the run's sizes."""
    from .servers import PEER_CLASSES

    mem = "?"
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    os_name = "?"
    try:
        os_name = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    git = "?"
    try:
        r = run_cmd(["git", "-C", str(REPO), "describe", "--always", "--dirty"], 10)
        git = r.out.strip() or "?"
    except HarnessError:
        pass
    rows = [
        ("CPU", cpu_model()),
        ("cores", str(os.cpu_count())),
        ("memory", mem),
        ("kernel", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("OS", os_name),
        ("load average", f"{run.load[0]:.2f} at the start, {run.load[1]:.2f} at the end"),
        ("workspace", f"git {git}"),
        *[(c.version_row[0], version_of(c.version_row[1])) for c in PEER_CLASSES.values()
          if c.version_row],
        ("httperf", version_of(["httperf", "--version"], r"httperf-\d")),
        ("wrk", version_of(["wrk", "--version"], r"^wrk ")),
        ("strace", version_of(["strace", "-V"])),
        ("openssl", version_of(["openssl", "version"])),
        ("rustc", version_of(["rustc", "-V"])),
        ("cargo", version_of(["cargo", "-V"])),
        ("python", sys.version.split()[0]),
    ]
    sysctls = []
    for name in ("net.core.somaxconn", "net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range"):
        try:
            v = Path("/proc/sys/" + name.replace(".", "/")).read_text().split()
            sysctls.append(f"{name} = {' '.join(v)}")
        except OSError:
            pass
    try:
        import resource
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        sysctls.append(f"open files limit (ulimit -n) = {nofile}")
    except (ImportError, OSError):
        pass
    L = ["# Machine", "", f"Run {run.started:%Y-%m-%d %H:%M:%S}.", "", "| what | value |", "|---|---|"]
    L += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows]
    L += ["", "## Settings that matter for load tests", ""] + [f"- {s}" for s in sysctls]
    p = run.profile
    L += ["", "## Harness parameters", "",
          f"- mode: {'quick' if run.quick else 'full'}, rounds: {p.rounds}",
          f"- scenario 1 rates: {', '.join(map(str, p.rates))} connections/s, "
          f"{p.rate_secs:g} s each",
          f"- scenario 2: {p.persistent_conns} connections x 10 calls; scenario 3: "
          f"{p.burst_conns} connections x 10 calls in one burst, and --wsess "
          f"{p.wsess[0]} sessions at {p.wsess[1]}/s",
          f"- wrk: {WRK_THREADS} thread, {p.wrk_secs} s; keep-alive and pipeline "
          f"{WRK_KEEPALIVE_CONNS} connections (also over TLS); pipeline depth {PIPELINE_DEPTH}; "
          f"throughput {BIG_FILE_CONNS} connections",
          f"- strace: {p.strace_close} requests of one connection each; "
          f"{p.strace_keepalive[0]} x {p.strace_keepalive[1]} keep-alive requests",
          f"- httperf --timeout {p.httperf_timeout:g}", ""]
    return "\n".join(L)


# =================================================================================================
# Reading a run back (--report-only): results.csv for every number, machine.md for the machine
# and the mode, the old report.md for what neither holds (each scenario's command, nginx's
# sendfile measurement, the TLS handshakes, restarts and build failures, the rerun command).
# =================================================================================================
def record_from_dir(out: Path) -> RunRecord:
    """The RunRecord of the run whose files are in `out`. Raises HarnessError when a file the
    report needs is missing."""
    from .results import read_csv
    from .scenarios import QUICK, Profile

    paths = {name: out / name for name in ("results.csv", "machine.md", "report.md")}
    for name, path in paths.items():
        if not path.exists():
            raise HarnessError(f"--report-only: {path} does not exist")
    machine = paths["machine.md"].read_text()
    old = paths["report.md"].read_text()

    def row(name: str) -> str:
        m = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", machine, re.M)
        return m.group(1) if m else ""

    quick = bool(re.search(r"^- mode: quick", machine, re.M))
    rounds = int(re.search(r"rounds: (\d+)", machine).group(1)) if "rounds:" in machine else 1
    base = QUICK if quick else FULL
    profile = Profile(**{**base.__dict__, "rounds": rounds})
    m = re.search(r"httperf --timeout ([\d.]+)", machine)
    if m:
        profile = Profile(**{**profile.__dict__, "httperf_timeout": float(m.group(1))})
    started, scenarios, results = read_csv(paths["results.csv"], scenarios_for(profile))
    loads = [float(x) for x in re.findall(r"([\d.]+) at the (?:start|end)", row("load average"))]

    # The capability table says which servers ran, in the report's order, and what each can do.
    servers: list[ServerRow] = []
    # Its columns are the capabilities of the run that wrote it (older runs have four).
    table = re.search(r"^\| server \| (.*?) \| note \|\n\|.*\|\n((?:\|.*\|\n)*)", old, re.M)
    columns = [c.strip() for c in table.group(1).split("|")] if table else []
    for line in (table.group(2).splitlines() if table else []):
        cols = [c.strip() for c in line.strip("|").split("|")]
        marks = cols[1:1 + len(columns)]
        caps = frozenset(cap for cap, mark in zip(columns, marks)
                         if mark == "yes" and cap in CAPS_IN_ORDER)
        note = cols[1 + len(columns)] if len(cols) > 1 + len(columns) else ""
        servers.append(ServerRow(cols[0], caps, note))
    if not servers:  # an old report without the table: the servers of the CSV, in its order
        from .servers import NEWER_STAGE_CAPS, STAGE_CAPS
        from .scenarios import ALL_CAPS
        for name in dict.fromkeys(r.server for r in results):
            servers.append(ServerRow(name, STAGE_CAPS.get(name, NEWER_STAGE_CAPS)
                                     if name.startswith("stage") else ALL_CAPS))

    # The TLS lines: "  - NAME: what it negotiated" under the TLS bullet.
    tls_block = re.search(r"^- \*\*TLS\*\* \(scenario 9\): (.*?)\n((?:  - .*\n)*)", old, re.M)
    cert_error = None
    if tls_block:
        m = re.match(r"no certificate, so no TLS server ran: (.*)", tls_block.group(1))
        cert_error = m.group(1) if m else None
        for line in tls_block.group(2).splitlines():
            name, _, text = line[4:].partition(": ")
            for s in servers:
                if s.name == name:
                    s.tls = text

    # Each scenario's command: the code line under its heading in the absolute numbers.
    commands = {}
    for sc in scenarios:
        m = re.search(rf"^### {re.escape(sc.title)}\n\n`([^`\n]+)`$", old, re.M)
        if m:
            commands[sc.key] = m.group(1)
    calib = re.search(r"^- \*\*nginx\*\*: .*\n((?:  - .*\n)*)", old, re.M)
    calibration = [ln[4:] for ln in calib.group(1).splitlines()] if calib else []
    failures = section(old, "failures")
    events = [ln[2:] for ln in failures if "restarted, and measured from there on" in ln]
    build_failures = dict(re.findall(r"^- \*\*(\S+)\*\* could not be built or found: (.*)$",
                                     "\n".join(failures), re.M))
    missing = re.search(r"^- tools not installed: (.*)$", "\n".join(failures), re.M)
    rerun = re.search(r"^Rerun: `([^`]+)`$", old, re.M)
    return RunRecord(
        started=dt.datetime.fromisoformat(started) if started else dt.datetime.now(),
        quick=quick, profile=profile, scenarios=scenarios, servers=servers, results=results,
        out=out, commands=commands, calibration=calibration, events=events,
        build_failures=build_failures,
        missing_tools=set(missing.group(1).split(", ")) if missing else set(),
        interrupted="**This run was interrupted" in old,
        load=(loads[0], loads[1]) if len(loads) >= 2 else (0.0, 0.0),
        cpu=row("CPU"), cores=int(row("cores") or 0),
        kernel=(row("kernel").split() + ["", ""])[1], cert_error=cert_error,
        rerun=rerun.group(1) if rerun else "httperf/run")


def section(text: str, name: str) -> list[str]:
    """The lines between a report's ANCHOR and ANCHOR_END comments for `name`."""
    m = re.search(rf"^{re.escape(anchor(name))}\n(.*?)^{re.escape(anchor_end(name))}", text,
                  re.M | re.S)
    return m.group(1).splitlines() if m else []
