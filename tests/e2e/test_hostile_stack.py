"""Hostile clients and dying servers, on a private stack (private_stack.py) so the session's stack is spared.

1. schemathesis (every check, as `--checks all`; tests/e2e/schemathesis.toml) against every service's OpenAPI
   document, the gateway with a token: each document must say what its service does (422 bodies, statuses,
   required headers, UUID ids, 405 with Allow), and no request may get a 5xx.
2. Redis refusing every client, then PostgreSQL stopped immediately: every service that needs the one away
   answers 503 JSON with Retry-After, never `500 text/plain` (what a PostgreSQL restart used to abort
   `lastunit run` with), and is back once Redis takes clients again.
The module runs in this order: the outage ends the stack.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from reference_impl.gateway import users
from reference_impl.services import SERVICES
from tests.conftest import STACK
from tests.e2e import private_stack as ps

pytestmark = [*STACK[:2], pytest.mark.slow]
CONFIG = Path(__file__).with_name("schemathesis.toml")
#: Cases per operation and phase: enough to walk every documented parameter and status in a CI minute.
MAX_EXAMPLES = 10
#: The user the gateway's token is for (schemathesis.toml pins the carts' user_id to it).
FUZZ_USER = "schemathesis"


#: The gateway's buckets out of the way: fuzzing asks faster than any client may, and a 429 answered before
#: the request's own 400 made schemathesis report a valid-request rejection (ST203) now and then. The
#: limits have their own tests (test_gateway_limits.py).
UNLIMITED = {f"LAB_GATEWAY_{k}": "1000000" for k in ("RATE", "BURST", "ANON_RATE", "ANON_BURST", "LOGIN_RATE",
                                                       "LOGIN_BURST")}


@pytest.fixture(scope="module")
def private():
    root = Path(tempfile.mkdtemp(prefix="lastunit-hostile-"))
    root.chmod(0o755)
    home = root / ".lab"
    try:
        yield home, ps.up(home, env=UNLIMITED)
    finally:
        ps.down(home)


def test_recs_build_with_no_orders_yet_says_so_in_one_line(private):
    """A fresh stack (first in this module: nothing has bought anything): nothing to build is not a crash."""
    home, _ = private
    r = ps.cli(home, "recs", "build")
    assert r.returncode == 1 and "no paid orders" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_openapi_document_is_true_under_schemathesis(private, service):
    home, state = private
    url = state["services"]["urls"][service]
    extra = []
    if service == "gateway":
        password = users.new_password()
        users.create(state["postgres"]["url"], {FUZZ_USER: password})
        token = httpx.post(f"{url}/auth/token", json={"user_id": FUZZ_USER, "password": password},
                           timeout=30).json()["token"]
        extra = ["-H", f"Authorization: Bearer {token}"]
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
           "--max-examples", str(MAX_EXAMPLES), "--seed", "1", "--workers", "1", "--no-shrink",
           "--phases", "examples,coverage,fuzzing", "--generation-database", "none", "--no-color", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=home.parent)
    report = out.stdout[out.stdout.find("FAILURES"):] if "FAILURES" in out.stdout else out.stdout[-3000:]
    assert out.returncode == 0, f"schemathesis found failures in {service}:\n{report[:6000]}\n{out.stderr[-2000:]}"


def _assert_outage_answer(r: httpx.Response, what: str) -> None:
    assert r.status_code == 503, f"{what}: {r.status_code} {r.headers.get('content-type')} {r.text[:200]}"
    assert r.headers["content-type"].startswith("application/json"), f"{what}: {r.headers['content-type']}"
    body = r.json()
    assert body["error"].endswith("_unavailable") and body["detail"], f"{what}: {body}"
    assert int(r.headers["retry-after"]) >= 1, what


#: service -> a request that needs Redis (and PostgreSQL is up).
NEEDS_REDIS = {
    "recommendation": ("GET", "/recs?sku=SKU-1", None),
    "cart": ("GET", "/carts/outage-user", None),
    "inventory": ("POST", "/reservations", {"sku": "outage-sku", "qty": 1, "strategy": "redis"}),
}
#: service -> a request that needs PostgreSQL.
NEEDS_POSTGRES = {
    "inventory": ("GET", "/stock/outage-sku", None),
    "catalog": ("GET", "/products/outage-sku", None),
    "catalog_relay": ("GET", "/status", None),
    "psp": ("GET", "/v1/charges/ch_outage", None),
    "payment": ("GET", f"/payments/{uuid.uuid4()}", None),
    "orders": ("GET", f"/orders/{uuid.uuid4()}", None),
    "shipping": ("GET", "/shipments/outage-order", None),
    "notification": ("GET", "/notifications/outage-order", None),
    "gateway": ("GET", "/products/outage-sku", None),       # catalog's 503, passed through with Retry-After
}


def _ask(state: dict, service: str, method: str, path: str, body) -> httpx.Response:
    return httpx.request(method, state["services"]["urls"][service] + path, json=body, timeout=30)


def test_an_outage_is_503_json_with_retry_after_at_every_service(private):
    home, state = private
    stocked = _ask(state, "inventory", "POST", "/stock/receipts", {"sku": "outage-sku", "warehouse": "wh-1", "qty": 5})
    assert stocked.status_code == 201, stocked.text        # so a reservation gets as far as Redis
    for service, (method, path, body) in {**NEEDS_REDIS, **NEEDS_POSTGRES}.items():   # the control: all up
        assert _ask(state, service, method, path, body).status_code < 500, (service, path)

    with ps.redis_refusing_clients(home):
        for service, (method, path, body) in NEEDS_REDIS.items():
            _assert_outage_answer(_ask(state, service, method, path, body), f"{service} without Redis")
    for service, (method, path, body) in NEEDS_REDIS.items():      # back as soon as Redis takes clients
        assert _ask(state, service, method, path, body).status_code < 500, (service, "after Redis came back")

    ps.stop_postgres_immediately(home)
    for service, (method, path, body) in NEEDS_POSTGRES.items():
        _assert_outage_answer(_ask(state, service, method, path, body), f"{service} without PostgreSQL")
