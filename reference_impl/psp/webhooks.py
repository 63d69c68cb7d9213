"""The webhook delivery worker: drains the outbox to each charge's webhook_url, signed, until acked.

Delivery is at-least-once and in outbox order per pass; the knobs break that on purpose, each decided by
`draw(seed, knob, event id)` so an event's fate does not depend on timing:
  webhook_delay_ms   events become due that long after the change (set when the event is written);
  webhook_drop       the first attempt is "lost" (recorded, never sent); only the retry arrives;
  webhook_duplicate  an acked event is sent a second time at once;
  webhook_reorder    an event is held back until a later event has been delivered (or MAX_HOLD_S passes).
    At most one event is held at a time, so even at probability 1 events swap in pairs rather than all
    waiting for each other.
A non-2xx or an error is retried with capped exponential backoff, every attempt recorded in
webhook_attempts. One pass at a time (an asyncio lock), so a flush and the background loop never interleave.
Between passes the worker sleeps until the earliest undelivered event is due (`next_due`), woken at once
by a request that wrote a new event (`wake`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Callable

import aiohttp

from reference_impl.infra.run_config import CRASH_EXIT
from reference_impl.infra.wake import nap
from reference_impl.policy import IDLE_FALLBACK_S, RETRY_FLOOR_S
from reference_impl.policy import webhook_backoff_s as backoff_s
from reference_impl.psp.config import Knobs, draw
from reference_impl.psp.queries import Q
from reference_impl.psp.signing import HEADER, sign

log = logging.getLogger("lastunit.psp.webhooks")

#: A pass that found nothing though an event looked due (a race with another process's lease) waits at
#: least this long before the next, never a spin.
MIN_NAP_S = 0.05
BATCH = 100
#: A claimed event no pass finished (we crashed mid-delivery) is sent again after this.
LEASE_S = 30.0
#: A held-back event with no later event to wait for goes out after this anyway.
MAX_HOLD_S = 5.0
POST_TIMEOUT_S = 5.0
#: `flush(all=True)` treats everything up to this far ahead as due now.
FLUSH_HORIZON_S = 10 * 86400.0
MAX_FLUSH_PASSES = 20


def event_body(ev) -> bytes:
    """The bytes sent and signed: {"id", "type", "created" (unix s), "data": the charge}."""
    event = {"id": ev["id"], "type": ev["type"], "created": int(ev["created_at"].timestamp()),
             "data": json.loads(ev["data"])}
    return json.dumps(event, separators=(",", ":")).encode()


class Deliverer:
    def __init__(self, pool, secret: str, knobs: Callable[[], Knobs], default_url: str | None):
        self.pool, self.secret, self.knobs, self.default_url = pool, secret, knobs, default_url
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None

    async def run_forever(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_S))
        try:
            while True:
                try:
                    if await self.pass_once():
                        continue                      # there may be more due now
                    async with self.pool.acquire() as conn:
                        due = await Q.next_due(conn, max_hold_s=MAX_HOLD_S, default_url=self.default_url)
                except Exception:   # a pass that fails (database restarting) is retried after the floor
                    log.exception("webhook delivery pass failed")
                    due = RETRY_FLOOR_S
                await nap(self.wake, IDLE_FALLBACK_S if due is None else min(max(due, MIN_NAP_S), IDLE_FALLBACK_S))
        finally:
            await self.session.close()

    async def flush(self, everything: bool = False) -> int:
        """Deliver what is due now (or, with `everything`, also what waits on a delay, backoff or hold)."""
        horizon = FLUSH_HORIZON_S if everything else 0.0
        sent = 0
        for _ in range(MAX_FLUSH_PASSES):
            n = await self.pass_once(horizon_s=horizon)
            sent += n
            if n == 0:
                break
        if everything:
            sent += await self.pass_once(horizon_s=horizon, ignore_hold=True)
        return sent

    async def pass_once(self, horizon_s: float = 0.0, ignore_hold: bool = False) -> int:
        """One batch of due events, in seq order; returns how many were claimed (held ones included)."""
        async with self.lock, self.pool.acquire() as conn:
            rows = [r async for r in Q.claim_due(conn, lease_s=LEASE_S, default_url=self.default_url,
                                                 horizon_s=horizon_s, ignore_hold=ignore_hold,
                                                 max_hold_s=MAX_HOLD_S, batch=BATCH)]
            holding = await Q.holding_any(conn)
            for ev in sorted(rows, key=lambda r: r["seq"]):
                knobs = self.knobs()
                fresh = ev["attempts"] == 0 and ev["held_at"] is None
                if fresh and not holding and not ignore_hold and \
                        draw(knobs.seed, "reorder", ev["id"]) < knobs.webhook_reorder:
                    await Q.hold_back(conn, id=ev["id"])
                    holding = True
                    continue
                await self._deliver(conn, ev, knobs)
            return len(rows)

    async def _deliver(self, conn, ev, knobs: Knobs) -> None:
        url = ev["webhook_url"] or self.default_url
        if ev["attempts"] == 0 and draw(knobs.seed, "drop", ev["id"]) < knobs.webhook_drop:
            await self._record(conn, ev, url, "dropped", None, "lost on purpose (webhook_drop)")
            await Q.schedule_retry(conn, id=ev["id"], backoff_s=backoff_s(0))
            return
        code, error = await self._post(url, ev)
        if code is not None and 200 <= code < 300:
            if knobs.webhook_crash and random.random() < knobs.webhook_crash:
                os._exit(CRASH_EXIT)      # acknowledged, not yet marked: the restarted psp sends it again
            await self._record(conn, ev, url, "delivered", code, None)
            await Q.mark_delivered(conn, id=ev["id"])
            if draw(knobs.seed, "duplicate", ev["id"]) < knobs.webhook_duplicate:
                code2, error2 = await self._post(url, ev)
                await self._record(conn, ev, url, "duplicate", code2, error2)
            return
        await self._record(conn, ev, url, "failed", code, error)
        await Q.schedule_retry(conn, id=ev["id"], backoff_s=backoff_s(ev["attempts"]))

    async def _post(self, url: str, ev) -> tuple[int | None, str | None]:
        body = event_body(ev)
        headers = {"Content-Type": "application/json", HEADER: sign(self.secret, int(time.time()), body)}
        try:
            async with self.session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status, None
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]

    @staticmethod
    async def _record(conn, ev, url, outcome, code, error) -> None:
        await Q.record_attempt(conn, event_id=ev["id"], url=url, outcome=outcome, status_code=code, error=error)

