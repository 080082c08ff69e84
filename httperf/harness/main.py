"""The run: install what is missing, build the stages, make the site and the certificate, start
every server, measure nginx's sendfile choice, measure every scenario on every server in
alternating rounds, and write results.csv, report.md, the charts and machine.md. Also the
command line (`httperf/run` calls `main`), including `--report-only DIR`, which draws a
finished run's report and charts again from its files without measuring anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import tempfile
from pathlib import Path

from . import chart
from .measure import TOOL_PROGRAMS, Measurer, parse_wrk
from .report import (RunRecord, ServerRow, cpu_model, machine_md, peer_titles, record_from_dir,
                     report_md)
from .results import Result, describe, fail, write_csv
from .scenarios import (ALL_CAPS, BENCH_FILES, FULL, H2, H2C, PLAIN_CAPS, QUICK, SENDFILE_DEFAULT,
                        SENDFILE_WORKLOADS, TLS, Profile, Scenario, plan_seconds,
                        scenario_numbers, scenarios_for)
from .servers import (NEWER_STAGE_CAPS, PEERS, REFERENCE_SERVERS, STAGE_CAPS, Cert, NginxServer,
                      Server, Stage09Server, StageServer, caps_note, make_cert, make_peer, na_note,
                      tls_session)
from .util import (HERE, LIVE_GROUPS, REPO, HarnessError, apt_install, find_program, free_port,
                   kill_group, log, run_cmd)


class Harness:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.profile = QUICK if args.quick else FULL
        if args.rounds:
            self.profile = Profile(**{**self.profile.__dict__, "rounds": args.rounds})
        self.scratch = Path(tempfile.mkdtemp(prefix="httperf-run-", dir=self._tmp_base()))
        self.scratch.chmod(0o755)  # the servers' unprivileged workers must reach the files
        self.www = self.scratch / "www"
        self.servers: list[Server] = []
        self.results: list[Result] = []
        self.build_failures: dict[str, str] = {}
        self.missing_tools: set[str] = set()
        self.calibration: list[str] = []
        self.sendfile = dict(SENDFILE_DEFAULT)  # nginx's sendfile per workload, once measured
        self.events: list[str] = []  # restarts and other things the report must mention
        self.current = ""  # the scenario being measured, for those events
        self.started = dt.datetime.now()
        self.interrupted = False
        self.load_before = os.getloadavg()
        self.scenarios = [sc for sc in scenarios_for(self.profile)
                          if not args.scenarios or sc.group in args.scenarios]
        self.bench_bytes: dict[str, bytes] = {}
        self.measurer = Measurer(self.profile, self.scratch, self.bench_bytes)
        self.cert: Cert | None = None  # the one certificate of every TLS server
        self.cert_error = "no TLS scenario selected"

    @staticmethod
    def _tmp_base() -> str:
        """A temp folder every user can traverse (Apache's workers run as www-data)."""
        base = Path(tempfile.gettempdir())
        for p in [base, *base.parents]:
            if not os.stat(p).st_mode & 0o001:
                return "/tmp"
        return str(base)

    # ---- setup -------------------------------------------------------------------------------
    def install_tools(self) -> None:
        want = {"httperf": "httperf", "wrk": "wrk", "strace": "strace", "openssl": "openssl",
                "h2load": "nghttp2-client"}
        files: dict[str, str] = {}  # files that are not programs (TLS modules): their packages
        for name in self.reference_names():
            cls = PEERS[name][0]
            want.update(cls.packages)
            files.update(cls.file_packages)
            if getattr(cls, "cargo_install", None):
                self._cargo_install(*cls.cargo_install)
        missing = sorted({pkg for prog, pkg in want.items() if not find_program(prog)})
        missing += sorted({pkg for f, pkg in files.items() if not Path(f).exists()})
        if not missing:
            log("tools: all present (" + ", ".join(sorted(want)) + ")")
            return
        if self.args.no_install:
            log(f"tools missing and --no-install given: {', '.join(missing)}")
        elif os.geteuid() != 0 or not find_program("apt-get"):
            log(f"tools missing and cannot apt-get install (need root and Debian): {', '.join(missing)}")
        else:
            self._apt_install(missing)
        self.missing_tools = {prog for prog in want if not find_program(prog)}
        if self.missing_tools:
            log(f"still missing: {', '.join(sorted(self.missing_tools))} (their rows will be FAIL)")

    def _apt_install(self, pkgs: list[str]) -> None:
        apt_install(pkgs)

    def _cargo_install(self, crate: str, root: Path) -> None:
        """A peer from crates.io (static-web-server), built once into a folder under target/
        when this run asks for it and it is missing (`cargo install` takes minutes on 2 cores,
        so only then; `nice` leaves the machine to whoever else is on it)."""
        if (root / "bin" / crate).exists():
            return
        if self.args.no_install:
            log(f"{crate} missing and --no-install given (its row will be FAIL)")
            return
        log(f"install: nice cargo install --locked {crate} --root {root} (a few minutes)")
        r = run_cmd(["nice", "-n", "19", "cargo", "install", "--locked", crate, "--root",
                     str(root)], 3600, cwd=REPO)
        if r.rc != 0:
            log(f"install: {crate} FAILED: " + " | ".join(r.err.strip().splitlines()[-2:]))

    def discover_stages(self) -> list[str]:
        """Every stages/*/Cargo.toml whose package is named stageNN: new stages join by existing."""
        names = []
        for toml in sorted((REPO / "stages").glob("*/Cargo.toml")):
            m = re.search(r'^\s*name\s*=\s*"(stage\d+)"', toml.read_text(), re.M)
            if m:
                names.append(m.group(1))
        names = sorted(set(names))
        if self.args.stages is not None:
            unknown = set(self.args.stages) - set(names)
            if unknown:
                log(f"--stages: no such stage in stages/: {', '.join(sorted(unknown))}")
            names = [n for n in names if n in self.args.stages]
        return names

    def reference_names(self) -> list[str]:
        if self.args.servers is None:
            return list(REFERENCE_SERVERS)
        return [n for n in PEERS if n in self.args.servers]  # on-request peers too

    def build(self, name: str) -> Path | None:
        """cargo build --release -p NAME; the binary's path comes from cargo's own report."""
        if self.args.no_build:
            target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
            binary = target / "release" / name
            if binary.exists():
                return binary
            self.build_failures[name] = f"--no-build given and {binary} does not exist"
            return None
        log(f"build: cargo build --release -p {name}")
        try:
            r = run_cmd(["cargo", "build", "--release", "-p", name,
                         "--message-format=json-render-diagnostics"], 1800, cwd=REPO)
        except HarnessError as e:
            self.build_failures[name] = str(e)
            return None
        if r.rc != 0:
            lines = [ln for ln in r.err.splitlines() if ln.startswith("error")] or \
                r.err.strip().splitlines()[-3:] or ["(no output)"]
            why = "timed out" if r.timed_out else f"exit {r.rc}"
            self.build_failures[name] = f"build failed ({why}): " + " | ".join(lines[:3])
            log(f"build: {name} FAILED: {self.build_failures[name]}")
            return None
        for line in r.out.splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if (msg.get("reason") == "compiler-artifact" and msg.get("executable")
                    and msg["target"]["name"] == name and "bin" in msg["target"]["kind"]):
                return Path(msg["executable"])
        self.build_failures[name] = "cargo built no binary named " + name
        return None

    def make_site(self) -> None:
        """A scratch copy of www/ plus the generated files (deterministic bytes)."""
        shutil.copytree(REPO / "www", self.www)
        bench = self.www / "bench"
        bench.mkdir()
        rng = random.Random(2024)
        for key, size in BENCH_FILES.items():
            data = rng.randbytes(size)
            (bench / f"{key}.bin").write_bytes(data)
            self.bench_bytes[key] = data
        for dirpath, dirnames, filenames in os.walk(self.www):
            os.chmod(dirpath, 0o755)
            for f in filenames:
                os.chmod(os.path.join(dirpath, f), 0o644)
        log(f"site: {self.www} (www/ + bench/1k.bin, 100k.bin, 10m.bin)")

    def make_servers(self) -> None:
        taken: set[int] = set()
        port = self.args.base_port
        for name in self.discover_stages():
            binary = self.build(name)
            caps = STAGE_CAPS.get(name, NEWER_STAGE_CAPS)
            port = free_port(port, taken)
            cls = Stage09Server if name == "stage09" else StageServer
            if cls is Stage09Server and binary:  # HTTP/2 only if this build has it
                caps = caps & Stage09Server.probe_caps(binary, self.scratch / name, self.www)
            srv = cls(name, port, self.scratch / name, self.www, caps,
                      binary=binary or Path("/nonexistent") / name)
            if caps & PLAIN_CAPS and TLS in caps:
                # stage07: PORT is TLS and --plain-port the cleartext one (HTTP/1.1 and h2c).
                if H2C in caps:
                    srv.h2c_port = port
                port = free_port(port, taken)
                if self.tls_ready(srv):
                    srv.serve_tls(port, self.cert)
                elif srv.makes_own_cert:  # no TLS scenario: stage07 still needs its TLS port
                    srv.tls_port = port
            elif TLS in caps and self.tls_ready(srv):  # a TLS stage serves HTTPS on its one port
                srv.serve_tls(port, self.cert)
            elif caps == {TLS}:
                srv.start_error = srv.tls_error
            if binary is None:
                srv.start_error = self.build_failures.get(name, "build failed")
            self.servers.append(srv)
        for name in self.reference_names():
            port = free_port(port, taken)
            srv = make_peer(name, port, self.scratch / name, self.www)
            if self.tls_ready(srv):  # HTTPS on a second port, from the same config
                port = free_port(port, taken)
                srv.serve_tls(port, self.cert)
            if H2C in srv.caps and self.wants(H2C):  # cleartext HTTP/2: its own port, or the plain one
                if srv.h2c_own_port:
                    port = free_port(port, taken)
                srv.h2c_port = port if srv.h2c_own_port else srv.port
            self.servers.append(srv)

    def wants(self, cap: str) -> bool:
        """Some selected scenario needs this capability."""
        return any(sc.needs == cap for sc in self.scenarios)

    def make_cert(self) -> None:
        """The certificate of every TLS server, made once, only when a TLS scenario (HTTP/1
        or HTTP/2) runs."""
        if not (self.wants(TLS) or self.wants(H2)):
            return
        try:
            self.cert = make_cert(self.scratch / "tls")
            log(f"tls: self-signed ECDSA P-256 certificate for localhost in {self.cert.cert.parent}")
        except HarnessError as e:
            self.cert_error = str(e)
            log(f"tls: no certificate ({e}); the TLS scenario will FAIL")

    def tls_ready(self, srv: Server) -> bool:
        """There is a certificate and the server has its TLS module; if not, srv.tls_error says
        why (its TLS cells FAIL with it, and a reference server still serves plain HTTP)."""
        if self.cert is None:
            srv.tls_error = f"no TLS certificate: {self.cert_error}"
            return False
        if srv.tls_module and not Path(srv.tls_module).exists():
            srv.tls_error = f"no TLS: {srv.tls_module} is not installed"
            return False
        return True

    def start_all(self) -> None:
        for srv in self.servers:
            if not any(sc.needs in srv.caps for sc in self.scenarios):
                # Nothing it could be asked (stage06 without scenario 9): n/a, not a failure.
                log(f"start: {srv.name}: not started (no selected scenario it can do)")
                continue
            if srv.start_error:
                log(f"start: {srv.name}: not started ({srv.start_error})")
                continue
            try:
                srv.start()
                ports = ", ".join(f"{p}{' (TLS)' if tls else ''}" for p, tls in srv.endpoints())
                log(f"start: {srv.name} answers on 127.0.0.1:{ports} (pids {srv.pids()})")
                if srv.tls_port and self.cert:
                    srv.tls_info = tls_session(srv.tls_port, self.cert.der)
            except HarnessError as e:
                srv.start_error = str(e)
                log(f"start: {srv.name} FAILED: {e}")

    def ensure_up(self, srv: Server) -> str | None:
        """Before every measurement: the server runs and answers; else one restart. Returns why
        it cannot be measured, or None."""
        if srv.start_error and not srv.running():
            return f"not running: {srv.start_error}"
        expect = self.bench_bytes["1k"]
        problem = None
        if not srv.running():
            problem = f"server died (exit {srv.proc.returncode if srv.proc else '?'})"
        else:
            problem = srv.check(expect)
        if problem is None:
            return None
        if srv.restarts >= 3:
            return f"{problem}; restarted 3 times already"
        log(f"  {srv.name}: {problem}; restarting it")
        srv.restarts += 1
        srv.stop()
        try:
            srv.start()
            self.events.append(f"**{srv.name}**: {problem} before \"{self.current}\"; restarted, "
                               "and measured from there on")
            return None
        except HarnessError as e:
            srv.start_error = str(e)
            return f"{problem}; restart failed: {e}"

    # ---- calibration: nginx sendfile on or off per workload ----------------------------------
    def calibrate_nginx_sendfile(self) -> None:
        """Measures nginx (one worker) with sendfile off and on for each workload in
        SENDFILE_WORKLOADS, alternating the order, and keeps the faster setting for each."""
        self.sendfile = dict(SENDFILE_DEFAULT)
        skip = self.calibration_skipped()
        if skip:
            self.calibration.append(f"not measured this run ({skip}); used the defaults: "
                                    + ", ".join(f"{k} **{v}**" for k, v in self.sendfile.items()))
            return
        secs = self.profile.calibrate_secs
        scores = {(w, s): [] for w in SENDFILE_WORKLOADS for s in ("off", "on")}
        port = free_port(self.args.base_port + 500,
                         {p for s in self.servers for p in (s.port, s.tls_port) if p})
        for rep in range(1 if self.args.quick else 2):
            for setting in (("off", "on") if rep % 2 == 0 else ("on", "off")):
                srv = NginxServer("nginx-calibrate", port, self.scratch / "nginx-calibrate",
                                  self.www, ALL_CAPS, sendfile_small=setting,
                                  sendfile_large=setting)
                try:
                    srv.start()
                    for w, (_, key, conns, depth, unit) in SENDFILE_WORKLOADS.items():
                        r = run_cmd(self.measurer.wrk_cmd(port, key, conns, depth, secs), secs + 20)
                        got = parse_wrk(r.out)
                        if got and got["duration_us"] > 0 and got["requests"] > 0:
                            amount = got["requests"] if unit == "req/s" else got["bytes"] / 1e6
                            scores[(w, setting)].append(amount / (got["duration_us"] / 1e6))
                except HarnessError as e:
                    log(f"calibrate: nginx sendfile {setting}: {e}")
                finally:
                    srv.stop()
        for w, (what, _, _, _, unit) in SENDFILE_WORKLOADS.items():
            off, on = scores[(w, "off")], scores[(w, "on")]
            if not off or not on:
                self.calibration.append(f"{w} ({what}): could not measure both; used the "
                                        f"default, sendfile **{self.sendfile[w]}**")
                continue
            off, on = statistics.mean(off), statistics.mean(on)
            self.sendfile[w] = "on" if on > off else "off"
            self.calibration.append(f"{w} ({what}): sendfile off {off:,.0f} {unit}, on "
                                    f"{on:,.0f} {unit} -> **{self.sendfile[w]}**")
        for srv in self.servers:
            if isinstance(srv, NginxServer):
                srv.sendfile_small, srv.sendfile_large = self.sendfile["small"], self.sendfile["large"]
        log("calibrate: nginx sendfile: " + ", ".join(f"{k} {v}" for k, v in self.sendfile.items()))

    def calibration_skipped(self) -> str:
        """Why nginx's sendfile is not measured this run, or "" when it is."""
        if self.args.no_calibrate:
            return "--no-calibrate"
        if not {"nginx", "nginx-auto"} & set(self.reference_names()):
            return "no nginx in this run"
        if {"nginx", "wrk"} & self.missing_tools:
            return "nginx or wrk is not installed"
        if all(sc.needs in (TLS, H2) for sc in self.scenarios):
            return "TLS scenarios only: over TLS nginx does not sendfile"
        return ""

    # ---- one measurement ---------------------------------------------------------------------
    def measure(self, rnd: int, sc: Scenario, srv: Server) -> Result:
        res = Result(rnd, sc, srv.name, "ok")
        if sc.needs not in srv.caps:
            res.status = "n/a"
            res.note = na_note(srv.name, sc.needs)
            return res
        missing = [t for t in TOOL_PROGRAMS[sc.tool] if t in self.missing_tools]
        if missing:
            return fail(res, f"{', '.join(missing)} not installed")
        if sc.needs in (TLS, H2) and not srv.tls_port:
            return fail(res, srv.tls_error)
        if isinstance(srv, NginxServer) and sc.workload != "large" and srv.running():
            try:
                srv.use_sendfile(self.sendfile[sc.workload])
            except HarnessError as e:
                srv.start_error = str(e)
        why = self.ensure_up(srv)
        if why:
            return fail(res, why)
        self.measurer.run(sc, srv, res)
        if res.status == "ok" and not srv.running():
            fail(res, f"server died during the run (exit {srv.proc.returncode})")
        return res

    # ---- the run -----------------------------------------------------------------------------
    def order(self, rnd: int) -> list[Server]:
        """Round 1 in order, round 2 reversed, then rotated: drift hits every server equally."""
        k = (rnd // 2) % max(1, len(self.servers))
        seq = self.servers[k:] + self.servers[:k]
        return seq if rnd % 2 == 0 else list(reversed(seq))

    def measure_all(self) -> None:
        p = self.profile
        total = sum(len(self.servers) for sc in self.scenarios for rnd in range(p.rounds)
                    if rnd == 0 or not sc.first_round_only)
        done = 0
        for rnd in range(p.rounds):
            for sc in self.scenarios:
                if rnd > 0 and sc.first_round_only:
                    continue
                log(f"round {rnd + 1}/{p.rounds}: {sc.title}")
                self.current = f"{sc.title.split(' (')[0]}, round {rnd + 1}"
                for srv in self.order(rnd):
                    done += 1
                    try:
                        res = self.measure(rnd + 1, sc, srv)
                    except HarnessError as e:
                        res = fail(Result(rnd + 1, sc, srv.name, "ok"), str(e))
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except Exception as e:  # a harness bug must not lose the other results
                        res = fail(Result(rnd + 1, sc, srv.name, "ok"),
                                        f"harness error: {type(e).__name__}: {e}")
                    self.results.append(res)
                    log(f"  [{done}/{total}] {srv.name:<11} {describe(res)}")

    def run(self) -> int:
        log(f"httperf/run: {'quick' if self.args.quick else 'full'} mode, "
            f"{self.profile.rounds} round(s); scratch {self.scratch}")
        self.out = self.output_dir()
        self.install_tools()
        self.make_site()
        try:
            self.make_cert()
            self.make_servers()
            if not self.servers:
                log("no servers to measure")
            log(f"plan: about {self.planned_seconds() / 60:.1f} minutes of measuring "
                "(estimated from the scenarios' sizes, before any build or install)")
            self.calibrate_nginx_sendfile()
            self.start_all()
            self.measure_all()
        except KeyboardInterrupt:
            self.interrupted = True
            log("interrupted: writing what was measured so far")
        finally:
            for srv in self.servers:
                srv.stop()
        write_outputs(self.record())
        log(f"done: {self.out}/report.md, results.csv, chart-*.svg, machine.md")
        print(self.out)
        if self.interrupted:
            return 130
        failed = sorted({r.server for r in self.results if r.status == "fail"})
        if failed:
            log(f"FAIL cells for: {', '.join(failed)} (see the report's Failures section)")
            if self.args.strict:
                return 1
        return 0

    def planned_seconds(self) -> float:
        """scenarios.plan_seconds for this run's servers (a server that cannot start still
        counts: the plan is what the run would take if every one answered)."""
        return plan_seconds(self.profile, self.scenarios, [s.caps for s in self.servers],
                            calibrate=not self.calibration_skipped())

    def record(self) -> RunRecord:
        """What the report says about this run (report.py renders it)."""
        rows = []
        for srv in self.servers:
            tls = None
            if srv.tls_port:
                tls = srv.tls_info or "not measured (did not start)"
            elif TLS in srv.caps:
                tls = f"no TLS port: {srv.tls_error}"
            rows.append(ServerRow(srv.name, srv.caps, caps_note(srv.name), tls))
        return RunRecord(
            started=self.started, quick=self.args.quick, profile=self.profile,
            scenarios=self.scenarios, servers=rows, results=self.results, out=self.out,
            commands=self.measurer.commands, calibration=self.calibration, events=self.events,
            build_failures=self.build_failures, missing_tools=self.missing_tools,
            interrupted=self.interrupted, load=(self.load_before[0], os.getloadavg()[0]),
            cpu=cpu_model(), cores=os.cpu_count() or 0, kernel=platform.release(),
            cert_error=None if self.cert else self.cert_error, rerun=rerun_command(self.args))

    def output_dir(self) -> Path:
        if self.args.out:
            out = Path(self.args.out)
        elif self.args.quick:
            return Path(tempfile.mkdtemp(prefix="httperf-quick-", dir=self._tmp_base()))
        else:
            base = HERE / "results" / self.started.strftime("%Y-%m-%d")
            out, i = base, 2
            while out.exists():
                out, i = base.with_name(f"{base.name}-{i}"), i + 1
        out.mkdir(parents=True, exist_ok=True)
        return out

    def cleanup(self) -> None:
        for srv in self.servers:
            srv.stop()
        for pgid in list(LIVE_GROUPS):
            kill_group(pgid, signal.SIGKILL)
        if not self.args.keep:
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            log(f"kept the scratch dir: {self.scratch}")


def write_outputs(run: RunRecord, machine: bool = True) -> None:
    """results.csv, the charts, report.md and (for a live run) machine.md into run.out."""
    out = run.out
    if machine:
        write_csv(out / "results.csv", run.started.isoformat(timespec="seconds"), run.results)
        (out / "machine.md").write_text(machine_md(run))
    charts = chart.draw_all(run)
    for old in out.glob("chart*.svg"):  # a chart this run did not draw must not linger
        old.unlink()
    for file, _, svg in charts:
        (out / file).write_text(svg)
    (out / "report.md").write_text(report_md(run, [(f, q) for f, q, _ in charts]))


def rerun_command(args: argparse.Namespace) -> str:
    cmd = "httperf/run"
    if args.quick:
        cmd += " --quick"
    if args.stages is not None:
        cmd += " --stages " + (",".join(args.stages) or "none")
    if args.servers is not None:
        cmd += " --servers " + (",".join(args.servers) or "none")
    if args.scenarios:
        cmd += " --scenarios " + ",".join(str(g) for g in args.scenarios)
    if args.rounds:
        cmd += f" --rounds {args.rounds}"
    return cmd


def report_only(folder: Path) -> int:
    """Draws report.md and the charts of a finished run again from its files; results.csv and
    machine.md stay as the run wrote them."""
    try:
        run = record_from_dir(folder)
    except HarnessError as e:
        log(str(e))
        return 2
    write_outputs(run, machine=False)
    log(f"report-only: {folder}/report.md and chart-*.svg drawn from results.csv "
        f"({len(run.results)} rows, {len(run.servers)} servers)")
    print(folder)
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="httperf/run",
        description=f"Benchmark every stage side by side with {peer_titles()} "
                    "(see httperf/README.md).")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: one round, tiny counts, about a minute; writes into a "
                         "scratch dir unless --out is given")
    ap.add_argument("--out", metavar="DIR",
                    help="where to write the results (default: httperf/results/DATE/ for a full "
                         "run, a new temp dir for --quick)")
    ap.add_argument("--stages", metavar="LIST", type=_list,
                    help="stages to measure, e.g. stage01,stage05 ('none' for none; default all "
                         "in stages/)")
    ap.add_argument("--servers", metavar="LIST", type=_list,
                    help=f"reference servers among {','.join(PEERS)} ('none' for none; "
                         f"default {','.join(REFERENCE_SERVERS)}; ratios need nginx)")
    ap.add_argument("--scenarios", metavar="LIST", type=_groups,
                    help="scenario numbers to run, e.g. 4,5,7 (default all: "
                         f"{','.join(map(str, scenario_numbers()))}; 8, CPU and memory, rides "
                         "along every run)")
    ap.add_argument("--rounds", type=int, metavar="N", help="rounds (default: 2, quick 1)")
    ap.add_argument("--base-port", type=int, default=21080, metavar="PORT",
                    help="first port to try for the servers (default 21080)")
    ap.add_argument("--no-install", action="store_true", help="never apt-get install")
    ap.add_argument("--no-build", action="store_true",
                    help="use the release binaries already in target/release")
    ap.add_argument("--no-calibrate", action="store_true",
                    help="skip measuring nginx's sendfile on/off per workload (use off for "
                         "the 1 KB file, on for the large ones)")
    ap.add_argument("--strict", action="store_true",
                    help="exit with status 1 when any cell is FAIL (for CI)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the scratch dir (configs, server logs, strace tables)")
    ap.add_argument("--report-only", metavar="DIR",
                    help="measure nothing: draw report.md and the charts of the run in DIR again "
                         "from its results.csv, machine.md and report.md")
    ap.add_argument("--plan", action="store_true",
                    help="measure nothing: print how long the run these options ask for would "
                         "take, estimated from the scenarios' sizes")
    args = ap.parse_args(argv)
    if args.servers is not None:
        bad = set(args.servers) - set(PEERS)
        if bad:
            ap.error(f"--servers: unknown {', '.join(sorted(bad))} "
                     f"(choose from {', '.join(PEERS)})")
    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be at least 1")
    return args


