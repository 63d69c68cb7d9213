"""Fit the model's step times to measurements of the real stack: the pure half of `lastunit calibrate`.

Method, in three parts (no step time is typed in; each comes from a measurement or from this fit):
1. Linear (per split): with one buyer nothing queues, so the model's single-client latency is a linear
   function of its step times. The design matrix is read off the model itself: run it once per unit step
   (cv 0) and subtract the run with every fitted step at 0. Non-negative least squares of the measured
   single-client latency of every strategy but the naive control (its latency is mostly a deliberate
   sleep, whose overshoot is not a step time) gives two shared magnitudes: `base` (per request: client +
   HTTP) and `trip` (per database round trip). A COMMIT is charged like a statement: every safe strategy
   commits exactly once, so one client cannot tell a commit's cost from the per-request base. When
   calibrate measured a PostgreSQL round trip directly (`trip_ms`), that is `trip`, and `base` is the
   median over the strategies of what each leaves per request: five noisy latencies cannot split two
   magnitudes reliably (least squares swung `trip` 3x between two runs on a busy machine). What a
   strategy's latency has beyond its fitted step counts is that strategy's own extra (`strategy_ms`, loop
   CPU), so no strategy is forced to share another's mistake.
2. Nonlinear (the splits): one buyer cannot tell CPU that queues (a single event loop) from time that
   does not (waiting on PostgreSQL, the kernel, wakeups). Contended races can. A grid over four shares
   (how much of `base` is pure delay, `latency_ms`, rather than loop CPU; how much of it is loop CPU that
   only a winning request pays, `win_ms`: the single-client requests all win, a race's losers return
   early with a short reply; how much of the CPU rest is the client's loop rather than the service's; how much of `trip` is driver CPU on the service loop rather
   than PostgreSQL time) picks the triple whose model best predicts the measured contended races: the
   absolute values of log(predicted / measured) over their p50 latency and throughput (absolute, not
   squared: one noisy race must not pull the split away from all the others; validation reports medians).
3. Fresh (a measured delay): a race's lone request, on a connection idle since the barrier, answers slower
   than the warm sequential requests of part 1 (wakeups, cold caches). The median of one-buyer races per
   strategy minus the model's single-client latency is that strategy's `fresh_ms`, charged in races as a
   delay that holds no CPU: it moves every race latency, not the capacity.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

import numpy as np

from scenarios.loader import load
from sim.calibration import Calibration
from sim.engine import simulate
from sim.service import SLEEPERS

#: The grid of the CPU shares: 0, 0.2, ..., 1. Six points each keep a fit to a few seconds of model time.
SHARES = tuple(round(x, 2) for x in np.linspace(0.0, 1.0, 6))
#: The grid of (delay share, win share) of `base`: how much of a lone request's base is pure delay, and how
#: much is loop CPU that only a winner pays (every single-client request wins); some CPU always remains.
DELAYS = tuple((d, w) for d in (0.0, 0.25, 0.5) for w in (0.0, 0.25, 0.5) if d + w <= 0.75)
MAGNITUDES = ("base_ms", "trip_ms")
#: Left out of the shared least squares (see the docstring); its extra is still fitted (as a delay).
NOT_SHARED = tuple(sorted(s.value for s in SLEEPERS))


@dataclass
class Measurements:
    """What calibrate measured on the real stack (all in ms; races as rows of the race table)."""
    network_ms: float                       # one loopback hop (half a raw Redis PING round trip)
    redis_ms: float                         # Redis's own time for the reserve script (EVAL - PING)
    single_ms: dict[str, float]             # strategy -> median latency of sequential single-client reserves
    races: list[dict] = field(default_factory=list)  # strategy, buyers, stock, p50_ms, throughput_per_s
    cv: float = 0.0                         # spread of a step: robust cv of the single-client samples
    race1_ms: dict[str, float] = field(default_factory=dict)  # strategy -> median latency of 1-buyer races
    trip_ms: float | None = None            # one PostgreSQL round trip measured directly (None: fit it)


@functools.lru_cache(maxsize=256)
def race_scenario(strategy: str, buyers: int, stock: int, seed: int | None = None):
    """The last-unit race at one grid point; `seed` only moves the model's random streams."""
    extra = [] if seed is None else [f"seed={seed}"]
    return load("last_unit_race", [f"inventory.strategy={strategy}", f"load.buyers={buyers}",
                                   f"catalog.hot_stock={stock}", *extra])


def predict(cal: Calibration, strategy: str, buyers: int, stock: int) -> dict:
    """The model's p50 latency (ms) and throughput (attempts/s) for one race."""
    run = simulate(race_scenario(strategy, buyers, stock), "fit", cal)
    lat = np.array([r["t_end"] - r["t_intended"] for r in run.rows]) * 1000
    return {"p50_ms": float(np.percentile(lat, 50)),
            "throughput_per_s": len(lat) / run.wall_s if run.wall_s > 0 else float("inf")}


