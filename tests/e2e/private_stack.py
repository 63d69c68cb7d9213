"""A second, throwaway stack for the tests that harm it: fuzzing every endpoint (psp knobs, relay crashes,
authorizations for no order) and killing its servers. The session's stack never sees any of it.

Started and stopped through the CLI, as a user would, in its own LAB_HOME; its servers are found from that
home's state.json (their pids, the cluster's data directory), and stopped only by those ids.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

#: `up` gives each service 30 s to start; on a loaded machine eleven at once can need a second try.
UP_TRIES = 2


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = os.environ | {"LAB_HOME": str(home), "LAB_RESULTS": str(home.parent / "results")}
    return subprocess.run([sys.executable, "-m", "lastunit.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[2])


def up(home: Path) -> dict:
    """Start the stack; return its state.json (urls, servers, secrets)."""
    for _ in range(UP_TRIES):
        out = cli(home, "up", "--fast", "--json")
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


def kill_redis(home: Path) -> None:
    os.kill(state(home)["redis"]["pid"], signal.SIGKILL)
