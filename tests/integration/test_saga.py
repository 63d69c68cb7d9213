"""The checkout saga on the real stack: the happy path, shipping failing after payment, a retried checkout,
and the provider's webhook refusing forgeries and applying duplicates once."""

from __future__ import annotations

import json
import time

import httpx
import psycopg
import pytest

from reference_impl import stack
from reference_impl.audit.saga import audit_saga
from reference_impl.infra.procs import wait_for
from reference_impl.infra.settings import database_url
from reference_impl.psp.signing import sign
from tests.conftest import STACK

pytestmark = STACK




def _stock(urls, sku, qty=2):
    assert httpx.post(f"{urls['inventory']}/stock/receipts",
                      json={"sku": sku, "warehouse": "wh-1", "qty": qty}).status_code == 201


def _checkout(urls, sku, key, user="u1"):
    return httpx.post(f"{urls['orders']}/checkouts", json={"sku": sku, "qty": 1},
                      headers={"Idempotency-Key": key, "X-User-Id": user}, timeout=30)


#: Only bounds a hung test: every wait below wakes on the event itself.
EVENT_WAIT_S = 40.0


#: The databases whose outboxes hold the saga's events.
OUTBOXES = ("orders", "payments", "shipping")


def _event(lab, topics: tuple[str, ...], order_id: str) -> dict:
    """Wait until a `topics` event about the order is written, in whichever service's outbox (some topics,
    such as PaymentRefunded, no consumer handles: they never reach a stream)."""
    def written():
        for db in OUTBOXES:
            with psycopg.connect(database_url(lab["postgres"]["url"], db), autocommit=True) as conn:
                row = conn.execute("SELECT topic, payload FROM outbox WHERE topic = ANY(%s) "
                                   "AND payload->>'order_id' = %s ORDER BY id LIMIT 1",
                                   (list(topics), order_id)).fetchone()
            if row:
                return {"topic": row[0], **row[1]}
        return None
    return wait_for(written, EVENT_WAIT_S, f"a {'/'.join(topics)} event for order {order_id}", interval=0.1)


def _until_final(lab, urls, oid) -> dict:
    _event(lab, ("OrderShipped", "OrderCancelled"), oid)
    return httpx.get(f"{urls['orders']}/orders/{oid}").json()


def test_happy_path_ships_a_paid_order(lab, urls, pg_url, unique):
    sku, key = unique("saga"), unique("key")
    _stock(urls, sku)
    r = _checkout(urls, sku, key)
    assert r.status_code == 201 and r.json()["status"] == "confirmed"
    order = _until_final(lab, urls, r.json()["id"])
    assert order["status"] == "shipped"
    steps = [(s["step"], s["status"]) for s in httpx.get(f"{urls['orders']}/orders/{order['id']}/saga").json()["steps"]]
    assert steps == [("reserve", "done"), ("authorize", "done"), ("confirm", "done"), ("paid", "done"),
                     ("sell_stock", "done"), ("ship", "done")]
    assert audit_saga(pg_url, key)["ok"]
    again = _checkout(urls, sku, key)                    # the client retries: same order, nothing new
    assert again.status_code == 200 and again.json()["id"] == order["id"]
    other = _checkout(urls, unique("other-sku"), key)
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"


