"""The gateway's HTTP face: every client request enters here.

edge.py runs first on every request (request id, caller, rate limit). Then routing: catalog and
recommendations are open; carts, clicks, checkout and orders need a token, and a user reaches only their own
(another's cart is 403; another's order is 404, so order ids cannot be probed).
"""

from __future__ import annotations

import json
import math
import os
from typing import Annotated
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reference_impl.cart.models import QtyBody
from reference_impl.cart.models import Sku as CartSku
from reference_impl.cart.models import User as CartUser
from reference_impl.gateway import auth, cart_checkout, login
from reference_impl.gateway.edge import edge
from reference_impl.gateway.ratelimit import Limiter
from reference_impl.gateway.upstream import Upstream, pass_headers
from reference_impl.infra.headers import IdempotencyKey, documented, key_doc, require_key
from reference_impl.infra.http import ApiError, install_error_handlers
from reference_impl.infra.jsontypes import Sku, WholeNumber
from reference_impl.infra.openapi import EVERYWHERE, UuidPath, errors
from reference_impl.infra.service import lifespan
from reference_impl.orders.models import CheckoutBody
from scenarios.policy import CHECKOUT_KEY_MAX_LEN

UserId = Annotated[str, StringConstraints(pattern=auth.USER_ID.pattern)]
#: The gateway's database holds only accounts; a login reads one row, so a few connections suffice.
POOL_SIZE = 4


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UserId
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class BuyBody(BaseModel):
    """What a buyer may say at the edge: what, how many, which card. No price: an extra field is a 422
    (orders' own body takes `unit_price` from the services that priced it, never from the public)."""
    model_config = ConfigDict(extra="forbid")
    sku: Sku
    qty: WholeNumber = Field(ge=1, le=100)
    card: str = Field(default="4242424242424242", min_length=4, max_length=32, pattern=r"^[0-9]+$")


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


app = FastAPI(title="lastunit gateway", lifespan=lifespan("gateway", POOL_SIZE, start=_start, stop=_stop))
#: Every request may be rate limited (edge.py), and a service behind may answer nonsense or nothing in time.
install_error_handlers(app, (*EVERYWHERE, 429, 502, 504), security={"bearer": {"type": "http", "scheme": "bearer"}})
#: Routes that need a caller: the token is declared, and a missing or bad one is a 401.
AUTHED = {"openapi_extra": {"security": [{"bearer": []}]}, "responses": errors(401)}
#: Routes on a user's own cart: someone else's is a 403.
OWN = AUTHED | {"responses": errors(401, 403)}
KEY_WHY = "one per checkout; a retry sends the same key (orders takes this key, ':' and a SKU per cart line)"


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


@app.post("/auth/token", responses=errors(401))
async def token(body: TokenBody, request: Request):
    """A JWT for a user who proves it with their password (`lastunit seed` makes accounts); 401 otherwise,
    429 with Retry-After when this IP tries too often."""
    ip = request.client.host if request.client else "unknown"
    try:
        return await login.login(app, body.user_id, body.password, ip)
    except login.Throttled as exc:
        return JSONResponse({"error": "rate_limited", "detail": str(exc)}, status_code=429,
                            headers={"Retry-After": str(max(1, math.ceil(exc.wait)))})


@app.get("/search")
async def search(request: Request):
    return await app.state.upstream.forward("catalog", "GET", "/search", params=list(request.query_params.multi_items()),
                                            headers=_headers(request))


@app.get("/products/{sku}", responses=errors(404))
async def product(sku: Sku, request: Request):
    return await app.state.upstream.forward("catalog", "GET", f"/products/{sku}", headers=_headers(request))


def _cart_path(user_id: str, rest: str = "") -> str:
    return f"/carts/{quote(user_id, safe='')}" + rest


async def _cart(request: Request, user_id: str, rest: str = "", body: bytes | None = None):
    """Forward to the cart service once the caller is known to own the cart."""
    if user_id != caller(request):
        raise ApiError(403, "forbidden", "a user may read and change only their own cart")
    headers = _headers(request) | ({"content-type": "application/json"} if body is not None else {})
    return await app.state.upstream.forward("cart", request.method, _cart_path(user_id, rest), body=body,
                                            headers=headers)


@app.get("/carts/{user_id}", **OWN)
async def get_cart(user_id: CartUser, request: Request):
    return await _cart(request, user_id)


@app.delete("/carts/{user_id}", **OWN)
async def clear_cart(user_id: CartUser, request: Request):
    return await _cart(request, user_id)


@app.put("/carts/{user_id}/items/{sku}", **OWN | {"responses": errors(401, 403, 404, 409)})
async def set_item(user_id: CartUser, sku: CartSku, body: QtyBody, request: Request):
    return await _cart(request, user_id, f"/items/{sku}", body.model_dump_json().encode())


