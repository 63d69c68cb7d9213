"""Small process helpers shared by the server launchers and the supervisor."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: Detached servers outlive the Popen object that started them; holding it here keeps Python from warning
#: that a child is "still running" when the object would be collected. `lastunit down` stops them by pid.
_DETACHED: list[subprocess.Popen] = []


def spawn_detached(cmd: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """Start a long-lived server in its own session (so Ctrl-C on the CLI does not reach it)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                start_new_session=True)
    _DETACHED.append(proc)
    return proc


#: Ports handed out to any lab on this machine, with when: a service restarting after a crash frees its
#: port for a moment, and a second stack starting then (make test runs several) took it; both bind with
#: SO_REUSEPORT, so the kernel split the gateway's connections with another service (404s). A port handed
#: out within PORT_MEMORY_S is never handed out again.
PORT_REGISTRY = Path(tempfile.gettempdir()) / "lastunit-ports"
PORT_MEMORY_S = 7 * 24 * 3600.0


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port() -> int:
    """A port nobody listens on right now on 127.0.0.1 (the kernel picks it) and no lab was given lately
    (a registry another user's lab owns and we cannot open: the kernel's pick alone)."""
    try:
        reg = open(PORT_REGISTRY, "a+")  # noqa: SIM115 - held for the whole pick, closed below
    except OSError:
        return _kernel_port()
    with reg:
        fcntl.flock(reg, fcntl.LOCK_EX)
        reg.seek(0)
        now, given = time.time(), {}
        for line in reg.read().split():
            port, _, at = line.partition("@")
            with contextlib.suppress(ValueError):
                if now - float(at) < PORT_MEMORY_S:
                    given[int(port)] = float(at)
        for _ in range(100):
            port = _kernel_port()
            if port not in given:
                break
        given[port] = now
        reg.seek(0)
        reg.truncate()
        reg.write("".join(f"{p}@{at:.0f}\n" for p, at in given.items()))
        return port


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """The one way the lab waits on another process's state that sends no signal (a port opening, a
    process coming back, an index catching up): poll, bounded. Returns the predicate's truthy value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f}s")


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)
