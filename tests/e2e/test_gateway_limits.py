"""The rate limit answers 429 with a message; a missing downstream is a 503, never a 500.

These start a second gateway process of their own with a tiny limit and no downstream URLs, against the
session's real Redis, so the test needs a handful of requests, not thousands.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from reference_impl.infra.procs import free_port, port_open, wait_for
from tests.conftest import STACK

pytestmark = STACK


@pytest.fixture
def client(lab, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not (k.startswith("LAB_") and k.endswith("_URL"))}
    env |= {"LAB_REDIS_URL": lab["redis"]["url"], "LAB_GATEWAY_RATE": "0.5", "LAB_GATEWAY_BURST": "3",
            "LAB_GATEWAY_ANON_RATE": "0.5", "LAB_GATEWAY_ANON_BURST": "6"}
    with open(tmp_path / "gateway.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "reference_impl.gateway.app:app", "--port",
                                 str(port), "--log-level", "warning"], env=env, stdout=log, stderr=log)
    try:
        wait_for(lambda: port_open(port) or proc.poll() is not None, 30, "the test gateway")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            yield c
    finally:
        proc.terminate()
        proc.wait(10)


def _token(client, user):
    return {"Authorization": "Bearer " + client.post("/auth/token", json={"user_id": user}).json()["token"]}


def test_rate_limit_answers_429_per_client(client, unique):
    h = _token(client, unique("rl"))
    codes = [client.get("/orders/x", headers=h).status_code for _ in range(5)]
    assert codes[:3] == [503, 503, 503] and codes[3:] == [429, 429]
    r = client.get("/orders/x", headers=h)
    assert r.json()["error"] == "rate_limited" and "retry" in r.json()["detail"]
    assert int(r.headers["retry-after"]) >= 1 and r.headers["x-request-id"]
    other = _token(client, unique("rl"))
    assert client.get("/orders/x", headers=other).status_code == 503   # another client's bucket is full


def test_missing_downstream_is_503_with_a_message(client, unique):
    h = _token(client, unique("u"))
    r = client.post("/checkout", json={"sku": "x", "qty": 1}, headers=h | {"Idempotency-Key": unique("k")})
    assert r.status_code == 503 and r.json()["error"] == "unavailable" and "LAB_ORDERS_URL" in r.json()["detail"]
    assert client.get("/search", params={"q": "x"}, headers=h).status_code == 503


def test_anonymous_clients_are_limited_by_address(client):
    codes = [client.get("/search", params={"q": "x"}).status_code for _ in range(8)]
    assert 429 in codes and set(codes) <= {503, 429}
