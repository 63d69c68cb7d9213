"""Runs each service as its own uvicorn process (or `workers` of them on one port) and restarts one that dies.

A `crash` fault kills a service process hard (os._exit); recovery is only real if something brings the
process back, as a process manager would in production. `lastunit up` starts this supervisor detached;
`down` sends it SIGTERM and it stops its children. Usage: python -m reference_impl.supervisor CONFIG.json
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

#: A child's death wakes the supervisor at once (SIGCHLD); without one it still looks this often.
IDLE_S = 5.0
#: A service that dies this many times in a minute is left down (and reported), not restarted in a loop.
MAX_RESTARTS_PER_MIN = 30


def _spawn(name: str, spec: dict, logs: Path) -> subprocess.Popen:
    log = open(logs / f"{name.split('#')[0]}.log", "ab")  # noqa: SIM115 - the child owns it
    cmd = [sys.executable, "-m", "reference_impl.infra.serve", spec["app"], "--port", str(spec["port"])]
    return subprocess.Popen(cmd, env=os.environ | spec.get("env", {}), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)


def _processes(services: dict) -> dict[str, dict]:
    """One entry per process: a service's first process by its name, the others as name#2, name#3, ..."""
    return {name if k == 1 else f"{name}#{k}": spec
            for name, spec in services.items() for k in range(1, int(spec.get("workers", 1)) + 1)}


def _write_status(path: Path, procs: dict, restarts: dict) -> None:
    """Each service's pids and how often its processes were restarted since the supervisor started (a total:
    a test compares it before and after a fault; a count over the last minute can go down meanwhile)."""
    status = {}
    for n, p in procs.items():
        entry = status.setdefault(n.split("#")[0], {"pid": p.pid, "pids": [], "restarts": 0})
        entry["pids"].append(p.pid)
        entry["restarts"] += restarts[n]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status))
    tmp.replace(path)


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    logs = Path(config["logs"])
    logs.mkdir(parents=True, exist_ok=True)
    status_path = Path(config["status"])
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    wake_r, wake_w = os.pipe()           # every signal below writes a byte here: SIGCHLD wakes the loop
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    specs = _processes(config["services"])
    procs = {name: _spawn(name, spec, logs) for name, spec in specs.items()}
    recent: dict[str, list[float]] = {name: [] for name in procs}
    restarts = dict.fromkeys(procs, 0)
    _write_status(status_path, procs, restarts)
    while not stopping:
        if select.select([wake_r], [], [], IDLE_S)[0]:
            os.read(wake_r, 512)
        for name, proc in list(procs.items()):
            if proc.poll() is None or stopping:
                continue
            now = time.monotonic()
            recent[name] = [t for t in recent[name] if now - t < 60]
            if len(recent[name]) >= MAX_RESTARTS_PER_MIN:
                continue
            recent[name].append(now)
            restarts[name] += 1
            procs[name] = _spawn(name, specs[name], logs)
            _write_status(status_path, procs, restarts)
    for proc in procs.values():
        proc.terminate()
    deadline = time.monotonic() + 5
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main(sys.argv[1])
