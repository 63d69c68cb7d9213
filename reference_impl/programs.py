"""What `lastunit up` asks the supervisor to run: the lab's Redis (when no REDIS_URL names one) and every
service, each told where the servers and the other services are; and starting it, or keeping the one that
runs. The supervisor itself: reference_impl/supervisor.py; its status and leftovers: infra/supervised.py.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from reference_impl.infra import supervised
from reference_impl.infra.procs import free_port, pid_alive, port_open, stop_pid, wait_for
from reference_impl.infra.servers import redis as rd
from reference_impl.services import SERVICES, workers
from scenarios.paths import lab_home
from scenarios.policy import retention_s

#: Eleven services import FastAPI, asyncpg and aiosql at once: ~6 s alone, over 30 s with the two cores
#: busy (a suite beside other stacks); a bound, not a wait: `up` returns as soon as every port answers.
SERVICE_START_TIMEOUT_S = 90


class StackError(RuntimeError):
    pass


def allow_system() -> bool:
    return os.environ.get("LAB_BINARIES", "auto") != "embedded"


def redis_plan(state: dict, fast: bool | None) -> dict:
    """Which Redis the supervisor is to run: the same port and password as before when they are free, so
    a restart changes no service's address; the build that wrote the data directory, when there is one."""
    if os.environ.get("REDIS_URL"):
        return {"managed": False, "url": os.environ["REDIS_URL"], "source": "REDIS_URL"}
    cur = state.get("redis", {}) if state.get("redis", {}).get("managed") else {}
    fast = cur.get("fast", False) if fast is None else fast
    home = lab_home() / "redis"
    binary, source = rd.choose_binary(home, allow_system(), cur.get("binary"))
    password = cur.get("password") or urlsplit(cur.get("url", "")).password or secrets.token_urlsafe(18)
    server = rd.RedisServer(home, binary, source, cur.get("port") or free_port(), password)
    return {"managed": True, "url": server.url, "source": source, "port": server.port, "password": password,
            "binary": str(binary), "fast": fast, "home": str(home)}


def redis_server(plan: dict) -> rd.RedisServer:
    return rd.RedisServer(Path(plan["home"]), Path(plan["binary"]), plan["source"], plan["port"], plan["password"])


def service_env(state: dict, urls: dict[str, str]) -> dict[str, str]:
    """What every service process is told: the servers, each other's URLs, the shared webhook secret."""
    secrets_ = state.setdefault("secrets", {})
    secrets_.setdefault("psp_webhook", secrets.token_hex(32))
    env = {"LAB_DATABASE_URL": state["postgres"]["url"], "LAB_REDIS_URL": state["redis"]["url"],
           "LAB_PSP_WEBHOOK_SECRET": secrets_["psp_webhook"]}
    env |= {f"LAB_{name.upper()}_URL": url for name, url in urls.items()}
    if "payment" in urls:
        env["LAB_PSP_WEBHOOK_URL"] = urls["payment"] + "/webhooks/psp"
    if os.environ.get("LAB_RETENTION_S"):           # recorded in the supervisor's config: `bench soak` reads it
        env["LAB_RETENTION_S"] = str(retention_s(os.environ["LAB_RETENTION_S"]))
    return env


def desired(state: dict, ports: dict[str, int]) -> dict:
    home, r = lab_home(), state["redis"]
    env = service_env(state, {n: f"http://127.0.0.1:{p}" for n, p in ports.items()})
    redis_cmd = redis_server(r).command(r["fast"]) if r["managed"] else None
    progs = supervised.programs(home, redis_cmd, r.get("port"),
                                {n: (SERVICES[n], ports[n], workers(n)) for n in SERVICES}, env)
    return supervised.config(home, progs)


def ports_for(state: dict) -> dict[str, int]:
    """Each service's port: the one it had (a restarted supervisor must not move anyone) if it is free."""
    old = {n: int(u.rsplit(":", 1)[1]) for n, u in state.get("services", {}).get("urls", {}).items()}
    return {n: old[n] if n in old and not port_open(old[n]) else free_port() for n in SERVICES}


def supervised_up(state: dict) -> dict:
    """The supervisor with Redis and every service. A live one running the same programs is kept; one that
    died is swept up after (its children died with it; anything else marked as the lab's is stopped) and
    started again on the same ports, so nothing runs twice and every address stays valid."""
    home = lab_home()
    cur = state.get("services", {})
    if pid_alive(cur.get("supervisor_pid")):
        if set(cur.get("urls", {})) == set(SERVICES) and supervised.running_config(home) == desired(
                state, {n: int(u.rsplit(":", 1)[1]) for n, u in cur["urls"].items()}):
            return cur
        stop_pid(cur["supervisor_pid"])   # other programs, servers or env: restart them all
    supervised.sweep(home)
    if pid_alive(legacy := state["redis"].pop("pid", None)):
        stop_pid(legacy)                  # a Redis an older lab started outside the supervisor
    r = state["redis"]
    if r["managed"]:
        if port_open(r["port"]):
            r["port"] = free_port()       # someone else took it while we were down
            r["url"] = redis_server(r).url
        Path(r["home"]).mkdir(parents=True, exist_ok=True)
        if not r["fast"]:
            rd.record_writer(Path(r["home"]), Path(r["binary"]), r["source"])
    cfg = desired(state, ports_for(state))
    sizes = _log_sizes(home, cfg["programs"])
    proc = supervised.start(home, cfg)
    for name, spec in cfg["programs"].items():
        try:
            wait_for(lambda p=spec["port"]: port_open(p) or proc.poll() is not None, SERVICE_START_TIMEOUT_S, name)
        except TimeoutError:
            stop_pid(proc.pid)
            raise StackError(f"{name} did not open its port within {SERVICE_START_TIMEOUT_S}s: "
                             f"{_last_line(home / 'logs' / f'{name}.log', sizes[name])}") from None
        if proc.poll() is not None:
            raise StackError(f"the supervisor exited: {_last_line(home / 'supervisor.log')}")
    progs = cfg["programs"]
    return {"supervisor_pid": proc.pid,
            "urls": {n: f"http://127.0.0.1:{progs[n]['port']}" for n in SERVICES}}


def _last_line(path: Path, since: int = 0) -> str:
    """The log's last line written after byte `since` (an older line would blame the wrong start)."""
    try:
        with open(path, "rb") as f:
            f.seek(since)
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"no log at {path}"
    return f"{lines[-1].strip()} (see {path})" if lines else f"nothing in its log ({path})"


def _log_sizes(home: Path, names) -> dict[str, int]:
    return {n: (home / "logs" / f"{n}.log").stat().st_size if (home / "logs" / f"{n}.log").exists() else 0
            for n in names}
