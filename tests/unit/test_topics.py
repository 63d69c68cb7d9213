"""The bus's routing table against what each service's consumer handles: an event routed to a group with no
handler is a wasted delivery, a handler whose topic is not routed to its group would never run."""

from __future__ import annotations

import pytest

from reference_impl.infra.consumer import Consumer, unrouted
from reference_impl.notification.messages import handlers as notification_handlers
from reference_impl.orders.events import OrderEvents
from reference_impl.payment.events import PaymentEvents
from reference_impl.shipping.labels import Shipping
from reference_impl.topics import ROUTES, SUBSCRIPTIONS, groups_of

HANDLERS = {
    "orders": OrderEvents(None, None).handlers(),
    "payment": PaymentEvents(None).handlers(),
    "shipping": Shipping(None).handlers(),
    "notification": notification_handlers(),
}


@pytest.mark.parametrize("group", sorted(SUBSCRIPTIONS))
def test_each_group_is_sent_exactly_the_topics_it_handles(group):
    assert set(HANDLERS[group]) == set(SUBSCRIPTIONS[group])
    assert unrouted(group, HANDLERS[group], ROUTES) == []


def test_a_topic_goes_to_every_group_that_handles_it_and_no_other():
    assert groups_of("OrderCancelled") == ("payment", "shipping", "notification")
    assert groups_of("PaymentCaptured") == ("orders",)
    assert groups_of("PaymentRefunded") == ()                  # nobody handles it: it stays in the outbox


def test_a_consumer_whose_handler_is_not_routed_to_it_refuses_to_start():
    with pytest.raises(ValueError, match="OrderPaid"):
        Consumer(None, None, "payment", {**HANDLERS["payment"], "OrderPaid": None})
