"""The orders service: `POST /checkouts` runs the saga up to confirmed; events and recovery do the rest."""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from reference_impl.infra import bus, consumer, relay
from reference_impl.infra.body_limit import BodyLimit
from reference_impl.infra.client import ServiceClient, Unknown
from reference_impl.infra.fastlane import FastLane, Route, response
from reference_impl.infra.headers import (
    USER_ID_MAX_LEN,
    IdempotencyKey,
    UserIdHeader,
    documented,
    key_doc,
    require_key,
)
from reference_impl.infra.http import ApiError, install_error_handlers
from reference_impl.infra.openapi import UuidPath, errors
from reference_impl.infra.run_config import RunConfig
from reference_impl.infra.service import add_healthz, lifespan, until_due
from reference_impl.orders import recovery
from reference_impl.orders.events import OrderEvents
from reference_impl.orders.models import CheckoutBody
from reference_impl.orders.saga import Q, Saga, Stop
from scenarios.policy import ORDER_KEY_MAX_LEN, PAYMENT_TIMEOUT_S
from scenarios.policy import ORDER_LEASE_S as LEASE_S
from scenarios.states import OrderStatus

POOL_SIZE = 16


def _start(app: FastAPI) -> list:
    app.state.config = RunConfig(app.state.redis, "orders")
    app.state.clients = [ServiceClient("inventory"), ServiceClient("payment", timeout_s=PAYMENT_TIMEOUT_S)]
    app.state.saga = Saga(app.state.pool, *app.state.clients, app.state.config)
    events = OrderEvents(app.state.pool, app.state.clients[0])
    listener = app.state.listener
    return [app.state.config.watch(), relay.relay_forever(app.state.dsn, app.state.redis, "orders"),
            consumer.consume_forever(app.state.pool, app.state.redis, "orders", events.handlers()),
            until_due(lambda: recovery.recover_once(app.state.pool, app.state.saga, app.state.config),
                      listener.event(recovery.CHANNEL), "orders recovery")]


async def _stop(app: FastAPI) -> None:
    for client in app.state.clients:
        await client.close()


app = FastAPI(title="lastunit orders", lifespan=lifespan("orders", POOL_SIZE, _start, _stop,
                                                       channels=(recovery.CHANNEL,)))
install_error_handlers(app)
add_healthz(app, "orders")


def _public(order, lines: list[dict]) -> dict:
    keep = ("id", "user_id", "sku", "qty", "amount", "status", "cancel_reason", "reservation_id",
            "reservation_group_id", "payment_id", "shipment_id", "created_at", "updated_at")
    return {k: (str(order[k]) if order[k] is not None and k.endswith(("id", "_at")) and k != "user_id"
                else order[k]) for k in keep} | {"lines": lines}


async def _lines(conn, order_id) -> list[dict]:
    return [{"sku": r["sku"], "qty": r["qty"], "unit_price": r["unit_price"]}
            async for r in Q.lines_of(conn, order_id=order_id)]


async def _view(order_id) -> dict:
    """The order as the API shows it: its row and its lines."""
    async with app.state.pool.acquire() as conn:
        order = await Q.get_order(conn, id=order_id)
        return _public(order, await _lines(conn, order_id))


@app.post("/checkouts", status_code=201, responses=errors(400, 401, 402, 404, 409, 422)
          | {200: {"description": "A retry of a checkout already final: the order as it stands"},
             202: {"description": "Still running (an answer was lost): poll the order or retry with the key"}},
          openapi_extra=documented(key_doc(ORDER_KEY_MAX_LEN, "one per checkout; a retry sends the same key"),
                                   ("X-User-Id", USER_ID_MAX_LEN, "the buyer (the gateway sets it from the token)")))
async def checkout(body: CheckoutBody, idempotency_key: IdempotencyKey = None, x_user_id: UserIdHeader = None):
    """201 confirmed; 402 declined, 404 unknown SKU, 409 out of stock (each: the order, cancelled).

    `sku` + `qty` (+ `unit_price`) is an order of one line; `lines: [{sku, qty, unit_price}]` an order of
    several, reserved all-or-nothing. `amount` = the sum of qty x unit_price. A retry (same key) must
    send the same lines (SKU and qty; listed in any order, since a cart need not list them alike twice); its
    prices do not reprice the order."""
    return response(await checkout_answer(body, idempotency_key, x_user_id))


