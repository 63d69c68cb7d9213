"""`lastunit audit`: the invariants over the real databases, now: stock, charges, money, stranded sagas."""

from __future__ import annotations

import json

from reference_impl import stack
from reference_impl.audit.inventory import audit_inventory
from reference_impl.audit.saga import audit_saga
from scenarios.paths import results_home


class UnknownRun(ValueError):
    """`--run` names nothing: no orders carry its prefix and no results folder has its name."""


def check_run_exists(run: str, orders_in_scope: int) -> None:
    """A typo must not audit zero orders and call that clean: say so, and name the latest runs."""
    if orders_in_scope or (results_home() / run).is_dir():
        return
    recent = sorted((p for p in results_home().glob("*") if (p / "summary.json").exists()),
                    key=lambda p: p.stat().st_mtime)[-3:]
    hint = f"; latest: {', '.join(p.name for p in reversed(recent))}" if recent else ""
    raise UnknownRun(f"no run {run!r}: no orders with that prefix and no {results_home() / run}{hint}")


def audit_now(skus: list[str] | None, run: str | None) -> dict:
    """Inventory and saga audits as one object, in the shape `run` and `swarm` print under `audit`."""
    inv = audit_inventory(stack.server_url("postgres"), skus)
    saga = audit_saga(stack.server_url("postgres"), f"{run}-" if run else None)
    return {**saga, "oversold_units": inv["oversold_units"], "control_oversold_units": inv["control_oversold_units"],
            "stock_conserved": inv["stock_conserved"], "counter_drift_units": inv["counter_drift_units"],
            "inventory": inv, "ok": inv["ok"] and saga["ok"]}


def main(args) -> int:
    audit = audit_now(args.sku or None, args.run)
    if args.run:
        check_run_exists(args.run, audit["orders"])
    if args.json:
        print(json.dumps({"audit": audit}, indent=2, default=str))
        return 0 if audit["ok"] else 1
    inv = audit["inventory"]
    print(f"stock rows {inv['rows_checked']}: oversold_units {audit['oversold_units']}, "
          f"stock_conserved {audit['stock_conserved']}, counter drift {audit['counter_drift_units']}")
    print(f"reservations of several lines {inv['groups_checked']}: partially reserved {inv['partial_groups']}; "
          f"deadlocks broken {inv['deadlocks']}")
    print(f"orders {audit['orders']} {audit['by_status']}: double_charges {audit['double_charges']}, "
          f"money_conserved {audit['money_conserved']} (provider net {audit['provider_net_cents']} c, paid orders "
          f"{audit['paid_orders_cents']} c), stranded {audit['stranded']}, shipped_unpaid {audit['shipped_unpaid']}, "
          f"partially reserved orders {audit['partial_reservations']}, mispriced {audit['mispriced']}")
    print(f"money held for no order: {audit['orphan_money']} charge(s), {audit['orphan_money_cents']} c; payment "
          f"rows for no order {audit['orphan_payments']}; authorizations left on final orders "
          f"{audit['unsettled_authorizations']}")
    for b in inv["breaches"]:
        where = f"{b['sku']}@{b['warehouse']}" if "sku" in b else f"x{b.get('groups', 1)}"
        print(f"BREACH {b['invariant']} {where}: {b['detail']} witnesses {b['witnesses']}")
    for b in audit["breaches"]:
        print(f"BREACH {b['invariant']} x{b['count']}: witnesses {b['witnesses'][:3]}")
    n = len(inv["expected_control_breaches"])
    if n:
        print(f"{n} expected breach(es) on rows only the naive control touched "
              f"({audit['control_oversold_units']} units oversold by the control)")
    print("audit clean" if audit["ok"] else "audit FAILED (orders still in flight count as stranded: "
          "audit after the settle time, or scope it with --run)")
    return 0 if audit["ok"] else 1
