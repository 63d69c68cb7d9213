"""Which service's consumer group handles which event topic.

The bus delivers an event only to the groups that handle its topic: each group has a stream of its own, and
the relay appends each event to the streams of its topic's groups. With one stream for everyone, every
event woke every consumer (a read and an ack each) to be told "not yours" three times in four: 20
deliveries per checkout for 7 handled. A group's stream keeps the events it handles in the order they
were published, so each order's events still come in order.

One table, read by the relays (where to append) and the consumers (a handler for a topic that is not
routed to its group fails at start, not silently never).
"""

from __future__ import annotations

SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "orders": ("PaymentCaptured", "ShipmentCreated", "ShipmentFailed"),
    "payment": ("OrderConfirmed", "OrderCancelled"),
    "shipping": ("OrderPaid", "OrderCancelled"),
    "notification": ("OrderConfirmed", "OrderPaid", "OrderShipped", "OrderCancelled"),
}


def groups_of(topic: str) -> tuple[str, ...]:
    """The consumer groups an event of `topic` goes to (none: it stays in its outbox only)."""
    return ROUTES.get(topic, ())


ROUTES: dict[str, tuple[str, ...]] = {}
for _group, _topics in SUBSCRIPTIONS.items():
    for _topic in _topics:
        ROUTES[_topic] = (*ROUTES.get(_topic, ()), _group)
