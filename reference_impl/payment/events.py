"""What the payment service does when the order saga speaks: capture a confirmed order, void or refund a
cancelled one. Every provider call carries a key derived from our payment id, so redelivery is harmless:
the provider replays what it did, and there is nothing of ours to record (no `Dedup` write)."""

from __future__ import annotations

from reference_impl.infra.client import Unknown
from reference_impl.payment.authorize import PROVIDER_KEY_PREFIX, Q


class PaymentEvents:
    def __init__(self, psp):
        self.psp = psp

    async def _provider(self, method: str, path: str, key: str | None = None) -> tuple[int, dict]:
        headers = {"Idempotency-Key": key} if key else None
        status, body = await self.psp.call(method, path, headers=headers)
        return status, body

    async def _act(self, payment_id, charge_id: str, action: str) -> None:
        status, body = await self._provider("POST", f"/v1/charges/{charge_id}/{action}",
                                            f"{PROVIDER_KEY_PREFIX}{payment_id}-{action}")
        # invalid_transition: already past this state (e.g. voided before a late capture), nothing to do.
        # Anything else, including a key still held by a request the provider lost in a crash, is retried.
        if status != 200 and not (status == 409 and body.get("error") == "invalid_transition"):
            raise Unknown(f"provider {action} of {charge_id}: {status} {body.get('error')} {body.get('detail')}")

    async def order_confirmed(self, conn, event: dict, _dedup=None) -> None:
        p = await Q.get_payment(conn, id=event["payment_id"])
        if p is not None and p["psp_charge_id"] and p["status"] == "authorized":
            await self._act(p["id"], p["psp_charge_id"], "capture")

    async def order_cancelled(self, conn, event: dict, _dedup=None) -> None:
        """Give back every charge this order made: void what is authorized, refund what was captured."""
        async for p in Q.payments_of_order(conn, order_id=event["order_id"]):
            if not p["psp_charge_id"]:
                continue
            status, charge = await self._provider("GET", f"/v1/charges/{p['psp_charge_id']}")
            if status != 200:
                raise Unknown(f"provider lookup of {p['psp_charge_id']}: {status}")
            if charge["status"] == "authorized":
                await self._act(p["id"], p["psp_charge_id"], "void")
            elif charge["status"] == "captured":
                await self._act(p["id"], p["psp_charge_id"], "refund")

    def handlers(self) -> dict:
        return {"OrderConfirmed": self.order_confirmed, "OrderCancelled": self.order_cancelled}
