"""The scenarios: what is asked of every server, how big each run is, and what the book asks.

This is the one place to add a scenario. A `Scenario` names the capability it needs (the
servers say which capabilities they have, in servers.py), the tool that measures it
(measure.py runs httperf, wrk and strace) and its arguments; `FULL` and `QUICK` size it; a
`Question` draws it as a chart for a chapter; a `Target` checks it against DESIGN.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# =================================================================================================
# Capabilities: a scenario needs one; a server without it gets "n/a" (not zero) for that scenario.
#   close       answer a request, then close (HTTP/1.0 style): every plain-HTTP server
#   keep-alive  several requests on one connection, one after another
#   pipelining  several requests sent at once on one connection, answered in order
#   tls         keep-alive over HTTPS (TLS 1.2/1.3), with the harness's certificate (scenario 9)
#   h2          HTTP/2 over TLS, ALPN h2, on the TLS port (scenario 10, h2load)
#   h2c         HTTP/2 over cleartext TCP with prior knowledge (scenario 11, h2load http://)
# =================================================================================================
CLOSE, KEEPALIVE, PIPELINE, TLS = "close", "keep-alive", "pipelining", "tls"
H2, H2C = "h2", "h2c"
# The report's capability table, left to right.
CAPS_IN_ORDER = (CLOSE, KEEPALIVE, PIPELINE, TLS, H2, H2C)
PLAIN_CAPS = frozenset({CLOSE, KEEPALIVE, PIPELINE})  # everything over plain HTTP/1
ALL_CAPS = PLAIN_CAPS | {TLS}  # everything over HTTP/1.x
H2_CAPS = frozenset({H2, H2C})  # HTTP/2, both ways
# How an n/a note names a capability: "no TLS", "no keep-alive", "no HTTP/2 over TLS".
CAP_NAMES = {TLS: "TLS", H2: "HTTP/2 over TLS", H2C: "HTTP/2 cleartext"}

BASELINE = "nginx"  # every ratio is to nginx with one worker

# The generated files (in the scratch copy of www/, never committed).
BENCH_FILES = {"1k": 1024, "100k": 100 * 1024, "10m": 10 * 1024 * 1024}


def bench_uri(key: str) -> str:
    return f"/bench/{key}.bin"


# =================================================================================================
# How big the runs are. Full: about 10-15 minutes on 2 cores for 9-11 servers (plan_seconds
# estimates it). Quick: one round, tiny counts, every code path (CI's smoke test).
# =================================================================================================
@dataclass(frozen=True)
class Profile:
    rounds: int
    rates: tuple[int, ...]  # scenario 1: connections per second
    rate_secs: float  # scenario 1: seconds at each rate
    persistent_conns: int  # scenario 2: connections of 10 calls each
    burst_conns: int  # scenario 3: connections of 10 calls in one burst
    wsess: tuple[int, int]  # scenario 3: (sessions, sessions per second)
    wrk_secs: int  # scenarios 4, 5, 6, 9
    strace_close: int  # scenario 7: connections of one request
    strace_keepalive: tuple[int, int]  # scenario 7: (connections, calls each)
    calibrate_secs: int  # nginx sendfile on/off check
    httperf_timeout: float  # httperf --timeout: a call making no progress this long is an error
    # Scenarios 10, 11: h2load runs this many seconds (-D); 0 means a fixed count instead,
    # h2load_requests (-n: the quick run's few requests, done in a fraction of a second).
    h2load_secs: int = 2
    h2load_requests: int = 0


FULL = Profile(
    rounds=2,
    rates=(1000, 2500, 5000),
    rate_secs=2.0,
    persistent_conns=2000,
    burst_conns=1000,
    wsess=(2000, 1000),
    wrk_secs=4,
    strace_close=1000,
    strace_keepalive=(20, 100),
    calibrate_secs=2,
    httperf_timeout=5.0,
    h2load_secs=2,
)
QUICK = Profile(
    rounds=1,
    rates=(1000,),
    rate_secs=0.25,
    persistent_conns=60,
    burst_conns=60,
    wsess=(60, 300),
    wrk_secs=1,
    strace_close=100,
    strace_keepalive=(5, 20),
    calibrate_secs=1,
    httperf_timeout=3.0,
    h2load_secs=0,
    h2load_requests=2000,
)

WRK_KEEPALIVE_CONNS = 50  # scenarios 4, 5 and 9
PIPELINE_DEPTH = 16  # scenario 5, as in TechEmpower's plaintext test
BIG_FILE_CONNS = 4  # scenario 6
WRK_THREADS = 1  # one client thread leaves the other core to the server (2-core machine)
# Scenarios 10 and 11 (h2load, one thread like wrk): 50 connections of 10 streams each, one
# connection of 100 (deep multiplexing: 100 is the streams most servers allow at once), and
# the 10 MiB file on BIG_FILE_CONNS connections, one stream each.
H2_CONNS, H2_STREAMS = 50, 10
H2_DEEP_STREAMS = 100


@dataclass(frozen=True)
class Scenario:
    key: str  # stable id in results.csv
    group: int  # the scenario number (1..7, 9; 8 is the CPU and RSS that ride along every run)
    title: str  # for the report
    label: str  # short, for a chart's title
    needs: str  # the capability it needs
    unit: str  # of the headline number
    tool: str  # httperf | wrk | strace | h2load
    opts: dict = field(default_factory=dict, hash=False, compare=False)
    higher_is_better: bool = True
    first_round_only: bool = False  # deterministic counts need no repeat
    workload: str = "small"  # which of nginx's measured sendfile choices applies (SENDFILE_WORKLOADS)
    # The client offers a fixed rate: a server that keeps up answers exactly that many per
    # second, so the rate column is flat (1.00x) and the report compares CPU and latency instead.
    paced: bool = False


# nginx's sendfile setting is measured per workload before the run (see calibrate_nginx_sendfile
# in main.py) and nginx is restarted with the right one when the workload changes:
#   small      the 1 KB file, one request in flight per connection (scenarios 1, 2, 4, 7; also 9,
#              where sendfile does not apply: over TLS nginx encrypts through OpenSSL, so the
#              setting only spares nginx a restart)
#   pipelined  the 1 KB file, pipelined (scenarios 3, 5): nginx with sendfile and tcp_nopush can
#              stall pipelined small responses, so this gets its own measurement
#   large      the 100 KB and 10 MiB files (scenario 6)
SENDFILE_WORKLOADS = {
    # workload: (what is measured, file, wrk connections, pipeline depth, unit)
    "small": ("1 KB file, wrk keep-alive", "1k", WRK_KEEPALIVE_CONNS, 1, "req/s"),
    "pipelined": ("1 KB file, wrk pipelined", "1k", WRK_KEEPALIVE_CONNS, PIPELINE_DEPTH, "req/s"),
    "large": ("10 MiB file, wrk", "10m", BIG_FILE_CONNS, 1, "MB/s"),
}
SENDFILE_DEFAULT = {"small": "off", "pipelined": "off", "large": "on"}


def scenarios_for(p: Profile) -> list[Scenario]:
    """Every scenario, in the order they run and are reported. Add one here."""
    s: list[Scenario] = []
    for rate in p.rates:
        s.append(Scenario(
            f"1-conn-per-request-{rate}", 1,
            f"1. Connection per request at {rate}/s (httperf, 1 KB)",
            f"connection per request at {rate:,}/s", CLOSE, "replies/s", "httperf",
            {"args": ["--num-conns", str(max(1, int(rate * p.rate_secs))), "--rate", str(rate)],
             "file": "1k", "expect": int(rate * p.rate_secs)}, paced=True))
    n = p.persistent_conns
    s.append(Scenario(
        "2-persistent-10-calls", 2, "2. Persistent sessions: 10 calls per connection (httperf, 1 KB)",
        "persistent, 10 calls per connection", KEEPALIVE, "replies/s", "httperf",
        {"args": ["--num-conns", str(n), "--num-calls", "10"], "file": "1k", "expect": n * 10}))
    n = p.burst_conns
    s.append(Scenario(
        "3-pipelined-burst-10", 3,
        "3. Pipelined bursts: 10 calls sent at once per connection (httperf --burst-length 10, 1 KB)",
        "pipelined bursts of 10", PIPELINE, "replies/s", "httperf",
        {"args": ["--num-conns", str(n), "--num-calls", "10", "--burst-length", "10"],
         "file": "1k", "expect": n * 10}, workload="pipelined"))
    sessions, rate = p.wsess
    s.append(Scenario(
        "3-wsess-burst-10", 3,
        f"3. Sessions: {sessions} sessions at {rate}/s, 10 calls each in one burst "
        "(httperf --wsess, 1 KB)",
        f"sessions at {rate:,}/s, bursts of 10", PIPELINE, "replies/s", "httperf",
        {"args": ["--wsess", f"{sessions},10,0", "--burst-length", "10", "--rate", str(rate)],
         "file": "1k", "expect": sessions * 10}, workload="pipelined", paced=True))
    s.append(Scenario(
        "4-wrk-keepalive-c50", 4,
        f"4. wrk keep-alive, {WRK_KEEPALIVE_CONNS} connections, 1 KB file",
        f"wrk keep-alive, {WRK_KEEPALIVE_CONNS} connections", KEEPALIVE, "req/s", "wrk",
        {"conns": WRK_KEEPALIVE_CONNS, "depth": 1, "file": "1k", "metric": "req/s"}))
    s.append(Scenario(
        "5-wrk-pipeline-16", 5,
        f"5. wrk pipelined, depth {PIPELINE_DEPTH}, {WRK_KEEPALIVE_CONNS} connections, 1 KB "
        "(TechEmpower plaintext style)",
        f"wrk pipelined, depth {PIPELINE_DEPTH}", PIPELINE, "req/s", "wrk",
        {"conns": WRK_KEEPALIVE_CONNS, "depth": PIPELINE_DEPTH, "file": "1k", "metric": "req/s"},
        workload="pipelined"))
    s.append(Scenario(
        "6-throughput-100k", 6, f"6. Throughput, 100 KB file, {BIG_FILE_CONNS} connections (wrk)",
        "100 KB file", CLOSE, "MB/s", "wrk",
        {"conns": BIG_FILE_CONNS, "depth": 1, "file": "100k", "metric": "MB/s"}, workload="large"))
    s.append(Scenario(
        "6-throughput-10m", 6, f"6. Throughput, 10 MiB file, {BIG_FILE_CONNS} connections (wrk)",
        "10 MiB file", CLOSE, "MB/s", "wrk",
        {"conns": BIG_FILE_CONNS, "depth": 1, "file": "10m", "metric": "MB/s"}, workload="large"))
    n = p.strace_close
    s.append(Scenario(
        "7-syscalls-conn-per-request", 7,
        f"7. Syscalls per request, connection per request ({n} requests, strace -c -f)",
        "connection per request", CLOSE, "syscalls/req", "strace",
        {"args": ["--num-conns", str(n)], "file": "1k", "expect": n},
        higher_is_better=False, first_round_only=True))
    conns, calls = p.strace_keepalive
    s.append(Scenario(
        "7-syscalls-keepalive", 7,
        f"7. Syscalls per request, keep-alive ({conns} connections x {calls} calls, strace -c -f)",
        "keep-alive, one request in flight", KEEPALIVE, "syscalls/req", "strace",
        {"args": ["--num-conns", str(conns), "--num-calls", str(calls)], "file": "1k",
         "expect": conns * calls},
        higher_is_better=False, first_round_only=True))
    # 9: as scenario 4, over HTTPS (wrk does not verify the certificate). Scenario 8 is not a
    # run of its own: it is the CPU and RSS measured along every run above.
    s.append(Scenario(
        "9-tls-keepalive-c50", 9,
        f"9. TLS keep-alive, {WRK_KEEPALIVE_CONNS} connections, 1 KB file (wrk over https)",
        f"TLS keep-alive, {WRK_KEEPALIVE_CONNS} connections", TLS, "req/s", "wrk",
        {"conns": WRK_KEEPALIVE_CONNS, "depth": 1, "file": "1k", "metric": "req/s"}))
    # 10 and 11: HTTP/2 with h2load, over TLS (ALPN h2) and over cleartext (prior knowledge).
    # Each run also reports h2load's header "space savings": how well HPACK compressed. In the
    # first round only, 2 s each: with them the full run must still plan under 15 minutes
    # (test_scenarios.Plan), and two more rounds of 18 cells would break that.
    for group, cap, over, tls in ((10, H2, "over TLS", True), (11, H2C, "cleartext", False)):
        proto = "h2" if tls else "h2c"
        s.append(Scenario(
            f"{group}-{proto}-c{H2_CONNS}-m{H2_STREAMS}", group,
            f"{group}. HTTP/2 {over}, {H2_CONNS} connections x {H2_STREAMS} streams, 1 KB file "
            "(h2load)",
            f"HTTP/2 {over}, {H2_CONNS} x {H2_STREAMS} streams", cap, "req/s", "h2load",
            {"conns": H2_CONNS, "streams": H2_STREAMS, "file": "1k", "metric": "req/s",
             "tls": tls}, first_round_only=True))
        s.append(Scenario(
            f"{group}-{proto}-c1-m{H2_DEEP_STREAMS}", group,
            f"{group}. HTTP/2 {over}, 1 connection x {H2_DEEP_STREAMS} streams, 1 KB file (h2load)",
            f"HTTP/2 {over}, 1 x {H2_DEEP_STREAMS} streams", cap, "req/s", "h2load",
            {"conns": 1, "streams": H2_DEEP_STREAMS, "file": "1k", "metric": "req/s",
             "tls": tls}, first_round_only=True))
        s.append(Scenario(
            f"{group}-{proto}-10m", group,
            f"{group}. HTTP/2 {over}, 10 MiB file, {BIG_FILE_CONNS} connections (h2load)",
            f"HTTP/2 {over}, 10 MiB file", cap, "MB/s", "h2load",
            {"conns": BIG_FILE_CONNS, "streams": 1, "file": "10m", "metric": "MB/s", "tls": tls},
            workload="large", first_round_only=True))
    return s


def scenario_numbers() -> list[int]:
    """The numbers --scenarios accepts (8 is not one: it rides along every run)."""
    return sorted({sc.group for sc in scenarios_for(FULL)})


# =================================================================================================
# The questions the book's chapters ask of a run: one small chart each (chart.py draws them,
# report.md links them, the chapters include them). `scenarios` are key prefixes: the last
# scenario of the run that starts with one is drawn (so "1-conn-per-request-" is the highest
# rate), one bar group per prefix. `metric`: "ratio" (the headline number over nginx's),
# "cpu" (server CPU microseconds per request over nginx's: for paced scenarios, where the
# rate is flat) or "value" (the headline number, over nginx's, for counts like syscalls).
# =================================================================================================
@dataclass(frozen=True)
class Question:
    slug: str  # the chart's file: chart-SLUG.svg
    title: str  # the question, as the chapter asks it
    scenarios: tuple[str, ...]
    metric: str  # ratio | cpu | value
    highlight: str  # the stage of the chapter that asks it
    chapter: str  # the book chapter that includes it


QUESTIONS = [
    Question("connection-cost", "A new connection per request: what does each one cost?",
             ("1-conn-per-request-",), "cpu", "stage01", "stage01.md"),
    Question("keepalive", "Keep-alive: which model wins?", ("4-wrk-keepalive-c50",), "ratio",
             "stage02", "stage02.md"),
    Question("pipelining", "Pipelining: what does answering a batch at once buy?",
             ("5-wrk-pipeline-16",), "ratio", "stage03", "stage03.md"),
    Question("thread-pool", "A pool instead of a thread per connection: what does it save?",
             ("1-conn-per-request-",), "cpu", "stage04", "stage04.md"),
    Question("event-loop", "One thread and epoll against threads: keep-alive",
             ("4-wrk-keepalive-c50",), "ratio", "stage05", "stage05.md"),
    Question("syscalls", "System calls per request: where does the time go?",
             ("7-syscalls-conn-per-request", "7-syscalls-keepalive"), "value", "stage05",
             "stage05.md"),
    Question("big-files", "Big files: who copies bytes fastest?",
             ("6-throughput-100k", "6-throughput-10m"), "ratio", "stage05", "stage05.md"),
    Question("tls", "TLS: what does encryption cost, and who pays it?",
             ("9-tls-keepalive-c50",), "ratio", "stage06", "stage06.md"),
    Question("http2", "HTTP/2 over TLS: many streams on few connections",
             ("10-h2-c50-m10", "10-h2-c1-m100", "10-h2-10m"), "ratio", "stage07", "stage07.md"),
    # Issue 15: stage09's 2 workers against the servers that use both cores (nginx-auto,
    # h2o-2, static-web-server), on the rows of its two 1.2x targets.
    Question("production", "Two workers: against servers that use every core",
             ("4-wrk-keepalive-c50", "10-h2-c50-m10"), "ratio",
             "stage09", "stage09.md"),
]


# =================================================================================================
# The targets of DESIGN.md section 9 (and of issue 13 for HTTP/2) that one run can check:
# (label, scenario key, server, goal, how, against): "ratio" is met at or above the goal, the
# ratio taken to `against` (nginx unless it says otherwise); "max" at or below the goal;
# "savings" when the server's header space savings (h2load) are at least `against`'s;
# "every": the server at or above `goal` times every peer of the run (EVERY_PEER) in every
# scenario the server's other targets do not name (a ratio turned round where fewer is better).
# =================================================================================================
@dataclass(frozen=True)
class Target:
    label: str
    scenario: str
    server: str
    goal: float
    how: str  # ratio | max | savings | every
    against: str = BASELINE


EVERY_PEER = "every peer"  # the `against` of an "every" target


TARGETS = [
    Target("stage05 keep-alive small file >= 1.2x nginx", "4-wrk-keepalive-c50", "stage05", 1.2,
           "ratio"),
    Target("stage05 pipelined depth 16 >= 5x nginx", "5-wrk-pipeline-16", "stage05", 5.0, "ratio"),
    Target("stage05 <= 3.5 syscalls per keep-alive request", "7-syscalls-keepalive", "stage05", 3.5,
           "max"),
    Target("stage06 TLS keep-alive >= 0.8x nginx", "9-tls-keepalive-c50", "stage06", 0.8, "ratio"),
    Target("stage07 HTTP/2 small file over TLS >= 1.0x h2o", "10-h2-c50-m10", "stage07", 1.0,
           "ratio", "h2o"),
    Target("stage07 HTTP/2 10 MiB over TLS >= 0.9x h2o", "10-h2-10m", "stage07", 0.9, "ratio",
           "h2o"),
    Target("stage07 header space savings >= h2o's", "10-h2-c50-m10", "stage07", 0.0, "savings",
           "h2o"),
    # Issue 15 item 7: stage09 with 2 workers against nginx-auto (one worker per core) and the
    # other multi-core peers (`--servers nginx,nginx-auto,h2o-2,lighttpd,static-web-server`).
    Target("stage09 keep-alive small file >= 1.2x nginx-auto", "4-wrk-keepalive-c50", "stage09",
           1.2, "ratio", "nginx-auto"),
    Target("stage09 HTTP/2 small file over TLS >= 1.2x nginx-auto", "10-h2-c50-m10", "stage09",
           1.2, "ratio", "nginx-auto"),
    Target("stage09 <= 3.5 syscalls per keep-alive request", "7-syscalls-keepalive", "stage09",
           3.5, "max"),
    Target("stage09 >= 1.0x every peer on every other row", "*", "stage09", 1.0, "every",
           EVERY_PEER),
]


# =================================================================================================
# How long a run takes, planned from the profile alone (no measurement): each cell is its load
# (the fixed rate's seconds, wrk's seconds, or the requests at a pessimistic pace) plus the
# readiness check, the client's start and the /proc readings around it.
# =================================================================================================
PACE_FLOOR = 4000  # requests/s: below the slowest server's unpaced httperf rate in the published run
CELL_OVERHEAD = 0.5  # seconds per cell: the check, the client's start, /proc (published run: ~0.2)
STRACE_SLOWDOWN = 5  # a traced server answers several times slower


def cell_seconds(sc: Scenario, p: Profile) -> float:
    """The planned seconds of one measurement of one server."""
    if sc.tool == "wrk":
        return p.wrk_secs + CELL_OVERHEAD
    if sc.tool == "h2load":
        return (p.h2load_secs or p.h2load_requests / PACE_FLOOR) + CELL_OVERHEAD
    expect = sc.opts["expect"]
    if sc.paced:
        args = sc.opts["args"]
        rate = int(args[args.index("--rate") + 1])
        per = 10 if "--wsess" in args else 1  # --wsess's rate is of sessions of 10 calls
        return expect / (rate * per) + CELL_OVERHEAD
    secs = expect / PACE_FLOOR
    if sc.tool == "strace":
        secs = secs * STRACE_SLOWDOWN + 1.5  # attaching to every thread, then the table
    return secs + CELL_OVERHEAD


def plan_seconds(p: Profile, scenarios: list[Scenario], caps: list[frozenset[str]],
                 calibrate: bool = True) -> float:
    """Planned seconds for a run of servers with these capabilities: every cell a server can
    do in every round (an n/a costs nothing), the nginx sendfile calibration, and the starts."""
    total = 0.0
    for rnd in range(p.rounds):
        for sc in scenarios:
            if rnd > 0 and sc.first_round_only:
                continue
            total += sum(cell_seconds(sc, p) for c in caps if sc.needs in c)
    if calibrate:  # off and on, three workloads each, twice (once in quick mode), nginx's start
        reps = 1 if p.rounds == 1 else 2
        total += reps * 2 * (len(SENDFILE_WORKLOADS) * (p.calibrate_secs + 0.5) + 1)
    return total + len(caps) * 1.0  # start and first check of each server
