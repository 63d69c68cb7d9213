"""The cart handed to the order saga: one order per line (an order holds one SKU here), priced by the catalog.

Why each line's key is the client's Idempotency-Key plus the SKU: retrying the whole cart checkout (a lost
answer) then finds each line's order instead of buying it again. Lines that became orders leave the cart;
the others stay, with the reason in the answer.

The price rule: every line's price is read from the catalog's source of truth (`GET /products/{sku}`, not
the search index) once, for all lines, before the first order is placed, and sent to orders as
`unit_price` in cents. The order stores qty x unit_price as its `amount`, and that amount is what payment
authorizes. So a price change after the checkout started is not charged to it; a retry with the same key
finds each line's order at the amount it was placed with (orders keeps the first, a retry's price does not
reprice it); the next checkout (a new key) pays the new price. The cart holds quantities only: what a line
costs now is the catalog's current price. Each line of the answer shows the `catalog_price` this attempt
read beside its order, whose `amount` is what is charged; the answer's `amount` sums the ordered lines'.
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
    """The answer body and its status: 201 when at least one line became an order, else 409."""
    status, cart = await upstream.json("cart", "GET", f"/carts/{quote(user, safe='')}", headers=headers)
    if status != 200 or not cart.get("items"):
        raise ApiError(409, "cart_empty", "nothing in the cart to check out")
    read_headers = {k: v for k, v in headers.items() if k.lower() not in ("idempotency-key", "content-type")}
    prices = await asyncio.gather(*(_price(upstream, item["sku"], read_headers) for item in cart["items"]))
    lines = []
    for item, (unit_price, refused_status, refused) in zip(cart["items"], prices, strict=True):
        sku = item["sku"]
        if unit_price is None:
            lines.append({"sku": sku, "qty": item["qty"], "status": refused_status, "ordered": False,
                          "order": refused})
            continue
        line_headers = headers | {"idempotency-key": f"{key}:{sku}", "content-type": "application/json"}
        st, order = await upstream.json("orders", "POST", "/checkouts", headers=line_headers, body=json.dumps(
            {"sku": sku, "qty": item["qty"], "unit_price": unit_price}).encode())
        ordered = st in (200, 201) and order.get("status") != OrderStatus.CANCELLED
        if ordered:
            await upstream.json("cart", "DELETE", f"/carts/{quote(user, safe='')}/items/{quote(sku, safe='')}",
                                headers=headers)
        lines.append({"sku": sku, "qty": item["qty"], "catalog_price": unit_price, "status": st,
                      "ordered": ordered, "order": order})
    done = [line for line in lines if line.get("ordered")]
    return ({"orders": lines, "ordered": len(done), "lines": len(lines),
             "amount": sum(line["order"]["amount"] for line in done)}, 201 if done else 409)
