"""The cart: Redis session copy over a durable PostgreSQL copy, kept in step by a per-user version."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from reference_impl.cart.store import SESSION_TTL_S, key
from tests.conftest import STACK

pytestmark = STACK


@pytest.fixture
def cart(lab):
    with httpx.Client(base_url=lab["cart"]["url"], timeout=30) as c:
        yield c


@pytest.fixture
def r(lab):
    client = redis.from_url(lab["redis"]["url"])
    yield client
    client.close()


@pytest.fixture
def skus(lab, unique):
    out = [unique("cart") for _ in range(4)]
    for sku in out:
        doc = {"title": "cart test item", "brand": "acme", "category": "misc", "price": "3.00"}
        assert httpx.put(f"{lab['catalog']['url']}/products/{sku}", json=doc).status_code == 200
    return out


def test_session_expiry_restores_the_saved_cart(cart, r, unique, skus):
    user = unique("u")
    assert cart.put(f"/carts/{user}/items/{skus[0]}", json={"qty": 3}).status_code == 200
    assert 0 < r.ttl(key(user)) <= SESSION_TTL_S
    r.delete(key(user))                                   # the session expired
    body = cart.get(f"/carts/{user}").json()
    assert body["source"] == "postgres" and body["items"] == [{"sku": skus[0], "qty": 3}]
    assert cart.get(f"/carts/{user}").json()["source"] == "redis"


def test_save_for_later_and_back(cart, unique, skus):
    user = unique("u")
    cart.put(f"/carts/{user}/items/{skus[0]}", json={"qty": 1})
    cart.put(f"/carts/{user}/items/{skus[1]}", json={"qty": 2})
    body = cart.post(f"/carts/{user}/items/{skus[1]}/save-for-later").json()
    assert body["items"] == [{"sku": skus[0], "qty": 1}] and body["saved"] == [{"sku": skus[1], "qty": 2}]
    body = cart.post(f"/carts/{user}/saved/{skus[1]}/move-to-cart").json()
    assert {i["sku"] for i in body["items"]} == set(skus[:2]) and body["saved"] == []
    assert cart.post(f"/carts/{user}/saved/{skus[1]}/move-to-cart").status_code == 404
    assert cart.delete(f"/carts/{user}").json()["items"] == []


def test_racing_changes_leave_redis_equal_to_postgres(cart, r, unique, skus):
    user = unique("u")
    jobs = [(sku, q) for q in range(1, 6) for sku in skus]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda j: cart.put(f"/carts/{user}/items/{j[0]}", json={"qty": j[1]}), jobs))
    from_redis = cart.get(f"/carts/{user}").json()
    r.delete(key(user))
    from_pg = cart.get(f"/carts/{user}").json()
    assert from_redis["source"] == "redis" and from_pg["source"] == "postgres"
    assert from_redis["items"] == from_pg["items"] and len(from_pg["items"]) == len(skus)


def test_quantities_are_validated(cart, unique, skus):
    user = unique("u")
    for bad in (0, -1, 100, "x"):
        assert cart.put(f"/carts/{user}/items/{skus[0]}", json={"qty": bad}).status_code == 422
    r = cart.put(f"/carts/{user}/items/{unique('ghost')}", json={"qty": 1})
    assert (r.status_code, r.json()["error"]) == (404, "unknown_sku")
    assert cart.get("/carts/bad%20user").status_code == 422
