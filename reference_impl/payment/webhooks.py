"""The provider's signed webhooks: the only thing that makes a payment captured, refunded or voided here.

Verify the signature and its age before reading anything; record the event id first, so a duplicate is
acknowledged and ignored; statuses only move forward, so a late or reordered event cannot undo a newer one.
"""

from __future__ import annotations

import json
import os

from reference_impl.infra.http import ApiError
from reference_impl.payment.authorize import Q
from scenarios.policy import RETENTION_S

#: Older signatures are refused: a captured request replayed later is not a new event.
SIGNATURE_TOLERANCE_S = 300
STATUS_OF = {"payment.authorized": "authorized", "payment.failed": "declined", "payment.captured": "captured",
             "payment.voided": "voided", "payment.refunded": "refunded"}
EVENT_OF = {"captured": "PaymentCaptured", "refunded": "PaymentRefunded", "voided": "PaymentVoided"}


def verify(raw: bytes, header: str | None) -> dict:
    from reference_impl.psp.signing import verify as verify_signature  # noqa: PLC0415

    secret = os.environ.get("LAB_PSP_WEBHOOK_SECRET", "")
    try:
        verify_signature(secret, header or "", raw, tolerance_s=SIGNATURE_TOLERANCE_S)
    except ValueError as exc:
        raise ApiError(400, "bad_signature", str(exc)) from None
    try:
        event = json.loads(raw)
        out = {"id": str(event["id"]), "type": str(event["type"]), "charge": event["data"]}
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "invalid_event", "signed, but not an event this endpoint understands") from None
    if not isinstance(out["charge"], dict):     # a signed list or string is still not a charge
        raise ApiError(400, "invalid_event", "signed, but its data is not an object (a charge)")
    return out


async def apply(pool, event: dict) -> dict:
    """Record, move and announce in one statement (sql `apply_webhook`)."""
    status = STATUS_OF.get(event["type"])
    async with pool.acquire() as conn:
        r = await Q.apply_webhook(conn, event_id=event["id"], type=event["type"], charge_id=event["charge"].get("id"),
                                  status=status, topic=EVENT_OF.get(status))
    if not r["fresh"]:
        return {"received": True, "duplicate": True}
    if status is None:
        return {"received": True, "ignored": event["type"]}
    return {"received": True, "applied": r["moved"]}


async def prune(pool) -> int:
    """Forget webhook ids past the retention (a long-lived stack's table stays bounded)."""
    async with pool.acquire() as conn:
        return await Q.prune_webhooks(conn, keep_s=RETENTION_S)
