"""How fast the model runs: a Prime-Day peak at full rate over a big catalog, for a wall-clock budget.

Covers: simulated attempts per wall-clock second (`ops_s`), per strategy, for the hybrid model (the
    contended part in SimPy, the bulk from a calendar, under guarded every attempt: `sim.hybrid`) and for
    the full event model, beside a baseline run in the same process (plain SimPy's M/M/1, half before and
    half after, so a machine whose speed drifts is measured alike), and how long a whole peak hour would
    take at that speed.
Scenario: PEAK_RATE checkouts per second (HOT_FRACTION of them on HOT_SKUS last-unit races, the rest Zipf
    over a CATALOG_SKUS catalog) in WAREHOUSES warehouses, run until the wall-clock budget is spent, on as
    many service workers as keep their loops at UTILIZATION (placeholder step times, so the bench does not
    move with a calibration file).
"""

from __future__ import annotations

import math
import time

import numpy as np
import simpy

from scenarios.spec import Catalog, Inventory, Load, Scenario, Stage
from scenarios.strategies import Strategy
from sim.calibration import DEFAULT, Calibration
from sim.engine import start
from sim.hybrid import Hybrid
from sim.runner import events_scheduled, no_cyclic_gc
from sim.service import Shop

SEED = 2024
CATALOG_SKUS = 1_000_000       # SKUs in the catalog (cold ones are created only when someone buys one)
HOT_SKUS = 20                  # the doorbusters everyone races for
HOT_STOCK = 500                # units of each doorbuster, over all warehouses
WAREHOUSES = 3
PEAK_RATE = 12_000.0           # checkouts per second
UTILIZATION = 0.75             # of the service's loops: the bench scales the service out to this (`workers`)
HOT_FRACTION = 0.3
DURATION_S = 3600.0            # an hour of peak; the wall-clock budget ends the run long before
CHUNK_S = 0.05                 # simulated seconds between wall-clock checks


def prime_day(strategy: Strategy = Strategy.GUARDED) -> Scenario:
    return Scenario(
        name="bench_prime_day_peak", seed=SEED,
        catalog=Catalog(skus=CATALOG_SKUS, hot_skus=HOT_SKUS, warehouses=WAREHOUSES, hot_stock=HOT_STOCK,
                        stock_per_warehouse=50),
        load=Load(model="open", duration_s=DURATION_S, hot_fraction=HOT_FRACTION,
                  shape=[Stage(0.0, PEAK_RATE)]),
        inventory=Inventory(strategy=strategy))


def workers(cal: Calibration, rate: float = PEAK_RATE, utilization: float = UTILIZATION) -> int:
    """uvicorn workers (one loop and one pool each) that keep the loops at `utilization` at `rate`.

    Why: one loop serves ~1/(its CPU per request) checkouts a second (about 2,000 with the defaults); a
    Prime-Day peak on one loop is an ever-growing queue, which measures SimPy's queue, not the model.
    """
    cpu_s = (cal.http_ms + cal.win_ms + cal.driver_ms * 2) / 1000   # guarded: two round trips
    return max(1, math.ceil(rate * cpu_s / utilization))


ENGINES = ("hybrid", "events")


def measure(scenario: Scenario, seconds: float, cal: Calibration = DEFAULT, engine: str = "hybrid") -> dict:
    """Run the peak for `seconds` of wall clock after a first chunk (which pays for the Zipf table)."""
    t0 = time.perf_counter()
    loops = workers(cal)
    if engine == "hybrid":
        model = Hybrid(scenario, cal, loops=loops)
        shop, advance = model.shop, model.run
    else:
        shop = Shop(scenario, cal, loops=loops)
        start(shop)
        advance = shop.env.run
    advance(until=CHUNK_S)
    setup_s = time.perf_counter() - t0
    attempts0, events0, sim0 = len(shop.records), events_scheduled(shop.env), shop.env.now
    t1 = time.perf_counter()
    until = sim0
    while time.perf_counter() - t1 < seconds:
        until += CHUNK_S
        advance(until=until)
    wall_s = time.perf_counter() - t1
    attempts, events = len(shop.records) - attempts0, events_scheduled(shop.env) - events0
    # the simulated attempts' own latency from their intended start (simulated ms): the contract's p50/p99
    lat_ms = np.array([r[4] - r[3] for r in shop.records[attempts0:]] or [0.0]) * 1000
    return {"name": "sim.prime_day_peak", "engine": engine, "strategy": scenario.inventory.strategy.value,
            "clients": "open", "p50_ms": round(float(np.percentile(lat_ms, 50)), 3),
            "p99_ms": round(float(np.percentile(lat_ms, 99)), 3),
            "workers": loops, "simulated_attempts": attempts, "simulated_s": round(shop.env.now - sim0, 3),
            "wall_s": round(wall_s, 3), "setup_s": round(setup_s, 3),
            "ops_s": round(attempts / wall_s), "events_per_wall_s": round(events / wall_s),
            "events_per_attempt": round(events / max(attempts, 1), 2),
            "speedup": round((shop.env.now - sim0) / wall_s, 3)}


def simpy_floor(seconds: float, rho: float = 0.8) -> dict:
    """The baseline: plain SimPy (simpy.Resource, one M/M/1 queue) for `seconds` of wall clock, customers
    and events per wall second. A customer there is the least a checkout can cost in SimPy (arrive,
    queue, one service time, leave), so the model's attempts per second divided by this is the share of
    SimPy's own speed the shop's semantics leave: what profiling can still win, and what it cannot."""
    rng = np.random.default_rng(SEED)
    env = simpy.Environment()
    server = simpy.Resource(env, 1)
    served = [0]

    def customer(service_s: float):
        with server.request() as req:
            yield req
            yield env.timeout(service_s)
        served[0] += 1

    def arrivals():
        while True:
            for gap, service_s in zip(rng.exponential(1.0, 4096).tolist(),
                                      rng.exponential(rho, 4096).tolist(), strict=True):
                yield env.timeout(gap)
                env.process(customer(service_s))

    env.process(arrivals())
    t0, until = time.perf_counter(), 0.0
    while time.perf_counter() - t0 < seconds:
        until += 2000.0
        env.run(until=until)
    wall_s = time.perf_counter() - t0
    return {"customers_per_wall_s": round(served[0] / wall_s), "events_per_wall_s": round(events_scheduled(env) / wall_s)}


def run(seconds: float = 3.0, strategies: tuple[Strategy, ...] = (Strategy.GUARDED,),
        engines: tuple[str, ...] = ENGINES) -> list[dict]:
    """One row per strategy and engine; `seconds` of wall clock is shared between them and the baseline (a
    fifth, half before and half after)."""
    with no_cyclic_gc():
        before = simpy_floor(seconds / 10)
        rows = [measure(prime_day(s), seconds * 4 / 5 / len(strategies) / len(engines), engine=e)
                for s in strategies for e in engines]
        after = simpy_floor(seconds / 10)
    floor = round((before["customers_per_wall_s"] + after["customers_per_wall_s"]) / 2)
    for r in rows:
        r |= {"peak_hour_wall_min": round(DURATION_S / r["speedup"] / 60, 1) if r["speedup"] else None,
              "baseline": "plain SimPy M/M/1, customers per wall second (same process)",
              "baseline_ops_s": floor, "ratio": round(r["ops_s"] / floor, 3)}
    return rows
