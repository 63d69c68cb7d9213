"""What every event-driven service's process does the same way: open its pool and Redis in the lifespan
(never at import: uvicorn imports the app first), run its background loops, and close it all on the way out.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from reference_impl.infra.db import create_pool
from reference_impl.infra.settings import database_url

log = logging.getLogger("lastunit.service")


async def forever(fn: Callable[[], Awaitable], interval: float) -> None:
    """Run `fn` every `interval` seconds; a round that fails is logged and retried next time."""
    while True:
        try:
            await fn()
        except Exception as exc:   # noqa: BLE001 - a database away for a moment must not end the loop
            log.warning("%s failed: %s: %s", getattr(fn, "__name__", fn), type(exc).__name__, exc)
        await asyncio.sleep(interval)


def lifespan(database: str, pool_size: int, start: Callable[[FastAPI], list[Awaitable]],
             stop: Callable[[FastAPI], Awaitable] | None = None):
    """A FastAPI lifespan: `app.state.pool` and `app.state.redis`, then the coroutines `start(app)` returns
    as background tasks, cancelled (and `stop(app)` awaited) at shutdown."""

    @asynccontextmanager
    async def _lifespan(app: FastAPI):
        app.state.pool = await create_pool(database_url(os.environ["LAB_DATABASE_URL"], database), pool_size)
        app.state.redis = aioredis.from_url(os.environ["LAB_REDIS_URL"])
        tasks = [asyncio.create_task(c) for c in start(app)]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if stop is not None:
                await stop(app)
            await app.state.pool.close()
            await app.state.redis.aclose()

    return _lifespan


def add_healthz(app: FastAPI, name: str) -> None:
    @app.get("/healthz")
    async def healthz():
        return {"ok": True, "service": name, "pid": os.getpid()}
