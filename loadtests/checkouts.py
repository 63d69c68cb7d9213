"""Checkouts against the real stack for `lastunit run`: race, open or closed load, one row per attempt.

Each attempt carries its own Idempotency-Key (`<run_id>-<n>`); a lost answer is retried with the same key,
as a careful client would, so a retry can never buy twice. Open-model latency counts from the intended
start, so a stack that falls behind shows it.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from scenarios.arrivals import planned
from scenarios.policy import CLIENT_PAUSE_S, CLIENT_RETRIES, CLIENT_TIMEOUT_S, MAX_RETRY_AFTER_S
from scenarios.results import Outcome
from scenarios.spec import Scenario


def classify(status: int | None, body: dict) -> Outcome:
    if status in (200, 201):
        return Outcome.WON if body.get("status") != "cancelled" else Outcome.FAILED
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


async def checkout(session, base: str, key: str, user: str, sku: str, qty: int) -> tuple[Outcome, dict, int]:
    """One attempt, retried with its key while the answer says nothing final: no answer, 202 pending, 409
    in progress, or a server error (a 5xx or a body that is not JSON, as a service answers while its
    database restarts), which may or may not have applied. What is still unsettled after the retries is
    `unknown`; the run goes on either way."""
    status, body, tries = None, {}, 0
    for tries in range(1, CLIENT_RETRIES + 1):
        wait = 0.0
        try:
            async with session.post(f"{base}/checkouts", json={"sku": sku, "qty": qty},
                                    headers={"Idempotency-Key": key, "X-User-Id": user}) as r:
                status, wait = r.status, _retry_after(r.headers)
                try:
                    body = await r.json(content_type=None)
                except ValueError:
                    body = {}             # not JSON: nothing in it to trust
            body = body if isinstance(body, dict) else {}
            final = status < 500 and status not in (202, 409) and (status >= 400 or body)
            if final or body.get("error") == "out_of_stock":
                break
        except (TimeoutError, aiohttp.ClientError):
            status, body = None, {}
        await asyncio.sleep(max(wait, CLIENT_PAUSE_S * tries))
    return classify(status, body), body, tries - 1


async def run_load(sc: Scenario, base: str, run_id: str, skus: list[str], progress=None) -> list[dict]:
    plan = planned(sc)
    starts, picks = plan.t, [skus[i] for i in plan.sku]
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    done = [0]
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=256)) as s:
        t0 = time.time()

        async def one(i: int) -> dict:
            delay = t0 + starts[i] - time.time()
            if delay > 0:
                await asyncio.sleep(delay)            # waiting for this arrival's intended instant
            key, user = f"{run_id}-{i}", f"user-{i % max(sc.load.users, 1)}"
            t_start = time.time()
            outcome, body, retries = await checkout(s, base, key, user, picks[i], sc.load.qty)
            done[0] += 1
            if progress:
                progress(done[0], len(starts))
            order = body.get("id") or (body.get("order") or {}).get("id")
            return {"run_id": run_id, "engine": "real", "scenario": sc.name,
                    "strategy": sc.inventory.strategy.value, "attempt_id": key, "user_id": user, "sku": picks[i],
                    "warehouse": None, "qty": sc.load.qty, "t_intended": t0 + starts[i], "t_start": t_start,
                    "t_end": time.time(), "outcome": outcome.value, "retries": retries, "order_id": order}

        return list(await asyncio.gather(*(one(i) for i in range(len(starts)))))
