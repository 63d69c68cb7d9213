"""Shipping's work: OrderPaid -> a label (fault point `shipping.create_label`) -> ShipmentCreated, or
ShipmentFailed when the carrier refuses; OrderCancelled voids a label made before the cancel.

Why a label is idempotent per order: the bus delivers at least once, and a redelivered OrderPaid must find
the label it already made rather than ship twice.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import aiosql

from reference_impl.infra import bus
from reference_impl.infra.http import ApiError, DropReply
from reference_impl.infra.run_config import RunConfig
from scenarios.faults import FaultPoint

Q = aiosql.from_path(str(resources.files("reference_impl.shipping") / "sql"), "asyncpg", mandatory_parameters=False)
CARRIERS = ("ups", "dhl", "fedex", "usps")


def carrier_for(order_id: str) -> str:
    """Deterministic per order, so a redelivered event picks the same carrier."""
    return CARRIERS[int(hashlib.sha256(order_id.encode()).hexdigest(), 16) % len(CARRIERS)]


class Shipping:
    def __init__(self, faults: RunConfig):
        self.faults = faults

    async def order_paid(self, conn, event: dict, dedup: bus.Dedup) -> None:
        """The label and its ShipmentCreated (or ShipmentFailed) in one statement with the event's id."""
        oid = event["order_id"]
        try:
            drop = await self.faults.at(FaultPoint.SHIPPING_CREATE_LABEL, defer_drop=True)
        except ApiError as exc:          # the carrier refused: a business failure the saga compensates
            await Q.refuse_label(conn, order_id=oid, reason=exc.body["detail"], **bus.dedup_params(dedup))
            return
        carrier = carrier_for(oid)
        tracking = f"{carrier.upper()}{hashlib.sha256(oid.encode()).hexdigest()[:12].upper()}"
        await Q.create_label(conn, id=f"shp_{oid[:8]}_{tracking[-6:]}", order_id=oid, carrier=carrier,
                             tracking_id=tracking, label_url=f"https://labels.invalid/{tracking}.pdf",
                             **bus.dedup_params(dedup))
        if drop:
            raise DropReply(oid)         # label made, acknowledgement lost: the event comes again, harmlessly

    async def order_cancelled(self, conn, event: dict, _dedup=None) -> None:
        await Q.cancel_shipment(conn, order_id=event["order_id"])

    def handlers(self) -> dict:
        return {"OrderPaid": self.order_paid, "OrderCancelled": self.order_cancelled}


async def shipment_of(pool, order_id: str) -> dict | None:
    async with pool.acquire() as conn:
        row = await Q.shipment_of(conn, order_id=order_id)
    return None if row is None else {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(row).items()}
