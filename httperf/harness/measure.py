"""Measuring: the clients (httperf, wrk, strace -c around httperf, h2load), what they print, and what
the server spent while they ran (/proc: CPU seconds, peak RSS). One `Measurer.run` is one
server in one scenario; it fills a `Result` or marks it failed with the reason.

A new tool (as h2load was for HTTP/2; a WebSocket client) is a `*_cmd`, a parser and a `run_*`
here, and its name in the `tool` of the scenarios that use it (scenarios.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from .results import Result, fail
from .scenarios import BENCH_FILES, TLS, WRK_THREADS, Profile, Scenario, bench_uri
from .util import HERE, LIVE_GROUPS, WRK_SCRIPT, die_with_parent, kill_group, run_cmd

# =================================================================================================
# /proc: the server's processes, their CPU and their peak memory.
# =================================================================================================
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 0


def process_tree(root: int) -> list[int]:
    """The root and all its descendants (nginx's workers, Apache's children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            f = _stat_fields(int(entry))
            if f:
                children.setdefault(int(f[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            tree.append(pid)
            todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and of their children that have exited (so an
    Apache child that dies during a run is still counted, through its parent's cutime)."""
    ticks = 0
    for pid in pids:
        f = _stat_fields(pid)
        if f:
            ticks += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    return ticks / CLK_TCK


def reset_peak_rss(pids: list[int]) -> bool:
    """Resets VmHWM (writing 5 to clear_refs) so the next reading is the peak of this run."""
    ok = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


def peak_rss_kib(pids: list[int]) -> int:
    """Sum of VmHWM over the processes (shared pages count once per process)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total




# =================================================================================================
# Parsing what the tools print.
# =================================================================================================
def _num(pattern: str, text: str, cast=float, default=None):
    m = re.search(pattern, text, re.M)
    return cast(m.group(1)) if m else default


def parse_httperf(text: str) -> dict | None:
    """httperf's summary: totals, status classes, errors, sizes, times. None if absent."""
    m = re.search(r"^Total: connections (\d+) requests (\d+) replies (\d+) test-duration ([\d.]+) s",
                  text, re.M)
    if not m:
        return None
    r = {"conns": int(m.group(1)), "requests": int(m.group(2)), "replies": int(m.group(3)),
         "duration": float(m.group(4))}
    st = re.search(r"^Reply status: 1xx=(\d+) 2xx=(\d+) 3xx=(\d+) 4xx=(\d+) 5xx=(\d+)", text, re.M)
    r["2xx"] = int(st.group(2)) if st else 0
    r["non2xx"] = sum(int(st.group(i)) for i in (1, 3, 4, 5)) if st else 0
    r["errors"] = _num(r"^Errors: total (\d+)", text, int, 0)
    r["content"] = _num(r"^Reply size \[B\]: header [\d.]+ content ([\d.]+)", text)
    r["conn_ms"] = _num(r"^Connection time \[ms\]: min [\d.]+ avg ([\d.]+)", text)
    r["conn_median_ms"] = _num(r"^Connection time \[ms\]: min .* median ([\d.]+)", text)
    r["conn_max_ms"] = _num(r"^Connection time \[ms\]: min .* max ([\d.]+)", text)
    r["reply_ms"] = _num(r"^Reply time \[ms\]: response ([\d.]+)", text)
    errs = re.findall(r"(client-timo|socket-timo|connrefused|connreset|fd-unavail|addrunavail|"
                      r"ftab-full|other) (\d+)", text)
    r["error_kinds"] = ", ".join(f"{k} {v}" for k, v in errs if v != "0")
    return r


def parse_wrk(text: str) -> dict | None:
    """The HARNESS line that pipeline.lua prints at the end of a wrk run."""
    m = re.search(r"^HARNESS (.*)$", text, re.M)
    if not m:
        return None
    r = {}
    for item in m.group(1).split():
        k, _, v = item.partition("=")
        r[k] = float(v)
    r["errors"] = int(sum(r.get(k, 0) for k in ("connect", "read", "write", "status", "timeout")))
    return r


_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_h2load(text: str) -> dict | None:
    """h2load's summary: duration, request counts, status classes, traffic with the header
    bytes and their "space savings" (how much HPACK saved against the headers as text), mean
    request time, and the protocol it negotiated. None if absent."""
    m = re.search(r"^finished in ([\d.]+)(m?s), ([\d.]+) req/s", text, re.M)
    req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if not m or not req:
        return None
    secs = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    r = {"duration": secs, "total": int(req.group(1)), "done": int(req.group(3)),
         "succeeded": int(req.group(4)), "failed": int(req.group(5)),
         "errored": int(req.group(6)), "timeout": int(req.group(7))}
    st = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    r["2xx"] = int(st.group(1)) if st else 0
    r["non2xx"] = sum(int(st.group(i)) for i in (2, 3, 4)) if st else 0
    tr = re.search(r"^traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers \(space savings "
                   r"(-?[\d.]+)%\), .*?\((\d+)\) data", text, re.M)
    r["bytes"], r["header_bytes"], r["savings"], r["data_bytes"] = (
        (int(tr.group(1)), int(tr.group(2)), float(tr.group(3)), int(tr.group(4))) if tr
        else (None, None, None, None))
    t = re.search(r"^time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\b", text, re.M)
    r["mean_ms"] = float(t.group(1)) * _TIME_UNITS[t.group(2)] if t else None
    p = re.search(r"^Application protocol: (\S+)", text, re.M)
    r["protocol"] = p.group(1) if p else None
    return r


def savings_of(detail: str) -> float | None:
    """The header space savings an h2load run wrote into a result's detail (report.py reads
    them back from results.csv)."""
    m = re.search(r"header space savings (-?[\d.]+)%", detail or "")
    return float(m.group(1)) if m else None


def parse_strace(text: str) -> tuple[int, dict[str, int]] | None:
    """strace -c's table: (total calls, calls per syscall). Columns: % time, seconds,
    usecs/call, calls, [errors], syscall; the total is the sum of the rows (the "total" line's
    columns differ between strace versions)."""
    per: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[-1] == "total" or not re.match(r"^[\d.]+$", parts[0]):
            continue
        try:
            per[parts[-1]] = per.get(parts[-1], 0) + int(parts[3])
        except ValueError:
            continue
    if not per:
        return None
    return sum(per.values()), per


# =================================================================================================
# One server in one scenario.
# =================================================================================================
# The programs each tool needs (a missing one makes the cell FAIL, not the run crash).
TOOL_PROGRAMS = {"httperf": ["httperf"], "wrk": ["wrk"], "strace": ["strace", "httperf"],
                 "h2load": ["h2load"]}


class Measurer:
    """Runs the clients for one run: its sizes (the profile), its scratch dir (strace's
    tables), the generated files' bytes (to check reply sizes) and the command line of each
    scenario as first run (for the report)."""

    def __init__(self, profile: Profile, scratch: Path, bench_bytes: dict[str, bytes]):
        self.profile = profile
        self.scratch = scratch
        self.bench_bytes = bench_bytes
        self.commands: dict[str, str] = {}  # scenario key -> a command line, for the report

    def run(self, sc: Scenario, srv, res: Result) -> None:
        """Measures `srv` (running, checked) in `sc`, with the server's CPU and peak RSS."""
        pids = srv.pids()
        hwm_reset = reset_peak_rss(pids)
        cpu0 = cpu_seconds(pids)
        if sc.tool == "httperf":
            self.run_httperf(sc, srv, res)
        elif sc.tool == "wrk":
            self.run_wrk(sc, srv, res)
        elif sc.tool == "h2load":
            self.run_h2load(sc, srv, res)
        else:
            self.run_strace(sc, srv, res, pids)
        pids = srv.pids()
        res.server_cpu_s = round(cpu_seconds(pids) - cpu0, 3)
        res.server_rss_kib = peak_rss_kib(pids)
        if not hwm_reset:
            res.note = (res.note + "; " if res.note else "") + "peak RSS since server start"

    def httperf_cmd(self, port: int, sc: Scenario) -> list[str]:
        # No --hog: with it httperf bind()s every local port itself, and over a long run the
        # TIME_WAIT connections of the earlier runs exhaust them (httperf then spins until our
        # timeout). Without it the kernel picks the port and, on loopback, reuses TIME_WAIT
        # ones (net.ipv4.tcp_tw_reuse, recorded in machine.md).
        return ["httperf", "--server", "127.0.0.1", "--port", str(port),
                "--uri", bench_uri(sc.opts["file"]), "--timeout", str(self.profile.httperf_timeout),
                *sc.opts["args"]]

    def wrk_cmd(self, port: int, key: str, conns: int, depth: int, secs: int,
                tls: bool = False) -> list[str]:
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}{bench_uri(key)}"
        cmd = ["wrk", "-t", str(WRK_THREADS), "-c", str(conns), "-d", f"{secs}s",
               "--timeout", "5s", "-s", str(WRK_SCRIPT), url]
        return cmd + (["--", str(depth)] if depth > 1 else [])

    def h2load_cmd(self, port: int, sc: Scenario) -> list[str]:
        """h2load with one thread (like wrk), for the profile's seconds (-D) or, in the quick
        run, a fixed count (-n: as many bytes as the 1 KB file's count, one request per
        connection at least). An http:// URL is HTTP/2 with prior knowledge; https:// offers
        ALPN h2 (and h2load refuses a server that picks HTTP/1.1)."""
        tls = sc.opts["tls"]
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}{bench_uri(sc.opts['file'])}"
        conns, streams = sc.opts["conns"], sc.opts["streams"]
        if self.profile.h2load_secs:
            amount = ["-D", str(self.profile.h2load_secs)]
        else:
            n = self.profile.h2load_requests * BENCH_FILES["1k"] // BENCH_FILES[sc.opts["file"]]
            amount = ["-n", str(max(conns, n))]
        return ["h2load", "-t", "1", "-c", str(conns), "-m", str(streams), *amount, url]

    def httperf_budget(self, sc: Scenario) -> float:
        """How long an httperf run may take before it is stopped: what it should take at a
        modest 1,000 requests per second (or its rate), plus slack."""
        args = sc.opts["args"]
        if "--rate" in args and "--wsess" not in args:
            n = int(args[args.index("--num-conns") + 1])
            return n / int(args[args.index("--rate") + 1]) + self.profile.httperf_timeout + 15
        return sc.opts["expect"] / 1000 + self.profile.httperf_timeout + 15

    def run_httperf(self, sc: Scenario, srv, res: Result) -> None:
        cmd = self.httperf_cmd(srv.port, sc)
        self.commands.setdefault(sc.key, " ".join(cmd).replace(str(srv.port), "PORT"))
        r = run_cmd(cmd, self.httperf_budget(sc), interrupt_first=True)
        res.client_cpu_s = round(r.cpu, 3)
        h = parse_httperf(r.out)
        if h is None:
            fail(res, "httperf " + ("timed out" if r.timed_out else f"exited {r.rc}")
                      + ": " + (" | ".join((r.err or r.out).strip().splitlines()[-2:]) or "no output"))
            return
        self.fill_httperf(sc, res, h)
        if r.timed_out:
            fail(res, f"did not finish in {self.httperf_budget(sc):.0f}s (stopped: "
                           f"{h['2xx']}/{sc.opts['expect']} replies)")

    def fill_httperf(self, sc: Scenario, res: Result, h: dict) -> None:
        res.requests = h["2xx"]
        res.errors = h["errors"] + h["non2xx"] + max(0, sc.opts["expect"] - h["replies"] - h["errors"])
        res.duration_s = h["duration"]
        res.latency_ms = h["conn_ms"] if sc.group == 1 else h["reply_ms"]
        # A paced run's rate is the client's: its latency spread is one of the things that
        # differs between servers (report.py's "client sets the pace" table reads it back).
        spread = ""
        if sc.group == 1 and h["conn_median_ms"] is not None and h["conn_max_ms"] is not None:
            spread = f"conn ms median {h['conn_median_ms']:g} max {h['conn_max_ms']:g}"
        res.detail = "; ".join(x for x in (spread, h["error_kinds"]) if x)
        if h["2xx"] == 0:
            fail(res, f"no 2xx replies ({h['replies']} replies, {h['errors']} errors"
                           + (f": {h['error_kinds']}" if h["error_kinds"] else "") + ")")
            return
        want = len(self.bench_bytes[sc.opts["file"]])
        if h["content"] is not None and abs(h["content"] - want) > 1 and h["non2xx"] == 0:
            fail(res, f"replies carry {h['content']:.0f} bytes, expected {want}")
            return
        res.value = round(h["2xx"] / h["duration"], 1) if h["duration"] > 0 else None

    def run_wrk(self, sc: Scenario, srv, res: Result) -> None:
        secs = self.profile.wrk_secs
        tls = sc.needs == TLS
        port = srv.tls_port if tls else srv.port
        cmd = self.wrk_cmd(port, sc.opts["file"], sc.opts["conns"], sc.opts["depth"], secs, tls)
        self.commands.setdefault(sc.key, " ".join(cmd).replace(str(port), "PORT")
                                 .replace(str(HERE) + "/", "httperf/"))
        r = run_cmd(cmd, secs + 20)
        res.client_cpu_s = round(r.cpu, 3)
        w = parse_wrk(r.out)
        if w is None:
            fail(res, "wrk " + ("timed out" if r.timed_out else f"exited {r.rc}") + ": "
                      + (" | ".join((r.err or r.out).strip().splitlines()[-2:]) or "no output"))
            return
        secs_run = w["duration_us"] / 1e6
        res.requests, res.errors, res.duration_s = int(w["requests"]), w["errors"], round(secs_run, 3)
        res.latency_ms = round(w["p99_us"] / 1000, 3)
        kinds = [f"{k} {int(w[k])}" for k in ("connect", "read", "write", "status", "timeout")
                 if w.get(k)]
        res.detail = ", ".join(kinds)
        good = w["requests"] - w.get("status", 0)
        if good <= 0 or secs_run <= 0:
            fail(res, "no successful responses" + (f" ({res.detail})" if kinds else ""))
            return
        if sc.opts["metric"] == "MB/s":
            res.value = round(w["bytes"] / 1e6 / secs_run, 1)
        else:
            res.value = round(good / secs_run, 1)

    def run_h2load(self, sc: Scenario, srv, res: Result) -> None:
        port = srv.tls_port if sc.opts["tls"] else srv.h2c_port
        cmd = self.h2load_cmd(port, sc)
        self.commands.setdefault(sc.key, " ".join(cmd).replace(str(port), "PORT"))
        r = run_cmd(cmd, (self.profile.h2load_secs or 5) + 20)
        res.client_cpu_s = round(r.cpu, 3)
        h = parse_h2load(r.out)
        if h is None:
            fail(res, "h2load " + ("timed out" if r.timed_out else f"exited {r.rc}") + ": "
                      + (" | ".join((r.err or r.out).strip().splitlines()[-2:]) or "no output"))
            return
        self.fill_h2load(sc, res, h)

    def fill_h2load(self, sc: Scenario, res: Result, h: dict) -> None:
        # h2load counts a status when the response's head arrives, and "succeeded" when its
        # stream ends: a timed run stops with responses in flight, counted in the first and
        # not in the second. The completed ones are the rate's.
        good = max(0, h["succeeded"] - h["non2xx"])
        res.requests, res.duration_s = good, round(h["duration"], 3)
        # h2load's "failed" holds its errored and timed-out streams; a 4xx is a "success".
        res.errors = h["failed"] + h["non2xx"]
        res.latency_ms = round(h["mean_ms"], 3) if h["mean_ms"] is not None else None
        details = []
        if h["savings"] is not None:
            details.append(f"header space savings {h['savings']:g}%")
            details.append(f"header bytes {h['header_bytes'] / max(1, h['done']):.1f}/response")
        if h["errored"] or h["timeout"]:
            details.append(f"errored {h['errored']}, timeout {h['timeout']}")
        res.detail = ", ".join(details)
        if sc.opts["tls"] and h["protocol"] != "h2":
            fail(res, f"negotiated {h['protocol'] or 'no protocol'}, not h2")
            return
        if good == 0 or h["duration"] <= 0:
            fail(res, f"no 2xx responses ({h['done']} done, {h['failed']} failed, "
                      f"{h['errored']} errored)")
            return
        want = len(self.bench_bytes[sc.opts["file"]])
        # At least the bodies of the completed responses (the ones cut off at the deadline
        # add a part of theirs).
        if h["data_bytes"] is not None and h["non2xx"] == 0 and h["data_bytes"] < want * good:
            fail(res, f"{h['data_bytes']} bytes of DATA for {good} complete responses of {want}")
            return
        if sc.opts["metric"] == "MB/s":
            res.value = round((h["bytes"] or 0) / 1e6 / h["duration"], 1)
        else:
            res.value = round(good / h["duration"], 1)

    def run_strace(self, sc: Scenario, srv, res: Result, pids: list[int]) -> None:
        """strace -c -f attached to every process of the server over a fixed httperf load."""
        out = self.scratch / f"strace-{srv.name}-{sc.key}.txt"
        errf = self.scratch / f"strace-{srv.name}-{sc.key}.err"
        cmd = ["strace", "-c", "-f", "-o", str(out)]
        for pid in pids:
            cmd += ["-p", str(pid)]
        with open(errf, "wb") as ef:
            try:
                tracer = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=ef, stderr=ef,
                                          start_new_session=True, preexec_fn=die_with_parent)
            except OSError as e:
                fail(res, f"cannot run strace: {e.strerror}")
                return
        LIVE_GROUPS.add(tracer.pid)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                attached = errf.read_text(errors="replace").count("attached")
                if attached >= len(pids) or tracer.poll() is not None:
                    break
                time.sleep(0.05)
            if tracer.poll() is not None:
                fail(res, "strace could not attach: "
                          + " | ".join(errf.read_text(errors="replace").strip().splitlines()[-2:]))
                return
            time.sleep(0.2)  # let the last threads settle under the tracer
            httperf = self.httperf_cmd(srv.port, sc)
            self.commands.setdefault(sc.key, "strace -c -f -p PID... & "
                                     + " ".join(httperf).replace(str(srv.port), "PORT"))
            r = run_cmd(httperf, self.httperf_budget(sc) * 5, interrupt_first=True)
            res.client_cpu_s = round(r.cpu, 3)
        finally:
            tracer.send_signal(signal.SIGINT)  # strace detaches and writes its table
            try:
                tracer.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_group(tracer.pid, signal.SIGKILL)
                tracer.wait(timeout=5)
            LIVE_GROUPS.discard(tracer.pid)
        h = parse_httperf(r.out)
        if h is None:
            fail(res, "httperf under strace " + ("timed out" if r.timed_out else f"exited {r.rc}"))
            return
        self.fill_httperf(sc, res, h)
        if res.status != "ok":
            return
        counted = parse_strace(out.read_text(errors="replace") if out.exists() else "")
        if counted is None:
            fail(res, "strace wrote no table")
            return
        total, per = counted
        n = h["2xx"]
        res.value = round(total / n, 2)
        top = sorted(per.items(), key=lambda kv: -kv[1])[:6]
        res.detail = ", ".join(f"{k} {v / n:.2f}" for k, v in top)

