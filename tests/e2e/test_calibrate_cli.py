"""`lastunit calibrate` end to end, as a user types it: it measures the running stack, fits, and writes a
calibration file the model then loads, with the saga's step times from a fault-free run it made itself.

What can fail here and nowhere else: a measurement step that no longer matches the stack (a renamed route,
a saga log without straight orders), a calibration file the loader refuses. Fitted values are checked for
being measured (positive, explained), never against expected timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from scenarios.results import SAGA_LOG_FILE as LOG_FILE
from scenarios.results import run_dir
from sim.calibration import Calibration
from sim.saga.delays import SagaTimes
from tests.conftest import STACK

pytestmark = STACK


def test_calibrate_measures_fits_and_writes_a_file_the_model_loads(tmp_path):
    out = tmp_path / "calibration.json"
    r = subprocess.run([sys.executable, "-m", "lastunit.cli", "calibrate", "--samples", "8", "--out", str(out),
                        "--json", "--quiet"], capture_output=True, text=True, timeout=400, env=os.environ.copy())
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    cal = Calibration.load(out)
    assert doc["path"] == str(out) and cal.source.startswith("calibrate-")
    # The loop CPU per request is positive; how the fit shares it between the race client's loop and the
    # service's may sit at a bound (client_share 1.0 in one CI run at load 15: http_ms 0.0), as NNLS may.
    assert cal.http_ms + cal.client_ms > 0 and min(cal.http_ms, cal.client_ms) >= 0
    assert cal.network_ms > 0 and cal.sql_ms + cal.driver_ms > 0
    assert len(cal.explain["contended_fit"]) == 18          # 3 strategies x 6 race sizes, medians of repeats
    # the saga's times came from a real run's saga log, which is on disk beside its attempts
    saga = cal.saga
    assert saga["orders"] > 0 and saga["hop_s"] > 0 and saga["bus_s"] > 0
    assert saga["entry_s"] >= 0 and saga["reply_s"] >= 0      # the client's edges, joined from the attempts
    assert (run_dir(saga["source"]) / LOG_FILE).exists()
    assert SagaTimes.from_dict(saga).source == saga["source"]
    # the stack's CPU per checkout, from /proc around a second fault-free run (sim/saga/cpu.py)
    assert saga["cores"] >= 1 and saga["cpu_run"]["checkouts"] > 0
    assert all(saga["cpu_s"][p] > 0 for p in ("orders", "payment", "psp", "shipping"))
