"""`lastunit validate [--saga]`: the model against the real stack, cell by cell, with its error."""

from __future__ import annotations

import json
import os

from lastunit.progress import Progress
from lastunit.tables import print_table
from lastunit.usecases.validate import METRICS, REPEATS, TABLE, run
from scenarios.spec import ScenarioError

HELD_TABLE = ("strategy", "buyers", "stock", "warehouses", "won_real", "won_sim", "throughput_per_s_err",
              "p50_ms_err", "p99_ms_err")


def main(args) -> int:
    if args.calibration:
        os.environ["LAB_CALIBRATION"] = args.calibration   # what simulate() resolves, in this process
    if getattr(args, "saga", False):
        from lastunit.commands import validate_saga  # noqa: PLC0415 - the saga's ladder, its own verb

        return validate_saga.main(args)
    repeats = REPEATS if args.repeats is None else args.repeats
    if repeats < 1:
        raise ScenarioError(f"--repeats: expected at least 1, got {repeats}")
    if args.holdout is not None and args.holdout < 0:
        raise ScenarioError(f"--holdout: expected 0 or more cells, got {args.holdout}")
    out = run(args.quick, Progress(enabled=not args.quiet), repeats, holdout=args.holdout,
              holdout_seed=args.holdout_seed)
    s, h = out["summary"], out["summary"]["holdout"]
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
        if out["holdout_rows"]:
            print(f"\nheld-out cells (drawn with --holdout-seed {h['seed']}; neither calibrated on nor on the grid):")
            print_table(out["holdout_rows"], HELD_TABLE)
            for k, t in h["targets"].items():
                print(f"held-out median |relative error| {k}: PostgreSQL strategies {h[f'median_abs_err_{k}_pg']} "
                      f"(target {t['target']}: {'met' if t['met'] else 'NOT met'}), all {h[f'median_abs_err_{k}_all']}")
            print(f"held-out outcome counts match for every safe strategy: {h['outcomes_match_safe']} "
                  f"{h['mismatches'] or ''}")
        print(f"table and plots in {s['dir']}")
    return 0 if s["stock1_outcomes_match"] else 1
