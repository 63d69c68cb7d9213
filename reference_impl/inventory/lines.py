"""Several lines (an order's basket) reserved all-or-nothing in one transaction: the code half of sql/lines.sql.

Lock order. Under `LockOrder.SORTED` the lines are sorted by (sku, warehouse) before any row is locked, and
each line locks its rows in warehouse order, so every transaction takes its row locks in one global order
and no two can wait on each other in a cycle: no deadlock, by construction. Each strategy keeps the single
line's allocation (the fullest warehouse with room for the line's whole qty):
- pessimistic locks every row of the line's SKU (in warehouse order), then picks the fullest;
- guarded and optimistic touch one row per line, picked from a snapshot; a miss (someone took the units
  since) rolls the whole transaction back and retries (bounded, counted), instead of trying a second
  warehouse out of lock order while holding the first;
- serializable reads, picks, increments under SSI and retries on 40001 (bounded, counted).
One line per SKU: two lines of one SKU could lock its rows out of order (HTTP refuses them; merge them).

The control, `LockOrder.REQUEST`: lines are locked in the order the request lists them. In a race the caller
names it (`lock_race`, `lock_racers`): after its first line is locked each racer counts itself in at the
naive control's barrier (naive_barrier.py) and waits until the race's lock holders are all holding, so two
buyers of {A, B} in opposite orders each hold one and then ask for the other: a deadlock by construction,
not by timing luck. PostgreSQL breaks it (SQLSTATE 40P01); the victim's transaction rolls back whole (never a
half group), the deadlock is recorded (`lock_deadlocks`, after the rollback) and raised as `Deadlocked`,
which HTTP answers 503 `deadlock`, retryable. Every strategy answers a deadlock that way, sorted or not.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from reference_impl.inventory import naive_barrier
from reference_impl.inventory.line_steps import STEP, Line, Miss, Short
from reference_impl.inventory.reserve import Q, _backoff
from scenarios.strategies import LINE_STRATEGIES, LOCK_TIMEOUT_MS, MAX_RETRIES, LockOrder, Starved, Strategy

__all__ = ["Deadlocked", "GroupResult", "Line", "LinesAsk", "Unsupported", "group_of", "lock_sequence",
           "reserve_lines"]


@dataclass
class LinesAsk:
    lines: list[Line]
    strategy: Strategy
    lock_order: LockOrder = LockOrder.SORTED
    attempt_id: str | None = None
    ttl_s: float = 900.0
    lock_race: str | None = None      # request order only: the race this attempt belongs to, and its lock
    lock_racers: int = 0              # holders (how many distinct first lines race), for the barrier


@dataclass
class GroupResult:
    group: dict | None                # None: some line could not be had (`short` says which); nothing held
    retries: int
    replayed: bool = False
    short: Line | None = None


class Unsupported(ValueError):
    """A strategy that cannot reserve several lines in one transaction (scenarios.strategies.LINE_STRATEGIES)."""


class Deadlocked(RuntimeError):
    """PostgreSQL broke a deadlock by aborting this attempt: nothing was reserved; retrying is safe."""


def lock_sequence(lines: list[Line], order: LockOrder) -> list[Line]:
    """The order rows are locked in: (sku, warehouse) sorted, or the request's own (the control)."""
    return sorted(lines, key=lambda ln: (ln.sku, ln.warehouse or "")) if order is LockOrder.SORTED else list(lines)


def group_of(rows) -> dict | None:
    """group_lines' rows (one per line) as the answer's shape: the group, its lines inside."""
    if not rows:
        return None
    g = rows[0]
    return {"id": g["group_id"], "state": g["group_state"], "strategy": g["strategy"], "lock_order": g["lock_order"],
            "retries": g["retries"], "attempt_id": g["attempt_id"], "created_at": g["created_at"],
            "expires_at": g["expires_at"], "settled_at": g["settled_at"],
            "lines": [{"id": r["id"], "sku": r["sku"], "warehouse": r["warehouse"], "qty": r["qty"],
                       "state": r["state"]} for r in rows if r["id"] is not None]}


async def _replay(conn, attempt_id: str | None) -> GroupResult | None:
    if not attempt_id:
        return None
    group = group_of([r async for r in Q.group_lines(conn, id=None, attempt_id=attempt_id)])
    return None if group is None else GroupResult(group, group["retries"], replayed=True)


async def _once(conn, ask: LinesAsk, seq: list[Line], retries: int, redis) -> dict:
    serializable = ask.strategy is Strategy.SERIALIZABLE
    async with conn.transaction(isolation="serializable" if serializable else "read_committed"):
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
        taken = {}
        for k, line in enumerate(seq):
            taken[line] = await STEP[ask.strategy](conn, line)
            if k == 0 and ask.lock_order is LockOrder.REQUEST and ask.lock_race and ask.lock_racers > 1 and redis:
                arrival = await naive_barrier.arrive(redis, f"lines:{ask.lock_race}", ask.lock_racers)
                await arrival.wait()     # hold the first line until the race's other holders hold theirs
        rows = [r async for r in Q.insert_group(
            conn, strategy=ask.strategy.value, lock_order=ask.lock_order.value, attempt_id=ask.attempt_id,
            retries=retries, ttl_s=float(ask.ttl_s), skus=[ln.sku for ln in ask.lines],
            warehouses=[taken[ln] for ln in ask.lines], qtys=[ln.qty for ln in ask.lines])]
    return {"id": rows[0]["group_id"], "state": "held", "strategy": ask.strategy.value,
            "lock_order": ask.lock_order.value, "retries": retries, "attempt_id": ask.attempt_id,
            "created_at": rows[0]["created_at"], "expires_at": rows[0]["expires_at"], "settled_at": None,
            "lines": [{"id": r["id"], "sku": r["sku"], "warehouse": r["warehouse"], "qty": r["qty"], "state": "held"}
                      for r in rows]}


async def reserve_lines(conn, ask: LinesAsk, redis=None) -> GroupResult:
    """Every line or none; a known attempt_id answers its group again. `redis`: the control's barrier."""
    if ask.strategy not in LINE_STRATEGIES:
        raise Unsupported(f"{ask.strategy.value} cannot reserve several lines in one transaction "
                          f"(use one of {', '.join(s.value for s in LINE_STRATEGIES)})")
    if prior := await _replay(conn, ask.attempt_id):
        return prior
    seq = lock_sequence(ask.lines, ask.lock_order)
    for attempt in range(MAX_RETRIES + 1):
        try:
            return GroupResult(await _once(conn, ask, seq, attempt, redis), attempt)
        except Short as exc:
            return GroupResult(None, attempt, short=exc.line)
        except (Miss, asyncpg.SerializationError):
            if attempt < MAX_RETRIES:
                await asyncio.sleep(_backoff(attempt))
        except asyncpg.DeadlockDetectedError:
            await Q.record_deadlock(conn, strategy=ask.strategy.value, lock_order=ask.lock_order.value,
                                    skus=[ln.sku for ln in seq], attempt_id=ask.attempt_id)
            raise Deadlocked(f"deadlock broken by PostgreSQL after {attempt} retries") from None
        except asyncpg.LockNotAvailableError:
            raise Starved(attempt, "lock_timeout") from None
        except asyncpg.UniqueViolationError:       # the same attempt_id, made meanwhile by a concurrent retry
            if prior := await _replay(conn, ask.attempt_id):
                return prior
            raise
    raise Starved(MAX_RETRIES)
