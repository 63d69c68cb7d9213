"""What every event-driven service's process does the same way: open its pool and Redis in the lifespan
(never at import: uvicorn imports the app first), run its background loops, and close it all on the way out.

Background loops sleep until they are told (see `infra.wake`): `until_due` runs a round, sleeps until the
earliest deadline the round reports or a wake-up, and logs (never swallows) a round that fails.
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
from reference_impl.infra.wake import Listener, nap
from reference_impl.policy import IDLE_FALLBACK_S, RETRY_FLOOR_S

log = logging.getLogger("lastunit.service")


async def forever(fn: Callable[[], Awaitable], interval: float, name: str = "background round") -> None:
    """Run `fn` every `interval` seconds; a round that fails is logged and retried next time."""
    while True:
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - a loop that stops is an outage: log and go on
            log.exception("%s failed; retrying in %.1f s", name, interval)
        await asyncio.sleep(interval)


async def until_due(fn: Callable[[], Awaitable[float | None]], wake: asyncio.Event, name: str,
                    floor_s: float = RETRY_FLOOR_S, idle_s: float = IDLE_FALLBACK_S) -> None:
    """Run `fn` (one round of a lease or TTL worker), which returns the seconds until the earliest deadline
    it knows of (None: none); sleep until then, at least `floor_s` and at most `idle_s`, or until `wake`."""
    while True:
        try:
            delay = await fn()
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - a worker that stops strands work: log, retry at the floor
            log.exception("%s failed; retrying in %.1f s", name, floor_s)
            delay = floor_s
        await nap(wake, idle_s if delay is None else min(max(delay, floor_s), idle_s))


def lifespan(database: str, pool_size: int, start: Callable[[FastAPI], list[Awaitable]],
             stop: Callable[[FastAPI], Awaitable] | None = None, channels: tuple[str, ...] = ()):
    """A FastAPI lifespan: `app.state.dsn`, `.pool`, `.redis` and `.listener` (LISTENing on
    `channels` in this service's database), then the coroutines `start(app)` returns as background tasks,
    cancelled (and `stop(app)` awaited) at shutdown."""

    @asynccontextmanager
    async def _lifespan(app: FastAPI):
        app.state.dsn = dsn = database_url(os.environ["LAB_DATABASE_URL"], database)
        app.state.pool = await create_pool(dsn, pool_size)
        app.state.redis = aioredis.from_url(os.environ["LAB_REDIS_URL"])
        app.state.listener = Listener(dsn, channels)
        tasks = [asyncio.create_task(c) for c in [app.state.listener.run_forever(), *start(app)]]
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
