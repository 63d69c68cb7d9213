"""Station: a simpy.Resource that keeps the counters queueing theory can check.

Covers: a Resource with FIFO waiting, time-average number in system, Little's law, Erlang C.
Scenario: customers arrive as a Poisson stream at a station of `c` identical servers with exponential
    service times. The inventory service's connection pool and the Redis server are Stations, so the same
    class that these textbook runs validate is what the model reports its pool queueing with.
"""

from __future__ import annotations

import math

import numpy as np
import simpy
from simpy.resources.resource import Release, Request

from sim.runner import no_cyclic_gc

SEED = 42                 # the M/M/c runs' own seed
SERVICE_RATE = 1.0        # mu, services per second per server, in `mmc`


class Station(simpy.Resource):
    """A Resource that counts arrivals, waits, sojourns and the time-integral of customers present."""

    def __init__(self, env: simpy.Environment, capacity: int):
        super().__init__(env, capacity)
        self.arrivals = self.served = self.waited = 0
        self.in_system = 0
        self.area = 0.0          # integral of in_system over time: L = area / T
        self.wait_s = 0.0        # sum of (granted - requested)
        self.sojourn_s = 0.0     # sum of (released - requested)
        self.busy_s = 0.0        # sum of (released - granted): utilization = busy_s / (c T)
        self._t = env.now

    def request(self) -> Request:
        now = self._env.now
        self.area += self.in_system * (now - self._t)
        self._t = now
        self.in_system += 1
        self.arrivals += 1
        req = Request(self)
        req.t_req = now
        return req

    def release(self, request: Request) -> Release:
        now = self._env.now
        self.area += self.in_system * (now - self._t)
        self._t = now
        self.in_system -= 1
        self.sojourn_s += now - request.t_req
        if request.usage_since is not None:
            self.served += 1
            wait = request.usage_since - request.t_req
            self.wait_s += wait
            self.busy_s += now - request.usage_since
            if wait > 0:
                self.waited += 1
        return Release(self, request)

    def report(self, horizon_s: float) -> dict:
        """Little's law's three numbers over [0, horizon_s] plus the mean wait and utilization."""
        area = self.area + self.in_system * (horizon_s - self._t)
        n = max(self.served, 1)
        return {"arrivals": self.arrivals, "served": self.served, "waited": self.waited,
                "mean_wait_s": self.wait_s / n, "mean_sojourn_s": self.sojourn_s / max(self.arrivals, 1),
                "L": area / horizon_s if horizon_s > 0 else 0.0,
                "lambda_per_s": self.arrivals / horizon_s if horizon_s > 0 else 0.0,
                "utilization": self.busy_s / (self.capacity * horizon_s) if horizon_s > 0 else 0.0}


def erlang_c(c: int, lam: float, mu: float) -> float:
    """P(an arrival waits) in M/M/c: the Erlang C formula (1 when the station is overloaded)."""
    a = lam / mu
    if a >= c:
        return 1.0
    top = a ** c / math.factorial(c) / (1 - a / c)
    return top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)


def erlang_c_wait(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue (Wq) of M/M/c: P(wait) over (c mu - lam)."""
    return math.inf if lam >= c * mu else erlang_c(c, lam, mu) / (c * mu - lam)


def customer(env: simpy.Environment, station: Station, service_s: float):
    with station.request() as req:
        yield req
        yield env.timeout(service_s)


def arrivals(env: simpy.Environment, station: Station, gaps: list[float], services: list[float]):
    for gap, service_s in zip(gaps, services, strict=True):
        yield env.timeout(gap)
        env.process(customer(env, station, service_s))


def mmc(c: int, rho: float, customers: int, seed: int = SEED) -> dict:
    """Run M/M/c at utilization `rho` for `customers` arrivals, to completion; the Station's report.

    Waits are counted when strictly positive, so `waited / served` estimates Erlang C's P(wait).
    """
    rng = np.random.default_rng(seed)
    lam = rho * c * SERVICE_RATE
    gaps, services = rng.exponential(1 / lam, customers), rng.exponential(1 / SERVICE_RATE, customers)
    env = simpy.Environment()
    station = Station(env, c)
    env.process(arrivals(env, station, gaps.tolist(), services.tolist()))
    with no_cyclic_gc():
        env.run()
    return station.report(env.now) | {
        "expected_wait_s": erlang_c_wait(c, lam, SERVICE_RATE),
        "expected_p_wait": erlang_c(c, lam, SERVICE_RATE),
        "offered_lambda_per_s": lam, "horizon_s": env.now}
