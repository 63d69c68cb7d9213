"""The payment service's recovery points, one test per point: seed a key at a phase, replay, one charge.

The cheap twin of the real-crash tests in test_faults.py: the database is put in the state a crash at that
point leaves behind, and the retry with the same key must finish without charging again.
"""

from __future__ import annotations

import json
import uuid

import httpx
import psycopg
import pytest

from reference_impl.infra.procs import wait_for
from reference_impl.infra.settings import database_url
from reference_impl.payment.authorize import fingerprint
from tests.conftest import STACK

pytestmark = STACK
CARD = "4242424242424242"


@pytest.fixture
def payments(pg_url):
    with psycopg.connect(database_url(pg_url, "payments"), autocommit=True) as conn:
        yield conn


def _charges(pg_url, order_id) -> list[str]:
    with psycopg.connect(database_url(pg_url, "psp")) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM charges WHERE reference = %s", (order_id,))]


def _authorize(lab, key, body):
    return httpx.post(f"{lab['payment']['url']}/payments/authorize", json=body,
                      headers={"Idempotency-Key": key}, timeout=30)


def test_key_left_at_started_by_a_dead_request_is_resumed(lab, pg_url, payments, unique):
    key, order = unique("key"), unique("order")
    body = {"order_id": order, "amount": 1234, "card": CARD}
    pid = uuid.uuid4()
    payments.execute("INSERT INTO idempotency_keys (key, fingerprint, locked_at, payment_id) VALUES "
                     "(%s, %s, now() - interval '1 hour', %s)", (key, fingerprint(body), pid))
    payments.execute("INSERT INTO payments (id, order_id, amount, card) VALUES (%s, %s, %s, %s)",
                     (pid, order, 1234, CARD))
    # The background completer may take the abandoned key first: then the retry hears 409 "in progress" and,
    # as a careful client does, asks again until the key is finished. Whoever finishes it: one charge.
    r = wait_for(lambda: (resp := _authorize(lab, key, body)).status_code != 409 and resp, 30, "the key's answer",
                 interval=0.2)
    assert r.status_code == 201 and r.json()["payment_id"] == str(pid)
    assert len(_charges(pg_url, order)) == 1


def test_key_left_at_provider_called_finishes_without_calling_again(lab, pg_url, payments, unique):
    key, order = unique("key"), unique("order")
    body = {"order_id": order, "amount": 999, "card": CARD}
    first = _authorize(lab, key, body).json()
    payments.execute("UPDATE idempotency_keys SET recovery_point = 'provider_called', response_code = NULL, "
                     "response_body = NULL, locked_at = now() - interval '1 hour' WHERE key = %s", (key,))
    # As above: the completer may be finishing the key itself; the client asks again on 409 "in progress".
    again = wait_for(lambda: (resp := _authorize(lab, key, body)).status_code != 409 and resp, 30,
                     "the key's answer", interval=0.2)
    assert again.status_code == 201 and again.json()["psp_charge_id"] == first["psp_charge_id"]
    assert _charges(pg_url, order) == [first["psp_charge_id"]]


def test_finished_key_replays_the_stored_answer_and_other_params_are_refused(lab, pg_url, unique):
    key, order = unique("key"), unique("order")
    body = {"order_id": order, "amount": 500, "card": CARD}
    first = _authorize(lab, key, body)
    again = _authorize(lab, key, body)
    assert again.json()["idempotent_replay"] and again.json()["payment_id"] == first.json()["payment_id"]
    other = _authorize(lab, key, body | {"amount": 501})
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    assert len(_charges(pg_url, order)) == 1


def test_an_unknown_recovery_point_cannot_be_written(payments, unique):
    with pytest.raises(psycopg.errors.CheckViolation):
        payments.execute("INSERT INTO idempotency_keys (key, fingerprint, recovery_point) VALUES (%s, 'x', 'halfway')",
                         (unique("key"),))


def test_declined_card_is_stored_and_replayed(lab, pg_url, unique):
    key, order = unique("key"), unique("order")
    body = {"order_id": order, "amount": 700, "card": "4000000000000002"}
    first, again = _authorize(lab, key, body), _authorize(lab, key, body)
    assert (first.status_code, again.status_code) == (402, 402)
    assert first.json()["status"] == "declined" and json.loads(again.text)["idempotent_replay"]
    assert len(_charges(pg_url, order)) == 1
