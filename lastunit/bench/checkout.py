"""The checkout ladder's scenario and its baseline: the reservation alone on the same ladder, open model.

Each step offers a constant arrival rate for a few seconds (the scenario's own crowd, so steps are
repeatable) and measures latency from the intended start: a rate the stack cannot sustain shows up as a
growing queue, not as a politely slower client. The checkout rungs themselves (through the whole saga, with
CPU per checkout) are measured by `lastunit bench checkout`'s command; the baseline, in the same run, is
this ladder against the inventory's reservation alone: the ratio says what the rest of the saga (payment,
provider, events) costs on this machine.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np

from loadtests.race import seed
from scenarios.arrivals import crowd, stages
from scenarios.loader import load

#: The service-level objective the bench searches under.
P99_TARGET_MS = 500.0
SKUS = 20
STOCK = 1_000_000


def scenario_at(rate: float, seconds: float, strategy: str):
    return load("payment_crash", ["faults=[]", f"load.shape=[{{at_s=0, rate={rate}}}, {{at_s={seconds}, rate={rate}}}]",
                                  f"load.duration_s={seconds}", f"catalog.skus={SKUS}", "catalog.hot_skus=0",
                                  f"catalog.stock_per_warehouse={STOCK}", f"inventory.strategy={strategy}",
                                  "settle_s=0"])


async def _reservations(base: str, sc, skus: list[str]) -> list[tuple[float, float]]:
    """The baseline: the same crowd, each arrival one POST /reservations at its intended instant."""
    c = crowd(stages(sc.load), sc.load.duration_s, sc.seed, 0, len(skus), 0.0, sc.catalog.zipf_s)
    body = {"qty": 1, "strategy": sc.inventory.strategy.value, "ttl_s": 60}
    async with aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=512)) as s:
        t0 = time.time() + 0.2

        async def one(t: float, sku: str) -> tuple[float, float]:
            await asyncio.sleep(max(0.0, t0 + t - time.time()))
            async with s.post("/reservations", json=body | {"sku": sku}) as r:
                await r.read()
            return t0 + t, time.time()

        return list(await asyncio.gather(*(one(float(t), skus[i]) for t, i in zip(c.t, c.sku, strict=True))))


def p99_ms(pairs) -> float:
    return float(np.percentile([(e - s) * 1000 for s, e in pairs], 99)) if pairs else float("inf")


async def step(kind: str, urls: dict, strategy: str, rate: float, seconds: float, tag: str) -> dict:
    sc = scenario_at(rate, seconds, strategy)
    skus = [f"{tag}-{kind}-{strategy}-{rate:g}-{i}" for i in range(SKUS)]
    for sku in skus:
        await seed(urls["inventory"], sku, STOCK, 1)
    pairs = await _reservations(urls["inventory"], sc, skus)
    return {"rate": rate, "attempts": len(pairs), "p99_ms": round(p99_ms(pairs), 1),
            "p50_ms": round(float(np.percentile([(e - s) * 1000 for s, e in pairs], 50)), 1) if pairs else None}


async def ladder(kind: str, urls: dict, strategy: str, rates: list[float], seconds: float, tag: str,
                 progress=None) -> tuple[float, list[dict]]:
    """Climb the rates until p99 breaks the target; the highest rate that held is the answer."""
    best, steps = 0.0, []
    for rate in rates:
        s = await step(kind, urls, strategy, rate, seconds, tag)
        steps.append(s)
        if progress:
            progress(f"{kind} {strategy} at {rate:g}/s: p99 {s['p99_ms']} ms")
        if s["p99_ms"] > P99_TARGET_MS:
            break
        best = rate
    return best, steps
