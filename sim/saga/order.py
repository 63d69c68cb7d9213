"""One order in the model: the state the saga's steps move, and the port they move it through.

Why apart: the forward path (orders), the event-driven half (fulfilment), the compensation, the stock side
(reservations) and the audit all read an order; none of them should need the others to know what one is.
`Saga` names what those steps need from the model that wires them, so none imports the model either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from scenarios.states import OrderStatus


@dataclass
class Order:
    id: str
    attempt: int
    sku: int
    amount: int
    status: OrderStatus = OrderStatus.PENDING
    reason: str | None = None
    row: object = None           # the stock row its reservation is on
    res_state: str | None = None  # held, released, committed, expired
    payment: object = None       # the Charge it stands on
    drives: int = 0


class Saga(Protocol):
    """What a saga step reaches in the model (`sim.saga.model.Model` provides it)."""
    env: Any
    sc: Any
    times: Any
    faults: Any
    provider: Any
    payment: Any
    inventory: Any
    sweeper: Any
    ids: Any
    last_final_s: float
    publish: Callable[[str, Order], None]

    def pause(self, key: str, step: str | None, delay: float) -> float: ...
