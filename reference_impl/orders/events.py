"""The saga's asynchronous half: payment finality from the provider's webhook, shipping, and the
compensation when shipping fails after payment.

Each handler reads the order, makes its keyed or read-only call to inventory, then writes its whole effect
(the move, its saga-log lines, its event and the consumed event's id) in one statement (`transition`), so a
redelivery of the event changes nothing (see infra.bus `Dedup`).
"""

from __future__ import annotations

from reference_impl.infra import bus
from reference_impl.infra.client import Unknown
from reference_impl.orders.basket import held_path
from reference_impl.orders.saga import Q, cancel, line, transition
from scenarios.states import OrderStatus as S
from scenarios.states import sources


class OrderEvents:
    def __init__(self, pool, inventory):
        self.pool, self.inventory = pool, inventory

    async def _held(self, order) -> bool:
        """Whether the order's units (its reservation, or its group: every line) are still held for it."""
        status, r = await self.inventory.call("GET", held_path(order))
        return status == 200 and r.get("state") == "held"

    async def payment_captured(self, conn, event: dict, dedup: bus.Dedup) -> None:
        order = await Q.get_order(conn, id=event["order_id"])
        if order is None or str(order["payment_id"]) != event["payment_id"]:
            return                     # a charge this order does not stand on: the auditor counts it
        if order["status"] == S.CANCELLED:
            # Money arrived after the cancellation: announce it again, so it is refunded.
            await Q.announce_once(conn, topic="OrderCancelled", **bus.dedup_params(dedup), payload=bus.dumps(
                {"order_id": event["order_id"], "user_id": order["user_id"], "reason": order["cancel_reason"],
                 "payment_made": True, "reservation_id": order["reservation_id"],
                 "reservation_group_id": order["reservation_group_id"]}))
            return
        if order["status"] != S.CONFIRMED:
            return
        if not await self._held(order):
            # The reservation expired before payment was final: the unit may be sold to someone else.
            # Refund, never oversell.
            await cancel(conn, order, "reservation_expired", True,
                         (line("paid", "failed", reason="reservation_expired"),), dedup)
            return
        await transition(conn, order, S.PAID, sources(S.PAID), [line("paid", "done", payment_id=event["payment_id"])],
                         "OrderPaid", {"order_id": event["order_id"], "user_id": order["user_id"],
                                       "sku": order["sku"], "qty": order["qty"]}, dedup=dedup)

    async def shipment_created(self, conn, event: dict, dedup: bus.Dedup) -> None:
        order = await Q.get_order(conn, id=event["order_id"])
        if order is None or order["status"] != S.PAID:
            return
        status, _ = await self.inventory.call("POST", f"{held_path(order)}/commit")   # every line, or none
        if status != 200:
            await cancel(conn, order, "stock_lost", order["payment_id"] is not None,
                         (line("sell_stock", "failed", status=status),), dedup)
            return
        await transition(conn, order, S.SHIPPED, sources(S.SHIPPED),
                         [line("sell_stock", "done"), line("ship", "done", tracking_id=event.get("tracking_id"))],
                         "OrderShipped", {"order_id": event["order_id"], "user_id": order["user_id"],
                                          "tracking_id": event.get("tracking_id")},
                         shipment_id=event["shipment_id"], dedup=dedup)

    async def shipment_failed(self, conn, event: dict, dedup: bus.Dedup) -> None:
        order = await Q.get_order(conn, id=event["order_id"])
        if order is None or order["status"] not in (S.CONFIRMED, S.PAID):
            return
        status, _ = await self.inventory.call("POST", f"{held_path(order)}/release")   # every line
        if status not in (200, 409):
            raise Unknown(f"release of {held_path(order)}: {status}")
        await cancel(conn, order, "shipping_failed", order["payment_id"] is not None,
                     (line("ship", "failed", reason=event.get("reason")), line("release_stock", "compensated"),
                      line("refund_or_void", "started")), dedup)

    def handlers(self) -> dict:
        return {"PaymentCaptured": self.payment_captured, "ShipmentCreated": self.shipment_created,
                "ShipmentFailed": self.shipment_failed}
