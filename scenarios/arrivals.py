"""Who arrives when, asking for which SKU: the one crowd that the model, `run` and the swarm all replay.

Drawn up front and seeded from the scenario's own `SeedSequence` streams, so the crowd is identical across
strategies, engines, worker counts and server speeds: nothing a service does (retries, backoffs, service
times) can consume a number these streams would have used. Latency is measured from these intended times,
so an engine that falls behind shows the queueing instead of hiding it (no coordinated omission).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

#: Random sources, in spawn order. Append only: reordering changes every seeded output.
#: One seed, one named stream per source of chance, so arrivals stay the same when a strategy, a fault or
#: the provider's declines change. Append only: a stream's position in this tuple is its spawn key.
STREAMS = ("arrivals", "sku", "service", "backoff", "faults", "provider", "journey")
#: Thinning works one window at a time, with the window's own peak rate, so a spike costs no more draws
#: than its own window needs, and a long run never holds its whole crowd in memory.
WINDOW_S = 1.0


def streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.Generator(np.random.PCG64(ss)) for name, ss in zip(STREAMS, children, strict=True)}


def stages(load) -> list[tuple[float, float]]:
    """A scenario's `load.shape` as (at_s, rate) pairs."""
    return [(s.at_s, s.rate) for s in load.shape]


def rate_at(shape: list[tuple[float, float]], t) -> np.ndarray:
    """Arrivals per second at `t`: linear between stages, flat before the first and after the last."""
    at, rate = zip(*shape, strict=True) if shape else ((0.0,), (0.0,))
    return np.interp(np.asarray(t, dtype=float), at, rate)


def arrival_windows(shape: list[tuple[float, float]], duration_s: float,
                    rng: np.random.Generator) -> Iterator[np.ndarray]:
    """A non-homogeneous Poisson process on [0, duration_s), one sorted array per WINDOW_S window.

    Thinning (Lewis and Shedler): homogeneous points at the window's peak rate, each kept with probability
    rate(t) / peak. Exact for the piecewise-linear shape, since a window's peak is at one of its knots.
    """
    knots, start = [a for a, _ in shape], 0.0
    while start < duration_s:
        end = min(start + WINDOW_S, duration_s)
        peak = float(rate_at(shape, [start, end, *[a for a in knots if start < a < end]]).max())
        if peak > 0:
            n = rng.poisson(peak * (end - start))
            t = np.sort(rng.uniform(start, end, n))
            yield t[rng.uniform(0.0, peak, n) < rate_at(shape, t)]
        start = end


def arrival_times(shape: list[tuple[float, float]], duration_s: float, rng: np.random.Generator) -> np.ndarray:
    out = list(arrival_windows(shape, duration_s, rng))
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


class SkuPicker:
    """`pick_skus` for a scenario's catalog, in batches; one at a time for the closed model."""

    def __init__(self, catalog, hot_fraction: float, rng: np.random.Generator):
        self.args = (catalog.hot_skus, catalog.skus - catalog.hot_skus, hot_fraction, catalog.zipf_s)
        self.rng = rng
        self.buf: list[int] = []
        self.i = 0

    def many(self, n: int) -> np.ndarray:
        return pick_skus(n, *self.args, self.rng)

    def __call__(self) -> int:
        if self.i == len(self.buf):
            self.buf, self.i = self.many(4096).tolist(), 0
        self.i += 1
        return self.buf[self.i - 1]


@dataclass
class Crowd:
    t: np.ndarray      # intended start, seconds after the run's time zero
    sku: np.ndarray    # SKU index: 0..hot-1 hot, then cold by popularity rank

    def __len__(self) -> int:
        return len(self.t)

    def share(self, index: int, count: int) -> Crowd:
        """Worker `index` of `count` takes every count-th arrival: the workers' shares add up to the crowd."""
        if not 0 <= index < count:
            raise ValueError(f"worker index {index} outside 0..{count - 1}")
        return Crowd(self.t[index::count], self.sku[index::count])


def crowd(shape: list[tuple[float, float]], duration_s: float, seed: int, hot: int, cold: int,
          hot_fraction: float, zipf_s: float) -> Crowd:
    """The open model's whole crowd, drawn exactly as the model draws it (window by window)."""
    rng = streams(seed)
    ts, picks = [], []
    for t in arrival_windows(shape, duration_s, rng["arrivals"]):
        ts.append(t)
        picks.append(pick_skus(len(t), hot, cold, hot_fraction, zipf_s, rng["sku"]))
    if not ts:
        return Crowd(np.empty(0), np.empty(0, dtype=np.int64))
    return Crowd(np.concatenate(ts), np.concatenate(picks))


def planned(sc) -> Crowd:
    """The scenario's crowd: for a race, every buyer at t=0 on a hot SKU; otherwise the open model's crowd,
    the very one the real driver, the SimPy model and the swarm replay for this seed."""
    cat, ld = sc.catalog, sc.load
    if ld.model == "race":
        picks = pick_skus(ld.buyers, cat.hot_skus, 0 if cat.hot_skus else cat.skus, 1.0, cat.zipf_s,
                          streams(sc.seed)["sku"])
        return Crowd(np.zeros(ld.buyers), picks)
    return crowd(stages(ld), ld.duration_s, sc.seed, cat.hot_skus, cat.skus - cat.hot_skus, ld.hot_fraction,
                 cat.zipf_s)
