"""The model's final state judged by the real auditor's checks (`check_saga`, `check_stock`).

Why apart: the audit must read the model's state exactly as the real auditor reads the databases; one
small module makes any difference between the two visible in one place.
"""

from __future__ import annotations

from collections import Counter

from scenarios.invariants import check_stock
from scenarios.saga_checks import check_saga
from sim.audit import stock_row
from sim.saga.order import Order
from sim.saga.provider import Provider
from sim.stock import Stockroom


def audit_saga(orders: list[Order], provider: Provider) -> dict:
    """The real auditor's checks (`check_saga`), over the model's orders, ledger and reservations."""
    money = {}
    for o in orders:
        chs = provider.by_ref.get(o.id, [])
        money[o.id] = {"live_charges": sum(c.status in ("authorized", "captured") for c in chs),
                       "captures": sum(c.captures for c in chs), "net": sum(c.net for c in chs),
                       "charge_ids": [c.id for c in chs], "held": sum(c.status == "authorized" for c in chs)}
    rows = [{"id": o.id, "status": o.status, "amount": o.amount, "reservation_state": o.res_state}
            for o in orders]
    return check_saga(rows, money)     # every charge has its order here: no orphans to pass


def audit_inventory(stock: Stockroom, committed: Counter) -> dict:
    rows = []
    for sku in sorted(stock.rows):
        for r in stock.rows[sku]:
            row = stock_row(r)
            row.committed_units = committed[id(r)]
            rows.append(row)
    return check_stock(rows)
