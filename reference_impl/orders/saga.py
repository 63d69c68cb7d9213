"""The checkout saga's forward path: reserve → authorize → confirm, each step idempotent and logged.

Reserve takes every line or none: an order of one line holds a reservation (`/reservations`), an order of
several holds one reservation group (`/reservation-groups`: all lines in one transaction, rows locked in
(sku, warehouse) order unless the run's `inventory.lock_order` is the `request` control), so a line that
cannot be had leaves nothing held and the order is cancelled before any payment. `held_path` names what
the order holds, for every later step (sell, release, the paid check) to settle it as one.

Every call carries an idempotency key derived from the order (`order-<id>`), so the live request, a
client's retry and the recovery worker can all drive the same saga without doing a step twice. A call whose
answer is lost leaves the order pending; recovery finishes it or compensates.
"""

from __future__ import annotations

import asyncio
import uuid
from importlib import resources

import aiosql

from reference_impl.infra import bus
from reference_impl.infra.client import Unknown
from reference_impl.infra.http import DropReply
from reference_impl.orders.basket import basket_body, held_path, line_body
from scenarios.faults import FaultPoint
from scenarios.policy import CALL_RETRIES, RETRY_PAUSE_S
from scenarios.states import OrderStatus as S
from scenarios.states import sources

Q = aiosql.from_path(str(resources.files("reference_impl.orders") / "sql"), "asyncpg", mandatory_parameters=False)


class Stop(Exception):
    """The saga ended (cancelled) or must wait (an answer was lost); carries what to tell the client."""

    def __init__(self, code: int, error: str, detail: str):
        super().__init__(detail)
        self.code, self.error, self.detail = code, error, detail


async def log(conn, order_id, step: str, status: str, **detail) -> None:
    await Q.log_step(conn, order_id=order_id, step=step, status=status, detail=bus.dumps(detail))


def line(step: str, status: str, **detail) -> dict:
    """One saga-log line for `transition`."""
    return {"step": step, "status": status, "detail": detail}


async def transition(conn, order, to: str, came_from: list[str], lines: list[dict], topic: str | None = None,
                     payload: dict | None = None, reason: str | None = None, shipment_id: str | None = None,
                     dedup: bus.Dedup | None = None):
    """Move the order, log `lines` and publish `topic` in one statement (sql `transition`); the moved order,
    or None when it was not in `came_from` (or, with `dedup`, this event was seen before)."""
    return await Q.transition(conn, id=order["id"], to_status=to, from_statuses=came_from, reason=reason,
                              shipment_id=shipment_id, log=bus.dumps(lines), topic=topic,
                              payload=bus.dumps(payload) if payload is not None else None,
                              **bus.dedup_params(dedup))


async def cancel(conn, order, reason: str, payment_made: bool, lines: tuple[dict, ...] = (),
                 dedup: bus.Dedup | None = None) -> None:
    """Mark the order cancelled and announce it (payment voids or refunds, notification tells the buyer),
    after `lines`, in one statement. Cancelling a cancelled order changes nothing."""
    await transition(conn, order, S.CANCELLED, sources(S.CANCELLED),
                     [*lines, line("cancel", "compensated", reason=reason)], "OrderCancelled",
                     {"order_id": str(order["id"]), "user_id": order["user_id"], "reason": reason,
                      "payment_made": payment_made, "reservation_id": order["reservation_id"],
                      "reservation_group_id": order.get("reservation_group_id")},
                     reason=reason, dedup=dedup)


