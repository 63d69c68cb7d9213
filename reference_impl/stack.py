"""Start, find and stop the lab's servers and services; the state lives in `.lab/state.json`.

Order of preference: servers named by `DATABASE_URL` / `REDIS_URL`; else a private cluster from the
machine's binaries; else the `embedded` extra's (`LAB_BINARIES=embedded` forces that, as on a machine
without PostgreSQL or Redis). `up` starts only what is missing, `down` stops only what `up` started.
PostgreSQL runs under pg_ctl; the private Redis and the services run under the supervisor
(reference_impl/supervisor.py), which restarts each on its own port when it dies.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis as redis_client

from reference_impl import programs
from reference_impl.infra import db, supervised
from reference_impl.infra.procs import pid_alive, port_open, stop_pid
from reference_impl.infra.run_config import clear_run
from reference_impl.infra.servers import postgres as pg
from reference_impl.programs import SERVICE_START_TIMEOUT_S, StackError, allow_system
from reference_impl.services import SERVICES
from scenarios.paths import lab_home


def _state_path() -> Path:
    return lab_home() / "state.json"


def load_state() -> dict:
    try:
        return json.loads(_state_path().read_text())
    except (OSError, ValueError):
        return {}


def _save(state: dict) -> None:
    path = _state_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


@contextmanager
def _locked():
    home = lab_home()
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    with open(home / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _pg_up(state: dict, fast: bool | None) -> dict:
    if os.environ.get("DATABASE_URL"):
        return {"managed": False, "url": os.environ["DATABASE_URL"], "source": "DATABASE_URL"}
    cur = state.get("postgres", {})
    if cur.get("managed") and pg_cluster(cur).alive():
        return cur
    fast = cur.get("fast", False) if fast is None else fast
    if cur.get("managed") and (Path(cur["home"]) / "data" / "PG_VERSION").exists():
        cluster = pg_cluster(cur)
    else:
        bindir, source = pg.find_bindir(allow_system())
        cluster = pg.init(pg.pg_home(lab_home()), bindir, source)
    pg.start(cluster, fast=fast)
    return {"managed": True, "url": cluster.url, "source": cluster.source, "home": str(cluster.home),
            "bindir": str(cluster.bindir), "port": cluster.port, "password": cluster.password, "fast": fast}


def pg_cluster(cur: dict) -> pg.Cluster:
    return pg.Cluster(Path(cur["home"]), Path(cur["bindir"]), cur["source"], cur.get("port", 0), cur["password"])


def up(fast: bool | None = None) -> dict:
    """Bring up what is missing; harmless when everything already runs. `fast` None keeps what the lab was
    started with (durable when new). Clears any scenario a dead run left in Redis: no run is going on."""
    with _locked():
        state = load_state()
        state["postgres"] = _pg_up(state, fast)
        _save(state)
        state["redis"] = programs.redis_plan(state, fast)
        _save(state)
        db.ensure_databases(state["postgres"]["url"])
        db.migrate(state["postgres"]["url"])
        state["services"] = programs.supervised_up(state)
        _save(state)
        _clear_run(state["redis"]["url"])
        return status()


def _clear_run(url: str) -> None:
    client = redis_client.from_url(url, socket_connect_timeout=2)
    try:
        clear_run(client)
    except redis_client.RedisError as exc:
        raise StackError(f"redis does not answer: {exc}; see {lab_home() / 'redis' / 'redis.log'}") from None
    finally:
        client.close()


def down() -> list[str]:
    """Stop what `up` started (the supervisor with Redis and the services, then PostgreSQL); leave external
    servers alone; stop any process of the lab's a dead supervisor left running."""
    stopped = []
    with _locked():
        state = load_state()
        if pid_alive(state.get("services", {}).get("supervisor_pid")):
            stop_pid(state["services"]["supervisor_pid"])
            stopped.append("services")
            if state.get("redis", {}).get("managed") and not state["redis"].get("pid"):
                stopped.append("redis")
        legacy = state.get("redis", {}).get("pid")   # a Redis started outside the supervisor (older labs)
        if state.get("redis", {}).get("managed") and pid_alive(legacy):
            stop_pid(legacy)
            stopped.append("redis")
        left = supervised.sweep(lab_home())
        if left:
            stopped.append(f"{len(left)} leftover process(es) of a dead supervisor")
        p = state.get("postgres", {})
        if p.get("managed") and pg_cluster(p).alive():
            pg.stop(pg_cluster(p))
            stopped.append("postgres")
        state.pop("services", None)
        state.get("redis", {}).pop("pid", None)
        for server in ("postgres", "redis"):    # the next `up` chooses durable or --fast again
            state.get(server, {}).pop("fast", None)
        _save(state) if state else None
    return stopped


