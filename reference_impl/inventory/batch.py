"""The batched strategy: the asks `coalesce.Coalescer` gathered for one SKU, warehouse and qty, answered by
one `reserve_batch` statement (sql/batch.sql): one lock wait and one commit for the whole batch.

Why exact: the statement is a guarded UPDATE for the batch's total on rows it has locked, so the database
decides, whatever other processes (each with its own batches) or other strategies do to the same rows.
Why per qty: asks of one size are granted in arrival order by a simple prefix (the first k that fit), which
is what the same asks would get one guarded statement at a time; mixed sizes go in separate batches.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from reference_impl.inventory.reserve import RETRYABLE, Q, Result, Starved, UnknownStock
from scenarios.strategies import Strategy

#: A batch statement that met a deadlock (the sweeper locks rows in its own order) or a reservation another
#: process just made under one of its attempt ids is run again, at most this often: the next snapshot sees
#: the committed duplicate as a replay. More than a few in a row means something else is wrong.
BATCH_RETRIES = 3


@dataclass(frozen=True)
class Key:
    """What asks must share to ride in one batch."""
    sku: str
    warehouse: str | None
    qty: int


def _sent(asks: list) -> tuple[list[int], dict[int, int]]:
    """Asks to send (first of each attempt id) and, for a repeated attempt id, the ask it repeats."""
    first: dict[str, int] = {}
    sent, same = [], {}
    for i, a in enumerate(asks):
        if a.attempt_id is not None and a.attempt_id in first:
            same[i] = first[a.attempt_id]
            continue
        if a.attempt_id is not None:
            first[a.attempt_id] = i
        sent.append(i)
    return sent, same


async def _statement(pool, key: Key, args: dict) -> tuple[list, int]:
    for attempt in range(BATCH_RETRIES + 1):
        try:
            async with pool.acquire() as conn:
                rows = [r async for r in Q.reserve_batch(conn, sku=key.sku, warehouse=key.warehouse, qty=key.qty,
                                                         strategy=Strategy.BATCHED.value, **args)]
                return rows, attempt
        except (asyncpg.UniqueViolationError, *RETRYABLE):
            if attempt == BATCH_RETRIES:
                raise Starved(attempt, "batch_conflicts") from None
    raise AssertionError("unreachable")


def _reservation(row, key: Key, retries: int) -> dict:
    return {"id": row["id"], "expires_at": row["expires_at"], "sku": key.sku, "warehouse": row["warehouse"],
            "qty": key.qty, "state": row["state"], "retries": row["retries"] if row["kind"] == "prior" else retries}


async def run_batch(pool, key: Key, asks: list) -> list:
    """One Result (or UnknownStock) per ask, in order."""
    sent, same = _sent(asks)
    ids = [uuid.uuid4() for _ in sent]
    rows, retries = await _statement(pool, key, {
        "ids": ids, "attempt_ids": [asks[i].attempt_id for i in sent],
        "ttls": [float(asks[i].ttl_s) for i in sent]})
    made = {r["id"]: r for r in rows if r["kind"] == "made"}
    prior = {r["attempt_id"]: r for r in rows if r["kind"] == "prior"}
    unknown = any(r["kind"] == "none" for r in rows)
    by_ask: dict[int, Result | Exception] = {}
    for i, rid in zip(sent, ids, strict=True):
        a = asks[i]
        if a.attempt_id in prior:
            by_ask[i] = Result(_reservation(prior[a.attempt_id], key, retries), prior[a.attempt_id]["retries"],
                               replayed=True)
        elif rid in made:
            by_ask[i] = Result(_reservation(made[rid], key, retries), retries)
        elif unknown:
            by_ask[i] = UnknownStock(key.warehouse or key.sku)
        else:
            by_ask[i] = Result(None, retries)
    for i, j in same.items():     # the same attempt twice in one batch: the second hears the first's answer
        first = by_ask[j]
        by_ask[i] = Result(first.reservation, first.retries, replayed=first.reservation is not None) \
            if isinstance(first, Result) else first
    return [by_ask[i] for i in range(len(asks))]
