"""What every service's process does the same way: open its pool and Redis in the lifespan (never at import:
uvicorn imports the app first), run its background loops, and close it all on the way out.

Background loops sleep until they are told (see `infra.wake`): `until_due` runs a round, sleeps until the
earliest deadline the round reports or a wake-up, and logs (never swallows) a round that fails.
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
from reference_impl.infra.wake import Listener, nap
from scenarios.policy import IDLE_FALLBACK_S, RETRY_FLOOR_S

log = logging.getLogger("lastunit.service")


async def forever(fn: Callable[[], Awaitable], interval: float, name: str | None = None) -> None:
    """Run `fn` every `interval` seconds; a round that fails is logged and retried next time (a background
    loop that swallowed its errors hid a key retried forever)."""
    while True:
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception:   # noqa: BLE001 - the loop must outlive one bad round
            log.exception("background round %s failed; retrying in %.1fs", name or getattr(fn, "__name__", fn),
                          interval)
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


def lifespan(database: str | None = None, pool_size: int = 4,
             start: Callable[[FastAPI], list[Awaitable]] | None = None,
             stop: Callable[[FastAPI], Awaitable] | None = None, *, redis: bool = True,
             channels: tuple[str, ...] = (), warm: bool = False):
    """A FastAPI lifespan: `app.state.pool` and `app.state.dsn` (when the service owns a database),
    `app.state.redis` (unless `redis=False`) and `app.state.listener` (LISTENing on `channels` in the
    service's database; `warm`: every pool connection opened up front, see `create_pool`); then `start(app)`, which may set up more state and returns the coroutines to run
    as background tasks, cancelled (and `stop(app)` awaited) at shutdown."""

    @asynccontextmanager
    async def _lifespan(app: FastAPI):
        app.state.dsn = dsn = database_url(os.environ["LAB_DATABASE_URL"], database) if database else None
        app.state.pool = await create_pool(dsn, pool_size, warm=warm) if database else None
        app.state.redis = aioredis.from_url(os.environ["LAB_REDIS_URL"]) if redis else None
        app.state.listener = Listener(dsn, channels) if database else None
        started = start(app) if start else []
        if inspect.isawaitable(started):          # a start that must await its setup (e.g. a secret from Redis)
            started = await started
        listening = [app.state.listener.run_forever()] if app.state.listener else []
        tasks = [asyncio.create_task(c) for c in [*listening, *started]]
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
