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
import redis

from reference_impl.infra.procs import free_port, port_open, wait_for
from tests.conftest import STACK

pytestmark = STACK


#: The test gateway's Redis database: its own, so its tiny buckets (keyed by 127.0.0.1, like every local
#: client's) never throttle the session's gateway, and the session's never throttle it.
TEST_REDIS_DB = 1
#: Logins: a burst of 3, then one per 100 s, so the fourth attempt in a test is refused whatever the speed.
LOGIN_BURST = 3


@pytest.fixture
def client(lab, tmp_path):
    port = free_port()
    own_redis = lab["redis"]["url"].rsplit("/", 1)[0] + f"/{TEST_REDIS_DB}"
    with redis.from_url(own_redis) as r:
        r.delete(*(r.keys("lab:gateway:rl:*") or ["none"]))      # every test starts with full buckets
    env = {k: v for k, v in os.environ.items() if not (k.startswith("LAB_") and k.endswith("_URL"))}
    env |= {"LAB_REDIS_URL": own_redis, "LAB_DATABASE_URL": lab["postgres"]["url"], "LAB_GATEWAY_RATE": "0.5",
            "LAB_GATEWAY_BURST": "3", "LAB_GATEWAY_ANON_RATE": "0.5", "LAB_GATEWAY_ANON_BURST": "6",
            "LAB_GATEWAY_LOGIN_RATE": "0.01", "LAB_GATEWAY_LOGIN_BURST": str(LOGIN_BURST)}
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


@pytest.fixture
def token(client, account):
    """`token(user)`: an account for `user`, logged in at the test gateway; its Authorization header."""
    def go(user: str) -> dict:
        user, password = account(user)
        r = client.post("/auth/token", json={"user_id": user, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": "Bearer " + r.json()["token"]}

    return go


def test_token_minting_is_rate_limited_per_address(client, account, unique):
    """Anyone could mint tokens without limit; now every attempt (right or wrong) spends the address's
    login budget, and past it the answer is 429 with Retry-After, before any password is checked."""
    user, password = account(unique("guess"))
    codes = [client.post("/auth/token", json={"user_id": user, "password": f"guess-{i}"}).status_code
             for i in range(LOGIN_BURST)]
    assert codes == [401] * LOGIN_BURST
    r = client.post("/auth/token", json={"user_id": user, "password": password})     # even the right one
    assert r.status_code == 429 and r.json()["error"] == "rate_limited" and int(r.headers["retry-after"]) >= 1


def test_rate_limit_answers_429_per_client(client, token, unique):
    h = token(unique("rl"))
    codes = [client.get("/orders/x", headers=h).status_code for _ in range(5)]
    assert codes[:3] == [503, 503, 503] and codes[3:] == [429, 429]
    r = client.get("/orders/x", headers=h)
    assert r.json()["error"] == "rate_limited" and "retry" in r.json()["detail"]
    assert int(r.headers["retry-after"]) >= 1 and r.headers["x-request-id"]
    other = token(unique("rl"))
    assert client.get("/orders/x", headers=other).status_code == 503   # another client's bucket is full


def test_missing_downstream_is_503_with_a_message(client, token, unique):
    h = token(unique("u"))
    r = client.post("/checkout", json={"sku": "x", "qty": 1}, headers=h | {"Idempotency-Key": unique("k")})
    # the checkout prices its SKU at the catalog before orders hears of it: the catalog is the first it misses
    assert r.status_code == 503 and r.json()["error"] == "unavailable" and "LAB_CATALOG_URL" in r.json()["detail"]
    assert client.get("/search", params={"q": "x"}, headers=h).status_code == 503


def test_anonymous_clients_are_limited_by_address(client):
    codes = [client.get("/search", params={"q": "x"}).status_code for _ in range(8)]
    assert 429 in codes and set(codes) <= {503, 429}