def probe_pg(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _probe_redis(url: str) -> bool:
    try:
        return bool(redis_client.from_url(url, socket_connect_timeout=2).ping())
    except redis_client.RedisError:
        return False


def status() -> dict:
    """Each server, the supervisor and each service -> url, state (running / died / stopped), where it
    came from; a service is judged by its real pid (the supervisor's status file) and port."""
    state = load_state()
    out = {}
    for name, probe in (("postgres", probe_pg), ("redis", _probe_redis)):
        cur = state.get(name)
        if not cur:
            out[name] = {"url": None, "state": "stopped"}
            continue
        ok = probe(cur["url"])
        out[name] = {"url": cur["url"], "state": "running" if ok else "died", "source": cur["source"],
                     "managed": cur["managed"]}
    svc = state.get("services", {})
    procs = supervised.read_status(lab_home())
    if not svc:
        out["supervisor"] = {"url": None, "state": "stopped"}
    else:
        out["supervisor"] = {"url": None, "state": "running" if pid_alive(svc.get("supervisor_pid")) else "died",
                             "pid": svc.get("supervisor_pid")}
    if "redis" in procs:
        out["redis"]["pid"] = procs["redis"]["pid"]
    for name in SERVICES:
        url = svc.get("urls", {}).get(name)
        if not url:
            out[name] = {"url": None, "state": "stopped"}
            continue
        pid, port = procs.get(name, {}).get("pid"), int(url.rsplit(":", 1)[1])
        pids = [s["pid"] for n, s in procs.items() if n == name or n.startswith(name + "#")]
        out[name] = {"url": url, "state": "running" if pid_alive(pid) and port_open(port) else "died", "pid": pid,
                     "processes": len(pids) or 1, "pids": [p for p in pids if pid_alive(p)]}
    return out


def process_roots() -> dict[str, int]:
    """The root pid of each process the lab runs: every service's uvicorn and the lab's Redis (the
    supervisor's status file), and the postmaster when `up` started it (servers named by URL are not
    ours to look into)."""
    roots = {n: s["pid"] for n, s in supervised.read_status(lab_home()).items()}
    state = load_state()
    if state.get("postgres", {}).get("managed") and (pid := pg_cluster(state["postgres"]).pid()):
        roots["postgres"] = pid
    return roots


def service_url(name: str) -> str:
    url = load_state().get("services", {}).get("urls", {}).get(name)
    if not url:
        raise StackError(f"the {name} service is not up: run `lastunit up`")
    return url


def server_url(name: str) -> str:
    url = load_state().get(name, {}).get("url")
    if not url:
        raise StackError(f"{name} is not up: run `lastunit up`")
    return url


def ensure_up(fast: bool | None = None) -> dict:
    """`up` only when something is not running: what `race` and `run` call first."""
    st = status()
    if all(v["state"] == "running" for v in st.values()):
        return st
    return up(fast=fast)


def wait_healthy(timeout: float = SERVICE_START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(v["state"] == "running" for v in status().values()):
            return
        time.sleep(0.1)
    raise StackError("the stack did not become healthy")
