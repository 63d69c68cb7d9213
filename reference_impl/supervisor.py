"""Runs each service as its own uvicorn process and restarts one that dies.

A `crash` fault kills a service hard (os._exit); recovery is only real if something brings the process
back, as a process manager would in production. `lastunit up` starts this supervisor detached; `down` sends
it SIGTERM and it stops its children. Usage: python -m reference_impl.supervisor CONFIG.json
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
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
    cmd = [sys.executable, "-m", "reference_impl.infra.serve", spec["app"], "--port", str(spec["port"])]
    return subprocess.Popen(cmd, env=os.environ | spec.get("env", {}), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)


def _write_status(path: Path, procs: dict, restarts: dict) -> None:
    status = {n: {"pid": p.pid, "restarts": len(restarts[n])} for n, p in procs.items()}
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
    procs = {name: _spawn(name, spec, logs) for name, spec in config["services"].items()}
    restarts: dict[str, list[float]] = {name: [] for name in procs}
    _write_status(status_path, procs, restarts)
    while not stopping:
        if select.select([wake_r], [], [], IDLE_S)[0]:
            os.read(wake_r, 512)
        for name, proc in list(procs.items()):
            if proc.poll() is None or stopping:
                continue
            now = time.monotonic()
            restarts[name] = [t for t in restarts[name] if now - t < 60]
            if len(restarts[name]) >= MAX_RESTARTS_PER_MIN:
                continue
            restarts[name].append(now)
            procs[name] = _spawn(name, config["services"][name], logs)
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
