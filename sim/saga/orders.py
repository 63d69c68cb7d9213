"""The orders service in the model: the saga's forward path (reserve, authorize, confirm), its payment
client's retries, the recovery worker, and cancellation with its compensations.

Why apart: this is `reference_impl/orders/saga.py` and `recovery.py` in the model; each function names
the real one it mirrors, so a change to the real saga has one obvious place to follow it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reference_impl.policy import CALL_RETRIES, MAX_DRIVES, RECOVERY_LEASE_S, RETRY_PAUSE_S
from reference_impl.policy import ORDER_LEASE_S as LEASE_S
from scenarios.results import Outcome
from sim.saga.faults import DR, C, E, P
from sim.saga.reservations import release
from sim.service import WON

if TYPE_CHECKING:
    from sim.saga.model import Model


@dataclass
class Order:
    id: str
    attempt: int
    sku: int
    amount: int
    status: str = "pending"
    reason: str | None = None
    row: object = None           # the stock row its reservation is on
    res_state: str | None = None  # held, released, committed, expired
    payment: object = None       # the Charge it stands on
    drives: int = 0


def cancel(m: Model, o: Order, reason: str) -> None:
    if o.status in ("pending", "confirmed", "paid"):
        o.status, o.reason = "cancelled", reason
        m.provider.give_back(o.id)
        release(o, m.sc.load.qty)


def authorize(m: Model, o: Order):
    """Saga._authorize: CALL_RETRIES tries on a lost answer; the key per try is the experiment."""
    fresh = next(m.ids)
    for attempt in range(CALL_RETRIES):
        key = f"order-{o.id}-authorize" if m.sc.payment.idempotency else f"order-{o.id}-{fresh}-{attempt}"
        status = yield from m.payment.authorize_once(o.id, o.amount, key)
        if status is not None:
            return status, m.payment.keys[key].charge
        yield m.env.timeout(RETRY_PAUSE_S * (attempt + 1))
    return None, None


def drive(m: Model, o: Order):
    """Saga.drive: 'confirmed', 'out_of_stock', 'failed', 'declined', 'pending' (lost) or 'dropped'."""
    from sim.saga.fulfilment import fulfil

    env, drop = m.env, False
    o.drives += 1
    if o.status != "pending":
        return "confirmed" if o.status != "cancelled" else "failed"
    if o.row is None:
        outcome, row = yield from m.inventory.reserve(o.sku)
        if outcome is None:
            return "pending"
        if outcome != WON:
            cancel(m, o, "out_of_stock" if outcome == Outcome.OUT_OF_STOCK.value else "reserve_failed")
            return "out_of_stock" if outcome == Outcome.OUT_OF_STOCK.value else "failed"
        m.sweeper.hold(o, row)
        act = yield from m.faults.strike(env, P.ORDERS_AFTER_RESERVE)
        if act in (C, E):
            return "pending"
        drop |= act is DR
    if o.payment is None:
        status, ch = yield from authorize(m, o)
        if status is None:
            return "pending"
        if status != 201:
            cancel(m, o, "declined" if status == 402 else f"authorize_{status}")
            return "declined" if status == 402 else "failed"
        o.payment = ch
        act = yield from m.faults.strike(env, P.ORDERS_AFTER_PAYMENT)
        if act in (C, E):
            return "pending"
        drop |= act is DR
    o.status = "confirmed"
    env.process(fulfil(m, o))
    return "dropped" if drop else "confirmed"


def recover(m: Model, o: Order):
    """The recovery worker: re-drive once the lease ran out; past MAX_DRIVES, compensate."""
    wait = LEASE_S
    while o.status == "pending":
        yield m.env.timeout(wait)
        wait = RECOVERY_LEASE_S
        if o.drives > MAX_DRIVES:
            cancel(m, o, "saga_abandoned")
            return
        yield from drive(m, o)
