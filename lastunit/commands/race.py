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
from scenarios.strategies import LINE_STRATEGIES, Strategy, parse, parse_lock_order

RACE_COLUMNS = ("strategy", "engine", "buyers", "stock", "won", "out_of_stock", "failed", "unknown",
                "oversold_units", "retries", "p50_ms", "p99_ms", "wall_s")
#: A basket race adds what it is about: the lock order, the deadlocks PostgreSQL broke, groups left half held.
LINE_COLUMNS = ("lines", "lock_order", "deadlocks", "partial_groups")


def main(args) -> int:
    engines = ["real", "sim"] if args.engine == "both" else [args.engine]
    overrides = list(args.set or [])
    for flag, key in (("buyers", "load.buyers"), ("stock", "catalog.hot_stock"),
                      ("warehouses", "catalog.warehouses"), ("lines", "load.lines")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    if args.lock_order is not None:
        overrides.append(f"inventory.lock_order={parse_lock_order(args.lock_order).value}")
    base = load(args.scenario, overrides)
    several = base.load.lines > 1
    every = LINE_STRATEGIES if several else list(Strategy)     # all: those that can race this basket
    names = [s.value for s in every] if args.strategy == "all" else [parse(args.strategy).value]
    if base.catalog.hot_stock < 1:
        raise ScenarioError("--stock: a race needs at least 1 unit")
    if several and engines != ["real"] and names != [Strategy.PESSIMISTIC.value]:
        raise ScenarioError("--lines with --engine sim or both: the basket model (sim/basket.py) runs "
                            "--strategy pessimistic only")
    scenarios = [load(args.scenario, [*overrides, f"inventory.strategy={n}"]) for n in names]   # all valid first
    if "real" in engines:
        stack.ensure_up()
    progress = Progress(enabled=not args.quiet)
    started = time.monotonic()
    rows = [race_one(sc, e, progress) for sc in scenarios for e in engines]
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
        print_table(rows, RACE_COLUMNS + LINE_COLUMNS if several else RACE_COLUMNS)
        for n in notes:
            print(n)
        print(f"total {time.monotonic() - started:.1f}s")
    return code
