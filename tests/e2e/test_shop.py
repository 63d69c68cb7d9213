"""The shop as one shop, through the gateway: the catalog's price is what an order charges and payment
authorizes (a price changed mid-checkout is not charged to it), and what people check out together shows
up in "also bought" after `lastunit recs build` (typed as a user types it), merged incrementally."""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from reference_impl.infra.procs import wait_for
from reference_impl.infra.run_config import set_run
from scenarios.states import PAID_FOR
from tests.conftest import STACK
from tests.e2e.test_cli import lastunit

pytestmark = STACK
#: Bounds a hung test only: each wait wakes as soon as the order is paid (the capture is event driven).
PAID_WAIT_S = 60.0
#: How long the client waits before it gives up on a checkout whose reply orders drops (the gateway would
#: wait its 30 s upstream timeout): any time shorter than that is a lost answer.
LOST_AFTER_S = 3.0


@pytest.fixture
def gw(lab):
    with httpx.Client(base_url=lab["gateway"]["url"], timeout=30) as c:
        yield c


@pytest.fixture
def shopper(gw, account, unique):
    """(user, the Authorization header of their token)."""
    user, password = account(unique("shopper"))
    r = gw.post("/auth/token", json={"user_id": user, "password": password})
    assert r.status_code == 200, r.text
    return user, {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def product(lab, unique):
    """`product(price, units)`: a new SKU in the catalog at `price` with `units` in stock."""
    def make(price: str, units: int = 20) -> str:
        sku = unique("shop")
        doc = {"title": "shop test kettle", "brand": "acme", "category": "home", "price": price}
        assert httpx.put(f"{lab['catalog']['url']}/products/{sku}", json=doc).status_code == 200
        assert httpx.post(f"{lab['inventory']['url']}/stock/receipts",
                          json={"sku": sku, "warehouse": "wh-1", "qty": units}).status_code == 201
        return sku

    return make


def _checkout(gw, shopper, cart: dict[str, int], key: str) -> httpx.Response:
    user, h = shopper
    for sku, qty in cart.items():
        assert gw.put(f"/carts/{user}/items/{sku}", json={"qty": qty}, headers=h).status_code == 200
    return gw.post("/checkout/cart", headers=h | {"Idempotency-Key": key})


def _authorized(lab, order: dict) -> int:
    r = httpx.get(f"{lab['payment']['url']}/payments/{order['payment_id']}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["amount"]


def _wait_paid(gw, h, order_ids: list[str]) -> None:
    for oid in order_ids:
        wait_for(lambda oid=oid: gw.get(f"/orders/{oid}", headers=h).json()["status"] in PAID_FOR, PAID_WAIT_S,
                 f"order {oid} paid")


def test_orders_charge_catalog_prices_and_payment_authorizes_their_sum(lab, gw, shopper, product, unique):
    a, b = product("12.50"), product("3.99")
    r = _checkout(gw, shopper, {a: 2, b: 1}, unique("priced"))
    assert r.status_code == 201 and r.json()["ordered"] == 2, r.text
    order = r.json()["order"]                     # one order of both lines
    assert {ln["sku"]: (ln["qty"], ln["unit_price"]) for ln in order["lines"]} == {a: (2, 1250), b: (1, 399)}
    assert r.json()["amount"] == order["amount"] == 2899 == _authorized(lab, order)


def test_a_cart_with_a_line_out_of_stock_buys_nothing_and_keeps_the_cart(lab, gw, shopper, product, unique):
    """One order of all lines, all or nothing: the short line cancels it, the other line is given back,
    nothing is charged, and both lines stay in the cart."""
    (user, h), a, b = shopper, product("4.00", units=3), product("6.00", units=1)
    r = _checkout(gw, shopper, {a: 1, b: 2}, unique("short"))
    assert r.status_code == 409 and r.json()["error"] == "out_of_stock" and r.json()["ordered"] == 0, r.text
    assert r.json()["order"]["status"] == "cancelled" and r.json()["order"]["payment_id"] is None
    shelf = httpx.get(f"{lab['inventory']['url']}/stock/{a}", timeout=10).json()["warehouses"][0]
    assert (shelf["available"], shelf["reserved"]) == (3, 0)
    assert {it["sku"] for it in gw.get(f"/carts/{user}", headers=h).json()["items"]} == {a, b}


def test_a_price_changed_mid_checkout_is_not_charged_to_it(lab, gw, shopper, product, unique):
    """The checkout's answer is lost after its order was placed at 12.50 (orders drops the reply, the client
    gives up); the price becomes 20.00; the client's retry with the same key gets that order at 12.50, and
    only a new checkout pays 20.00."""
    (user, h), sku, key = shopper, product("12.50"), unique("lost")
    assert gw.put(f"/carts/{user}/items/{sku}", json={"qty": 1}, headers=h).status_code == 200
    r = redis.from_url(lab["redis"]["url"])
    try:
        set_run(r, {"faults": [{"point": "orders.after_payment", "action": "drop_reply", "probability": 1.0}]})
        with pytest.raises(httpx.ReadTimeout):       # the gateway waits on orders far longer than this
            gw.post("/checkout/cart", headers=h | {"Idempotency-Key": key}, timeout=LOST_AFTER_S)
        placed = wait_for(lambda: _placed(gw, h, key), PAID_WAIT_S, "the lost checkout's order")
    finally:
        set_run(r, None)
        r.close()
    assert placed["amount"] == 1250
    assert httpx.put(f"{lab['catalog']['url']}/products/{sku}/price", json={"price": "20.00"}).status_code == 200
    retry = gw.post("/checkout/cart", headers=h | {"Idempotency-Key": key})
    assert retry.status_code == 201, retry.text
    assert retry.json()["lines"][0]["catalog_price"] == 2000
    assert retry.json()["order"]["amount"] == 1250 == _authorized(lab, retry.json()["order"])
    again = _checkout(gw, shopper, {sku: 1}, unique("new"))
    assert again.status_code == 201 and again.json()["amount"] == 2000
    assert _authorized(lab, again.json()["order"]) == 2000


def _placed(gw, h, line_key: str) -> dict | None:
    """The order a line key made, once its saga got past pending (confirmed: authorized)."""
    r = gw.get(f"/checkout/{line_key}", headers=h)
    return r.json() if r.status_code == 200 and r.json().get("status") not in (None, "pending") else None


def _recs_for(gw, sku: str) -> dict[str, int]:
    return {it["sku"]: it["count"] for it in gw.get("/recommendations", params={"sku": sku, "limit": 50})
            .json()["items"]}


def _build() -> dict:
    r = lastunit("recs", "build", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_what_carts_bought_together_is_also_bought_after_the_next_build(gw, shopper, product, unique):
    a, b, c = product("5.00"), product("7.00"), product("9.00")
    orders = []
    for cart in ({a: 1, b: 1}, {a: 1, b: 2}, {a: 1, c: 1}):
        r = _checkout(gw, shopper, cart, unique("pair"))
        assert r.status_code == 201 and r.json()["ordered"] == len(cart), r.text
        orders.append(r.json()["order"]["id"])
    _wait_paid(gw, shopper[1], orders)
    first = _build()
    assert first["published"] and first["lines_read"] >= 6
    assert _recs_for(gw, a) == {b: 2, c: 1} and _recs_for(gw, b) == {a: 2}

    r = _checkout(gw, shopper, {b: 1, c: 1}, unique("pair"))
    _wait_paid(gw, shopper[1], [r.json()["order"]["id"]])
    second = _build()
    assert second["since"] == first["watermark"]              # incremental: only lines since the last build
    assert _recs_for(gw, c) == {a: 1, b: 1} and _recs_for(gw, a) == {b: 2, c: 1}
    third = _build()                                          # rereads the overlap: counts nothing twice
    assert third["lines_read"] >= 2 and _recs_for(gw, c) == {a: 1, b: 1}


def test_the_single_checkout_is_priced_by_the_shop_never_by_the_client(lab, gw, shopper, product, unique):
    """`POST /checkout` once forwarded the client's `unit_price` to orders: a buyer could name their price.
    Now a price in the body is refused (422) and the catalog's price is charged."""
    _, h = shopper
    sku = product("7.25")
    cheat = gw.post("/checkout", json={"sku": sku, "qty": 2, "unit_price": 1},
                    headers=h | {"Idempotency-Key": unique("cheat")})
    assert cheat.status_code == 422 and "unit_price" in cheat.text, cheat.text
    r = gw.post("/checkout", json={"sku": sku, "qty": 2}, headers=h | {"Idempotency-Key": unique("fair")})
    assert r.status_code in (200, 201) and r.json()["amount"] == 2 * 725, r.text
