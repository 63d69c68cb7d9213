"""The naive control's barrier on the real Redis: a racer whose partner never comes waits out the whole
bound and then writes (the control still oversells with whoever read), never an error. One BLPOP as long as
the bound outlasted redis-py's 5 s socket timeout: the racer answered `503 redis_unavailable` instead."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
import redis.asyncio as aioredis

from reference_impl import stack
from reference_impl.inventory import naive_barrier
from tests.conftest import STACK

pytestmark = [*STACK, pytest.mark.slow]


def test_a_racer_alone_waits_out_a_bound_longer_than_the_socket_timeout(monkeypatch):
    monkeypatch.setattr(naive_barrier, "NAIVE_BARRIER_MAX_S", 6.5)

    async def alone() -> tuple[bool, float]:
        r = aioredis.from_url(stack.server_url("redis"))
        try:
            t0 = time.monotonic()
            arrival = await naive_barrier.arrive(r, f"t-{secrets.token_hex(4)}", readers=2)
            released = await arrival.wait()
            return released, time.monotonic() - t0
        finally:
            await r.aclose()

    released, waited = asyncio.run(alone())
    assert not released and waited >= 6.0


def test_the_last_racer_in_releases_the_others():
    async def race() -> list[bool]:
        r = aioredis.from_url(stack.server_url("redis"))
        try:
            name = f"t-{secrets.token_hex(4)}"
            first = await naive_barrier.arrive(r, name, readers=3)
            second = await naive_barrier.arrive(r, name, readers=3)
            waiting = [asyncio.create_task(a.wait()) for a in (first, second)]
            last = await naive_barrier.arrive(r, name, readers=3)
            return [*await asyncio.gather(*waiting), await last.wait()]
        finally:
            await r.aclose()

    assert asyncio.run(race()) == [True, True, True]
