"""The model's final state as `StockRow`s, judged by the same `check_stock` the real auditor runs.

Why the same function: if the model and the database disagree about an oversell, the difference must be
in the state, never in two spellings of the invariant.
"""

from __future__ import annotations

from scenarios.invariants import MAX_WITNESSES, StockRow, check_stock
from scenarios.liveness import Refusal, check_liveness, timelines
from scenarios.policy import SOLD_OUT_STALENESS_S
from sim.stock import Row, Stockroom


def late_reservations(row: Row) -> list[str]:
    """Reservation ids past the supply, in promise order: LATE_SQL's running sum over the model's rows."""
    late, running = [], 0
    for number, qty, _ in row.promises:
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


def audit_liveness(stock: Stockroom, refusals: list[Refusal]) -> dict:
    """The real auditor's liveness check over the model's rows: supply at 0, each reservation when it was
    committed (a race returns no units: the saga model's returns are not replayed here)."""
    events = {(r.sku, r.warehouse): [(0.0, r.supply)] + [(t, -qty) for _, qty, t in r.promises]
              for sku in sorted(stock.rows) for r in stock.rows[sku]}
    return check_liveness(refusals, timelines(events), SOLD_OUT_STALENESS_S)


def audit_run(stock: Stockroom, rows: list[dict]) -> dict:
    """What a model run's audit says: the stock checks and, over its out-of-stock answers, liveness."""
    refused = [Refusal(r["attempt_id"], r["sku"], None, r["qty"], r["t_start"], r["t_end"])
               for r in rows if r["outcome"] == "out_of_stock"]
    audit, live = audit_stock(stock), audit_liveness(stock, refused)
    return audit | live | {"ok": audit["ok"] and live["liveness_ok"],
                           "breaches": audit["breaches"] + live["liveness_breaches"]}
