"""The multi-line contract without servers: the half-reserved-group invariant, the lock order, the race's
baskets, and the scenario fields that choose them."""

from __future__ import annotations

import pytest

from loadtests.race_lines import buyer_lines, group_body, line_skus
from reference_impl.inventory.lines import Line, lock_sequence
from scenarios.invariants import GroupRow, check_groups
from scenarios.loader import load
from scenarios.spec import ScenarioError
from scenarios.strategies import LockOrder, parse_lock_order


@pytest.mark.parametrize(("row", "half"), [
    (GroupRow("g", 2, 2, 2, 0), False),     # held whole
    (GroupRow("g", 2, 2, 0, 2), False),     # sold whole
    (GroupRow("g", 2, 2, 0, 0), False),     # released or expired whole
    (GroupRow("g", 2, 2, 1, 0), True),      # one line held, the other given back
    (GroupRow("g", 2, 2, 0, 1), True),      # one line sold, the other not
    (GroupRow("g", 2, 2, 1, 1), True),      # one held, one sold
    (GroupRow("g", 3, 2, 2, 0), True),      # a promised line missing while the others are held
    (GroupRow("g", 3, 0, 0, 0), False),     # nothing held at all
])
def test_partially_reserved_groups(row, half):
    audit = check_groups([row, GroupRow("whole", 2, 2, 2, 0)])
    assert audit["partial_groups"] == int(half) and audit["ok"] is (not half)
    assert audit["groups_checked"] == 2
    if half:
        assert audit["breaches"][0]["invariant"] == "partially_reserved_groups"
        assert audit["breaches"][0]["witnesses"] == ["g"]


def test_sorted_locks_by_sku_then_warehouse_and_request_keeps_the_request():
    lines = [Line("B", 1), Line("A", 2, "wh-2"), Line("A2", 1), Line("0", 1, "wh-1")]
    assert [(ln.sku, ln.warehouse) for ln in lock_sequence(lines, LockOrder.SORTED)] == \
        [("0", "wh-1"), ("A", "wh-2"), ("A2", None), ("B", None)]
    assert lock_sequence(lines, LockOrder.REQUEST) == lines


def test_race_baskets_alternate_orders_and_only_the_control_names_its_race():
    skus = line_skus("hot-x", 3)
    assert skus == ["hot-x-L0", "hot-x-L1", "hot-x-L2"]
    assert buyer_lines(skus, 0) == skus and buyer_lines(skus, 1) == skus[::-1]
    sc = load("last_unit_race", ["load.lines=2", "inventory.strategy=pessimistic", "inventory.lock_order=request"])
    body = group_body(sc, "hot-x", 1, 40)
    assert [ln["sku"] for ln in body["lines"]] == ["hot-x-L1", "hot-x-L0"]
    assert (body["lock_race"], body["lock_racers"], body["lock_order"]) == ("hot-x", 2, "request")
    assert "lock_race" not in group_body(sc, "hot-x", 0, 1)                    # one buyer: no one to wait for
    sorted_sc = load("last_unit_race", ["load.lines=2", "inventory.strategy=guarded"])
    assert "lock_race" not in group_body(sorted_sc, "hot-x", 1, 40)


@pytest.mark.parametrize(("overrides", "message"), [
    (["load.lines=2", "inventory.strategy=batched"], "batched reserves one line at a time"),
    (["load.lines=2", "inventory.strategy=redis"], "redis reserves one line at a time"),
    (["load.lines=51"], "load.lines: 51 is out of bounds"),
    (["inventory.lock_order=random"], "inventory.lock_order: unknown LockOrder 'random'"),
])
def test_scenario_refuses_what_cannot_run(overrides, message):
    with pytest.raises(ScenarioError, match=message):
        load("last_unit_race", overrides)


def test_lock_order_defaults_to_sorted_and_parses_loosely():
    assert load("last_unit_race").inventory.lock_order is LockOrder.SORTED
    assert parse_lock_order(" Request ") is LockOrder.REQUEST
    with pytest.raises(ValueError, match="choose from sorted, request"):
        parse_lock_order("reverse")
