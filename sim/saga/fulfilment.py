"""The saga's event-driven half in the model: OrderConfirmed -> capture -> the provider's signed webhook ->
paid -> shipping's label -> the sale -> shipped, or the compensation when the carrier refuses.

Why apart: this half runs on the bus, not in the client's request (`reference_impl/orders/events.py`,
`payment/events.py`, `shipping/`); its faults delay or redeliver events rather than answer anyone.
"""

from __future__ import annotations

import itertools

from scenarios.states import OrderStatus
from sim.saga.compensation import cancel
from sim.saga.delays import RECLAIM_S, webhook_retry_s
from sim.saga.faults import C, E, P
from sim.saga.order import Order, Saga


def fulfil(m: Saga, o: Order):
    """OrderConfirmed -> capture -> signed webhook -> paid -> label -> sale -> shipped (or compensate); when
    it is over, the order is final (`m.last_final_s`: when the last order's saga ended)."""
    yield from _fulfil(m, o)
    m.last_final_s = max(m.last_final_s, m.env.now)


def _fulfil(m: Saga, o: Order):
    env, faults, t = m.env, m.faults, m.times
    yield env.timeout(m.pause(o.id, "capture", t.bus_s))   # OrderConfirmed reaches payment, which captures
    if o.status != OrderStatus.CONFIRMED:
        return
    m.provider.capture(o.payment)
    yield env.timeout(m.sc.webhooks.delay_ms / 1000)
    for retry in itertools.count():                 # the provider's deliveries of the signed webhook
        act, delay = faults.at(P.PSP_WEBHOOK)
        yield env.timeout(delay + (t.restart_s if act is C else webhook_retry_s(retry) if act is E else 0.0))
        if act is None:
            break
    yield env.timeout(m.pause(o.id, "webhook", t.bus_s))   # PaymentCaptured reaches orders
    if o.status == OrderStatus.CONFIRMED:           # OrderEvents.payment_captured
        if o.res_state == "held":
            o.status = OrderStatus.PAID
        else:                                       # expired before payment was final: refund, never oversell
            cancel(m, o, "reservation_expired")
    yield env.timeout(m.pause(o.id, "label", t.bus_s))     # OrderPaid reaches shipping: its label
    while o.status == OrderStatus.PAID:
        act, delay = faults.at(P.SHIPPING_CREATE_LABEL)
        yield env.timeout(delay + t.carrier_s)
        if act is E:                                # the carrier refuses: ShipmentFailed; refund, release, cancel
            yield env.timeout(t.bus_s)
            cancel(m, o, "shipping_failed")
        elif act is not None:                       # label rolled back: the event is reclaimed once idle
            yield env.timeout(max(t.restart_s, RECLAIM_S) if act is C else RECLAIM_S)
        else:
            yield from sell_stock(m, o)


def sell_stock(m: Saga, o: Order):
    """OrderEvents.shipment_created: ShipmentCreated reaches orders, which commits the reservation; a lost
    answer fails the handler and the event is reclaimed once idle; 409 (no longer held) cancels."""
    env = m.env
    yield env.timeout(m.pause(o.id, "sale", m.times.bus_s))
    while o.status == OrderStatus.PAID:
        delivered = env.now
        status = yield from m.inventory.commit(o)
        if status is None:
            yield env.timeout(max(0.0, delivered + RECLAIM_S - env.now))
        elif status == 200:
            o.status = OrderStatus.SHIPPED
        else:
            cancel(m, o, "stock_lost")
