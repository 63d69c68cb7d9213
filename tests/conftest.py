"""Fixtures shared by every test folder: one real stack per session, unique data per test.

The stack lives in a private LAB_HOME (or the one `make test` already started), with fsync off. When the
servers cannot start, tests that need them skip locally and FAIL in CI (LAB_REQUIRE_SERVICES=1), so an
empty run never passes silently.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import pytest

from scenarios.paths import require_services


def _isolate_home() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if worker != "gw0" and os.environ.get("LAB_HOME"):
        # Under pytest-xdist (`make test` runs `-n 2`) the first worker uses the stack in LAB_HOME and every
        # other one a stack of its own beside it (`make test` starts both): tests that crash services, set
        # faults or change the run config never meet another worker's tests on one stack.
        base = Path(os.environ["LAB_HOME"])
        os.environ["LAB_HOME"] = str(base.with_name(f"{base.name}-{worker}"))
        if os.environ.get("LAB_RESULTS"):
            os.environ["LAB_RESULTS"] = str(Path(os.environ["LAB_RESULTS"]).with_name(f"results-{worker}"))
    if not os.environ.get("LAB_HOME"):
        root = Path(tempfile.mkdtemp(prefix="lastunit-test-"))
        root.chmod(0o755)
        os.environ["LAB_HOME"] = str(root / ".lab")
        os.environ.setdefault("LAB_RESULTS", str(root / "results"))
    os.environ.setdefault("LAB_RESULTS", str(Path(os.environ["LAB_HOME"]).parent / "results"))
    os.environ.setdefault("MPLBACKEND", "Agg")


_isolate_home()


@pytest.fixture(scope="session")
def lab():
    """The running stack's status: starts it if needed and stops it only if this session started it."""
    from reference_impl import stack

    before = stack.status()
    started = not all(s["state"] == "running" for s in before.values())
    try:
        status = stack.up(fast=True) if started else before
    except Exception as exc:   # noqa: BLE001 - any reason the servers cannot run
        if require_services():
            pytest.fail(f"the stack could not start (LAB_REQUIRE_SERVICES=1): {exc}")
        pytest.skip(f"no PostgreSQL/Redis here: {exc}")
    yield status
    if started:
        stack.down()


@pytest.fixture
def inventory_url(lab) -> str:
    return lab["inventory"]["url"]


@pytest.fixture
def pg_url(lab) -> str:
    return lab["postgres"]["url"]


@pytest.fixture
def unique():
    """A fresh name per call: tests never share rows, so they never clean up in order."""
    return lambda prefix="t": f"{prefix}-{secrets.token_hex(5)}"


@pytest.fixture
def account(pg_url):
    """Make a gateway account the way `lastunit seed` does: `account(user)` -> (user, password)."""
    from reference_impl.gateway import users

    def make(user: str) -> tuple[str, str]:
        password = users.new_password()
        users.create(pg_url, {user: password})
        return user, password

    return make


@pytest.fixture
def urls(lab) -> dict[str, str]:
    """Every server's and service's URL by name."""
    return {n: s["url"] for n, s in lab.items()}


@pytest.fixture
def run_config(lab):
    """`run_config(cfg)` installs a run's configuration (faults, strategy knobs) on the stack, as `run`
    does; cleared after the test."""
    import redis  # noqa: PLC0415 - only the tests that use it need a client

    from reference_impl.infra.run_config import set_run  # noqa: PLC0415

    r = redis.from_url(lab["redis"]["url"])
    yield lambda cfg: set_run(r, cfg)
    set_run(r, None)
    r.close()


STACK = [pytest.mark.requires_pg, pytest.mark.requires_redis, pytest.mark.usefixtures("lab")]


#: A notebook a student runs should finish in about this long with the stack up (issue 13). Reported, never
#: asserted: tests do not assert wall-clock time.
NOTEBOOK_BUDGET_S = 120


def pytest_terminal_summary(terminalreporter):
    """Each notebook's wall time as nbmake ran it, so every `make test` prints it (run with `--nbmake`)."""
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
               if getattr(r, "when", None) == "call" and r.nodeid.split("::")[0].endswith(".ipynb")]
    if not reports:
        return
    terminalreporter.section("notebook wall times")
    for r in sorted(reports, key=lambda r: r.nodeid):
        over = f"  (over the {NOTEBOOK_BUDGET_S} s budget)" if r.duration > NOTEBOOK_BUDGET_S else ""
        terminalreporter.write_line(f"{r.duration:7.1f} s  {r.nodeid.split('::')[0]}  {r.outcome}{over}")