async def checkout_answer(body: CheckoutBody, idempotency_key: str | None, x_user_id: str | None) -> tuple[int, dict]:
    """POST /checkouts as (status, payload), for the FastAPI route and the fast lane."""
    idempotency_key = require_key(idempotency_key, ORDER_KEY_MAX_LEN)
    if not x_user_id or len(x_user_id) > USER_ID_MAX_LEN:
        raise ApiError(401, "unauthenticated", "X-User-Id missing or too long (the gateway sets it)")
    lines = body.order_lines()
    async with app.state.pool.acquire() as conn:
        order = await Q.insert_order(conn, id=uuid.uuid4(), key=idempotency_key, user_id=x_user_id,
                                     lines=bus.dumps(lines), card=body.card, lease_s=LEASE_S)
        if order is None:                          # a retry of a checkout we already know
            order = await Q.order_by_key(conn, key=idempotency_key)
            asked, lines = lines, await _lines(conn, order["id"])        # the order's, at its first prices
            if (sorted((ln["sku"], ln["qty"]) for ln in lines), order["user_id"]) != \
                    (sorted((ln["sku"], ln["qty"]) for ln in asked), x_user_id):
                raise ApiError(409, "idempotency_key_reused", "this key was used for a different checkout")
            if order["status"] != OrderStatus.PENDING:
                return 200, _public(order, lines)
            order = await Q.take_lease(conn, id=order["id"], lease_s=LEASE_S)
            if order is None:
                raise ApiError(409, "checkout_in_progress", "this checkout is still running; retry shortly")
    try:
        order = await app.state.saga.drive(order, app.state.config)
    except Stop as stop:
        now = await _view(order["id"])
        if now["status"] == OrderStatus.PENDING:
            await recovery.wake(app.state.pool)
        return stop.code, {"error": stop.error, "detail": stop.detail, "order": now}
    except Unknown as exc:
        await recovery.wake(app.state.pool)
        return 202, {"error": "pending", "detail": str(exc)}
    except Exception:
        await recovery.wake(app.state.pool)   # left pending by a fault or an error: recovery's turn
        raise
    return 201, _public(order, lines)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "invalid_request", f"order id {value!r} is not a UUID") from None


@app.get("/orders/{order_id}", responses=errors(400, 404))
async def get_order(order_id: UuidPath):
    async with app.state.pool.acquire() as conn:
        order = await Q.get_order(conn, id=_uuid(order_id))
        if order is None:
            raise ApiError(404, "unknown_order", f"no order {order_id}")
        return _public(order, await _lines(conn, order["id"]))


@app.get("/checkouts/{key}", responses=errors(401, 404),
         openapi_extra=documented(("X-User-Id", USER_ID_MAX_LEN, "the buyer (the gateway sets it from the token)")))
async def checkout_by_key(key: str, x_user_id: UserIdHeader = None):
    """The order a checkout key made, as its client polls it (a lost reply or a 202 tells it nothing
    more): 404 when the key made none, or made another user's."""
    if not x_user_id or len(x_user_id) > USER_ID_MAX_LEN:
        raise ApiError(401, "unauthenticated", "X-User-Id missing or too long (the gateway sets it)")
    order = None
    if len(key) <= ORDER_KEY_MAX_LEN:
        async with app.state.pool.acquire() as conn:
            order = await Q.order_by_key(conn, key=key)
    if order is None or order["user_id"] != x_user_id:
        raise ApiError(404, "unknown_checkout", "no order for this checkout key and user")
    return await _view(order["id"])


@app.get("/orders/{order_id}/saga", responses=errors(400, 404))
async def saga_log(order_id: UuidPath):
    async with app.state.pool.acquire() as conn:
        rows = [dict(r) async for r in Q.saga_of(conn, order_id=_uuid(order_id))]
    if not rows:
        raise ApiError(404, "unknown_order", f"no saga for order {order_id}")
    return {"order_id": order_id, "steps": [{**r, "at": r["at"].isoformat()} for r in rows]}


#: What uvicorn serves: the checkout on the fast lane (infra/fastlane.py), everything else through FastAPI;
#: the body cap in front of both.
asgi = BodyLimit(FastLane(app, [
    Route("POST", "/checkouts", lambda call: checkout_answer(call.body, call.header("Idempotency-Key"),
                                                             call.header("X-User-Id")), body=CheckoutBody),
]))
