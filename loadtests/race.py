"""The last-unit race on the real stack: N buyers, each on its own connection, released at one instant.

Every buyer connects and waits at an asyncio barrier (an Event), so no buyer's TCP handshake decides the
race; then all send `POST /reservations` together. Latency counts from the release instant.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from scenarios.results import Outcome
from scenarios.spec import Scenario

#: An answer later than this is `unknown`: the reservation may or may not exist (Jepsen's `info`).
REQUEST_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 30.0


def spread(units: int, warehouses: int) -> list[tuple[str, int]]:
    """K units over W warehouses as evenly as possible; warehouses that would get nothing are left out."""
    base, extra = divmod(units, warehouses)
    return [(f"wh-{i + 1}", base + (i < extra)) for i in range(warehouses) if base + (i < extra) > 0]


@dataclass
class Answer:
    outcome: Outcome
    t_start: float
    t_end: float
    retries: int = 0
    warehouse: str | None = None
    reservation_id: str | None = None


def classify(status: int, body: dict) -> Outcome:
    if status in (200, 201):
        return Outcome.WON
    if status == 409 and body.get("error") == "out_of_stock":
        return Outcome.OUT_OF_STOCK
    if 400 <= status < 500 or body.get("error") in ("retries_exhausted", "lock_timeout"):
        return Outcome.FAILED   # refused: nothing was reserved
    return Outcome.UNKNOWN      # a 5xx we cannot explain: may have been applied


async def seed(base: str, sku: str, units: int, warehouses: int) -> list[tuple[str, int]]:
    plan = spread(units, warehouses)
    async with aiohttp.ClientSession(base) as s:
        for wh, qty in plan:
            async with s.post("/stock/receipts", json={"sku": sku, "warehouse": wh, "qty": qty}) as r:
                if r.status != 201:
                    raise RuntimeError(f"seeding {sku} failed: {r.status} {await r.text()}")
    return plan


async def _buyer(base: str, body: dict, go: asyncio.Event, mark_ready, on_answer) -> Answer:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=1, force_close=False)
    async with aiohttp.ClientSession(base, timeout=timeout, connector=connector) as s:
        async with s.get("/healthz") as r:     # open the connection before the barrier
            await r.read()
        mark_ready()
        await go.wait()
        t0 = time.time()
        try:
            async with s.post("/reservations", json=body) as r:
                payload = await r.json(content_type=None)
                outcome = classify(r.status, payload if isinstance(payload, dict) else {})
        except TimeoutError:
            on_answer()
            return Answer(Outcome.UNKNOWN, t0, time.time())
        except aiohttp.ClientError:
            on_answer()
            return Answer(Outcome.UNKNOWN, t0, time.time())
        on_answer()
        return Answer(outcome, t0, time.time(), int(payload.get("retries", 0) or 0),
                      payload.get("warehouse"), payload.get("id"))


async def race(base: str, scenario: Scenario, sku: str, progress=None) -> tuple[float, list[Answer]]:
    """Release `load.buyers` buyers at once; return (release instant, answers in buyer order)."""
    go, all_ready, ready, answered = asyncio.Event(), asyncio.Event(), [0], [0]
    n = scenario.load.buyers

    def mark_ready():
        ready[0] += 1
        if ready[0] == n:
            all_ready.set()

    def on_answer():
        answered[0] += 1
        if progress:
            progress(answered[0], n)

    bodies = [{"sku": sku, "qty": scenario.load.qty, "strategy": scenario.inventory.strategy.value,
               "attempt_id": f"{sku}-b{i}", "ttl_s": scenario.inventory.reservation_ttl_s,
               "naive_window_ms": scenario.inventory.naive_window_ms,
               "sold_out": scenario.inventory.sold_out.value} for i in range(n)]
    tasks = [asyncio.create_task(_buyer(base, b, go, mark_ready, on_answer)) for b in bodies]
    barrier = asyncio.create_task(all_ready.wait())
    await asyncio.wait([barrier, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if not barrier.done():             # a buyer ended before the release: it could not connect
        for t in tasks:
            t.cancel()
        broken = next(t for t in tasks if t.done() and not t.cancelled())
        raise RuntimeError(f"a buyer could not connect: {broken.exception()}")
    released = time.time()
    go.set()
    return released, list(await asyncio.gather(*tasks))
