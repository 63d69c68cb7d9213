"""The checkout invariants: no double charge, money conserved, nothing stranded, nothing shipped unpaid.

Money is read from the provider's ledger (the ground truth of what customers paid), orders from the orders
database, reservations from inventory, payment rows from payments: four databases, joined here, as an
outside auditor would. Scope: with a run prefix, the run's orders and the money and payment rows that name
them; without, everything, including money held or payment rows for references that name no order.
"""

from __future__ import annotations

import uuid
from importlib import resources

import aiosql
import psycopg

from reference_impl.infra.settings import database_url
from scenarios.saga_checks import check_saga

A = aiosql.from_path(str(resources.files("reference_impl.audit") / "sql"), "psycopg", mandatory_parameters=False)


def _rows(conn, query: str, **params) -> list[dict]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(getattr(A, query).sql, params).fetchall()


def _uuids(refs) -> list[str]:
    """The references that could name an order (its ids are UUIDs); anything else names none."""
    out = []
    for ref in refs:
        try:
            out.append(str(uuid.UUID(ref)))
        except (ValueError, TypeError, AttributeError):
            pass
    return out


def _orphans(server_url: str, refs: list[str] | None) -> tuple[list[dict], list[dict]]:
    """Live charges and payment rows (of `refs`, or all when None) whose reference names no order."""
    with psycopg.connect(database_url(server_url, "psp")) as conn:
        charges = _rows(conn, "live_charges", refs=refs)
    with psycopg.connect(database_url(server_url, "payments")) as conn:
        payments = _rows(conn, "payment_rows", order_ids=refs)
    with psycopg.connect(database_url(server_url, "orders")) as conn:
        wanted = _uuids({c["reference"] for c in charges} | {p["order_id"] for p in payments})
        known = {r["id"] for r in _rows(conn, "existing_orders", ids=wanted)}

    def named(ref) -> bool:
        return (_uuids([ref]) or [None])[0] in known

    return ([{"charge": c["id"], "reference": c["reference"], "status": c["status"], "amount": c["amount"]}
             for c in charges if not named(c["reference"])],
            [{"payment": p["id"], "order": p["order_id"], "status": p["status"], "amount": p["amount"]}
             for p in payments if not named(p["order_id"])])


def audit_saga(server_url: str, run_prefix: str | None = None) -> dict:
    with psycopg.connect(database_url(server_url, "orders")) as conn:
        orders = _rows(conn, "orders_in_scope", prefix=run_prefix)
    refs = [o["id"] for o in orders]
    with psycopg.connect(database_url(server_url, "psp")) as conn:
        money = {m["reference"]: m for m in _rows(conn, "money_by_reference", refs=refs)}
    orphan_charges, orphan_payments = _orphans(server_url, refs if run_prefix else None)
    res_ids = [o["reservation_id"] for o in orders if o["reservation_id"]]
    group_ids = [o["reservation_group_id"] for o in orders if o["reservation_group_id"]]
    with psycopg.connect(database_url(server_url, "inventory")) as conn:
        res_state = {r["id"]: r["state"] for r in _rows(conn, "reservation_states", ids=res_ids)}
        res_state |= {r["id"]: r["state"] for r in _rows(conn, "group_states", ids=group_ids)}

    for o in orders:     # an order holds a reservation or a group (all its lines as one), never both
        o["reservation_state"] = res_state.get(o["reservation_group_id"] or o["reservation_id"])
    return check_saga(orders, money, orphan_charges, orphan_payments)
