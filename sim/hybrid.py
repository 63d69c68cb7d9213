"""The hybrid model: the contended part of an open crowd event by event in SimPy, the bulk from a calendar.

Covers: the same shop, crowd, step times and results as `sim.engine.simulate`, for open loads.
Scenario: each arrival is routed when it reaches the service. Under `guarded` (without the sold-out
    memory, which the bulk does not model) every attempt goes to the bulk (`sim.bulk`), which steps
    guarded's own statement, row lock (a FIFO per row) and EvalPlanQual re-check, hot rows included: no
    SimPy process ever holds a row lock then. Under any other strategy SimPy (`sim.service.checkout`,
    unchanged) takes the attempts that may wait on a row lock SimPy processes hold, and the bulk only
    those on a hot SKU sold out when the attempt arrives (nothing can change that: stock only falls during
    a run). The loop and the pool are shared, each touch in time order (`sim.synced`),
    so the queueing both halves see is the full model's; only the order in which step times are drawn
    from the service stream differs, so a hybrid run is a different sample of the same distribution (with
    `cv=0`, no draw at all, it is the full model's run, attempt by attempt).

Why: in SimPy an attempt costs a process and five or six events; in the bulk a few heap entries. Under
`guarded` the deals while they sell (30% of a Prime-Day crowd) used to go to SimPy, for no reason but
generality: the bulk already stepped guarded exactly for cold rows (`bench sim` while the deals sell:
0.7-0.8x plain SimPy then, 1.8x now).
"""

from __future__ import annotations

import numpy as np

from scenarios.spec import Scenario, ScenarioError
from scenarios.strategies import Strategy
from sim.audit import audit_run
from sim.bulk import Bulk
from sim.calibration import Calibration, resolve
from sim.engine import SimRun, crowd, due_in_order, stats, to_rows
from sim.runner import no_cyclic_gc
from sim.service import POOL_SIZE, Shop, checkout
from sim.synced import SyncedCpu, SyncedStation

#: Arrivals routed at a time: routing reads which hot SKUs are sold out once per slice, at or before the
#: slice's first arrival (sold out then means sold out at each later arrival: stock only falls).
SLICE = 256


def arrivals(due: np.ndarray, outbound: np.ndarray, steps: np.ndarray) -> list[tuple]:
    """The bulk's arrival tuples (`sim.bulk_walk.Walk`'s `a.arr`): due rows, their outbound hop, and the
    times of their HTTP, statement and hold steps and the jitter of their reply (`Bulk.step_times`)."""
    return list(zip(due[:, 0].tolist(), due[:, 1].astype(np.int64).tolist(), due[:, 2].astype(np.int64).tolist(),
                    due[:, 3].tolist(), outbound.tolist(), *(steps[:, k].tolist() for k in range(4)), strict=True))


class Hybrid:
    def __init__(self, scenario: Scenario, calibration: Calibration | None = None, loops: int = 1):
        if scenario.load.model != "open":
            raise ScenarioError("the hybrid model runs open loads (a race or closed users: sim.engine)")
        self.shop = shop = Shop(scenario, calibration or resolve(), loops=loops)
        self.bulk = Bulk(shop)
        shop.pool = SyncedStation(shop.env, POOL_SIZE * loops, self.bulk)   # replaced before any use
        shop.loop = SyncedCpu(shop.env, loops, self.bulk)
        self.bulk.pool, self.bulk.loop = shop.pool, shop.loop
        #: guarded without the sold-out memory: only the bulk ever touches a row, hot ones included
        self.all_in_bulk = shop.strategy == Strategy.GUARDED and shop.memory is None
        if self.all_in_bulk and self.bulk.plain:    # the bulk alone uses the pool, a connection's step
            self.bulk.solo_pool = shop.pool.capacity    # touches nothing else shared (`Bulk._flush`)
        self.hot = scenario.catalog.hot_skus
        self.all_hot_gone: np.ndarray | None = None
        shop.env.process(self.source())

    def sold_out(self) -> np.ndarray:
        """Per hot SKU: no warehouse row has `qty` units left now (once all are, that stays so: cached)."""
        if self.all_hot_gone is not None:
            return self.all_hot_gone
        qty = self.shop.qty
        gone = np.array([all(r.on_hand - r.reserved < qty for r in self.shop.stock.of(s)) for s in range(self.hot)],
                        dtype=bool)
        if gone.all():
            self.all_hot_gone = gone
        return gone

    def to_bulk(self, skus: np.ndarray) -> np.ndarray:
        if self.all_in_bulk:
            return np.ones(len(skus), dtype=bool)
        hot = skus < self.hot
        bulk = np.zeros(len(skus), dtype=bool)
        if hot.any():
            gone = self.sold_out()
            bulk[hot] = gone[skus[hot]]
            self.bulk.gone.update(np.flatnonzero(gone).tolist())   # the bulk skips their walk
        return bulk

    def source(self):
        """engine.source's arrivals (same streams, same order), routed a slice at a time (or, when all go to
        the bulk, a whole batch at a time: no routing, one SimPy timeout a window instead of 47)."""
        shop = self.shop
        env, jitter, timeout = shop.env, shop.jitter, shop.env.timeout
        for due in due_in_order(shop, crowd(shop)):
            outbound = shop.outbound_s * jitter.many(len(due))
            # the bulk's http, statement, hold and reply: mean times jitter, a vector at a time
            steps = jitter.many(len(due) * 4).reshape(-1, 4) * self.bulk.step_times
            size = len(due) if self.all_in_bulk else SLICE
            for lo in range(0, len(due), size):
                part, out, jit = due[lo:lo + size], outbound[lo:lo + size], steps[lo:lo + size]
                first = float(part[0, 0])
                if first > env.now:
                    yield timeout(first - env.now)
                self.bulk.flush(env.now)             # every arrival before this batch has entered
                if self.all_in_bulk:
                    self.bulk.add(arrivals(part, out, jit))
                    continue
                bulk = self.to_bulk(part[:, 2].astype(np.int64))
                self.bulk.add(arrivals(part[bulk], out[bulk], jit[bulk]))
                for (t, i, sku, t_intended), o in zip(part[~bulk].tolist(), out[~bulk].tolist(), strict=True):
                    if t > env.now:
                        yield timeout(t - env.now)
                    env.process(checkout(shop, int(i), int(sku), t_intended, o))

    def run(self, until: float | None = None) -> None:
        """Run SimPy (to `until`, or until it has nothing left), then the bulk up to the same instant."""
        self.shop.env.run(until=until)
        self.bulk.flush(self.shop.env.now if until is not None else float("inf"))


def simulate_hybrid(scenario: Scenario, run_id: str, calibration: Calibration | None = None,
                    loops: int = 1) -> SimRun:
    """`sim.engine.simulate` for an open load, through the hybrid: same rows, audit and stats."""
    h = Hybrid(scenario, calibration, loops)
    with no_cyclic_gc():
        h.run()
    shop = h.shop
    wall_s = max((r[4] for r in shop.records), default=0.0)
    rows = to_rows(shop, run_id)
    return SimRun(rows=rows, wall_s=wall_s, audit=audit_run(shop.stock, rows),
                  stats=stats(shop, wall_s) | {"engine": "hybrid", "bulk_steps": h.bulk.steps,
                                               "bulk_attempts": h.bulk.attempts,
                                               "bulk_replans": h.bulk.replans})
