"""One line of a multi-line reservation, per strategy: the step lines.py runs for each line in lock order,
inside the group's one transaction. Each takes the single line's allocation (the fullest warehouse with room
for the whole qty) and either moves that row's counter and names the warehouse, or raises: `Short` (no
warehouse has room: the group is out of stock) or `Miss` (our snapshot went stale before our write: roll the
whole group back and retry, rather than try a second warehouse out of lock order while holding the first).
"""

from __future__ import annotations

from dataclasses import dataclass

from reference_impl.inventory.reserve import Q, UnknownStock
from scenarios.strategies import Strategy


@dataclass(frozen=True)
class Line:
    sku: str
    qty: int
    warehouse: str | None = None


class Short(Exception):
    def __init__(self, line: Line):
        self.line = line


class Miss(Exception):
    """The snapshot was stale: another buyer took the units between our read and our write."""


def _fullest(rows, line: Line):
    """The single line's rule: the fullest warehouse with room for the whole qty (ties: warehouse order)."""
    fits = [r for r in rows if r["available"] >= line.qty]
    return min(fits, key=lambda r: (-r["available"], r["warehouse"])) if fits else None


async def _candidates(conn, line: Line) -> list:
    rows = [r async for r in Q.candidate_warehouses(conn, sku=line.sku, warehouse=line.warehouse)]
    if not rows:
        raise UnknownStock(line.warehouse or line.sku)
    return rows


async def _pessimistic(conn, line: Line) -> str:
    rows = [r async for r in Q.lock_line_rows(conn, sku=line.sku, warehouse=line.warehouse)]
    if not rows:
        raise UnknownStock(line.warehouse or line.sku)
    pick = _fullest(rows, line)
    if pick is None:
        raise Short(line)
    await Q.increment_reserved(conn, sku=line.sku, warehouse=pick["warehouse"], qty=line.qty)
    return pick["warehouse"]


async def _guarded(conn, line: Line) -> str:
    pick = _fullest(await _candidates(conn, line), line)
    if pick is None:
        raise Short(line)
    if await Q.claim_guarded(conn, sku=line.sku, warehouse=pick["warehouse"], qty=line.qty) is None:
        raise Miss
    return pick["warehouse"]


async def _optimistic(conn, line: Line) -> str:
    pick = _fullest(await _candidates(conn, line), line)
    if pick is None:
        raise Short(line)
    if await Q.increment_if_version(conn, sku=line.sku, warehouse=pick["warehouse"], qty=line.qty,
                                    version=pick["version"]) is None:
        raise Miss
    return pick["warehouse"]


async def _serializable(conn, line: Line) -> str:
    pick = _fullest(await _candidates(conn, line), line)
    if pick is None:
        raise Short(line)
    await Q.increment_reserved(conn, sku=line.sku, warehouse=pick["warehouse"], qty=line.qty)
    return pick["warehouse"]


STEP = {Strategy.PESSIMISTIC: _pessimistic, Strategy.GUARDED: _guarded, Strategy.OPTIMISTIC: _optimistic,
        Strategy.SERIALIZABLE: _serializable}
