"""`up`, `down` and `status` on stacks of their own: the embedded fallback, external servers, a killed Redis
and a killed supervisor, a Redis data directory from another build."""

from __future__ import annotations

import json
import os
import secrets
import signal
import tempfile
from pathlib import Path

import httpx
import pytest
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from reference_impl.infra import supervised
from reference_impl.infra.procs import wait_for
from reference_impl.infra.run_config import RUN_KEY, fired, set_run
from reference_impl.services import SERVICES
from tests.e2e.test_cli import lastunit


@pytest.fixture
def own_home():
    root = Path(tempfile.mkdtemp(prefix="lastunit-own-"))
    root.chmod(0o755)
    env = {"LAB_HOME": str(root / ".lab"), "LAB_RESULTS": str(root / "results")}
    yield env
    lastunit("down", "--purge", env=env)


@pytest.mark.slow
@pytest.mark.requires_pg
@pytest.mark.requires_redis
def test_embedded_fallback_when_the_machine_has_no_servers(own_home):
    env = own_home | {"LAB_BINARIES": "embedded"}
    up = lastunit("up", "--fast", "--json", env=env)
    assert up.returncode == 0, up.stderr
    st = json.loads(up.stdout)
    assert (st["postgres"]["source"], st["redis"]["source"]) == ("embedded", "embedded")
    race = lastunit("race", "--strategy", "guarded", "--buyers", "50", "--json", "--quiet", env=env)
    assert race.returncode == 0, race.stderr
    assert json.loads(race.stdout)["won"] == 1


#: Every checkout would fail at payment if this fired.
FAULT = {"point": "payment.before_provider_call", "action": "error", "probability": 1.0}


def _state(env) -> dict:
    return json.loads((Path(env["LAB_HOME"]) / "state.json").read_text())


def _status(env) -> dict:
    return json.loads(lastunit("status", "--json", env=env).stdout)


def _lab_pids(env) -> list[int]:
    return supervised.lab_pids(Path(env["LAB_HOME"]).resolve())


def _checkout(st: dict, name: str) -> int:
    sku = f"{name}-{secrets.token_hex(4)}"
    assert httpx.post(f"{st['inventory']['url']}/stock/receipts",
                      json={"sku": sku, "warehouse": "wh-1", "qty": 1}).status_code == 201
    return httpx.post(f"{st['orders']['url']}/checkouts", json={"sku": sku, "qty": 1},
                      headers={"Idempotency-Key": secrets.token_hex(8), "X-User-Id": "u"}, timeout=30).status_code


@pytest.mark.slow
@pytest.mark.requires_pg
@pytest.mark.requires_redis
def test_a_killed_redis_comes_back_and_up_clears_the_faults_it_restored(own_home, pg_url):
    """Issue 12, item 1: kill Redis while a scenario's faults are in it, then `up`: a durable Redis
    restores them from its files, and before the fix they went on firing on plain checkouts. Also: Redis
    is supervised (back on its port), an external database is used and left running."""
    env = own_home | {"DATABASE_URL": pg_url}
    up = lastunit("up", "--json", env=env)              # durable: Redis keeps an append-only file
    assert up.returncode == 0, up.stderr
    st = json.loads(up.stdout)
    assert st["postgres"]["source"] == "DATABASE_URL" and not _state(env)["postgres"]["managed"]
    r = redis.from_url(st["redis"]["url"], retry=Retry(ExponentialBackoff(), 20),
                       retry_on_error=[redis.ConnectionError])
    set_run(r, {"faults": [FAULT]}, run_id="run-killed-with-redis")
    os.kill(st["redis"]["pid"], signal.SIGKILL)
    wait_for(lambda: _status(env)["redis"].get("pid") not in (None, st["redis"]["pid"])
             and _status(env)["redis"]["state"] == "running", 30, "redis after a kill")
    assert _status(env)["redis"]["url"] == st["redis"]["url"]
    assert r.get(RUN_KEY) is not None            # the reproduction: the dead run's faults came back
    again = lastunit("up", "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert r.get(RUN_KEY) is None
    assert _checkout(st, "after-redis-kill") == 201 and fired(r) == {}
    r.close()
    down = lastunit("down", env=env)
    assert "postgres" not in down.stdout and _lab_pids(env) == []
    assert _status({})["postgres"]["state"] == "running"     # the session's stack, whose database we used


@pytest.mark.slow
@pytest.mark.requires_pg
@pytest.mark.requires_redis
def test_a_killed_supervisor_takes_its_children_and_up_starts_each_once(own_home, pg_url):
    """Issue 12, item 2: after kill -9 of the supervisor the services kept answering, `status` said they
    died, `up` started eleven more beside them and `down` left ten orphans."""
    env = own_home | {"DATABASE_URL": pg_url}
    up = lastunit("up", "--fast", "--json", env=env)
    assert up.returncode == 0, up.stderr
    before = json.loads(up.stdout)
    assert len(_lab_pids(env)) == len(SERVICES) + 2            # the supervisor, Redis, each service
    os.kill(_state(env)["services"]["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: _lab_pids(env) == [], 10, "the supervisor's children to die with it")
    st = _status(env)
    assert st["supervisor"]["state"] == "died" and all(st[n]["state"] == "died" for n in SERVICES)
    again = lastunit("up", "--json", env=env)
    assert again.returncode == 0, again.stderr
    after = json.loads(again.stdout)
    assert len(_lab_pids(env)) == len(SERVICES) + 2            # one of each, no duplicates
    assert {n: after[n]["url"] for n in SERVICES} == {n: before[n]["url"] for n in SERVICES}
    assert all(httpx.get(f"{after[n]['url']}/healthz").json()["pid"] == after[n]["pid"]
               for n in ("orders", "payment", "inventory"))
    lastunit("down", env=env)
    assert _lab_pids(env) == []


@pytest.mark.slow
@pytest.mark.requires_pg
@pytest.mark.requires_redis
def test_up_keeps_the_redis_build_that_wrote_the_data(own_home, pg_url):
    """Issue 12, item 11: a lab started with the embedded Valkey, then `up` on a machine with
    redis-server: the system Redis cannot read Valkey's files and `up` failed with "Bad file format"."""
    env = own_home | {"DATABASE_URL": pg_url}
    first = lastunit("up", "--json", env=env | {"LAB_BINARIES": "embedded"})
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["redis"]["source"] == "embedded"
    assert lastunit("down", env=env).returncode == 0
    second = lastunit("up", "--json", env=env)            # the machine's redis-server would be found first
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["redis"]["source"] == "embedded"
    assert lastunit("down", env=env).returncode == 0
    record = Path(env["LAB_HOME"]) / "redis" / "server.json"
    record.write_text(json.dumps(json.loads(record.read_text()) | {"binary": "/nonexistent/valkey-server"}))
    gone = lastunit("up", env=env)
    assert gone.returncode == 2 and len(gone.stderr.strip().splitlines()) == 1
    assert "no longer installed" in gone.stderr and "mv " in gone.stderr
