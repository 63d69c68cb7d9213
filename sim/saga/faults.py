"""The scenario's faults in the model, under the names of `scenarios/faults.py`: which
(point, action) pairs the model acts on, which it does not (listed, never silently dropped), and the dice.

Why its own module: the list of what is modelled is the model's honesty, read by `saga_run` into every
run's summary; it should not hide among the actors.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from scenarios.faults import FaultAction, FaultPoint, decide
from scenarios.spec import Scenario

C, E, DR, D = FaultAction.CRASH, FaultAction.ERROR, FaultAction.DROP_REPLY, FaultAction.DELAY
P = FaultPoint
#: (point, action) pairs the model acts on; any other pair in a scenario is listed as not modelled.
MODELLED = ({(p, a) for p in (P.PAYMENT_BEFORE_PROVIDER_CALL, P.PAYMENT_AFTER_PROVIDER_AUTH, P.PAYMENT_BEFORE_REPLY,
                              P.ORDERS_AFTER_RESERVE, P.ORDERS_AFTER_PAYMENT, P.SHIPPING_CREATE_LABEL,
                              P.INVENTORY_BEFORE_COMMIT)
             for a in (C, E, DR, D)}
            | {(P.PSP_WEBHOOK, a) for a in (C, E, D, FaultAction.DUPLICATE, FaultAction.REORDER)})
NOT_MODELLED = ["a crash killing the other requests in flight (later calls only find it down for restart_s)",
                "a compensation's release while inventory restarts (released at once)",
                "the payment completer's timing (cancel voids every charge the provider holds for the order)",
                "webhook duplicate/reorder (forward-only: counted, no effect on the final state)",
                "CPU and pools of orders, payment, provider, shipping (fixed step times: medians of one real "
                "run's saga log via sim.saga.measured, else guesses; nothing queues there)",
                "a crashed service's restart time (restart_s is a guess, not measured)",
                "the load generator falling behind (late starts): every checkout starts at its intended instant "
                "(notebook 05: a swarm with 591 of 914 starts late answered in 704 ms where the model said 25)",
                "the real stack getting cheaper per request as the load grows (batched reads and writes, group "
                "commit): step times are fixed per checkout",
                "orders of several lines (every modelled order holds one SKU: a basket's all-or-nothing group, "
                "its lock order and deadlock retries are modelled in the race only, sim/basket.py)"]
#: The same when the calibration measured the stack's CPU (sim.saga.machine): the cores are modelled.
NOT_MODELLED_WITH_CPU = [
    *(x for x in NOT_MODELLED if not x.startswith("CPU and pools")),
    "pools and per-process limits of orders, payment, provider, shipping (one machine of measured cores, "
    "fixed CPU per checkout measured at one rate; the rest of each step a fixed delay); the real consumers "
    "work in lanes (as many as their pool's connections, one order's events in order) and the provider "
    "delivers webhooks side by side: the model's never queue at all",
    "how the OS shares the cores (the model serves every burst first come, first served, so the event-driven "
    "half's backlog delays the client's steps; the real stack keeps answering clients while that half lags)",
    "CPU per checkout falling with the rate (a relay round, a consumer read, a webhook pass shared by more "
    "events as they come closer together)",
    "the load driver's own CPU and the stack's idle background (measured, not charged; under 2% of a core)",
    "inventory's loop sharing the machine (its CPU occupies the machine, its latency is its own loop's)"]


class Faults:
    """The scenario's faults by point, rolled on their own stream; on while the live requests last."""

    def __init__(self, sc: Scenario, rng: np.random.Generator):
        self.rng, self.active, self.fired = rng, True, Counter()
        self.by_point: dict[FaultPoint, list] = {}
        for f in sc.faults:
            if (f.point, f.action) in MODELLED:
                self.by_point.setdefault(f.point, []).append(f)

    def at(self, point: FaultPoint) -> tuple[FaultAction | None, float]:
        """(the action that ends the step or None, seconds of delay), as RunConfig-faults `at` fires them."""
        if not self.active:
            return None, 0.0
        d = decide(self.by_point.get(point, ()), point, self.rng.random)
        self.fired.update(d.fired)
        return d.action, d.delay_s

    def strike(self, env, point: FaultPoint):
        """Roll `point` in a SimPy process: wait out any delay, return the action that ends the step or None."""
        act, delay = self.at(point)
        if delay:
            yield env.timeout(delay)
        return act
