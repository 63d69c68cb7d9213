"""One Idempotency-Key limit end to end, and a completer that gives up on what cannot succeed.

Found by hand: payment took keys up to 200 characters, added its 9-character prefix and sent them to the
provider, which takes 200; the provider said 400, payment answered 503, the key stayed `started`, and the
completer retried it every 0.5 s forever (50 such keys quadrupled payment's idle CPU).
"""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from reference_impl.infra.procs import wait_for
from reference_impl.infra.settings import database_url
from reference_impl.payment.authorize import fingerprint, provider_verdict
from scenarios.policy import (
    PAYMENT_KEY_MAX_LEN,
    PROVIDER_KEY_MAX_LEN,
    PROVIDER_KEY_PREFIX,
    payment_retry_s,
)
from tests.conftest import STACK

pytestmark = STACK
CARD = "4242424242424242"
#: The completer looks every 0.5 s; a key due now is finished well within this on a loaded machine.
SETTLE_S = 30


@pytest.fixture
def payments(pg_url):
    with psycopg.connect(database_url(pg_url, "payments"), autocommit=True) as conn:
        yield conn


@pytest.fixture
def psp_db(pg_url):
    with psycopg.connect(database_url(pg_url, "psp"), autocommit=True) as conn:
        yield conn


def test_the_limits_agree_payment_takes_what_the_provider_takes_after_the_prefix():
    assert PAYMENT_KEY_MAX_LEN + len(PROVIDER_KEY_PREFIX) == PROVIDER_KEY_MAX_LEN


def _pad(prefix: str, length: int) -> str:
    return prefix + "k" * (length - len(prefix))


@pytest.mark.parametrize(("service", "path", "limit"), [("payment", "/payments/authorize", PAYMENT_KEY_MAX_LEN),
                                                       ("psp", "/v1/charges", PROVIDER_KEY_MAX_LEN)])
def test_a_key_over_the_limit_is_400_with_the_limit_and_one_at_it_is_served(lab, unique, service, path, limit):
    order = unique("order")
    body = ({"order_id": order, "amount": 100, "card": CARD} if service == "payment" else
            {"amount": 100, "currency": "usd", "card": CARD, "reference": order})
    url = lab[service]["url"] + path
    over = httpx.post(url, json=body, headers={"Idempotency-Key": _pad(unique("k"), limit + 1)}, timeout=30)
    assert over.status_code == 400 and over.json()["error"] == "invalid_idempotency_key", over.text
    assert str(limit) in over.json()["detail"]
    at = httpx.post(url, json=body, headers={"Idempotency-Key": _pad(unique("k"), limit)}, timeout=30)
    assert at.status_code in (200, 201), at.text      # all the way to the provider: it took the prefixed key


def _seed_started_key(payments, key: str, order: str) -> uuid.UUID:
    """The state a request leaves when it dies at `started` (or one from before the limit)."""
    body, pid = {"order_id": order, "amount": 700, "card": CARD}, uuid.uuid4()
    payments.execute("INSERT INTO payments (id, order_id, amount, card) VALUES (%s, %s, %s, %s)",
                     (pid, order, 700, CARD))
    payments.execute("INSERT INTO idempotency_keys (key, fingerprint, locked_at, payment_id) VALUES "
                     "(%s, %s, NULL, %s)", (key, fingerprint(body), pid))
    return pid


def test_the_completer_fails_a_key_the_provider_refuses_for_good(lab, payments, unique):
    key = _pad(unique("old"), PAYMENT_KEY_MAX_LEN + 4)     # accepted before the limit; the provider says 400
    pid = _seed_started_key(payments, key, unique("order"))
    row = wait_for(lambda: payments.execute("SELECT recovery_point, response_code FROM idempotency_keys "
                                            "WHERE key = %s AND recovery_point = 'finished'", (key,)).fetchone(),
                   SETTLE_S, "the completer to give up on a key the provider refuses")
    assert row == ("finished", 422)
    assert payments.execute("SELECT status FROM payments WHERE id = %s", (pid,)).fetchone()[0] == "failed"


def test_the_completer_backs_off_while_the_provider_does_not_settle_a_key(lab, payments, psp_db, unique):
    key = unique("busy")
    pid = _seed_started_key(payments, key, unique("order"))
    # The provider's own key is claimed by a request still in flight there: it answers 409 for KEY_LEASE_S.
    psp_db.execute("INSERT INTO idempotency_keys (key, fingerprint, locked_at) VALUES (%s, 'x', now())",
                   (PROVIDER_KEY_PREFIX + key,))
    try:
        tries, wait = wait_for(lambda: payments.execute(
            "SELECT tries, extract(epoch FROM retry_at - updated_at) FROM idempotency_keys "
            "WHERE key = %s AND tries >= 3", (key,)).fetchone(), SETTLE_S, "three tries of a busy key")
        assert float(wait) == pytest.approx(payment_retry_s(tries))      # the schedule it wrote for itself
        assert payment_retry_s(tries) >= 4 * payment_retry_s(1)          # doubling, not every tick
    finally:   # nothing was charged: close the seeded key so no later audit sees it open
        psp_db.execute("DELETE FROM idempotency_keys WHERE key = %s", (PROVIDER_KEY_PREFIX + key,))
        payments.execute("UPDATE idempotency_keys SET recovery_point = 'finished', response_code = 422 "
                         "WHERE key = %s", (key,))
        payments.execute("UPDATE payments SET status = 'failed' WHERE id = %s", (pid,))


@pytest.mark.parametrize(("status", "verdict"), [(200, "charged"), (400, "refused"), (422, "refused"),
                                                 (404, "refused"), (409, "retry"), (None, "retry"),
                                                 (500, "retry"), (503, "retry")])
def test_what_a_provider_answer_means_for_the_key(status, verdict):
    assert provider_verdict(status) == verdict
