"""The model's queueing core against theory: Erlang C for M/M/1 and M/M/c, and Little's law.

`Station` is the class the model's connection pool and Redis server are made of; if it queued or counted
wrong, every latency the model reports would be wrong with it.
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from scenarios.loader import load
from sim.engine import simulate
from sim.queueing import Cpu, Station, erlang_c, erlang_c_wait, mmc

#: Long enough that 5% is about 3 standard deviations of the mean wait's error (measured over 8 seeds:
#: 1.2-2.2% at 100k customers for these loads), short enough for a unit test (~1.5 s each).
CUSTOMERS = 200_000


def test_erlang_c_textbook_values():
    assert erlang_c_wait(1, 0.5, 1.0) == pytest.approx(1.0)          # M/M/1: rho / (mu - lam)
    assert erlang_c_wait(2, 1.0, 1.0) == pytest.approx(1 / 3)        # P(wait) = 1/3, over (2 - 1)
    assert erlang_c(2, 1.0, 1.0) == pytest.approx(1 / 3)
    assert erlang_c_wait(1, 1.0, 1.0) == float("inf")


@pytest.mark.parametrize(("servers", "rho"), [(1, 0.5), (2, 0.6), (4, 0.6)], ids=["M/M/1", "M/M/2", "M/M/4"])
def test_mean_wait_matches_erlang_c(servers, rho):
    r = mmc(servers, rho, CUSTOMERS)
    assert r["served"] == CUSTOMERS
    assert r["mean_wait_s"] == pytest.approx(r["expected_wait_s"], rel=0.05)
    assert r["waited"] / r["served"] == pytest.approx(r["expected_p_wait"], rel=0.05)
    assert r["utilization"] == pytest.approx(rho, rel=0.03)
    # Little's law: time-average number present = arrival rate x mean time in system
    assert r["L"] == pytest.approx(r["lambda_per_s"] * r["mean_sojourn_s"], rel=1e-9)


def test_littles_law_on_the_models_connection_pool():
    sc = load("last_unit_race", ["load.model='open'", "load.duration_s=2", "load.hot_fraction=0.2",
                                 "load.shape=[{at_s=0, rate=3000}, {at_s=2, rate=9000}]",
                                 "catalog.skus=5000", "catalog.warehouses=2", "catalog.hot_stock=50"])
    pool = simulate(sc, "test-little").stats["pool"]
    assert pool["served"] == pool["arrivals"] > 5000
    assert pool["L"] == pytest.approx(pool["lambda_per_s"] * pool["mean_sojourn_s"], rel=1e-6)
    assert 0 < pool["utilization"] < 1


def _finishes_on_a_station(c: int, gaps, services) -> list[float]:
    env, done = simpy.Environment(), []
    station = Station(env, c)

    def job(service_s):
        with station.request() as req:
            if not req.triggered:
                yield req
            yield env.timeout(service_s)
            done.append(env.now)

    def source():
        for gap, service_s in zip(gaps, services, strict=True):
            yield env.timeout(gap)
            env.process(job(service_s))

    env.process(source())
    env.run()
    return done


def _finishes_on_a_cpu(c: int, gaps, services) -> list[float]:
    env, done = simpy.Environment(), []
    cpu = Cpu(env, c)

    def source():
        for gap, service_s in zip(gaps, services, strict=True):
            yield env.timeout(gap)
            done.append(env.now + cpu.run(service_s))

    env.process(source())
    env.run()
    return sorted(done)


@pytest.mark.parametrize("servers", [1, 3])
def test_a_cpu_finishes_every_burst_when_a_fifo_station_would(servers):
    """The event loops' one-timeout shortcut (Lindley's recursion) against the queue it replaces, on the
    same arrivals and service times, at a load where most bursts wait."""
    rng = np.random.default_rng(7)
    gaps, services = rng.exponential(1.0, 5000).tolist(), rng.exponential(0.9 * servers, 5000).tolist()
    assert _finishes_on_a_cpu(servers, gaps, services) == pytest.approx(
        sorted(_finishes_on_a_station(servers, gaps, services)), abs=1e-9)
