"""The checkout invariants: no double charge, money conserved, nothing stranded, nothing shipped unpaid.

Money is read from the provider's ledger (the ground truth of what customers paid), orders from the orders
database, reservations from inventory: three databases, joined here, as an outside auditor would.
"""

from __future__ import annotations

from importlib import resources

import aiosql
import psycopg

from reference_impl.audit.invariants import MAX_WITNESSES
from reference_impl.infra.settings import database_url

A = aiosql.from_path(str(resources.files("reference_impl.audit") / "sql"), "psycopg", mandatory_parameters=False)
FINAL = ("shipped", "cancelled")
PAID = ("paid", "shipped")


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

    double, unbalanced, stranded, unpaid, res_stranded = [], [], [], [], []
    for o in orders:
        m = money.get(o["id"], {"live_charges": 0, "captures": 0, "net": 0, "charge_ids": []})
        if m["live_charges"] > 1 or m["captures"] > 1:
            double.append({"order": o["id"], "live_charges": m["live_charges"], "captures": m["captures"],
                           "charges": m["charge_ids"]})
        expected = o["amount"] if o["status"] in PAID else 0
        if m["net"] != expected and o["status"] in FINAL:
            unbalanced.append({"order": o["id"], "status": o["status"], "paid_at_provider": m["net"],
                               "expected": expected})
        if o["status"] not in FINAL:
            stranded.append({"order": o["id"], "status": o["status"], "idle_s": round(o["idle_s"], 1)})
        if o["status"] == "shipped" and m["net"] < o["amount"]:
            unpaid.append({"order": o["id"], "paid_at_provider": m["net"], "amount": o["amount"]})
        want = {"shipped": "committed", "cancelled": ("released", "expired", None)}.get(o["status"])
        have = res_state.get(o["reservation_id"])
        if want and have not in (want if isinstance(want, tuple) else (want,)):
            res_stranded.append({"order": o["id"], "status": o["status"], "reservation": o["reservation_id"],
                                 "reservation_state": have})

    paid_total = sum(o["amount"] for o in orders if o["status"] in PAID)
    provider_net = sum(m["net"] for m in money.values())
    checks = {"double_charges": double, "money_conserved": unbalanced, "stranded_orders": stranded,
              "stranded_reservations": res_stranded, "shipped_unpaid": unpaid}
    breaches = [{"invariant": k, "count": len(v), "witnesses": v[:MAX_WITNESSES]} for k, v in checks.items() if v]
    return {
        "ok": not breaches,
        "orders": len(orders),
        "by_status": {s: sum(o["status"] == s for o in orders) for s in ("pending", "confirmed", "paid",
                                                                           "shipped", "cancelled")},
        "double_charges": sum(max(d["live_charges"], d["captures"]) - 1 for d in double),
        "money_conserved": not unbalanced and provider_net == paid_total,
        "provider_net_cents": provider_net,
        "paid_orders_cents": paid_total,
        "stranded": len(stranded) + len(res_stranded),
        "shipped_unpaid": len(unpaid),
        "breaches": breaches,
    }
