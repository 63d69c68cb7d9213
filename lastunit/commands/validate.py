"""`lastunit validate [--saga]`: the model against the real stack, cell by cell, with its error."""

from __future__ import annotations

import json
import os

from lastunit.progress import Progress
from lastunit.tables import print_table
from lastunit.usecases.validate import METRICS, REPEATS, TABLE, run
from scenarios.spec import ScenarioError


def main(args) -> int:
    if args.calibration:
        os.environ["LAB_CALIBRATION"] = args.calibration   # what simulate() resolves, in this process
    if getattr(args, "saga", False):
        from lastunit.commands import validate_saga  # noqa: PLC0415 - the saga's ladder, its own verb

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
