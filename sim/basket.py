"""Baskets in the model: buyers reserving several lines all-or-nothing, in sorted or in request lock order.

Covers: row locks as capacity-1 Resources held across a transaction's lines; PostgreSQL's deadlock
    detector (a waiter that has waited DEADLOCK_TIMEOUT_S looks for a cycle in the wait-for graph once and,
    if it closes one, aborts itself: SQLSTATE 40P01); lock-wait timeouts; the request-order control's
    barrier (each racer holds its first line until both orders hold one, as reference_impl/inventory/lines.py).
Scenario: `buyers` released together (within RELEASE_SPREAD_S) for `sets` units of each of `lines` SKUs, the
    buyers alternating forward and reverse order (loadtests/race_lines.py). The pessimistic strategy: each
    line locks its SKU's rows in warehouse order and takes the fullest with room; the group commits whole or
    rolls back whole. Audited by the real auditor's pure checks (check_stock, check_groups).
Left out: PostgreSQL's tuple-lock queue (a waiter queues behind the first waiter, not only the holder), so the
    model finds fewer deadlocks than the real crowd does (40 buyers, one set: 5 here against 30 measured);
    two buyers match it exactly (one deadlock, one winner, one deadlock_timeout of wall time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from scenarios.invariants import GroupRow, StockRow, check_groups, check_stock
from scenarios.results import Outcome
from scenarios.spec import Scenario
from scenarios.strategies import LOCK_TIMEOUT_MS, NAIVE_BARRIER_MAX_S, LockOrder

SEED = 7
#: PostgreSQL's `deadlock_timeout` default: how long a lock waiter waits before it looks for a cycle.
DEADLOCK_TIMEOUT_S = 1.0
#: One statement's round trip from the service (a lock, a check, an increment): sub-millisecond on one box.
STMT_S = 0.0005
#: How far apart a race's buyers reach the database after their common release instant.
RELEASE_SPREAD_S = 0.002
LOCK_TIMEOUT_S = LOCK_TIMEOUT_MS / 1000
#: Distinct first lines in the race (forward and reverse): how many lock holders the control waits for.
ORDERS = 2


@dataclass(eq=False)
class Row:
    sku: str
    warehouse: str
    supply: int
    lock: simpy.Resource
    reserved: int = 0


@dataclass
class BasketRun:
    outcomes: list[str]                       # per buyer: won, out_of_stock, deadlock, lock_timeout, partial
    deadlocks: int
    wall_s: float
    audit: dict
    groups: list[GroupRow] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return self.outcomes.count(outcome)


class _Abort(Exception):
    def __init__(self, outcome: str):
        self.outcome = outcome


def buyer_lines(skus: list[str], i: int) -> list[str]:
    """Even buyers forward, odd ones reversed: the opposite orders that deadlock under request order."""
    return list(skus) if i % 2 == 0 else list(reversed(skus))


class Baskets:
    def __init__(self, lines: int, sets: int | list[int], buyers: int, order: LockOrder, warehouses: int = 1,
                 seed: int = SEED, all_or_nothing: bool = True):
        """`sets`: units of each line's SKU (one number for all, or one per line), spread over `warehouses`.
        `all_or_nothing=False` is the mutant that keeps the lines it got when a later one is short: the
        model's proof that its audit sees a half-reserved group."""
        self.env = simpy.Environment()
        self.order, self.buyers, self.all_or_nothing = order, buyers, all_or_nothing
        self.skus = [f"hot-L{j}" for j in range(lines)]
        units = sets if isinstance(sets, list) else [sets] * lines
        self.rows = {s: [Row(s, f"wh-{w + 1}", u // warehouses + (w < u % warehouses), simpy.Resource(self.env, 1))
                         for w in range(warehouses)] for s, u in zip(self.skus, units, strict=True)}
        self.holder: dict[Row, int] = {}
        self.waits: dict[int, Row] = {}
        self.deadlocks, self.arrived = 0, 0
        self.go = self.env.event()
        self.starts = np.random.default_rng(seed).uniform(0, RELEASE_SPREAD_S, buyers)
        self.outcomes: list[str] = [""] * buyers
        self.ends, self.warehouses = [0.0] * buyers, [""] * buyers
        self.last_answer = 0.0
        self.groups: list[GroupRow] = []

    def _in_cycle(self, me: int) -> bool:
        """Follow waits-for from `me`: back at `me` is a deadlock (what PostgreSQL's detector finds)."""
        seen, b = set(), me
        while b in self.waits:
            h = self.holder.get(self.waits[b])
            if h is None or h in seen:
                return False
            if h == me:
                return True
            seen.add(h)
            b = h
        return False

    def _acquire(self, me: int, row: Row, req):
        env, t0, checked = self.env, self.env.now, False
        self.waits[me] = row
        try:
            while not req.triggered:
                left = LOCK_TIMEOUT_S - (env.now - t0)
                if left <= 0:
                    raise _Abort("lock_timeout")
                yield req | env.timeout(left if checked else min(DEADLOCK_TIMEOUT_S, left))
                if not req.triggered and not checked:
                    checked = True
                    if self._in_cycle(me):
                        self.deadlocks += 1
                        raise _Abort("deadlock")
        except _Abort:
            req.cancel()
            raise
        finally:
            del self.waits[me]
        self.holder[row] = me

    def _barrier(self):
        self.arrived += 1
        if self.arrived == ORDERS:
            self.go.succeed()
        if not self.go.triggered:
            yield self.go | self.env.timeout(NAIVE_BARRIER_MAX_S)

    def buyer(self, i: int):
        env = self.env
        yield env.timeout(self.starts[i])
        asked = buyer_lines(self.skus, i)
        seq = sorted(asked) if self.order is LockOrder.SORTED else asked
        held, taken, outcome = [], [], None
        try:
            for k, sku in enumerate(seq):
                for row in self.rows[sku]:                       # lock_line_rows: warehouse order
                    req = row.lock.request()
                    yield from self._acquire(i, row, req)
                    held.append((row, req))
                yield env.timeout(STMT_S)
                fits = [r for r in self.rows[sku] if r.supply - r.reserved >= 1]
                if not fits:
                    outcome = "out_of_stock"
                    if self.all_or_nothing:
                        break
                    continue
                taken.append(min(fits, key=lambda r: (r.reserved - r.supply, r.warehouse)))   # fullest first
                if k == 0 and self.order is LockOrder.REQUEST and self.buyers >= ORDERS:
                    yield from self._barrier()
            if taken and (outcome is None or not self.all_or_nothing):
                yield env.timeout(STMT_S)                        # insert_group, COMMIT
                for r in taken:
                    r.reserved += 1
                self.groups.append(GroupRow(f"sim-g{i}", len(seq), len(taken), len(taken), 0))
                outcome = "won" if outcome is None else "partial"
        except _Abort as exc:
            outcome = exc.outcome
        finally:
            for row, req in held:
                self.holder.pop(row, None)
                row.lock.release(req)
        self.outcomes[i], self.ends[i] = outcome, env.now
        self.warehouses[i] = "+".join(r.warehouse for r in taken) if outcome in ("won", "partial") else ""
        self.last_answer = max(self.last_answer, env.now)

    def run(self) -> BasketRun:
        for i in range(self.buyers):
            self.env.process(self.buyer(i))
        self.env.run()
        rows = [r for s in self.skus for r in self.rows[s]]
        stock = check_stock([StockRow(r.sku, r.warehouse, r.supply, r.supply, r.reserved, 0, r.reserved, 0,
                                      {"pessimistic"}) for r in rows])
        groups = check_groups(self.groups)
        audit = stock | {"ok": stock["ok"] and groups["ok"], "partial_groups": groups["partial_groups"],
                         "groups_checked": groups["groups_checked"], "deadlocks": self.deadlocks,
                         "breaches": stock["breaches"] + groups["breaches"]}
        return BasketRun(self.outcomes, self.deadlocks, self.last_answer, audit, self.groups)


#: The model's answers as the results schema's outcomes: a deadlock or a lock timeout reserved nothing.
OUTCOME = {"won": Outcome.WON, "out_of_stock": Outcome.OUT_OF_STOCK, "deadlock": Outcome.FAILED,
           "lock_timeout": Outcome.FAILED, "partial": Outcome.WON}


def simulate(sc: Scenario, run_id: str) -> tuple[list[dict], float, dict, dict]:
    """`race --lines N --engine sim`: the scenario's basket race, as rows of the results schema."""
    m = Baskets(sc.load.lines, sc.catalog.hot_stock, sc.load.buyers, sc.inventory.lock_order,
                sc.catalog.warehouses, seed=sc.seed)
    run = m.run()
    rows = [{"run_id": run_id, "engine": "sim", "scenario": sc.name, "strategy": sc.inventory.strategy.value,
             "attempt_id": f"{run_id}-b{i}", "user_id": f"buyer-{i}", "sku": "+".join(buyer_lines(m.skus, i)),
             "warehouse": m.warehouses[i] or None, "qty": 1, "t_intended": 0.0, "t_start": float(m.starts[i]),
             "t_end": m.ends[i], "outcome": OUTCOME[o].value, "retries": 0, "order_id": None, "resolved_late": False}
            for i, o in enumerate(run.outcomes)]
    return rows, run.wall_s, run.audit, {"model": {"deadlocks": run.deadlocks, "model": "sim/basket.py"}}
