"""One reservation attempt under each strategy: the code half of what `sql/reserve.sql` holds.

Each strategy tries one warehouse and answers a reservation row, or None when that warehouse has too little;
`reserve()` walks the SKU's warehouses fullest first. Retries are counted and returned, never hidden.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from importlib import resources

import aiosql
import asyncpg

from reference_impl.inventory import naive_barrier
from scenarios.policy import INVENTORY_POOL_SIZE
from scenarios.strategies import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    LOCK_TIMEOUT_MS,
    MAX_RETRIES,
    SoldOut,
    Starved,
    Strategy,
)

SQL_DIR = resources.files("reference_impl.inventory") / "sql"
Q = aiosql.from_path(str(SQL_DIR), "asyncpg", mandatory_parameters=False)


def sql_text() -> str:
    """Every named block of the inventory, as one text: what SQL-level load users run (sent in their plan)."""
    return "\n".join(p.read_text() for p in sorted(SQL_DIR.iterdir()) if p.name.endswith(".sql"))
RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


class UnknownStock(LookupError):
    """The SKU (or the named warehouse) has no stock row: a 404, not an out-of-stock."""



@dataclass
class Ask:
    sku: str
    qty: int
    strategy: Strategy
    warehouse: str | None = None
    attempt_id: str | None = None
    ttl_s: float = 900.0
    naive_window_ms: int = 0
    naive_race: str | None = None     # the race this naive attempt belongs to, and how many race in it
    naive_racers: int = 0
    sold_out: SoldOut | None = None   # the short-circuit (desk.py); None: the strategy's default


@dataclass
class Result:
    reservation: dict | None      # None: out of stock in every warehouse
    retries: int
    replayed: bool = False
    from_memory: bool = False     # refused by the sold-out memory, without a database round trip


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt))


def _row(ask: Ask, warehouse: str, retries: int) -> dict:
    return dict(sku=ask.sku, warehouse=warehouse, qty=ask.qty, strategy=ask.strategy.value,
                attempt_id=ask.attempt_id, retries=retries, ttl_s=float(ask.ttl_s))


async def _naive(conn, ask: Ask, wh: str, mirror) -> tuple[asyncpg.Record | None, int]:
    row = await Q.read_counter(conn, sku=ask.sku, warehouse=wh)
    if row["on_hand"] - row["reserved"] < ask.qty:
        return None, 0
    # In a race, the window lasts until every racer that can hold a connection at once has read too.
    readers = min(ask.naive_racers, INVENTORY_POOL_SIZE)
    arrival = await naive_barrier.arrive(mirror.client, ask.naive_race, readers) \
        if ask.naive_race and readers > 1 and mirror is not None else None
    await asyncio.sleep(ask.naive_window_ms / 1000)   # the read-to-write window other buyers fall into
    if arrival is not None:
        await arrival.wait()
    await Q.write_back_counter(conn, sku=ask.sku, warehouse=wh, new_reserved=row["reserved"] + ask.qty)
    return await Q.insert_reservation(conn, **_row(ask, wh, 0)), 0


async def _pessimistic(conn, ask: Ask, wh: str, _mirror):
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
        row = await Q.lock_counter(conn, sku=ask.sku, warehouse=wh)
        if row["on_hand"] - row["reserved"] < ask.qty:
            return None, 0
        await Q.increment_reserved(conn, sku=ask.sku, warehouse=wh, qty=ask.qty)
        return await Q.insert_reservation(conn, **_row(ask, wh, 0)), 0


async def _optimistic(conn, ask: Ask, wh: str, _mirror):
    for attempt in range(MAX_RETRIES + 1):
        row = await Q.read_counter(conn, sku=ask.sku, warehouse=wh)
        if row["on_hand"] - row["reserved"] < ask.qty:
            return None, attempt
        async with conn.transaction():
            won = await Q.increment_if_version(conn, sku=ask.sku, warehouse=wh, qty=ask.qty,
                                               version=row["version"])
            if won is not None:
                return await Q.insert_reservation(conn, **_row(ask, wh, attempt)), attempt
        if attempt < MAX_RETRIES:
            await asyncio.sleep(_backoff(attempt))
    raise Starved(MAX_RETRIES)


async def _guarded(conn, ask: Ask, wh: str, _mirror):
    return await Q.reserve_guarded(conn, **_row(ask, wh, 0)), 0


async def _serializable(conn, ask: Ask, wh: str, _mirror):
    for attempt in range(MAX_RETRIES + 1):
        try:
            async with conn.transaction(isolation="serializable"):
                row = await Q.read_counter(conn, sku=ask.sku, warehouse=wh)
                if row["on_hand"] - row["reserved"] < ask.qty:
                    return None, attempt
                await Q.increment_reserved(conn, sku=ask.sku, warehouse=wh, qty=ask.qty)
                return await Q.insert_reservation(conn, **_row(ask, wh, attempt)), attempt
        except RETRYABLE:
            if attempt < MAX_RETRIES:
                await asyncio.sleep(_backoff(attempt))
    raise Starved(MAX_RETRIES)


async def _redis(conn, ask: Ask, wh: str, mirror):
    async def load():
        row = await Q.read_counter(conn, sku=ask.sku, warehouse=wh)
        return row["on_hand"], row["reserved"]

    if not await mirror.try_reserve(ask.sku, wh, ask.qty, load):
        return None, 0
    try:
        return await Q.record_redis_grant(conn, **_row(ask, wh, 0)), 0
    except BaseException:
        await mirror.adjust(ask.sku, wh, reserved=-ask.qty)   # give the grant back: PostgreSQL said no
        raise


async def _batched(conn, ask: Ask, wh: str, _mirror):
    """A batch of one on the caller's connection. The service's desk (desk.py) gathers real batches; a
    caller holding a bare connection (a SQL client, a test) gets the same statement for its one ask."""
    rows = [r async for r in Q.reserve_batch(conn, sku=ask.sku, warehouse=wh, qty=ask.qty,
                                             strategy=ask.strategy.value, ids=[uuid.uuid4()],
                                             attempt_ids=[ask.attempt_id], ttls=[float(ask.ttl_s)])]
    made = [{"id": r["id"], "expires_at": r["expires_at"]} for r in rows if r["kind"] == "made"]
    return (made[0] if made else None), 0


ATTEMPT = {
    Strategy.NAIVE: _naive,
    Strategy.PESSIMISTIC: _pessimistic,
    Strategy.OPTIMISTIC: _optimistic,
    Strategy.GUARDED: _guarded,
    Strategy.SERIALIZABLE: _serializable,
    Strategy.REDIS: _redis,
    Strategy.BATCHED: _batched,
}


async def _replay(conn, ask: Ask) -> Result | None:
    prior = await Q.reservation_by_attempt(conn, attempt_id=ask.attempt_id) if ask.attempt_id else None
    return Result(dict(prior), prior["retries"], replayed=True) if prior else None


async def reserve(conn, ask: Ask, mirror=None) -> Result:
    """Reserve `ask.qty` of `ask.sku` in the first warehouse that has it; replay a known attempt_id.

    A known attempt is looked up first only under naive, whose read-then-write is not atomic (a repeat
    would count a second unit before its insert failed). Every other strategy writes the reservation in
    the statement or transaction that counts its unit, so a repeat fails on attempt_id's unique index
    with nothing counted and is looked up then, or after a refusal (the repeat of an attempt that took
    the last unit finds the shelf empty): one round trip fewer for every first attempt."""
    if ask.strategy is Strategy.NAIVE and (replayed := await _replay(conn, ask)):
        return replayed
    candidates = [r async for r in Q.candidate_warehouses(conn, sku=ask.sku, warehouse=ask.warehouse)]
    if not candidates:
        raise UnknownStock(ask.warehouse or ask.sku)
    retries = 0
    for cand in candidates:
        if cand["available"] < ask.qty:
            continue                   # seen empty: stock only falls during a burst, so skip its row lock
        try:
            row, tries = await ATTEMPT[ask.strategy](conn, ask, cand["warehouse"], mirror)
        except Starved as exc:
            raise Starved(retries + exc.retries) from None
        except asyncpg.LockNotAvailableError:
            raise Starved(retries, "lock_timeout") from None
        except asyncpg.UniqueViolationError:
            if (replayed := await _replay(conn, ask)) is None:
                raise
            return replayed
        retries += tries
        if row is not None:
            res = dict(row) | {"sku": ask.sku, "warehouse": cand["warehouse"], "qty": ask.qty,
                               "state": "held", "retries": retries}
            return Result(res, retries)
    return await _replay(conn, ask) or Result(None, retries)
