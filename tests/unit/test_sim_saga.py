"""The checkout saga in the model (sim/saga/): the double-charge control, compensation, determinism."""

from __future__ import annotations

from lastunit.usecases import combined_audit
from scenarios.loader import load
from sim.calibration import DEFAULT
from sim.saga_run import simulate_saga

DROP_ALL = 'faults=[{point="payment.before_reply", action="drop_reply", probability=1.0}]'
REFUSE_ALL = 'faults=[{point="shipping.create_label", action="error", probability=1.0}]'


def run(name: str, *overrides: str):
    r = simulate_saga(load(name, list(overrides)), "test-saga", DEFAULT)
    return r, combined_audit(r.saga, r.inventory, r.faults_fired)


def test_control_without_idempotency_double_charges():
    r, audit = run("payment_crash", "payment.idempotency=false", DROP_ALL)
    assert audit["double_charges"] > 0
    assert not audit["ok"]
    assert r.faults_fired["payment.before_reply:drop_reply"] > 0


def test_idempotency_keys_prevent_the_double_charge():
    r, audit = run("payment_crash", "payment.idempotency=true", DROP_ALL)
    assert r.faults_fired["payment.before_reply:drop_reply"] > 0
    assert audit["double_charges"] == 0
    assert audit["money_conserved"] and audit["stranded"] == 0 and audit["ok"]


def test_refused_labels_cancel_every_order_and_give_the_money_back():
    r, audit = run("shipping_failure", REFUSE_ALL)
    assert audit["orders"] > 0
    # faults go off once the last client has its answer (as `lastunit run` does before settling): every label
    # asked for while they were on was refused and compensated; only orders still in flight then may ship
    reasons = r.stats["cancel_reasons"]
    assert reasons["shipping_failed"] == r.faults_fired["shipping.create_label:error"] > 0
    assert audit["by_status"]["cancelled"] == sum(reasons.values())
    assert audit["by_status"]["shipped"] + audit["by_status"]["cancelled"] == audit["orders"]
    assert audit["by_status"]["shipped"] <= 2
    assert audit["money_conserved"] and audit["provider_net_cents"] == audit["paid_orders_cents"]
    assert audit["stranded"] == 0 and audit["oversold_units"] == 0 and audit["stock_conserved"]
    assert audit["ok"]


def test_audit_has_the_real_runs_shape():
    _, audit = run("payment_crash")
    assert {"ok", "orders", "by_status", "double_charges", "money_conserved", "provider_net_cents",
            "paid_orders_cents", "stranded", "shipped_unpaid", "breaches", "oversold_units", "stock_conserved",
            "inventory", "faults_fired"} <= set(audit)


def test_seeded_run_is_deterministic():
    a, audit_a = run("payment_crash")
    b, audit_b = run("payment_crash")
    assert a.rows == b.rows and audit_a == audit_b and a.stats == b.stats


def test_crowd_is_the_real_runs_crowd():
    from scenarios.arrivals import planned

    sc = load("payment_crash", [])
    r, _ = run("payment_crash")
    assert len(r.rows) == len(planned(sc))
