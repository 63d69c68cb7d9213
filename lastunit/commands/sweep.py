"""`lastunit sweep SCENARIO --grid KEY=V1,V2 --seeds N`: model cells x seeds in parallel, with 95% intervals."""

from __future__ import annotations

import json

from lastunit.progress import Progress
from lastunit.tables import print_table
from lastunit.usecases.sweep import parse_grid, sweep


def _num(x: float) -> str:
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def _fmt(mean, half) -> str:
    """`mean ±half`: the cell as the interval it is; no half-width with one seed."""
    if mean is None:
        return "-"
    return _num(mean) if half is None else f"{_num(mean)} ±{_num(half)}"


def main(args) -> int:
    axes = parse_grid(args.grid or [])
    progress = Progress(enabled=not args.quiet)
    progress.step(f"sweep {args.scenario}: {args.seeds} seed(s) per cell")
    out = sweep(args.scenario, axes, list(args.set or []), args.seeds, model=args.model,
                scheduler=args.scheduler, workers=args.workers, on_done=progress.count)
    s = out["summary"]
    progress.done(f"{s['replicas']} runs on {s['executor']}")
    if args.json:
        print(json.dumps(out["rows"], indent=2))
        return 0
    keys = list(s["grid"])
    shown = ("throughput_per_s", "sagas_per_s", "p50_ms", "p99_ms", "won", "out_of_stock", "failed", "oversold_units",
             "double_charges")
    metrics = [m for m in shown if m in s["metrics"]]
    table = [{**{k: r[k] for k in keys}, "seeds": r["seeds"], **{m: _fmt(r[m], r[f"{m}_ci95"]) for m in metrics}}
             for r in out["rows"]]
    print_table(table, (*keys, "seeds", *metrics))
    print(f"{s['model']} model; mean ±95% CI half-width over seeds {s['seeds'][0]}..{s['seeds'][-1]}; "
          f"calibration {s['calibration']}")
    print(f"table, runs and plot in {s['dir']}")
    return 0
