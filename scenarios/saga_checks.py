"""The checkout invariants as a pure function over plain rows, so the real auditor (three databases) and
the SimPy model (its own state) apply the very same checks, as `invariants.check_stock` does for stock.

An order row: id, status, amount, reservation_state (None: no reservation; `partial`: an order of several
lines whose group has some lines held or sold and others not), optionally idle_s and lines_amount (what its
lines add up to: the amount must be that sum).
Money per order (the provider's ledger, by the charge's reference): live_charges, captures, net, charge_ids,
held (charges still `authorized`: money reserved on the card, neither captured nor voided), optionally
authorized_amounts (the distinct amounts its charges authorized: each must be the order's amount).

Money with no order behind it is judged too, since the provider's ledger is the customer's truth: a charge
holding or taking money for a reference that names no order (`orphan_charges`: reference, charge, status,
amount) and a payment row for an order that does not exist (`orphan_payments`: payment, order, status).
An engine that cannot make such rows (the model) passes none; each key is present in every summary.
"""

from __future__ import annotations

from scenarios.invariants import MAX_WITNESSES
from scenarios.states import FINAL, OrderStatus
from scenarios.states import PAID_FOR as PAID

STATUSES = tuple(s.value for s in OrderStatus)
#: A reservation group split: some of an order's lines held or sold, others not (must never be seen).
PARTIAL = "partial"
#: How each final order must have left its reservation.
SETTLED = {OrderStatus.SHIPPED: ("committed",), OrderStatus.CANCELLED: ("released", "expired", None)}
NO_MONEY = {"live_charges": 0, "captures": 0, "net": 0, "charge_ids": [], "held": 0}


def check_saga(orders: list[dict], money: dict[str, dict], orphan_charges: list[dict] = (),
               orphan_payments: list[dict] = ()) -> dict:
    double, unbalanced, stranded, unpaid, res_stranded, unsettled = [], [], [], [], [], []
    partial, mispriced = [], []
    for o in orders:
        m = NO_MONEY | money.get(o["id"], {})
        if o["reservation_state"] == PARTIAL:
            partial.append({"order": o["id"], "status": o["status"], "group": o.get("reservation_group_id")})
        wrong = [a for a in m.get("authorized_amounts") or () if a != o["amount"]]
        if (o.get("lines_amount") is not None and o["lines_amount"] != o["amount"]) or wrong:
            mispriced.append({"order": o["id"], "amount": o["amount"], "lines_amount": o.get("lines_amount"),
                              "authorized": wrong})
        if m["live_charges"] > 1 or m["captures"] > 1:
            double.append({"order": o["id"], "live_charges": m["live_charges"], "captures": m["captures"],
                           "charges": m["charge_ids"]})
        expected = o["amount"] if o["status"] in PAID else 0
        if m["net"] != expected and o["status"] in FINAL:
            unbalanced.append({"order": o["id"], "status": o["status"], "paid_at_provider": m["net"],
                               "expected": expected})
        if o["status"] not in FINAL:
            stranded.append({"order": o["id"], "status": o["status"]}
                            | ({"idle_s": round(o["idle_s"], 1)} if o.get("idle_s") is not None else {}))
        if o["status"] == OrderStatus.SHIPPED and m["net"] < o["amount"]:
            unpaid.append({"order": o["id"], "paid_at_provider": m["net"], "amount": o["amount"]})
        if m["held"] and o["status"] in FINAL:    # after settle nothing stays held: capture or void it
            unsettled.append({"order": o["id"], "status": o["status"], "held_charges": m["held"],
                              "charges": m["charge_ids"]})
        want = SETTLED.get(o["status"])
        if want and o["reservation_state"] not in want:
            res_stranded.append({"order": o["id"], "status": o["status"],
                                 "reservation": o.get("reservation_group_id") or o.get("reservation_id"),
                                 "reservation_state": o["reservation_state"]})
    paid_total = sum(o["amount"] for o in orders if o["status"] in PAID)
    provider_net = sum(m["net"] for m in money.values())
    checks = {"double_charges": double, "money_conserved": unbalanced, "stranded_orders": stranded,
              "stranded_reservations": res_stranded, "partial_reservations": partial,
              "amount_is_lines_sum": mispriced, "shipped_unpaid": unpaid,
              "unsettled_authorizations": unsettled, "orphan_money": list(orphan_charges),
              "orphan_payments": list(orphan_payments)}
    breaches = [{"invariant": k, "count": len(v), "witnesses": v[:MAX_WITNESSES]} for k, v in checks.items() if v]
    return {
        "ok": not breaches,
        "orders": len(orders),
        "by_status": {s: sum(o["status"] == s for o in orders) for s in STATUSES},
        "double_charges": sum(max(d["live_charges"], d["captures"]) - 1 for d in double),
        "money_conserved": not unbalanced and provider_net == paid_total,
        "provider_net_cents": provider_net,
        "paid_orders_cents": paid_total,
        "stranded": len(stranded) + len(res_stranded),
        "partial_reservations": len(partial),
        "mispriced": len(mispriced),
        "shipped_unpaid": len(unpaid),
        "unsettled_authorizations": len(unsettled),
        "orphan_money": len(orphan_charges),
        "orphan_money_cents": sum(c["amount"] for c in orphan_charges),
        "orphan_payments": len(orphan_payments),
        "breaches": breaches,
    }
