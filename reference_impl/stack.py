"""Start, find and stop the lab's servers and services; the state lives in `.lab/state.json`.

Order of preference: servers named by `DATABASE_URL` / `REDIS_URL`; else a private cluster from the
machine's binaries; else the `embedded` extra's (`LAB_BINARIES=embedded` forces that, as on a machine
without PostgreSQL or Redis). `up` starts only what is missing, `down` stops only what `up` started.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis as redis_client

from reference_impl.infra import db
from reference_impl.infra.procs import free_port, pid_alive, port_open, spawn_detached, stop_pid, wait_for
from reference_impl.infra.servers import postgres as pg
from reference_impl.infra.servers import redis as rd
from reference_impl.infra.settings import lab_home
from reference_impl.services import SERVICES, workers

SERVICE_START_TIMEOUT_S = 30


class StackError(RuntimeError):
    pass


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


def _allow_system() -> bool:
    return os.environ.get("LAB_BINARIES", "auto") != "embedded"


def _pg_up(state: dict, fast: bool) -> dict:
    if os.environ.get("DATABASE_URL"):
        return {"managed": False, "url": os.environ["DATABASE_URL"], "source": "DATABASE_URL"}
    cur = state.get("postgres", {})
    if cur.get("managed") and _pg_cluster(cur).alive():
        return cur
    if cur.get("managed") and (Path(cur["home"]) / "data" / "PG_VERSION").exists():
        cluster = _pg_cluster(cur)
    else:
        bindir, source = pg.find_bindir(_allow_system())
        cluster = pg.init(pg.pg_home(lab_home()), bindir, source)
    pg.start(cluster, fast=fast)
    return {"managed": True, "url": cluster.url, "source": cluster.source, "home": str(cluster.home),
            "bindir": str(cluster.bindir), "port": cluster.port, "password": cluster.password, "fast": fast}


def _pg_cluster(cur: dict) -> pg.Cluster:
    return pg.Cluster(Path(cur["home"]), Path(cur["bindir"]), cur["source"], cur.get("port", 0), cur["password"])


def _redis_up(state: dict, fast: bool) -> dict:
    if os.environ.get("REDIS_URL"):
        return {"managed": False, "url": os.environ["REDIS_URL"], "source": "REDIS_URL"}
    cur = state.get("redis", {})
    if cur.get("managed") and pid_alive(cur.get("pid")) and port_open(cur["port"]):
        return cur
    binary, source = rd.find_binary(_allow_system())
    server = rd.start(lab_home() / "redis", binary, source, fast=fast)
    return {"managed": True, "url": server.url, "source": source, "pid": server.pid, "port": server.port,
            "binary": str(binary)}


def service_env(state: dict, urls: dict[str, str]) -> dict[str, str]:
    """What every service process is told: the servers, each other's URLs, the shared webhook secret."""
    secrets_ = state.setdefault("secrets", {})
    secrets_.setdefault("psp_webhook", secrets.token_hex(32))
    env = {"LAB_DATABASE_URL": state["postgres"]["url"], "LAB_REDIS_URL": state["redis"]["url"],
           "LAB_PSP_WEBHOOK_SECRET": secrets_["psp_webhook"]}
    env |= {f"LAB_{name.upper()}_URL": url for name, url in urls.items()}
    if "payment" in urls:
        env["LAB_PSP_WEBHOOK_URL"] = urls["payment"] + "/webhooks/psp"
    return env


def _services_up(state: dict) -> dict:
    cur = state.get("services", {})
    counts = {n: workers(n) for n in SERVICES}
    if pid_alive(cur.get("supervisor_pid")):
        if set(cur.get("urls", {})) == set(SERVICES) and cur.get("workers", counts) == counts:
            return cur
        stop_pid(cur["supervisor_pid"])     # the services or their process counts changed: restart them all
    home = lab_home()
    ports = {n: free_port() for n in SERVICES}
    env = service_env(state, {n: f"http://127.0.0.1:{p}" for n, p in ports.items()})
    services = {n: {"app": app, "port": ports[n], "env": env, "workers": counts[n]} for n, app in SERVICES.items()}
    config = {"services": services, "logs": str(home / "logs"), "status": str(home / "services.json")}
    (home / "supervisor.json").write_text(json.dumps(config))
    (home / "supervisor.json").chmod(0o600)
    proc = spawn_detached([sys.executable, "-m", "reference_impl.supervisor", str(home / "supervisor.json")],
                          home / "supervisor.log")
    urls = {n: f"http://127.0.0.1:{s['port']}" for n, s in services.items()}
    for name, spec in services.items():
        try:
            wait_for(lambda p=spec["port"]: port_open(p) or proc.poll() is not None, SERVICE_START_TIMEOUT_S, name)
        except TimeoutError:
            stop_pid(proc.pid)
            raise StackError(f"{name} did not start: {_last_line(home / 'logs' / f'{name}.log')}") from None
        if proc.poll() is not None:
            raise StackError(f"the supervisor exited: {_last_line(home / 'supervisor.log')}")
    return {"supervisor_pid": proc.pid, "urls": urls, "workers": counts}


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"no log at {path}"
    return f"{lines[-1].strip()} (see {path})" if lines else f"see {path}"


