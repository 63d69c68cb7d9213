"""The psp's run-time knobs and its seeded dice.

The knobs live in the psp database (`psp_config`, one row) so a scenario's settings survive a crash of the
psp process and every process of the psp (LAB_WORKERS) shares them: each keeps a copy for at most CACHE_S
(`KnobCache`), and `POST /admin/config` answers only after that long when there are several, so from its
answer on every process uses the new knobs.

Every random choice (decline, drop, duplicate, reorder) is `draw(seed, what, id)`: a hash, not a shared
RNG stream, so a given idempotency key or event gets the same fate whatever order concurrent requests
arrive in, and a scenario with the same seed and keys declines the same charges.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from reference_impl.infra.jsontypes import Number, WholeNumber
from reference_impl.psp.queries import Q
from reference_impl.services import workers

#: A probability. The bounds sit inside the type: on an optional field they would reach the document as
#: pydantic's `ge`/`le` instead of JSON Schema's minimum/maximum.
Rate = Annotated[Number, Field(ge=0.0, le=1.0)]

#: How long a process trusts its copy of the knobs: they change between runs, not within a request, so a
#: re-read this often costs nothing measurable under load and nothing at all when idle.
CACHE_S = 0.25
#: An hour: any longer and a test or scenario is waiting on the knob rather than exercising it.
MAX_WEBHOOK_DELAY_MS = 3_600_000


class Knobs(BaseModel):
    """The full config, as stored and as `GET /admin/config` shows it."""

    decline_rate: float = 0.0
    webhook_delay_ms: int = 0
    webhook_duplicate: float = 0.0
    webhook_reorder: float = 0.0
    webhook_drop: float = 0.0
    webhook_crash: float = 0.0
    seed: int = 0


class KnobsPatch(BaseModel):
    """`POST /admin/config`: only the fields given change."""

    model_config = ConfigDict(extra="forbid")
    decline_rate: Rate | None = None
    webhook_delay_ms: Annotated[WholeNumber, Field(ge=0, le=MAX_WEBHOOK_DELAY_MS)] | None = None
    webhook_duplicate: Rate | None = None
    webhook_reorder: Rate | None = None
    webhook_drop: Rate | None = None
    webhook_crash: Rate | None = None
    seed: Annotated[WholeNumber, Field(ge=-(2**63), lt=2**63)] | None = None


def draw(seed: int, what: str, ident: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, what, ident)."""
    digest = hashlib.sha256(f"{seed}:{what}:{ident}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


async def load(conn) -> Knobs:
    return Knobs(**dict(await Q.get_config(conn)))


async def save(conn, current: Knobs, patch: KnobsPatch) -> Knobs:
    merged = current.model_copy(update=patch.model_dump(exclude_none=True))
    return Knobs(**dict(await Q.set_config(conn, **merged.model_dump())))


def webhook_secret(log) -> str:
    """LAB_PSP_WEBHOOK_SECRET, or a per-process random one (nobody can verify it: said loudly)."""
    secret = os.environ.get("LAB_PSP_WEBHOOK_SECRET", "")
    if not secret:
        secret = os.urandom(24).hex()
        log.warning("LAB_PSP_WEBHOOK_SECRET is not set: signing webhooks with a random per-process secret")
    return secret


def default_webhook_url() -> str | None:
    """Where events of charges without a webhook_url go; None: they wait undelivered."""
    return os.environ.get("LAB_PSP_WEBHOOK_URL") or None


class KnobCache:
    """This process's copy of the knobs, re-read from the database when older than CACHE_S."""

    def __init__(self, pool):
        self.pool, self.value, self.at = pool, Knobs(), -1e9

    async def get(self) -> Knobs:
        if time.monotonic() - self.at > CACHE_S:
            async with self.pool.acquire() as conn:
                self.value = await load(conn)
            self.at = time.monotonic()
        return self.value

    async def update(self, patch: KnobsPatch) -> Knobs:
        """Write the patch; return once every process's copy is at least as new as it (at once when this is
        the psp's only process: a crash knob can kill it while it waits, and its caller would wait longer)."""
        async with self.pool.acquire() as conn:
            self.value, self.at = await save(conn, await self.get(), patch), time.monotonic()
        if workers("psp") > 1:
            await asyncio.sleep(CACHE_S + 0.05)
        return self.value
