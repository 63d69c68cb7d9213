"""The multi-line race: every buyer wants one unit of each of `load.lines` hot SKUs, all or nothing.

Buyers alternate between the lines in order and in reverse (A, B / B, A): the opposite orders that deadlock
two buyers who lock in request order. Under `inventory.lock_order = request` (the control) the race is named
and its lock holders counted (`lock_race`, `lock_racers`), so the service holds each buyer's first line until
both orders hold one (reference_impl/inventory/lines.py): the deadlock happens by construction. Under
`sorted` nothing is held back: every buyer locks in (sku, warehouse) order and none can deadlock.
"""

from __future__ import annotations

from scenarios.spec import Scenario
from scenarios.strategies import LockOrder

#: Distinct first lines in the race (forward and reverse): how many buyers can hold a first line at once when
#: every line has one warehouse row, so how many the control's barrier waits for.
ORDERS = 2


def line_skus(sku: str, lines: int) -> list[str]:
    """The race's SKUs: `sku` names the race, its lines are `sku-L0`, `sku-L1`, ..."""
    return [f"{sku}-L{j}" for j in range(lines)]


def buyer_lines(skus: list[str], i: int) -> list[str]:
    """Buyer i's lines in the order its request lists them: even buyers forward, odd ones reversed."""
    return list(skus) if i % 2 == 0 else list(reversed(skus))


def group_body(scenario: Scenario, sku: str, i: int, buyers: int) -> dict:
    """POST /reservation-groups for buyer i of the race named `sku`."""
    inv = scenario.inventory
    body = {"lines": [{"sku": s, "qty": scenario.load.qty} for s in buyer_lines(line_skus(sku, scenario.load.lines), i)],
            "strategy": inv.strategy.value, "lock_order": inv.lock_order.value, "attempt_id": f"{sku}-b{i}",
            "ttl_s": inv.reservation_ttl_s}
    if inv.lock_order is LockOrder.REQUEST and buyers >= ORDERS:
        body |= {"lock_race": sku, "lock_racers": ORDERS}
    return body
