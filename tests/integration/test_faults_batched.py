"""The batched strategy (with its sold-out short-circuit on, its default) through the checkout saga's faults
that touch the reservation: an orders crash or lost reply right after it (recovery re-drives the reserve
with the same attempt id: the replay must find the unit even when the SKU is remembered sold out), and
reservations expiring before payment (units come back: the memory must reopen). Same invariants as the fault
matrix: nothing oversold, no double charge, money conserved, every order final. The sale's own fault point
(inventory.before_commit) settles a reservation the same way whatever strategy made it: the fault matrix
(test_faults.py) covers it."""

from __future__ import annotations

import pytest

from lastunit.progress import Progress
from lastunit.usecases import run_saga
from scenarios.loader import load
from tests.conftest import STACK
from tests.integration.test_faults import SMALL

pytestmark = [*STACK, pytest.mark.slow]

BATCHED = ["inventory.strategy=batched"]
FAULTS = [("orders.after_reserve", "crash"), ("orders.after_reserve", "drop_reply"),
          ("orders.after_reserve", "delay")]


def _audit(*overrides: str) -> dict:
    out, _ = run_saga(load("payment_crash", [*SMALL, *BATCHED, *overrides]), Progress(enabled=False))
    return out["audit"]


@pytest.mark.parametrize(("point", "action"), FAULTS, ids=[f"{p}-{a}" for p, a in FAULTS])
def test_batched_keeps_every_invariant_under_reservation_faults(point, action):
    audit = _audit(f'faults=[{{point="{point}", action="{action}", probability=0.6, delay_ms=300}}]')
    assert audit["faults_fired"].get(f"{point}:{action}", 0) > 0, "the fault never fired: nothing was tested"
    assert audit["oversold_units"] == 0 and audit["stranded"] == 0, audit["breaches"]
    assert audit["double_charges"] == 0 and audit["money_conserved"], audit["breaches"]
    assert audit["ok"], audit["breaches"]


def test_batched_reservations_expiring_before_payment_refund_and_never_oversell():
    audit = _audit("faults=[]", "inventory.reservation_ttl_s=0.5", "webhooks.delay_ms=2500")
    assert audit["ok"] and audit["oversold_units"] == 0 and audit["money_conserved"], audit["breaches"]
    assert audit["by_status"]["cancelled"] > 0
