"""A second, throwaway stack for the tests that harm it: fuzzing every endpoint (psp knobs, relay crashes,
authorizations for no order) and killing its servers. The session's stack never sees any of it.

Started and stopped through the CLI, as a user would, in its own LAB_HOME; its servers are found from that
home's state.json (the cluster's data directory, Redis's URL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import redis

#: `up` gives each service 30 s to start; on a loaded machine eleven at once can need a second try.
UP_TRIES = 2


def cli(home: Path, *args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"LAB_HOME": str(home), "LAB_RESULTS": str(home.parent / "results")} | (env or {})
    return subprocess.run([sys.executable, "-m", "lastunit.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[2])


def up(home: Path, env: dict | None = None) -> dict:
    """Start the stack (its services see `env` too); return its state.json (urls, servers, secrets)."""
    for _ in range(UP_TRIES):
        out = cli(home, "up", "--fast", "--json", env=env)
        if out.returncode == 0:
            return state(home)
    raise RuntimeError(f"the private stack did not start: {out.stderr.strip()[-400:]}")


def state(home: Path) -> dict:
    return json.loads((home / "state.json").read_text())


def down(home: Path) -> None:
    cli(home, "down")


def stop_postgres_immediately(home: Path) -> None:
    """`pg_ctl stop -m immediate`: every backend killed at once, as a crash would (as `postgres` when root)."""
    pg = state(home)["postgres"]
    kw = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}
    subprocess.run([str(Path(pg["bindir"]) / "pg_ctl"), "-D", str(Path(pg["home"]) / "data"), "-m", "immediate",
                    "-w", "stop"], check=True, capture_output=True, **kw)


@contextmanager
def redis_refusing_clients(home: Path):
    """Redis up but refusing every client: `maxclients 1` (our own connection) and every other connection
    dropped, as a Redis at its connection limit does. Not a kill: the supervisor brings a killed Redis back
    within a second, and a probe would race the restart. Restored on the way out."""
    r = redis.Redis.from_url(state(home)["redis"]["url"])
    before = r.config_get("maxclients")["maxclients"]
    r.config_set("maxclients", 1)
    r.client_kill_filter(_type="normal", skipme=True)
    try:
        yield
    finally:
        r.config_set("maxclients", before)
        r.close()
