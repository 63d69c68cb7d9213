"""Reads the inventory database into `StockRow`s for the invariants (psycopg: a sync tool, not a service)."""

from __future__ import annotations

from importlib import resources

import aiosql
import psycopg

from reference_impl.infra.settings import database_url
from scenarios.invariants import MAX_WITNESSES, StockRow, check_stock

Q = aiosql.from_path(str(resources.files("reference_impl.audit") / "sql" / "inventory.sql"), "psycopg",
                     mandatory_parameters=False)


def audit_inventory(server_url: str, skus: list[str] | None = None) -> dict:
    with psycopg.connect(database_url(server_url, "inventory")) as conn:
        rows = []
        for sku, wh, on_hand, reserved, sold, supply, held, committed, strategies in Q.stock_rows(conn, skus=skus):
            row = StockRow(sku, wh, int(supply), on_hand, reserved, sold, int(held), int(committed),
                           set(strategies))
            if held + committed > supply:
                row.late_reservations = [r[0] for r in Q.late_reservations(
                    conn, sku=sku, warehouse=wh, supply=supply, witnesses=MAX_WITNESSES)]
            rows.append(row)
    return check_stock(rows)
