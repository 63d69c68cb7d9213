"""The model and the real stack on the same faulty scenarios: the verdicts that matter must agree. Zero
oversell and zero double charge with idempotency keys, double charges without them (the control), money
conserved; and the compensation path (refund, release, cancel) when the carrier refuses labels."""

from __future__ import annotations

import csv
from pathlib import Path

import psycopg
import pytest

from lastunit.progress import Progress
from lastunit.usecases import combined_audit, run_saga
from reference_impl import stack
from reference_impl.infra.settings import database_url
from scenarios.loader import load
from sim.calibration import DEFAULT
from sim.saga_run import simulate_saga
from tests.conftest import STACK

pytestmark = [*STACK, pytest.mark.slow]

#: A few checkouts (about nine), so each real run stays short.
SMALL = ["load.duration_s=1.5", "load.shape=[{at_s=0, rate=6}, {at_s=1.5, rate=6}]", "settle_s=75"]
DROP_ALL = 'faults=[{point="payment.before_reply", action="drop_reply", probability=1.0}]'
REFUSE_ALL = 'faults=[{point="shipping.create_label", action="error", probability=1.0}]'


def both(name: str, *overrides: str):
    """(the real run's output, the model's run and audit) for one scenario with these overrides."""
    sc = load(name, [*SMALL, *overrides])
    real, _ = run_saga(sc, Progress(enabled=False))
    model = simulate_saga(sc, "test-engines", DEFAULT)
    return real, model, combined_audit(model.saga, model.inventory, model.faults_fired)


def _verdicts(audit: dict) -> dict:
    return {"oversold": audit["oversold_units"] > 0, "double_charged": audit["double_charges"] > 0,
            "money_conserved": audit["money_conserved"], "stranded": audit["stranded"] > 0, "ok": audit["ok"]}


def test_lost_authorize_replies_with_idempotency_keys_charge_once_in_both():
    real, model, sim = both("payment_crash", "payment.idempotency=true", DROP_ALL)
    assert real["audit"]["faults_fired"].get("payment.before_reply:drop_reply", 0) > 0
    assert model.faults_fired["payment.before_reply:drop_reply"] > 0
    want = {"oversold": False, "double_charged": False, "money_conserved": True, "stranded": False, "ok": True}
    assert _verdicts(real["audit"]) == want, real["audit"]["breaches"]
    assert _verdicts(sim) == want, sim["breaches"]


def test_the_control_without_idempotency_double_charges_in_both():
    real, model, sim = both("payment_crash", "payment.idempotency=false", DROP_ALL)
    assert real["audit"]["double_charges"] > 0 and not real["audit"]["ok"]
    assert sim["double_charges"] > 0 and not sim["ok"]
    assert real["audit"]["oversold_units"] == sim["oversold_units"] == 0


def _compensated_orders(run_dir: str) -> set[str]:
    """Orders whose saga log shows the shipping failure's compensation: ship failed, stock released, cancel."""
    steps: dict[str, set] = {}
    with (Path(run_dir) / "saga_log.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            steps.setdefault(r["order_id"], set()).add((r["step"], r["status"]))
    need = {("ship", "failed"), ("release_stock", "compensated"), ("cancel", "compensated")}
    return {oid for oid, s in steps.items() if need <= s}


def test_refused_labels_refund_release_and_cancel_in_both():
    real, model, sim = both("shipping_failure", REFUSE_ALL)
    # the real stack: the log shows the compensation, and the provider's ledger the refunds
    compensated = _compensated_orders(real["run_dir"])
    assert compensated, "no order went through the compensation path"
    with psycopg.connect(database_url(stack.server_url("postgres"), "psp")) as conn:
        refunded = conn.execute("SELECT count(DISTINCT c.reference) FROM ledger_entries l JOIN charges c "
                                "ON c.id = l.charge_id WHERE l.kind = 'refund' AND c.reference = ANY(%s)",
                                (sorted(compensated),)).fetchone()[0]
    assert refunded == len(compensated)
    # the model: the same path, refunds at its provider
    assert model.stats["cancel_reasons"].get("shipping_failed", 0) > 0
    assert model.stats["charges_by_status"].get("refunded", 0) >= model.stats["cancel_reasons"]["shipping_failed"]
    want = {"oversold": False, "double_charged": False, "money_conserved": True, "stranded": False, "ok": True}
    assert _verdicts(real["audit"]) == want, real["audit"]["breaches"]
    assert _verdicts(sim) == want, sim["breaches"]
    for audit in (real["audit"], sim):
        assert audit["by_status"]["cancelled"] > 0 and audit["provider_net_cents"] == audit["paid_orders_cents"]


def test_reservation_ttl_before_the_webhook_refunds_in_both():
    real, model, sim = both("payment_crash", "faults=[]", "inventory.reservation_ttl_s=0.5",
                            "webhooks.delay_ms=2500")
    assert model.stats["reservations_expired"] > 0
    for audit in (real["audit"], sim):
        assert audit["ok"] and audit["oversold_units"] == 0 and audit["money_conserved"], audit["breaches"]
        assert audit["by_status"]["cancelled"] > 0 and audit["by_status"]["shipped"] == 0
