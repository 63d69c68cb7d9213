"""The saga's asynchronous half: payment finality from the provider's webhook, shipping, and the
compensation when shipping fails after payment. Each handler runs once per event (see infra.bus)."""

from __future__ import annotations

from reference_impl.infra import bus
from reference_impl.infra.client import Unknown
from reference_impl.orders.saga import Q, cancel, log
from scenarios.states import OrderStatus as S
from scenarios.states import sources


class OrderEvents:
    def __init__(self, pool, inventory):
        self.pool, self.inventory = pool, inventory

    async def _held(self, reservation_id) -> bool:
        status, r = await self.inventory.call("GET", f"/reservations/{reservation_id}")
        return status == 200 and r.get("state") == "held"

    async def payment_captured(self, conn, event: dict) -> None:
        order = await Q.get_order(conn, id=event["order_id"])
        if order is None or str(order["payment_id"]) != event["payment_id"]:
            return                     # a charge this order does not stand on: the auditor counts it
        if order["status"] == S.CANCELLED:
            await bus.publish(conn, "OrderCancelled", {"order_id": event["order_id"], "user_id": order["user_id"],
                                                      "reason": order["cancel_reason"], "payment_made": True,
                                                      "reservation_id": order["reservation_id"]})
            return                     # money arrived after the cancellation: announce again, so it is refunded
        if order["status"] != S.CONFIRMED:
            return
        if not await self._held(order["reservation_id"]):
            # The reservation expired before payment was final: the unit may be sold to someone else.
            # Refund, never oversell.
            await log(conn, order["id"], "paid", "failed", reason="reservation_expired")
            await _cancel_in(conn, order, "reservation_expired")
            return
        moved = await Q.move(conn, id=order["id"], to_status=S.PAID, reason=None, shipment_id=None,
                             from_statuses=sources(S.PAID))
        if moved is not None:
            await log(conn, order["id"], "paid", "done", payment_id=event["payment_id"])
            await bus.publish(conn, "OrderPaid", {"order_id": event["order_id"], "user_id": order["user_id"],
                                                 "sku": order["sku"], "qty": order["qty"]})

    async def shipment_created(self, conn, event: dict) -> None:
        order = await Q.get_order(conn, id=event["order_id"])
        if order is None or order["status"] != S.PAID:
            return
        status, _ = await self.inventory.call("POST", f"/reservations/{order['reservation_id']}/commit")
        if status != 200:
            await log(conn, order["id"], "sell_stock", "failed", status=status)
            await _cancel_in(conn, order, "stock_lost")
            return
        await log(conn, order["id"], "sell_stock", "done")
        moved = await Q.move(conn, id=order["id"], to_status=S.SHIPPED, reason=None,
                             shipment_id=event["shipment_id"], from_statuses=sources(S.SHIPPED))
        if moved is None:          # moved on meanwhile (this transaction lost the row to another handler)
            await log(conn, order["id"], "ship", "failed", reason="not_paid_any_more")
            return
        await log(conn, order["id"], "ship", "done", tracking_id=event.get("tracking_id"))
        await bus.publish(conn, "OrderShipped", {"order_id": event["order_id"], "user_id": order["user_id"],
                                                "tracking_id": event.get("tracking_id")})

    async def shipment_failed(self, conn, event: dict) -> None:
        order = await Q.get_order(conn, id=event["order_id"])
        if order is None or order["status"] not in (S.CONFIRMED, S.PAID):
            return
        await log(conn, order["id"], "ship", "failed", reason=event.get("reason"))
        status, _ = await self.inventory.call("POST", f"/reservations/{order['reservation_id']}/release")
        if status not in (200, 409):
            raise Unknown(f"release of {order['reservation_id']}: {status}")
        await log(conn, order["id"], "release_stock", "compensated")
        await log(conn, order["id"], "refund_or_void", "started")
        await _cancel_in(conn, order, "shipping_failed")

    def handlers(self) -> dict:
        return {"PaymentCaptured": self.payment_captured, "ShipmentCreated": self.shipment_created,
                "ShipmentFailed": self.shipment_failed}


async def _cancel_in(conn, order, reason: str) -> None:
    await cancel(conn, order, reason, order["payment_id"] is not None)