class Saga:
    def __init__(self, pool, inventory, payment, config):
        self.pool, self.inventory, self.payment, self.config = pool, inventory, payment, config

    async def _call(self, client, method, path, body, key_of):
        """Call with retries on a lost answer; `key_of(attempt)` gives the Idempotency-Key of each try."""
        for attempt in range(CALL_RETRIES):
            try:
                status, out = await client.call(method, path, json=body,
                                                headers={"Idempotency-Key": key_of(attempt)})
                if status == 409 and out.get("error") == "idempotency_key_in_use":
                    raise Unknown("in use")
                return status, out
            except Unknown:
                await asyncio.sleep(RETRY_PAUSE_S * (attempt + 1))
        raise Stop(202, "pending", f"{path}: no answer after {CALL_RETRIES} tries; recovery will finish it")

    async def _reserve(self, order) -> tuple[uuid.UUID, bool]:
        """(the reservation's or the group's id, whether it is a group); or the order cancelled (Stop).

        A group's 503 (deadlock victim, lock timeout, starved: nothing held) is, like any 5xx, no answer to
        this client (`Unknown`): `_call` asks again with the same attempt_id, so a try that did hold is found,
        never doubled, and past CALL_RETRIES the saga waits for recovery's next drive."""
        if order["sku"] is not None:             # one line: the order row says it all
            lines = [{"sku": order["sku"], "qty": order["qty"]}]
        else:
            async with self.pool.acquire() as conn:
                lines = [dict(r) async for r in Q.lines_of(conn, order_id=order["id"])]
        inv = (await self.config.current()).get("inventory", {})
        group = len(lines) > 1
        path, body = (("/reservation-groups", basket_body(order, lines, inv)) if group
                      else ("/reservations", line_body(order, lines[0], inv)))
        status, r = await self._call(self.inventory, "POST", path, body, lambda _: f"order-{order['id']}-reserve")
        if status in (200, 201):
            return uuid.UUID(r["id"]), group
        await self._refused(order, status, r)

    async def _refused(self, order, status: int, r: dict):
        """Inventory refused the order's units (nothing is held): cancel it before any payment."""
        async with self.pool.acquire() as conn:
            await cancel(conn, order, "out_of_stock" if status == 409 else f"reserve_{status}", False)
        raise Stop(status if status in (404, 409) else 422, r.get("error", "reserve_failed"), r.get("detail", ""))

    async def _authorize(self, order) -> uuid.UUID:
        keyed = await self.config.knob("payment", "idempotency", True)
        fresh = uuid.uuid4().hex          # the control: a new key per try, so a retry can charge again

        def key_of(attempt: int) -> str:
            return f"order-{order['id']}-authorize" if keyed else f"order-{order['id']}-{fresh}-{attempt}"

        status, p = await self._call(self.payment, "POST", "/payments/authorize",
                                     {"order_id": str(order["id"]), "amount": order["amount"], "card": order["card"]},
                                     key_of)
        if status == 201:
            return uuid.UUID(p["payment_id"])
        await self._release(order)
        async with self.pool.acquire() as conn:
            await cancel(conn, order, "declined" if status == 402 else f"authorize_{status}", status == 402,
                         (line("release_stock", "compensated"),))
        raise Stop(402 if status == 402 else 422, p.get("error", "declined"), p.get("decline_code") or "")

    async def _release(self, order) -> None:
        path = held_path(order)
        if path is not None:
            await self.inventory.call("POST", f"{path}/release")

    async def drive(self, order, faults) -> dict:
        """Run the remaining forward steps of a pending order; returns the order as it stands. A `drop_reply`
        fault lets the saga finish and then withholds the answer (DropReply)."""
        drop = False
        if held_path(order) is None:
            rid, group = await self._reserve(order)
            held = {"reservation_group_id" if group else "reservation_id": rid}
            async with self.pool.acquire() as conn:
                await Q.record_step(conn, **({"id": order["id"], "reservation_id": None,
                                               "reservation_group_id": None, "payment_id": None} | held),
                                    step="reserve", detail=bus.dumps(held))
            order = dict(order) | held
            drop |= await faults.at(FaultPoint.ORDERS_AFTER_RESERVE, defer_drop=True)
        if order["payment_id"] is None:
            pid = await self._authorize(order)
            async with self.pool.acquire() as conn:
                await Q.record_step(conn, id=order["id"], reservation_id=None, reservation_group_id=None,
                                    payment_id=pid, step="authorize", detail=bus.dumps({"payment_id": pid}))
            order = dict(order) | {"payment_id": pid}
            drop |= await faults.at(FaultPoint.ORDERS_AFTER_PAYMENT, defer_drop=True)
        confirmed = {k: str(order[k]) if k.endswith("id") and order[k] is not None else order[k]
                     for k in ("id", "user_id", "sku", "qty", "amount", "reservation_id", "reservation_group_id",
                               "payment_id")}
        async with self.pool.acquire() as conn:
            moved = await transition(conn, order, S.CONFIRMED, sources(S.CONFIRMED), [line("confirm", "done")],
                                     "OrderConfirmed", confirmed | {"order_id": str(order["id"])})
            final = dict(moved or await Q.get_order(conn, id=order["id"]))
        if drop:
            raise DropReply(str(order["id"]))
        return final
