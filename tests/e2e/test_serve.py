"""`lastunit serve` and `LAB_WORKERS` as a user runs them: a service alone from its environment (as on another
machine), and a service as two processes behind one port, each answering, each shown by `status`."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest

from reference_impl import stack
from reference_impl.infra.procs import free_port, port_open, stop_pid, wait_for
from tests.e2e.test_cli import LASTUNIT, lastunit

pytestmark = [pytest.mark.usefixtures("lab"), pytest.mark.requires_pg, pytest.mark.requires_redis]


def test_a_service_runs_alone_from_its_environment_and_says_what_it_lacks():
    port = free_port()
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "DATABASE_URL", "REDIS_URL"))}
    r = subprocess.run([*LASTUNIT, "serve", "notification", "--port", str(port)], capture_output=True, text=True,
                       env=bare, timeout=60)
    assert r.returncode == 2 and "LAB_DATABASE_URL (or DATABASE_URL)" in r.stderr and "Traceback" not in r.stderr
    env = bare | {"DATABASE_URL": stack.server_url("postgres"), "REDIS_URL": stack.server_url("redis")}
    proc = subprocess.Popen([*LASTUNIT, "serve", "notification", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: port_open(port) or proc.poll() is not None, 120, "lastunit serve")
        assert proc.poll() is None
        got = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        assert got["service"] == "notification" and got["pid"] == proc.pid   # exec'd: the CLI became it
    finally:
        stop_pid(proc.pid)
        proc.wait(10)


def test_status_shows_each_process_of_a_service():
    r = lastunit("status", "--json")
    st = json.loads(r.stdout)
    for name in ("orders", "payment", "psp"):
        assert st[name]["processes"] >= 1 and len(st[name]["pids"]) == st[name]["processes"]
    if st["orders"]["processes"] > 1:                 # under LAB_WORKERS: both answer on the one port
        seen = set()
        with httpx.Client() as c:
            for _ in range(40):
                seen.add(c.get(st["orders"]["url"] + "/healthz", headers={"connection": "close"}).json()["pid"])
        assert seen == set(st["orders"]["pids"])
