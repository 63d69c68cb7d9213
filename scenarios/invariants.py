"""The invariants as pure functions over plain rows, so the real auditor and the SimPy model share them.

Oversell is counted from reservations against supply, never from the counters: the naive control's lost
update leaves the counter looking right while units are promised twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scenarios.strategies import INFO, Strategy

#: How many witnesses (reservation ids, SKUs) a breach names: enough to start debugging, not a dump.
MAX_WITNESSES = 5


@dataclass
class StockRow:
    """One SKU in one warehouse: what came in, what the counters say, what the reservations say."""
    sku: str
    warehouse: str
    supply: int            # initial + restock, from the movement log
    on_hand: int
    reserved: int
    sold: int
    held_units: int        # sum of qty over reservations in state held
    committed_units: int   # sum of qty over reservations in state committed
    strategies: set[str] = field(default_factory=set)     # strategies that reserved on this row
    late_reservations: list[str] = field(default_factory=list)  # ids in promise order, past the supply


def _control_only(strategies: set[str]) -> bool:
    """Only a row every one of whose reservations came from a control is excused; an unknown name is not."""
    known = {s.value for s in Strategy}
    return bool(strategies) and all(s in known and INFO[Strategy(s)].control for s in strategies)


def check_stock(rows: list[StockRow]) -> dict:
    """Oversell, conservation, counters that disagree with the reservations, and negatives."""
    breaches, oversold, control_oversold, drift = [], 0, 0, 0
    for r in rows:
        where = {"sku": r.sku, "warehouse": r.warehouse, "control": _control_only(r.strategies),
                 "strategies": sorted(r.strategies)}
        promised = r.held_units + r.committed_units
        if promised > r.supply:
            units = promised - r.supply
            if where["control"]:
                control_oversold += units
            else:
                oversold += units
            breaches.append({"invariant": "oversold", "units": units, **where,
                             "detail": f"{promised} units promised from a supply of {r.supply}",
                             "witnesses": r.late_reservations[:MAX_WITNESSES]})
        if r.supply != r.on_hand + r.sold:
            breaches.append({"invariant": "stock_conserved", **where, "witnesses": [],
                             "detail": f"supply {r.supply} != available {r.on_hand - r.reserved}"
                                       f" + reserved {r.reserved} + sold {r.sold}"})
        if min(r.on_hand, r.reserved, r.sold, r.on_hand - r.reserved) < 0:
            breaches.append({"invariant": "non_negative", **where, "witnesses": [],
                             "detail": f"on_hand {r.on_hand}, reserved {r.reserved}, sold {r.sold}"})
        if (r.reserved, r.sold) != (r.held_units, r.committed_units):
            drift += abs(r.reserved - r.held_units) + abs(r.sold - r.committed_units)
            breaches.append({"invariant": "counters_match_reservations", **where, "witnesses": [],
                             "detail": f"counters reserved {r.reserved} / sold {r.sold}, reservations say "
                                       f"{r.held_units} / {r.committed_units}"})
    real = [b for b in breaches if not b["control"]]
    return {
        "ok": not real,
        "oversold_units": oversold,
        "control_oversold_units": control_oversold,
        "stock_conserved": not any(b["invariant"] == "stock_conserved" for b in breaches),
        "counter_drift_units": drift,
        "rows_checked": len(rows),
        "breaches": real,
        "expected_control_breaches": [b for b in breaches if b["control"]],
    }
