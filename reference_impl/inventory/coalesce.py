"""Gather concurrent asks per key while that key's previous batch is in flight; one batch at a time per key.

Why no timer: a batch starts the moment its key is idle, so a lone ask waits for nothing; under a crowd,
every ask that arrives while a batch is at the database joins the next one. The batch size follows the load
by itself (group commit), and one buyer never pays a timer to save another a round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

RunBatch = Callable[[Hashable, list[Any]], Awaitable[Sequence[Any]]]


class Coalescer:
    """`await submit(key, item)` answers that item's result; `run(key, items)` answers one result per item,
    in order (a result that is an exception is raised to that item's waiter), or raises, and then every
    waiter of that batch gets the exception."""

    def __init__(self, run: RunBatch, max_batch: int):
        if max_batch < 1:
            raise ValueError("max_batch: at least 1")
        self._run, self.max_batch = run, max_batch
        self._waiting: dict[Hashable, list[tuple[Any, asyncio.Future]]] = {}
        self._draining: set[Hashable] = set()
        self._tasks: set[asyncio.Task] = set()
        self.batches = 0          # counters, for the bench and the tests: batches run and asks in them
        self.asks = 0

    async def submit(self, key: Hashable, item: Any) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((item, fut))
        if key not in self._draining:
            self._draining.add(key)
            task = asyncio.create_task(self._drain(key))
            self._tasks.add(task)                 # keep a reference: the loop holds tasks only weakly
            task.add_done_callback(self._tasks.discard)
        return await fut

    async def _drain(self, key: Hashable) -> None:
        try:
            while queue := self._waiting.pop(key, None):
                batch, rest = queue[:self.max_batch], queue[self.max_batch:]
                if rest:
                    self._waiting[key] = rest
                await self._one(key, batch)
        finally:
            self._draining.discard(key)

    async def _one(self, key: Hashable, batch: list[tuple[Any, asyncio.Future]]) -> None:
        self.batches += 1
        self.asks += len(batch)
        try:
            results = await self._run(key, [item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(results)} results")
        except asyncio.CancelledError:
            for _, fut in batch:
                fut.cancel()
            raise
        except Exception as exc:   # noqa: BLE001 - handed to every waiter of this batch, who answers 5xx
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (_, fut), result in zip(batch, results, strict=False):
            if fut.done():
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