def _list(text: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    return [] if items == ["none"] else items


def _groups(text: str) -> list[int]:
    try:
        groups = [int(x) for x in _list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError("scenario numbers, e.g. 1,4,7") from None
    known = scenario_numbers()
    if any(g not in known for g in groups):
        raise argparse.ArgumentTypeError(
            "scenarios are numbered " + ", ".join(map(str, known))
            + " (8, CPU and memory, is measured along every run)")
    return groups


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.report_only:
        return report_only(Path(args.report_only))
    if args.plan:
        return plan(args)
    harness = Harness(args)

    def on_signal(signum, frame):
        raise KeyboardInterrupt  # unwinds to the cleanup below, which stops every server

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        return harness.run()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        harness.cleanup()


def peer_caps(name: str) -> frozenset[str]:
    """What the peer of this name in PEERS claims (its options' `caps`, else its kind's)."""
    cls, kw = PEERS[name]
    return kw.get("caps", cls.caps)


def plan(args: argparse.Namespace) -> int:
    """--plan: the servers this run would measure (no build, no start) and its planned time."""
    h = Harness(args)
    try:
        stages = h.discover_stages()
        caps = [STAGE_CAPS.get(n, NEWER_STAGE_CAPS) for n in stages]
        caps += [peer_caps(n) for n in h.reference_names()]
        secs = plan_seconds(h.profile, h.scenarios, caps, calibrate=not h.calibration_skipped())
        print(f"{'quick' if args.quick else 'full'} run, {h.profile.rounds} round(s), "
              f"{len(caps)} servers ({', '.join(stages + h.reference_names())}), "
              f"{len(h.scenarios)} scenarios: about {secs / 60:.1f} minutes of measuring "
              f"({secs:.0f} s), plus installing and building what is missing")
    finally:
        h.cleanup()
    return 0
