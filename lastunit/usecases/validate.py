"""`lastunit validate`: the same races on the real stack and in the model, side by side, with the errors.

Beside the fixed grid, held-out cells (`lastunit.usecases.holdout`): drawn at random per run, seeded and
printed, from a wider space than the calibration or the grid ever ran; scored and summarized on their own.

Why: a model is worth what it predicts. Each cell of the grid (strategy x buyers x stock) runs REPEATS
times on each engine through `race_one`, so both write ordinary run directories; the table pairs their
medians, and every prediction gets its relative error (sim - real) / real. Outcome counts are compared exactly: with one unit
every safe strategy must have one winner on both engines (the naive control's oversell is random on the
real stack, so it is reported, not required to match). The calibration is the fitted one when present.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lastunit.plots import save
from lastunit.progress import Progress
from lastunit.usecases import holdout as ho
from lastunit.usecases import race_one
from lastunit.usecases.compare import rel_err
from lastunit.validation_figure import figure
from reference_impl import stack
from scenarios.paths import results_home
from scenarios.strategies import INFO, Strategy
from sim.calibration import resolve
from sim.fit import race_scenario

GRID = {"strategies": [s.value for s in Strategy], "buyers": (1, 16, 64), "stocks": (1, 64)}
QUICK = {"strategies": ["guarded", "pessimistic", "batched"], "buyers": (1, 8), "stocks": (1, 8)}
METRICS = ("throughput_per_s", "p50_ms", "p99_ms")
COUNTS = ("won", "out_of_stock", "failed", "unknown")
#: The issue's targets for the PostgreSQL strategies (median relative error); p99 is reported only.
TARGETS = {"throughput_per_s": 0.15, "p50_ms": 0.25}
#: Runs per cell and engine; the table holds medians. One real race of 64 buyers moves 10-30% from run to
#: run on 2 busy cores, more than the error being measured, and the machine's speed drifts over tens of
#: seconds: five rounds spread the grid over ~20 s, as calibrate spreads its measuring over ~60 s.
REPEATS = 5


def _measure(strategy: str, buyers: int, stock: int, engine: str, seed: int, progress: Progress,
             runs: Path, warehouses: int | None = None) -> dict:
    sc = (race_scenario(strategy, buyers, stock, seed) if warehouses is None
          else ho.scenario(strategy, buyers, stock, warehouses, seed))
    r = race_one(sc, engine, progress, parent=runs, plot=False)
    summary = json.loads((Path(r["run_dir"]) / "summary.json").read_text())
    return {**{k: r[k] for k in (*COUNTS, "retries", "oversold_units", "run_dir")},
            **{k: summary[k] for k in METRICS}}


def _median(runs: list[dict], key: str) -> float:
    return round(float(np.median([r[key] for r in runs])), 4)


def cell(strategy: str, buyers: int, stock: int, real: list[dict], sim: list[dict], warehouses: int = 1) -> dict:
    """One grid point from its repeats: the median of each metric per engine, and its relative error.

    Outcome counts are shown for the first repeat and must match in every repeat (a winner is not a
    median: one extra winner in any repeat is a mismatch).
    """
    row = {"strategy": strategy, "buyers": buyers, "stock": stock, "warehouses": warehouses,
           "control": INFO[Strategy(strategy)].control, "repeats": len(real)}
    for k in (*METRICS, "retries"):
        row[f"{k}_real"], row[f"{k}_sim"] = _median(real, k), _median(sim, k)
        row[f"{k}_err"] = rel_err(row[f"{k}_sim"], row[f"{k}_real"])
    for k in (*COUNTS, "oversold_units"):
        row[f"{k}_real"], row[f"{k}_sim"] = real[0][k], sim[0][k]
    row["outcomes_match"] = all(r[k] == m[k] for r, m in zip(real, sim, strict=True) for k in COUNTS)
    row["run_dirs"] = [r["run_dir"] for r in (*real, *sim)]
    return row


def _median_abs(rows: list[dict], key: str) -> float | None:
    errs = [abs(r[key]) for r in rows if r[key] is not None]
    return round(float(np.median(errs)), 4) if errs else None


def summarize(rows: list[dict]) -> dict:
    """Median |relative error| per metric (PostgreSQL strategies, and all), and the stock-1 outcome check."""
    pg = [r for r in rows if r["strategy"] != Strategy.REDIS.value]
    out = {"cells": len(rows), "pg_strategies": sorted({r["strategy"] for r in pg})}
    for k in METRICS:
        out[f"median_abs_err_{k}_pg"] = _median_abs(pg, f"{k}_err")
        out[f"median_abs_err_{k}_all"] = _median_abs(rows, f"{k}_err")
    out["max_abs_err_p99_ms_all"] = max((abs(r["p99_ms_err"]) for r in rows), default=None)
    out["targets"] = {k: {"target": t, "met": (out[f"median_abs_err_{k}_pg"] or 0) <= t} for k, t in TARGETS.items()}
    one = [r for r in rows if r["stock"] == 1 and not r["control"]]
    out["stock1_outcomes_match"] = all(r["outcomes_match"] for r in one)
    out["stock1_mismatches"] = [(r["strategy"], r["buyers"]) for r in one if not r["outcomes_match"]]
    out["outcomes_match_all_safe"] = all(r["outcomes_match"] for r in rows if not r["control"])
    return out


def plot(rows: list[dict], path: Path) -> Path:
    """Sim against real per metric, outcome shares and each cell's error (`lastunit.validation_figure`)."""
    return save(figure(rows), path, dpi=100)


