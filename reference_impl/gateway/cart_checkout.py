"""The cart handed to the order saga: one order per line (an order holds one SKU here).

Why each line's key is the client's Idempotency-Key plus the SKU: retrying the whole cart checkout (a lost
answer) then finds each line's order instead of buying it again. Lines that became orders leave the cart;
the others stay, with the reason in the answer.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from reference_impl.gateway.upstream import Upstream
from reference_impl.infra.http import ApiError


async def checkout_cart(upstream: Upstream, user: str, key: str, headers: dict) -> tuple[dict, int]:
    """The answer body and its status: 201 when at least one line became an order, else 409."""
    status, cart = await upstream.json("cart", "GET", f"/carts/{quote(user, safe='')}", headers=headers)
    if status != 200 or not cart.get("items"):
        raise ApiError(409, "cart_empty", "nothing in the cart to check out")
    lines = []
    for item in cart["items"]:
        sku = item["sku"]
        line_headers = headers | {"idempotency-key": f"{key}:{sku}", "content-type": "application/json"}
        st, order = await upstream.json("orders", "POST", "/checkouts", headers=line_headers,
                                        body=json.dumps({"sku": sku, "qty": item["qty"]}).encode())
        if st in (200, 201):
            await upstream.json("cart", "DELETE", f"/carts/{quote(user, safe='')}/items/{quote(sku, safe='')}",
                                headers=headers)
        lines.append({"sku": sku, "qty": item["qty"], "status": st, "order": order})
    ok = sum(line["status"] in (200, 201) for line in lines)
    return {"orders": lines, "ordered": ok, "lines": len(lines)}, 201 if ok else 409
