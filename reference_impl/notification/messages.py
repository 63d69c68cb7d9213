"""One message per order event, never two: the insert records the processed event id in the same statement
(infra.bus `Dedup`), so a redelivered event finds its id and writes nothing."""

from __future__ import annotations

from importlib import resources

import aiosql

from reference_impl.infra import bus

Q = aiosql.from_path(str(resources.files("reference_impl.notification") / "sql"), "asyncpg", mandatory_parameters=False)
MESSAGES = {
    "OrderConfirmed": "Thanks! Your order is confirmed.",
    "OrderPaid": "Payment received.",
    "OrderShipped": "Your order is on its way.",
    "OrderCancelled": "Sorry, your order was cancelled ({reason}); any charge is returned.",
}


def handler(kind: str):
    async def record(conn, event: dict, dedup: bus.Dedup) -> None:
        await Q.record_notification(conn, order_id=event.get("order_id") or event.get("id"),
                                    user_id=event.get("user_id"), kind=kind,
                                    message=MESSAGES[kind].format(reason=event.get("reason", "")),
                                    **bus.dedup_params(dedup))
    return record


def handlers() -> dict:
    return {k: handler(k) for k in MESSAGES}


async def of_order(pool, order_id: str) -> list[dict]:
    async with pool.acquire() as conn:
        rows = [r async for r in Q.notifications_of(conn, order_id=order_id)]   # aiosql: a select streams
    return [dict(r) | {"sent_at": r["sent_at"].isoformat()} for r in rows]
