"""The cart handed to the order saga as ONE order of all its lines, priced by the catalog.

Why the order's key is the client's Idempotency-Key itself: retrying the whole cart checkout (a lost answer)
sends the same lines with the same key, and orders answers the order it already made instead of buying
again. The order's lines are reserved all-or-nothing (orders' saga, inventory's reservation groups): a
line out of stock cancels the whole order with nothing held and nothing charged. The order's lines leave
the cart once it is placed; lines the catalog refused stay, with the reason in the answer. A retry after
the cart was emptied finds the order by its key (orders' `GET /checkouts/{key}`) and answers it again.

The price rule: every line's price is read from the catalog's source of truth (`GET /products/{sku}`, not
the search index) once, for all lines, before the order is placed, and sent to orders as each line's
`unit_price` in cents. The order stores each line's price and amount = sum(qty x unit_price), and that amount
is what payment authorizes. So a price change after the checkout started is not charged to it; a retry with
the same key finds the order at the prices it was placed with (orders keeps the first, a retry's prices do
not reprice it); the next checkout (a new key) pays the new prices. The cart holds quantities only: what a
line costs now is the catalog's current price. Each line of the answer shows the `catalog_price` this
attempt read; the order's lines show what is charged; the answer's `amount` is the order's.
"""

from __future__ import annotations

import asyncio
import json
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

from reference_impl.gateway.upstream import Upstream
from reference_impl.infra.http import ApiError
from scenarios.policy import DEFAULT_UNIT_PRICE
from scenarios.states import OrderStatus


def cents(price) -> int:
    """The catalog's decimal price (two places, sent as a JSON number) in the whole cents orders counts."""
    return int((Decimal(str(price)) * 100).to_integral_value(ROUND_HALF_UP))


async def _price(upstream: Upstream, sku: str, headers: dict) -> tuple[int | None, int, dict]:
    """(cents, 200, {}) or (None, status, why the line cannot be bought). A catalog that cannot answer
    fails the whole checkout before any order: nothing is bought at an unknown price."""
    status, product = await upstream.json("catalog", "GET", f"/products/{quote(sku, safe='')}", headers=headers)
    if status == 404:
        return None, 404, {"error": "unknown_sku", "detail": f"{sku!r} is no longer in the catalog"}
    if status != 200:
        raise ApiError(503, "unavailable", f"the catalog could not price {sku!r} (HTTP {status})")
    price = cents(product["price"])
    if price < 1:
        return None, 409, {"error": "not_for_sale", "detail": f"{sku!r} has no price"}
    return price, 200, {}


async def single_price(upstream: Upstream, sku: str, headers: dict) -> int:
    """The price of `POST /checkout`'s one SKU: the catalog's, read when the checkout arrives (the cart's
    rule). A SKU the catalog does not list (a race SKU the lab stocked straight into the inventory) costs
    policy.DEFAULT_UNIT_PRICE. Never the client's: the gateway's body has no price field."""
    read = {k: v for k, v in headers.items() if k.lower() not in ("idempotency-key", "content-type")}
    price, status, refused = await _price(upstream, sku, read)
    if price is not None:
        return price
    if status == 404:
        return DEFAULT_UNIT_PRICE
    raise ApiError(status, refused["error"], refused["detail"])


async def checkout_cart(upstream: Upstream, user: str, key: str, headers: dict) -> tuple[dict, int]:
    """The answer body and its status: 201 (200 for a retry the cart no longer shows) when the lines became
    an order that is not cancelled, else 409 with the reasons."""
    status, cart = await upstream.json("cart", "GET", f"/carts/{quote(user, safe='')}", headers=headers)
    read_headers = {k: v for k, v in headers.items() if k.lower() not in ("idempotency-key", "content-type")}
    if status != 200 or not cart.get("items"):
        st, order = await upstream.json("orders", "GET", f"/checkouts/{quote(key, safe='')}", headers=read_headers)
        if st == 200:           # a retry after its order emptied the cart: that order, again
            return _answer(order, [], 200 if order["status"] != OrderStatus.CANCELLED else 409)
        raise ApiError(409, "cart_empty", "nothing in the cart to check out")
    prices = await asyncio.gather(*(_price(upstream, item["sku"], read_headers) for item in cart["items"]))
    lines, wanted = [], []
    for item, (unit_price, refused_status, refused) in zip(cart["items"], prices, strict=True):
        if unit_price is None:
            lines.append({"sku": item["sku"], "qty": item["qty"], "status": refused_status, "ordered": False}
                         | refused)
            continue
        lines.append({"sku": item["sku"], "qty": item["qty"], "catalog_price": unit_price})
        wanted.append({"sku": item["sku"], "qty": item["qty"], "unit_price": unit_price})
    if not wanted:
        return _answer(None, lines, 409)
    st, order = await upstream.json("orders", "POST", "/checkouts", body=json.dumps({"lines": wanted}).encode(),
                                    headers=headers | {"idempotency-key": key, "content-type": "application/json"})
    ordered = st in (200, 201) and order.get("status") != OrderStatus.CANCELLED
    for line in lines:
        if "catalog_price" in line:
            line |= {"status": st, "ordered": ordered}
    if ordered:
        for item in wanted:
            await upstream.json("cart", "DELETE", f"/carts/{quote(user, safe='')}/items/{quote(item['sku'], safe='')}",
                                headers=headers)
        return _answer(order, lines, 201)
    # Cancelled (out of stock, declined: nothing held, nothing charged), or still running (202: poll
    # GET /checkout/{key}). The lines stay in the cart.
    why = {k: order[k] for k in ("error", "detail") if k in order}
    return _answer(order.get("order") if why else order, lines, 202 if st == 202 else 409, why)


def _answer(order: dict | None, lines: list[dict], status: int, why: dict | None = None) -> tuple[dict, int]:
    """The cart checkout's answer: the order (None: none was placed), each cart line with what became of
    it, how many lines were ordered and the amount charged for them (the order's). A 4xx always says why
    (`error`, `detail`), as every error body does."""
    placed = status in (200, 201)
    if not lines and order is not None:      # a retry after the cart was emptied: the order's own lines
        lines = [{"sku": ln["sku"], "qty": ln["qty"], "status": status, "ordered": placed}
                 for ln in order.get("lines") or ()]
    why = dict(why or {})
    if status >= 400 and "error" not in why:
        why = ({"error": "order_cancelled", "detail": f"the order was cancelled ({order.get('cancel_reason')})"}
               if order else {"error": "nothing_to_order", "detail": "no line of the cart could be priced: see lines"})
    return ({"order": order, "lines": lines, "ordered": sum(bool(ln.get("ordered")) for ln in lines),
             "amount": order["amount"] if placed else 0} | why, status)
