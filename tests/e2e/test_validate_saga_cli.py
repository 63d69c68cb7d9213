"""`lastunit validate --saga --quick --json` end to end: the saga at two open-load rates on the real stack
and in the model, with a calibration that carries a CPU per checkout (so the model's machine is on).

Proves the output's shape: every rate has both engines' p50, p99 and throughput with the model's relative
error, the model reports its machine, and the table and plot are written. Errors are reported, never
asserted: they depend on how busy the machine is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from sim.calibration import DEFAULT
from tests.conftest import STACK

pytestmark = STACK

#: measured-like CPU per checkout (seconds) on two cores: a capacity near 60 checkouts/s
CPU_S = {"orders": 0.006, "payment": 0.006, "psp": 0.004, "shipping": 0.0025, "notification": 0.003,
         "inventory": 0.0025, "postgres": 0.01, "redis": 0.0013}


def test_quick_saga_validation_pairs_both_engines_per_rate(tmp_path):
    cal = dataclasses.replace(DEFAULT, saga={"hop_s": 0.003, "bus_s": 0.02, "carrier_s": 0.0, "entry_s": 0.003,
                                             "reply_s": 0.001, "cpu_s": CPU_S, "cores": 2, "source": "test"})
    path = cal.save(tmp_path / "calibration.json")
    out = subprocess.run([sys.executable, "-m", "lastunit.cli", "validate", "--saga", "--quick", "--json",
                          "--quiet", "--calibration", str(path)],
                         capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    rows, summary = doc["rows"], doc["summary"]
    assert [r["rate"] for r in rows] == [10, 40] and summary["cpu_measured"] and summary["cores"] == 2
    for r in rows:
        assert r["attempts_real"] == r["attempts_sim"] > 0         # the same crowd on both engines
        for k in ("p50_ms", "p99_ms", "throughput_per_s", "sagas_per_s"):
            assert r[f"{k}_real"] > 0 and r[f"{k}_sim"] > 0
            assert r[f"{k}_err"] == round((r[f"{k}_sim"] - r[f"{k}_real"]) / r[f"{k}_real"], 4)
        assert 0 < r["machine_utilization"] < 1
        assert r["p50_ms_met"] == (abs(r["p50_ms_err"]) <= 0.25)
        assert r["sagas_per_s_met"] == (abs(r["sagas_per_s_err"]) <= 0.10)
        model = json.loads((Path(r["run_dirs"][1]) / "summary.json").read_text())["model"]
        assert model["machine"]["cores"] == 2
        # whole sagas: from the first arrival (after t=0) until the last order was final
        assert r["sagas_per_s_sim"] >= round(r["attempts_sim"] / model["last_order_final_s"], 3)
    assert summary["targets"]["p50_ms"]["met"] == all(r["p50_ms_met"] for r in rows)
    assert set(summary["targets"]) == {"p50_ms", "sagas_per_s"}
    folder = Path(summary["dir"])
    assert (folder / "table.csv").exists() and (folder / "saga.png").stat().st_size > 10_000
    assert len(json.loads((folder / "table.json").read_text())["rows"]) == 2
