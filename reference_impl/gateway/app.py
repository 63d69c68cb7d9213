"""The gateway's HTTP face: every client request enters here.

edge.py runs first on every request (request id, caller, rate limit). Then routing: catalog and
recommendations are open; carts, clicks, checkout and orders need a token, and a user reaches only their own
(another's cart is 403; another's order is 404, so order ids cannot be probed).
"""

from __future__ import annotations

import json
import os
import re
from typing import Annotated
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints

from reference_impl.gateway import auth, cart_checkout
from reference_impl.gateway.edge import edge
from reference_impl.gateway.ratelimit import Limiter
from reference_impl.gateway.upstream import Upstream, pass_headers
from reference_impl.infra.http import ApiError, install_error_handlers
from reference_impl.infra.service import lifespan

#: What may follow /carts/{user}/: our own route shapes only, never a `..` that climbs out of the user's cart.
CART_REST = re.compile(r"^(items|saved)/[A-Za-z0-9._:-]{1,128}(/(save-for-later|move-to-cart))?$")
UserId = Annotated[str, StringConstraints(pattern=auth.USER_ID.pattern)]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UserId


class ClickBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Sku


async def _start(app: FastAPI) -> list:
    app.state.secret = await auth.load_secret(app.state.redis)
    app.state.limiter = Limiter(app.state.redis)
    app.state.upstream = Upstream()
    return []


async def _stop(app: FastAPI) -> None:
    await app.state.upstream.close()


app = FastAPI(title="lastunit gateway", lifespan=lifespan(start=_start, stop=_stop))
install_error_handlers(app)


app.middleware("http")(edge)


def caller(request: Request) -> str:
    if request.state.user_id:
        return request.state.user_id
    raise ApiError(401, "unauthenticated", request.state.auth_error or "send Authorization: Bearer <token>")


def _headers(request: Request) -> dict:
    return pass_headers(request, request.state.user_id, request.state.request_id)


@app.get("/healthz")
async def healthz():
    return {"ok": True, "service": "gateway", "pid": os.getpid()}


@app.post("/auth/token")
async def token(body: TokenBody):
    tok, exp = auth.issue(app.state.secret, body.user_id)
    return {"token": tok, "user_id": body.user_id, "expires_at": exp, "token_type": "bearer"}


@app.get("/search")
async def search(request: Request):
    return await app.state.upstream.forward("catalog", "GET", "/search", params=list(request.query_params.multi_items()),
                                            headers=_headers(request))


@app.get("/products/{sku}")
async def product(sku: Sku, request: Request):
    return await app.state.upstream.forward("catalog", "GET", f"/products/{sku}", headers=_headers(request))


@app.api_route("/carts/{user_id}", methods=["GET", "DELETE"])
@app.api_route("/carts/{user_id}/{rest:path}", methods=["GET", "PUT", "POST", "DELETE"])
async def cart(user_id: str, request: Request, rest: str = ""):
    if user_id != caller(request):
        raise ApiError(403, "forbidden", "a user may read and change only their own cart")
    if rest and not CART_REST.match(rest):
        raise ApiError(404, "not_found", f"no cart route {rest[:60]!r}")
    path = f"/carts/{user_id}" + (f"/{rest}" if rest else "")
    return await app.state.upstream.forward("cart", request.method, path, body=await request.body(),
                                            headers=_headers(request))


@app.get("/recommendations")
async def recommendations(request: Request, sku: Sku | None = None,
                          limit: Annotated[int, Query(ge=1, le=50)] = 10):
    params = {"limit": limit} | ({"sku": sku} if sku else {})
    params |= {"user_id": request.state.user_id} if request.state.user_id else {}
    return await app.state.upstream.forward("recommendation", "GET", "/recs", params=params,
                                            headers=_headers(request))


@app.post("/clicks")
async def click(body: ClickBody, request: Request):
    payload = {"user_id": caller(request), "sku": body.sku}
    return await app.state.upstream.forward("recommendation", "POST", "/clicks", body=_json(payload),
                                            headers=_headers(request) | {"content-type": "application/json"})


@app.post("/checkout")
async def checkout(request: Request):
    caller(request)
    return await app.state.upstream.forward("orders", "POST", "/checkouts", body=await request.body(),
                                            headers=_headers(request))


@app.post("/checkout/cart")
async def checkout_cart(request: Request):
    """Hand the caller's cart to the order saga (`cart_checkout.py`)."""
    me = caller(request)
    key = request.headers.get("idempotency-key")
    if not key:
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header: one per cart checkout")
    body, status = await cart_checkout.checkout_cart(app.state.upstream, me, key, _headers(request))
    return JSONResponse(body, status_code=status)


@app.get("/orders/{order_id}")
async def order(order_id: str, request: Request):
    me = caller(request)
    status, body = await app.state.upstream.json("orders", "GET", f"/orders/{quote(order_id, safe='')}",
                                                 headers=_headers(request))
    if status == 200 and body.get("user_id") != me:
        status, body = 404, {"error": "unknown_order", "detail": f"no order {order_id} for this user"}
    return JSONResponse(body, status_code=status)


def _json(payload: dict) -> bytes:
    return json.dumps(payload).encode()
