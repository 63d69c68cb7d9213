"""`lastunit sweep`: a grid of model cells x seeds, run in parallel, reduced to one tidy table with intervals.

Why: "what if" questions are grids (strategy x crowd x rate), and each cell's answer is a spread over seeds,
not one number. Every cell is the scenario plus its `--set` overrides (the loader's own machinery, so any
scenario key can be a grid axis); every cell runs the same seeds (common random numbers: cells differ by
their parameters, not by their crowds). The work is a flat list of (cell, seed) replicas of
`replicas.replica`, a plain function of plain data, so where it runs does not change the table: on this
machine's cores by default (a process pool), or on a Dask distributed cluster given its scheduler's address
(for sweeps that outgrow one machine; the workers need this package importable).

Writes results/sweeps/<id>/: table.csv and table.json (one row per cell: parameters, `seeds`, each metric's
mean and `<metric>_ci95`), runs.csv (one row per cell and seed: the tidy raw data) and sweep.png.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lastunit.usecases.replicas import METRICS, MODELS, default_model, interval_row, replica
from scenarios import results
from scenarios.loader import load, parse_override
from scenarios.paths import results_home
from scenarios.spec import ScenarioError

#: A grid axis that is not a scenario key: a constant open-load rate, spelled as the one-stage shape it is.
RATE_KEY = "load.rate"
#: Most seeds a sweep takes: beyond this the interval narrows by less than the time it costs (1/sqrt(n)).
MAX_SEEDS = 1000
#: Most cells x seeds in one sweep: a typo in a grid (an extra zero) should fail at once, not run for a day.
MAX_REPLICAS = 100_000
#: How long to wait for a Dask scheduler to answer before saying so.
CONNECT_TIMEOUT_S = 10


class SweepError(ScenarioError):
    """A sweep that cannot run, with the reason in one line."""


def split_values(text: str) -> list[str]:
    """`a,b,[1,2],{x=1,y=2}` -> the values at top level: commas inside brackets, braces or quotes stay."""
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return [v for v in out if v]


def parse_grid(specs: list[str]) -> list[tuple[str, list[str]]]:
    """`--grid KEY=V1,V2` options -> [(key, [values])], in the order given (the first varies slowest)."""
    axes: list[tuple[str, list[str]]] = []
    for spec in specs:
        if "=" not in spec:
            raise SweepError(f"--grid {spec!r}: expected KEY=V1,V2,..., e.g. inventory.strategy=guarded,optimistic")
        key, raw = (s.strip() for s in spec.split("=", 1))
        values = split_values(raw)
        if not key or not values:
            raise SweepError(f"--grid {spec!r}: expected KEY=V1,V2,...")
        if key in (k for k, _ in axes):
            raise SweepError(f"--grid {key}: given twice (list every value in one --grid)")
        axes.append((key, values))
    return axes


def override(key: str, value: str) -> str:
    """The `--set` text for one grid value; `load.rate=R` is a constant open load at R/s."""
    if key == RATE_KEY:
        return f"load.shape=[{{at_s=0, rate={value}}}]"
    return f"{key}={value}"


def cells(axes: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """Every combination of the axes' values (the cartesian product), as {key: value}."""
    keys = [k for k, _ in axes]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))]


def shown(key: str, value: str):
    """A grid value as the table shows it: the typed value the loader reads (numbers stay numbers)."""
    return parse_override(f"{key}={value}")[1]


def plan(scenario: str, axes, sets: list[str], seeds: int, model: str | None, calibration: dict) -> dict:
    """Validate every cell now (a bad value fails before any work starts) and list the replicas."""
    if not 1 <= seeds <= MAX_SEEDS:
        raise SweepError(f"--seeds: between 1 and {MAX_SEEDS}")
    base = load(scenario, sets)
    model = model or default_model(base.load.model)
    if model not in MODELS:
        raise SweepError(f"--model {model!r}: one of {', '.join(MODELS)}")
    grid = cells(axes)
    if len(grid) * seeds > MAX_REPLICAS:
        raise SweepError(f"{len(grid)} cells x {seeds} seeds: more than {MAX_REPLICAS} runs in one sweep")
    seed_list = [base.seed + k for k in range(seeds)]
    tasks, params = [], []
    for i, c in enumerate(grid):
        overrides = [*sets, *(override(k, v) for k, v in c.items())]
        sc = load(scenario, overrides)
        if RATE_KEY in c and sc.load.model != "open":
            raise SweepError(f"--grid {RATE_KEY}: a rate needs an open load (--set load.model=open)")
        if model == "saga" and sc.load.model == "closed":
            raise SweepError("--model saga: the saga model drives race and open loads, not closed users")
        params.append({k: shown(k, v) for k, v in c.items()})
        tasks += [{"scenario": str(sc.source), "overrides": overrides, "seed": s, "model": model,
                   "calibration": calibration, "cell": i} for s in seed_list]
    return {"scenario": base.name, "model": model, "params": params, "tasks": tasks, "seed_list": seed_list}