@app.delete("/carts/{user_id}/items/{sku}", **OWN | {"responses": errors(401, 403, 404)})
async def remove_item(user_id: CartUser, sku: CartSku, request: Request):
    return await _cart(request, user_id, f"/items/{sku}")


@app.post("/carts/{user_id}/items/{sku}/save-for-later", **OWN | {"responses": errors(401, 403, 404)})
async def save_for_later(user_id: CartUser, sku: CartSku, request: Request):
    return await _cart(request, user_id, f"/items/{sku}/save-for-later")


@app.post("/carts/{user_id}/saved/{sku}/move-to-cart", **OWN | {"responses": errors(401, 403, 404)})
async def move_to_cart(user_id: CartUser, sku: CartSku, request: Request):
    return await _cart(request, user_id, f"/saved/{sku}/move-to-cart")


@app.get("/recommendations")
async def recommendations(request: Request, sku: Sku | None = None,
                          limit: Annotated[int, Query(ge=1, le=50)] = 10):
    params = {"limit": limit} | ({"sku": sku} if sku else {})
    params |= {"user_id": request.state.user_id} if request.state.user_id else {}
    return await app.state.upstream.forward("recommendation", "GET", "/recs", params=params,
                                            headers=_headers(request))


@app.post("/clicks", status_code=201, **AUTHED)
async def click(body: ClickBody, request: Request):
    payload = {"user_id": caller(request), "sku": body.sku}
    return await app.state.upstream.forward("recommendation", "POST", "/clicks", body=_json(payload),
                                            headers=_headers(request) | {"content-type": "application/json"})


@app.post("/checkout", status_code=201, responses=errors(400, 401, 402, 404, 409)
          | {200: {"description": "A retry of a checkout already final: the order as it stands"},
             202: {"description": "Still running (an answer was lost): poll the order or retry with the key"}},
          openapi_extra=AUTHED["openapi_extra"] | documented(key_doc(CHECKOUT_KEY_MAX_LEN, KEY_WHY)))
async def checkout(body: BuyBody, request: Request, idempotency_key: IdempotencyKey = None):
    """The orders service's checkout for the caller: 201 confirmed; 402, 404, 409 with the cancelled order.
    Priced by the gateway (`cart_checkout.single_price`), never by the client."""
    caller(request)
    _key(idempotency_key)
    headers = _headers(request)
    order = CheckoutBody(**body.model_dump(), unit_price=await cart_checkout.single_price(
        app.state.upstream, body.sku, headers))
    return await app.state.upstream.forward("orders", "POST", "/checkouts", body=order.model_dump_json().encode(),
                                            headers=headers | {"content-type": "application/json"})


@app.get("/checkout/{key}", **(AUTHED | {"responses": errors(401, 404)}))
async def checkout_status(key: str, request: Request):
    """The order a checkout key made, for the client that lost the reply or got `202 pending`: a status
    page to poll until the order is final. Only the caller's own checkouts (orders checks the user)."""
    caller(request)
    return await app.state.upstream.forward("orders", "GET", f"/checkouts/{quote(key, safe='')}",
                                            headers=_headers(request))


@app.post("/checkout/cart", status_code=201, responses=errors(400, 401, 409)
          | {200: {"description": "A retry whose order already emptied the cart: that order again"},
             202: {"description": "Still running (an answer was lost): poll GET /checkout/{key}"}},
          openapi_extra=AUTHED["openapi_extra"] | documented(key_doc(CHECKOUT_KEY_MAX_LEN, KEY_WHY)))
async def checkout_cart(request: Request, idempotency_key: IdempotencyKey = None):
    """Hand the caller's cart to the order saga as one order of all its lines (`cart_checkout.py`)."""
    me = caller(request)
    body, status = await cart_checkout.checkout_cart(app.state.upstream, me, _key(idempotency_key),
                                                     _headers(request))
    return JSONResponse(body, status_code=status)


@app.get("/orders/{order_id}", **AUTHED | {"responses": errors(400, 401, 404)})
async def order(order_id: UuidPath, request: Request):
    me = caller(request)
    status, body = await app.state.upstream.json("orders", "GET", f"/orders/{quote(order_id, safe='')}",
                                                 headers=_headers(request))
    if status == 200 and body.get("user_id") != me:
        status, body = 404, {"error": "unknown_order", "detail": f"no order {order_id} for this user"}
    return JSONResponse(body, status_code=status)


def _key(key: str | None) -> str:
    return require_key(key, CHECKOUT_KEY_MAX_LEN)


def _json(payload: dict) -> bytes:
    return json.dumps(payload).encode()
