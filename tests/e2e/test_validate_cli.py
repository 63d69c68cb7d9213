"""`lastunit validate --quick --json` end to end: real stack and model on a small grid, one table out.

Proves the output's shape (every cell has both engines' numbers and a relative error per prediction, the
summary has the medians) and the one claim that must hold exactly: with one unit, every safe strategy has
one winner on both engines, with the same outcome counts. Errors are reported, never asserted: they depend
on how busy the machine is.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import STACK

pytestmark = STACK


def test_quick_validate_prints_the_table_and_stock_one_outcomes_match_exactly():
    out = subprocess.run([sys.executable, "-m", "lastunit.cli", "validate", "--quick", "--json", "--quiet",
                          "--repeats", "2", "--holdout", "1", "--holdout-seed", "5"],
                         capture_output=True, text=True, timeout=240, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    rows, summary = doc["rows"], doc["summary"]
    assert {(r["strategy"], r["buyers"], r["stock"]) for r in rows} == {
        (s, b, k) for s in ("guarded", "pessimistic", "batched") for b in (1, 8) for k in (1, 8)}
    for r in rows:
        for k in ("throughput_per_s", "p50_ms", "p99_ms"):
            assert r[f"{k}_real"] > 0 and r[f"{k}_sim"] > 0
            assert r[f"{k}_err"] == round((r[f"{k}_sim"] - r[f"{k}_real"]) / r[f"{k}_real"], 4)
            runs = [json.loads((Path(d) / "summary.json").read_text())[k] for d in r["run_dirs"][:2]]
            assert r[f"{k}_real"] == pytest.approx(sum(runs) / 2, abs=1e-3)   # the median of two
    for r in (r for r in rows if r["stock"] == 1):
        counts = [(r[f"{k}_real"], r[f"{k}_sim"]) for k in ("won", "out_of_stock", "failed", "unknown")]
        assert counts == [(1, 1), (r["buyers"] - 1, r["buyers"] - 1), (0, 0), (0, 0)], r
    assert summary["stock1_outcomes_match"] and summary["cells"] == len(rows) == 12 and summary["repeats"] == 2
    assert summary["outcomes_match_all_safe"]       # stock K too: every buyer wins on both engines
    assert all(r["repeats"] == 2 and len(r["run_dirs"]) == 4 for r in rows)   # 2 real + 2 model runs
    for k in ("p50_ms", "throughput_per_s"):         # the summary's error is the median of the cells' errors
        errs = sorted(abs(r[f"{k}_err"]) for r in rows if r["strategy"] != "redis")
        assert summary[f"median_abs_err_{k}_pg"] == pytest.approx(statistics.median(errs), abs=1e-4)
    folder = Path(summary["dir"])
    assert (folder / "table.csv").exists() and (folder / "validation.png").stat().st_size > 10_000
    assert json.loads((folder / "table.json").read_text())["summary"]["cells"] == 12
    # one held-out cell, off the grid and off the calibration's races, drawn from the seed it prints
    (held,) = doc["holdout_rows"]
    h = summary["holdout"]
    assert h["seed"] == 5 and h["cells"] == [[held["strategy"], held["buyers"], held["stock"], held["warehouses"]]]
    assert (held["strategy"], held["buyers"], held["stock"]) not in {(r["strategy"], r["buyers"], r["stock"])
                                                                     for r in rows} or held["warehouses"] > 1
    for k in ("throughput_per_s", "p50_ms", "p99_ms"):
        assert held[f"{k}_real"] > 0 and held[f"{k}_sim"] > 0 and k in h["targets"]
    assert isinstance(h["outcomes_match_safe"], bool) and (folder / "holdout.csv").exists()
