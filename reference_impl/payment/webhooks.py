"""The provider's signed webhooks: the only thing that makes a payment captured, refunded or voided here.

Verify the signature and its age before reading anything; record the event id first, so a duplicate is
acknowledged and ignored; statuses only move forward, so a late or reordered event cannot undo a newer one.
"""

from __future__ import annotations

import json
import os

from reference_impl.infra import bus
from reference_impl.infra.http import ApiError
from reference_impl.payment.authorize import Q

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
    charge_id = event["charge"].get("id")
    status = STATUS_OF.get(event["type"])
    async with pool.acquire() as conn, conn.transaction():
        if not await Q.record_webhook(conn, event_id=event["id"], type=event["type"], charge_id=charge_id):
            return {"received": True, "duplicate": True}
        if status is None:
            return {"received": True, "ignored": event["type"]}
        moved = await Q.advance_status(conn, charge_id=charge_id, status=status)
        if moved is not None and status in EVENT_OF:
            await bus.publish(conn, EVENT_OF[status], {"order_id": moved["order_id"],
                                                       "payment_id": str(moved["id"]), "amount": moved["amount"]})
    return {"received": True, "applied": moved is not None}
