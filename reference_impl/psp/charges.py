"""The charge state machine and the money it moves; each function runs inside the caller's transaction.

    authorize -> authorized | declined
    authorized --capture--> captured  (ledger +amount)      authorized --void--> voided
    captured --refund--> refunded     (ledger -amount)

Every change writes its webhook event (the outbox) and the idempotency key's stored reply in the same
statement (sql/charges.sql). Repeating a move whose target state the charge is already in (a retry under a
new key) changes nothing and answers the charge.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import orjson

from reference_impl.infra.http import ApiError
from reference_impl.psp import idempotency
from reference_impl.psp.config import Knobs, draw
from reference_impl.psp.idempotency import KeyLost
from reference_impl.psp.queries import Q

#: Stripe's test card for a decline, whatever the decline rate.
DECLINE_CARD = "4000000000000002"
CARD_DECLINED = "card_declined"
#: The code a rate-drawn decline carries, so a test can tell it from the test card's.
RATE_DECLINED = "insufficient_funds"


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    ledger_kind: str | None
    sign: int
    event: str


MOVES = {
    "capture": Move("authorized", "captured", "capture", +1, "payment.captured"),
    "void": Move("authorized", "voided", None, 0, "payment.voided"),
    "refund": Move("captured", "refunded", "refund", -1, "payment.refunded"),
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def charge_json(row) -> dict:
    """A charge row from `get_charge` as the API shows it (its `json`, spelled once in SQL: schema.sql)."""
    return orjson.loads(row["json"])


def decline_code(knobs: Knobs, key: str, card: str) -> str | None:
    """The test card always declines; any other card declines at the configured rate, fixed per key."""
    if card == DECLINE_CARD:
        return CARD_DECLINED
    if draw(knobs.seed, "decline", key) < knobs.decline_rate:
        return RATE_DECLINED
    return None


async def authorize(conn, knobs: Knobs, key: str, token, amount: int, currency: str, card: str, reference: str,
                    webhook_url: str | None) -> dict:
    """A new charge (authorized or declined), its event and the stored reply, in one statement."""
    code = decline_code(knobs, key, card)
    r = await Q.authorize(conn, key=key, claimed_at=token, id=new_id("ch"), reference=reference, amount=amount,
                          currency=currency, status="declined" if code else "authorized", decline_code=code,
                          card_last4=card[-4:], webhook_url=webhook_url, event_id=new_id("evt"),
                          event_type="payment.failed" if code else "payment.authorized",
                          delay_s=knobs.webhook_delay_ms / 1000)
    if not r["ours"]:
        raise KeyLost(key)
    return orjson.loads(r["body"])


async def move(conn, knobs: Knobs, key: str, token, charge_id: str, action: str) -> dict:
    """One guarded UPDATE decides: of two racing moves on one charge, exactly one changes it. Repeating a
    move the charge already made answers the charge; any other state is 409 invalid_transition."""
    m = MOVES[action]
    r = await Q.move(conn, key=key, claimed_at=token, charge_id=charge_id, from_status=m.source,
                     to_status=m.target, ledger_kind=m.ledger_kind, sign=m.sign, event_id=new_id("evt"),
                     event_type=m.event, delay_s=knobs.webhook_delay_ms / 1000)
    if not r["ours"]:
        raise KeyLost(key)
    if r["body"] is not None:
        return orjson.loads(r["body"])
    current = await Q.get_charge(conn, id=charge_id)
    if current is None:
        raise ApiError(404, "unknown_charge", f"no charge {charge_id!r}")
    if current["status"] == m.target:
        body = charge_json(current)
        await idempotency.store(conn, key, token, 200, body, charge_id)
        return body
    raise ApiError(409, "invalid_transition",
                   f"cannot {action} a charge that is {current['status']} (needs {m.source})",
                   charge_status=current["status"])
