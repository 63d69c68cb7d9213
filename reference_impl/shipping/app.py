"""The shipping service: consumes OrderPaid, creates the label (fault point `shipping.create_label`),
announces ShipmentCreated or ShipmentFailed; voids the label of an order cancelled afterwards."""

from __future__ import annotations

import hashlib
from importlib import resources

import aiosql
from fastapi import FastAPI

from reference_impl.infra import bus
from reference_impl.infra.faults import FaultPoint
from reference_impl.infra.http import ApiError, DropReply, install_error_handlers
from reference_impl.infra.run_config import RunConfig
from reference_impl.infra.service import add_healthz, lifespan

CARRIERS = ("ups", "dhl", "fedex", "usps")
Q = aiosql.from_path(str(resources.files("reference_impl.shipping") / "sql"), "asyncpg", mandatory_parameters=False)


def carrier_for(order_id: str) -> str:
    """Deterministic per order, so a redelivered event picks the same carrier."""
    return CARRIERS[int(hashlib.sha256(order_id.encode()).hexdigest(), 16) % len(CARRIERS)]


class Shipping:
    def __init__(self, faults: RunConfig):
        self.faults = faults

    async def order_paid(self, conn, event: dict, dedup: bus.Dedup) -> None:
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
        await Q.cancel_label(conn, order_id=event["order_id"])

    def handlers(self) -> dict:
        return {"OrderPaid": self.order_paid, "OrderCancelled": self.order_cancelled}


def _start(app: FastAPI) -> list:
    shipping = Shipping(RunConfig(app.state.redis, "shipping"))
    return [bus.relay_forever(app.state.dsn, app.state.redis, "shipping"),
            bus.consume_forever(app.state.pool, app.state.redis, "shipping", shipping.handlers())]


app = FastAPI(title="lastunit shipping", lifespan=lifespan("shipping", 4, _start))
install_error_handlers(app)
add_healthz(app, "shipping")


@app.get("/shipments/{order_id}")
async def shipment(order_id: str):
    async with app.state.pool.acquire() as conn:
        row = await Q.shipment_of(conn, order_id=order_id)
    if row is None:
        raise ApiError(404, "unknown_shipment", f"no shipment for order {order_id}")
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(row).items()}
