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
from scenarios.policy import CLIENT_PAUSE_S, CLIENT_RETRIES, CLIENT_TIMEOUT_S
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


async def checkout(session, base: str, key: str, user: str, sku: str, qty: int) -> tuple[Outcome, dict, int]:
    status, body, tries = None, {}, 0
    for tries in range(1, CLIENT_RETRIES + 1):
        try:
            async with session.post(f"{base}/checkouts", json={"sku": sku, "qty": qty},
                                    headers={"Idempotency-Key": key, "X-User-Id": user}) as r:
                status, body = r.status, await r.json(content_type=None)
            if status not in (202, 409) or body.get("error") == "out_of_stock":
                break
        except (TimeoutError, aiohttp.ClientError):
            status, body = None, {}
        await asyncio.sleep(CLIENT_PAUSE_S * tries)
    return classify(status, body), body if isinstance(body, dict) else {}, tries - 1


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
