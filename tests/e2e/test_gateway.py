"""The gateway, as a client sees it: request ids, tokens, ownership of carts and orders, errors as 4xx.

Ownership is the point: a token for one user never reads or changes another's cart (403) or order (404).
"""

from __future__ import annotations

import httpx
import jwt
import psycopg
import pytest

from reference_impl.infra.settings import database_url
from tests.conftest import STACK

pytestmark = STACK


@pytest.fixture
def gw(lab):
    with httpx.Client(base_url=lab["gateway"]["url"], timeout=30) as c:
        yield c


@pytest.fixture
def product(lab, unique):
    sku = unique("gw")
    doc = {"title": "gateway test lamp", "brand": "acme", "category": "home", "price": "12.50"}
    assert httpx.put(f"{lab['catalog']['url']}/products/{sku}", json=doc).status_code == 200
    return sku


@pytest.fixture
def login(gw, account):
    """`login(user)`: an account for `user`, logged in; the Authorization header of its token."""
    def go(user: str) -> dict:
        user, password = account(user)
        r = gw.post("/auth/token", json={"user_id": user, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    return go


def test_a_token_needs_the_users_password(gw, account, unique):
    """The reproduction: `POST /auth/token {"user_id": ...}` minted anyone's token with no credential."""
    user, password = account(unique("victim"))
    assert gw.post("/auth/token", json={"user_id": user}).status_code == 422
    wrong = gw.post("/auth/token", json={"user_id": user, "password": password + "x"})
    nobody = gw.post("/auth/token", json={"user_id": unique("nobody"), "password": password})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["error"] == nobody.json()["error"] == "invalid_credentials"   # no user enumeration
    r = gw.post("/auth/token", json={"user_id": user, "password": password})
    assert r.status_code == 200 and r.json()["user_id"] == user
    claims = jwt.decode(r.json()["token"], options={"verify_signature": False})   # a JWT any tool can read
    assert jwt.get_unverified_header(r.json()["token"])["alg"] == "HS256"
    assert claims["sub"] == user and claims["exp"] == r.json()["expires_at"]


def test_the_password_is_stored_only_as_a_memory_hard_hash(account, pg_url, unique):
    user, password = account(unique("stored"))
    with psycopg.connect(database_url(pg_url, "gateway")) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users WHERE user_id = %s", (user,)).fetchone()
    assert stored.startswith("scrypt$") and password not in stored


def test_a_forged_or_unsigned_jwt_is_refused(gw, login, unique):
    user = unique("forge")
    login(user)
    for bad in (jwt.encode({"sub": user, "exp": 2**31, "iat": 0, "iss": "lastunit-gateway"}, "a-guessed-secret-of-decent-length-0123456789",
                           algorithm="HS256"),
                jwt.encode({"sub": user, "exp": 2**31, "iat": 0, "iss": "lastunit-gateway"}, None, algorithm="none")):
        r = gw.get(f"/carts/{user}", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad


def test_request_id_is_echoed_or_made(gw):
    assert gw.get("/products/nope-x", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = gw.get("/products/nope-x").headers["x-request-id"]
    assert len(made) >= 16
    assert gw.get("/healthz", headers={"X-Request-Id": "bad id with spaces"}).headers["x-request-id"] != \
        "bad id with spaces"


def test_a_user_cannot_read_or_change_anothers_cart(gw, login, unique, product):
    alice, bob = unique("alice"), unique("bob")
    ha, hb = login(alice), login(bob)
    r = gw.put(f"/carts/{alice}/items/{product}", json={"qty": 2}, headers=ha)
    assert r.status_code == 200 and r.json()["items"] == [{"sku": product, "qty": 2}]
    assert gw.get(f"/carts/{alice}", headers=hb).status_code == 403
    assert gw.put(f"/carts/{alice}/items/{product}", json={"qty": 9}, headers=hb).status_code == 403
    assert gw.delete(f"/carts/{alice}/items/{product}", headers=hb).status_code == 403
    assert gw.delete(f"/carts/{alice}", headers=hb).status_code == 403
    assert gw.get(f"/carts/{alice}").status_code == 401
    assert gw.get(f"/carts/{alice}", headers={"Authorization": "Bearer v1.x.1.y"}).status_code == 401
    forged = ha["Authorization"][:-4] + ("AAAA" if not ha["Authorization"].endswith("AAAA") else "BBBB")
    assert gw.get(f"/carts/{alice}", headers={"Authorization": forged}).status_code == 401
    assert gw.get(f"/carts/{alice}/items/../../{bob}", headers=ha).status_code in (403, 404)
    assert gw.get(f"/carts/{alice}", headers=ha).json()["items"] == [{"sku": product, "qty": 2}]


def test_a_user_cannot_read_anothers_order(gw, login, unique, product):
    alice, bob = unique("alice"), unique("bob")
    ha, hb = login(alice), login(bob)
    r = gw.post("/checkout", json={"sku": product, "qty": 1}, headers=ha | {"Idempotency-Key": unique("k")})
    body = r.json()
    order = body if "id" in body else body.get("order")
    assert order and order["user_id"] == alice, r.text
    assert gw.get(f"/orders/{order['id']}", headers=ha).status_code == 200
    r = gw.get(f"/orders/{order['id']}", headers=hb)
    assert r.status_code == 404 and r.json()["error"]
    assert gw.get(f"/orders/{order['id']}").status_code == 401
    assert gw.post("/checkout", json={"sku": product, "qty": 1}).status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/auth/token", {}),
    ("POST", "/auth/token", {"user_id": "has space"}),
    ("POST", "/auth/token", {"user_id": "u", "password": "p", "admin": True}),
    ("POST", "/auth/token", {"user_id": "u", "password": ""}),
    ("POST", "/auth/token", [1]),
    ("GET", "/recommendations?limit=0", None),
    ("GET", "/recommendations?sku=a%20b", None),
    ("GET", "/search?page=-1", None),
    ("GET", "/search?price_min=abc", None),
    ("GET", "/products/a%20b", None),
])
def test_malformed_requests_are_4xx_with_a_message(gw, method, path, body):
    r = gw.request(method, path, json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["detail"]


def test_bad_bodies_behind_auth_are_4xx(gw, login, unique, product):
    user = unique("u")
    h = login(user)
    for bad in ({"qty": 0}, {"qty": 1000}, {"qty": "two"}, {}, {"qty": 1, "x": 1}):
        r = gw.put(f"/carts/{user}/items/{product}", json=bad, headers=h)
        assert r.status_code == 422 and r.json()["detail"], bad
    r = gw.put(f"/carts/{user}/items/{unique('ghost')}", json={"qty": 1}, headers=h)
    assert (r.status_code, r.json()["error"]) == (404, "unknown_sku")
    assert gw.post("/clicks", json={"sku": ""}, headers=h).status_code == 422
    assert gw.post("/clicks", content=b"{nope", headers=h | {"content-type": "application/json"}).status_code == 422


def test_the_cart_checks_out_through_the_saga_once(gw, lab, login, unique, product):
    """The cart is handed to the order saga; a retry of the same cart checkout buys nothing twice."""
    user = unique("buyer")
    h = login(user)
    assert httpx.post(f"{lab['inventory']['url']}/stock/receipts",
                      json={"sku": product, "warehouse": "wh-1", "qty": 5}).status_code == 201
    assert gw.put(f"/carts/{user}/items/{product}", json={"qty": 2}, headers=h).status_code == 200
    key = {"Idempotency-Key": unique("cart-co")}
    r = gw.post("/checkout/cart", headers=h | key)
    assert r.status_code == 201 and r.json()["ordered"] == 1, r.text
    order = r.json()["order"]
    assert order["user_id"] == user and order["lines"][0]["qty"] == 2
    assert gw.get(f"/carts/{user}", headers=h).json()["items"] == []
    again = gw.post("/checkout/cart", headers=h | key)      # the cart is empty: the retry finds its order
    assert again.status_code == 200 and again.json()["order"]["id"] == order["id"], again.text
    assert gw.post("/checkout/cart", headers=h | {"Idempotency-Key": unique("new")}).status_code == 409
    assert gw.get(f"/orders/{order['id']}", headers=h).status_code == 200
    assert gw.post("/checkout/cart", headers=h).status_code == 400               # no key: refused
