"""Random streams: one `SeedSequence(seed)` spawns one Generator per source of randomness.

Why per source: the arrivals and the SKUs buyers pick must not shift when a strategy draws a different
number of backoffs or service times, or a strategy comparison would compare different crowds. Draws are
taken in batches (numpy is fast per array, slow per scalar) and handed out from a Python list.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.arrivals import STREAMS as SOURCES  # noqa: F401 - one spawn order for every engine
from scenarios.arrivals import streams as spawn  # noqa: F401

#: Draws per refill: large enough that numpy's per-call cost vanishes, small enough to stay in cache.
BATCH = 16_384


def lognormal_params(cv: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal with mean 1 and coefficient of variation `cv`."""
    sigma = math.sqrt(math.log1p(cv * cv))
    return -sigma * sigma / 2, sigma


class Jitter:
    """Multiplicative service-time noise with mean 1: `step_s * jitter()`."""

    def __init__(self, rng: np.random.Generator, cv: float):
        self.rng, self.cv = rng, cv
        self.mu, self.sigma = lognormal_params(cv)
        self.buf: list[float] = []
        self.i = 0

    def many(self, n: int) -> np.ndarray:
        if self.cv == 0:
            return np.ones(n)
        return self.rng.lognormal(self.mu, self.sigma, n)

    def __call__(self) -> float:
        i = self.i
        if i == len(self.buf):
            self.buf, i = self.many(BATCH).tolist(), 0
        self.i = i + 1
        return self.buf[i]


class Uniform:
    """U(0, 1) draws, batched: the full-jitter backoff multiplies them by its cap."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.buf: list[float] = []
        self.i = 0

    def __call__(self) -> float:
        i = self.i
        if i == len(self.buf):
            self.buf, i = self.rng.random(BATCH).tolist(), 0
        self.i = i + 1
        return self.buf[i]