def test_shipping_failure_after_payment_refunds_releases_cancels_and_notifies(lab, urls, pg_url, unique,
                                                                             run_config):
    run_config({"faults": [{"point": "shipping.create_label", "action": "error", "probability": 1.0}]})
    sku, key = unique("shipfail"), unique("key")
    _stock(urls, sku, 1)
    r = _checkout(urls, sku, key)
    assert r.status_code == 201
    order = _until_final(lab, urls, r.json()["id"])
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "shipping_failed")
    _event(lab, ("PaymentRefunded",), order["id"])       # the provider's refund webhook has been applied
    audit = audit_saga(pg_url, key)
    assert audit["ok"] and audit["money_conserved"] and audit["double_charges"] == 0
    with psycopg.connect(database_url(pg_url, "psp")) as conn:
        status = conn.execute("SELECT status FROM charges WHERE reference = %s", (order["id"],)).fetchone()[0]
    assert status == "refunded"
    stock = httpx.get(f"{urls['inventory']}/stock/{sku}").json()["warehouses"][0]
    assert (stock["available"], stock["reserved"], stock["sold"]) == (1, 0, 0)
    steps = [s["step"] for s in httpx.get(f"{urls['orders']}/orders/{order['id']}/saga").json()["steps"]]
    assert {"release_stock", "cancel"} <= set(steps)
    def kinds() -> list[str]:
        got = httpx.get(f"{urls['notification']}/notifications/{order['id']}").json()["notifications"]
        return [n["kind"] for n in got]

    # The notification consumer is another process that signals nothing back: the lab's one bounded wait.
    wait_for(lambda: "OrderCancelled" in kinds(), EVENT_WAIT_S, "the buyer to be told")
    assert kinds().count("OrderCancelled") == 1


def test_out_of_stock_checkout_is_cancelled_without_a_charge(urls, pg_url, unique):
    sku, key = unique("oos"), unique("key")
    _stock(urls, sku, 1)
    assert _checkout(urls, sku, key + "-a").status_code == 201
    r = _checkout(urls, sku, key + "-b")
    assert r.status_code == 409 and r.json()["error"] == "out_of_stock"
    assert audit_saga(pg_url, key + "-b")["double_charges"] == 0


def _signed(secret: str, event: dict, t: int | None = None) -> tuple[bytes, dict]:
    raw = json.dumps(event).encode()
    return raw, {"Psp-Signature": sign(secret, t or int(time.time()), raw), "content-type": "application/json"}


def test_webhook_rejects_forged_and_stale_and_applies_duplicates_once(urls, unique):
    secret = stack.load_state()["secrets"]["psp_webhook"]
    event = {"id": unique("evt"), "type": "payment.captured", "data": {"id": unique("ch_none")}}
    raw, headers = _signed("not-the-secret", event)
    assert httpx.post(f"{urls['payment']}/webhooks/psp", content=raw, headers=headers).status_code == 400
    raw, headers = _signed(secret, event, t=int(time.time()) - 3600)
    assert httpx.post(f"{urls['payment']}/webhooks/psp", content=raw, headers=headers).status_code == 400
    assert httpx.post(f"{urls['payment']}/webhooks/psp", content=raw,
                      headers={"content-type": "application/json"}).status_code == 400
    raw, headers = _signed(secret, event)
    first = httpx.post(f"{urls['payment']}/webhooks/psp", content=raw, headers=headers).json()
    second = httpx.post(f"{urls['payment']}/webhooks/psp", content=raw, headers=headers).json()
    assert first["received"] and not first.get("duplicate") and second["duplicate"]


@pytest.mark.parametrize("data", [[], "ch_x", 7, None, ["id"]])
def test_a_validly_signed_event_whose_data_is_not_an_object_is_400(urls, unique, data):
    secret = stack.load_state()["secrets"]["psp_webhook"]
    raw, headers = _signed(secret, {"id": unique("evt"), "type": "payment.captured", "data": data})
    r = httpx.post(f"{urls['payment']}/webhooks/psp", content=raw, headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "invalid_event", r.text


@pytest.mark.parametrize(("headers", "body", "status"), [
    ({}, {"sku": "x", "qty": 1}, 400),
    ({"Idempotency-Key": "k"}, {"sku": "x", "qty": 1}, 401),
    ({"Idempotency-Key": "k", "X-User-Id": "u"}, {"sku": "x", "qty": 0}, 422),
    ({"Idempotency-Key": "k", "X-User-Id": "u"}, {"sku": "x y", "qty": 1}, 422),
    ({"Idempotency-Key": "k", "X-User-Id": "u"}, {"sku": "x", "qty": 1, "card": "abc"}, 422),
])
def test_bad_checkouts_are_4xx(urls, headers, body, status):
    r = httpx.post(f"{urls['orders']}/checkouts", json=body, headers=headers)
    assert r.status_code == status and r.json()["detail"]
