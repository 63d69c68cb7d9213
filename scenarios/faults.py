"""Fault points and actions: the names a scenario uses to break the shop on purpose.

The real services, the SimPy model and the scenario loader all import these names from here; a point or
action spelled anywhere else is a bug. The points mark moments in the checkout saga where a crash or a lost
reply changes what the system can know.
"""

from __future__ import annotations

from enum import StrEnum


class FaultPoint(StrEnum):
    PAYMENT_BEFORE_PROVIDER_CALL = "payment.before_provider_call"
    PAYMENT_AFTER_PROVIDER_AUTH = "payment.after_provider_auth"   # provider charged, our row not yet written
    PAYMENT_BEFORE_REPLY = "payment.before_reply"                 # our row committed, reply not sent
    ORDERS_AFTER_RESERVE = "orders.after_reserve"
    ORDERS_AFTER_PAYMENT = "orders.after_payment"
    SHIPPING_CREATE_LABEL = "shipping.create_label"
    INVENTORY_BEFORE_COMMIT = "inventory.before_commit"
    PSP_WEBHOOK = "psp.webhook"


class FaultAction(StrEnum):
    CRASH = "crash"            # the process exits hard; the supervisor restarts it
    ERROR = "error"            # answer 5xx
    DELAY = "delay"            # wait delay_ms, then go on
    DROP_REPLY = "drop_reply"  # do the work, close the connection without answering
    DUPLICATE = "duplicate"    # webhooks: deliver twice
    REORDER = "reorder"        # webhooks: deliver out of order


#: Webhook-only actions make no sense at a request handler, and a webhook has no reply to drop.
WEBHOOK_ONLY = frozenset({FaultAction.DUPLICATE, FaultAction.REORDER})


def applies(point: FaultPoint, action: FaultAction) -> bool:
    if point is FaultPoint.PSP_WEBHOOK:
        return action is not FaultAction.DROP_REPLY
    return action not in WEBHOOK_ONLY
