"""One model result over N seeds: each seed's run reduced to its metrics, and their 95% interval.

Why: one seed of a stochastic model is one draw; a difference between two strategies smaller than the
seed-to-seed spread is noise. Every model result can be replicated here (the `sweep` verb is the front
door, one cell with no grid included) and is reported as a mean with `<metric>_ci95`, the half-width of the
t-interval over seeds (Student's t, n - 1 degrees of freedom: seeds are independent replications, their
means are what the interval is about).

`replica` is the unit of work a process pool or a Dask worker runs: a plain function of plain data (the
scenario's file and overrides, the seed, which model, the calibration as a dict), so its result is the
same wherever it runs.
"""

from __future__ import annotations

import math

import numpy as np

from scenarios import results
from scenarios.loader import load

#: The two models a scenario can run through: the inventory's reservation (`sim.engine`, what `race
#: --engine sim` runs) or the whole checkout saga (`sim.saga_run`, what `run --engine sim` runs).
MODELS = ("race", "saga")
#: What each model's replica reports: per-attempt summaries in the results schema, and the audit's counts.
METRICS = {
    "race": ("throughput_per_s", "p50_ms", "p99_ms", "won", "out_of_stock", "failed", "retries",
             "oversold_units", "wall_s"),
    "saga": ("throughput_per_s", "sagas_per_s", "p50_ms", "p99_ms", "won", "out_of_stock", "declined",
             "failed", "unknown", "double_charges", "oversold_units", "wall_s"),
}
#: Student's t quantile t(0.975, df) for df = 1..30, then 40, 60, 120: a table, not scipy, because the
#: interval is all this lab needs of scipy. Between listed df the smaller df's (wider, so conservative)
#: value is used; past 120 the normal 1.96.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
        20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
        29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}
Z975 = 1.96


def default_model(load_model: str) -> str:
    """An open load is checkouts through the saga (as `run` drives it); a race or closed users race for
    the inventory (as `race` does; the saga model has no closed users)."""
    return "saga" if load_model == "open" else "race"


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("a t-interval needs at least two seeds")
    if df > 120:
        return Z975
    return T975[max(k for k in T975 if k <= df)]


def ci95(values) -> tuple[float | None, float | None]:
    """(mean, half-width of the 95% t-interval); the half-width is None with one value (no spread to
    estimate), 0 when every seed agrees; None, None with no value (a metric a run could not have)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return None, None
    mean = float(x.mean())
    if len(x) == 1:
        return mean, None
    return mean, float(t975(len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def _race(sc, cal) -> dict:
    from sim.engine import simulate  # noqa: PLC0415 - the model loads only in the worker

    out = simulate(sc, "replica", cal)
    s = results.summarize(results.frame(out.rows), out.wall_s) if out.rows else {}
    oversold = out.audit["oversold_units"] + out.audit["control_oversold_units"]
    return {**{k: s.get(k) for k in METRICS["race"] if k != "oversold_units"}, "oversold_units": oversold}


def _saga(sc, cal) -> dict:
    from sim.saga_run import simulate_saga  # noqa: PLC0415

    out = simulate_saga(sc, "replica", cal)
    df = results.frame(out.rows) if out.rows else None
    s = results.summarize(df, out.wall_s) if df is not None else {}
    inv = out.inventory
    row = {k: s.get(k) for k in METRICS["saga"]} | {
        "double_charges": out.saga["double_charges"],
        "oversold_units": inv["oversold_units"] + inv["control_oversold_units"]}
    if df is not None:   # whole sagas per second: from the first arrival until every order was final
        span = max(out.stats["last_order_final_s"], float(df["t_end"].max())) - float(df["t_intended"].min())
        row["sagas_per_s"] = round(len(df) / span, 3) if span > 0 else None
    return row


def replica(task: dict) -> dict:
    """One seed of one cell: load the scenario with the cell's overrides and the seed, run the model,
    reduce to the model's METRICS. `task`: scenario, overrides, seed, model, calibration, cell."""
    from sim.calibration import Calibration  # noqa: PLC0415

    sc = load(task["scenario"], [*task["overrides"], f"seed={task['seed']}"])
    cal = Calibration(**task["calibration"])
    metrics = (_saga if task["model"] == "saga" else _race)(sc, cal)
    return {"cell": task["cell"], "seed": task["seed"], **metrics}


def interval_row(params: dict, runs: list[dict], metrics: tuple[str, ...]) -> dict:
    """One cell's row: its parameters, how many seeds, and each metric's mean and `<metric>_ci95`."""
    row = {**params, "seeds": len(runs)}
    for k in metrics:
        mean, half = ci95(r.get(k) for r in runs)
        row[k] = None if mean is None else round(mean, 4)
        row[f"{k}_ci95"] = None if half is None else round(half, 4)
    return row
