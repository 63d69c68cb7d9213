"""What every service's process does the same way: open its pool and Redis in the lifespan (never at import:
uvicorn imports the app first), run its background loops, and close it all on the way out.
"""

from __future__ import annotations

import asyncio
import inspect
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
    """Run `fn` every `interval` seconds; a round that fails is logged and retried next time (a background
    loop that swallowed its errors hid a key retried forever)."""
    while True:
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - the loop must outlive one bad round
            log.exception("background round %s failed; retrying in %.1fs", getattr(fn, "__name__", fn), interval)
        await asyncio.sleep(interval)


def lifespan(database: str | None = None, pool_size: int = 4,
             start: Callable[[FastAPI], list[Awaitable]] | None = None,
             stop: Callable[[FastAPI], Awaitable] | None = None, *, redis: bool = True):
    """A FastAPI lifespan: `app.state.pool` (when the service owns a database) and `app.state.redis` (unless
    `redis=False`); then `start(app)`, which may set up more state and returns the coroutines to run as
    background tasks, cancelled (and `stop(app)` awaited) at shutdown."""

    @asynccontextmanager
    async def _lifespan(app: FastAPI):
        app.state.pool = (await create_pool(database_url(os.environ["LAB_DATABASE_URL"], database), pool_size)
                          if database else None)
        app.state.redis = aioredis.from_url(os.environ["LAB_REDIS_URL"]) if redis else None
        started = start(app) if start else []
        if inspect.isawaitable(started):          # a start that must await its setup (e.g. a secret from Redis)
            started = await started
        tasks = [asyncio.create_task(c) for c in started]
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if stop is not None:
                await stop(app)
            if app.state.pool is not None:
                await app.state.pool.close()
            if app.state.redis is not None:
                await app.state.redis.aclose()

    return _lifespan


def add_healthz(app: FastAPI, name: str) -> None:
    @app.get("/healthz")
    async def healthz():
        return {"ok": True, "service": name, "pid": os.getpid()}