def up(fast: bool = False) -> dict:
    """Bring up what is missing; harmless when everything already runs."""
    with _locked():
        state = load_state()
        before = (state.get("postgres", {}).get("url"), state.get("redis", {}).get("url"))
        state["postgres"] = _pg_up(state, fast)
        _save(state)
        state["redis"] = _redis_up(state, fast)
        _save(state)
        db.ensure_databases(state["postgres"]["url"])
        db.migrate(state["postgres"]["url"])
        sup = state.get("services", {}).get("supervisor_pid")
        if before != (state["postgres"]["url"], state["redis"]["url"]) and pid_alive(sup):
            stop_pid(sup)   # the services hold the old servers' addresses: restart them with the new
        state["services"] = _services_up(state)
        _save(state)
        return status()


def down() -> list[str]:
    """Stop what `up` started (services, then Redis, then PostgreSQL); leave external servers alone."""
    stopped = []
    with _locked():
        state = load_state()
        if pid_alive(state.get("services", {}).get("supervisor_pid")):
            stop_pid(state["services"]["supervisor_pid"])
            stopped.append("services")
        r = state.get("redis", {})
        if r.get("managed") and pid_alive(r.get("pid")):
            stop_pid(r["pid"])
            stopped.append("redis")
        p = state.get("postgres", {})
        if p.get("managed") and _pg_cluster(p).alive():
            pg.stop(_pg_cluster(p))
            stopped.append("postgres")
        state.pop("services", None)
        _save(state) if state else None
    return stopped


def _probe_pg(url: str) -> bool:
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
    """Each server and service -> url, state (running / died / stopped) and where it came from."""
    state = load_state()
    out = {}
    for name, probe in (("postgres", _probe_pg), ("redis", _probe_redis)):
        cur = state.get(name)
        if not cur:
            out[name] = {"url": None, "state": "stopped"}
            continue
        ok = probe(cur["url"])
        out[name] = {"url": cur["url"], "state": "running" if ok else "died", "source": cur["source"],
                     "managed": cur["managed"]}
    svc = state.get("services", {})
    sup_alive = pid_alive(svc.get("supervisor_pid"))
    procs = _service_pids() if sup_alive else {}
    for name in SERVICES:
        url = svc.get("urls", {}).get(name)
        if not url:
            out[name] = {"url": None, "state": "stopped"}
            continue
        port = int(url.rsplit(":", 1)[1])
        pids = procs.get(name, [])
        out[name] = {"url": url, "state": "running" if sup_alive and port_open(port) else "died",
                     "processes": svc.get("workers", {}).get(name, 1),
                     "pids": [p for p in pids if pid_alive(p)]}
    return out


def _service_pids() -> dict[str, list[int]]:
    """Each service's process ids, as the supervisor last wrote them."""
    try:
        st = json.loads((lab_home() / "services.json").read_text())
    except (OSError, ValueError):
        return {}
    return {n: s.get("pids", [s["pid"]]) for n, s in st.items()}


def process_roots() -> dict[str, int]:
    """The root pid of each process the lab runs: every service process (the supervisor's status file; a
    service's second process is `name#2`), the postmaster and Redis when `up` started them (servers named by
    URL are not ours to look into)."""
    roots = {}
    for n, pids in _service_pids().items():
        for k, pid in enumerate(pids, start=1):
            roots[n if k == 1 else f"{n}#{k}"] = pid     # a service's other processes (LAB_WORKERS)
    state = load_state()
    if state.get("postgres", {}).get("managed") and (pid := _pg_cluster(state["postgres"]).pid()):
        roots["postgres"] = pid
    if state.get("redis", {}).get("managed") and state["redis"].get("pid"):
        roots["redis"] = state["redis"]["pid"]
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


def ensure_up(fast: bool = False) -> dict:
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
