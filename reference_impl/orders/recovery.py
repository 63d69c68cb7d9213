"""The recovery worker: every saga a crash or a lost answer left pending is driven again, or compensated.

It takes the order's lease (only once the live request's lease ran out), then runs the same idempotent
steps the request would have run. A saga that still cannot finish after MAX_DRIVES is cancelled, which
releases its units and voids whatever its payment authorized.

It sleeps until the earliest lease of a pending saga runs out (`next_lease_expiry`), woken early by
`lastunit_orders_recovery` (`wake`: a request that leaves its saga pending says so), so an idle stack costs
it nothing. A crashed process's sagas are found by its successor's first round.
"""

from __future__ import annotations

from reference_impl.infra.client import Unknown
from reference_impl.infra.http import ApiError, DropReply
from reference_impl.orders.saga import Q, Stop, cancel, line
from scenarios.policy import MAX_DRIVES, RECOVERY_LEASE_S

#: The channel a request notifies when it leaves its saga pending (sql/orders.sql `wake_recovery`).
CHANNEL = "lastunit_orders_recovery"


async def wake(pool) -> None:
    async with pool.acquire() as conn:
        await Q.wake_recovery(conn)


async def recover_once(pool, saga, faults) -> float | None:
    """Drive every saga whose lease ran out; return the seconds until the next lease runs out (None: no
    saga is pending)."""
    async with pool.acquire() as conn:
        ids = [r["id"] async for r in Q.stale_pending(conn)]
    for oid in ids:
        async with pool.acquire() as conn:
            order = await Q.take_lease(conn, id=oid, lease_s=RECOVERY_LEASE_S)
        if order is None:
            continue
        if order["drives"] > MAX_DRIVES:
            await saga._release(order)           # its reservation or its group, if it holds either
            async with pool.acquire() as conn:
                await cancel(conn, order, "saga_abandoned", order["payment_id"] is not None,
                             (line("release_stock", "compensated", reason="saga_abandoned"),))
            continue
        try:
            await saga.drive(order, faults)
        except (Stop, Unknown, ApiError, DropReply):
            pass                       # still no answer, a fault fired, or it ended: the next round sees which
    async with pool.acquire() as conn:
        return await Q.next_lease_expiry(conn)
