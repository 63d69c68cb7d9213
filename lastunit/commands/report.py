"""`lastunit report RUN...`: runs side by side, from their summary.json and audit.json."""

from __future__ import annotations

import json

from lastunit.tables import print_table
from scenarios.results import read_run

COLUMNS = ("run_id", "engine", "strategy", "attempts", "won", "out_of_stock", "failed", "unknown",
           "oversold_units", "p50_ms", "p99_ms", "wall_s")


def main(args) -> int:
    rows = []
    for run in args.runs:
        _, summary, audit = read_run(run)
        rows.append(summary | {"oversold_units": audit.get("oversold_units", 0)
                               + audit.get("control_oversold_units", 0), "audit": audit})
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print_table(rows, COLUMNS)
    return 0
