"""Row-lock helpers shared by every strategy: count a lock wait, apply a commit.

Why one place: the moment a write becomes visible (counters move, the reservation row appears) is the
model's whole notion of isolation; it must be the same instant for all six strategies.
"""

from __future__ import annotations


def granted(shop, row, req):
    """Wait for a row lock request (already inside its `with`), counting the wait."""
    t0 = shop.env.now
    yield req
    shop.waited_for_lock(shop.env.now - t0)


def commit(shop, row, qty, at: float | None = None):
    """The instant the writer commits (now, or `at` for a caller keeping its own clock, sim/bulk.py):
    counters move and the reservation row becomes visible."""
    row.reserved += qty
    row.writes += 1
    shop.stock.promise(row, qty, shop.strategy_name, at)


def commit_many(shop, row, qty, asks):
    """A batch's commit on one row: `asks` reservations of `qty` each become visible at once."""
    row.reserved += qty * asks
    row.writes += 1
    for _ in range(asks):
        shop.stock.promise(row, qty, shop.strategy_name)
