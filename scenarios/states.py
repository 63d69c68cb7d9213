"""The saga's state machines as data: an order's statuses and a payment key's recovery points, with the moves
each allows. The real services, the SimPy model and the auditor all read them from here.

Why data: the real saga moves an order with one guarded UPDATE (`WHERE status = ANY(:from)`), the model moves
its own `Order`, the auditor judges final states; spelled as strings in each, they drifted. The schemas'
CHECK constraints list the same names (a test compares them).

    order:  pending ──> confirmed ──> paid ──> shipped
               │            │           │
               └────────────┴───────────┴──> cancelled      (the compensation, from any live status)

    payment key:  started ──> provider_called ──> finished   (started ──> finished: refused before the call)
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


_O = OrderStatus
ORDER_MOVES: dict[OrderStatus, frozenset[OrderStatus]] = {
    _O.PENDING: frozenset({_O.CONFIRMED, _O.CANCELLED}),
    _O.CONFIRMED: frozenset({_O.PAID, _O.CANCELLED}),
    _O.PAID: frozenset({_O.SHIPPED, _O.CANCELLED}),
    _O.SHIPPED: frozenset(),
    _O.CANCELLED: frozenset(),
}
#: Where an order's saga ends; anything else after the settle time is stranded.
FINAL = (_O.SHIPPED, _O.CANCELLED)
#: Orders whose money the shop keeps: the provider's captures less refunds must add up to their amounts.
PAID_FOR = (_O.PAID, _O.SHIPPED)


def can_move(frm: str, to: str) -> bool:
    return OrderStatus(to) in ORDER_MOVES[OrderStatus(frm)]


def sources(to: OrderStatus) -> list[str]:
    """The statuses an order may move to `to` from: the guarded UPDATE's `from_statuses`."""
    return [s.value for s, nxt in ORDER_MOVES.items() if to in nxt]


class RecoveryPoint(StrEnum):
    STARTED = "started"
    PROVIDER_CALLED = "provider_called"
    FINISHED = "finished"


_R = RecoveryPoint
RECOVERY_MOVES: dict[RecoveryPoint, frozenset[RecoveryPoint]] = {
    _R.STARTED: frozenset({_R.PROVIDER_CALLED, _R.FINISHED}),
    _R.PROVIDER_CALLED: frozenset({_R.FINISHED}),
    _R.FINISHED: frozenset(),
}
