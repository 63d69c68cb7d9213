"""`lastunit serve SERVICE --port N`: one service alone, in the foreground, configured by its environment.

Why: `lastunit up` runs the whole shop on one machine; a user with several machines runs PostgreSQL and
Redis somewhere, then each service (or several processes of one, on the same port: SO_REUSEPORT) wherever
it should live, each told the servers' and its peers' URLs (`reference_impl.services.NEEDS`). Before it
starts, the service's databases are created and migrated if they are not (idempotent, under a lock), so the
first process on a fresh server prepares it. The process then replaces this one (exec): signals reach it.
"""

from __future__ import annotations

import os
import sys

from reference_impl.infra import db
from reference_impl.services import DB, NEEDS, REDIS, SERVICES

#: What users already set for `lastunit up` works here too.
ALIASES = {DB: "DATABASE_URL", REDIS: "REDIS_URL"}


def environment(service: str, env: dict[str, str]) -> dict[str, str]:
    """The service's environment, with DATABASE_URL/REDIS_URL standing in for LAB_DATABASE_URL/LAB_REDIS_URL;
    ValueError naming whatever it needs and lacks."""
    out = dict(env)
    for lab, plain in ALIASES.items():
        if not out.get(lab) and out.get(plain):
            out[lab] = out[plain]
    missing = [v for v in NEEDS[service] if not out.get(v)]
    if missing:
        hint = ", ".join(f"{v} (or {ALIASES[v]})" if v in ALIASES else v for v in missing)
        raise ValueError(f"{service} needs {hint} in its environment")
    return out


def main(args) -> int:
    if args.service not in SERVICES:
        raise ValueError(f"unknown service {args.service!r}: one of {', '.join(SERVICES)}")
    env = environment(args.service, dict(os.environ))
    if DB in NEEDS[args.service]:
        db.ensure_databases(env[DB])
        db.migrate(env[DB])
    cmd = [sys.executable, "-m", "reference_impl.infra.serve", SERVICES[args.service], "--port", str(args.port),
           "--host", args.host, "--reuse-port"]     # a user may start one service twice on one port
    sys.stdout.flush()
    os.execve(sys.executable, cmd, env)
    return 0   # not reached
