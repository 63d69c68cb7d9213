"""After the race: receipts, the sale, release and expiry, each one statement or one short transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from reference_impl.inventory.groups import sweep_groups
from reference_impl.inventory.reserve import Q
from scenarios.strategies import Strategy

#: Expire this many reservations per statement: keeps each sweep transaction short under a backlog.
SWEEP_BATCH = 500


async def receive(conn, sku: str, warehouse: str, qty: int, mirror=None) -> str:
    async with conn.transaction():
        await Q.ensure_warehouse(conn, warehouse=warehouse)
        kind = await Q.receive_stock(conn, sku=sku, warehouse=warehouse, qty=qty)
        await Q.record_movement(conn, sku=sku, warehouse=warehouse, kind=kind, qty=qty)
    if mirror is not None:
        await mirror.adjust(sku, warehouse, on_hand=qty)
    return kind


async def settle(conn, reservation_id, action: str, mirror=None) -> dict | None:
    """Commit (sell) or release a held reservation. None when it was not held (already settled)."""
    query = Q.commit_reservation if action == "commit" else Q.release_reservation
    row = await query(conn, id=reservation_id)
    if row is not None and mirror is not None and row["strategy"] == Strategy.REDIS:
        sold = row["qty"] if action == "commit" else 0
        await mirror.adjust(row["sku"], row["warehouse"], on_hand=-sold, reserved=-row["qty"])
    return None if row is None else dict(row)


async def sweep(conn, as_of: datetime, mirror=None) -> int:
    """Expire every held reservation due at `as_of`, a group's lines with their group; return how many
    single reservations and groups expired."""
    total = await sweep_groups(conn, as_of)
    while True:
        rows = [r async for r in Q.expire_due(conn, as_of=as_of, batch=SWEEP_BATCH)]
        for r in rows:
            if mirror is not None and r["strategy"] == Strategy.REDIS:
                await mirror.adjust(r["sku"], r["warehouse"], reserved=-r["qty"])
        total += len(rows)
        if len(rows) < SWEEP_BATCH:
            return total


class Sweeper:
    """Expires held reservations at their TTL, sleeping until the earliest expiry it knows of (no polling on
    an idle stack). Every reservation this process makes passes through `saw`, which wakes it when the new
    one runs out sooner; another process's reservations are its own sweeper's to watch, and a restarted
    process looks at every held one in its first round."""

    def __init__(self, pool, mirror=None):
        self.pool, self.mirror = pool, mirror
        self.wake = asyncio.Event()
        self.due_at: datetime | None = None

    def saw(self, expires_at: datetime | None) -> None:
        if expires_at is not None and (self.due_at is None or expires_at < self.due_at):
            self.due_at = expires_at
            self.wake.set()

    async def round(self) -> float | None:
        """One sweep now; the seconds until the next held reservation runs out (None: none is held)."""
        async with self.pool.acquire() as conn:
            await sweep(conn, datetime.now(UTC), self.mirror)
            self.due_at = await Q.next_expiry(conn)
        return None if self.due_at is None else (self.due_at - datetime.now(UTC)).total_seconds()
