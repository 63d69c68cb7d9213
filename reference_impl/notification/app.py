"""The notification consumer: one message per order event, never two (de-duplicated by event id in
infra.bus, in the same transaction as the insert)."""

from __future__ import annotations

from fastapi import FastAPI

from reference_impl.infra import bus
from reference_impl.infra.http import install_error_handlers
from reference_impl.infra.service import add_healthz, forever, lifespan

MESSAGES = {
    "OrderConfirmed": "Thanks! Your order is confirmed.",
    "OrderPaid": "Payment received.",
    "OrderShipped": "Your order is on its way.",
    "OrderCancelled": "Sorry, your order was cancelled ({reason}); any charge is returned.",
}


def _handler(kind: str):
    async def record(conn, event: dict) -> None:
        await conn.execute("INSERT INTO notifications (order_id, user_id, kind, message) VALUES ($1, $2, $3, $4)",
                           event.get("order_id") or event.get("id"), event.get("user_id"), kind,
                           MESSAGES[kind].format(reason=event.get("reason", "")))
    return record


def _start(app: FastAPI) -> list:
    return [bus.consume_forever(app.state.pool, app.state.redis, "notification",
                                {k: _handler(k) for k in MESSAGES}),
            forever(lambda: bus.prune(app.state.pool), bus.PRUNE_EVERY_S)]


app = FastAPI(title="lastunit notification", lifespan=lifespan("notifications", 4, _start))
install_error_handlers(app)
add_healthz(app, "notification")


@app.get("/notifications/{order_id}")
async def of_order(order_id: str):
    async with app.state.pool.acquire() as conn:
        rows = await conn.fetch("SELECT kind, message, sent_at FROM notifications WHERE order_id = $1 ORDER BY id",
                                order_id)
    return {"order_id": order_id, "notifications": [dict(r) | {"sent_at": r["sent_at"].isoformat()} for r in rows]}
