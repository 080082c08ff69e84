"""Small tools every module shares: progress on stderr, the error that becomes a FAIL cell,
and commands run with a hard timeout in their own process group (killed when the harness
exits, even by SIGKILL). Nothing here knows about HTTP.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # httperf/
REPO = HERE.parent  # the workspace
CONF_DIR = HERE / "conf"  # the published config templates
WRK_SCRIPT = HERE / "pipeline.lua"  # wrk: pipelining (depth N) and the machine-readable summary

T0 = time.monotonic()


def log(msg: str) -> None:
    """Progress goes to stderr, with the elapsed time, as the run goes."""
    m, s = divmod(int(time.monotonic() - T0), 60)
    print(f"[{m:02d}:{s:02d}] {msg}", file=sys.stderr, flush=True)


class HarnessError(Exception):
    """A failure that becomes a FAIL cell (with this message) rather than a crash."""


LIVE_GROUPS: set[int] = set()  # process groups of commands running now, killed on exit
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: if the harness dies (even by SIGKILL), so does this process."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        pass


def kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_pid(pid: int, timeout: float):
    """Waits for a child up to `timeout` seconds; returns (status, rusage) or None if still running.
    A pidfd makes the wait sleep in the kernel instead of polling."""
    deadline = time.monotonic() + timeout
    pidfd = None
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pass
    try:
        while True:
            got, status, ru = os.wait4(pid, os.WNOHANG)
            if got:
                return status, ru
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if pidfd is not None:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll(max(1, int(min(left, 1.0) * 1000)))
            else:
                time.sleep(min(left, 0.02))
    finally:
        if pidfd is not None:
            os.close(pidfd)


@dataclass
class Ran:
    rc: int | None  # None: killed at the timeout
    out: str
    err: str
    secs: float
    cpu: float  # the command's own user + system CPU seconds
    timed_out: bool


def run_cmd(cmd: list[str], timeout: float, *, cwd: Path | None = None, env: dict | None = None,
            interrupt_first: bool = False) -> Ran:
    """Runs a command with a hard timeout, in its own process group, and measures its CPU time.
    At the timeout: SIGINT first when asked (httperf prints its statistics on SIGINT), then
    SIGKILL to the whole group. A missing program is a HarnessError, not a crash."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.monotonic()
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd,
                                 env=env, start_new_session=True, preexec_fn=die_with_parent)
        except OSError as e:
            raise HarnessError(f"cannot run {cmd[0]}: {e.strerror}") from None
        LIVE_GROUPS.add(p.pid)
        timed_out = False
        try:
            got = wait_pid(p.pid, timeout)
            if got is None:
                timed_out = True
                if interrupt_first:
                    kill_group(p.pid, signal.SIGINT)
                    got = wait_pid(p.pid, 3)
                if got is None:
                    kill_group(p.pid, signal.SIGKILL)
                    got = wait_pid(p.pid, 10)
        finally:
            LIVE_GROUPS.discard(p.pid)
            kill_group(p.pid, signal.SIGKILL)  # anything it left behind in its group
        secs = time.monotonic() - t
        p.returncode = -9  # reaped above with wait4; keep Popen from waiting again
        rc, cpu = None, 0.0
        if got is not None:
            status, ru = got
            rc = os.waitstatus_to_exitcode(status)
            cpu = ru.ru_utime + ru.ru_stime
        if timed_out:
            rc = None
        out.seek(0)
        err.seek(0)
        return Ran(rc, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                   secs, cpu, timed_out)


def find_program(name: str) -> str | None:
    """Like `which`, but also looks in the sbin folders (nginx, apache2 live there)."""
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def free_port(start: int, taken: set[int]) -> int:
    """The first port from `start` that nobody listens on (and that we have not handed out)."""
    port = start
    while port < 65000:
        if port not in taken:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                    taken.add(port)
                    return port
                except OSError:
                    pass
        port += 1
    raise HarnessError("no free port")


def apt_install(pkgs: list[str]) -> None:
    """apt-get install, without letting the packages start their services; a failure is
    logged, not raised: the caller finds out when the program is still missing."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends",
               "-o", "DPkg::Lock::Timeout=120", *pkgs]
    # Debian's packages start their service on port 80 when installed; a policy-rc.d that
    # says no keeps them from it (only added when the machine has none).
    policy = Path("/usr/sbin/policy-rc.d")
    added_policy = False
    if not policy.exists():
        try:
            policy.write_text("#!/bin/sh\n# added by httperf/run for one apt-get\nexit 101\n")
            policy.chmod(0o755)
            added_policy = True
        except OSError:
            pass
    try:
        log(f"installing from Debian: {' '.join(pkgs)}")
        r = run_cmd(install, 900, env=env)
        if r.rc != 0:
            log("apt-get install failed; apt-get update once, then again")
            run_cmd(["apt-get", "update"], 600, env=env)
            r = run_cmd(install, 900, env=env)
        if r.rc != 0:
            tail = " | ".join((r.out + r.err).strip().splitlines()[-3:])
            log(f"apt-get install failed: {tail}")
    except HarnessError as e:
        log(f"apt-get: {e}")
    finally:
        if added_policy:
            policy.unlink(missing_ok=True)
