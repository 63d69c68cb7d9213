"""The batched strategy in the model: reference_impl/inventory/coalesce.py and batch.py (sql/batch.sql).

Covers: asks for one SKU gathered while that SKU's previous batch is in flight (one batch at a time, at most
    BATCH_MAX asks), one pooled connection and one statement per batch: the rows with room in the
    statement's snapshot locked in warehouse order, re-read at their newest values, the asks granted in
    arrival order fullest row first, one commit for the whole batch.
Scenario: a request that reached the service hands its ask to the Batcher and waits, holding no pool
    connection (the real request awaits a future); the batch's driver process does the database work.
    Each ask's answer is (outcome, row, retries) as `sim.service.reserve` returns it.
"""

from __future__ import annotations

from contextlib import ExitStack

from scenarios.policy import BATCH_MAX
from scenarios.results import Outcome
from sim.rowlock import commit_many, granted

WON, OUT_OF_STOCK = Outcome.WON.value, Outcome.OUT_OF_STOCK.value


class Batcher:
    def __init__(self, shop, max_batch: int = BATCH_MAX):
        self.shop, self.max_batch = shop, max_batch
        self.waiting: dict[int, list] = {}
        self.draining: set[int] = set()
        self.batches = self.asks = 0

    def submit(self, sku: int):
        """One ask of `shop.qty` units of `sku`; returns (outcome, row, retries) when its batch is done."""
        env = self.shop.env
        answer = env.event()
        self.waiting.setdefault(sku, []).append(answer)
        if sku not in self.draining:
            self.draining.add(sku)
            env.process(self._drain(sku))
        result = yield answer
        return result

    def _drain(self, sku: int):
        while queue := self.waiting.pop(sku, None):
            batch, rest = queue[:self.max_batch], queue[self.max_batch:]
            if rest:
                self.waiting[sku] = rest
            self.batches += 1
            self.asks += len(batch)
            results = yield from self._statement(sku, len(batch))
            for answer, result in zip(batch, results, strict=True):
                answer.succeed(result)
        self.draining.discard(sku)

    def _statement(self, sku: int, n: int):
        """reserve_batch: one round trip, one transaction; the answers in arrival order."""
        shop, qty = self.shop, self.shop.qty
        with shop.pool.request() as conn:
            if not conn.triggered:
                yield conn
            yield from shop.send()
            rows = sorted((r for r in shop.stock.of(sku) if r.available() >= qty), key=lambda r: r.warehouse)
            with ExitStack() as locks:
                for row in rows:                                 # warehouse order: batches never deadlock
                    req = locks.enter_context(row.lock.request())
                    if not req.triggered:
                        yield from granted(shop, row, req)
                split, left = [], n
                for row in sorted(rows, key=lambda r: (r.reserved - r.on_hand, r.warehouse)):  # fullest first
                    units = min(row.available() // qty, left)    # the newest values, under the lock
                    if units > 0:
                        split.append((row, units))
                        left -= units
                yield shop.wait(shop.stmt_s + (shop.commit_s if split else 0.0))
                for row, units in split:
                    commit_many(shop, row, qty, units)           # the one commit: every grant at once
        results = [(WON, row, 0) for row, units in split for _ in range(units)]
        return results + [(OUT_OF_STOCK, None, 0)] * (n - len(results))
