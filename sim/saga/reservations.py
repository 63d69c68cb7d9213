"""What happens to a held reservation after the race: sold when the shipment exists, released by a
compensation, expired by the sweeper once its TTL ran out. The counters (and the redis strategy's mirror)
move as `reference_impl/inventory/sql/lifecycle.sql` and `lifecycle.py` move them.

Why apart: the stock side of the saga is what the oversell audit reads; keeping its few transitions in
one place makes each one checkable against the SQL.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import TYPE_CHECKING

import simpy

from scenarios.policy import SWEEP_INTERVAL_S

if TYPE_CHECKING:
    from sim.saga.order import Order


def _unhold(row, qty: int, sold: int = 0) -> None:
    """A held reservation leaves the counters: its units stop being reserved; `sold` of them leave stock."""
    row.reserved, row.held, row.on_hand, row.sold = row.reserved - qty, row.held - qty, row.on_hand - sold, row.sold + sold
    if row.mirror is not None:                       # lifecycle.settle / sweep adjust the redis hash too
        row.mirror[0] -= sold
        row.mirror[1] -= qty
    if not sold and row.returned is not None:        # units came back: the trigger's NOTIFY, heard at once
        row.returned(row.index)


def release(o: Order, qty: int) -> None:
    if o.res_state == "held":
        _unhold(o.row, qty)
        o.res_state = "released"


def sell(o: Order, qty: int, committed: Counter) -> None:
    _unhold(o.row, qty, sold=qty)
    committed[id(o.row)] += qty
    o.res_state = "committed"


def commit(o: Order, qty: int, committed: Counter) -> int:
    """POST /reservations/{id}/commit as inventory answers it: 200 when sold now or before (a retry is
    harmless), 409 when the reservation is no longer held (released, or expired by the sweeper)."""
    if o.res_state == "held":
        sell(o, qty, committed)
    return 200 if o.res_state == "committed" else 409


def next_sweep(due_at: float, last_round: float, floor: float = SWEEP_INTERVAL_S) -> float:
    """When inventory's sweeper runs next: at the earliest expiry it knows of, but never sooner than
    SWEEP_INTERVAL_S after its last round (the floor of `until_due`)."""
    return max(due_at, last_round + floor)


class Sweeper:
    """inventory's `lifecycle.Sweeper`: it sleeps until the earliest held reservation's `expires_at` (woken at
    once, with a round, when a reservation is made while nothing is held), expires what is due (state
    'expired', units back), and runs at least SWEEP_INTERVAL_S apart. Its 5 s fallback round, which can only
    push a later expiry back by the floor, is left out. Reservations are due in the order they were made
    (one TTL for the run), so a queue is enough."""

    def __init__(self, env: simpy.Environment, ttl_s: float, qty: int):
        self.env, self.ttl_s, self.qty = env, ttl_s, qty
        self.due: deque = deque()                   # (expires_at, order), in hold order
        self.running, self.expired = False, 0

    def hold(self, o: Order, row) -> None:
        o.row, o.res_state = row, "held"
        self.due.append((self.env.now + self.ttl_s, o))
        if not self.running:
            self.running = True
            self.env.process(self.run())

    def run(self):
        env = self.env
        last_round = env.now                        # woken by the reservation just made: a round now
        while True:
            while self.due and self.due[0][1].res_state != "held":
                self.due.popleft()                  # sold or released: no longer the sweeper's
            if not self.due:
                break
            at = next_sweep(self.due[0][0], last_round)
            if env.now < at:
                # The real sweeper sleeps through; the model looks in steps of the floor, so that a run
                # whose reservations were all sold ends there instead of at the last (moot) expiry.
                yield env.timeout(min(at - env.now, SWEEP_INTERVAL_S))
                continue
            last_round = env.now
            while self.due and (self.due[0][1].res_state != "held" or self.due[0][0] <= env.now):
                _, o = self.due.popleft()
                if o.res_state == "held":
                    _unhold(o.row, self.qty)
                    o.res_state = "expired"
                    self.expired += 1
        self.running = False
