"""Running the saga model to the end: its rows in the results schema, its audit and what it measured.

The application layer (`lastunit.usecases.saga.run_saga_sim`) records them as it records a real run."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from scenarios.journey import checkouts as planned_checkouts
from scenarios.nemesis import schedule
from scenarios.results import ATTEMPT_COLUMNS
from scenarios.spec import Scenario
from sim.calibration import Calibration
from sim.saga import ENGINE, MODELLED, NOT_MODELLED, NOT_MODELLED_WITH_CPU, Model

#: What a `[journey]` scenario does in the swarm that the model leaves out: it replays the carts' lines as
#: checkouts (scenarios.journey.line_crowd), each at its session's intended start, and nothing before them.
JOURNEY_NOT_MODELLED = (
    "login, search, product pages, recommendation reads and cart edits (their requests and their CPU)",
    "the time a session browses before its checkout (lines start at the session's start)",
    "a cart as one order of all its lines, reserved all or nothing (the model makes one order per line, "
    "each won or lost alone)",
    "catalog prices (every unit costs policy.DEFAULT_UNIT_PRICE)",
)


@dataclass
class SagaRun:
    rows: list[dict]
    wall_s: float
    saga: dict
    inventory: dict
    faults_fired: dict
    stats: dict = field(default_factory=dict)


def simulate_saga(sc: Scenario, run_id: str, calibration: Calibration | None = None) -> SagaRun:
    """The scenario's checkouts through the modelled saga, run until every process is done."""
    m = Model(sc, calibration)
    m.env.process(m.source(planned_checkouts(sc)))
    m.env.run()
    sc_names, rows = m.shop.stock, []
    for i, sku, wh, t_intended, t_end, outcome, retries, order, late in sorted(m.records):
        rows.append(dict(zip(ATTEMPT_COLUMNS, (
            run_id, ENGINE, sc.name, sc.inventory.strategy.value, f"{run_id}-{i}", f"user-{i % max(sc.load.users, 1)}",
            sc_names.name(sku), wh, sc.load.qty, t_intended, t_intended, t_end, outcome, retries,
            f"{run_id}-{order}", late), strict=True)))
    wall_s = m.faults_off_at if m.records else 0.0     # the load's end, as the real run measures it
    stats = {"settled_at_s": round(m.env.now, 6), "faults_off_at_s": m.faults_off_at,
             "last_order_final_s": round(max(m.last_final_s, wall_s), 6),
             "cancel_reasons": dict(sorted(Counter(o.reason for o in m.orders if o.reason).items())),
             "drives": sum(o.drives for o in m.orders),
             "charges": len(m.provider.charges), "payment_keys": len(m.payment.keys),
             "charges_by_status": dict(sorted(Counter(c.status for c in m.provider.charges.values()).items())),
             "reservations_expired": m.sweeper.expired, "saga_times": dataclasses.asdict(m.times),
             "faults_modelled": sorted(f"{f.point}:{f.action}" for f in sc.faults if (f.point, f.action) in MODELLED),
             "faults_not_modelled": [f"{f.point}:{f.action}" for f in sc.faults if (f.point, f.action) not in MODELLED],
             "nemesis_not_modelled": [f"{e.action}:{e.target}@{e.at_s:g}s"
                                      for e in schedule(sc.nemesis, sc.load.duration_s)],
             "not_modelled": NOT_MODELLED if m.machine is None else NOT_MODELLED_WITH_CPU}
    if sc.journey is not None:
        stats["journey_not_modelled"] = list(JOURNEY_NOT_MODELLED)
    if m.machine is not None:
        stats["machine"] = m.machine.report(m.env.now)
    return SagaRun(rows, wall_s, m.audit_saga(), m.audit_inventory(), dict(m.faults.fired), stats)
