"""The charge state machine and the money it moves; each function runs inside the caller's transaction.

    authorize -> authorized | declined
    authorized --capture--> captured  (ledger +amount)      authorized --void--> voided
    captured --refund--> refunded     (ledger -amount)

Every change writes its webhook event (the outbox) in the same transaction. Repeating a move whose target
state the charge is already in (a retry under a new key) changes nothing and answers the charge.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from reference_impl.infra.http import ApiError
from reference_impl.psp.config import Knobs, draw
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
    return {"id": row["id"], "status": row["status"], "amount": row["amount"], "currency": row["currency"],
            "reference": row["reference"], "decline_code": row["decline_code"],
            "created_at": row["created_at"].isoformat()}


def decline_code(knobs: Knobs, key: str, card: str) -> str | None:
    """The test card always declines; any other card declines at the configured rate, fixed per key."""
    if card == DECLINE_CARD:
        return CARD_DECLINED
    if draw(knobs.seed, "decline", key) < knobs.decline_rate:
        return RATE_DECLINED
    return None


async def _event(conn, knobs: Knobs, kind: str, row) -> None:
    await Q.insert_event(conn, id=new_id("evt"), type=kind, charge_id=row["id"],
                         data=json.dumps(charge_json(row)), webhook_url=row["webhook_url"],
                         delay_s=knobs.webhook_delay_ms / 1000)


async def authorize(conn, knobs: Knobs, key: str, amount: int, currency: str, card: str, reference: str,
                    webhook_url: str | None) -> tuple[dict, str]:
    code = decline_code(knobs, key, card)
    row = await Q.insert_charge(conn, id=new_id("ch"), key=key, reference=reference, amount=amount,
                                currency=currency, status="declined" if code else "authorized",
                                decline_code=code, card_last4=card[-4:], webhook_url=webhook_url)
    await _event(conn, knobs, "payment.failed" if code else "payment.authorized", row)
    return charge_json(row), row["id"]


async def move(conn, knobs: Knobs, charge_id: str, action: str) -> tuple[dict, str]:
    """One guarded UPDATE decides: of two racing moves on one charge, exactly one changes it."""
    m = MOVES[action]
    row = await Q.transition(conn, id=charge_id, from_status=m.source, to_status=m.target)
    if row is None:
        current = await Q.get_charge(conn, id=charge_id)
        if current is None:
            raise ApiError(404, "unknown_charge", f"no charge {charge_id!r}")
        if current["status"] == m.target:
            return charge_json(current), charge_id
        raise ApiError(409, "invalid_transition",
                       f"cannot {action} a charge that is {current['status']} (needs {m.source})",
                       charge_status=current["status"])
    if m.ledger_kind:
        await Q.insert_ledger_entry(conn, charge_id=charge_id, kind=m.ledger_kind, amount=m.sign * row["amount"])
    await _event(conn, knobs, m.event, row)
    return charge_json(row), charge_id
