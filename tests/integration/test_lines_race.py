"""Baskets {A, B} raced in opposite orders on the real stack. Sorted lock order: exactly the sets in stock are
sold, whole, and PostgreSQL never has a deadlock to break. The request-order control: deadlocks happen by
construction (each buyer holds its first line until the other order holds one, lines.py), are counted and
answered 503 `deadlock`, and still nothing is oversold or left half reserved."""

from __future__ import annotations

import httpx
import pytest

from lastunit.progress import Progress
from lastunit.usecases import race_one
from scenarios.loader import load
from scenarios.strategies import LINE_STRATEGIES, LockOrder, Strategy
from tests.conftest import STACK

pytestmark = STACK


def _race(strategy: Strategy, order: LockOrder, buyers: int, sets: int = 1, warehouses: int = 1) -> dict:
    sc = load("last_unit_race", [f"inventory.strategy={strategy.value}", f"inventory.lock_order={order.value}",
                                 "load.lines=2", f"load.buyers={buyers}", f"catalog.hot_stock={sets}",
                                 f"catalog.warehouses={warehouses}"])
    return race_one(sc, "real", Progress(enabled=False), plot=False)


def _clean(row: dict) -> None:
    assert row["oversold_units"] == 0 and row["partial_groups"] == 0 and row["audit_ok"], row["breaches"]
    assert row["unknown"] == 0


@pytest.mark.parametrize("strategy", LINE_STRATEGIES, ids=str)
def test_two_buyers_opposite_orders_one_set_exactly_one_gets_both(strategy):
    row = _race(strategy, LockOrder.SORTED, 2)
    assert (row["won"], row["out_of_stock"], row["failed"], row["deadlocks"]) == (1, 1, 0, 0)
    _clean(row)


@pytest.mark.parametrize("strategy", LINE_STRATEGIES, ids=str)
def test_forty_buyers_in_opposite_pairs_three_sets_over_two_warehouses(strategy):
    row = _race(strategy, LockOrder.SORTED, 40, sets=3, warehouses=2)
    assert (row["won"], row["out_of_stock"], row["failed"], row["deadlocks"]) == (3, 37, 0, 0)
    _clean(row)


def test_request_order_two_buyers_deadlock_once_and_one_still_gets_both():
    row = _race(Strategy.PESSIMISTIC, LockOrder.REQUEST, 2)
    assert (row["won"], row["failed"], row["deadlocks"]) == (1, 1, 1)
    _clean(row)


@pytest.mark.parametrize("strategy", LINE_STRATEGIES, ids=str)
def test_request_order_crowd_deadlocks_counted_nothing_oversold_or_half_held(strategy):
    """40 buyers, one set: the barrier makes the first A holder and the first B holder deadlock; later
    arrivals may deadlock again. Each victim is one failed answer (503 deadlock), counted once. The last
    survivor of the chain gets both, unless a lock wait ran past LOCK_TIMEOUT_MS on a box this busy (another
    failed answer that reserved nothing): so at most one winner, never more."""
    row = _race(strategy, LockOrder.REQUEST, 40)
    assert row["deadlocks"] >= 1 and row["failed"] >= row["deadlocks"]
    assert row["won"] <= 1 and row["won"] + row["out_of_stock"] + row["failed"] == 40
    _clean(row)


def test_the_service_reports_its_deadlocks(inventory_url):
    with httpx.Client(base_url=inventory_url, timeout=30) as c:
        before = c.get("/stats").json()["deadlocks_total"]
        row = _race(Strategy.PESSIMISTIC, LockOrder.REQUEST, 2)
        stats = c.get("/stats").json()
    assert stats["deadlocks_total"] == before + row["deadlocks"] == before + 1
    mine = [d for d in stats["deadlocks"] if (d["strategy"], d["lock_order"]) == ("pessimistic", "request")]
    assert mine and mine[0]["deadlocks"] >= 1
