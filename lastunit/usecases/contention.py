"""Closed-loop reservations through the inventory service, on one hot row or spread over many cold rows.

Why both: a locking strategy's price depends on how often buyers collide. On one hot row every buyer
collides: a pessimistic buyer waits on the row lock, an optimistic one retries its compare-and-set. On
cold rows (each client its own SKU) nobody collides, and what is left is each strategy's round trips.
Stock never runs out (sold-out answers would measure another path), and every client keeps asking as soon
as it is answered for `seconds`, so throughput is answers per second and latency is each answer's wait.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np

from lastunit.aio import run_sync
from lastunit.bench.reserve import BENCH_STOCK
from loadtests.race import seed
from reference_impl import stack
from scenarios.results import new_run_id

#: A lock timeout or exhausted retries is a refusal (nothing reserved): counted, not hidden.
REFUSED = ("lock_timeout", "retries_exhausted")


async def _client(session, sku: str, strategy: str, stop_at: float, lat: list, counts: dict) -> None:
    body = {"sku": sku, "qty": 1, "strategy": strategy, "ttl_s": 86400, "naive_window_ms": 0}
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        async with session.post("/reservations", json=body) as r:
            payload = await r.json(content_type=None)
        lat.append(time.perf_counter() - t0)
        counts["won" if r.status in (200, 201) else "failed"] += 1
        counts["retries"] += int(payload.get("retries", 0) or 0)


async def _loop(base: str, skus: list[str], strategy: str, clients: int, seconds: float) -> dict:
    lat, counts = [], {"won": 0, "failed": 0, "retries": 0}
    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=clients)) as s:
        await asyncio.gather(*(s.get("/healthz") for _ in range(clients)))     # open the connections first
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(s, skus[i % len(skus)], strategy, t0 + seconds, lat, counts)
                               for i in range(clients)))
        wall = time.perf_counter() - t0
    ms = np.array(lat) * 1000 if lat else np.array([np.nan])
    answers = counts["won"] + counts["failed"]
    return {"ops_s": round(counts["won"] / wall, 1), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "answers": answers, "failed": counts["failed"],
            "retries_per_op": round(counts["retries"] / max(answers, 1), 3)}


def closed_loop(strategy: str, clients: int, rows: int, seconds: float) -> dict:
    """`clients` buyers asking again as soon as answered, for `seconds`; client i on SKU i mod `rows`
    (rows=1: one hot row; rows=clients: each client alone on its own cold row)."""
    stack.ensure_up()
    base, tag = stack.service_url("inventory"), new_run_id("contention")
    skus = [f"{tag}-{strategy}-{i}" for i in range(rows)]

    async def go():
        for sku in skus:
            await seed(base, sku, BENCH_STOCK, 1)
        return await _loop(base, skus, strategy, clients, seconds)

    return {"strategy": strategy, "clients": clients, "rows": rows, **run_sync(go())}
