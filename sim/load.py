"""Who arrives when, asking for which SKU: drawn up front from the arrival and SKU streams only.

Drawing the whole crowd before the run is what keeps it identical across strategies: nothing the service
does (retries, backoffs, service times) can consume a number these streams would have used.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from scenarios.spec import Catalog, Load


def rate_at(load: Load, t: np.ndarray) -> np.ndarray:
    """Arrivals per second at times `t`: linear between stages, flat before the first and after the last."""
    at = [s.at_s for s in load.shape]
    rate = [s.rate for s in load.shape]
    return np.interp(t, at, rate)


#: Open-model arrivals are drawn one window at a time, so a long run never holds its whole crowd in memory.
WINDOW_S = 1.0


def open_arrivals(load: Load, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """A non-homogeneous Poisson process over [0, duration_s), one sorted array per WINDOW_S window.

    Thinning (Lewis and Shedler), exact for any rate shape: homogeneous points at the window's peak
    rate, each kept with probability rate(t) / peak.
    """
    duration, knots_at = load.duration_s, [s.at_s for s in load.shape]
    start = 0.0
    while start < duration:
        end = min(start + WINDOW_S, duration)
        knots = np.array([start, end] + [a for a in knots_at if start < a < end])
        peak = float(rate_at(load, knots).max())
        if peak > 0:
            n = rng.poisson(peak * (end - start))
            t = np.sort(rng.uniform(start, end, n))
            yield t[rng.uniform(0.0, peak, n) < rate_at(load, t)]
        start = end


@functools.lru_cache(maxsize=4)
def _zipf_cdf(n: int, s: float) -> np.ndarray:
    w = np.arange(1, n + 1, dtype=np.float64) ** -s
    cdf = np.cumsum(w)
    return cdf / cdf[-1]


class SkuPicker:
    """A hot SKU (uniformly) with probability `hot_fraction`, else a cold one by Zipf rank."""

    def __init__(self, catalog: Catalog, hot_fraction: float, rng: np.random.Generator):
        self.hot, self.cold = catalog.hot_skus, catalog.skus - catalog.hot_skus
        self.hot_fraction = hot_fraction if self.cold and self.hot else (1.0 if self.hot else 0.0)
        self.s, self.rng = catalog.zipf_s, rng
        self.buf: list[int] = []
        self.i = 0

    def many(self, n: int) -> np.ndarray:
        u_kind, u_pick = self.rng.random(n), self.rng.random(n)
        hot = u_kind < self.hot_fraction
        picks = np.empty(n, dtype=np.int64)
        if self.hot:
            picks[hot] = np.minimum((u_pick[hot] * self.hot).astype(np.int64), self.hot - 1)
        if self.cold:
            cdf = _zipf_cdf(self.cold, self.s)
            rank = np.minimum(np.searchsorted(cdf, u_pick[~hot], side="right"), self.cold - 1)
            picks[~hot] = self.hot + rank
        return picks

    def __call__(self) -> int:
        """One pick, for the closed model whose attempt count is not known up front."""
        if self.i == len(self.buf):
            self.buf, self.i = self.many(4096).tolist(), 0
        self.i += 1
        return self.buf[self.i - 1]
