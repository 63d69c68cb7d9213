"""Fit the model's step times to measurements of the real stack: the pure half of `lastunit calibrate`.

Method, in two nested parts (no step time is typed in; each comes from a measurement or from this fit):
1. Linear (per split): with one buyer nothing queues, so the model's single-client latency is a linear
   function of its step times. The design matrix is read off the model itself: run it once per unit step
   (cv 0) and subtract the run with every fitted step at 0. Non-negative least squares of the measured
   single-client latency of every strategy but the naive control (its latency is mostly a deliberate
   sleep, whose overshoot is not a step time) gives two shared magnitudes: `base` (per request: client +
   HTTP) and `trip` (per database round trip). A COMMIT is charged like a statement: every safe strategy
   commits exactly once, so one client cannot tell a commit's cost from the per-request base. What a
   strategy's latency has beyond its fitted step counts is that strategy's own extra (`strategy_ms`, loop
   CPU), so no strategy is forced to share another's mistake.
2. Nonlinear (the splits): one buyer cannot tell CPU that queues (a single event loop) from time that
   does not (waiting on PostgreSQL). Contended races can. A grid over two shares (how much of `base` is the
   client's loop rather than the service's, how much of `trip` is driver CPU on the service loop rather
   than PostgreSQL time) picks the pair whose model best predicts the measured contended races: least
   squares of log(predicted / measured) over their p50 latency and throughput.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

import numpy as np

from scenarios.loader import load
from sim.calibration import Calibration
from sim.engine import simulate

#: The grid of both shares: 0, 0.2, ..., 1. Six points each keep a fit to a few seconds of model time.
SHARES = tuple(round(x, 2) for x in np.linspace(0.0, 1.0, 6))
MAGNITUDES = ("base_ms", "trip_ms")
#: Left out of the shared least squares (see the docstring); its extra is still fitted.
NOT_SHARED = ("naive",)


@dataclass
class Measurements:
    """What calibrate measured on the real stack (all in ms; races as rows of the race table)."""
    network_ms: float                       # one loopback hop (half a raw Redis PING round trip)
    redis_ms: float                         # Redis's own time for the reserve script (EVAL - PING)
    single_ms: dict[str, float]             # strategy -> median latency of sequential single-client reserves
    races: list[dict] = field(default_factory=list)  # strategy, buyers, stock, p50_ms, throughput_per_s
    cv: float = 0.0                         # spread of a step: robust cv of the single-client samples


@functools.lru_cache(maxsize=256)
def race_scenario(strategy: str, buyers: int, stock: int):
    return load("last_unit_race", [f"inventory.strategy={strategy}", f"load.buyers={buyers}",
                                   f"catalog.hot_stock={stock}"])


def predict(cal: Calibration, strategy: str, buyers: int, stock: int) -> dict:
    """The model's p50 latency (ms) and throughput (attempts/s) for one race."""
    run = simulate(race_scenario(strategy, buyers, stock), "fit", cal)
    lat = np.array([r["t_end"] - r["t_intended"] for r in run.rows]) * 1000
    return {"p50_ms": float(np.percentile(lat, 50)),
            "throughput_per_s": len(lat) / run.wall_s if run.wall_s > 0 else float("inf")}


def calibration(m: Measurements, client_share: float, driver_share: float, base_ms=0.0, trip_ms=0.0,
                cv=None, extras=None) -> Calibration:
    """A Calibration from the fitted magnitudes and shares (the one place the fit maps onto the model)."""
    return Calibration(http_ms=base_ms * (1 - client_share), client_ms=base_ms * client_share,
                       driver_ms=trip_ms * driver_share, sql_ms=trip_ms * (1 - driver_share),
                       commit_ms=trip_ms * (1 - driver_share), network_ms=m.network_ms, redis_ms=m.redis_ms,
                       cv=m.cv if cv is None else cv, strategy_ms=extras or {}, source="fit")


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares by trying every set of free columns (exact; the matrix has 2)."""
    best, best_err = np.zeros(a.shape[1]), float(np.sum(b ** 2))
    for k in range(1, a.shape[1] + 1):
        for cols in itertools.combinations(range(a.shape[1]), k):
            x, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
            if np.all(x >= 0):
                full = np.zeros(a.shape[1])
                full[list(cols)] = x
                err = float(np.sum((a @ full - b) ** 2))
                if err < best_err - 1e-15:
                    best, best_err = full, err
    return best


def linear_part(m: Measurements, client_share: float, driver_share: float) -> dict:
    """Part 1 for one pair of shares: design matrix, magnitudes, per-strategy extras."""
    names = sorted(m.single_ms)

    def single(**kw) -> np.ndarray:
        cal = calibration(m, client_share, driver_share, cv=0.0, **kw)
        return np.array([predict(cal, s, 1, 1)["p50_ms"] for s in names])

    known = single()
    a = np.column_stack([single(**{k: 1.0}) - known for k in MAGNITUDES])
    measured = np.array([m.single_ms[s] for s in names])
    shared = np.array([s not in NOT_SHARED for s in names])
    theta = nnls(a[shared], (measured - known)[shared])
    residual = measured - known - a @ theta
    extras = {s: round(float(max(r, 0.0)), 4) for s, r in zip(names, residual, strict=True) if r > 1e-9}
    return {"strategies": names, "design": a.round(4).tolist(), "known_ms": known.round(4).tolist(),
            "theta": dict(zip(MAGNITUDES, theta.round(4).tolist(), strict=True)),
            "residual_ms": dict(zip(names, residual.round(4).tolist(), strict=True)), "extras": extras}


def race_error(cal: Calibration, races: list[dict]) -> tuple[float, list[dict]]:
    """Sum of squared log errors of p50 and throughput over the contended races, and each prediction."""
    total, rows = 0.0, []
    for r in races:
        p = predict(cal, r["strategy"], r["buyers"], r["stock"])
        e = [np.log(p[k] / r[k]) for k in ("p50_ms", "throughput_per_s")]
        total += sum(x * x for x in e)
        rows.append({**{k: r[k] for k in ("strategy", "buyers", "stock")},
                     **{f"{k}_real": round(r[k], 3) for k in ("p50_ms", "throughput_per_s")},
                     **{f"{k}_sim": round(p[k], 3) for k in ("p50_ms", "throughput_per_s")}})
    return total, rows


def fit(m: Measurements, source: str = "fit", shares=SHARES) -> tuple[Calibration, dict]:
    """Both parts; returns the fitted Calibration and an explanation of every number in it."""
    grid = []
    for g, f in itertools.product(shares, shares):
        lin = linear_part(m, g, f)
        cal = calibration(m, g, f, **lin["theta"], extras=lin["extras"])
        err, rows = race_error(cal, m.races) if m.races else (0.0, [])
        grid.append((err, g, f, lin, cal, rows))
    err, g, f, lin, cal, rows = min(grid, key=lambda t: (t[0], t[1], t[2]))
    explain = {
        "method": __doc__.split("\n\n", 1)[1].strip(),
        "measured": {"network_ms": m.network_ms, "redis_ms": m.redis_ms, "cv": m.cv,
                     "single_client_p50_ms": m.single_ms, "contended_races": len(m.races)},
        "linear_fit": lin, "client_share": g, "driver_share": f, "objective": round(err, 5),
        "grid": [{"client_share": x[1], "driver_share": x[2], "objective": round(x[0], 5)} for x in grid],
        "contended_fit": rows,
    }
    fitted = Calibration(**{**cal.to_dict(), "source": source, "explain": explain})
    return fitted, explain
