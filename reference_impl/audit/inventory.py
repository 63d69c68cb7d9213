"""Reads the inventory database into `StockRow`s for the invariants (psycopg: a sync tool, not a service)."""

from __future__ import annotations

from importlib import resources

import aiosql
import psycopg

from reference_impl.infra.settings import database_url
from scenarios.invariants import MAX_WITNESSES, StockRow, check_stock
from scenarios.liveness import Refusal, check_liveness, timelines
from scenarios.policy import SOLD_OUT_STALENESS_S

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


def audit_liveness(server_url: str, refusals: list[Refusal], bound_s: float = SOLD_OUT_STALENESS_S) -> dict:
    """No buyer refused while units stood available longer than `bound_s` (scenarios/liveness.py)."""
    skus = sorted({r.sku for r in refusals})
    events: dict[tuple[str, str], list[tuple[float, int]]] = {}
    if skus:
        with psycopg.connect(database_url(server_url, "inventory")) as conn:
            for sku, wh, t, delta in Q.availability_events(conn, skus=skus):
                events.setdefault((sku, wh), []).append((float(t), int(delta)))
    return check_liveness(refusals, timelines(events), bound_s)


def with_liveness(audit: dict, liveness: dict) -> dict:
    """The stock audit with the liveness check folded in: its breaches count like any other."""
    return audit | liveness | {"ok": audit["ok"] and liveness["liveness_ok"],
                               "breaches": audit["breaches"] + liveness["liveness_breaches"]}