def run_local(tasks: list[dict], workers: int | None, on_done: Callable[[int, int], None]) -> list[dict]:
    """The replicas on this machine's cores: one process each (the model is pure Python, so threads
    would take turns on one core)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(tasks) == 1:
        out = []
        for t in tasks:
            out.append(replica(t))
            on_done(len(out), len(tasks))
        return out
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        out = []
        for r in pool.map(replica, tasks, chunksize=max(1, len(tasks) // (8 * workers))):
            out.append(r)
            on_done(len(out), len(tasks))
        return out


def run_dask(tasks: list[dict], scheduler: str, on_done: Callable[[int, int], None]) -> list[dict]:
    """The replicas on a Dask distributed cluster: one task each, gathered as they finish."""
    try:
        from distributed import Client, as_completed  # noqa: PLC0415 - only sweeps that ask need it
    except ImportError:
        raise SweepError("--scheduler needs Dask: pip install 'lastunit[sweep]'") from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SweepError(f"--scheduler {scheduler}: no Dask scheduler answered ({exc})") from None
    try:
        futures = client.map(replica, tasks, pure=False)
        out = []
        for fut in as_completed(futures):
            out.append(fut.result())
            on_done(len(out), len(tasks))
        return out
    finally:
        client.close()


def tidy(p: dict, runs: list[dict]) -> list[dict]:
    """One row per cell: its parameters, `seeds`, each metric's mean and `<metric>_ci95`."""
    by_cell: dict[int, list[dict]] = {}
    for r in sorted(runs, key=lambda r: (r["cell"], r["seed"])):
        by_cell.setdefault(r["cell"], []).append(r)
    return [interval_row(params, by_cell[i], METRICS[p["model"]]) for i, params in enumerate(p["params"])]


def sweep(scenario: str, axes, sets: list[str], seeds: int, *, model: str | None = None,
          scheduler: str | None = None, workers: int | None = None, calibration: dict | None = None,
          on_done: Callable[[int, int], None] = lambda done, total: None, out_dir: Path | None = None) -> dict:
    """Run the grid x seeds and write the table; returns {"rows", "runs", "summary"}.

    The calibration is resolved once here and shipped with every replica, so remote workers use this
    machine's fitted step times, not whatever file they have.
    """
    from sim.calibration import resolve  # noqa: PLC0415

    cal = calibration if calibration is not None else resolve().to_dict()
    p = plan(scenario, axes, sets, seeds, model, cal)
    runs = run_dask(p["tasks"], scheduler, on_done) if scheduler else run_local(p["tasks"], workers, on_done)
    runs.sort(key=lambda r: (r["cell"], r["seed"]))
    rows = tidy(p, runs)
    out_dir = out_dir or results_home() / "sweeps" / results.new_run_id("sweep", p["scenario"])
    summary = {"scenario": p["scenario"], "model": p["model"], "grid": {k: v for k, v in axes}, "set": sets,
               "seeds": p["seed_list"], "cells": len(rows), "replicas": len(runs), "metrics": list(METRICS[p["model"]]),
               "interval": "95% Student t over seeds: mean +- <metric>_ci95", "calibration": cal.get("source"),
               "executor": f"dask {scheduler}" if scheduler else "local processes", "dir": str(out_dir),
               "not_modelled": not_modelled(p["model"], cal)}
    write(out_dir, p, rows, runs, summary)
    return {"rows": rows, "runs": runs, "summary": summary}


def not_modelled(model: str, cal: dict) -> list[str]:
    """What the model leaves out, as its runs' summaries say (`model.not_modelled`)."""
    if model == "race":
        from sim.engine import NOT_MODELLED  # noqa: PLC0415

        return NOT_MODELLED
    from sim.saga import NOT_MODELLED, NOT_MODELLED_WITH_CPU  # noqa: PLC0415

    return NOT_MODELLED_WITH_CPU if (cal.get("saga") or {}).get("cpu_s") else NOT_MODELLED


def write(out_dir: Path, p: dict, rows: list[dict], runs: list[dict], summary: dict) -> None:
    import pandas as pd  # noqa: PLC0415 - only for the CSVs

    from lastunit.plots import sweep_plot  # noqa: PLC0415

    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out_dir / "table.csv", index=False)
    params = pd.DataFrame(p["params"]).reset_index(names="cell")
    pd.DataFrame(runs).merge(params, on="cell").to_csv(out_dir / "runs.csv", index=False)
    summary["plot"] = str(sweep_plot(rows, [k for k in p["params"][0]] if p["params"] else [],
                                     out_dir / "sweep.png", f"{p['scenario']} ({p['model']} model)"))
    (out_dir / "table.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=2, default=str))
