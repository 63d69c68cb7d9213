"""`up`, `down` and `status` on stacks of their own: the embedded fallback, external servers, a dead server."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path

import pytest

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


@pytest.mark.requires_pg
@pytest.mark.requires_redis
def test_external_database_is_used_and_left_running_and_a_dead_redis_is_reported(own_home, pg_url):
    env = own_home | {"DATABASE_URL": pg_url}
    up = lastunit("up", "--fast", "--json", env=env)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["postgres"]["source"] == "DATABASE_URL"
    state = json.loads((Path(own_home["LAB_HOME"]) / "state.json").read_text())
    assert not state["postgres"]["managed"]
    os.kill(state["redis"]["pid"], signal.SIGKILL)
    st = lastunit("status", "--json", env=env)
    assert st.returncode == 1 and json.loads(st.stdout)["redis"]["state"] == "died"
    down = lastunit("down", env=env)
    assert "postgres" not in down.stdout
    again = lastunit("status", "--json")          # the session's own stack, whose PostgreSQL we borrowed
    assert json.loads(again.stdout)["postgres"]["state"] == "running"
