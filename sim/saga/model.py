"""The saga model's state and its clients: one SimPy environment holding the inventory model, the provider,
the payment service, the orders, and the crowd's checkouts (`loadtests.checkouts.checkout` in the model).

Why apart: the other modules are the services; this one wires them to one clock and one seed, as
`reference_impl/stack.py` wires the real ones, and is all `saga_run` needs to know.
"""

from __future__ import annotations

import itertools
from collections import Counter

from scenarios.arrivals import streams
from scenarios.policy import (
    CLIENT_PAUSE_S,
    CLIENT_RETRIES,
    CLIENT_TIMEOUT_S,
    DEFAULT_UNIT_PRICE,
    PENDING_PATIENCE_S,
    STATUS_POLL_S,
)
from scenarios.results import Outcome, order_outcome
from scenarios.spec import Scenario
from sim.calibration import Calibration, resolve
from sim.saga import audit
from sim.saga.delays import SagaTimes
from sim.saga.faults import Faults
from sim.saga.fulfilment import fulfil
from sim.saga.inventory import InventoryService
from sim.saga.machine import Machine
from sim.saga.order import Order
from sim.saga.orders import drive, recover
from sim.saga.payment import PaymentService
from sim.saga.provider import Provider
from sim.saga.reservations import Sweeper
from sim.service import Shop

ENGINE = "sim"


class Model:
    def __init__(self, sc: Scenario, calibration: Calibration | None):
        calibration = calibration or resolve()
        self.sc, self.shop = sc, Shop(sc, calibration)
        self.times = SagaTimes.from_dict(calibration.saga)
        self.env = self.shop.env
        self.machine = Machine.from_saga(self.env, calibration.saga)   # None: no CPU outside inventory
        rng = streams(sc.seed)                        # the crowd's streams stay untouched by faults and declines
        self.faults = Faults(sc, rng["faults"])
        self.provider = Provider(sc.payment.decline_rate, rng["provider"])
        self.payment = PaymentService(self.env, self.faults, self.provider, self.times, self.pause)
        self.committed: Counter = Counter()           # units sold per stock row (id)
        self.inventory = InventoryService(self.shop, self.faults, sc.load.qty, self.committed, self.times)
        self.sweeper = Sweeper(self.env, sc.inventory.reservation_ttl_s, sc.load.qty)
        self.orders: list[Order] = []
        self.records: list[tuple] = []
        self.live, self.faults_off_at = 0, 0.0
        self.last_final_s = 0.0                      # when the last confirmed order's event-driven half ended
        self.ids = itertools.count()
        #: The bus as the model wires it: OrderConfirmed starts the event-driven half of that order's saga.
        self.subscribers = {"OrderConfirmed": lambda o: self.env.process(fulfil(self, o))}

    def publish(self, event: str, o: Order) -> None:
        self.subscribers[event](o)

    def checkout(self, i: int, sku: int, t_intended: float):
        """The client: POST /checkouts, retried on a lost answer or a 202 with the same key."""
        o = Order(f"order-{i}", i, sku, self.sc.load.qty * DEFAULT_UNIT_PRICE)
        self.orders.append(o)
        if self.times.entry_s or self.machine:
            yield self.env.timeout(self.pause(o.id, "entry", self.times.entry_s))
        result = yield from drive(self, o)
        if self.times.reply_s or self.machine:
            step = "confirm" if result in ("confirmed", "dropped") else None
            yield self.env.timeout(self.pause(o.id, step, self.times.reply_s))
        retries = 0
        if result == "dropped":                             # the client times out, asks again, gets the order
            yield self.env.timeout(CLIENT_TIMEOUT_S + CLIENT_PAUSE_S)
            result, retries = "confirmed", 1
        elif result == "pending":                           # the lease is the live request's: 202 each time
            self.env.process(recover(self, o))
            yield self.env.timeout(sum(CLIENT_PAUSE_S * n for n in range(1, CLIENT_RETRIES + 1)))
            retries = CLIENT_RETRIES - 1
        outcome = {"confirmed": Outcome.WON, "out_of_stock": Outcome.OUT_OF_STOCK, "declined": Outcome.DECLINED,
                   "failed": Outcome.FAILED}.get(result, Outcome.UNKNOWN)
        self.live -= 1
        if self.live == 0:                                 # `lastunit run` turns faults off, then settles:
            self.faults.active, self.faults_off_at = False, round(self.env.now, 6)   # later labels succeed
        late = False
        if outcome == Outcome.UNKNOWN:                     # the status page: poll until final, or give up
            outcome, late = yield from self.poll(o)
        self.records.append((i, sku, o.row.warehouse if o.row is not None else None, t_intended, self.env.now,
                             outcome.value, retries, o.id, late))

    def poll(self, o: Order):
        """The client polls its pending order as the real one does (STATUS_POLL_S, PENDING_PATIENCE_S);
        returns (outcome, resolved late)."""
        deadline = self.env.now + PENDING_PATIENCE_S
        while True:
            seen = order_outcome(o.status, o.reason)
            if seen is not None:
                return seen, True
            if self.env.now + STATUS_POLL_S > deadline:
                return Outcome.UNKNOWN, False
            yield self.env.timeout(STATUS_POLL_S)

    def pause(self, key: str, step: str | None, delay: float) -> float:
        """How long `step` of order `key` takes: `delay`, or on the machine its CPU and what is left of it."""
        return delay if self.machine is None else self.machine.pause(key, step, delay)

    def source(self, plan):
        env = self.env
        self.live = len(plan)
        if self.live == 0:
            self.faults.active = False
        for i, (t, sku) in enumerate(zip(plan.t.tolist(), plan.sku.tolist(), strict=True)):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(self.checkout(i, int(sku), t))

    def audit_saga(self) -> dict:
        return audit.audit_saga(self.orders, self.provider)

    def audit_inventory(self) -> dict:
        return audit.audit_inventory(self.shop.stock, self.committed)
