"""Runs the lab's processes (the private Redis, then each service as its own uvicorn) and restarts one that
dies; when the supervisor itself dies, they die with it.

A `crash` fault or a nemesis kills a process hard; recovery is only real if something brings it back, as a
process manager would in production. `lastunit up` starts this supervisor detached; `down` sends it SIGTERM
and it stops its children. Usage: python -m reference_impl.supervisor CONFIG.json

Why our own and not a kept process manager (weighed for issue 12): supervisord (`pip install supervisor`)
would bring a config format, an XML-RPC control socket, log rotation and start retries with backoff. It
does not bring the property the lab lacked: when supervisord is killed with SIGKILL its children keep
running, orphaned, and a new supervisord knows nothing of them (Supervisor/supervisor#168; the
PR_SET_PDEATHSIG proposal, #199, was closed unmerged) -- the very leak issue 12 found. We would still write
that part, plus a config generator and a reader of its RPC status, around a daemon much larger than this
module. So we keep ours and mend it:
- every child asks the kernel for SIGKILL when its parent dies (Linux `prctl(PR_SET_PDEATHSIG)`, set between
  fork and exec) and stays in the supervisor's process group, so `kill -9` of the supervisor takes the
  services and Redis with it and `down`'s group signal reaches them all;
- the status file names every child's real pid and port, which `status` and `down` act on;
- Redis is one of the children: restarted on the same port, with the same password and data directory.
Without prctl (not Linux) only the process group remains: `down` still stops everything, a SIGKILLed
supervisor leaves orphans that the next `up` stops by the pids in the status file.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reference_impl.infra.procs import port_open, wait_for

#: A program that dies this many times in a minute is left down (and reported), not restarted in a loop.
MAX_RESTARTS_PER_MIN = 30
#: While a program waits out that limit, look again this often.
RETRY_S = 1.0
#: A program marked `ready_first` (Redis) gets this long to open its port before the services start.
READY_TIMEOUT_S = 15.0
#: At shutdown children get this long after SIGTERM (uvicorn's graceful shutdown is 3 s), then SIGKILL.
STOP_GRACE_S = 5.0
#: What wakes the loop: a child's death, or the order to stop. Blocked, and waited for with sigtimedwait.
WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with(parent: int):
    """Runs in the child between fork and exec: SIGKILL when the parent dies, and the signals the parent
    blocks unblocked again (the mask is inherited across exec; uvicorn must hear SIGTERM)."""

    def preexec() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WATCHED)
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:   # the parent died before prctl took hold: no orphan, ever
                os._exit(1)

    return preexec


def _spawn(name: str, spec: dict, logs: Path) -> subprocess.Popen:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(spec["cmd"], env=os.environ | spec.get("env", {}), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, preexec_fn=_die_with(os.getpid()))


def _write_status(path: Path, procs: dict, restarts: dict, config: dict) -> None:
    status = {n: {"pid": p.pid, "port": config[n]["port"], "restarts": restarts[n]["count"]}
              for n, p in procs.items()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status))
    tmp.replace(path)


def _start_all(programs: dict, logs: Path) -> dict[str, subprocess.Popen]:
    procs = {}
    for name, spec in programs.items():
        procs[name] = _spawn(name, spec, logs)
        if spec.get("ready_first"):
            try:
                wait_for(lambda p=spec["port"], pr=procs[name]: port_open(p) or pr.poll() is not None,
                         READY_TIMEOUT_S, name)
            except TimeoutError:
                pass                     # the services will retry their connections; `up` reports it
    return procs


def _stop_all(procs: dict) -> None:
    for proc in procs.values():
        proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    programs, logs, status_path = config["programs"], Path(config["logs"]), Path(config["status"])
    logs.mkdir(parents=True, exist_ok=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    procs = _start_all(programs, logs)
    restarts = {n: {"count": 0, "recent": []} for n in procs}
    _write_status(status_path, procs, restarts, programs)
    timeout = None
    while True:
        got = signal.sigtimedwait(WATCHED, timeout) if timeout else signal.sigwaitinfo(WATCHED)
        if got is not None and got.si_signo != signal.SIGCHLD:
            break
        timeout = None
        now = time.monotonic()
        for name, proc in list(procs.items()):
            if proc.poll() is None:
                continue
            r = restarts[name]
            r["recent"] = [t for t in r["recent"] if now - t < 60]
            if len(r["recent"]) >= MAX_RESTARTS_PER_MIN:
                timeout = RETRY_S        # dying in a loop: look again later rather than spin
                continue
            r["recent"].append(now)
            r["count"] += 1
            procs[name] = _spawn(name, programs[name], logs)
            _write_status(status_path, procs, restarts, programs)
    _stop_all(procs)


if __name__ == "__main__":
    main(sys.argv[1])
