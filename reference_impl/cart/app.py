"""The cart service (internal: the gateway has already checked that the caller owns the cart).

Quantities are validated against the catalog: the SKU must be a product there (a 404 otherwise), and a line
holds 1..MAX_QTY units; a cart holds at most MAX_LINES lines.
"""

from __future__ import annotations

import os

import aiohttp
from fastapi import FastAPI

from reference_impl.cart.models import MAX_LINES, QtyBody, Sku, User
from reference_impl.cart.store import CartStore, Q
from reference_impl.infra.http import ApiError, install_error_handlers
from reference_impl.infra.openapi import errors
from reference_impl.infra.service import lifespan

POOL_SIZE = int(os.environ.get("LAB_CART_POOL", "8"))


def _start(app: FastAPI) -> list:
    app.state.store = CartStore(app.state.pool, app.state.redis)
    app.state.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    return []


async def _stop(app: FastAPI) -> None:
    await app.state.http.close()


app = FastAPI(title="lastunit cart", lifespan=lifespan("cart", POOL_SIZE, _start, _stop))
install_error_handlers(app)


async def _check_product(sku: str) -> None:
    base = os.environ.get("LAB_CATALOG_URL")
    if not base:
        raise ApiError(503, "unavailable", "cannot validate against the catalog: LAB_CATALOG_URL is not set")
    try:
        async with app.state.http.get(f"{base.rstrip('/')}/products/{sku}") as r:
            status = r.status
    except (aiohttp.ClientError, TimeoutError):
        raise ApiError(503, "unavailable", "the catalog did not answer; try again") from None
    if status == 404:
        raise ApiError(404, "unknown_sku", f"no product {sku!r} in the catalog")
    if status != 200:
        raise ApiError(503, "unavailable", f"the catalog answered {status}")


async def _view(user_id: str) -> dict:
    items, saved, source = await app.state.store.read(user_id)
    return {"user_id": user_id, "items": items, "saved": saved, "source": source}


@app.get("/healthz")
async def healthz():
    return {"ok": True, "service": "cart", "pid": os.getpid()}


@app.get("/carts/{user_id}")
async def get_cart(user_id: User):
    return await _view(user_id)


@app.put("/carts/{user_id}/items/{sku}", responses=errors(404, 409))
async def set_item(user_id: User, sku: Sku, body: QtyBody):
    await _check_product(sku)

    async def edit(conn):
        await Q.set_line(conn, user_id=user_id, sku=sku, list="cart", qty=body.qty)
        if await Q.count_lines(conn, user_id=user_id, list="cart") > MAX_LINES:
            raise ApiError(409, "cart_full", f"a cart holds at most {MAX_LINES} lines")

    await app.state.store.change(user_id, edit)
    return await _view(user_id)


async def _move(user_id: str, sku: str, src: str, dst: str) -> dict:
    async def edit(conn):
        qty = await Q.delete_line(conn, user_id=user_id, list=src, sku=sku)
        if qty is None:
            raise ApiError(404, "not_in_list", f"{sku!r} is not in the {src} list")
        if dst:
            await Q.set_line(conn, user_id=user_id, sku=sku, list=dst, qty=qty)

    await app.state.store.change(user_id, edit)
    return await _view(user_id)


@app.delete("/carts/{user_id}/items/{sku}", responses=errors(404))
async def remove_item(user_id: User, sku: Sku):
    return await _move(user_id, sku, "cart", "")


@app.post("/carts/{user_id}/items/{sku}/save-for-later", responses=errors(404))
async def save_for_later(user_id: User, sku: Sku):
    return await _move(user_id, sku, "cart", "saved")


@app.post("/carts/{user_id}/saved/{sku}/move-to-cart", responses=errors(404))
async def move_to_cart(user_id: User, sku: Sku):
    return await _move(user_id, sku, "saved", "cart")


@app.delete("/carts/{user_id}")
async def clear(user_id: User):
    async def edit(conn):
        await Q.clear_list(conn, user_id=user_id, list="cart")

    await app.state.store.change(user_id, edit)
    return await _view(user_id)
