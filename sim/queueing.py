"""Station: a FIFO multi-server resource that keeps the counters queueing theory can check.

Covers: a Resource with FIFO waiting, time-average number in system, Little's law, Erlang C.
Scenario: customers arrive as a Poisson stream at a station of `c` identical servers with exponential
    service times. The inventory service's connection pool and the Redis server are Stations, so the same
    class that these textbook runs validate is what the model reports its pool queueing with.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

import numpy as np
import simpy
from simpy.events import PENDING

from sim.runner import no_cyclic_gc

SEED = 42                 # the M/M/c runs' own seed
SERVICE_RATE = 1.0        # mu, services per second per server, in `mmc`


class Claim(simpy.Event):
    """A request for one of a Station's servers: granted at once (no event scheduled) or queued (an Event
    that succeeds when a server frees up). Used as SimPy's Request is: `with station.request() as req:
    if not req.triggered: yield req`; leaving the `with` releases the server or withdraws the request."""

    __slots__ = ("station", "t_req", "usage_since")

    def __init__(self, station: Station, now: float):
        self.env, self.callbacks, self._value = station.env, [], PENDING
        self.station, self.t_req, self.usage_since = station, now, None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.station.release(self)


class Station:
    """`c` identical servers with one FIFO queue, counting arrivals, waits, sojourns and the time-integral
    of customers present (what queueing theory checks: Erlang C, Little's law).

    Why not simpy.Resource: it schedules an event for every request and every release, granted or not.
    Most claims in the model are uncontended (cold SKUs' row locks, an idle pool); a claim granted at once
    here schedules nothing, and a release schedules only the waiter it wakes. Grant order, the times and
    so every result are the same as with simpy.Resource (the golden summaries did not move).
    """

    def __init__(self, env: simpy.Environment, capacity: int):
        self.env, self.capacity = env, capacity
        self.busy = 0
        self.queue: deque[Claim] = deque()
        self.arrivals = self.served = self.waited = 0
        self.in_system = 0
        self.area = 0.0          # integral of in_system over time: L = area / T
        self.wait_s = 0.0        # sum of (granted - requested)
        self.sojourn_s = 0.0     # sum of (released - requested)
        self.busy_s = 0.0        # sum of (released - granted): utilization = busy_s / (c T)
        self._t = env.now

    @property
    def count(self) -> int:
        """Servers in use (simpy.Resource's name for it)."""
        return self.busy

    def _tick(self, now: float, step: int) -> None:
        self.area += self.in_system * (now - self._t)
        self._t = now
        self.in_system += step

    def request(self) -> Claim:
        now = self.env.now
        self._tick(now, 1)
        self.arrivals += 1
        claim = Claim(self, now)
        if self.busy < self.capacity and not self.queue:
            self.busy += 1
            # triggered and already "processed" (callbacks None): `yield claim` resumes at once, and
            # nothing was scheduled
            claim.usage_since, claim._ok, claim._value, claim.callbacks = now, True, None, None
        else:
            self.queue.append(claim)
        return claim

    def release(self, claim: Claim) -> None:
        now = self.env.now
        self._tick(now, -1)
        self.sojourn_s += now - claim.t_req
        if claim.usage_since is None:          # withdrawn while queued (a lock-wait timeout)
            self.queue.remove(claim)
            return
        self.served += 1
        wait = claim.usage_since - claim.t_req
        self.wait_s += wait
        self.busy_s += now - claim.usage_since
        if wait > 0:
            self.waited += 1
        if self.queue:                         # the server passes straight to the first in line
            nxt = self.queue.popleft()
            nxt.usage_since = now
            nxt.succeed()
        else:
            self.busy -= 1

    def report(self, horizon_s: float) -> dict:
        """Little's law's three numbers over [0, horizon_s] plus the mean wait and utilization."""
        area = self.area + self.in_system * (horizon_s - self._t)
        n = max(self.served, 1)
        return {"arrivals": self.arrivals, "served": self.served, "waited": self.waited,
                "mean_wait_s": self.wait_s / n, "mean_sojourn_s": self.sojourn_s / max(self.arrivals, 1),
                "L": area / horizon_s if horizon_s > 0 else 0.0,
                "lambda_per_s": self.arrivals / horizon_s if horizon_s > 0 else 0.0,
                "utilization": self.busy_s / (self.capacity * horizon_s) if horizon_s > 0 else 0.0}


class Cpu:
    """`c` identical processors running bursts of known length first come, first served: an event loop.

    Why not a Station: a burst's length is known when it is queued (the model draws it then), so its
    finish time follows from the processors' next free instants alone (Lindley's recursion; with c > 1,
    the earliest free processor takes the next burst, which is FCFS M/G/c exactly). One timeout per burst
    replaces a claim, a timeout and a release: the event loops are the model's busiest resource.
    """

    def __init__(self, env: simpy.Environment, capacity: int):
        self.env, self.capacity = env, capacity
        self.free = [env.now] * capacity     # a heap of the instants each processor is next free
        self.bursts = self.waited = 0
        self.wait_s = self.busy_s = 0.0

    def run(self, seconds: float) -> float:
        """Queue a burst now; how long until it is done (its wait plus itself)."""
        now = self.env.now
        at = self.free[0]
        start = at if at > now else now
        heapq.heapreplace(self.free, start + seconds)
        self.bursts += 1
        self.busy_s += seconds
        if start > now:
            self.waited += 1
            self.wait_s += start - now
        return start + seconds - now

    def report(self, horizon_s: float) -> dict:
        n = max(self.bursts, 1)
        return {"bursts": self.bursts, "waited": self.waited, "mean_wait_s": self.wait_s / n,
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
