"""Golden output for the saga model: seeded saga runs (crashes with and without idempotency keys, a refused
label, a reservation that expires before the webhook) reproduce their checked-in results exactly.

Why beside the race's golden file: the saga model is the part most often refactored (its modules, its bus,
its state machine); a refactor that changes a single draw or step shows up here as a diff. After an
intended change, regenerate and review:

    SIM_GOLDEN_UPDATE=1 .venv/bin/pytest tests/unit/test_sim_saga_golden.py
    git diff tests/unit/golden/sim_saga_summaries.json
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scenarios.loader import load
from scenarios.results import frame, summarize
from sim.calibration import DEFAULT
from sim.saga_run import simulate_saga

GOLDEN = Path(__file__).parent / "golden" / "sim_saga_summaries.json"
CASES = {
    "saga_payment_crash": ("payment_crash", ["load.duration_s=2"]),
    "saga_payment_crash_control": ("payment_crash", ["load.duration_s=2", "payment.idempotency=false"]),
    "saga_shipping_failure": ("shipping_failure", []),
    # The sweeper runs at the earliest expiry but at least SWEEP_INTERVAL_S (1 s) after its last round, so a
    # webhook 500 ms late finds some reservations expired and some still held: both paths in one case.
    "saga_ttl_before_webhook": ("payment_crash", ["load.duration_s=1", "faults=[]",
                                                  "inventory.reservation_ttl_s=0.05", "webhooks.delay_ms=500"]),
}
AUDIT_KEYS = ("ok", "double_charges", "money_conserved", "stranded", "shipped_unpaid", "by_status")
STATS_KEYS = ("cancel_reasons", "drives", "charges", "charges_by_status", "reservations_expired",
              "last_order_final_s")


def observed(scenario: str, overrides: list[str]) -> dict:
    r = simulate_saga(load(scenario, overrides), "golden", DEFAULT)        # never a fitted file
    return {"summary": summarize(frame(r.rows), r.wall_s), "saga": {k: r.saga[k] for k in AUDIT_KEYS},
            "faults_fired": dict(sorted(r.faults_fired.items())), "stats": {k: r.stats[k] for k in STATS_KEYS}}


def test_golden_saga_runs():
    got = {name: json.loads(json.dumps(observed(*case))) for name, case in CASES.items()}
    if os.environ.get("SIM_GOLDEN_UPDATE"):
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"rewrote {GOLDEN.name}: review the diff before committing")
    assert got == json.loads(GOLDEN.read_text())
