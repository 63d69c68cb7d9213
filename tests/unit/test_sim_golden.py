"""Golden output: seeded model runs reproduce their checked-in summaries exactly.

Any change to the model's semantics, its step times, or the order it draws random numbers shows up here
as a diff, so it is made on purpose. After an intended change, regenerate and review the diff:

    SIM_GOLDEN_UPDATE=1 .venv/bin/pytest tests/unit/test_sim_golden.py
    git diff tests/unit/golden/sim_summaries.json

(numpy promises the same PCG64 bits across versions, but not the same lognormal/poisson algorithms
forever: a numpy upgrade that changes them is also a reason to regenerate.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scenarios.loader import load
from scenarios.results import frame, summarize
from sim.calibration import DEFAULT
from sim.engine import simulate

GOLDEN = Path(__file__).parent / "golden" / "sim_summaries.json"
CASES = {
    "race_optimistic_50x3": ["load.buyers=50", "inventory.strategy=optimistic", "catalog.hot_stock=3",
                             "catalog.warehouses=2"],
    "race_naive_control_30": ["load.buyers=30", "inventory.strategy=naive"],
    "race_serializable_40": ["load.buyers=40", "inventory.strategy=serializable", "catalog.hot_stock=2"],
    "race_redis_40": ["load.buyers=40", "inventory.strategy=redis", "catalog.hot_stock=4",
                      "catalog.warehouses=3"],
    "open_guarded_1s": ["load.model='open'", "load.duration_s=1", "load.hot_fraction=0.4",
                        "load.shape=[{at_s=0, rate=500}, {at_s=1, rate=3000}]", "catalog.skus=1000",
                        "catalog.hot_skus=3", "catalog.hot_stock=20", "catalog.warehouses=2"],
}
AUDIT_KEYS = ("ok", "oversold_units", "control_oversold_units", "counter_drift_units", "rows_checked")
STATS_KEYS = ("events", "lock_waits", "cas_misses", "aborts", "mirror_loads", "reservations")


def observed(overrides: list[str]) -> dict:
    run = simulate(load("last_unit_race", overrides), "golden", DEFAULT)   # never a fitted file
    return {"summary": summarize(frame(run.rows), run.wall_s),
            "audit": {k: run.audit[k] for k in AUDIT_KEYS},
            "stats": {k: run.stats[k] for k in STATS_KEYS}}


def test_golden_summaries():
    got = {name: json.loads(json.dumps(observed(o))) for name, o in CASES.items()}
    if os.environ.get("SIM_GOLDEN_UPDATE"):
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"rewrote {GOLDEN.name}: review the diff before committing")
    assert got == json.loads(GOLDEN.read_text())
