"""The open model's crowd: who arrives when (intended start times) and asking for which SKU.

Why up front and seeded: the crowd is drawn before the run from its own `numpy.random.SeedSequence`
streams, so it is the same whatever the strategy, the worker count or the server's speed; a worker takes
every `count`-th arrival, so two processes replay exactly the crowd one would. Latency is measured from
these intended times, so a swarm that falls behind shows the queueing instead of hiding it (coordinated
omission). No locust import: this is tested in the pytest process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: Random sources, in spawn order; append only, or every seeded crowd changes.
STREAMS = ("arrivals", "sku")
#: Thinning works one window at a time, with the window's own peak rate, so a spike costs no more draws
#: than its own window needs.
WINDOW_S = 1.0


def streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.Generator(np.random.PCG64(ss)) for name, ss in zip(STREAMS, children, strict=True)}


def rate_at(shape: list[tuple[float, float]], t) -> np.ndarray:
    """Arrivals per second at `t`: linear between stages, flat before the first and after the last."""
    at, rate = zip(*shape, strict=True) if shape else ((0.0,), (0.0,))
    return np.interp(np.asarray(t, dtype=float), at, rate)


def arrival_times(shape: list[tuple[float, float]], duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """A non-homogeneous Poisson process on [0, duration_s): sorted offsets in seconds.

    Thinning (Lewis and Shedler): homogeneous points at the window's peak rate, each kept with probability
    rate(t) / peak. Exact for the piecewise-linear shape, since a window's peak is at one of its knots.
    """
    out, start = [], 0.0
    knots = [a for a, _ in shape]
    while start < duration_s:
        end = min(start + WINDOW_S, duration_s)
        peak = float(rate_at(shape, [start, end, *[a for a in knots if start < a < end]]).max())
        if peak > 0:
            n = rng.poisson(peak * (end - start))
            t = np.sort(rng.uniform(start, end, n))
            out.append(t[rng.uniform(0.0, peak, n) < rate_at(shape, t)])
        start = end
    return np.concatenate(out) if out else np.empty(0)


@functools.lru_cache(maxsize=8)
def _zipf_cdf(n: int, s: float) -> np.ndarray:
    w = np.arange(1, n + 1, dtype=np.float64) ** -s
    cdf = np.cumsum(w)
    return cdf / cdf[-1]


def pick_skus(n: int, hot: int, cold: int, hot_fraction: float, zipf_s: float,
              rng: np.random.Generator) -> np.ndarray:
    """SKU indices: 0..hot-1 are the hot SKUs (picked uniformly, with probability `hot_fraction`), then the
    cold ones by Zipf rank (rank r ~ 1 / r**s), so a few best sellers take most of the traffic."""
    if hot + cold == 0:
        raise ValueError("a crowd needs at least one SKU")
    frac = hot_fraction if hot and cold else (1.0 if hot else 0.0)
    u_kind, u_pick = rng.random(n), rng.random(n)
    is_hot = u_kind < frac
    picks = np.empty(n, dtype=np.int64)
    if hot:
        picks[is_hot] = np.minimum((u_pick[is_hot] * hot).astype(np.int64), hot - 1)
    if cold:
        rank = np.searchsorted(_zipf_cdf(cold, zipf_s), u_pick[~is_hot], side="right")
        picks[~is_hot] = hot + np.minimum(rank, cold - 1)
    return picks


@dataclass
class Crowd:
    t: np.ndarray      # intended start, seconds after the run's time zero
    sku: np.ndarray    # SKU index (see plan.sku_name)

    def __len__(self) -> int:
        return len(self.t)

    def share(self, index: int, count: int) -> Crowd:
        """Worker `index` of `count` takes every count-th arrival: the workers' shares add up to the crowd."""
        if not 0 <= index < count:
            raise ValueError(f"worker index {index} outside 0..{count - 1}")
        return Crowd(self.t[index::count], self.sku[index::count])


def crowd(shape: list[tuple[float, float]], duration_s: float, seed: int, hot: int, cold: int,
          hot_fraction: float, zipf_s: float) -> Crowd:
    rng = streams(seed)
    t = arrival_times(shape, duration_s, rng["arrivals"])
    return Crowd(t, pick_skus(len(t), hot, cold, hot_fraction, zipf_s, rng["sku"]))
