"""Reads the inventory database into `StockRow`s for the invariants (psycopg: a sync tool, not a service)."""

from __future__ import annotations

import psycopg

from reference_impl.audit.invariants import StockRow, check_stock
from reference_impl.audit.liveness import Refusal, check_liveness, timelines
from reference_impl.infra.settings import database_url
from reference_impl.policy import SOLD_OUT_STALENESS_S

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


#: Every change of `available` on the rows asked about, as (row, epoch seconds, delta): see audit/liveness.py.
EVENTS_SQL = """
SELECT sku, warehouse, extract(epoch FROM at)::float8, qty FROM stock_movements WHERE sku = ANY(%(skus)s::text[])
UNION ALL
SELECT sku, warehouse, extract(epoch FROM created_at)::float8, -qty FROM reservations WHERE sku = ANY(%(skus)s::text[])
UNION ALL
SELECT sku, warehouse, extract(epoch FROM settled_at)::float8, qty FROM reservations
 WHERE sku = ANY(%(skus)s::text[]) AND state IN ('released', 'expired')
"""


def audit_liveness(server_url: str, refusals: list[Refusal], bound_s: float = SOLD_OUT_STALENESS_S) -> dict:
    """No buyer refused while units stood available longer than `bound_s` (audit/liveness.py)."""
    skus = sorted({r.sku for r in refusals})
    events: dict[tuple[str, str], list[tuple[float, int]]] = {}
    if skus:
        with psycopg.connect(database_url(server_url, "inventory")) as conn:
            for sku, wh, t, delta in conn.execute(EVENTS_SQL, {"skus": skus}):
                events.setdefault((sku, wh), []).append((float(t), int(delta)))
    return check_liveness(refusals, timelines(events), bound_s)


def with_liveness(audit: dict, liveness: dict) -> dict:
    """The stock audit with the liveness check folded in: its breaches count like any other."""
    return audit | liveness | {"ok": audit["ok"] and liveness["liveness_ok"],
                               "breaches": audit["breaches"] + liveness["liveness_breaches"]}
