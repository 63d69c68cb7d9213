"""The naive control's barrier: in a race, no racer writes before every racer that can read has read.

Why: a control must fail by construction, not by timing luck. A window of N ms only makes reads overlap
when the racers arrive within N ms of each other; on a busy machine they did not, and the control sold the
last unit once. Here each racer counts itself in (Redis INCR, shared by every inventory process) right
after its read; the racer that completes the count wakes the others (one token each on a list they block
on), so every read provably comes before any write. Bounded by NAIVE_BARRIER_MAX_S: a racer whose request
was lost cannot hold the race forever; the ones that did read still write on stale values and oversell.
"""

from __future__ import annotations

import time

from scenarios.strategies import NAIVE_BARRIER_MAX_S

#: The race's keys outlive any race (they expire on their own; a race id is never reused).
KEY_TTL_S = 600
#: One BLPOP blocks at most this long, then the wait goes on with another: redis-py's asyncio client reads
#: with a 5 s socket timeout by default, so one 10 s BLPOP ended in a TimeoutError and the racer answered
#: `503 redis_unavailable` (a swarm's naive control then counted 4 of 10 racers unknown, not oversold).
BLOCK_SLICE_S = 2.0


def _key(race: str) -> str:
    return f"lab:naive:{race}"


class Arrival:
    """One racer counted in: `wait()` returns once all `readers` have read, or the bound passed."""

    def __init__(self, redis, race: str, readers: int, position: int, t0: float):
        self.redis, self.race, self.readers, self.position, self.t0 = redis, race, readers, position, t0

    async def wait(self) -> bool:
        if self.position >= self.readers:
            return True                    # the last one in (or one arriving after the race was released)
        while (left := NAIVE_BARRIER_MAX_S - (time.monotonic() - self.t0)) > 0:
            if await self.redis.blpop([_key(self.race) + ":go"], timeout=min(left, BLOCK_SLICE_S)) is not None:
                return True
        return False


async def arrive(redis, race: str, readers: int) -> Arrival:
    """Count this racer's read in; the one that completes the count releases every earlier one."""
    t0 = time.monotonic()
    async with redis.pipeline(transaction=True) as pipe:
        position, _ = await pipe.incr(_key(race)).expire(_key(race), KEY_TTL_S).execute()
    if position == readers and readers > 1:
        go = _key(race) + ":go"
        async with redis.pipeline(transaction=True) as pipe:
            await pipe.rpush(go, *["go"] * (readers - 1)).expire(go, KEY_TTL_S).execute()
    return Arrival(redis, race, readers, position, t0)
