"""What happens to a held reservation after the race: sold when the shipment exists, released by a
compensation. The counters move as `reference_impl/inventory/sql/lifecycle.sql` moves them.

Why apart: the stock side of the saga is what the oversell audit reads; keeping its few transitions in
one place makes each one checkable against the SQL.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.saga.orders import Order


def release(o: Order, qty: int) -> None:
    if o.res_state == "held":
        o.row.reserved -= qty
        o.row.held -= qty
        o.res_state = "released"


def sell(o: Order, qty: int, committed: Counter) -> None:
    row = o.row
    row.reserved, row.held, row.on_hand, row.sold = row.reserved - qty, row.held - qty, row.on_hand - qty, row.sold + qty
    committed[id(row)] += qty
    o.res_state = "committed"


def commit(o: Order, qty: int, committed: Counter) -> int:
    """POST /reservations/{id}/commit as inventory answers it: 200 when sold now or before (a retry is
    harmless), 409 when the reservation is no longer held (released, or expired by the sweeper)."""
    if o.res_state == "held":
        sell(o, qty, committed)
    return 200 if o.res_state == "committed" else 409
