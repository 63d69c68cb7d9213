"""The inventory service as the saga calls it: the reservation through the orders client's retries, and the
sale (commit) with its fault point `inventory.before_commit`, as `reference_impl/inventory/app.py` has it.

Why apart: `sim/service.py` models the reservation race inside inventory; this is what the other services
see of it: a process that a crash takes down until the supervisor restarts it, and answers that get lost.
At `inventory.before_commit` (commit only): `crash` exits before the sale (down for restart_s), `error`
answers 503 before the sale, `drop_reply` sells and then holds the connection until the caller's timeout,
`delay` waits and then sells (past the caller's timeout the caller has given up already). The orders
handler of ShipmentCreated takes every missing answer as Unknown: the event is retried, the retry's commit
finds the sale made, or makes it.
"""

from __future__ import annotations

from collections import Counter

from scenarios.policy import CALL_RETRIES, RETRY_PAUSE_S
from scenarios.policy import CALL_TIMEOUT_S as DEFAULT_TIMEOUT_S
from sim.saga.delays import SagaTimes
from sim.saga.faults import DR, C, E, Faults, P
from sim.saga.reservations import commit
from sim.service import Shop, place


class InventoryService:
    def __init__(self, shop: Shop, faults: Faults, qty: int, committed: Counter, times: SagaTimes):
        self.shop, self.env, self.faults, self.times = shop, shop.env, faults, times
        self.qty, self.committed = qty, committed
        self.down_until = 0.0          # a crash fault: restarting until then, every call is refused

    def up(self) -> bool:
        return self.env.now >= self.down_until

    def reserve(self, sku: int):
        """Saga._reserve: (outcome, row) from the modelled race, or (None, None) when no try got an answer."""
        for attempt in range(CALL_RETRIES):
            if self.up():
                outcome, row, _ = yield from place(self.shop, sku)   # the memory, a batch or a pooled connection
                return outcome, row
            yield self.env.timeout(RETRY_PAUSE_S * (attempt + 1))   # refused at once: Unknown, pause, retry
        return None, None

    def commit(self, o):
        """POST /reservations/{id}/commit from the orders service: 200, 409, or None (no answer: Unknown)."""
        env = self.env
        yield env.timeout(self.times.hop_s)
        if not self.up():
            return None
        act, delay = self.faults.at(P.INVENTORY_BEFORE_COMMIT)
        if delay >= DEFAULT_TIMEOUT_S:                          # the caller gives up; the server goes on
            env.process(self._late(delay, act, o))
            yield env.timeout(DEFAULT_TIMEOUT_S)
            return None
        if delay:
            yield env.timeout(delay)
        status = self._settle(act, o)
        if act is DR:                                           # sold; the caller hears nothing until its timeout
            yield env.timeout(DEFAULT_TIMEOUT_S - delay)
            return None
        if act is not None:
            return None
        yield env.timeout(self.times.hop_s)
        return status

    def _settle(self, act, o) -> int | None:
        """The server's side of a commit after the fault point: nothing on crash (and down) or error."""
        if act is C:
            self.down_until = self.env.now + self.times.restart_s
            return None
        if act is E:
            return None
        return commit(o, self.qty, self.committed)

    def _late(self, delay: float, act, o):
        yield self.env.timeout(delay)
        self._settle(act, o)
