"""The real stack's CPU in the saga model: one machine of `cores` processors (a `sim.queueing.Cpu`) that every
saga service's work queues on, first come, first served.

Covers: each process's measured CPU seconds per checkout (`Calibration.saga["cpu_s"]`, `sim.saga.cpu`),
    charged as bursts at the steps that process performs; the saga's measured step times (`SagaTimes`,
    medians of a lightly loaded run) reduced by the CPU now charged explicitly, so a checkout on an idle
    machine takes what it took in the run the times came from, and one on a busy machine waits for cores.
Scenario: without a measured `cpu_s` there is no machine and the model is exactly what it was (nothing
    queues outside inventory).

Why one machine and not a loop per service: the limit `lastunit bench checkout` hit (~80 checkouts/s) is
the two cores shared by eleven service processes, PostgreSQL and Redis, not any one event loop (orders, the
busiest, would take ~150/s alone at its measured ~6 ms per checkout).

Where each process's CPU is charged (STEPS): /proc gives a total per process, not per handler, so a process's
CPU is split evenly over the steps it serves in a straight checkout (each is one request or one event, a
transaction or two):
- orders (4 steps): `entry` (POST /checkouts: the order row, the saga log), `confirm` (the confirmed order,
  OrderConfirmed in its outbox, the answer), `webhook` (PaymentCaptured -> paid, OrderPaid), `sale`
  (ShipmentCreated -> the commit call -> shipped);
- payment and psp (3 steps each): `authorize` (the key's phases, the provider's charge), `capture`
  (OrderConfirmed -> capture), `webhook` (the provider's signed webhook -> PaymentCaptured);
- shipping: `label` (OrderPaid -> the label, ShipmentCreated);
- postgres and redis: evenly over those seven steps (the transactions and stream reads they serve);
- inventory (half at `entry`, half at `sale`) and notification (at `sale`) are charged without anyone
  waiting for them: inventory's own latency is the inventory model's (`sim.service.Shop`, its loop and
  pool), and nobody waits for a notification; their CPU still occupies the machine.
The other services (gateway, catalog, cart, recommendation, catalog_relay) are not on the checkout's path.

Double counting: a step's measured delay already holds its CPU on an idle machine. A step waits for its
burst (queueing included), then for what is left of the delay: max(0, delay - burst - debt), where `debt`
is the burst time earlier steps of the same order could not take from their own delays (an authorize's CPU
is more than its first hop). At no load, a checkout's time stays the measured one while its CPU fits in
its delays; what no delay absorbed is reported (`report()['cpu_beyond_delays_s']`).
"""

from __future__ import annotations

import simpy

from sim.queueing import Cpu

#: step -> {process: its share of that process's CPU per checkout}; waited for by the step.
STEPS: dict[str, dict[str, float]] = {
    "entry": {"orders": 1 / 4}, "authorize": {"payment": 1 / 3, "psp": 1 / 3},
    "confirm": {"orders": 1 / 4}, "capture": {"payment": 1 / 3, "psp": 1 / 3},
    "webhook": {"payment": 1 / 3, "psp": 1 / 3, "orders": 1 / 4}, "label": {"shipping": 1.0},
    "sale": {"orders": 1 / 4}}
#: processes whose CPU is spread evenly over every waited step
SHARED = ("postgres", "redis")
#: step -> {process: share}; occupies the machine, nobody waits for it.
UNWAITED: dict[str, dict[str, float]] = {"entry": {"inventory": 1 / 2},
                                         "sale": {"inventory": 1 / 2, "notification": 1.0}}


def bursts(cpu_s: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """(waited, unwaited) CPU seconds per step from CPU seconds per checkout per process."""
    shared = sum(cpu_s.get(p, 0.0) for p in SHARED) / len(STEPS)
    waited = {s: sum(cpu_s.get(p, 0.0) * k for p, k in who.items()) + shared for s, who in STEPS.items()}
    unwaited = {s: sum(cpu_s.get(p, 0.0) * k for p, k in who.items()) for s, who in UNWAITED.items()}
    return waited, unwaited


class Machine:
    """The shared cores; `pause(order, step, delay)` is how long that step of that order takes now."""

    def __init__(self, env: simpy.Environment, cores: int, cpu_s: dict[str, float]):
        self.cpu = Cpu(env, cores)
        self.waited, self.unwaited = bursts(cpu_s)
        self.debt: dict[str, float] = {}   # per order: burst time its steps' delays have not absorbed yet

    @classmethod
    def from_saga(cls, env: simpy.Environment, saga: dict) -> Machine | None:
        """The machine of a calibration's saga times, or None without a measured `cpu_s`."""
        cpu_s = saga.get("cpu_s") if saga else None
        if not cpu_s:
            return None
        return cls(env, int(saga.get("cores") or 1), cpu_s)

    def pause(self, key: str, step: str | None, delay: float) -> float:
        """Seconds until order `key` is past `step`: its burst (queued) and what is left of `delay`."""
        b = self.waited.get(step, 0.0)
        t = self.cpu.run(b) if b else 0.0
        if self.unwaited.get(step):
            self.cpu.run(self.unwaited[step])
        owed = self.debt.pop(key, 0.0) + b
        if owed > delay:
            self.debt[key] = owed - delay
        return t + max(0.0, delay - owed)

    def report(self, horizon_s: float) -> dict:
        """The machine's queueing, and the CPU no step's delay could absorb (still owed when the run ended)."""
        return self.cpu.report(horizon_s) | {"cores": self.cpu.capacity,
                                              "cpu_beyond_delays_s": round(sum(self.debt.values()), 6),
                                              "waited_s": {k: round(v, 6) for k, v in self.waited.items()},
                                              "unwaited_s": {k: round(v, 6) for k, v in self.unwaited.items()}}

