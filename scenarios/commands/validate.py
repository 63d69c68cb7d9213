"""`lastunit validate`: the same races on the real stack and in the model, side by side, with the errors.

Why: a model is worth what it predicts. Each cell of the grid (strategy x buyers x stock) runs REPEATS
times on each engine through `race_one`, so both write ordinary run directories; the table pairs their
medians, and every prediction gets its relative error (sim - real) / real. Outcome counts are compared exactly: with one unit
every safe strategy must have one winner on both engines (the naive control's oversell is random on the
real stack, so it is reported, not required to match). The calibration is the fitted one when present.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reference_impl import stack  # noqa: E402
from reference_impl.infra.settings import results_home  # noqa: E402
from reference_impl.inventory.strategies import INFO, Strategy  # noqa: E402
from scenarios.commands.race import race_one  # noqa: E402
from scenarios.progress import Progress  # noqa: E402
from scenarios.spec import ScenarioError  # noqa: E402
from scenarios.tables import print_table  # noqa: E402
from sim.calibration import resolve  # noqa: E402
from sim.fit import race_scenario  # noqa: E402

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
             runs: Path) -> dict:
    r = race_one(race_scenario(strategy, buyers, stock, seed), engine, progress, parent=runs, plot=False)
    summary = json.loads((Path(r["run_dir"]) / "summary.json").read_text())
    return {**{k: r[k] for k in (*COUNTS, "retries", "oversold_units", "run_dir")},
            **{k: summary[k] for k in METRICS}}


def rel_err(sim: float, real: float) -> float | None:
    return round((sim - real) / real, 4) if real else None


def _median(runs: list[dict], key: str) -> float:
    return round(float(np.median([r[key] for r in runs])), 4)


def cell(strategy: str, buyers: int, stock: int, real: list[dict], sim: list[dict]) -> dict:
    """One grid point from its repeats: the median of each metric per engine, and its relative error.

    Outcome counts are shown for the first repeat and must match in every repeat (a winner is not a
    median: one extra winner in any repeat is a mismatch).
    """
    row = {"strategy": strategy, "buyers": buyers, "stock": stock, "control": INFO[Strategy(strategy)].control,
           "repeats": len(real)}
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
    """Sim against real for throughput, p50, p99 and retries (y = x is a perfect model); outcome counts."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    colors = {s.value: f"C{i}" for i, s in enumerate(Strategy)}
    for ax, k in zip(axes.flat, (*METRICS, "retries"), strict=False):
        real = np.array([r[f"{k}_real"] for r in rows], float)
        sim = np.array([r[f"{k}_sim"] for r in rows], float)
        ax.scatter(real + 1, sim + 1, c=[colors[r["strategy"]] for r in rows], s=[10 + r["buyers"] for r in rows])
        lim = [max(1.0, min(real.min(), sim.min()) + 0.5), max(real.max(), sim.max()) * 1.5 + 2]
        ax.plot(lim, lim, "k--", lw=1)
        ax.set(xscale="log", yscale="log", xlabel=f"real {k} (+1)", ylabel=f"sim {k} (+1)", title=k)
    for s, c in colors.items():
        axes[0, 0].scatter([], [], c=c, label=s)
    axes[0, 0].legend(fontsize=7, title="size = buyers", title_fontsize=7)
    x = np.arange(len(rows))
    labels = [f"{r['strategy'][:5]} {r['buyers']}x{r['stock']}" for r in rows]
    ax = axes[1, 1]   # shares of the buyers, so a 1-buyer cell and a 64-buyer cell read alike
    for j, (eng, off) in enumerate((("real", -0.2), ("sim", 0.2))):
        bottom = np.zeros(len(rows))
        for k, color in zip(COUNTS, ("#2a9d8f", "#e9c46a", "#f4a261", "#e76f51"), strict=True):
            v = np.array([r[f"{k}_{eng}"] / r["buyers"] for r in rows], float)
            ax.bar(x + off, v, 0.4, bottom=bottom, color=color, alpha=1.0 if j == 0 else 0.55,
                   label=f"{k} ({eng})")
            bottom += v
    ax.set_xticks(x, labels, rotation=90, fontsize=6)
    ax.set(ylim=(0, 1.25), ylabel="share of buyers", title="outcomes: real (left) vs sim (right)")
    ax.legend(fontsize=6, ncol=4, loc="upper center")
    ax = axes[1, 2]
    for i, k in enumerate(METRICS):
        ax.bar(x + (i - 1) * 0.27, [r[f"{k}_err"] or 0 for r in rows], 0.27, label=k)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, labels, rotation=90, fontsize=6)
    ax.set(ylabel="(sim - real) / real", title="relative error per cell")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


