"""The model's final state as `StockRow`s, judged by the same `check_stock` the real auditor runs.

Why the same function: if the model and the database disagree about an oversell, the difference must be
in the state, never in two spellings of the invariant.
"""

from __future__ import annotations

from scenarios.invariants import MAX_WITNESSES, StockRow, check_stock
from sim.stock import Row, Stockroom


def late_reservations(row: Row) -> list[str]:
    """Reservation ids past the supply, in promise order: LATE_SQL's running sum over the model's rows."""
    late, running = [], 0
    for number, qty in row.promises:
        running += qty
        if running > row.supply:
            late.append(f"sim-r{number}")
            if len(late) == MAX_WITNESSES:
                break
    return late


def stock_row(row: Row) -> StockRow:
    return StockRow(sku=row.sku, warehouse=row.warehouse, supply=row.supply, on_hand=row.on_hand,
                    reserved=row.reserved, sold=row.sold, held_units=row.held, committed_units=0,
                    strategies=set(row.strategies),
                    late_reservations=late_reservations(row) if row.held > row.supply else [])


def audit_stock(stock: Stockroom) -> dict:
    """check_stock over every row the run created (all hot rows, and each cold SKU someone asked for)."""
    return check_stock([stock_row(r) for sku in sorted(stock.rows) for r in stock.rows[sku]])
