"""`lastunit calibrate`: measure this machine, fit the model, write the calibration file."""

from __future__ import annotations

import json
import time
from pathlib import Path

from lastunit.progress import Progress
from lastunit.usecases import calibrate_saga
from lastunit.usecases.calibrate import explain_text, measure
from scenarios.paths import results_home
from scenarios.spec import ScenarioError
from sim.calibration import CALIBRATION_FILE
from sim.fit import fit


def main(args) -> int:
    progress = Progress(enabled=not getattr(args, "quiet", False))
    if args.saga_run is not None and not Path(args.saga_run).is_dir():
        raise ScenarioError(f"--saga-run: no such run directory: {args.saga_run}")
    m = measure(args.samples, progress=progress)
    saga = calibrate_saga.measure(args.saga_run, progress)
    progress.step("fitting")
    cal, _ = fit(m, source=f"calibrate-{time.strftime('%Y%m%dT%H%M%S')}")
    cal = calibrate_saga.add_to(cal, saga)
    progress.done("done")
    path = cal.save(args.out or results_home() / CALIBRATION_FILE)
    if args.json:
        print(json.dumps({"path": str(path), "calibration": cal.to_dict()}, indent=2, default=str))
    else:
        print("\n".join(explain_text(cal)))
        print(f"calibration written to {path} (used by `race --engine sim` and `validate` from now on)")
    return 0
