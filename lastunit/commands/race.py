"""`lastunit race`: the headline experiment, on the real stack or the model, one strategy or all."""

from __future__ import annotations

import json
import time

from lastunit import plots
from lastunit.progress import Progress
from lastunit.tables import print_table
from lastunit.usecases.race import race_one, verdict
from reference_impl import stack
from scenarios import results
from scenarios.loader import load
from scenarios.spec import ScenarioError
from scenarios.strategies import Strategy, parse

RACE_COLUMNS = ("strategy", "engine", "buyers", "stock", "won", "out_of_stock", "failed", "unknown",
                "oversold_units", "retries", "p50_ms", "p99_ms", "wall_s")


def main(args) -> int:
    names = [s.value for s in Strategy] if args.strategy == "all" else [parse(args.strategy).value]
    engines = ["real", "sim"] if args.engine == "both" else [args.engine]
    overrides = list(args.set or [])
    for flag, key in (("buyers", "load.buyers"), ("stock", "catalog.hot_stock"),
                      ("warehouses", "catalog.warehouses")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    base = load(args.scenario, overrides)
    if base.catalog.hot_stock < 1:
        raise ScenarioError("--stock: a race needs at least 1 unit")
    if "real" in engines:
        stack.ensure_up()
    progress = Progress(enabled=not args.quiet)
    started = time.monotonic()
    rows = [race_one(load(args.scenario, [*overrides, f"inventory.strategy={n}"]), e, progress)
            for n in names for e in engines]
    code, notes = verdict(rows, comparing=len(names) > 1)
    if len(rows) > 1:
        cmp_dir = results.run_dir(results.new_run_id("race", "compare"))
        (cmp_dir / "comparison.json").write_text(json.dumps(rows, indent=2))
        plots.race_comparison(rows, cmp_dir / "race.png")
        notes.append(f"comparison and plot: {cmp_dir}")
    elif rows:
        notes.append(f"run written to {rows[0]['run_dir']}")
    if args.json:
        print(json.dumps(rows if args.strategy == "all" or len(rows) > 1 else rows[0], indent=2))
    else:
        print_table(rows, RACE_COLUMNS)
        for n in notes:
            print(n)
        print(f"total {time.monotonic() - started:.1f}s")
    return code
