"""The orders service in the model: the saga's forward path (reserve, authorize, confirm), its payment
client's retries, the recovery worker, and cancellation with its compensations.

Why apart: this is `reference_impl/orders/saga.py` and `recovery.py` in the model; each function names
the real one it mirrors, so a change to the real saga has one obvious place to follow it here.
"""

from __future__ import annotations

from scenarios.policy import CALL_RETRIES, MAX_DRIVES, RECOVERY_LEASE_S, RETRY_PAUSE_S
from scenarios.policy import ORDER_LEASE_S as LEASE_S
from scenarios.results import Outcome
from scenarios.states import OrderStatus
from sim.saga.compensation import cancel
from sim.saga.faults import DR, C, E, P
from sim.saga.order import Order, Saga
from sim.service import WON


def authorize(m: Saga, o: Order):
    """Saga._authorize: CALL_RETRIES tries on a lost answer; the key per try is the experiment."""
    fresh = next(m.ids)
    for attempt in range(CALL_RETRIES):
        key = f"order-{o.id}-authorize" if m.sc.payment.idempotency else f"order-{o.id}-{fresh}-{attempt}"
        status = yield from m.payment.authorize_once(o.id, o.amount, key)
        if status is not None:
            return status, m.payment.keys[key].charge
        yield m.env.timeout(RETRY_PAUSE_S * (attempt + 1))
    return None, None


def drive(m: Saga, o: Order):
    """Saga.drive: 'confirmed', 'out_of_stock', 'failed', 'declined', 'pending' (lost) or 'dropped'.
    A confirmed order is published as `OrderConfirmed` on the model's bus, as the real saga's outbox does."""
    env, drop = m.env, False
    o.drives += 1
    if o.status != OrderStatus.PENDING:
        return "confirmed" if o.status != OrderStatus.CANCELLED else "failed"
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
    o.status = OrderStatus.CONFIRMED
    m.publish("OrderConfirmed", o)
    return "dropped" if drop else "confirmed"


def recover(m: Saga, o: Order):
    """The recovery worker: re-drive once the lease ran out; past MAX_DRIVES, compensate."""
    wait = LEASE_S
    while o.status == OrderStatus.PENDING:
        yield m.env.timeout(wait)
        wait = RECOVERY_LEASE_S
        if o.drives > MAX_DRIVES:
            cancel(m, o, "saga_abandoned")
            return
        yield from drive(m, o)
