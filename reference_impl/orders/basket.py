"""What an order asks inventory to hold, and what it holds: one reservation for one line, one reservation
group (all lines or none, inventory's lines.py) for several.

Why a group and not a reservation per line: lines reserved one by one leave a window where A is held and B
is refused, and the order would then owe A a compensation of its own; a group holds every line in one
transaction or nothing, so a refused basket needs none. The group locks its rows in (sku, warehouse)
order, so two buyers of {A, B} listing them in opposite orders cannot deadlock, unless the run asks for the
`request` lock order (the control).
"""

from __future__ import annotations

from scenarios.strategies import LINE_STRATEGIES, Strategy

#: What a basket is reserved with when the run's strategy cannot reserve several lines in one transaction
#: (naive, redis, batched: scenarios.strategies.LINE_STRATEGIES): the plain predicate, no control.
BASKET_FALLBACK = Strategy.GUARDED
#: A reservation's TTL when the run sets none (inventory's own default).
DEFAULT_TTL_S = 900


def held_path(order) -> str | None:
    """The inventory resource the order holds: its reservation, its reservation group, or None."""
    if order.get("reservation_group_id") is not None:
        return f"/reservation-groups/{order['reservation_group_id']}"
    if order.get("reservation_id") is not None:
        return f"/reservations/{order['reservation_id']}"
    return None


def basket_strategy(configured: str | None) -> str | None:
    """The strategy a basket is reserved with: the run's, unless it cannot do baskets (BASKET_FALLBACK)."""
    if configured is None or Strategy(configured) in LINE_STRATEGIES:
        return configured
    return BASKET_FALLBACK.value


def _set(body: dict) -> dict:
    return {k: v for k, v in body.items() if v is not None}


def line_body(order, line: dict, inv: dict) -> dict:
    """POST /reservations for an order of one line, under the run's inventory knobs `inv`."""
    return _set({"sku": line["sku"], "qty": line["qty"], "attempt_id": f"order-{order['id']}",
                 "ttl_s": inv.get("reservation_ttl_s", DEFAULT_TTL_S), "strategy": inv.get("strategy"),
                 "naive_window_ms": inv.get("naive_window_ms", 0)})


def basket_body(order, lines: list[dict], inv: dict) -> dict:
    """POST /reservation-groups for an order of several lines, in the buyer's order (the lock order is the
    run's `lock_order`, sorted unless the control asks otherwise)."""
    return _set({"lines": [{"sku": ln["sku"], "qty": ln["qty"]} for ln in lines],
                 "attempt_id": f"order-{order['id']}", "ttl_s": inv.get("reservation_ttl_s", DEFAULT_TTL_S),
                 "strategy": basket_strategy(inv.get("strategy")), "lock_order": inv.get("lock_order"),
                 # The control's barrier (inventory lines.py): the run's first `lock_racers` baskets each hold
                 # their first line until all do, so the request order's deadlock happens by construction.
                 "lock_race": inv.get("lock_race"), "lock_racers": inv.get("lock_racers")})
