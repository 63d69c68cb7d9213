"""The notification consumer: one message per order event, never two (de-duplicated by event id in
infra.bus, in the same transaction as the insert)."""

from __future__ import annotations

from importlib import resources

import aiosql
from fastapi import FastAPI

from reference_impl.infra import bus
from reference_impl.infra.http import install_error_handlers
from reference_impl.infra.service import add_healthz, forever, lifespan
from reference_impl.policy import PRUNE_EVERY_S

Q = aiosql.from_path(str(resources.files("reference_impl.notification") / "sql"), "asyncpg",
                     mandatory_parameters=False)
MESSAGES = {
    "OrderConfirmed": "Thanks! Your order is confirmed.",
    "OrderPaid": "Payment received.",
    "OrderShipped": "Your order is on its way.",
    "OrderCancelled": "Sorry, your order was cancelled ({reason}); any charge is returned.",
}


def _handler(kind: str):
    async def record(conn, event: dict, dedup: bus.Dedup) -> None:
        await Q.notify_once(conn, order_id=event.get("order_id") or event.get("id"), user_id=event.get("user_id"),
                            kind=kind, message=MESSAGES[kind].format(reason=event.get("reason", "")),
                            **bus.dedup_params(dedup))
    return record


def _start(app: FastAPI) -> list:
    return [bus.consume_forever(app.state.pool, app.state.redis, "notification",
                                {k: _handler(k) for k in MESSAGES}),
            forever(lambda: bus.prune(app.state.pool), PRUNE_EVERY_S, "notification prune")]


app = FastAPI(title="lastunit notification", lifespan=lifespan("notifications", 4, _start))
install_error_handlers(app)
add_healthz(app, "notification")


@app.get("/notifications/{order_id}")
async def of_order(order_id: str):
    async with app.state.pool.acquire() as conn:
        rows = [r async for r in Q.of_order(conn, order_id=order_id)]
    return {"order_id": order_id, "notifications": [dict(r) | {"sent_at": r["sent_at"].isoformat()} for r in rows]}
