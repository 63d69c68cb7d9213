"""The supervisor as the stack sees it: the programs it runs, starting it, the real pids it reports, and
sweeping up whatever a dead supervisor left behind.

On Linux a supervisor's children die with it (see reference_impl/supervisor.py), so the sweep finds nothing;
it is there for the rest: a supervisor from before that rule, or a platform without prctl. Every program
carries `LAB_SUPERVISED=<lab home>` in its environment, so the sweep recognises the lab's processes by what
they are, not by pids that the system may have handed to someone else since.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from reference_impl.infra.procs import pid_alive, spawn_detached, wait_for

MARK = "LAB_SUPERVISED"
#: A leftover gets this long to go after SIGTERM (uvicorn's graceful shutdown is 3 s), then SIGKILL.
SWEEP_GRACE_S = 5.0


def config_path(home: Path) -> Path:
    return home / "supervisor.json"


def status_path(home: Path) -> Path:
    return home / "services.json"


def service_cmd(app: str, port: int, shared: bool = False) -> list[str]:
    """One service process: uvicorn on a socket of its own on `port` (infra/serve.py), sharing the port only
    when the service runs more than one process (`shared`)."""
    return [sys.executable, "-m", "reference_impl.infra.serve", app, "--port", str(port)] + (
        ["--reuse-port"] if shared else [])


def programs(home: Path, redis_cmd: list[str] | None, redis_port: int | None,
             services: dict[str, tuple[str, int, int]], env: dict[str, str]) -> dict:
    """Redis first (the services need it; the supervisor waits for its port), then every service: its first
    process by its name, more (`services[name][2]`, from LAB_WORKERS_<NAME>) as name#2, name#3 on one port."""
    mark = {MARK: str(home)}
    out = {}
    if redis_cmd:
        out["redis"] = {"cmd": redis_cmd, "port": redis_port, "env": mark, "ready_first": True}
    for name, (app, port, workers) in services.items():
        for k in range(1, workers + 1):
            out[name if k == 1 else f"{name}#{k}"] = {"cmd": service_cmd(app, port, workers > 1), "port": port, "env": env | mark}
    return out


def config(home: Path, progs: dict) -> dict:
    return {"programs": progs, "logs": str(home / "logs"), "status": str(status_path(home))}


def running_config(home: Path) -> dict | None:
    try:
        return json.loads(config_path(home).read_text())
    except (OSError, ValueError):
        return None


def start(home: Path, cfg: dict):
    path = config_path(home)
    path.write_text(json.dumps(cfg))
    path.chmod(0o600)
    status_path(home).unlink(missing_ok=True)
    return spawn_detached([sys.executable, "-m", "reference_impl.supervisor", str(path)], home / "supervisor.log")


def read_status(home: Path) -> dict:
    """name -> {pid, port, restarts}, as the supervisor last wrote it."""
    try:
        return json.loads(status_path(home).read_text())
    except (OSError, ValueError):
        return {}


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _is_redis(cmdline: bytes) -> bool:
    return os.path.basename(cmdline.split(b" ")[0].split(b"\0")[0]).startswith((b"redis-server", b"valkey-server"))


def _cwd(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def lab_pids(home: Path) -> list[int]:
    """Every live process the lab's supervisor runs or ran: marked in its environment, or the supervisor
    itself (its command names this lab's config), or the lab's Redis (which overwrites its environment with
    its process title, but works in its data directory). Never this process."""
    mark = f"{MARK}={home}".encode()
    conf = str(config_path(home)).encode()
    redis_dir = str(home / "redis")
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        cmdline = _read(f"/proc/{entry}/cmdline")
        ours = (mark in _read(f"/proc/{entry}/environ").split(b"\0") or conf in cmdline
                or (_is_redis(cmdline) and _cwd(entry) == redis_dir))
        if ours and pid_alive(int(entry)):
            found.append(int(entry))
    return sorted(set(found) | _listed(home))


def _listed(home: Path) -> set[int]:
    """The status file's pids still running the program it lists (their command names its port): the
    children of a supervisor from before the mark, which an upgrade must not leave behind."""
    out = set()
    for st in read_status(home).values():
        if not st.get("pid") or not st.get("port"):
            continue
        args = _read(f"/proc/{st['pid']}/cmdline").split(b"\0")
        if str(st["port"]).encode() in args and pid_alive(st["pid"]) and st["pid"] != os.getpid():
            out.add(st["pid"])
    return out


def sweep(home: Path) -> list[int]:
    """Stop whatever `lab_pids` finds (SIGTERM, then SIGKILL after SWEEP_GRACE_S); returns their pids."""
    pids = lab_pids(home)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            wait_for(lambda: not any(pid_alive(p) for p in pids), SWEEP_GRACE_S, "the lab's leftover processes")
            break
        except TimeoutError:
            continue
    return pids