def calibration(m: Measurements, client_share: float, driver_share: float, base_ms=0.0, trip_ms=0.0,
                cv=None, extras=None, fresh=None, delay_share: float = 0.0, win_share: float = 0.0) -> Calibration:
    """A Calibration from the fitted magnitudes and shares (the one place the fit maps onto the model)."""
    cpu_ms = base_ms * (1 - delay_share - win_share)
    return Calibration(http_ms=cpu_ms * (1 - client_share), client_ms=cpu_ms * client_share,
                       latency_ms=base_ms * delay_share, win_ms=base_ms * win_share,
                       driver_ms=trip_ms * driver_share, sql_ms=trip_ms * (1 - driver_share),
                       commit_ms=trip_ms * (1 - driver_share), network_ms=m.network_ms, redis_ms=m.redis_ms,
                       cv=m.cv if cv is None else cv, strategy_ms=extras or {}, fresh_ms=fresh or {},
                       source="fit")


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
    if m.trip_ms is None:
        theta = nnls(a[shared], (measured - known)[shared])
    else:   # trip measured: base is the median of what the strategies leave per request (robust, not LSQ)
        left = (measured - known - a[:, 1] * m.trip_ms)[shared] / a[shared, 0]
        theta = np.array([max(float(np.median(left)), 0.0), m.trip_ms])
    residual = measured - known - a @ theta
    extras = {s: round(float(max(r, 0.0)), 4) for s, r in zip(names, residual, strict=True) if r > 1e-9}
    model = known + a @ theta + np.array([extras.get(s, 0.0) for s in names])   # the fitted 1-client latency
    fresh = {s: round(float(m.race1_ms[s] - p), 4) for s, p in zip(names, model, strict=True)
             if m.race1_ms.get(s, 0.0) - p > 1e-9}
    return {"strategies": names, "design": a.round(4).tolist(), "known_ms": known.round(4).tolist(),
            "theta": dict(zip(MAGNITUDES, theta.round(4).tolist(), strict=True)),
            "residual_ms": dict(zip(names, residual.round(4).tolist(), strict=True)), "extras": extras,
            "fresh": fresh}


def race_error(cal: Calibration, races: list[dict]) -> tuple[float, list[dict]]:
    """Sum of absolute log errors of p50 and throughput over the contended races, and each prediction."""
    total, rows = 0.0, []
    for r in races:
        p = predict(cal, r["strategy"], r["buyers"], r["stock"])
        e = [np.log(p[k] / r[k]) for k in ("p50_ms", "throughput_per_s")]
        total += sum(abs(x) for x in e)
        rows.append({**{k: r[k] for k in ("strategy", "buyers", "stock")},
                     **{f"{k}_real": round(r[k], 3) for k in ("p50_ms", "throughput_per_s")},
                     **{f"{k}_sim": round(p[k], 3) for k in ("p50_ms", "throughput_per_s")}})
    return total, rows


def fit(m: Measurements, source: str = "fit", shares=SHARES, delays=DELAYS) -> tuple[Calibration, dict]:
    """All parts; returns the fitted Calibration and an explanation of every number in it.

    The linear part depends on the driver share only (a round trip's driver CPU and its PostgreSQL time
    are charged per trip and per statement, which differ); one buyer cannot tell the other two splits.
    """
    grid, linear = [], {f: linear_part(m, 0.0, f) for f in shares}
    for (d, w), g, f in itertools.product(delays, shares, shares):
        lin = linear[f]
        cal = calibration(m, g, f, **lin["theta"], extras=lin["extras"], fresh=lin["fresh"], delay_share=d,
                          win_share=w)
        err, rows = race_error(cal, m.races) if m.races else (0.0, [])
        grid.append((err, g, f, (d, w), cal, rows))
    err, g, f, (d, w), cal, rows = min(grid, key=lambda t: (t[0], t[3], t[1], t[2]))
    lin = linear[f]
    explain = {
        "method": __doc__.split("\n\n", 1)[1].strip(),
        "measured": {"network_ms": m.network_ms, "redis_ms": m.redis_ms, "cv": m.cv, "trip_ms": m.trip_ms,
                     "single_client_p50_ms": m.single_ms, "one_buyer_race_p50_ms": m.race1_ms,
                     "contended_races": len(m.races)},
        "linear_fit": lin, "client_share": g, "driver_share": f, "delay_share": d, "win_share": w,
        "objective": round(err, 5),
        "grid": [{"client_share": x[1], "driver_share": x[2], "delay_share": x[3][0], "win_share": x[3][1],
                  "objective": round(x[0], 5)} for x in grid],
        "contended_fit": rows,
    }
    fitted = Calibration(**{**cal.to_dict(), "source": source, "explain": explain})
    return fitted, explain
