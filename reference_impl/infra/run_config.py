"""The running scenario as services see it: its knobs, and the named fault points fired as it asks.

`lastunit run` writes the scenario (faults and knobs such as payment.idempotency) to one Redis key; each
service reads it (cached briefly) at its fault points and decisions. `crash` is a real process exit (the supervisor restarts us); `drop_reply` lets the work finish and
then never answers, so the caller sees what a lost reply looks like: a timeout, effect unknown.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time

from reference_impl.infra.http import ApiError, DropReply
from scenarios.faults import FaultAction, FaultPoint, decide
from scenarios.spec import Fault

RUN_KEY = "lastunit:run"
FIRED_KEY = "lastunit:faults:fired"
#: Faults change between runs, not within a request: re-reading Redis this often is plenty.
CACHE_S = 0.25
#: Exit code of an injected crash, so logs tell it apart from a real one.
CRASH_EXIT = 86


class RunConfig:
    def __init__(self, redis, service: str):
        self.redis, self.service = redis, service
        self._cache: tuple[float, dict] = (-1e9, {})

    async def current(self) -> dict:
        at, run = self._cache
        if time.monotonic() - at > CACHE_S:
            raw = await self.redis.get(RUN_KEY)
            run = json.loads(raw) if raw else {}
            self._cache = (time.monotonic(), run)
        return run

    async def knob(self, section: str, name: str, default):
        return (await self.current()).get(section, {}).get(name, default)

    async def _faults(self) -> list[dict]:
        return (await self.current()).get("faults", [])

    async def at(self, point: FaultPoint, defer_drop: bool = False) -> bool:
        """Fire `point` if a fault is set there and its dice say so. Returns True when a reply is to be
        dropped and `defer_drop` asked to decide later (the work must finish first)."""
        d = decide([Fault(FaultPoint(f["point"]), FaultAction(f["action"]), f.get("probability", 1.0),
                          f.get("delay_ms", 0)) for f in await self._faults()], point, random.random)
        for name in d.fired:
            await self.redis.hincrby(FIRED_KEY, name, 1)
        if d.delay_s:
            await asyncio.sleep(d.delay_s)
        if d.action is FaultAction.CRASH:
            os._exit(CRASH_EXIT)
        if d.action is FaultAction.ERROR:
            raise ApiError(503, "injected_fault", f"fault {point.value}: error")
        if d.action is FaultAction.DROP_REPLY:
            if defer_drop:
                return True
            raise DropReply(point.value)
        return False


def set_run(redis, run: dict | None) -> None:
    """Install a scenario's faults and knobs for every service (None clears them). Sync: the CLI's side.

    Returns once every service sees the change: each caches what it read for CACHE_S, so without the
    wait a request in the next quarter second could run under the old faults (a label meant to fail
    shipped, because shipping had read "no faults" just before)."""
    redis.delete(FIRED_KEY)
    if run:
        redis.set(RUN_KEY, json.dumps(run, default=str))
    else:
        redis.delete(RUN_KEY)
    time.sleep(CACHE_S + 0.05)


def fired(redis) -> dict[str, int]:
    """How often each fault fired since `set_run`, keyed `point:action`."""
    return {k.decode(): int(v) for k, v in redis.hgetall(FIRED_KEY).items()}
