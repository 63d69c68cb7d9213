"""`lastunit validate --saga`: the checkout saga at a ladder of rates, real against the model."""

from __future__ import annotations

import json

from lastunit.progress import Progress
from lastunit.tables import print_table
from lastunit.usecases.validate_saga import QUICK, RATES, SECONDS, TABLE, parse_rates, run


def main(args) -> int:
    quick = args.quick
    rates = parse_rates(args.rates) if args.rates else QUICK["rates"] if quick else RATES
    seconds = args.seconds or (QUICK["seconds"] if quick else SECONDS)
    out = run(rates, seconds, Progress(enabled=not args.quiet))
    s = out["summary"]
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    print_table(out["rows"], TABLE)
    if not s["cpu_measured"]:
        print("the calibration has no measured CPU (saga.cpu_s): the model has no capacity outside inventory; "
              "run `lastunit calibrate` first")
    for k, t in s["targets"].items():
        print(f"target |error| {k} <= {t['target']:.0%} at every rate: {'met' if t['met'] else 'NOT met'}"
              + (f" (missed at {', '.join(f'{r:g}/s' for r in t['missed_at'])})" if t["missed_at"] else ""))
    print(f"calibration: {s['calibration']}; table and plot in {s['dir']}")
    return 0
