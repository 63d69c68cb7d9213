"""`lastunit run SCENARIO`: checkouts through the whole saga, faults on, then the audit; real, model or both."""

from __future__ import annotations

import json

from lastunit.progress import Progress
from lastunit.tables import print_table
from lastunit.usecases.saga import run_saga, run_saga_sim
from scenarios.loader import load

SUMMARY_COLUMNS = ("engine", "strategy", "attempts", "won", "out_of_stock", "declined", "failed", "unknown",
                   "p50_ms", "p99_ms", "oversold_units", "double_charges", "money_conserved", "stranded")


def main(args) -> int:
    sc = load(args.scenario, args.set or [])
    progress = Progress(enabled=not args.quiet)
    outs = [run_saga(sc, progress)] if args.engine in ("real", "both") else []
    if args.engine in ("sim", "both"):       # `both` prints real, then sim
        outs.append(run_saga_sim(sc, progress))
    code = max(c for _, c in outs)
    if args.json:
        print(json.dumps(outs[0][0] if len(outs) == 1 else [o for o, _ in outs], indent=2, default=str))
        return code
    print_table([o | {k: o["audit"][k] for k in ("oversold_units", "double_charges", "money_conserved", "stranded")}
                 for o, _ in outs], SUMMARY_COLUMNS)
    for out, c in outs:
        a = out["audit"]
        print(f"{out['engine']}: orders by status: {a['by_status']}; faults fired: {a['faults_fired'] or 'none'}")
        for ev in out.get("nemesis") or []:
            print(f"nemesis at {ev['at_s']:g}s (applied at {ev['t_s'] if ev['t_s'] is not None else '-'}s): "
                  f"{ev['action']} {ev['target']} "
                  + (f"(back in {ev['recovered_s']:.1f}s)" if ev["ok"] else f"({ev['detail']})"))
        if out.get("model", {}).get("faults_not_modelled"):
            print(f"sim: faults not modelled (ignored): {out['model']['faults_not_modelled']}")
        if out.get("model", {}).get("journey_not_modelled"):
            print("sim: a journey's carts' lines as checkouts, one order each; not modelled: "
                  + "; ".join(out["model"]["journey_not_modelled"]))
        if out.get("model", {}).get("nemesis_not_modelled"):
            print(f"sim: nemesis not modelled (ignored): {out['model']['nemesis_not_modelled']}")
        for b in a["breaches"] + a["inventory"]["breaches"] + a["inventory"]["expected_control_breaches"]:
            print(f"BREACH {b['invariant']}: {b.get('detail', '')} witnesses {b['witnesses'][:3]}")
        print(f"run written to {out['run_dir']}" + ("" if c == 0 else "  (invariant broken: exit 1)"))
    return code
