"""The run epilogue every engine shares: rows to the results schema, one verdict, one run directory.

Why one place: race, run (both engines) and swarm each wrote their own copy of frame -> summarize -> write
-> plot, and of the rule that joins the saga's audit to the inventory's; copies drift the day one changes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lastunit import plots
from scenarios import results
from scenarios.spec import Scenario


def record_run(sc: Scenario, run_id: str, engine: str, rows: list[dict] | pd.DataFrame, wall_s: float,
               audit: dict, *, parent: Path | None = None, plot_title: str | None = None,
               extra: dict | None = None) -> tuple[dict, Path]:
    """Write `results/<run_id>/` (attempts, summary, audit, and a latency plot when `plot_title` is given);
    return the summary and the folder."""
    df = rows if isinstance(rows, pd.DataFrame) else results.frame(rows)
    summary = results.summarize(df, wall_s) | {"run_id": run_id, "engine": engine, "scenario": sc.name,
                                               "strategy": sc.inventory.strategy.value,
                                               "scenario_spec": sc.to_dict()} | (extra or {})
    path = results.run_dir(run_id, parent)
    results.write_run(path, df, summary, audit)
    if plot_title:
        plots.latency_cdf(df, path / "latency.png", plot_title)
    return summary, path


def combined_audit(saga: dict, inv: dict, faults_fired: dict) -> dict:
    """The saga's invariants and the inventory's, one verdict: a control's oversell fails a run too."""
    return {**saga, "oversold_units": inv["oversold_units"] + inv["control_oversold_units"],
            "stock_conserved": inv["stock_conserved"], "inventory": inv, "faults_fired": faults_fired,
            "ok": saga["ok"] and inv["ok"] and inv["control_oversold_units"] == 0}


def exit_code(audit: dict) -> int:
    """A broken invariant exits 1, so CI can gate on it."""
    return 0 if audit["ok"] else 1
