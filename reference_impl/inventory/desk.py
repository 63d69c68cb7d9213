"""One process's way to a reservation: the sold-out memory first, then a batch or a pooled connection.

Why here and not in the HTTP handler: the short-circuit and the batching decide which asks reach the
database at all; `app.py` only turns the Result into HTTP.
"""

from __future__ import annotations

from reference_impl.inventory import batch
from reference_impl.inventory.coalesce import Coalescer
from reference_impl.inventory.reserve import Ask, Q, Result, reserve
from reference_impl.inventory.soldout import SoldOutMemory
from scenarios.policy import BATCH_MAX, SOLD_OUT_MAX_WINNERS
from scenarios.strategies import SoldOut, Strategy, sold_out_mode


class Desk:
    def __init__(self, pool, mirror=None, memory: SoldOutMemory | None = None, max_batch: int = BATCH_MAX):
        self.pool, self.mirror = pool, mirror
        self.memory = memory or SoldOutMemory()
        self.batcher = Coalescer(self._run_batch, max_batch)
        self._learning: set[tuple] = set()

    async def reserve(self, ask: Ask) -> Result:
        mode = sold_out_mode(ask.strategy, ask.sold_out)
        if mode is not SoldOut.OFF and self.memory.refuses(ask.sku, ask.warehouse, ask.qty, ask.attempt_id, mode):
            return Result(None, 0, from_memory=True)
        epoch = self.memory.epoch(ask.sku)
        if ask.strategy is Strategy.BATCHED:
            result = await self.batcher.submit(batch.Key(ask.sku, ask.warehouse, ask.qty), ask)
        else:
            async with self.pool.acquire() as conn:
                result = await reserve(conn, ask, self.mirror)
        if result.reservation is None and mode is not SoldOut.OFF:
            await self._learn(ask, epoch, mode)
        return result

    async def _run_batch(self, key: batch.Key, asks: list[Ask]) -> list:
        """Asks that queued while the memory learned "sold out" are answered from it, as a newcomer would be
        (a 10,000-buyer burst queues thousands behind the batch that finds the last unit gone)."""
        refused = [sold_out_mode(a.strategy, a.sold_out) is not SoldOut.OFF and self.memory.refuses(
            a.sku, a.warehouse, a.qty, a.attempt_id, sold_out_mode(a.strategy, a.sold_out)) for a in asks]
        rest = [a for a, r in zip(asks, refused, strict=True) if not r]
        answers = iter(await batch.run_batch(self.pool, key, rest) if rest else [])
        return [Result(None, 0, from_memory=True) if r else next(answers) for r in refused]

    async def _learn(self, ask: Ask, epoch: int, mode: SoldOut) -> None:
        """Remember the refusal, with the attempt ids that hold reservations on the SKU (see soldout.py).
        Once per SKU at a time: the other refused asks of a batch find it learned or being learned."""
        key = (ask.sku, ask.warehouse, mode)
        if key in self._learning or self.memory.knows(ask.sku, ask.warehouse, ask.qty, mode):
            return
        self._learning.add(key)
        try:
            async with self.pool.acquire() as conn:
                holders = [r["attempt_id"] async for r in Q.attempts_holding(
                    conn, sku=ask.sku, warehouse=ask.warehouse, cap=SOLD_OUT_MAX_WINNERS + 1)]
            if len(holders) <= SOLD_OUT_MAX_WINNERS:
                self.memory.learn(ask.sku, ask.warehouse, ask.qty, holders, epoch, mode)
        finally:
            self._learning.discard(key)

    async def close(self) -> None:
        await self.batcher.close()
