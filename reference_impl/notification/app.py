"""The notification consumer: one message per order event, never two (de-duplicated by event id in
infra.bus, in the same transaction as the insert)."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from reference_impl.infra import bus
from reference_impl.infra.db import create_pool
from reference_impl.infra.http import install_error_handlers
from reference_impl.infra.settings import database_url

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


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await create_pool(database_url(os.environ["LAB_DATABASE_URL"], "notifications"), 4)
    app.state.redis = aioredis.from_url(os.environ["LAB_REDIS_URL"])
    task = asyncio.create_task(bus.consume_forever(app.state.pool, app.state.redis, "notification",
                                                   {k: _handler(k) for k in MESSAGES}))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await app.state.pool.close()
        await app.state.redis.aclose()


app = FastAPI(title="lastunit notification", lifespan=lifespan)
install_error_handlers(app)


@app.get("/healthz")
async def healthz():
    return {"ok": True, "service": "notification", "pid": os.getpid()}


@app.get("/notifications/{order_id}")
async def of_order(order_id: str):
    async with app.state.pool.acquire() as conn:
        rows = await conn.fetch("SELECT kind, message, sent_at FROM notifications WHERE order_id = $1 ORDER BY id",
                                order_id)
    return {"order_id": order_id, "notifications": [dict(r) | {"sent_at": r["sent_at"].isoformat()} for r in rows]}
