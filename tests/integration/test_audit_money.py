"""Money held for no order: the auditor's checks that read the provider and payments without trusting the
orders. Each test seeds the breach on the real servers (through the services' own APIs where they make it)
and reads it back as a witness; a settled order is the clean contrast, so each check can both fail and pass.
"""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from reference_impl.audit.saga import audit_saga
from reference_impl.infra.settings import database_url
from tests.conftest import STACK

pytestmark = STACK
CARD = "4242424242424242"


@pytest.fixture
def psp(lab):
    with httpx.Client(base_url=lab["psp"]["url"], timeout=10) as c:
        yield c


def _hold(psp, key: str, reference: str, amount: int = 1234) -> dict:
    r = psp.post("/v1/charges", json={"amount": amount, "currency": "usd", "card": CARD, "reference": reference},
                 headers={"Idempotency-Key": key})
    assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
    return r.json()


def test_money_held_for_a_reference_that_names_no_order_is_a_breach(psp, pg_url, unique):
    """The reproduction: the provider held live authorizations for reference "0" and the audit was clean."""
    held = _hold(psp, unique("key"), "0")
    audit = audit_saga(pg_url)                      # no --run: everything at the provider is in scope
    assert not audit["ok"] and audit["orphan_money"] >= 1 and audit["orphan_money_cents"] >= 1234
    breach = next(b for b in audit["breaches"] if b["invariant"] == "orphan_money")
    assert {"charge": held["id"], "reference": "0", "status": "authorized", "amount": 1234} in breach["witnesses"]


def test_payment_rows_for_orders_that_do_not_exist_are_a_breach(lab, pg_url, unique):
    """The reproduction: payment authorized for an order id nobody created; its row and the provider's
    hold both name nothing."""
    ghost = str(uuid.uuid4())
    r = httpx.post(f"{lab['payment']['url']}/payments/authorize", timeout=10,
                   json={"order_id": ghost, "amount": 500, "card": CARD}, headers={"Idempotency-Key": unique("k")})
    assert r.status_code == 201, r.text
    audit = audit_saga(pg_url)
    witnesses = {b["invariant"]: b["witnesses"] for b in audit["breaches"]}
    assert audit["orphan_payments"] >= 1 and not audit["ok"]
    assert {"payment": r.json()["payment_id"], "order": ghost, "status": "authorized", "amount": 500} \
        in witnesses["orphan_payments"]
    assert any(w["reference"] == ghost for w in witnesses["orphan_money"])


def _cancelled_order(pg_url: str, key: str) -> str:
    """An order the saga ended as cancelled (written as the orders service writes it)."""
    oid = str(uuid.uuid4())
    with psycopg.connect(database_url(pg_url, "orders")) as conn:
        conn.execute("INSERT INTO orders (id, idempotency_key, user_id, sku, qty, amount, card, status, "
                     "cancel_reason) VALUES (%s, %s, 'u1', 'sku-x', 1, 700, %s, 'cancelled', 'declined')",
                     (oid, key, CARD))
    return oid


def test_an_authorization_left_on_a_final_order_is_a_breach_until_voided(psp, pg_url, unique):
    prefix = unique("run") + "-"
    oid = _cancelled_order(pg_url, prefix + "0")
    held = _hold(psp, unique("key"), oid, amount=700)
    audit = audit_saga(pg_url, prefix)
    assert not audit["ok"] and audit["unsettled_authorizations"] == 1
    assert audit["double_charges"] == 0 and audit["money_conserved"]        # what missed it before
    breach = next(b for b in audit["breaches"] if b["invariant"] == "unsettled_authorizations")
    assert breach["witnesses"] == [{"order": oid, "status": "cancelled", "held_charges": 1,
                                    "charges": [held["id"]]}]
    assert psp.post(f"/v1/charges/{held['id']}/void", headers={"Idempotency-Key": unique("void")}).status_code == 200
    audit = audit_saga(pg_url, prefix)
    assert audit["ok"] and audit["unsettled_authorizations"] == 0 and audit["orphan_money"] == 0


def test_a_runs_scope_sees_only_its_references(psp, pg_url, unique):
    _hold(psp, unique("key"), "0")                 # someone else's mess, outside the run
    prefix = unique("run") + "-"
    _cancelled_order(pg_url, prefix + "0")
    audit = audit_saga(pg_url, prefix)
    assert audit["ok"] and audit["orphan_money"] == 0 and audit["orphan_payments"] == 0
