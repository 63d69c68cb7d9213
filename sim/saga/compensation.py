"""The saga's compensation in the model: cancel the order, give its money back, release its units.

Why apart: the forward path, the event-driven half and the recovery worker all compensate; as in
`reference_impl/orders/events.py`, the move to `cancelled` is allowed only from where the order state machine
(`scenarios.states.ORDER_MOVES`) allows it, so a shipped order is never un-sold.
"""

from __future__ import annotations

from scenarios.states import OrderStatus, can_move
from sim.saga.order import Order, Saga
from sim.saga.reservations import release


def cancel(m: Saga, o: Order, reason: str) -> None:
    if can_move(o.status, OrderStatus.CANCELLED):
        o.status, o.reason = OrderStatus.CANCELLED, reason
        m.provider.give_back(o.id)
        release(o, m.sc.load.qty)
