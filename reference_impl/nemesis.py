"""The nemesis's real actions on the lab's processes (the names and the schedule: scenarios/nemesis.py).

Each action returns what it did, for the run's results: the pid it hit, and `recovered_s`, how long until
the target served again (measured with the lab's one bounded poll, since nothing signals a process's
return). Servers named by DATABASE_URL / REDIS_URL are not ours to kill: those events are recorded as
skipped.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from reference_impl import stack
from reference_impl.infra import supervised
from reference_impl.infra.procs import pid_alive, port_open, wait_for
from reference_impl.infra.servers import postgres as pg
from reference_impl.programs import SERVICE_START_TIMEOUT_S
from scenarios.nemesis import Event
from scenarios.paths import lab_home

#: A killed process that is not serving again within this is a failed recovery. A service starts in ~1-3 s
#: on an idle box; one killed while its supervisor is down comes back only with the supervisor, whose `up`
#: starts every program at once (~10 s idle, 86 s measured under a load average of 35).
RECOVER_TIMEOUT_S = 2 * SERVICE_START_TIMEOUT_S
#: The supervisor's children get this long to die with it (the kernel sends their SIGKILL at once).
ORPHAN_GRACE_S = 5.0
#: Events run concurrently (see lastunit/usecases/nemesis.py), but a PostgreSQL restart and the
#: supervisor's restart by `up` (which would start a cluster it finds down) must not overlap.
_SERVERS = threading.Lock()


def apply(event: Event) -> dict:
    """Do `event` now; returns {ok, pid, recovered_s, detail...}."""
    if event.target == "postgres":
        return _restart_postgres()
    if event.target == "supervisor":
        return _kill_supervisor()
    return _kill_supervised(event.target)


def _since(t0: float) -> float:
    return round(time.monotonic() - t0, 3)


def _kill_supervised(name: str) -> dict:
    """SIGKILL a service or the lab's Redis; its supervisor brings a new process up on the same port."""
    status = supervised.read_status(lab_home())
    if name not in status:
        return {"ok": False, "detail": f"{name} is not run by the lab's supervisor here (an external server?)"}
    pid, port = status[name]["pid"], status[name]["port"]
    t0 = time.monotonic()
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return {"ok": False, "pid": pid, "detail": f"{name} was not running (its supervisor down or restarting it)"}

    def back() -> int | None:
        new = supervised.read_status(lab_home()).get(name, {}).get("pid")
        return new if new not in (None, pid) and port_open(port) else None

    new_pid = wait_for(back, RECOVER_TIMEOUT_S, f"{name} after a kill")
    return {"ok": True, "pid": pid, "new_pid": new_pid, "recovered_s": _since(t0)}


def _kill_supervisor() -> dict:
    """SIGKILL the supervisor; its children must die with it (an orphan is recorded and fails the event).
    Then `up` does what init would: starts it again, with Redis and the services on their old ports."""
    pid = stack.load_state().get("services", {}).get("supervisor_pid")
    if not pid_alive(pid):
        return {"ok": False, "detail": "no supervisor is running"}
    children = {n: s["pid"] for n, s in supervised.read_status(lab_home()).items()}
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    try:
        wait_for(lambda: not pid_alive(pid) and not any(pid_alive(c) for c in children.values()),
                 ORPHAN_GRACE_S, "the supervisor's children to die with it")
    except TimeoutError:
        pass
    orphans = sorted(n for n, c in children.items() if pid_alive(c))
    gone_s = _since(t0)
    with _SERVERS:
        stack.up()
    return {"ok": not orphans, "pid": pid, "children_gone_s": gone_s, "orphans": orphans,
            "recovered_s": _since(t0), "detail": f"orphans: {orphans}" if orphans else ""}


def _restart_postgres() -> dict:
    state = stack.load_state().get("postgres", {})
    if not state.get("managed"):
        return {"ok": False, "detail": "PostgreSQL is named by DATABASE_URL: not ours to restart"}
    cluster = stack.pg_cluster(state)
    pid = cluster.pid()
    t0 = time.monotonic()
    with _SERVERS:
        pg.restart_immediate(cluster)
    wait_for(lambda: stack.probe_pg(state["url"]), RECOVER_TIMEOUT_S, "PostgreSQL after a restart")
    return {"ok": True, "pid": pid, "new_pid": cluster.pid(), "recovered_s": _since(t0)}
