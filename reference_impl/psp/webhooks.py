"""The webhook delivery worker: drains the outbox to each charge's webhook_url, signed, until acked.

Delivery is at-least-once, concurrent across charges and in outbox order per charge (a charge's next event
waits for its previous one's attempt), so one slow receiver or retry holds up only its own charge. The
knobs break that on purpose, each decided by `draw(seed, knob, event id)` so an event's fate does not
depend on timing:
  webhook_delay_ms   events become due that long after the change (set when the event is written);
  webhook_drop       the first attempt is "lost" (recorded, never sent); only the retry arrives;
  webhook_duplicate  an acked event is sent a second time at once;
  webhook_reorder    an event is held back until a later event has been delivered (or MAX_HOLD_S passes).
    At most one event is held at a time, so even at probability 1 events swap in pairs rather than all
    waiting for each other.
A non-2xx or an error is retried with capped exponential backoff, every attempt recorded in
webhook_attempts. Claims happen one pass at a time (an asyncio lock: the reorder knob's hold is decided
there); the deliveries a pass claimed run as tasks, at most MAX_IN_FLIGHT at once. Between passes the
worker sleeps until the earliest undelivered event is due (claim_due's `next_in_s`), woken at once by a request that
wrote a new event (`wake`) or by a delivery that left work due (a retry, a held event now free).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

from reference_impl.infra.run_config import CRASH_EXIT
from reference_impl.infra.wake import nap
from reference_impl.infra.wire import Origin
from reference_impl.psp.config import Knobs, draw
from reference_impl.psp.queries import Q
from reference_impl.psp.signing import HEADER, sign
from scenarios.policy import IDLE_FALLBACK_S, PRUNE_EVERY_S, RETENTION_S, RETRY_FLOOR_S
from scenarios.policy import webhook_backoff_s as backoff_s

log = logging.getLogger("lastunit.psp.webhooks")

#: A pass that found nothing though an event looked due (a race with another process's lease) waits at
#: least this long before the next, never a spin.
MIN_NAP_S = 0.05
#: After a pass that claimed events the worker waits this long before the next: under load the requests'
#: wake-ups that come meanwhile are served by one pass (one statement), not one pass each.
MIN_GAP_S = 0.02
BATCH = 100
#: Deliveries in flight at once (each holds a connection to its receiver, not to the database).
MAX_IN_FLIGHT = 32
#: A claimed event no attempt settled (we crashed mid-delivery) is sent again after this.
LEASE_S = 30.0
#: A held-back event with no later event to wait for goes out after this anyway.
MAX_HOLD_S = 5.0
POST_TIMEOUT_S = 5.0
#: `flush(all=True)` treats everything up to this far ahead as due now.
FLUSH_HORIZON_S = 10 * 86400.0
MAX_FLUSH_PASSES = 20
#: Delivered events pruned per statement (policy.RETENTION_S), so one prune never holds locks for long.
PRUNE_BATCH = 5000


def event_body(ev) -> bytes:
    """The bytes sent and signed: {"id", "type", "created" (unix s), "data": the charge}."""
    event = {"id": ev["id"], "type": ev["type"], "created": int(ev["created_at"].timestamp()),
             "data": json.loads(ev["data"])}
    return json.dumps(event, separators=(",", ":")).encode()


class Deliverer:
    def __init__(self, pool, secret: str, knobs: Callable[[], Awaitable[Knobs]], default_url: str | None):
        self.pool, self.secret, self.knobs, self.default_url = pool, secret, knobs, default_url
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.origins: dict[str, Origin] = {}          # keep-alive connections per receiver (infra.wire)
        self.sending: set[asyncio.Task] = set()
        self.last_of: dict[str, asyncio.Task] = {}     # charge id -> its latest delivery (per-charge order)
        self.holding = False

    async def run_forever(self) -> None:
        last_prune = 0.0
        try:
            while True:
                try:
                    if time.monotonic() - last_prune > PRUNE_EVERY_S:
                        last_prune = time.monotonic()
                        await self.prune()
                    if len(self.sending) >= MAX_IN_FLIGHT:
                        await asyncio.wait(self.sending, return_when=asyncio.FIRST_COMPLETED)
                        continue
                    claimed, due = await self._pass()
                    if claimed == BATCH:
                        continue                      # there is more due now
                    if claimed:
                        await asyncio.sleep(MIN_GAP_S)
                except Exception:   # a pass that fails (database restarting) is retried after the floor
                    log.exception("webhook delivery pass failed")
                    due = RETRY_FLOOR_S
                await nap(self.wake, IDLE_FALLBACK_S if due is None else min(max(due, MIN_NAP_S), IDLE_FALLBACK_S))
        finally:
            for t in self.sending:
                t.cancel()
            await asyncio.gather(*self.sending, return_exceptions=True)
            for origin in self.origins.values():
                origin.close()

    async def prune(self) -> int:
        """Delivered events (and their attempts) past the retention go: the outbox stays bounded."""
        gone = 0
        async with self.pool.acquire() as conn:
            while (n := await Q.prune_delivered(conn, keep_s=RETENTION_S, batch=PRUNE_BATCH)) > 0:
                gone += n
                if n < PRUNE_BATCH:
                    break
        return gone

    async def flush(self, everything: bool = False) -> int:
        """Deliver what is due now (or, with `everything`, also what waits on a delay, backoff or hold), and
        wait until every delivery in flight has been attempted."""
        horizon = FLUSH_HORIZON_S if everything else 0.0
        sent = 0
        for _ in range(MAX_FLUSH_PASSES):
            n = await self.pass_once(horizon_s=horizon)
            await self.settled()
            sent += n
            if n == 0:
                break
        if everything:
            sent += await self.pass_once(horizon_s=horizon, ignore_hold=True)
            await self.settled()
        return sent

    async def settled(self) -> None:
        while self.sending:
            await asyncio.gather(*list(self.sending), return_exceptions=True)

    async def pass_once(self, horizon_s: float = 0.0, ignore_hold: bool = False) -> int:
        """Claim a batch of due events and start their deliveries; returns how many were claimed (held ones
        included). The deliveries go on as tasks (`settled` waits for them)."""
        return (await self._pass(horizon_s, ignore_hold))[0]

    async def _pass(self, horizon_s: float = 0.0, ignore_hold: bool = False) -> tuple[int, float | None]:
        """`pass_once`, and the seconds until the earliest event not claimed now is due (None: none)."""
        async with self.lock, self.pool.acquire() as conn:
            knobs = await self.knobs()
            got = [r async for r in Q.claim_due(conn, lease_s=LEASE_S, default_url=self.default_url,
                                                horizon_s=horizon_s, ignore_hold=ignore_hold,
                                                max_hold_s=MAX_HOLD_S, batch=BATCH)]
            rows = [r for r in got if r["id"] is not None]
            due = got[0]["next_in_s"] if got else None
            self.holding = bool(knobs.webhook_reorder) and bool(await Q.holding_any(conn))
            for ev in sorted(rows, key=lambda r: r["seq"]):
                fresh = ev["attempts"] == 0 and ev["held_at"] is None
                if fresh and not self.holding and not ignore_hold and \
                        draw(knobs.seed, "reorder", ev["id"]) < knobs.webhook_reorder:
                    await Q.hold_back(conn, id=ev["id"])
                    self.holding = True
                    continue
                self._start(ev, knobs)
            return len(rows), due

    def _start(self, ev, knobs: Knobs) -> None:
        """Deliver `ev` as a task, after the previous delivery of its charge (outbox order per charge)."""
        before = self.last_of.get(ev["charge_id"])
        task = asyncio.create_task(self._deliver(ev, knobs, before))
        self.sending.add(task)
        self.last_of[ev["charge_id"]] = task

        def done(t: asyncio.Task, charge=ev["charge_id"]) -> None:
            self.sending.discard(t)
            if self.last_of.get(charge) is t:
                del self.last_of[charge]
        task.add_done_callback(done)

    async def _deliver(self, ev, knobs: Knobs, before: asyncio.Task | None) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        try:
            again = await self._attempt(ev, knobs)
        except Exception:   # the database away: the lease runs out and the event is claimed again
            log.exception("webhook delivery of %s failed", ev["id"])
            return
        if again or self.holding:
            self.wake.set()                # a retry to schedule, or a held event a delivery may have freed

    async def _attempt(self, ev, knobs: Knobs) -> bool:
        """One attempt, recorded; True when the event is due again (a retry)."""
        url = ev["webhook_url"] or self.default_url
        if ev["attempts"] == 0 and draw(knobs.seed, "drop", ev["id"]) < knobs.webhook_drop:
            await self._settle(ev, url, "dropped", None, "lost on purpose (webhook_drop)", backoff_s(0))
            return True
        code, error = await self._post(url, ev)
        if code is not None and 200 <= code < 300:
            if knobs.webhook_crash and random.random() < knobs.webhook_crash:
                os._exit(CRASH_EXIT)      # acknowledged, not yet marked: the restarted psp sends it again
            await self._settle(ev, url, "delivered", code, None)
            if draw(knobs.seed, "duplicate", ev["id"]) < knobs.webhook_duplicate:
                code2, error2 = await self._post(url, ev)
                await self._settle(ev, url, "duplicate", code2, error2)
            return False
        await self._settle(ev, url, "failed", code, error, backoff_s(ev["attempts"]))
        return True

    async def _post(self, url: str, ev) -> tuple[int | None, str | None]:
        body = event_body(ev)
        parts = urlsplit(url)
        try:
            origin = self.origins.get(parts.netloc) or self.origins.setdefault(
                parts.netloc, Origin(f"{parts.scheme}://{parts.netloc}"))
            status, _ = await origin.request("POST", urlunsplit(("", "", parts.path or "/", parts.query, "")), body,
                                             {HEADER: sign(self.secret, int(time.time()), body)}, POST_TIMEOUT_S)
            return status, None
        except (TimeoutError, ValueError, OSError, ConnectionError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]

    async def _settle(self, ev, url, outcome, code, error, backoff: float = 0.0) -> None:
        async with self.pool.acquire() as conn:
            await Q.settle_attempt(conn, event_id=ev["id"], url=url, outcome=outcome, status_code=code, error=error,
                                   backoff_s=backoff)
