"""The checkout invariants: no double charge, money conserved, nothing stranded, nothing shipped unpaid.

Money is read from the provider's ledger (the ground truth of what customers paid), orders from the orders
database, reservations from inventory: three databases, joined here, as an outside auditor would.
"""

from __future__ import annotations

from importlib import resources

import aiosql
import psycopg

from reference_impl.infra.settings import database_url
from scenarios.saga_checks import check_saga

A = aiosql.from_path(str(resources.files("reference_impl.audit") / "sql"), "psycopg", mandatory_parameters=False)


def _rows(conn, query: str, **params) -> list[dict]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(getattr(A, query).sql, params).fetchall()


def audit_saga(server_url: str, run_prefix: str | None = None) -> dict:
    with psycopg.connect(database_url(server_url, "orders")) as conn:
        orders = _rows(conn, "orders_in_scope", prefix=run_prefix)
    refs = [o["id"] for o in orders]
    with psycopg.connect(database_url(server_url, "psp")) as conn:
        money = {m["reference"]: m for m in _rows(conn, "money_by_reference", refs=refs)}
    res_ids = [o["reservation_id"] for o in orders if o["reservation_id"]]
    with psycopg.connect(database_url(server_url, "inventory")) as conn:
        res_state = {r["id"]: r["state"] for r in _rows(conn, "reservation_states", ids=res_ids)}

    for o in orders:
        o["reservation_state"] = res_state.get(o["reservation_id"])
    return check_saga(orders, money)
