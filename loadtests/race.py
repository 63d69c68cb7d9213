"""The last-unit race on the real stack: N buyers, each on its own connection, released at one instant.

Every buyer opens its connection (and has the service answer once on it, so the service has accepted it)
and waits at an asyncio barrier (an Event), so no buyer's TCP handshake decides the race; then all send
`POST /reservations` together. Latency counts from the release instant. The connections are loadtests/wire.py's
lean ones: with 10,000 buyers the client's own CPU is part of every latency it measures.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from loadtests import wire
from loadtests.race_lines import group_body
from scenarios.results import Outcome
from scenarios.spec import Scenario

#: An answer later than this is `unknown`: the reservation may or may not exist (Jepsen's `info`).
REQUEST_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 30.0
#: Buyers opening their connections at once. More overflows the service's accept queue (BACKLOG in
#: infra/serve.py) and the overflow waits out a SYN retransmit; the connects still take a few seconds, but
#: before the barrier, so no latency includes them.
CONNECT_AT_ONCE = 512
#: Open files the client needs besides its buyers' sockets (interpreter, pipes, the seeding session).
FD_MARGIN = 256


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
    from_memory: bool = False       # an out-of-stock the service answered from its sold-out memory
    error: str | None = None        # the refusal's code (out_of_stock, deadlock, ...)


def classify(status: int, body: dict) -> Outcome:
    if status in (200, 201):
        return Outcome.WON
    if status == 409 and body.get("error") == "out_of_stock":
        return Outcome.OUT_OF_STOCK
    if 400 <= status < 500 or body.get("error") in ("retries_exhausted", "lock_timeout", "batch_conflicts",
                                                    "deadlock"):
        return Outcome.FAILED   # refused: nothing was reserved
    return Outcome.UNKNOWN      # a 5xx we cannot explain: may have been applied


class SeedError(RuntimeError):
    """The inventory service refused to receive a run's stock (its answer in the message): the run cannot
    start, and the CLI says so in one line."""


async def seed(base: str, sku: str, units: int, warehouses: int) -> list[tuple[str, int]]:
    plan = spread(units, warehouses)
    async with aiohttp.ClientSession(base) as s:
        for wh, qty in plan:
            async with s.post("/stock/receipts", json={"sku": sku, "warehouse": wh, "qty": qty}) as r:
                if r.status != 201:
                    raise SeedError(f"seeding {sku} failed: {r.status} {await r.text()}")
    return plan


def _open_files_for(buyers: int) -> None:
    """Each buyer holds a socket: raise the soft limit to the hard one, and say so if that is not enough."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if buyers + FD_MARGIN > soft:
        raise ValueError(f"{buyers} buyers need {buyers + FD_MARGIN} open files; this process may open {soft} "
                         f"(ulimit -n)")


def naive_race(scenario: Scenario, race_id: str, racers: int) -> dict:
    """What lets the naive control's window last until every racer has read (its oversell by
    construction, see reference_impl/inventory/naive_barrier.py): the race's id and size, naive only."""
    if scenario.inventory.strategy.value != "naive" or racers < 2:
        return {}
    return {"naive_race": race_id, "naive_racers": racers}


async def race(base: str, scenario: Scenario, sku: str, progress=None) -> tuple[float, list[Answer]]:
    """Release `load.buyers` buyers at once; return (release instant, answers in buyer order)."""
    n = scenario.load.buyers
    _open_files_for(n)
    url = urlsplit(base)
    where = f"{url.hostname}:{url.port}"
    ping = wire.request("GET", "/ping", where)
    if scenario.load.lines > 1:      # several lines each, all or nothing (race_lines.py)
        asks = [wire.request("POST", "/reservation-groups", where, group_body(scenario, sku, i, n)) for i in range(n)]
    else:
        asks = [wire.request("POST", "/reservations", where, {
            "sku": sku, "qty": scenario.load.qty, "strategy": scenario.inventory.strategy.value,
            "attempt_id": f"{sku}-b{i}", "ttl_s": scenario.inventory.reservation_ttl_s,
            "naive_window_ms": scenario.inventory.naive_window_ms, "sold_out": scenario.inventory.sold_out.value}
            | naive_race(scenario, sku, n)) for i in range(n)]
    go, all_ready = asyncio.Event(), asyncio.Event()
    opening = asyncio.Semaphore(CONNECT_AT_ONCE)
    conns: list[wire.Conn | None] = [None] * n
    t_start = [0.0] * n
    ready, answered = [0], [0]

    async def open_conn(i: int) -> wire.Conn:
        async with opening:       # a connect storm past the accept queue waits out SYN retransmits
            conn = conns[i] = await asyncio.wait_for(wire.connect(url.hostname, url.port), CONNECT_TIMEOUT_S)
            status, _ = await asyncio.wait_for(conn.send(ping), CONNECT_TIMEOUT_S)
            if status != 200:
                raise RuntimeError(f"GET /ping answered {status}")
        return conn

    async def buyer(i: int) -> Answer:
        conn = await open_conn(i)
        ready[0] += 1
        if ready[0] == n:
            all_ready.set()
        await go.wait()
        conn = conns[i]           # reopened before the release if the server had closed it meanwhile
        t_start[i] = time.time()
        try:
            status, raw = await conn.send(asks[i])
            payload = wire.loads(raw) if raw else {}
        except (ConnectionError, ValueError):
            return _answered(Answer(Outcome.UNKNOWN, t_start[i], time.time()))
        payload = payload if isinstance(payload, dict) else {}
        lines = payload.get("lines") if isinstance(payload.get("lines"), list) else None
        warehouse = "+".join(str(ln.get("warehouse")) for ln in lines) if lines else payload.get("warehouse")
        return _answered(Answer(classify(status, payload), t_start[i], time.time(),
                                int(payload.get("retries", 0) or 0), warehouse, payload.get("id"),
                                bool(payload.get("from_memory")), payload.get("error")))

    def _answered(a: Answer) -> Answer:
        answered[0] += 1
        if progress:
            progress(answered[0], n)
        return a

    tasks = [asyncio.create_task(buyer(i)) for i in range(n)]
    try:
        barrier = asyncio.create_task(all_ready.wait())
        await asyncio.wait([barrier, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if not barrier.done():             # a buyer ended before the release: it could not connect
            broken = next(t for t in tasks if t.done())
            barrier.cancel()
            raise RuntimeError(f"a buyer could not connect: {broken.exception()!r}")
        closed = [i for i, c in enumerate(conns) if c.lost is not None]
        if closed:                # idle past the server's keep-alive while the others connected: reopen
            await asyncio.gather(*(open_conn(i) for i in closed))
        gc_was_on = gc.isenabled()
        gc.disable()              # no full collection over 10,000 buyers' objects inside the measured window
        try:
            released = time.time()
            go.set()
            _, late = await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_S)
            now = time.time()
        finally:
            if gc_was_on:
                gc.enable()
        return released, [Answer(Outcome.UNKNOWN, t_start[i], now) if t in late else t.result()
                          for i, t in enumerate(tasks)]
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in conns:
            if c is not None:
                c.close()