TABLE = ("strategy", "buyers", "stock", "won_real", "won_sim", "throughput_per_s_real", "throughput_per_s_sim",
         "throughput_per_s_err", "p50_ms_real", "p50_ms_sim", "p50_ms_err", "p99_ms_real", "p99_ms_sim",
         "p99_ms_err", "retries_real", "retries_sim")


def run(quick: bool = False, progress: Progress | None = None, repeats: int = REPEATS,
        out_dir: Path | None = None, holdout: int | None = None, holdout_seed: int | None = None) -> dict:
    """Every cell `repeats` times on each engine, round robin over the grid and the held-out cells: on a
    busy machine drift spreads over every cell alike instead of landing on the ones measured last. The
    model's repeats use seeds 1, 2, ... (its own noise); the real stack's are just runs."""
    progress = progress or Progress(enabled=False)
    grid = QUICK if quick else GRID
    stack.ensure_up()
    cal = resolve()
    cells = [(s, b, k) for s in grid["strategies"] for b in grid["buyers"] for k in grid["stocks"]]
    n_held = (ho.QUICK_HOLDOUT if quick else ho.HOLDOUT) if holdout is None else holdout
    seed = ho.new_seed() if holdout_seed is None else holdout_seed
    held = ho.draw(n_held, seed, quick, ho.seen(cells))
    real: dict[tuple, list[dict]] = {c: [] for c in (*cells, *held)}
    sim: dict[tuple, list[dict]] = {c: [] for c in (*cells, *held)}
    out_dir = out_dir or results_home() / "validation"
    runs = out_dir / "runs"                  # every cell's run directories, beside the table that pairs them
    for rep in range(repeats):
        for c in (*cells, *held):
            where = {"warehouses": c[3]} if len(c) == 4 else {}
            real[c].append(_measure(*c[:3], "real", 1, progress, runs, **where))
            sim[c].append(_measure(*c[:3], "sim", 1 + rep, progress, runs, **where))
    rows = [cell(*c, real[c], sim[c]) for c in cells]
    held_rows = [cell(*c[:3], real[c], sim[c], warehouses=c[3]) for c in held]
    out_dir.mkdir(parents=True, exist_ok=True)
    import pandas as pd  # noqa: PLC0415 - only for the CSV

    pd.DataFrame(rows).drop(columns=["run_dirs"]).to_csv(out_dir / "table.csv", index=False)
    summary = summarize(rows) | {"calibration": cal.source, "quick": quick, "repeats": repeats, "dir": str(out_dir),
                                 "plot": str(plot(rows, out_dir / "validation.png"))}
    held_summary = ho.summarize(held_rows, seed)
    if held_rows:
        pd.DataFrame(held_rows).drop(columns=["run_dirs"]).to_csv(out_dir / "holdout.csv", index=False)
        held_summary["plot"] = str(plot(held_rows, out_dir / "holdout.png"))
    summary["holdout"] = held_summary
    doc = {"rows": rows, "summary": summary, "holdout_rows": held_rows}
    (out_dir / "table.json").write_text(json.dumps(doc, indent=2))
    return doc
