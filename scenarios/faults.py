"""Fault points and actions: the names a scenario uses to break the shop on purpose.

The real services, the SimPy model and the scenario loader all import these names from here; a point or
action spelled anywhere else is a bug. The points mark moments in the checkout saga where a crash or a lost
reply changes what the system can know.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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


@dataclass
class Decision:
    """What the dice said at one point: seconds to wait, then the action that ends the step (or None)."""
    delay_s: float = 0.0
    action: FaultAction | None = None
    fired: list[str] = field(default_factory=list)    # "point:action" of every fault that fired, in order


def decide(faults: Iterable, point: FaultPoint, draw: Callable[[], float]) -> Decision:
    """Roll each fault set at `point` in order (each has point, action, probability, delay_ms): a delay adds
    up and the roll goes on; webhook-only actions are the provider's own knobs and go on too; the first
    crash, error or dropped reply ends the roll. The real services roll with `random.random`, the model with
    its seeded stream: one rule, so the model fires what the real stack would."""
    d = Decision()
    for f in faults:
        if f.point != point or draw() >= f.probability:
            continue
        action = FaultAction(f.action)
        d.fired.append(f"{point.value}:{action.value}")
        if action is FaultAction.DELAY:
            d.delay_s += f.delay_ms / 1000
        elif action not in WEBHOOK_ONLY:
            d.action = action
            break
    return d
