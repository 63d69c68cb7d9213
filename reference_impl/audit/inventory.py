"""Reads the inventory database into `StockRow`s for the invariants (psycopg: a sync tool, not a service)."""

from __future__ import annotations

import psycopg

from reference_impl.infra.settings import database_url
from scenarios.invariants import StockRow, check_stock

STOCK_SQL = """
SELECT s.sku, s.warehouse, s.on_hand, s.reserved, s.sold,
       COALESCE((SELECT sum(qty) FROM stock_movements m
                  WHERE m.sku = s.sku AND m.warehouse = s.warehouse), 0) AS supply,
       COALESCE(sum(r.qty) FILTER (WHERE r.state = 'held'), 0) AS held,
       COALESCE(sum(r.qty) FILTER (WHERE r.state = 'committed'), 0) AS committed,
       COALESCE(array_agg(DISTINCT r.strategy) FILTER (WHERE r.strategy IS NOT NULL), '{}') AS strategies
  FROM stock s
  LEFT JOIN reservations r ON r.sku = s.sku AND r.warehouse = s.warehouse
 WHERE %(skus)s::text[] IS NULL OR s.sku = ANY(%(skus)s::text[])
 GROUP BY s.sku, s.warehouse
 ORDER BY s.sku, s.warehouse
"""

#: The reservations past the supply, in the order they were made: the ones that oversold.
LATE_SQL = """
SELECT id::text FROM (
    SELECT id, sum(qty) OVER (ORDER BY created_at, id) AS running
      FROM reservations
     WHERE sku = %(sku)s AND warehouse = %(warehouse)s AND state IN ('held', 'committed')
) t WHERE running > %(supply)s ORDER BY running LIMIT 5
"""


def audit_inventory(server_url: str, skus: list[str] | None = None) -> dict:
    with psycopg.connect(database_url(server_url, "inventory")) as conn:
        rows = []
        for sku, wh, on_hand, reserved, sold, supply, held, committed, strategies in conn.execute(
                STOCK_SQL, {"skus": skus}):
            row = StockRow(sku, wh, int(supply), on_hand, reserved, sold, int(held), int(committed),
                           set(strategies))
            if held + committed > supply:
                row.late_reservations = [r[0] for r in conn.execute(
                    LATE_SQL, {"sku": sku, "warehouse": wh, "supply": supply})]
            rows.append(row)
    return check_stock(rows)