TABLE = ("strategy", "buyers", "stock", "won_real", "won_sim", "throughput_per_s_real", "throughput_per_s_sim",
         "throughput_per_s_err", "p50_ms_real", "p50_ms_sim", "p50_ms_err", "p99_ms_real", "p99_ms_sim",
         "p99_ms_err", "retries_real", "retries_sim")


def run(quick: bool = False, progress: Progress | None = None, repeats: int = REPEATS,
        out_dir: Path | None = None) -> dict:
    """Every cell `repeats` times on each engine, round robin over the grid: on a busy machine drift
    spreads over every cell alike instead of landing on the ones measured last. The model's repeats use
    seeds 1, 2, ... (its own noise); the real stack's are just runs."""
    progress = progress or Progress(enabled=False)
    grid = QUICK if quick else GRID
    stack.ensure_up()
    cal = resolve()
    cells = [(s, b, k) for s in grid["strategies"] for b in grid["buyers"] for k in grid["stocks"]]
    real: dict[tuple, list[dict]] = {c: [] for c in cells}
    sim: dict[tuple, list[dict]] = {c: [] for c in cells}
    out_dir = out_dir or results_home() / "validation"
    runs = out_dir / "runs"                  # every cell's run directories, beside the table that pairs them
    for rep in range(repeats):
        for c in cells:
            real[c].append(_measure(*c, "real", 1, progress, runs))
            sim[c].append(_measure(*c, "sim", 1 + rep, progress, runs))
    rows = [cell(*c, real[c], sim[c]) for c in cells]
    out_dir.mkdir(parents=True, exist_ok=True)
    import pandas as pd  # noqa: PLC0415 - only for the CSV

    pd.DataFrame(rows).drop(columns=["run_dirs"]).to_csv(out_dir / "table.csv", index=False)
    summary = summarize(rows) | {"calibration": cal.source, "quick": quick, "repeats": repeats, "dir": str(out_dir),
                                 "plot": str(plot(rows, out_dir / "validation.png"))}
    (out_dir / "table.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    return {"rows": rows, "summary": summary}


def main(args) -> int:
    if args.calibration:
        os.environ["LAB_CALIBRATION"] = args.calibration   # what simulate() resolves, in this process
    if getattr(args, "saga", False):
        from scenarios.commands import validate_saga  # noqa: PLC0415 - the saga's ladder, its own module

        return validate_saga.main(args)
    repeats = REPEATS if args.repeats is None else args.repeats
    if repeats < 1:
        raise ScenarioError(f"--repeats: expected at least 1, got {repeats}")
    out = run(args.quick, Progress(enabled=not args.quiet), repeats)
    s = out["summary"]
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print_table(out["rows"], TABLE)
        for k in METRICS:
            print(f"median |relative error| {k}: PostgreSQL strategies {s[f'median_abs_err_{k}_pg']}, "
                  f"all {s[f'median_abs_err_{k}_all']}")
        print(f"max |relative error| p99: {s['max_abs_err_p99_ms_all']}; calibration: {s['calibration']}")
        print(f"stock-1 outcome counts match for every safe strategy: {s['stock1_outcomes_match']} "
              f"{s['stock1_mismatches'] or ''}")
        print(f"table and plots in {s['dir']}")
    return 0 if s["stock1_outcomes_match"] else 1
