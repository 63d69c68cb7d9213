"""Checkouts against the real stack for `lastunit run`: race, open or closed load, one row per attempt.

Each attempt carries its own Idempotency-Key (`<run_id>-<n>`); a lost answer is retried with the same key,
as a careful client would, so a retry can never buy twice. When the retries still end without a verdict
(lost replies, `202 pending`), the client polls its order by that key, like a browser's status page, until
the order is final or its patience (PENDING_PATIENCE_S) runs out: `unknown` is left only for what is
truly unresolved, and the row says it was `resolved_late`. Open-model latency counts from the intended
start (and to the moment the client learned the outcome), so a stack that falls behind shows it.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import aiohttp

from scenarios.journey import checkouts as planned_checkouts
from scenarios.policy import (
    CLIENT_PAUSE_S,
    CLIENT_RETRIES,
    CLIENT_TIMEOUT_S,
    MAX_RETRY_AFTER_S,
    PENDING_PATIENCE_S,
    STATUS_POLL_S,
)
from scenarios.results import Outcome, order_outcome
from scenarios.spec import Scenario


def classify(status: int | None, body: dict) -> Outcome:
    if status in (200, 201):
        return order_outcome(body.get("status"), body.get("cancel_reason")) or Outcome.UNKNOWN
    if status == 409 and body.get("error") == "out_of_stock":
        return Outcome.OUT_OF_STOCK
    if status == 402:
        return Outcome.DECLINED
    if status is not None and 400 <= status < 500 and status != 409:
        return Outcome.FAILED
    return Outcome.UNKNOWN


def _retry_after(headers) -> float:
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(headers.get("Retry-After", 0))))
    except ValueError:
        return 0.0


async def _answer(request) -> tuple[int | None, dict, float]:
    """(status, JSON body, Retry-After seconds); no answer or a cut connection is (None, {}, 0), and a body
    that is not JSON (a service answering while its database restarts) is {}: nothing in it to trust."""
    try:
        async with request as r:
            status, wait = r.status, _retry_after(r.headers)
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = {}
            return status, body if isinstance(body, dict) else {}, wait
    except (TimeoutError, aiohttp.ClientError):
        return None, {}, 0.0


async def poll_order(session, base: str, key: str, user: str, patience_s: float = PENDING_PATIENCE_S,
                     resubmit=None) -> tuple[Outcome | None, dict]:
    """The status page: GET /checkouts/{key} until the order is final or the patience runs out.

    A 404 there means the shop never recorded the checkout: every try met a service that was down (an
    orders service crashing in a loop refused all three in one CI run, and their clients polled a page
    that could never appear for the whole minute). `resubmit()` sends it again with the same key, which
    can only ever make one order, as a careful client does when the shop says it never heard of it."""
    deadline = time.monotonic() + patience_s
    while True:
        status, body, _ = await _answer(session.get(f"{base}/checkouts/{quote(key, safe='')}",
                                                    headers={"X-User-Id": user}))
        if status == 404 and resubmit is not None:
            status, body, _ = await resubmit()
            outcome = classify(status, body)
            outcome = None if outcome == Outcome.UNKNOWN else outcome
        else:
            outcome = order_outcome(body.get("status"), body.get("cancel_reason")) if status == 200 else None
        if outcome is not None:
            return outcome, body
        if time.monotonic() + STATUS_POLL_S > deadline:
            return None, body
        await asyncio.sleep(STATUS_POLL_S)


async def checkout(session, base: str, key: str, user: str, sku: str, qty: int, answered=None,
                   patience_s: float = PENDING_PATIENCE_S) -> tuple[Outcome, dict, int, bool]:
    """One attempt: (outcome, last body, retries, resolved late). Retried with its key while the answer says
    nothing final: no answer, 202 pending, 409 in progress, or a server error (a 5xx or a body that is not
    JSON), which may or may not have applied. Then `answered()` (the load this client offers is over), and
    what is still unsettled is polled for on the order's status page; `unknown` only if that runs out too."""
    status, body, tries = None, {}, 0

    def post():
        return _answer(session.post(f"{base}/checkouts", json={"sku": sku, "qty": qty},
                                    headers={"Idempotency-Key": key, "X-User-Id": user}))

    for tries in range(1, CLIENT_RETRIES + 1):
        status, body, wait = await post()
        final = status is not None and status < 500 and status not in (202, 409) and (status >= 400 or body)
        if final or body.get("error") == "out_of_stock":
            break
        await asyncio.sleep(max(wait, CLIENT_PAUSE_S * tries))
    outcome = classify(status, body)
    if answered is not None:
        answered()
    if outcome != Outcome.UNKNOWN:
        return outcome, body, tries - 1, False
    late, order = await poll_order(session, base, key, user, patience_s, resubmit=post)
    if late is None:
        return outcome, body | ({"order": order} if order.get("id") else {}), tries - 1, False
    return late, order, tries - 1, True


async def run_load(sc: Scenario, base: str, run_id: str, skus: list[str], progress=None,
                   load_over=None) -> list[dict]:
    """Drive the crowd; `load_over()` (blocking, run in a thread) is called once every client has had its
    answers, before the ones left without a verdict have finished polling: the run turns its faults off
    there, so the stack settles while they watch their orders, as it does after a real burst."""
    plan = planned_checkouts(sc)
    starts, picks = plan.t, [skus[i] for i in plan.sku]
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    done, posted, over = [0], [0], asyncio.Event()

    def answered() -> None:
        posted[0] += 1
        if posted[0] == len(starts):
            over.set()

    async def when_over() -> None:
        await over.wait()
        if load_over is not None:
            await asyncio.to_thread(load_over)

    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=256)) as s:
        t0 = time.time()

        async def one(i: int) -> dict:
            delay = t0 + starts[i] - time.time()
            if delay > 0:
                await asyncio.sleep(delay)            # waiting for this arrival's intended instant
            key, user = f"{run_id}-{i}", f"user-{i % max(sc.load.users, 1)}"
            t_start = time.time()
            outcome, body, retries, late = await checkout(s, base, key, user, picks[i], sc.load.qty, answered)
            done[0] += 1
            if progress:
                progress(done[0], len(starts))
            order = body.get("id") or (body.get("order") or {}).get("id")
            return {"run_id": run_id, "engine": "real", "scenario": sc.name,
                    "strategy": sc.inventory.strategy.value, "attempt_id": key, "user_id": user, "sku": picks[i],
                    "warehouse": None, "qty": sc.load.qty, "t_intended": t0 + starts[i], "t_start": t_start,
                    "t_end": time.time(), "outcome": outcome.value, "retries": retries, "order_id": order,
                    "resolved_late": late}

        watcher = asyncio.create_task(when_over())
        rows = list(await asyncio.gather(*(one(i) for i in range(len(starts)))))
        if len(starts):
            await watcher
        else:
            watcher.cancel()
        return rows
