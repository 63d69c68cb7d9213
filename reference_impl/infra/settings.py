"""Where the lab keeps its state and how services find their servers.

Everything a process needs to find the stack comes from the environment or from `.lab/state.json`, so the
CLI, the services the supervisor spawns, the tests and the notebooks all agree without passing paths around.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

#: Every service owns one database on the shared cluster; the prefix keeps us off other people's databases
#: when `DATABASE_URL` names a shared server.
DB_PREFIX = "lastunit_"
SERVICE_DATABASES = ("inventory", "orders", "payments", "shipping", "catalog", "psp", "notifications", "cart")
#: Databases that publish or consume events get the outbox and de-duplication tables.
EVENT_DATABASES = ("orders", "payments", "shipping", "notifications")


def lab_home() -> Path:
    """`.lab/` in the working directory, or `LAB_HOME`: one stack per checkout, tests get their own."""
    return Path(os.environ.get("LAB_HOME") or Path.cwd() / ".lab").resolve()


def results_home() -> Path:
    return Path(os.environ.get("LAB_RESULTS") or Path.cwd() / "results").resolve()


def database_url(server_url: str, service: str) -> str:
    """The URL of one service's database on the cluster named by `server_url`."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + DB_PREFIX + service))


def require_services() -> bool:
    """In CI a missing server is a failure, not a skip: an empty run must never pass silently."""
    return os.environ.get("LAB_REQUIRE_SERVICES", "") not in ("", "0", "false")
