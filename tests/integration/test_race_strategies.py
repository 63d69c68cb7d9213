"""The headline claim, specified: one unit, many buyers at one instant, exactly one winner per safe strategy;
the naive control oversells every time. Real PostgreSQL, Redis and the inventory service over HTTP."""

from __future__ import annotations

import pytest

from lastunit.progress import Progress
from lastunit.usecases import race_one
from scenarios.loader import load
from scenarios.strategies import Strategy, safe
from tests.conftest import STACK

pytestmark = STACK


def _race(strategy: Strategy, buyers: int, stock: int, warehouses: int = 1, *extra: str) -> dict:
    sc = load("last_unit_race", [f"inventory.strategy={strategy.value}", f"load.buyers={buyers}",
                                 f"catalog.hot_stock={stock}", f"catalog.warehouses={warehouses}", *extra])
    return race_one(sc, "real", Progress(enabled=False))


@pytest.mark.parametrize("strategy", safe(), ids=str)
def test_one_unit_fifty_buyers_exactly_one_wins(strategy):
    row = _race(strategy, 50, 1)
    assert (row["won"], row["out_of_stock"], row["failed"], row["unknown"]) == (1, 49, 0, 0)
    assert row["oversold_units"] == 0 and row["audit_ok"] and row["breaches"] == []


@pytest.mark.parametrize("strategy", safe(), ids=str)
def test_seven_units_over_three_warehouses_two_hundred_buyers(strategy):
    row = _race(strategy, 200, 7, 3)
    assert (row["won"], row["out_of_stock"]) == (7, 193)
    assert row["oversold_units"] == 0 and row["audit_ok"]


@pytest.mark.parametrize("attempt", range(3))
def test_naive_control_oversells_every_time(attempt):
    row = _race(Strategy.NAIVE, 50, 1, 1, "inventory.naive_window_ms=100")
    assert row["won"] > 1
    assert row["oversold_units"] == row["won"] - 1
    oversold = [b for b in row["breaches"] if b["invariant"] == "oversold"]
    assert oversold and oversold[0]["control"] and oversold[0]["witnesses"]
