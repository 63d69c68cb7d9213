"""The redis strategy's counters: a hash per SKU and warehouse, loaded from PostgreSQL on first use.

Redis decides (one Lua script, so one buyer at a time); PostgreSQL records the grant afterwards so the
auditor reads the same tables for every strategy. The redis strategy owns a SKU's counter: mixing it with
a SQL strategy on the same SKU is not supported, because SQL reservations do not pass through Redis.
"""

from __future__ import annotations

from importlib import resources

KEY_PREFIX = "lastunit:stock:"


def _lua(name: str) -> str:
    return (resources.files("reference_impl.inventory") / "lua" / name).read_text()


def key(sku: str, warehouse: str) -> str:
    return f"{KEY_PREFIX}{sku}:{warehouse}"


class RedisMirror:
    def __init__(self, client):
        self.client = client
        self._reserve = client.register_script(_lua("reserve.lua"))
        self._adjust = client.register_script(_lua("adjust.lua"))

    async def try_reserve(self, sku: str, warehouse: str, qty: int, load) -> bool:
        """Grant `qty` atomically; `load()` returns (on_hand, reserved) from PostgreSQL when unloaded."""
        k = key(sku, warehouse)
        granted = await self._reserve(keys=[k], args=[qty])
        if granted == -1:
            on_hand, reserved = await load()
            # HSETNX: of several buyers loading at once, the first one's values stand.
            async with self.client.pipeline(transaction=True) as p:
                p.hsetnx(k, "on_hand", on_hand)
                p.hsetnx(k, "reserved", reserved)
                await p.execute()
            granted = await self._reserve(keys=[k], args=[qty])
        return granted == 1

    async def adjust(self, sku: str, warehouse: str, on_hand: int = 0, reserved: int = 0) -> None:
        await self._adjust(keys=[key(sku, warehouse)], args=[on_hand, reserved])
